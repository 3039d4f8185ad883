//! Parameter initialisation from a manifest's [`ParamSpec`]s, keyed by the run's seed, so a
//! compiled model initialises itself without the compiler and every backend starts from the
//! same numbers.
//!
//! Parameter `k` (in manifest order) draws from site [`PARAM_INIT_SITE_BASE`]` + k` with step
//! 0, apart from the sites the compiler gives random ops (numbered from 0) and those the runtime
//! reserves (from `philox::RUNTIME_SITES`). Values are computed in f64 and rounded once to the
//! parameter's dtype.

use crate::philox::{DrawSite, RUNTIME_SITES};
use crate::session::NamedTensors;
use crate::tensor::Tensor;
use hg_abi::{Init, ParamSpec, names};

/// Site of the first parameter's initial draw.
pub const PARAM_INIT_SITE_BASE: u32 = 0x1000_0000;

/// A parameter that cannot be initialised, named.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("parameter `{name}`: {message}")]
pub struct InitError {
    pub name: String,
    pub message: String,
}

fn num_elements(shape: &[usize]) -> Result<usize, String> {
    shape
        .iter()
        .try_fold(1usize, |n, &d| n.checked_mul(d))
        .ok_or_else(|| format!("shape {shape:?} has too many elements"))
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
            return Err(format!("fan-in and fan-out are defined for rank 2 or more, the shape is {shape:?}"));
        }
    };
    if fan_in == 0 || fan_out == 0 {
        return Err(format!("fan-in and fan-out of shape {shape:?} must not be 0"));
    }
    Ok((fan_in, fan_out))
}

/// The initial values of one parameter of concrete `shape`.
fn draw_init(init: &Init, shape: &[usize], site: DrawSite) -> Result<Vec<f64>, String> {
    let n = num_elements(shape)?;
    let mut v = vec![0.0; n];
    match *init {
        Init::Zeros => {}
        Init::Ones => v.fill(1.0),
        Init::Normal { std } => {
            if !(std.is_finite() && std >= 0.0) {
                return Err(format!("normal std {std} must be finite and non-negative"));
            }
            site.fill_normal(0, &mut v);
            v.iter_mut().for_each(|z| *z *= std);
        }
        Init::Uniform { lo, hi } => {
            if !(lo.is_finite() && hi.is_finite() && lo <= hi) {
                return Err(format!("uniform bounds [{lo}, {hi}) must be finite with lo <= hi"));
            }
            site.fill_uniform(0, &mut v);
            v.iter_mut().for_each(|u| *u = lo + (hi - lo) * *u);
        }
        Init::GlorotUniform => {
            let (fan_in, fan_out) = fans(shape)?;
            let a = (6.0 / (fan_in + fan_out) as f64).sqrt();
            site.fill_uniform(0, &mut v);
            v.iter_mut().for_each(|u| *u = -a + 2.0 * a * *u);
        }
        Init::HeNormal => {
            let (fan_in, _) = fans(shape)?;
            let std = (2.0 / fan_in as f64).sqrt();
            site.fill_normal(0, &mut v);
            v.iter_mut().for_each(|z| *z *= std);
        }
    }
    Ok(v)
}

/// Initial values of every parameter, keyed `param:<name>`, each of its declared dtype.
/// Parameter `k` draws from `DrawSite { seed, step: 0, site: PARAM_INIT_SITE_BASE + k }`.
pub fn init_params(params: &[ParamSpec], seed: u64) -> Result<NamedTensors, InitError> {
    let mut out = NamedTensors::new();
    for (k, p) in params.iter().enumerate() {
        let err = |message: String| InitError { name: p.name.clone(), message };
        let site = u32::try_from(k)
            .ok()
            .and_then(|k| PARAM_INIT_SITE_BASE.checked_add(k))
            .filter(|&s| s < RUNTIME_SITES)
            .ok_or_else(|| err("too many parameters to number their random draws".into()))?;
        let shape = p.shape.clone();
        let random = !matches!(p.init, Init::Zeros | Init::Ones);
        if random && !p.dtype.is_float() {
            return Err(err(format!("`{}` needs a float dtype, the type is {}{shape:?}", p.init, p.dtype)));
        }
        let values = draw_init(&p.init, &shape, DrawSite { seed, step: 0, site })
            .map_err(|m| err(format!("`{}`: {m}", p.init)))?;
        let tensor = Tensor::from_f64_values(p.dtype, shape, &values).map_err(|e| err(e.to_string()))?;
        if out.insert(names::param(&p.name), tensor).is_some() {
            return Err(err("declared twice".into()));
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use hg_abi::DType;

    fn decl(name: &str, shape: &[usize], init: Init) -> ParamSpec {
        ParamSpec { name: name.into(), dtype: DType::F32, shape: shape.to_vec(), init, trainable: true }
    }

    fn site(k: u32) -> DrawSite {
        DrawSite { seed: 7, step: 0, site: PARAM_INIT_SITE_BASE + k }
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
        let mut int = decl("i", &[4], Init::Normal { std: 1.0 });
        int.dtype = DType::I64;
        assert!(init_params(&[int], 0).is_err());
        let twice = [decl("a", &[1], Init::Zeros), decl("a", &[1], Init::Ones)];
        assert!(init_params(&twice, 0).unwrap_err().to_string().contains("twice"));
        assert!(init_params(&[decl("z", &[0, 3], Init::HeNormal)], 0).is_err());
        assert!(init_params(&[decl("n", &[2], Init::Normal { std: -1.0 })], 0).is_err());
    }
}
