//! The IR reader: parses the text form `print` writes back into a [`Module`] or [`Function`].
//!
//! The format is line oriented (see `print`): `module`, `param` and `fn` headers, one node
//! per line, `return`, `}`. Values must be defined before use (the printer writes them in
//! topological order), and each node's written type is checked against its operands with
//! [`infer_type`], so a hand-edited file fails at the line that is wrong. Signature entries
//! must agree with the `input` nodes and the `return` line. Spans are not part of the text;
//! nodes read back get [`NodeSpan::default`]. Whole-module checks (parameter declarations)
//! are left to [`crate::verify::verify_module`].
//!
//! **Invariant**: for any well-formed module, `read_module(&m.to_string())` prints back to
//! exactly `m.to_string()`.

mod cursor;
mod ops;

use crate::function::{Function, Module, NodeSpan, ParamDecl, ValueId};
use crate::infer::infer_type;
use crate::op::{Init, Op};
use crate::types::TensorType;
use cursor::Cursor;
use std::collections::HashMap;

/// A syntax or consistency error at a line and column (both from 1).
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("line {line}, column {column}: {message}")]
pub struct ReadError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

/// Lines with their numbers, skipping blank ones.
type Lines<'a> = std::iter::Peekable<Box<dyn Iterator<Item = (usize, &'a str)> + 'a>>;

fn lines(text: &str) -> Lines<'_> {
    let it: Box<dyn Iterator<Item = (usize, &str)>> =
        Box::new(text.lines().enumerate().map(|(i, l)| (i + 1, l)).filter(|(_, l)| !l.trim().is_empty()));
    it.peekable()
}

/// Parses a whole module: `module NAME`, `param` lines, then functions.
pub fn read_module(text: &str) -> Result<Module, ReadError> {
    let mut lines = lines(text);
    let Some((n, first)) = lines.next() else {
        return Err(ReadError { line: 1, column: 1, message: "expected `module`, found end of input".into() });
    };
    let mut c = Cursor::new(first, n);
    c.expect("module")?;
    let model = c.name()?;
    c.expect_end()?;
    let mut module = Module { model, params: Vec::new(), functions: Vec::new() };
    while let Some(&(n, line)) = lines.peek() {
        let mut c = Cursor::new(line, n);
        let trainable = c.eat("param ");
        if !trainable && !c.eat("buffer ") {
            break;
        }
        lines.next();
        let name = c.name()?;
        c.expect(":")?;
        let ty = c.tensor_type()?;
        c.expect("=")?;
        let init = read_init(&mut c)?;
        c.expect_end()?;
        module.params.push(ParamDecl { name, ty, init, span: NodeSpan::default(), trainable });
    }
    while lines.peek().is_some() {
        module.functions.push(read_fn(&mut lines)?);
    }
    Ok(module)
}

/// Parses exactly one `fn ... { ... }` block.
pub fn read_function(text: &str) -> Result<Function, ReadError> {
    let mut lines = lines(text);
    let f = read_fn(&mut lines)?;
    if let Some((n, _)) = lines.next() {
        return Err(ReadError { line: n, column: 1, message: "unexpected text after the function".into() });
    }
    Ok(f)
}

/// Parses a tensor type such as `f32[B, 784]` (the whole string).
pub fn read_type(text: &str) -> Result<TensorType, ReadError> {
    let mut c = Cursor::new(text, 1);
    let t = c.tensor_type()?;
    c.expect_end()?;
    Ok(t)
}

fn read_init(c: &mut Cursor<'_>) -> Result<Init, ReadError> {
    let start = c.pos();
    let init = match c.word()? {
        "zeros" => Init::Zeros,
        "ones" => Init::Ones,
        "glorot_uniform" => Init::GlorotUniform,
        "he_normal" => Init::HeNormal,
        "normal" => {
            c.expect("(")?;
            let std = c.float()?;
            c.expect(")")?;
            Init::Normal { std }
        }
        "uniform" => {
            c.expect("(")?;
            let lo = c.float()?;
            c.expect(",")?;
            let hi = c.float()?;
            c.expect(")")?;
            Init::Uniform { lo, hi }
        }
        other => return Err(c.error_at(start, format!("unknown initializer `{other}`"))),
    };
    Ok(init)
}

