//! A catalogue of kernels that exercise every construct of the kernel IR (broadcasts, every
//! unary and binary op, inline transcendental functions, reductions with locals and into the
//! output, several outputs, integers and booleans, f64 scalars, random draws), shared by the
//! tests of every code generator: each must compute what the evaluator computes on them, bit
//! for bit.

use super::{KernelBuilder, Rng, b, c, ix};
use crate::ir::{BinaryOp, Expr, Kernel, Scalar, UnaryOp};
use hg_abi::plan::{Affine, RandomKind};

/// Odd and even sizes around vector widths, so remainder loops run 0 to 3 times.
pub const SIZES: [i64; 7] = [1, 3, 4, 5, 8, 13, 1000];
/// Batch sizes to run each kernel at.
pub const BATCHES: [i64; 3] = [1, 2, 5];

/// Every kernel of this module at the sizes the tests use, with the batch sizes to run it at.
pub fn catalogue() -> Vec<(Kernel, Vec<i64>)> {
    let batches = BATCHES.to_vec();
    let mut out = Vec::new();
    for n in SIZES {
        out.push((normalise(n), batches.clone()));
        out.push((transcendental_rows(n), batches.clone()));
        out.push((row_reduction(n), batches.clone()));
        out.push((column_reduction(n), batches.clone()));
        out.push((multiple_outputs(n), batches.clone()));
    }
    for op in UnaryOp::ALL.into_iter().filter(|&op| op != UnaryOp::Not) {
        for n in [1, 7, 250] {
            out.push((unary_kernel(op, n), vec![1, 3]));
        }
    }
    for op in BinaryOp::ALL.into_iter().filter(|op| !op.is_logical()) {
        for n in [1, 6, 301] {
            out.push((binary_kernel(op, n), vec![1, 2]));
        }
    }
    for n in [1, 3, 13, 100] {
        out.push((integer_kernel(n), batches.clone()));
    }
    out.push((f64_scalars(), batches.clone()));
    for n in [1, 5, 64] {
        out.push((random_kernel(n), batches.clone()));
    }
    out
}

/// `y[i, j] = relu(min(max((x[i, j] - mean[j]) * scale[j] / bias + bias, -lim), lim))` with
/// `bias` and `lim` broadcast from one-element arguments (stride 0 in both loops).
pub fn normalise(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("normalise_{n}"));
    let x = k.arg(Scalar::F32, b(n), false);
    let mean = k.arg(Scalar::F32, c(n), false);
    let scale = k.arg(Scalar::F32, c(n), false);
    let bias = k.arg(Scalar::F32, c(1), false);
    let y = k.arg(Scalar::F32, b(n), true);
    k.loop_(b(1), |k, i| {
        let lim = k.load(bias, ix(&[], c(0)));
        let lim = k.un(UnaryOp::Abs, lim);
        let neg_lim = k.un(UnaryOp::Neg, lim);
        k.loop_(c(n), |k, j| {
            let at = ix(&[(i, c(n)), (j, c(1))], c(0));
            let xv = k.load(x, at.clone());
            let m = k.load(mean, ix(&[(j, c(1))], c(0)));
            let s = k.load(scale, ix(&[(j, c(1))], c(0)));
            let bv = k.load(bias, ix(&[(i, c(0)), (j, c(0))], c(0)));
            let d = k.bin(BinaryOp::Sub, xv, m);
            let p = k.bin(BinaryOp::Mul, d, s);
            let q = k.bin(BinaryOp::Div, p, bv);
            let r = k.bin(BinaryOp::Add, q, bv);
            let r = k.bin(BinaryOp::Maximum, r, neg_lim);
            let r = k.bin(BinaryOp::Minimum, r, lim);
            let r = k.un(UnaryOp::Relu, r);
            k.store(y, at, r);
        });
    });
    k.finish(true)
}

/// `y[i] = op(x[i])` over `[B·n]`, one loop, parallel: the vector loop then runs `lo..hi`.
pub fn unary_kernel(op: UnaryOp, n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("{}_{n}", op.name()));
    let x = k.arg(Scalar::F32, b(n), false);
    let y = k.arg(Scalar::F32, b(n), true);
    k.loop_(b(n), |k, i| {
        let v = k.load(x, ix(&[(i, c(1))], c(0)));
        let r = k.un(op, v);
        k.store(y, ix(&[(i, c(1))], c(0)), r);
    });
    k.finish(true)
}

