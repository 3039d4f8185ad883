//! The built-in names of Hourglass: operations, element types, initializers, optimizers,
//! schedules, `train` settings and compile-time type names, each with its parameters.
//!
//! This table is the single source for the resolver's argument checks (unknown keyword,
//! missing argument, ...) and for the builtin reference in docs/language.md. Parameter defaults
//! are written as Hourglass literals so later stages can parse and use them.
//!
//! Namespaces: operations and element types are values in every expression ([`lookup`]);
//! initializers are looked up only as a `param` initializer ([`initializer`]), optimizers and
//! schedules only in a `train` block ([`optimizer`], [`schedule`]). So `normal(shape)` (random
//! numbers) and `param w: f32[I, O] = normal(0.02)` (an initializer) do not collide. Names a
//! file defines or imports take precedence over the builtins.

/// What a builtin is.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BuiltinKind {
    Op(OpClass),
    /// An element type used as a value, e.g. `cast(x, i32)`.
    Dtype,
    Initializer,
    Optimizer,
    Schedule,
    /// How the two players of two-player training take their steps (`players = alternating`).
    PlayerOrder,
}

/// The groups of operations in LANGUAGE.md.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum OpClass {
    Elementwise,
    Reduction,
    LinearAlgebra,
    Shape,
    Indexing,
    Constant,
    Random,
    Gradient,
    Introspection,
}

impl OpClass {
    pub fn title(self) -> &'static str {
        match self {
            OpClass::Elementwise => "elementwise",
            OpClass::Reduction => "reductions",
            OpClass::LinearAlgebra => "linear algebra and convolution",
            OpClass::Shape => "shape",
            OpClass::Indexing => "indexing",
            OpClass::Constant => "constants",
            OpClass::Random => "randomness",
            OpClass::Gradient => "gradient control",
            OpClass::Introspection => "sizes and compile-time lists",
        }
    }
}

