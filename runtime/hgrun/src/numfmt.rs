//! How numbers and shapes read in `hgrun`'s text output.
//!
//! Floats get six significant digits, with trailing zeros dropped, in plain notation between
//! 1e-4 and 1e6 and in scientific notation outside it, so a table column stays narrow whatever
//! the magnitude. Machine-readable (`--json`) output never goes through here: it carries the
//! exact values.

/// A float with six significant digits: `0.00125`, `3.5`, `-1.23457e-7`, `nan`, `-inf`.
pub fn fmt_float(x: f64) -> String {
    if x.is_nan() {
        return "nan".into();
    }
    if x.is_infinite() {
        return if x > 0.0 { "inf".into() } else { "-inf".into() };
    }
    if x == 0.0 {
        return "0".into();
    }
    let magnitude = x.abs();
    if (1e-4..1e6).contains(&magnitude) {
        let decimals = (5 - magnitude.log10().floor() as i32).max(0) as usize;
        let text = format!("{x:.decimals$}");
        if text.contains('.') { text.trim_end_matches('0').trim_end_matches('.').to_string() } else { text }
    } else {
        let text = format!("{x:.5e}");
        let (mantissa, exponent) = text.split_once('e').unwrap_or((&text, "0"));
        let mantissa =
            if mantissa.contains('.') { mantissa.trim_end_matches('0').trim_end_matches('.') } else { mantissa };
        format!("{mantissa}e{exponent}")
    }
}

/// A shape as numpy prints a list: `[60000, 28, 28]`, `[]` for a scalar.
pub fn fmt_shape(shape: &[usize]) -> String {
    format!("{shape:?}")
}

/// A count with its noun, singular for one: `1 tensor`, `3 tensors`.
pub fn plural(n: usize, noun: &str) -> String {
    if n == 1 { format!("1 {noun}") } else { format!("{n} {noun}s") }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn floats_keep_six_significant_digits() {
        let cases = [
            (0.0, "0"),
            (-0.0, "0"),
            (3.5, "3.5"),
            (-1.0, "-1"),
            (0.1 + 0.2, "0.3"),
            (0.00125, "0.00125"),
            (123456.7, "123457"),
            (2.0 / 3.0, "0.666667"),
            (1e-4, "0.0001"),
            (1.234567e-7, "1.23457e-7"),
            (1e6, "1e6"),
            (-2.5e12, "-2.5e12"),
            (f64::NAN, "nan"),
            (f64::INFINITY, "inf"),
            (f64::NEG_INFINITY, "-inf"),
            (f64::from(f32::MAX), "3.40282e38"),
        ];
        for (x, want) in cases {
            assert_eq!(fmt_float(x), want, "{x:e}");
        }
    }

    #[test]
    fn shapes_and_counts() {
        assert_eq!(fmt_shape(&[60000, 28, 28]), "[60000, 28, 28]");
        assert_eq!(fmt_shape(&[]), "[]");
        assert_eq!(plural(1, "tensor"), "1 tensor");
        assert_eq!(plural(0, "array"), "0 arrays");
    }
}
