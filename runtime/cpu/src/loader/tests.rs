//! Loads real objects, written by `cranelift-object` for the host, and calls their functions;
//! corrupted objects must load or fail, never panic.

use super::*;
use cranelift_codegen::ir::{AbiParam, FuncRef, InstBuilder, MemFlagsData, Type, Value, types};
use cranelift_codegen::settings::{self, Configurable};
use cranelift_frontend::{FunctionBuilder, FunctionBuilderContext};
use cranelift_module::{DataDescription, DataId, FuncId, Linkage, Module, default_libcall_names};
use cranelift_object::{ObjectBuilder, ObjectModule};
use object::read::elf::{FileHeader, SectionHeader};
use proptest::prelude::*;
use std::sync::OnceLock;

fn host_module() -> ObjectModule {
    module_for_host(true)
}

/// `pic`: position-independent code, which reaches data and other objects through the GOT.
/// Without it, near references are PC-relative and far ones absolute 64-bit addresses.
fn module_for_host(pic: bool) -> ObjectModule {
    let mut flags = settings::builder();
    flags.set("is_pic", if pic { "true" } else { "false" }).unwrap();
    flags.set("opt_level", "speed").unwrap();
    let isa = cranelift_native::builder().unwrap().finish(settings::Flags::new(flags)).unwrap();
    ObjectModule::new(ObjectBuilder::new(isa, "loader_test", default_libcall_names()).unwrap())
}

/// Declares and defines `name(params) -> returns`, its one block written by `body`.
fn define(
    module: &mut ObjectModule,
    name: &str,
    linkage: Linkage,
    (params, returns): (&[Type], &[Type]),
    body: impl FnOnce(&mut ObjectModule, &mut FunctionBuilder, &[Value]) -> Vec<Value>,
) -> FuncId {
    let mut ctx = module.make_context();
    ctx.func.signature.params.extend(params.iter().map(|&t| AbiParam::new(t)));
    ctx.func.signature.returns.extend(returns.iter().map(|&t| AbiParam::new(t)));
    let id = module.declare_function(name, linkage, &ctx.func.signature).unwrap();
    let mut builder_ctx = FunctionBuilderContext::new();
    let mut b = FunctionBuilder::new(&mut ctx.func, &mut builder_ctx);
    let block = b.create_block();
    b.append_block_params_for_function_params(block);
    b.switch_to_block(block);
    b.seal_block(block);
    let args = b.block_params(block).to_vec();
    let results = body(module, &mut b, &args);
    b.ins().return_(&results);
    b.finalize(module.target_config());
    module.define_function(id, &mut ctx).unwrap();
    id
}

/// Declares and defines a data object holding `bytes`.
fn data(module: &mut ObjectModule, name: &str, linkage: Linkage, writable: bool, bytes: &[u8]) -> DataId {
    let id = module.declare_data(name, linkage, writable, false).unwrap();
    let mut description = DataDescription::new();
    description.define(bytes.into());
    description.set_align(16);
    module.define_data(id, &description).unwrap();
    id
}

/// Declares `name(i64, i64) -> i64`, defined outside the object.
fn import(module: &mut ObjectModule, name: &str) -> FuncId {
    let mut signature = module.make_signature();
    signature.params.extend([AbiParam::new(types::I64), AbiParam::new(types::I64)]);
    signature.returns.push(AbiParam::new(types::I64));
    module.declare_function(name, Linkage::Import, &signature).unwrap()
}

/// A reference to `function` from `b`'s function; `near` makes a call a direct `call rel32`
/// (R_X86_64_PLT32), otherwise a call is an indirect call through the GOT (GOTPCREL).
fn reference(module: &mut ObjectModule, b: &mut FunctionBuilder, function: FuncId, near: bool) -> FuncRef {
    let reference = module.declare_func_in_func(function, b.func);
    b.func.dfg.ext_funcs[reference].colocated |= near;
    reference
}

fn emit(module: ObjectModule) -> Vec<u8> {
    module.finish().emit().unwrap()
}

const I64_2: (&[Type], &[Type]) = (&[types::I64, types::I64], &[types::I64]);