/// `name: type` entries of a signature, between the parentheses.
fn read_signature(c: &mut Cursor<'_>) -> Result<Vec<(String, TensorType, usize)>, ReadError> {
    c.expect("(")?;
    let mut out = Vec::new();
    if c.eat(")") {
        return Ok(out);
    }
    loop {
        let at = c.pos();
        let name = c.name()?;
        c.expect(":")?;
        out.push((name, c.tensor_type()?, at));
        if c.eat(")") {
            return Ok(out);
        }
        c.expect(",")?;
    }
}

fn read_fn(lines: &mut Lines<'_>) -> Result<Function, ReadError> {
    let Some((n, header)) = lines.next() else {
        return Err(ReadError { line: 1, column: 1, message: "expected `fn`, found end of input".into() });
    };
    let mut c = Cursor::new(header, n);
    c.expect("fn ")?;
    let mut f = Function::new(c.name()?);
    let sig_inputs = read_signature(&mut c)?;
    c.expect("->")?;
    let sig_outputs = read_signature(&mut c)?;
    c.expect("{")?;
    c.expect_end()?;
    let header_line = n;

    let mut values: HashMap<usize, ValueId> = HashMap::new();
    let mut input_nodes: HashMap<String, (ValueId, usize)> = HashMap::new();
    loop {
        let Some((n, line)) = lines.next() else {
            return Err(ReadError { line: header_line, column: 1, message: format!("`fn {}` is not closed", f.name) });
        };
        let mut c = Cursor::new(line, n);
        if c.eat("return") {
            read_return(&mut c, &mut f, &values, &sig_outputs)?;
            let Some((n, close)) = lines.next() else {
                return Err(ReadError { line: n, column: 1, message: "expected `}` after `return`".into() });
            };
            let mut c = Cursor::new(close, n);
            c.expect("}")?;
            c.expect_end()?;
            break;
        }
        read_node(&mut c, &mut f, &mut values, &mut input_nodes)?;
    }

    // Signature inputs name the `input` nodes, which must all be listed.
    let c = Cursor::new(header, header_line);
    for (name, ty, at) in sig_inputs {
        let Some((v, _)) = input_nodes.remove(&name) else {
            return Err(c.error_at(at, format!("no `input \"{name}\"` node for signature input `{name}`")));
        };
        if f.ty(v) != &ty {
            return Err(c.error_at(at, format!("signature input `{name}` has type {ty}, its node {}", f.ty(v))));
        }
        f.inputs.push((name, v));
    }
    if let Some((name, (_, line))) = input_nodes.into_iter().min_by_key(|(_, (_, line))| *line) {
        return Err(ReadError { line, column: 1, message: format!("`input \"{name}\"` is not in the signature") });
    }
    Ok(f)
}

/// `%N = mnemonic ["name"] [%a, %b] [{attrs}] : type`
fn read_node(
    c: &mut Cursor<'_>,
    f: &mut Function,
    values: &mut HashMap<usize, ValueId>,
    input_nodes: &mut HashMap<String, (ValueId, usize)>,
) -> Result<(), ReadError> {
    let def_at = c.pos();
    let number = read_value_number(c)?;
    if values.contains_key(&number) {
        return Err(c.error_at(def_at, format!("%{number} is defined twice")));
    }
    c.expect("=")?;
    let op_at = c.pos();
    let mnemonic = c.word()?;
    let mut op = ops::op_head(c, mnemonic, op_at)?;
    let mut operands = Vec::new();
    if c.peek() == Some('%') {
        loop {
            let at = c.pos();
            let k = read_value_number(c)?;
            let v = *values.get(&k).ok_or_else(|| c.error_at(at, format!("use of undefined value %{k}")))?;
            operands.push(v);
            if !c.eat(",") {
                break;
            }
        }
    }
    ops::attributes(c, &mut op)?;
    c.expect(":")?;
    let ty = c.tensor_type()?;
    c.expect_end()?;
    let tys: Vec<&TensorType> = operands.iter().map(|v| f.ty(*v)).collect();
    infer_type(&op, &tys, Some(&ty)).map_err(|e| c.error_at(op_at, e.message))?;
    let input_name = match &op {
        Op::Input { name } => Some(name.clone()),
        _ => None,
    };
    let v = f.add_typed(op, &operands, ty, NodeSpan::default());
    values.insert(number, v);
    if let Some(name) = input_name
        && input_nodes.insert(name.clone(), (v, c.line())).is_some()
    {
        return Err(c.error_at(op_at, format!("`input \"{name}\"` is defined twice")));
    }
    Ok(())
}