/// Inputs that exercise every path of the inline functions: NaN, ±inf, ±0, subnormals, the
/// extremes, the thresholds of each function (overflow and underflow of `exp`, the switch of
/// `tanh`, the cut-offs of `softplus` and `gelu`) and their neighbours, a dense grid, and
/// random bit patterns over the whole range.
pub fn edge_inputs() -> Vec<f32> {
    let mut v = vec![
        f32::NAN,
        -f32::NAN,
        f32::INFINITY,
        f32::NEG_INFINITY,
        0.0,
        -0.0,
        f32::from_bits(1),
        -f32::from_bits(1),
        1e-40,
        -3e-39,
        f32::MIN_POSITIVE,
        -f32::MIN_POSITIVE,
        f32::MAX,
        f32::MIN,
        1e-30,
        -1e-30,
        1e30,
        -1e30,
        1.0,
        -1.0,
        2.0,
        0.5,
        std::f32::consts::SQRT_2,
        std::f32::consts::FRAC_1_SQRT_2,
    ];
    for t in [
        88.72f32, 88.7228, 88.72284, 88.73, 89.0, 100.0, 101.0, -87.33, -87.34, -100.0, -103.97, -103.98, -104.0,
        -105.0, -150.0, 20.0, 17.0, 9.0, 0.875, 0.437_5, 5.5, 5.0, 6.0, 13.0, 14.0, 44.0, 45.0,
    ] {
        for x in [t, -t] {
            v.extend([x, f32::from_bits(x.to_bits() - 1), f32::from_bits(x.to_bits() + 1)]);
        }
    }
    v.extend((-800..=800).map(|i| i as f32 * 0.031_25));
    let mut rng = Rng::new(97);
    v.extend((0..3000).map(|_| f32::from_bits(rng.next_u64() as u32)));
    // Bit patterns of moderate magnitudes (|x| in [2^-20, 2^8)), where all the paths run.
    v.extend((0..3000).map(|_| {
        let r = rng.next_u64();
        let magnitude = (0x3580_0000 + (r % (0x4380_0000 - 0x3580_0000))) as u32;
        f32::from_bits(magnitude | ((r >> 40) as u32 & 0x8000_0000))
    }));
    v
}

/// `y[i] = op(x[i])` over `n` elements, and, when `scalar`, `k[i] = i64(x[i])` too, which keeps
/// the loop scalar.
pub fn inline_kernel(op: UnaryOp, n: i64, scalar: bool) -> Kernel {
    let mut k = KernelBuilder::new(&format!("{}_{n}_{scalar}", op.name()));
    let x = k.arg(Scalar::F32, c(n), false);
    let y = k.arg(Scalar::F32, c(n), true);
    let ints = scalar.then(|| k.arg(Scalar::I64, c(n), true));
    k.loop_(c(n), |k, i| {
        let at = ix(&[(i, c(1))], c(0));
        let v = k.load(x, at.clone());
        let r = k.un(op, v);
        k.store(y, at.clone(), r);
        if let Some(ints) = ints {
            let t = k.cast(Scalar::I64, v);
            k.store(ints, at, t);
        }
    });
    k.finish(true)
}