extern "C" fn host_add(a: i64, b: i64) -> i64 {
    a + b + 1000
}

fn resolve_host(name: &str) -> Option<usize> {
    (name == "host_add").then_some(host_add as extern "C" fn(i64, i64) -> i64 as usize)
}

fn no_symbols(_: &str) -> Option<usize> {
    None
}

/// The function `name` of `object` as `F`.
///
/// # Safety
/// `name` must be a function of type `F` in `object`, which must outlive the result.
unsafe fn function<F: Copy>(object: &LoadedObject, name: &str) -> F {
    let address = object.symbol(name).unwrap_or_else(|| panic!("no symbol `{name}`"));
    assert_eq!(size_of::<F>(), size_of::<*const u8>());
    // SAFETY: the caller's promise.
    unsafe { std::mem::transmute_copy(&address) }
}

#[test]
fn arithmetic() {
    let mut module = host_module();
    define(&mut module, "mul_add", Linkage::Export, (&[types::I64; 3], &[types::I64]), |_, b, x| {
        let product = b.ins().imul(x[0], x[1]);
        vec![b.ins().iadd(product, x[2])]
    });
    let object = LoadedObject::load(&emit(module), &no_symbols).unwrap();
    // SAFETY: defined above with this signature.
    let mul_add: extern "C" fn(i64, i64, i64) -> i64 = unsafe { function(&object, "mul_add") };
    assert_eq!(mul_add(6, 7, -2), 40);
    assert_eq!(object.symbol("missing"), None);
}

/// Constants in read-only data (PC32), a preemptible constant reached through the GOT
/// (GOTPCREL to a symbol of the object), a writable counter and a table of function pointers
/// (R_X86_64_64).
fn data_object() -> Vec<u8> {
    let mut module = host_module();
    let table: Vec<u8> = [1.5f64, 2.25].iter().flat_map(|v| v.to_le_bytes()).collect();
    let table = data(&mut module, "table", Linkage::Local, false, &table);
    let half = data(&mut module, "half", Linkage::Preemptible, false, &0.5f32.to_le_bytes());
    let counter = data(&mut module, "counter", Linkage::Export, true, &41i64.to_le_bytes());
    define(&mut module, "scale", Linkage::Export, (&[types::F64], &[types::F64]), |module, b, x| {
        let table = module.declare_data_in_func(table, b.func);
        let table = b.ins().symbol_value(types::I64, table);
        let factor = b.ins().load(types::F64, MemFlagsData::trusted(), table, 8);
        vec![b.ins().fmul(x[0], factor)]
    });
    define(&mut module, "halve", Linkage::Export, (&[types::F32], &[types::F32]), |module, b, x| {
        let half = module.declare_data_in_func(half, b.func);
        let half = b.ins().symbol_value(types::I64, half);
        let half = b.ins().load(types::F32, MemFlagsData::trusted(), half, 0);
        vec![b.ins().fmul(x[0], half)]
    });
    define(&mut module, "bump", Linkage::Export, (&[], &[types::I64]), |module, b, _| {
        let counter = module.declare_data_in_func(counter, b.func);
        let counter = b.ins().symbol_value(types::I64, counter);
        let value = b.ins().load(types::I64, MemFlagsData::trusted(), counter, 0);
        let value = b.ins().iadd_imm_s(value, 1);
        b.ins().store(MemFlagsData::trusted(), value, counter, 0);
        vec![value]
    });
    let twice = define(&mut module, "twice", Linkage::Local, (&[types::I64], &[types::I64]), |_, b, x| {
        vec![b.ins().imul_imm_s(x[0], 2)]
    });
    let pointers = module.declare_data("pointers", Linkage::Export, false, false).unwrap();
    let mut description = DataDescription::new();
    description.define_zeroinit(8);
    let twice = module.declare_func_in_data(twice, &mut description);
    description.write_function_addr(0, twice);
    module.define_data(pointers, &description).unwrap();
    emit(module)
}

