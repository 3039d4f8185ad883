//! A cursor over one line of IR text: whitespace, punctuation, names, strings, numbers,
//! symbolic dimensions and tensor types, each failing with the column it stopped at.

use super::ReadError;
use crate::dim::Dim;
use crate::types::TensorType;
use hg_abi::DType;

pub(super) struct Cursor<'a> {
    text: &'a str,
    pos: usize,
    line: usize,
}

impl<'a> Cursor<'a> {
    pub(super) fn new(text: &'a str, line: usize) -> Cursor<'a> {
        Cursor { text, pos: 0, line }
    }

    /// An error at the next token (columns count characters, from 1).
    pub(super) fn error(&self, message: impl Into<String>) -> ReadError {
        let ws = self.rest().len() - self.rest().trim_start().len();
        self.error_at(self.pos + ws, message)
    }

    pub(super) fn error_at(&self, pos: usize, message: impl Into<String>) -> ReadError {
        let column = self.text[..pos].chars().count() + 1;
        ReadError { line: self.line, column, message: message.into() }
    }

    /// The position of the next token (whitespace skipped), for locating later errors.
    pub(super) fn pos(&mut self) -> usize {
        self.skip_ws();
        self.pos
    }

    pub(super) fn line(&self) -> usize {
        self.line
    }

    fn rest(&self) -> &'a str {
        &self.text[self.pos..]
    }

    fn skip_ws(&mut self) {
        let trimmed = self.rest().trim_start();
        self.pos = self.text.len() - trimmed.len();
    }

    pub(super) fn at_end(&mut self) -> bool {
        self.skip_ws();
        self.rest().is_empty()
    }

    pub(super) fn peek(&mut self) -> Option<char> {
        self.skip_ws();
        self.rest().chars().next()
    }

    /// Consumes `token` if it comes next (after whitespace).
    pub(super) fn eat(&mut self, token: &str) -> bool {
        self.skip_ws();
        if self.rest().starts_with(token) {
            self.pos += token.len();
            true
        } else {
            false
        }
    }

    pub(super) fn expect(&mut self, token: &str) -> Result<(), ReadError> {
        if self.eat(token) { Ok(()) } else { Err(self.error(format!("expected `{token}`, found {}", self.found()))) }
    }

    pub(super) fn expect_end(&mut self) -> Result<(), ReadError> {
        if self.at_end() { Ok(()) } else { Err(self.error(format!("unexpected {}", self.found()))) }
    }

    /// What comes next, for messages.
    pub(super) fn found(&self) -> String {
        match self.rest().split_whitespace().next() {
            None => "end of line".to_string(),
            Some(tok) => format!("`{tok}`"),
        }
    }