/// Reductions over rows of transcendental functions, with the BCE loss of a VAE
/// (`Σ_j relu(l) - l·t + softplus(l)`), a sum of exponentials, a running maximum of `tanh`,
/// a count of positive `gelu`s (a boolean lane cast to i64) and a sum weighted by the loop
/// variable: the lanes compute the functions, the accumulation runs per lane in order.
pub fn transcendental_rows(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("transcendental_rows_{n}"));
    let logits = k.arg(Scalar::F32, b(n), false);
    let target = k.arg(Scalar::F32, b(n), false);
    let bias = k.arg(Scalar::F32, c(1), false);
    let out = k.arg(Scalar::F32, b(4), true);
    let cnt = k.arg(Scalar::I64, b(1), true);
    let y = k.arg(Scalar::F32, b(n), true);
    k.loop_(b(1), |k, i| {
        let zero = k.f32(0.0);
        let ninf = k.f32(f64::NEG_INFINITY);
        let izero = k.i64(0);
        let bce = k.local(zero);
        let sum = k.local(zero);
        let max = k.local(ninf);
        let count = k.local(izero);
        let weighted = k.local(zero);
        let shift = k.load(bias, ix(&[], c(0)));
        k.loop_(c(n), |k, j| {
            let at = ix(&[(i, c(n)), (j, c(1))], c(0));
            let l = k.load(logits, at.clone());
            let t = k.load(target, at.clone());
            let r = k.un(UnaryOp::Relu, l);
            let lt = k.bin(BinaryOp::Mul, l, t);
            let sp = k.un(UnaryOp::Softplus, l);
            let v = k.bin(BinaryOp::Sub, r, lt);
            let v = k.bin(BinaryOp::Add, v, sp);
            let acc = k.get(bce, Scalar::F32);
            let acc = k.bin(BinaryOp::Add, acc, v);
            k.assign(bce, acc);
            let ls = k.bin(BinaryOp::Sub, l, shift);
            let e = k.un(UnaryOp::Exp, ls);
            k.store(y, at, e);
            let acc = k.get(sum, Scalar::F32);
            let acc = k.bin(BinaryOp::Add, acc, e);
            k.assign(sum, acc);
            let th = k.un(UnaryOp::Tanh, t);
            let m = k.get(max, Scalar::F32);
            let m = k.bin(BinaryOp::Maximum, m, th);
            k.assign(max, m);
            let g = k.un(UnaryOp::Gelu, l);
            let z = k.f32(0.0);
            let pos = k.bin(BinaryOp::Gt, g, z);
            let one = k.cast(Scalar::I64, pos);
            let c0 = k.get(count, Scalar::I64);
            let c1 = k.bin(BinaryOp::Add, c0, one);
            k.assign(count, c1);
            let jv = k.var(j);
            let jf = k.cast(Scalar::F32, jv);
            let w = k.bin(BinaryOp::Mul, jf, g);
            let acc = k.get(weighted, Scalar::F32);
            let acc = k.bin(BinaryOp::Add, acc, w);
            k.assign(weighted, acc);
        });
        for (slot, local) in [bce, sum, max, weighted].into_iter().enumerate() {
            let v = k.get(local, Scalar::F32);
            k.store(out, ix(&[(i, c(4))], c(slot as i64)), v);
        }
        let total = k.get(count, Scalar::I64);
        k.store(cnt, ix(&[(i, c(1))], c(0)), total);
    });
    k.finish(true)
}

/// `y[i] = a[i] op b[i]`, and for comparisons `m[i] = a[i] op b[i]` and
/// `y[i] = select(m, a, b)`, with a stored bool too.
pub fn binary_kernel(op: BinaryOp, n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("{}_{n}", op.name()));
    let a = k.arg(Scalar::F32, b(n), false);
    let bb = k.arg(Scalar::F32, b(n), false);
    let y = k.arg(Scalar::F32, b(n), true);
    k.loop_(b(n), |k, i| {
        let at = ix(&[(i, c(1))], c(0));
        let x = k.load(a, at.clone());
        let z = k.load(bb, at.clone());
        let r = k.bin(op, x, z);
        let r = if op.is_comparison() {
            let t = k.bool(true);
            let r = k.bin(BinaryOp::And, r, t);
            let r = k.un(UnaryOp::Not, r);
            let f = k.bool(false);
            let r = k.bin(BinaryOp::Or, r, f);
            let r = k.bin(BinaryOp::Eq, r, t);
            let r = k.bin(BinaryOp::Ne, r, f);
            k.select(r, z, x)
        } else {
            r
        };
        k.store(y, at, r);
    });
    k.finish(true)
}

