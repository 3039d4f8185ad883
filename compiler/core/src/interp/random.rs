//! Randomness: the `random_normal`, `random_uniform` and `bernoulli` ops, and parameter
//! initialisation. Everything draws from the shared Philox stream (`hg_runtime::philox`):
//! element `i` of a result, in row-major order, is element `i` of the draw site
//! `{seed, step, site}`, so every backend produces the same numbers.
//!
//! Parameter `k` (in declaration order) draws from site [`PARAM_INIT_SITE_BASE`]` + k` with
//! step 0, apart from the sites the compiler gives random ops (numbered from 0) and those the
//! runtime reserves (from `philox::RUNTIME_SITES`).

use super::buf::{Buf, KernelResult, fmt_shape};
use super::error::InterpError;
use hg_abi::names;
use hg_ir::{Init, ParamDecl};
use hg_runtime::philox::{DrawSite, RUNTIME_SITES};
use hg_runtime::{NamedTensors, Tensor};

/// Site of the first parameter's initial draw.
pub const PARAM_INIT_SITE_BASE: u32 = 0x1000_0000;

pub fn random_normal(shape: &[usize], site: DrawSite) -> KernelResult {
    let mut out = Buf::filled(shape, 0.0)?;
    site.fill_normal(&mut out.data);
    Ok(out)
}

pub fn random_uniform(shape: &[usize], site: DrawSite, lo: f64, hi: f64) -> KernelResult {
    if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
        return Err(format!("bounds [{lo}, {hi}) must be finite with lo <= hi"));
    }
    let mut out = Buf::filled(shape, 0.0)?;
    site.fill_uniform(&mut out.data);
    out.data.iter_mut().for_each(|u| *u = lo + (hi - lo) * *u);
    Ok(out)
}

pub fn bernoulli(shape: &[usize], site: DrawSite, p: f64) -> KernelResult {
    if !(0.0..=1.0).contains(&p) {
        return Err(format!("probability {p} is not in [0, 1]"));
    }
    let mut out = Buf::filled(shape, 0.0)?;
    site.fill_bernoulli(&mut out.data, p);
    Ok(out)
}

/// PyTorch's fan-in and fan-out (see `hg_ir::Init`): `[in, out]` for rank 2, `[out, in, k...]`
/// for higher ranks.
fn fans(shape: &[usize]) -> Result<(usize, usize), String> {
    let (fan_in, fan_out) = match shape {
        [i, o] => (*i, *o),
        [o, i, k @ ..] if !k.is_empty() => {
            let receptive: usize = k.iter().product();
            (i * receptive, o * receptive)
        }
        _ => {
            return Err(format!(
                "fan-in and fan-out are defined for rank 2 or more, the shape is {}",
                fmt_shape(shape)
            ));
        }
    };
    if fan_in == 0 || fan_out == 0 {
        return Err(format!("fan-in and fan-out of shape {} must not be 0", fmt_shape(shape)));
    }
    Ok((fan_in, fan_out))
}

/// The initial values of one parameter of concrete `shape`.
fn draw_init(init: &Init, shape: &[usize], site: DrawSite) -> Result<Vec<f64>, String> {
    let n = super::buf::num_elements(shape)?;
    let mut v = vec![0.0; n];
    match *init {
        Init::Zeros => {}
        Init::Ones => v.fill(1.0),
        Init::Normal { std } => {
            if !(std.is_finite() && std >= 0.0) {
                return Err(format!("normal std {std} must be finite and non-negative"));
            }
            site.fill_normal(&mut v);
            v.iter_mut().for_each(|z| *z *= std);
        }
        Init::Uniform { lo, hi } => {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("uniform bounds [{lo}, {hi}) must be finite with lo <= hi"));
            }
            site.fill_uniform(&mut v);
            v.iter_mut().for_each(|u| *u = lo + (hi - lo) * *u);
        }
        Init::GlorotUniform => {
            let (fan_in, fan_out) = fans(shape)?;
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            site.fill_uniform(&mut v);
            v.iter_mut().for_each(|u| *u = -a + 2.0 * a * *u);
        }
        Init::HeNormal => {
            let (fan_in, _) = fans(shape)?;
            let std = (2.0 / fan_in as f64).sqrt();
            site.fill_normal(&mut v);
            v.iter_mut().for_each(|z| *z *= std);
        }
    }
    Ok(v)
}