    /// A run of `[A-Za-z0-9_.]` (mnemonics, keywords, bare names).
    pub(super) fn word(&mut self) -> Result<&'a str, ReadError> {
        self.skip_ws();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == '.'))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.error(format!("expected a name, found {}", self.found())));
        }
        let w = &self.rest()[..len];
        self.pos += len;
        Ok(w)
    }

    /// A bare dotted identifier or a quoted string.
    pub(super) fn name(&mut self) -> Result<String, ReadError> {
        if self.peek() == Some('"') { self.string() } else { self.word().map(str::to_string) }
    }

    /// A string in the escapes `{:?}` produces.
    pub(super) fn string(&mut self) -> Result<String, ReadError> {
        self.expect("\"")?;
        let mut out = String::new();
        let mut chars = self.rest().char_indices();
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    self.pos += i + 1;
                    return Ok(out);
                }
                '\\' => {
                    let esc = chars.next().map(|(_, e)| e);
                    let decoded = match esc {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('0') => '\0',
                        Some(e @ ('\\' | '"' | '\'')) => e,
                        Some('u') => {
                            let body: String = chars.by_ref().map(|(_, c)| c).take_while(|&c| c != '}').collect();
                            let code = body.strip_prefix('{').and_then(|h| u32::from_str_radix(h, 16).ok());
                            match code.and_then(char::from_u32) {
                                Some(c) => c,
                                None => {
                                    return Err(self.error_at(self.pos + i, "invalid unicode escape"));
                                }
                            }
                        }
                        _ => return Err(self.error_at(self.pos + i, "invalid escape in string")),
                    };
                    out.push(decoded);
                }
                c => out.push(c),
            }
        }
        Err(self.error("unterminated string"))
    }

    /// An unsigned integer.
    pub(super) fn uint<T: std::str::FromStr>(&mut self) -> Result<T, ReadError> {
        self.skip_ws();
        let len = self.rest().find(|c: char| !c.is_ascii_digit()).unwrap_or(self.rest().len());
        let start = self.pos();
        let v = self.rest()[..len]
            .parse::<T>()
            .map_err(|_| self.error(format!("expected an integer, found {}", self.found())))?;
        self.pos = start + len;
        Ok(v)
    }

    /// A float as `{:?}` prints it (`1.0`, `-0.25`, `1e-7`, `inf`, `-inf`, `NaN`).
    pub(super) fn float(&mut self) -> Result<f64, ReadError> {
        self.skip_ws();
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '+')))
            .unwrap_or(self.rest().len());
        let v = self.rest()[..len]
            .parse::<f64>()
            .map_err(|_| self.error(format!("expected a number, found {}", self.found())))?;
        self.pos += len;
        Ok(v)
    }

    pub(super) fn boolean(&mut self) -> Result<bool, ReadError> {
        let start = self.pos();
        match self.word()? {
            "true" => Ok(true),
            "false" => Ok(false),
            w => Err(self.error_at(start, format!("expected `true` or `false`, found `{w}`"))),
        }
    }

    /// `[a, b, ...]` of unsigned integers.
    pub(super) fn uint_list(&mut self) -> Result<Vec<usize>, ReadError> {
        self.expect("[")?;
        let mut out = Vec::new();
        if !self.eat("]") {
            loop {
                out.push(self.uint()?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(out)
    }

    /// `[a, b]`.
    pub(super) fn uint_pair(&mut self) -> Result<[usize; 2], ReadError> {
        let start = self.pos();
        let v = self.uint_list()?;
        <[usize; 2]>::try_from(v).map_err(|v| self.error_at(start, format!("expected two integers, found {}", v.len())))
    }

    pub(super) fn dtype(&mut self) -> Result<DType, ReadError> {
        let start = self.pos();
        let w = self.word()?;
        DType::from_name(w).ok_or_else(|| self.error_at(start, format!("unknown dtype `{w}`")))
    }

    /// `f32[B, 2*B + 1, 10]`.
    pub(super) fn tensor_type(&mut self) -> Result<TensorType, ReadError> {
        let dtype = self.dtype()?;
        self.expect("[")?;
        let mut shape = Vec::new();
        if !self.eat("]") {
            loop {
                shape.push(self.dim()?);
                if self.eat("]") {
                    break;
                }
                self.expect(",")?;
            }
        }
        Ok(TensorType::new(dtype, shape))
    }

    /// A polynomial as [`Dim`]'s `Display` writes it: `-2*B*H + 3`.
    pub(super) fn dim(&mut self) -> Result<Dim, ReadError> {
        let start = self.pos();
        let overflow = |c: &Self| c.error_at(start, "dimension overflows");
        let mut negative = self.eat("-");
        let mut total = Dim::constant(0);
        loop {
            let mut term = Dim::constant(if negative { -1 } else { 1 });
            loop {
                let factor = match self.peek() {
                    Some(c) if c.is_ascii_digit() => Dim::constant(self.uint::<i64>()?),
                    Some(c) if c.is_ascii_alphabetic() || c == '_' => Dim::sym(self.word()?),
                    _ => {
                        return Err(self.error(format!("expected a dimension, found {}", self.found())));
                    }
                };
                term = term.checked_mul(&factor).ok_or_else(|| overflow(self))?;
                if !self.eat("*") {
                    break;
                }
            }
            total = total.checked_add(&term).ok_or_else(|| overflow(self))?;
            negative = match self.peek() {
                Some('+') => false,
                Some('-') => true,
                _ => return Ok(total),
            };
            self.pos += 1;
        }
    }
}