/// Row statistics with locals: `sum[i] = Σ_j x[i, j]`, `max[i] = max_j x[i, j]` (NaN
/// propagates), `mean[i] = sum / n`, and `cnt[i]` = the number of positive entries (i64).
pub fn row_reduction(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("rows_{n}"));
    let x = k.arg(Scalar::F32, b(n), false);
    let sum = k.arg(Scalar::F32, b(1), true);
    let max = k.arg(Scalar::F32, b(1), true);
    let mean = k.arg(Scalar::F32, b(1), true);
    let cnt = k.arg(Scalar::I64, b(1), true);
    k.loop_(b(1), |k, i| {
        let zero = k.f32(0.0);
        let ninf = k.f32(f64::NEG_INFINITY);
        let izero = k.i64(0);
        let s = k.local(zero);
        let m = k.local(ninf);
        let p = k.local(izero);
        k.loop_(c(n), |k, j| {
            let v = k.load(x, ix(&[(i, c(n)), (j, c(1))], c(0)));
            let acc = k.get(s, Scalar::F32);
            let acc = k.bin(BinaryOp::Add, acc, v);
            k.assign(s, acc);
            let mx = k.get(m, Scalar::F32);
            let mx = k.bin(BinaryOp::Maximum, mx, v);
            k.assign(m, mx);
            let z = k.f32(0.0);
            let pos = k.bin(BinaryOp::Gt, v, z);
            let one = k.cast(Scalar::I64, pos);
            let count = k.get(p, Scalar::I64);
            let count = k.bin(BinaryOp::Add, count, one);
            k.assign(p, count);
        });
        let row = ix(&[(i, c(1))], c(0));
        let total = k.get(s, Scalar::F32);
        k.store(sum, row.clone(), total);
        let mx = k.get(m, Scalar::F32);
        k.store(max, row.clone(), mx);
        let nf = k.f32(n as f64);
        let avg = k.bin(BinaryOp::Div, total, nf);
        k.store(mean, row.clone(), avg);
        let count = k.get(p, Scalar::I64);
        k.store(cnt, row, count);
    });
    k.finish(true)
}

/// `y[j] = 0`, then `y[j] += x[i, j]` over every row: an in-place update of the output at one
/// index, which vectorises.
pub fn column_reduction(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("columns_{n}"));
    let x = k.arg(Scalar::F32, b(n), false);
    let y = k.arg(Scalar::F32, c(n), true);
    k.loop_(c(n), |k, j| {
        let zero = k.f32(0.0);
        k.store(y, ix(&[(j, c(1))], c(0)), zero);
    });
    k.loop_(b(1), |k, i| {
        k.loop_(c(n), |k, j| {
            let at = ix(&[(j, c(1))], c(0));
            let acc = k.load(y, at.clone());
            let v = k.load(x, ix(&[(i, c(n)), (j, c(1))], c(0)));
            let acc = k.bin(BinaryOp::Add, acc, v);
            k.store(y, at, acc);
        });
    });
    k.finish(false)
}

/// Several outputs of several types from one input, with a transposed read (stride `B`).
pub fn multiple_outputs(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("outputs_{n}"));
    let x = k.arg(Scalar::F32, b(n), false);
    let e = k.arg(Scalar::F32, b(n), true);
    let pos = k.arg(Scalar::Bool, b(n), true);
    let t = k.arg(Scalar::I64, b(n), true);
    let tr = k.arg(Scalar::F32, b(n), true);
    k.loop_(b(1), |k, i| {
        k.loop_(c(n), |k, j| {
            let at = ix(&[(i, c(n)), (j, c(1))], c(0));
            let v = k.load(x, at.clone());
            let ev = k.un(UnaryOp::Exp, v);
            k.store(e, at.clone(), ev);
            let z = k.f32(0.0);
            let p = k.bin(BinaryOp::Ge, v, z);
            k.store(pos, at.clone(), p);
            let ti = k.cast(Scalar::I64, v);
            k.store(t, at, ti);
            // tr[j, i] = x[i, j]: the output viewed as [n, B].
            let w = k.un(UnaryOp::Sigmoid, v);
            k.store(tr, ix(&[(j, Affine::batch(1)), (i, c(1))], c(0)), w);
        });
    });
    k.finish(false)
}

