//! The header of an `.npy` file: a Python dict literal such as
//! `{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }`.
//!
//! The parser accepts the subset of Python literal syntax numpy writes (strings, integers with
//! an optional `L` suffix, `True`/`False`/`None`, tuples, lists and dicts) and nothing else; it
//! limits nesting depth so hostile headers cannot exhaust the stack. Errors are plain strings
//! that the caller prefixes with the file name.

/// The fields of an npy header the runtime uses.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Header {
    pub descr: Descr,
    pub fortran_order: bool,
    pub shape: Vec<usize>,
}

/// The element type an `.npy` file stores, as named by its `descr` string. It can be narrower
/// than the tensor the file is read into (a `u8` file becomes an i32 tensor), so messages about
/// a file name this type, the one the file has.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FileDType {
    F16,
    F32,
    F64,
    I8,
    I16,
    I32,
    I64,
    U8,
    U16,
    U32,
    U64,
    Bool,
}

impl FileDType {
    /// The name in the runtime's spelling, by bits: numpy's `uint8` (`|u1`) is `u8`.
    pub fn name(self) -> &'static str {
        match self {
            FileDType::F16 => "f16",
            FileDType::F32 => "f32",
            FileDType::F64 => "f64",
            FileDType::I8 => "i8",
            FileDType::I16 => "i16",
            FileDType::I32 => "i32",
            FileDType::I64 => "i64",
            FileDType::U8 => "u8",
            FileDType::U16 => "u16",
            FileDType::U32 => "u32",
            FileDType::U64 => "u64",
            FileDType::Bool => "bool",
        }
    }

    /// Whether the type holds integers (signed or not).
    pub fn is_int(self) -> bool {
        !matches!(self, FileDType::F16 | FileDType::F32 | FileDType::F64 | FileDType::Bool)
    }

    pub(crate) fn size(self) -> usize {
        match self {
            FileDType::I8 | FileDType::U8 | FileDType::Bool => 1,
            FileDType::F16 | FileDType::I16 | FileDType::U16 => 2,
            FileDType::F32 | FileDType::I32 | FileDType::U32 => 4,
            FileDType::F64 | FileDType::I64 | FileDType::U64 => 8,
        }
    }
}

impl std::fmt::Display for FileDType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Descr {
    pub kind: FileDType,
    pub big_endian: bool,
}

/// Deepest nesting of brackets accepted; numpy headers nest two levels.
const MAX_DEPTH: usize = 16;

#[derive(Clone, Debug, PartialEq)]
enum Value {
    Str(String),
    Int(i64),
    Bool(bool),
    None,
    Seq(Vec<Value>),
    Dict(Vec<(Value, Value)>),
}

impl Value {
    fn kind_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "a string",
            Value::Int(_) => "an integer",
            Value::Bool(_) => "a boolean",
            Value::None => "None",
            Value::Seq(_) => "a tuple",
            Value::Dict(_) => "a dict",
        }
    }
}

/// Parses the header text into its three fields.
pub(crate) fn parse_header(text: &str) -> Result<Header, String> {
    let mut p = Parser { s: text.as_bytes(), pos: 0 };
    let value = p.value(0)?;
    p.skip_ws();
    if p.pos != p.s.len() {
        return Err(format!("header has unexpected text after the dict at byte {}", p.pos));
    }
    let Value::Dict(entries) = value else {
        return Err(format!("header is {} instead of a dict", value.kind_name()));
    };
    let get = |key: &str| entries.iter().find(|(k, _)| matches!(k, Value::Str(s) if s == key)).map(|(_, v)| v);
    let descr = match get("descr") {
        Some(Value::Str(s)) => parse_descr(s)?,
        Some(Value::Seq(_)) => return Err("structured (record) dtypes are not supported".into()),
        Some(v) => return Err(format!("header key 'descr' is {} instead of a string", v.kind_name())),
        None => return Err("header has no 'descr' key".into()),
    };
    let fortran_order = match get("fortran_order") {
        Some(Value::Bool(b)) => *b,
        Some(v) => return Err(format!("header key 'fortran_order' is {} instead of a boolean", v.kind_name())),
        None => return Err("header has no 'fortran_order' key".into()),
    };
    let shape = match get("shape") {
        Some(Value::Seq(dims)) => dims
            .iter()
            .map(|d| match d {
                Value::Int(n) => usize::try_from(*n).map_err(|_| format!("shape has a negative dimension {n}")),
                other => Err(format!("shape has {} where a dimension belongs", other.kind_name())),
            })
            .collect::<Result<Vec<_>, _>>()?,
        Some(v) => return Err(format!("header key 'shape' is {} instead of a tuple", v.kind_name())),
        None => return Err("header has no 'shape' key".into()),
    };
    Ok(Header { descr, fortran_order, shape })
}

