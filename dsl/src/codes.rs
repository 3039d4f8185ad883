//! The stable diagnostic codes of the front end, with a one-line title each.
//!
//! Ranges: `E00xx` syntax and lexical errors, `E01xx` names, imports and arguments, `E02xx`
//! model structure, hyperparameters and the `train` block. `E03xx` (types and shapes) and
//! `E04xx` (autodiff and training) belong to later stages. **Invariant**: a code is never
//! reused for a different error; every code here is documented in docs/errors.md (a test
//! checks this).

macro_rules! codes {
    ($($name:ident = $title:literal;)*) => {
        $(pub const $name: &str = stringify!($name);)*
        /// Every code with its title, in numeric order.
        pub const ALL: &[(&str, &str)] = &[$((stringify!($name), $title)),*];
    };
}

codes! {
    E0001 = "syntax error";
    E0002 = "unexpected character";
    E0003 = "unterminated string literal";
    E0004 = "invalid escape in a string literal";
    E0005 = "integer literal too large";
    E0006 = "malformed number literal";
    E0007 = "float literal out of range";
    E0008 = "nested too deeply";
    E0009 = "file is not valid UTF-8";
    E0010 = "misplaced `...` in a shape";
    E0011 = "incomplete `use`";
    E0012 = "non-integer dimension";

    E0101 = "unknown name";
    E0102 = "unknown function";
    E0103 = "unknown module";
    E0104 = "file cannot be imported";
    E0105 = "name not found in module";
    E0106 = "name bound twice";
    E0107 = "item defined twice";
    E0108 = "parameter declared twice";
    E0109 = "unknown keyword argument";
    E0110 = "argument given twice";
    E0111 = "positional argument after keyword argument";
    E0112 = "too many arguments";
    E0113 = "missing argument";
    E0114 = "unknown element type";
    E0115 = "unknown type";
    E0116 = "recursive function";
    E0117 = "not a function or value";
    E0118 = "assignment to a constant";

    E0201 = "hyperparameter declared twice";
    E0202 = "section out of order";
    E0203 = "section or member given twice";
    E0204 = "missing section or member";
    E0205 = "misplaced `latent`";
    E0206 = "misplaced `prior`";
    E0207 = "`prior` for an unknown latent";
    E0208 = "misplaced `output`";
    E0209 = "misplaced `return`";
    E0210 = "function without `return`";
    E0211 = "decoder reads an encoder value";
    E0212 = "invalid skip list";
    E0213 = "unknown train setting";
    E0214 = "unknown optimizer";
    E0215 = "unknown schedule";
    E0216 = "invalid train setting value";
    E0217 = "both `epochs` and `steps`";
    E0218 = "unknown model";
    E0219 = "no model chosen";
    E0220 = "unknown hyperparameter";
    E0221 = "invalid hyperparameter value";
    E0222 = "hyperparameter without a value";
    E0223 = "model options without a model";
    E0224 = "`...` outside a `fn` signature";
    E0225 = "expected a tensor type";
    E0226 = "statement after `return`";
    E0227 = "tensor type for a hyperparameter";
    E0228 = "`update` of something other than a buffer";
    E0229 = "two-player training without both players";
}

/// The title of a code, if it exists.
pub fn title(code: &str) -> Option<&'static str> {
    ALL.iter().find(|(c, _)| *c == code).map(|(_, t)| *t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn codes_are_sorted_unique_and_well_formed() {
        for pair in ALL.windows(2) {
            assert!(pair[0].0 < pair[1].0, "{} before {}", pair[0].0, pair[1].0);
        }
        for (code, title) in ALL {
            assert_eq!(code.len(), 5);
            assert!(code.starts_with("E0"));
            assert!(!title.is_empty() && !title.ends_with('.'));
        }
        assert_eq!(title(E0101), Some("unknown name"));
    }
}