/// Initial values of every parameter, keyed `param:<name>`, each of its declared dtype.
/// Parameter `k` draws from `DrawSite { seed, step: 0, site: PARAM_INIT_SITE_BASE + k }`.
pub fn init_params(params: &[ParamDecl], seed: u64) -> Result<NamedTensors, InterpError> {
    let mut out = NamedTensors::new();
    for (k, p) in params.iter().enumerate() {
        let err = |message: String| InterpError::Param { name: p.name.clone(), message };
        let site = u32::try_from(k)
            .ok()
            .and_then(|k| PARAM_INIT_SITE_BASE.checked_add(k))
            .filter(|&s| s < RUNTIME_SITES)
            .ok_or_else(|| err("too many parameters to number their random draws".into()))?;
        let shape: Vec<usize> =
            p.ty.shape
                .iter()
                .map(|d| d.as_const().and_then(|n| usize::try_from(n).ok()))
                .collect::<Option<_>>()
                .ok_or_else(|| err(format!("type {} must have fixed, non-negative dimensions", p.ty)))?;
        let random = !matches!(p.init, Init::Zeros | Init::Ones);
        if random && !p.ty.dtype.is_float() {
            return Err(err(format!("`{}` needs a float dtype, the type is {}", p.init, p.ty)));
        }
        let values = draw_init(&p.init, &shape, DrawSite { seed, step: 0, site })
            .map_err(|m| err(format!("`{}`: {m}", p.init)))?;
        let tensor = Tensor::from_f64_values(p.ty.dtype, shape, &values).map_err(|e| err(e.to_string()))?;
        if out.insert(names::param(&p.name), tensor).is_some() {
            return Err(err("declared twice".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_ir::{DType, Dim, NodeSpan, TensorType};

    fn decl(name: &str, shape: &[i64], init: Init) -> ParamDecl {
        ParamDecl {
            name: name.into(),
            ty: TensorType::new(DType::F32, shape.iter().map(|&d| Dim::constant(d)).collect()),
            init,
            span: NodeSpan::default(),
        }
    }

    fn site(k: u32) -> DrawSite {
        DrawSite { seed: 7, step: 0, site: PARAM_INIT_SITE_BASE + k }
    }

    #[test]
    fn random_ops_follow_the_stream() {
        let s = DrawSite { seed: 3, step: 5, site: 2 };
        let n = random_normal(&[2, 3], s).unwrap();
        assert_eq!(n.shape, vec![2, 3]);
        for (i, &v) in n.data.iter().enumerate() {
            assert_eq!(v, s.normal(i as u64));
        }
        let u = random_uniform(&[4], s, -2.0, 2.0).unwrap();
        for (i, &v) in u.data.iter().enumerate() {
            assert_eq!(v, -2.0 + 4.0 * s.uniform01(i as u64));
            assert!((-2.0..2.0).contains(&v));
        }
        let b = bernoulli(&[100], s, 0.3).unwrap();
        for (i, &v) in b.data.iter().enumerate() {
            assert_eq!(v, if s.uniform01(i as u64) < 0.3 { 1.0 } else { 0.0 });
        }
        assert!(bernoulli(&[1], s, 1.5).is_err());
        assert!(random_uniform(&[1], s, 1.0, 0.0).is_err());
    }

    #[test]
    fn params_draw_from_their_own_sites() {
        let params = vec![
            decl("enc.w", &[3, 4], Init::GlorotUniform),
            decl("enc.b", &[4], Init::Zeros),
            decl("conv.w", &[2, 3, 5, 5], Init::HeNormal),
            decl("n", &[10], Init::Normal { std: 0.5 }),
            decl("u", &[10], Init::Uniform { lo: 1.0, hi: 3.0 }),
            decl("one", &[2], Init::Ones),
        ];
        let t = init_params(&params, 7).unwrap();
        assert_eq!(t.len(), 6);
        let w = t["param:enc.w"].to_f64_vec();
        let a = (6.0f64 / 7.0).sqrt();
        for (i, &v) in w.iter().enumerate() {
            assert_eq!(v, (-a + 2.0 * a * site(0).uniform01(i as u64)) as f32 as f64);
        }
        assert_eq!(t["param:enc.b"].to_f64_vec(), vec![0.0; 4]);
        assert_eq!(t["param:enc.b"].dtype(), DType::F32);
        let cw = t["param:conv.w"].to_f64_vec();
        let std = (2.0f64 / 75.0).sqrt();
        assert_eq!(cw[17], (std * site(2).normal(17)) as f32 as f64);
        assert_eq!(t["param:n"].to_f64_vec()[3], (0.5 * site(3).normal(3)) as f32 as f64);
        assert_eq!(t["param:u"].to_f64_vec()[9], (1.0 + 2.0 * site(4).uniform01(9)) as f32 as f64);
        assert_eq!(t["param:one"].to_f64_vec(), vec![1.0, 1.0]);
        // A different seed gives different numbers; the same seed the same.
        assert_ne!(init_params(&params, 8).unwrap()["param:enc.w"], t["param:enc.w"]);
        assert_eq!(init_params(&params, 7).unwrap(), t);
    }

    #[test]
    fn bad_params_are_errors() {
        let e = init_params(&[decl("b", &[4], Init::GlorotUniform)], 0).unwrap_err();
        assert!(e.to_string().contains("parameter `b`") && e.to_string().contains("rank 2"), "{e}");
        let mut sym = decl("s", &[4], Init::Zeros);
        sym.ty.shape[0] = Dim::batch();
        assert!(init_params(&[sym], 0).unwrap_err().to_string().contains("fixed"));
        let mut int = decl("i", &[4], Init::Normal { std: 1.0 });
        int.ty.dtype = DType::I64;
        assert!(init_params(&[int], 0).is_err());
        let twice = [decl("a", &[1], Init::Zeros), decl("a", &[1], Init::Ones)];
        assert!(init_params(&twice, 0).unwrap_err().to_string().contains("twice"));
        assert!(init_params(&[decl("z", &[0, 3], Init::HeNormal)], 0).is_err());
        assert!(init_params(&[decl("n", &[2], Init::Normal { std: -1.0 })], 0).is_err());
    }
}