/// i64 and bool arithmetic, comparisons, selects and every cast.
pub fn integer_kernel(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("integers_{n}"));
    let a = k.arg(Scalar::I64, b(n), false);
    let bb = k.arg(Scalar::I64, b(n), false);
    let m = k.arg(Scalar::Bool, b(n), false);
    let f = k.arg(Scalar::F32, b(n), false);
    let outs: Vec<u32> = (0..14).map(|_| k.arg(Scalar::I64, b(n), true)).collect();
    let bools: Vec<u32> = (0..8).map(|_| k.arg(Scalar::Bool, b(n), true)).collect();
    let floats: Vec<u32> = (0..2).map(|_| k.arg(Scalar::F32, b(n), true)).collect();
    k.loop_(b(n), |k, i| {
        let at = ix(&[(i, c(1))], c(0));
        let x = k.load(a, at.clone());
        let y = k.load(bb, at.clone());
        let mv = k.load(m, at.clone());
        let fv = k.load(f, at.clone());
        let zero = k.i64(0);
        let one = k.i64(1);
        let y_zero = k.bin(BinaryOp::Eq, y, zero);
        let divisor = k.select(y_zero, one, y);
        let big = k.i64(1 << 40);
        let xs = k.bin(BinaryOp::Mul, x, big);
        let results = [
            k.bin(BinaryOp::Add, x, y),
            k.bin(BinaryOp::Sub, x, y),
            k.bin(BinaryOp::Mul, xs, y),
            k.bin(BinaryOp::Div, x, divisor),
            k.bin(BinaryOp::Maximum, x, y),
            k.bin(BinaryOp::Minimum, x, y),
            k.un(UnaryOp::Neg, x),
            k.un(UnaryOp::Abs, x),
            k.un(UnaryOp::Sign, x),
            k.cast(Scalar::I64, fv),
            k.cast(Scalar::I64, mv),
            k.var(i),
            k.batch(),
            k.select(mv, x, y),
        ];
        for (out, r) in outs.iter().zip(results) {
            k.store(*out, at.clone(), r);
        }
        let bresults = [
            k.bin(BinaryOp::Lt, x, y),
            k.bin(BinaryOp::Le, x, y),
            k.bin(BinaryOp::Gt, x, y),
            k.bin(BinaryOp::Ne, x, y),
            k.cast(Scalar::Bool, x),
            k.cast(Scalar::Bool, fv),
            k.un(UnaryOp::Not, mv),
            k.bin(BinaryOp::Eq, mv, y_zero),
        ];
        for (out, r) in bools.iter().zip(bresults) {
            k.store(*out, at.clone(), r);
        }
        let fresults = [k.cast(Scalar::F32, xs), k.cast(Scalar::F32, mv)];
        for (out, r) in floats.iter().zip(fresults) {
            k.store(*out, at.clone(), r);
        }
    });
    k.finish(true)
}

/// Adam's bias corrections, the scalar work the graph keeps in f64: from the step `t` (i64),
/// `lr · sqrt(1 - b2^t) / (1 - b1^t)` and every other f64 op and cast, stored as f32 and f64.
pub fn f64_scalars() -> Kernel {
    let mut k = KernelBuilder::new("f64_scalars");
    let step = k.arg(Scalar::I64, Affine::ONE, false);
    let x = k.arg(Scalar::F64, Affine::constant(2), false);
    let out32 = k.arg(Scalar::F32, Affine::constant(2), true);
    let out64 = k.arg(Scalar::F64, Affine::constant(16), true);
    let t = k.load(step, ix(&[], Affine::ZERO));
    let t = k.cast(Scalar::F64, t);
    let one = k.let_(Scalar::F64, Expr::Const(Scalar::F64, 1.0));
    let b1 = k.let_(Scalar::F64, Expr::Const(Scalar::F64, 0.9));
    let b2 = k.let_(Scalar::F64, Expr::Const(Scalar::F64, 0.999));
    let p1 = k.bin(BinaryOp::Pow, b1, t);
    let p2 = k.bin(BinaryOp::Pow, b2, t);
    let c1 = k.bin(BinaryOp::Sub, one, p1);
    let c2 = k.bin(BinaryOp::Sub, one, p2);
    let r = k.un(UnaryOp::Sqrt, c2);
    let lr = k.load(x, ix(&[], Affine::ZERO));
    let a = k.bin(BinaryOp::Mul, lr, r);
    let a = k.bin(BinaryOp::Div, a, c1);
    let a32 = k.cast(Scalar::F32, a);
    k.store(out32, ix(&[], Affine::ZERO), a32);
    let y = k.load(x, ix(&[], Affine::ONE));
    let mut results = vec![a];
    for op in [UnaryOp::Exp, UnaryOp::Log, UnaryOp::Tanh, UnaryOp::Neg, UnaryOp::Abs, UnaryOp::Floor, UnaryOp::Round] {
        results.push(k.un(op, y));
    }
    for op in [BinaryOp::Maximum, BinaryOp::Minimum, BinaryOp::Sub] {
        results.push(k.bin(op, y, lr));
    }
    let lt = k.bin(BinaryOp::Lt, y, lr);
    results.push(k.select(lt, y, lr));
    let yi = k.cast(Scalar::I64, y);
    results.push(k.cast(Scalar::F64, yi));
    let y32 = k.cast(Scalar::F32, y);
    k.store(out32, ix(&[], Affine::ONE), y32);
    for (i, v) in results.into_iter().enumerate() {
        k.store(out64, ix(&[], Affine::constant(i as i64)), v);
    }
    k.finish(false)
}