fn read_value_number(c: &mut Cursor<'_>) -> Result<usize, ReadError> {
    c.expect("%")?;
    c.uint()
}

/// `return a=%1, b=%2`, checked against the signature's outputs.
fn read_return(
    c: &mut Cursor<'_>,
    f: &mut Function,
    values: &HashMap<usize, ValueId>,
    sig: &[(String, TensorType, usize)],
) -> Result<(), ReadError> {
    let mut i = 0;
    while !c.at_end() {
        if i > 0 {
            c.expect(",")?;
        }
        let at = c.pos();
        let name = c.name()?;
        c.expect("=")?;
        let k_at = c.pos();
        let k = read_value_number(c)?;
        let v = *values.get(&k).ok_or_else(|| c.error_at(k_at, format!("use of undefined value %{k}")))?;
        match sig.get(i) {
            Some((s, ty, _)) if *s == name && ty == f.ty(v) => {}
            Some((s, ty, _)) => {
                return Err(c.error_at(at, format!("returns `{name}`: {}, the signature says `{s}`: {ty}", f.ty(v))));
            }
            None => {
                return Err(c.error_at(at, format!("returns `{name}`, which the signature does not list")));
            }
        }
        f.outputs.push((name, v));
        i += 1;
    }
    if let Some((s, _, _)) = sig.get(i) {
        return Err(c.error(format!("signature output `{s}` is not returned")));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::print::tests::{attribute_zoo, encoder_module};

    fn round_trip(text: &str) {
        let m = read_module(text).unwrap_or_else(|e| panic!("{e}\n{text}"));
        assert_eq!(m.to_string(), text);
    }

    #[test]
    fn printed_modules_read_back_identically() {
        round_trip(&encoder_module().to_string());
        let zoo = Module { model: "Zoo".into(), params: Vec::new(), functions: vec![attribute_zoo()] };
        round_trip(&zoo.to_string());
        let f = read_function(&attribute_zoo().to_string()).unwrap();
        crate::verify::verify_function(&f).unwrap();
        assert_eq!(f.inputs.len(), 5);
        assert_eq!(f.outputs.len(), 4);
    }

    #[test]
    fn every_op_round_trips() {
        let text = "module \"all ops\"
param \"w-1\": f32[4, 4] = normal(0.02)
param b: f32[4] = uniform(-0.5, 0.5)
param c: f32[2, 1, 3, 3] = he_normal
param d: f32[1] = ones

fn \"f\\\"q\"() -> () {
  return
}

fn g(x: f32[B, 4], \"im g\": f32[B, 1, 6, 6], i: i64[B, 4]) -> (y: f32[B, 4], t: f32[B, 1, 6, 6]) {
  %0 = input \"x\" : f32[B, 4]
  %1 = input \"im g\" : f32[B, 1, 6, 6]
  %2 = input \"i\" : i64[B, 4]
  %3 = param \"w-1\" : f32[4, 4]
  %4 = matmul %0, %3 : f32[B, 4]
  %5 = neg %4 : f32[B, 4]
  %6 = maximum %5, %4 : f32[B, 4]
  %7 = eq %5, %4 : bool[B, 4]
  %8 = not %7 : bool[B, 4]
  %9 = where %8, %6, %5 : f32[B, 4]
  %10 = scatter_add %9, %2, %9 {axis=1} : f32[B, 4]
  %11 = min %10 {axes=[0], keepdims=true} : f32[1, 4]
  %12 = broadcast_to %11 : f32[B, 4]
  %13 = argmin %12 {axis=1, keepdims=true} : i64[B, 1]
  %14 = cast %13 {to=f32} : f32[B, 1]
  %15 = mean %14 {axes=[], keepdims=false} : f32[B, 1]
  %16 = sub %12, %15 : f32[B, 4]
  %17 = conv2d_weight_grad %1, %1 {stride=[1, 1], padding=[1, 1], groups=1} : f32[1, 1, 3, 3]
  %18 = conv_transpose2d %1, %17 {stride=[2, 2], padding=[1, 1], output_padding=[1, 1], groups=1} : f32[B, 1, 12, 12]
  %19 = avg_pool2d %18 {kernel=[2, 2], stride=[2, 2], padding=[1, 1]} : f32[B, 1, 7, 7]
  %20 = max_pool2d_grad %1, %1 {kernel=[3, 3], stride=[1, 1], padding=[1, 1]} : f32[B, 1, 6, 6]
  %21 = dim_value {dim=2*B*H - 3} : f64[]
  return y=%16, t=%20
}
";
        round_trip(text);
    }

    #[test]
    fn deep_chains_print_and_read_back() {
        let mut f = Function::new("deep");
        let mut v = f.add_input("x", read_type("f32[B]").unwrap(), NodeSpan::default());
        for _ in 0..100_000 {
            v = f.add(Op::Unary(crate::op::UnaryOp::Neg), &[v], NodeSpan::default()).unwrap();
        }
        f.outputs.push(("y".into(), v));
        let text = f.to_string();
        let back = read_function(&text).unwrap();
        assert_eq!(back.len(), 100_001);
        assert_eq!(back.to_string(), text);
    }

    fn read_err(text: &str) -> String {
        read_module(text).unwrap_err().to_string()
    }

    #[test]
    fn errors_are_located() {
        let head = "module M\n\nfn f(x: f32[B]) -> (y: f32[B]) {\n  %0 = input \"x\" : f32[B]\n";
        assert_eq!(
            read_err(&format!("{head}  %1 = exp %0 : f32[B, 2]\n  return y=%1\n}}\n")),
            "line 5, column 8: exp: declared type f32[B, 2] differs from inferred type f32[B] (operands f32[B])"
        );
        assert_eq!(
            read_err(&format!("{head}  %1 = exq %0 : f32[B]\n  return y=%1\n}}\n")),
            "line 5, column 8: unknown op `exq`"
        );
        assert_eq!(
            read_err(&format!("{head}  %1 = exp %7 : f32[B]\n  return y=%1\n}}\n")),
            "line 5, column 12: use of undefined value %7"
        );
        assert_eq!(
            read_err(&format!("{head}  %0 = exp %0 : f32[B]\n  return y=%0\n}}\n")),
            "line 5, column 3: %0 is defined twice"
        );
        assert_eq!(
            read_err(&format!("{head}  %1 = sum %0 {{axes=[0], keepdim=false}} : f32[]\n  return y=%1\n}}\n")),
            "line 5, column 26: expected `keepdims`, found `keepdim=false}`"
        );
        assert_eq!(
            read_err(&format!("{head}  %1 = exp %0 : f33[B]\n  return y=%1\n}}\n")),
            "line 5, column 17: unknown dtype `f33`"
        );
        assert_eq!(
            read_err(&format!("{head}  return z=%0\n}}\n")),
            "line 5, column 10: returns `z`: f32[B], the signature says `y`: f32[B]"
        );
        assert_eq!(
            read_err(&format!("{head}  return\n}}\n")),
            "line 5, column 9: signature output `y` is not returned"
        );
        assert_eq!(read_err(&format!("{head}  return y=%0\n")), "line 5, column 1: expected `}` after `return`");
        assert_eq!(read_err(head), "line 3, column 1: `fn f` is not closed");
        assert_eq!(
            read_err("module M\nfn f(x: f32[B]) -> () {\n  return\n}\n"),
            "line 2, column 6: no `input \"x\"` node for signature input `x`"
        );
        assert_eq!(
            read_err("module M\nfn f() -> () {\n  %0 = input \"x\" : f32[]\n  return\n}\n"),
            "line 3, column 1: `input \"x\"` is not in the signature"
        );
        assert_eq!(read_err("module M\nparam w: f32[3] = glorot\n"), "line 2, column 19: unknown initializer `glorot`");
        assert_eq!(read_err("modul M\n"), "line 1, column 1: expected `module`, found `modul`");
        assert_eq!(read_err(""), "line 1, column 1: expected `module`, found end of input");
    }

    #[test]
    fn types_and_strings() {
        assert_eq!(read_type("f32[2*B + 1, 3]").unwrap().to_string(), "f32[2*B + 1, 3]");
        assert_eq!(read_type("i64[-B*H + 2]").unwrap().to_string(), "i64[-B*H + 2]");
        assert_eq!(read_type("bool[]").unwrap().to_string(), "bool[]");
        assert_eq!(read_type("f32[B,]").unwrap_err().to_string(), "line 1, column 7: expected a dimension, found `]`");
        let m = read_module("module \"a\\u{e9}\\n\\\\\"\n").unwrap();
        assert_eq!(m.model, "a\u{e9}\n\\");
        assert!(read_module("module \"abc\n").is_err());
        assert!(read_module("module \"a\\q\"\n").is_err());
    }
}