#[test]
fn constants_and_globals_in_data_objects() {
    let object = LoadedObject::load(&data_object(), &no_symbols).unwrap();
    // SAFETY: defined in `data_object` with these signatures.
    unsafe {
        let scale: extern "C" fn(f64) -> f64 = function(&object, "scale");
        let halve: extern "C" fn(f32) -> f32 = function(&object, "halve");
        let bump: extern "C" fn() -> i64 = function(&object, "bump");
        assert_eq!(scale(4.0), 9.0);
        assert_eq!(halve(3.0), 1.5);
        assert_eq!((bump(), bump()), (42, 43));
        let twice: extern "C" fn(i64) -> i64 = *object.symbol("pointers").unwrap().cast();
        assert_eq!(twice(21), 42);
        assert_eq!(twice as usize, object.symbol("twice").unwrap() as usize);
    }
}

/// `near_call(a, b) = host_add(a, b) * 2` through a direct call (PLT32 and, as the host is
/// beyond ±2 GiB of the region in practice, a stub), `got_call(a, b) = host_add(a, b) - 1`
/// through the GOT.
fn import_object(import_name: &str) -> Vec<u8> {
    let mut module = host_module();
    let host = import(&mut module, import_name);
    define(&mut module, "near_call", Linkage::Export, I64_2, |module, b, x| {
        let host = reference(module, b, host, true);
        let call = b.ins().call(host, x);
        let sum = b.inst_results(call)[0];
        vec![b.ins().imul_imm_s(sum, 2)]
    });
    define(&mut module, "got_call", Linkage::Export, I64_2, |module, b, x| {
        let host = reference(module, b, host, false);
        let call = b.ins().call(host, x);
        let sum = b.inst_results(call)[0];
        vec![b.ins().iadd_imm_s(sum, -1)]
    });
    emit(module)
}

#[test]
fn calls_to_host_functions_through_stubs_and_the_got() {
    let object = LoadedObject::load(&import_object("host_add"), &resolve_host).unwrap();
    // SAFETY: defined in `import_object` with these signatures.
    let (near_call, got_call): (extern "C" fn(i64, i64) -> i64, extern "C" fn(i64, i64) -> i64) =
        unsafe { (function(&object, "near_call"), function(&object, "got_call")) };
    // The host's code is mapped gigabytes away from the region, so the call takes the stub.
    assert!((host_add as extern "C" fn(i64, i64) -> i64 as usize).abs_diff(near_call as usize) > 1 << 31);
    assert_eq!(near_call(1, 2), 2006);
    assert_eq!(got_call(1, 2), 1002);
}

#[test]
fn calls_between_functions_of_the_object() {
    let mut module = host_module();
    let square = define(&mut module, "square", Linkage::Local, (&[types::I64], &[types::I64]), |_, b, x| {
        vec![b.ins().imul(x[0], x[0])]
    });
    let add = define(&mut module, "add", Linkage::Export, I64_2, |_, b, x| vec![b.ins().iadd(x[0], x[1])]);
    define(&mut module, "sum_of_squares", Linkage::Export, I64_2, |module, b, x| {
        let (square, add) = (reference(module, b, square, true), reference(module, b, add, false));
        let a = b.ins().call(square, &[x[0]]);
        let a = b.inst_results(a)[0];
        let c = b.ins().call(square, &[x[1]]);
        let c = b.inst_results(c)[0];
        let sum = b.ins().call(add, &[a, c]);
        vec![b.inst_results(sum)[0]]
    });
    let object = LoadedObject::load(&emit(module), &no_symbols).unwrap();
    // SAFETY: defined above with these signatures.
    unsafe {
        let sum_of_squares: extern "C" fn(i64, i64) -> i64 = function(&object, "sum_of_squares");
        let square: extern "C" fn(i64) -> i64 = function(&object, "square");
        assert_eq!(sum_of_squares(3, 4), 25);
        assert_eq!(square(-5), 25);
    }
}

#[test]
fn an_unresolved_symbol_is_an_error_naming_it() {
    let error = LoadedObject::load(&import_object("not_in_the_host"), &resolve_host).unwrap_err();
    assert_eq!(error, LoadError::Unresolved("not_in_the_host".into()));
    assert_eq!(error.to_string(), "undefined symbol `not_in_the_host` is not resolved");
}

