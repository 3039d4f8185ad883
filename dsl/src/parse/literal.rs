//! Validation of literal tokens: numbers and strings.
//!
//! The grammar accepts any digit-led run of letters and digits as one number token, so that
//! this module can say precisely what is wrong with `1e`, `0x10` or `99999999999999999999`.

use crate::codes;

#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Number {
    Int(i64),
    Float(f64),
}

/// Why a literal is invalid: code, message, label and help.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct LiteralError {
    pub code: &'static str,
    pub message: String,
    pub label: String,
    pub help: Option<String>,
    /// Byte range inside the token that the label should cover.
    pub range: (usize, usize),
}

/// Parses a number token (integer, or float with a fraction and/or exponent).
pub(crate) fn number(text: &str) -> Result<Number, LiteralError> {
    let whole = (0, text.len());
    if text.bytes().all(|b| b.is_ascii_digit()) {
        return match text.parse::<i64>() {
            Ok(v) => Ok(Number::Int(v)),
            Err(_) => Err(LiteralError {
                code: codes::E0005,
                message: "integer literal too large".to_string(),
                label: "does not fit in 64 bits".to_string(),
                help: Some(format!(
                    "integers must be at most {}; write a float (e.g. `1e20`) for larger values",
                    i64::MAX
                )),
                range: whole,
            }),
        };
    }
    if is_float_syntax(text) {
        return match text.parse::<f64>() {
            Ok(v) if v.is_finite() => Ok(Number::Float(v)),
            _ => Err(LiteralError {
                code: codes::E0007,
                message: "float literal out of range".to_string(),
                label: "larger than the largest 64-bit float".to_string(),
                help: None,
                range: whole,
            }),
        };
    }
    let bad = first_bad_char(text);
    Err(LiteralError {
        code: codes::E0006,
        message: format!("malformed number literal `{text}`"),
        label: if bad < text.len() {
            "unexpected character in number".to_string()
        } else {
            "incomplete number".to_string()
        },
        help: Some(
            "numbers are digits with an optional fraction and exponent, e.g. `3`, `0.5`, `1e-3`, `2.5E+4`".to_string(),
        ),
        range: if bad < text.len() { (bad, bad + text[bad..].chars().next().map_or(1, char::len_utf8)) } else { whole },
    })
}

/// `digits ("." digits)? ([eE] [+-]? digits)?` with at least a fraction or an exponent.
fn is_float_syntax(text: &str) -> bool {
    let b = text.as_bytes();
    let digits = |mut i: usize| {
        let start = i;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
        (i, i > start)
    };
    let (mut i, ok) = digits(0);
    if !ok {
        return false;
    }
    let mut float = false;
    if b.get(i) == Some(&b'.') {
        let (j, ok) = digits(i + 1);
        if !ok {
            return false;
        }
        i = j;
        float = true;
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        let (j, ok) = digits(i);
        if !ok {
            return false;
        }
        i = j;
        float = true;
    }
    float && i == b.len()
}

/// Offset of the first character that cannot continue a valid number prefix, or the length
/// if the text is a valid but incomplete prefix (like `1e` or `1.5e+`).
fn first_bad_char(text: &str) -> usize {
    let b = text.as_bytes();
    let mut i = 0;
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if b.get(i) == Some(&b'.') {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if matches!(b.get(i), Some(b'e' | b'E')) {
        i += 1;
        if matches!(b.get(i), Some(b'+' | b'-')) {
            i += 1;
        }
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    i
}

/// Decodes a string token (with its quotes). Escapes: `\"` `\\` `\n` `\t`.
pub(crate) fn string(token: &str) -> Result<String, LiteralError> {
    let inner = token.strip_prefix('"').and_then(|t| t.strip_suffix('"')).unwrap_or(token);
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.char_indices();
    while let Some((_, c)) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some((_, '"')) => out.push('"'),
            Some((_, '\\')) => out.push('\\'),
            Some((_, 'n')) => out.push('\n'),
            Some((_, 't')) => out.push('\t'),
            Some((j, other)) => {
                // `j` indexes `inner`, which starts one byte into the token: in token
                // offsets the backslash is at `j` and the escaped character after it.
                let start = j;
                return Err(LiteralError {
                    code: codes::E0004,
                    message: format!("invalid escape `\\{}` in string", other.escape_debug()),
                    label: "unknown escape".to_string(),
                    help: Some("the escapes are `\\\"`, `\\\\`, `\\n` and `\\t`".to_string()),
                    range: (start, start + 1 + other.len_utf8()),
                });
            }
            None => out.push('\\'),
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn integers_and_floats() {
        assert_eq!(number("42"), Ok(Number::Int(42)));
        assert_eq!(number("9223372036854775807"), Ok(Number::Int(i64::MAX)));
        assert_eq!(number("0.5"), Ok(Number::Float(0.5)));
        assert_eq!(number("1e-3"), Ok(Number::Float(1e-3)));
        assert_eq!(number("2.5E+4"), Ok(Number::Float(2.5e4)));
    }

    #[test]
    fn bad_numbers_get_specific_codes() {
        assert_eq!(number("9223372036854775808").unwrap_err().code, codes::E0005);
        assert_eq!(number("1e999").unwrap_err().code, codes::E0007);
        let e = number("1e").unwrap_err();
        assert_eq!((e.code, e.range), (codes::E0006, (0, 2)));
        let e = number("0x10").unwrap_err();
        assert_eq!((e.code, e.range), (codes::E0006, (1, 2)));
        assert_eq!(number("1.5.2").unwrap_err().range, (3, 4));
    }

    #[test]
    fn string_escapes() {
        assert_eq!(string(r#""a\"b\\c\nd""#).unwrap(), "a\"b\\c\nd");
        let e = string(r#""ab\q""#).unwrap_err();
        assert_eq!((e.code, e.range), (codes::E0004, (3, 5)));
    }
}