/// Whether a parameter must be given, and what it is when it is not.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ParamDefault {
    Required,
    /// The value used when the argument is left out, as Hourglass source (e.g. `false`, `1e-8`).
    Value(&'static str),
    /// Optional with no value: the operation behaves as described (e.g. `all axes`).
    Absent(&'static str),
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct BuiltinParam {
    pub name: &'static str,
    pub default: ParamDefault,
}

impl BuiltinParam {
    pub fn is_required(&self) -> bool {
        self.default == ParamDefault::Required
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BuiltinDef {
    pub name: &'static str,
    pub kind: BuiltinKind,
    pub params: &'static [BuiltinParam],
    /// One line for the reference documentation.
    pub doc: &'static str,
}

const fn req(name: &'static str) -> BuiltinParam {
    BuiltinParam { name, default: ParamDefault::Required }
}

const fn opt(name: &'static str, value: &'static str) -> BuiltinParam {
    BuiltinParam { name, default: ParamDefault::Value(value) }
}

const fn absent(name: &'static str, meaning: &'static str) -> BuiltinParam {
    BuiltinParam { name, default: ParamDefault::Absent(meaning) }
}

const X: &[BuiltinParam] = &[req("x")];
const AB: &[BuiltinParam] = &[req("a"), req("b")];
const REDUCE: &[BuiltinParam] = &[req("x"), absent("axis", "all axes"), opt("keepdims", "false")];
const ARG_REDUCE: &[BuiltinParam] = &[req("x"), opt("axis", "-1"), opt("keepdims", "false")];
const NONE: &[BuiltinParam] = &[];

macro_rules! def {
    ($name:literal, $kind:expr, $params:expr, $doc:literal) => {
        BuiltinDef { name: $name, kind: $kind, params: $params, doc: $doc }
    };
}

use BuiltinKind::{Dtype, Initializer, Op, Optimizer, PlayerOrder, Schedule};
use OpClass::*;

/// Operations and element types: the builtins visible in every expression.
pub static OPS: &[BuiltinDef] = &[
    def!("exp", Op(Elementwise), X, "e to the power x"),
    def!("log", Op(Elementwise), X, "natural logarithm"),
    def!("sqrt", Op(Elementwise), X, "square root"),
    def!("rsqrt", Op(Elementwise), X, "1 / sqrt(x)"),
    def!("abs", Op(Elementwise), X, "absolute value"),
    def!("neg", Op(Elementwise), X, "-x"),
    def!("sign", Op(Elementwise), X, "-1, 0 or 1"),
    def!("tanh", Op(Elementwise), X, "hyperbolic tangent"),
    def!("sigmoid", Op(Elementwise), X, "1 / (1 + exp(-x))"),
    def!("relu", Op(Elementwise), X, "max(x, 0)"),
    def!("gelu", Op(Elementwise), X, "Gaussian error linear unit, exact erf form (PyTorch's default)"),
    def!("softplus", Op(Elementwise), X, "log(1 + exp(x))"),
    def!("sin", Op(Elementwise), X, "sine"),
    def!("cos", Op(Elementwise), X, "cosine"),
    def!("floor", Op(Elementwise), X, "largest integer not above x (zero gradient)"),
    def!("round", Op(Elementwise), X, "nearest integer, ties to even (zero gradient)"),
    def!("identity", Op(Elementwise), X, "x itself; the default activation value (`last = identity`)"),
    def!("maximum", Op(Elementwise), AB, "elementwise maximum of two tensors"),
    def!("minimum", Op(Elementwise), AB, "elementwise minimum of two tensors"),
    def!("where", Op(Elementwise), &[req("cond"), req("a"), req("b")], "`a` where `cond` is true, else `b`"),
    def!("clamp", Op(Elementwise), &[req("x"), req("lo"), req("hi")], "x limited to [lo, hi]"),
    def!("cast", Op(Elementwise), &[req("x"), req("dtype")], "convert to another element type"),
    def!("sum", Op(Reduction), REDUCE, "sum over `axis` (an int or a list)"),
    def!("mean", Op(Reduction), REDUCE, "mean over `axis`"),
    def!("max", Op(Reduction), REDUCE, "maximum over `axis`"),
    def!("min", Op(Reduction), REDUCE, "minimum over `axis`"),
    def!("argmax", Op(Reduction), ARG_REDUCE, "index of the first maximum along `axis` (i64)"),
    def!("argmin", Op(Reduction), ARG_REDUCE, "index of the first minimum along `axis` (i64)"),
    def!("matmul", Op(LinearAlgebra), AB, "matrix product over the last two axes, batched (`@`)"),
    def!(
        "conv2d",
        Op(LinearAlgebra),
        &[req("x"), req("w"), opt("stride", "1"), opt("padding", "0"), opt("groups", "1")],
        "2-D convolution, x: [N, C, H, W], w: [O, C / groups, KH, KW]"
    ),
    def!(
        "conv_transpose2d",
        Op(LinearAlgebra),
        &[req("x"), req("w"), opt("stride", "1"), opt("padding", "0"), opt("output_padding", "0"), opt("groups", "1")],
        "transposed 2-D convolution (gradient of conv2d), w: [C, O / groups, KH, KW]"
    ),
    def!(
        "avg_pool2d",
        Op(LinearAlgebra),
        &[req("x"), req("kernel"), absent("stride", "the kernel size"), opt("padding", "0")],
        "average pooling over the last two axes"
    ),
    def!(
        "max_pool2d",
        Op(LinearAlgebra),
        &[req("x"), req("kernel"), absent("stride", "the kernel size"), opt("padding", "0")],
        "max pooling over the last two axes"
    ),
    def!("reshape", Op(Shape), &[req("x"), req("shape")], "same elements, new shape (one entry may be -1)"),
    def!(
        "transpose",
        Op(Shape),
        &[req("x"), absent("perm", "the axes reversed")],
        "permute axes: `transpose(w, [1, 0])`"
    ),
    def!("broadcast_to", Op(Shape), &[req("x"), req("shape")], "broadcast to a larger shape"),
    def!("concat", Op(Shape), &[req("xs"), opt("axis", "0")], "join a list of tensors along `axis`"),
    def!(
        "split",
        Op(Shape),
        &[req("x"), req("parts"), opt("axis", "-1")],
        "split into `parts` equal pieces (or a list of sizes)"
    ),
    def!(
        "slice",
        Op(Shape),
        &[req("x"), req("start"), req("end"), opt("axis", "-1"), opt("step", "1")],
        "elements start..end along `axis`"
    ),
    def!("stack", Op(Shape), &[req("xs"), opt("axis", "0")], "stack a list of tensors along a new axis"),
    def!("flatten", Op(Shape), &[req("x"), opt("start", "1")], "merge the axes from `start` on into one"),
    def!("pad", Op(Shape), &[req("x"), req("widths"), opt("value", "0.0")], "pad with (before, after) per axis"),
    def!("one_hot", Op(Shape), &[req("idx"), req("n")], "f32 one-hot vectors of length n"),
    def!("gather", Op(Indexing), &[req("x"), req("idx"), req("axis")], "pick entries of x along `axis`"),
    def!(
        "scatter_add",
        Op(Indexing),
        &[req("x"), req("idx"), req("values"), req("axis")],
        "add `values` into x at `idx` (gradient of gather)"
    ),
    def!("embedding", Op(Indexing), &[req("table"), req("idx")], "rows of `table` at `idx`"),
    def!("topk", Op(Indexing), &[req("x"), req("k"), opt("axis", "-1")], "record `{values, indices}` of the k largest"),
    def!("zeros", Op(Constant), &[req("shape"), opt("dtype", "f32")], "zeros"),
    def!("ones", Op(Constant), &[req("shape"), opt("dtype", "f32")], "ones"),
    def!("full", Op(Constant), &[req("shape"), req("value"), opt("dtype", "f32")], "a tensor filled with `value`"),
    def!("normal", Op(Random), &[req("shape"), opt("mean", "0.0"), opt("std", "1.0")], "normal samples"),
    def!("uniform", Op(Random), &[req("shape"), opt("lo", "0.0"), opt("hi", "1.0")], "uniform samples in [lo, hi)"),
    def!("bernoulli", Op(Random), &[req("shape"), req("p")], "f32 zeros and ones, one with probability p"),
    def!("stop_gradient", Op(Gradient), X, "x, with no gradient flowing back"),
    def!(
        "train_step",
        Op(Random),
        &[],
        "f32[]: the optimizer steps taken before this one in `train` (0 elsewhere), to start a loss term late"
    ),
    def!(
        "straight_through",
        Op(Gradient),
        &[req("forward"), req("backward")],
        "value of `forward`, gradient of `backward`"
    ),
    def!(
        "grad",
        Op(Gradient),
        &[req("y"), req("x")],
        "the gradient of the f32[] `y` with respect to `x`, shaped like `x`, as a constant (no gradient flows through it)"
    ),
    def!("shape", Op(Introspection), X, "the shape of x as a list (batch-symbolic)"),
    def!("dim", Op(Introspection), &[req("x"), req("axis")], "one size of x"),
    def!("len", Op(Introspection), &[req("xs")], "the number of items of a compile-time list or tuple"),
    def!("range", Op(Introspection), &[req("n")], "the list of ints `[0, 1, ..., n - 1]` (n a compile-time int)"),
    def!(
        "enumerate",
        Op(Introspection),
        &[req("xs")],
        "the list of `(index, item)` tuples of a compile-time list or tuple"
    ),
    def!("f32", Dtype, NONE, "32-bit float"),
    def!("f64", Dtype, NONE, "64-bit float"),
    def!("f16", Dtype, NONE, "16-bit float"),
    def!("bf16", Dtype, NONE, "bfloat16"),
    def!("i32", Dtype, NONE, "32-bit integer"),
    def!("i64", Dtype, NONE, "64-bit integer"),
    def!("bool", Dtype, NONE, "boolean"),
];

/// Initializers for `param w: T = init`.
pub static INITIALIZERS: &[BuiltinDef] = &[
    def!("zeros", Initializer, NONE, "all zeros"),
    def!("ones", Initializer, NONE, "all ones"),
    def!("normal", Initializer, &[req("std")], "normal with mean 0 and standard deviation `std`"),
    def!("uniform", Initializer, &[req("lo"), req("hi")], "uniform in [lo, hi)"),
    def!("glorot_uniform", Initializer, NONE, "uniform in ±sqrt(6 / (fan_in + fan_out))"),
    def!("he_normal", Initializer, NONE, "normal with std sqrt(2 / fan_in)"),
];

/// Optimizers for `train { optimizer = ... }`.
pub static OPTIMIZERS: &[BuiltinDef] = &[
    def!(
        "sgd",
        Optimizer,
        &[req("lr"), opt("momentum", "0.0"), opt("nesterov", "false"), opt("weight_decay", "0.0")],
        "stochastic gradient descent"
    ),
    def!(
        "adam",
        Optimizer,
        &[req("lr"), opt("betas", "(0.9, 0.999)"), opt("eps", "1e-8"), opt("weight_decay", "0.0")],
        "Adam (weight decay added to the gradient)"
    ),
    def!(
        "adamw",
        Optimizer,
        &[req("lr"), opt("betas", "(0.9, 0.999)"), opt("eps", "1e-8"), opt("weight_decay", "0.01")],
        "Adam with decoupled weight decay"
    ),
];

/// Learning-rate schedules for `train { schedule = ... }`.
pub static SCHEDULES: &[BuiltinDef] = &[
    def!("constant", Schedule, NONE, "the optimizer's `lr` throughout"),
    def!("cosine", Schedule, &[opt("warmup", "0")], "linear warm-up for `warmup` steps, then cosine decay to 0"),
    def!("linear", Schedule, &[opt("warmup", "0")], "linear warm-up for `warmup` steps, then linear decay to 0"),
];

/// The orders of two-player training's steps (the `players` setting).
pub static PLAYER_ORDERS: &[BuiltinDef] = &[
    def!("simultaneous", PlayerOrder, NONE, "both players step on the gradients of one forward pass"),
    def!(
        "alternating",
        PlayerOrder,
        NONE,
        "the model steps first; the critic then steps on a second forward pass with the model's new parameters"
    ),
];

/// What value a `train` setting takes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TrainValue {
    Optimizer,
    Schedule,
    /// `simultaneous` or `alternating`.
    PlayerOrder,
    /// An integer > 0.
    PositiveInt,
    /// Any integer.
    Int,
    /// A number > 0.
    PositiveNumber,
}

#[derive(Debug, PartialEq, Eq, Hash)]
pub struct TrainKey {
    pub name: &'static str,
    pub value: TrainValue,
    pub doc: &'static str,
}

/// The settings of a `train` block.
pub static TRAIN_KEYS: &[TrainKey] = &[
    TrainKey { name: "optimizer", value: TrainValue::Optimizer, doc: "`sgd(...)`, `adam(...)` or `adamw(...)`" },
    TrainKey {
        name: "critic_optimizer",
        value: TrainValue::Optimizer,
        doc: "the optimizer of the `critic` section's parameters (default: `optimizer`)",
    },
    TrainKey {
        name: "players",
        value: TrainValue::PlayerOrder,
        doc: "two-player training: `simultaneous` (default) or `alternating`",
    },
    TrainKey { name: "batch", value: TrainValue::PositiveInt, doc: "examples per step" },
    TrainKey { name: "epochs", value: TrainValue::PositiveInt, doc: "passes over the data (or give `steps`)" },
    TrainKey { name: "steps", value: TrainValue::PositiveInt, doc: "optimizer steps (or give `epochs`)" },
    TrainKey { name: "schedule", value: TrainValue::Schedule, doc: "`constant`, `cosine(warmup)` or `linear(warmup)`" },
    TrainKey { name: "clip_grad_norm", value: TrainValue::PositiveNumber, doc: "clip the global gradient norm" },
    TrainKey { name: "seed", value: TrainValue::Int, doc: "seed of all random numbers" },
];

/// Element types of tensors.
pub const DTYPES: &[&str] = &["f32", "f64", "f16", "bf16", "i32", "i64", "bool"];

/// Compile-time types of `fn` parameters and hyperparameters.
pub const TYPE_NAMES: &[&str] = &["int", "float", "bool", "list", "tuple", "fn", "str"];

fn find(table: &'static [BuiltinDef], name: &str) -> Option<&'static BuiltinDef> {
    table.iter().find(|d| d.name == name)
}

/// The operation or element type named `name`.
pub fn lookup(name: &str) -> Option<&'static BuiltinDef> {
    find(OPS, name)
}

pub fn initializer(name: &str) -> Option<&'static BuiltinDef> {
    find(INITIALIZERS, name)
}

pub fn optimizer(name: &str) -> Option<&'static BuiltinDef> {
    find(OPTIMIZERS, name)
}

pub fn schedule(name: &str) -> Option<&'static BuiltinDef> {
    find(SCHEDULES, name)
}