/// Dropout-like draws: `y[i, j] = x[i, j] · bernoulli + normal · uniform`, counters from the
/// loop variables and an offset, seed and step from i64 arguments.
pub fn random_kernel(n: i64) -> Kernel {
    let mut k = KernelBuilder::new(&format!("random_{n}"));
    let key = k.arg(Scalar::I64, c(3), false);
    let x = k.arg(Scalar::F32, b(n), false);
    let y = k.arg(Scalar::F32, b(n), true);
    k.loop_(b(1), |k, i| {
        let seed = k.load(key, ix(&[], c(0)));
        let step = k.load(key, ix(&[], c(1)));
        let offset = k.load(key, ix(&[], c(2)));
        k.loop_(c(n), |k, j| {
            let iv = k.var(i);
            let jv = k.var(j);
            let nn = k.i64(n);
            let row = k.bin(BinaryOp::Mul, iv, nn);
            let e = k.bin(BinaryOp::Add, row, jv);
            let counter = k.bin(BinaryOp::Add, e, offset);
            let keep = k.random(RandomKind::Bernoulli { p: 0.7 }, 1, seed, step, counter);
            let z = k.random(RandomKind::Normal, 2, seed, step, counter);
            let u = k.random(RandomKind::Uniform { lo: -0.5, hi: 2.0 }, 3, seed, step, counter);
            let at = ix(&[(i, c(n)), (j, c(1))], c(0));
            let v = k.load(x, at.clone());
            let v = k.bin(BinaryOp::Mul, v, keep);
            let zu = k.bin(BinaryOp::Mul, z, u);
            let v = k.bin(BinaryOp::Add, v, zu);
            k.store(y, at, v);
        });
    });
    k.finish(true)
}

/// [`inline_kernel`] on the edge inputs from position `shift` on (every input in every lane
/// position, and remainders of every length), with its buffers.
pub fn inline_edge_case(op: UnaryOp, shift: usize, scalar: bool) -> (Kernel, Vec<super::Buffer>) {
    let xs: Vec<f32> = edge_inputs()[shift..].to_vec();
    let n = xs.len();
    let mut input = vec![super::Buffer::F32(xs), super::Buffer::F32(vec![0.0; n])];
    if scalar {
        input.push(super::Buffer::I64(vec![0; n]));
    }
    (inline_kernel(op, n as i64, scalar), input)
}

/// Integer division where the evaluator reports an error and generated code must not trap: by
/// zero it gives 0, and `MIN / -1` wraps. The kernel `out[i] = x[i] / y[i]`, its buffers, and
/// what generated code must leave in `out` (buffer 2).
pub fn integer_division_case() -> (Kernel, Vec<super::Buffer>, super::Buffer) {
    use super::Buffer;
    let mut k = KernelBuilder::new("div");
    let x = k.arg(Scalar::I64, c(4), false);
    let y = k.arg(Scalar::I64, c(4), false);
    let out = k.arg(Scalar::I64, c(4), true);
    k.loop_(c(4), |k, i| {
        let a = k.load(x, ix(&[(i, c(1))], c(0)));
        let d = k.load(y, ix(&[(i, c(1))], c(0)));
        let q = k.bin(BinaryOp::Div, a, d);
        k.store(out, ix(&[(i, c(1))], c(0)), q);
    });
    let buffers = vec![Buffer::I64(vec![7, i64::MIN, -9, 5]), Buffer::I64(vec![0, -1, 2, -1]), Buffer::I64(vec![0; 4])];
    (k.finish(false), buffers, Buffer::I64(vec![0, i64::MIN, -4, -5]))
}

/// A kernel that fails verification: `y[i] = x[i + 1]` reads one element past `x`.
pub fn out_of_bounds() -> Kernel {
    let mut k = KernelBuilder::new("out_of_bounds");
    let x = k.arg(Scalar::F32, b(2), false);
    let y = k.arg(Scalar::F32, b(2), true);
    k.loop_(b(2), |k, i| {
        let v = k.load(x, ix(&[(i, c(1))], c(1)));
        k.store(y, ix(&[(i, c(1))], c(0)), v);
    });
    k.finish(true)
}
