//! Kernel objects from anywhere: the runtime's ELF loader must load them or refuse them with an
//! error, never panic or write outside its region. Loaded code is never run here.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let _ = hg_cpu::loader::LoadedObject::load(data, &|_| Some(0x1000));
});