/// Parses a numpy type string such as `<f4`, `>i8` or `|b1`.
pub(crate) fn parse_descr(s: &str) -> Result<Descr, String> {
    let (order, rest) = match s.chars().next() {
        Some(c @ ('<' | '>' | '|' | '=')) => (c, &s[1..]),
        _ => ('|', s),
    };
    let kind = match rest {
        "f2" => FileDType::F16,
        "f4" => FileDType::F32,
        "f8" => FileDType::F64,
        "i1" => FileDType::I8,
        "i2" => FileDType::I16,
        "i4" => FileDType::I32,
        "i8" => FileDType::I64,
        "u1" => FileDType::U8,
        "u2" => FileDType::U16,
        "u4" => FileDType::U32,
        "u8" => FileDType::U64,
        "b1" | "?" => FileDType::Bool,
        _ if rest.starts_with('O') => {
            return Err("object arrays (dtype 'O') are not supported; save numeric arrays".into());
        }
        _ => return Err(format!("unsupported dtype '{s}' (supported: f2 f4 f8 i1 i2 i4 i8 u1 u2 u4 u8 b1)")),
    };
    let big_endian = match order {
        '>' => true,
        // numpy never writes '=' (native); a hand-made header with it comes from a little-endian
        // host in practice, which is every host this runtime targets.
        '<' | '=' => false,
        _ if kind.size() == 1 => false,
        _ => return Err(format!("dtype '{s}' has no byte order ('<' or '>')")),
    };
    Ok(Descr { kind, big_endian })
}

/// Formats the header dict numpy itself writes (without padding).
pub(crate) fn format_header(descr: &str, shape: &[usize]) -> String {
    let dims = match shape {
        [n] => format!("({n},)"),
        _ => format!("({})", shape.iter().map(|d| d.to_string()).collect::<Vec<_>>().join(", ")),
    };
    format!("{{'descr': '{descr}', 'fortran_order': False, 'shape': {dims}, }}")
}