type Header = object::elf::FileHeader64<object::LittleEndian>;

/// The file offset of the first relocation entry of `.rela.text*`.
fn first_text_relocation(bytes: &[u8]) -> usize {
    let le = object::LittleEndian;
    let table = Header::parse(bytes).unwrap().sections(le, bytes).unwrap();
    let rela = table.iter().find(|s| table.section_name(le, s).unwrap().starts_with(b".rela.text")).unwrap();
    rela.sh_offset(le) as usize
}

/// `bytes` with the type of its first relocation of code replaced by `r_type`.
fn with_first_relocation_type(mut bytes: Vec<u8>, r_type: u32) -> Vec<u8> {
    let at = first_text_relocation(&bytes) + 8;
    bytes[at..at + 4].copy_from_slice(&r_type.to_le_bytes());
    bytes
}

#[test]
fn unsupported_relocations_are_errors_naming_type_section_and_offset() {
    let bytes = with_first_relocation_type(import_object("host_add"), object::elf::R_X86_64_TPOFF32);
    let error = LoadedObject::load(&bytes, &resolve_host).unwrap_err();
    let LoadError::UnsupportedRelocation { kind, section, .. } = &error else { panic!("{error}") };
    assert_eq!((kind.as_str(), section.as_str()), ("R_X86_64_TPOFF32", ".text"));
    assert!(error.to_string().starts_with("relocation R_X86_64_TPOFF32 in section `.text` at offset 0x"), "{error}");
}

#[test]
fn values_out_of_reach_are_overflow_errors() {
    // An absolute 32-bit reference to a symbol above 4 GiB.
    let bytes = with_first_relocation_type(import_object("host_add"), object::elf::R_X86_64_32);
    let error = LoadedObject::load(&bytes, &|_| Some(1 << 40)).unwrap_err();
    assert!(matches!(&error, LoadError::Overflow { kind, field: "32 bits unsigned", .. } if kind == "R_X86_64_32"));
    // A PC32 may be a data access: a far one is an error, never a jump through a stub.
    let bytes = with_first_relocation_type(import_object("far"), object::elf::R_X86_64_PC32);
    let error = LoadedObject::load(&bytes, &|_| Some(0x1000)).unwrap_err();
    let message = error.to_string();
    assert!(message.starts_with("relocation R_X86_64_PC32 against `far` in section `.text`"), "{message}");
    assert!(message.ends_with("does not fit in 32 bits signed"), "{message}");
}

#[test]
fn other_files_are_format_errors() {
    let bytes = data_object();
    let patched = |at: usize, value: &[u8]| {
        let mut bytes = bytes.clone();
        bytes[at..at + value.len()].copy_from_slice(value);
        LoadedObject::load(&bytes, &no_symbols).unwrap_err().to_string()
    };
    let prefix = "not a relocatable x86-64 ELF object: ";
    assert_eq!(patched(4, &[1]), format!("{prefix}a 32-bit ELF file"));
    assert_eq!(patched(5, &[2]), format!("{prefix}not a little-endian ELF file"));
    assert_eq!(patched(16, &3u16.to_le_bytes()), format!("{prefix}the file type is 3, not ET_REL (1)"));
    assert_eq!(patched(18, &183u16.to_le_bytes()), format!("{prefix}the machine is 183, not x86-64 (62)"));
    let error = LoadedObject::load(b"#!/bin/sh", &no_symbols).unwrap_err();
    assert_eq!(error.to_string(), format!("{prefix}the file does not start with the ELF magic number"));
    assert!(matches!(LoadedObject::load(&bytes[..40], &no_symbols), Err(LoadError::Malformed(_))));
}

#[test]
fn loaded_objects_are_send_and_sync() {
    fn shared<T: Send + Sync>() {}
    shared::<LoadedObject>();
}

/// Every kind of relocation the tests produce, in one object.
fn rich_object() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| rich_object_with(true))
}

