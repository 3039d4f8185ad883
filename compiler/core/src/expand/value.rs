//! Compile-time values of the expander: everything a `.hgl` expression can evaluate to.
//!
//! Only [`Value::Tensor`] exists at run time; every other value is folded away during expansion
//! (numbers, dimensions, lists, records, functions passed as arguments, initializers).

use hg_dsl::ast::{FileId, Span};
use hg_ir::{DType, Dim, Init, ValueId};

/// A callable passed around as a value (`act = relu`).
#[derive(Clone, Debug, PartialEq)]
pub enum Callable {
    /// A built-in operation or stdlib-free activation, by name.
    Builtin(String),
    /// A user or stdlib `fn`: the file that defines it and its index among the file's items.
    User { file: FileId, item: usize, name: String },
}

#[derive(Clone, Debug, PartialEq)]
pub enum Value {
    Tensor(ValueId),
    Int(i64),
    Float(f64),
    Bool(bool),
    Str(String),
    /// A symbolic dimension (`B`, `2*B`); constant dimensions are [`Value::Int`].
    Dim(Dim),
    List(Vec<Value>),
    Tuple(Vec<Value>),
    /// Ordered fields: `{ z: zq, loss: l }`.
    Record(Vec<(String, Value)>),
    Func(Callable),
    DType(DType),
    Init(Init),
}

impl Value {
    /// What kind of value this is, for messages ("expected an int, found a tensor").
    pub fn kind(&self) -> &'static str {
        match self {
            Value::Tensor(_) => "a tensor",
            Value::Int(_) => "an int",
            Value::Float(_) => "a float",
            Value::Bool(_) => "a bool",
            Value::Str(_) => "a string",
            Value::Dim(_) => "a dimension",
            Value::List(_) => "a list",
            Value::Tuple(_) => "a tuple",
            Value::Record(_) => "a record",
            Value::Func(_) => "a function",
            Value::DType(_) => "a dtype",
            Value::Init(_) => "an initializer",
        }
    }

    /// The value as a dimension, if it is an int or a symbolic dimension.
    pub fn as_dim(&self) -> Option<Dim> {
        match self {
            Value::Int(n) => Some(Dim::constant(*n)),
            Value::Dim(d) => Some(d.clone()),
            _ => None,
        }
    }

    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Value::Int(n) => Some(*n as f64),
            Value::Float(x) => Some(*x),
            _ => None,
        }
    }

    /// A dimension folded back to an int when it is constant.
    pub fn from_dim(d: Dim) -> Value {
        match d.as_const() {
            Some(n) => Value::Int(n),
            None => Value::Dim(d),
        }
    }
}

/// A value together with the place that produced it (for second labels in diagnostics).
#[derive(Clone, Debug)]
pub struct Bound {
    pub value: Value,
    pub span: Span,
}