struct Parser<'a> {
    s: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(|b| b.is_ascii_whitespace()) {
            self.pos += 1;
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_ws();
        self.s.get(self.pos).copied()
    }

    fn value(&mut self, depth: usize) -> Result<Value, String> {
        if depth > MAX_DEPTH {
            return Err(format!("header nests deeper than {MAX_DEPTH} levels"));
        }
        match self.peek() {
            None => Err("header ends in the middle of a value".into()),
            Some(q @ (b'\'' | b'"')) => self.string(q),
            Some(b'(') => self.seq(b')', depth),
            Some(b'[') => self.seq(b']', depth),
            Some(b'{') => self.dict(depth),
            Some(c) if c.is_ascii_digit() || c == b'-' || c == b'+' => self.int(),
            Some(c) if c.is_ascii_alphabetic() => {
                let start = self.pos;
                while self.s.get(self.pos).is_some_and(|b| b.is_ascii_alphanumeric() || *b == b'_') {
                    self.pos += 1;
                }
                match &self.s[start..self.pos] {
                    b"True" => Ok(Value::Bool(true)),
                    b"False" => Ok(Value::Bool(false)),
                    b"None" => Ok(Value::None),
                    word => Err(format!("header has unknown word '{}'", String::from_utf8_lossy(word))),
                }
            }
            Some(c) => Err(format!("header has unexpected character '{}' at byte {}", char::from(c), self.pos)),
        }
    }

    fn string(&mut self, quote: u8) -> Result<Value, String> {
        let start = self.pos + 1;
        let len = self.s[start..].iter().position(|&b| b == quote).ok_or("header has an unterminated string")?;
        let text = std::str::from_utf8(&self.s[start..start + len]).map_err(|_| "header string is not utf-8")?;
        if text.contains('\\') {
            return Err("header string contains an escape sequence".into());
        }
        self.pos = start + len + 1;
        Ok(Value::Str(text.to_string()))
    }

    fn int(&mut self) -> Result<Value, String> {
        let start = self.pos;
        let negative = match self.s[self.pos] {
            b'-' => {
                self.pos += 1;
                true
            }
            b'+' => {
                self.pos += 1;
                false
            }
            _ => false,
        };
        let digits_start = self.pos;
        let mut n: i64 = 0;
        while let Some(d) = self.s.get(self.pos).filter(|b| b.is_ascii_digit()) {
            n = n
                .checked_mul(10)
                .and_then(|n| n.checked_add(i64::from(d - b'0')))
                .ok_or_else(|| format!("header integer at byte {start} is too large"))?;
            self.pos += 1;
        }
        if self.pos == digits_start {
            return Err(format!("header has a sign without digits at byte {start}"));
        }
        // Python 2 wrote long integers with an `L` suffix.
        if self.s.get(self.pos) == Some(&b'L') {
            self.pos += 1;
        }
        Ok(Value::Int(if negative { -n } else { n }))
    }

    fn seq(&mut self, close: u8, depth: usize) -> Result<Value, String> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            if self.peek() == Some(close) {
                self.pos += 1;
                return Ok(Value::Seq(items));
            }
            items.push(self.value(depth + 1)?);
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(c) if c == close => {}
                _ => return Err(format!("header has a malformed tuple or list near byte {}", self.pos)),
            }
        }
    }

    fn dict(&mut self, depth: usize) -> Result<Value, String> {
        self.pos += 1;
        let mut entries = Vec::new();
        loop {
            if self.peek() == Some(b'}') {
                self.pos += 1;
                return Ok(Value::Dict(entries));
            }
            let key = self.value(depth + 1)?;
            if self.peek() != Some(b':') {
                return Err(format!("header dict is missing a ':' near byte {}", self.pos));
            }
            self.pos += 1;
            let value = self.value(depth + 1)?;
            entries.push((key, value));
            match self.peek() {
                Some(b',') => self.pos += 1,
                Some(b'}') => {}
                _ => return Err(format!("header dict is malformed near byte {}", self.pos)),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_what_numpy_writes() {
        let h = parse_header("{'descr': '<f4', 'fortran_order': False, 'shape': (3, 4), }    \n").unwrap();
        assert_eq!(
            h,
            Header {
                descr: Descr { kind: FileDType::F32, big_endian: false },
                fortran_order: false,
                shape: vec![3, 4]
            }
        );
        let h = parse_header("{\"descr\":\">i8\",\"fortran_order\":True,\"shape\":(5L,)}").unwrap();
        assert_eq!(h.shape, vec![5]);
        assert!(h.fortran_order && h.descr.big_endian && h.descr.kind == FileDType::I64);
        assert_eq!(
            parse_header("{'descr': '|b1', 'fortran_order': False, 'shape': ()}").unwrap().shape,
            Vec::<usize>::new()
        );
    }

    #[test]
    fn format_round_trips() {
        for shape in [vec![], vec![7], vec![2, 3, 4]] {
            let h = parse_header(&format_header("<f8", &shape)).unwrap();
            assert_eq!(h.shape, shape);
            assert_eq!(h.descr.kind, FileDType::F64);
        }
    }

    #[test]
    fn rejects_malformed_headers() {
        let cases = [
            ("{'descr': '<f4', 'fortran_order': False}", "no 'shape'"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (-1,)}", "negative"),
            ("{'descr': '<U3', 'fortran_order': False, 'shape': ()}", "unsupported dtype '<U3'"),
            ("{'descr': '|O', 'fortran_order': False, 'shape': ()}", "object arrays"),
            ("{'descr': [('a', '<f4')], 'fortran_order': False, 'shape': ()}", "structured"),
            ("{'descr': 'f4', 'fortran_order': False, 'shape': ()}", "byte order"),
            ("{'descr': '<f4', 'fortran_order': False, 'shape': (99999999999999999999,)}", "too large"),
            ("{'descr': '<f4", "unterminated"),
            ("[1, 2]", "instead of a dict"),
            ("{'descr': '<f4'} x", "unexpected text"),
            ("{'descr': os.system('x')}", "unknown word"),
        ];
        for (text, want) in cases {
            let err = parse_header(text).unwrap_err();
            assert!(err.contains(want), "{text}: {err}");
        }
        let deep = format!("{}{}", "(".repeat(100), ")".repeat(100));
        assert!(parse_header(&deep).unwrap_err().contains("deeper"));
    }
}