pub fn train_key(name: &str) -> Option<&'static TrainKey> {
    TRAIN_KEYS.iter().find(|k| k.name == name)
}

pub fn is_dtype(name: &str) -> bool {
    DTYPES.contains(&name)
}

impl BuiltinDef {
    pub fn param(&self, name: &str) -> Option<&'static BuiltinParam> {
        self.params.iter().find(|p| p.name == name)
    }

    /// `name(a, b = 1)` as documentation shows it.
    pub fn signature(&self) -> String {
        let params: Vec<String> = self
            .params
            .iter()
            .map(|p| match p.default {
                ParamDefault::Required => p.name.to_string(),
                ParamDefault::Value(v) => format!("{} = {v}", p.name),
                ParamDefault::Absent(_) => format!("{}?", p.name),
            })
            .collect();
        if params.is_empty() && !matches!(self.kind, Op(_)) {
            self.name.to_string()
        } else {
            format!("{}({})", self.name, params.join(", "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::parse::parse_expr;

    #[test]
    fn names_are_unique_within_each_namespace() {
        for table in [OPS, INITIALIZERS, OPTIMIZERS, SCHEDULES, PLAYER_ORDERS] {
            let mut names: Vec<&str> = table.iter().map(|d| d.name).collect();
            names.sort_unstable();
            let n = names.len();
            names.dedup();
            assert_eq!(names.len(), n);
        }
    }

    #[test]
    fn defaults_are_valid_literals_and_required_params_come_first() {
        for def in OPS.iter().chain(INITIALIZERS).chain(OPTIMIZERS).chain(SCHEDULES).chain(PLAYER_ORDERS) {
            let mut seen_optional = false;
            for p in def.params {
                if let ParamDefault::Value(v) = p.default {
                    assert!(parse_expr(crate::ast::FileId(0), v).is_ok(), "{}.{}: {v}", def.name, p.name);
                }
                assert!(!(seen_optional && p.is_required()), "{}: required after optional", def.name);
                seen_optional |= !p.is_required();
            }
        }
    }

    #[test]
    fn namespaces_keep_same_names_apart() {
        assert_eq!(lookup("normal").map(|d| d.params[0].name), Some("shape"));
        assert_eq!(initializer("normal").map(|d| d.params[0].name), Some("std"));
        assert_eq!(lookup("glorot_uniform"), None);
        assert_eq!(
            optimizer("adamw").and_then(|d| d.param("weight_decay")).map(|p| p.default),
            Some(ParamDefault::Value("0.01"))
        );
        assert_eq!(lookup("sum").map(BuiltinDef::signature).as_deref(), Some("sum(x, axis?, keepdims = false)"));
        assert!(DTYPES.iter().all(|d| lookup(d).is_some_and(|def| def.kind == BuiltinKind::Dtype)));
    }
}