fn rich_object_with(pic: bool) -> Vec<u8> {
    let mut module = module_for_host(pic);
    let host = import(&mut module, "host_add");
    let table = data(&mut module, "table", Linkage::Local, false, &[7; 16]);
    let global = data(&mut module, "global", Linkage::Preemptible, true, &[9; 8]);
    let helper = define(&mut module, "helper", Linkage::Local, I64_2, |_, b, x| vec![b.ins().isub(x[0], x[1])]);
    define(&mut module, "entry", Linkage::Export, I64_2, |module, b, x| {
        let mut value = x[0];
        for (function, near) in [(host, true), (host, false), (helper, true)] {
            let function = reference(module, b, function, near);
            let call = b.ins().call(function, &[value, x[1]]);
            value = b.inst_results(call)[0];
        }
        for data in [table, global] {
            let data = module.declare_data_in_func(data, b.func);
            let address = b.ins().symbol_value(types::I64, data);
            let loaded = b.ins().load(types::I64, MemFlagsData::trusted(), address, 0);
            value = b.ins().iadd(value, loaded);
        }
        vec![value]
    });
    emit(module)
}

#[test]
fn position_dependent_and_independent_code_both_load() {
    for pic in [true, false] {
        let object = LoadedObject::load(&rich_object_with(pic), &resolve_host).unwrap();
        // SAFETY: defined in `rich_object_with` with this signature.
        let entry: extern "C" fn(i64, i64) -> i64 = unsafe { function(&object, "entry") };
        let sum = ((10 + 3 + 1000) + 3 + 1000) - 3;
        assert_eq!(entry(10, 3), sum + i64::from_le_bytes([7; 8]) + i64::from_le_bytes([9; 8]), "pic: {pic}");
    }
}

/// Objects from gcc (`testdata/c_kernels.c`): PC32 data references, `.bss`, `.eh_frame`.
#[test]
fn objects_from_a_c_compiler() {
    let object = LoadedObject::load(include_bytes!("testdata/c_kernels.pic.o"), &resolve_host).unwrap();
    // SAFETY: the functions of `testdata/c_kernels.c`, with their C types.
    unsafe {
        let scale: extern "C" fn(f64, i32) -> f64 = function(&object, "scale");
        let bump: extern "C" fn() -> i64 = function(&object, "bump");
        let call_host: extern "C" fn(i64) -> i64 = function(&object, "call_host");
        let sum_of_squares: extern "C" fn(i64, i64) -> i64 = function(&object, "sum_of_squares");
        let read_zero: extern "C" fn(i32) -> f32 = function(&object, "read_zero");
        assert_eq!((scale(2.0, 1), scale(2.0, 2)), (5.0, 7.0));
        assert_eq!((bump(), bump()), (42, 43));
        assert_eq!(call_host(1), 2006);
        assert_eq!(sum_of_squares(3, 4), 25);
        assert_eq!(read_zero(99), 0.0);
    }
    assert_eq!(object.symbol("k"), None, "local data is not exported");
    assert!(object.symbol("zeros").is_some());
    let error = LoadedObject::load(include_bytes!("testdata/c_kernels.nopic.o"), &resolve_host).unwrap_err();
    let message = error.to_string();
    let start = "relocation R_X86_64_32S against `.rodata` in section `.text` at offset 0x18: the value 0x";
    assert!(message.starts_with(start) && message.ends_with("does not fit in 32 bits signed"), "{message}");
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, ..ProptestConfig::default() })]

    /// A truncated or corrupted object loads or fails, and never panics; its code is never run.
    #[test]
    fn corrupted_objects_never_panic(
        from_c in any::<bool>(),
        length in prop::option::of(any::<prop::sample::Index>()),
        flips in prop::collection::vec((any::<prop::sample::Index>(), 1..=255u8), 0..12),
    ) {
        let c_object: &[u8] = include_bytes!("testdata/c_kernels.pic.o");
        let mut bytes = if from_c { c_object.to_vec() } else { rich_object().to_vec() };
        for (at, mask) in flips {
            let at = at.index(bytes.len());
            bytes[at] ^= mask;
        }
        if let Some(length) = length {
            bytes.truncate(length.index(bytes.len() + 1));
        }
        let _ = LoadedObject::load(&bytes, &resolve_host);
    }
}
