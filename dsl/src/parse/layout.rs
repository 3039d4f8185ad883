//! The layout pass: decides which newlines end statements, before the pest grammar runs.
//!
//! It tokenizes the file once (a small hand-written lexer that agrees with the grammar's
//! tokens) and produces *prepared text* of the same byte length in which comments and every
//! newline that does not end a statement are spaces. A newline is free (not a separator) when
//! it lies inside `()`, `[]` or a record's `{}`, when the line ends with a token that needs a
//! continuation (`=`, `,`, a binary operator, `then`, ...), or when the next line starts with one
//! (`+`, `*`, `.`, `else`, ...). Braces after `=`, `(`, `,`, `:`, `return`, `then`, an operator
//! or the `else` of an `if ... then ... else` open records; all others open statement blocks.
//!
//! The pass also
//! - records every statement's byte range at every block level ([`Chunk`]), which the parser's
//!   error recovery blanks out to skip a broken statement and report the next error;
//! - reports lexical errors (unexpected characters, unterminated strings);
//! - bounds nesting: brackets plus `if`s may nest at most [`MAX_NESTING`] deep, so the
//!   recursive-descent parser never runs out of stack. A too-deep item is blanked out whole.
//!
//! **Invariant**: the prepared text has the same length as the input, and differs from it only
//! by replacing bytes with ASCII spaces, so spans into one are spans into the other.

use crate::ast::{FileId, Span};
use crate::codes;
use crate::diagnostic::Diagnostic;

/// How deep brackets and `if`s may nest.
pub const MAX_NESTING: usize = 256;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum TokKind {
    Word,
    Number,
    Str,
    /// A string that runs into the end of the line or file.
    Unterminated,
    Punct,
    Newline,
    Comment,
    /// A character that starts no token.
    Invalid,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Token {
    pub kind: TokKind,
    pub start: usize,
    pub end: usize,
}

const PUNCT3: &[&str] = &["..."];
const PUNCT2: &[&str] = &["->", "**", "==", "!=", "<=", ">=", "&&", "||"];
const PUNCT1: &[u8] = b"()[]{},;:.=<>+-*/@!";

/// Splits `text` into tokens; never fails (unknown characters become [`TokKind::Invalid`]).
pub(crate) fn tokenize(text: &str) -> Vec<Token> {
    let bytes = text.as_bytes();
    let mut tokens = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        let start = i;
        let b = bytes[i];
        let kind = match b {
            b' ' | b'\t' | b'\r' => {
                i += 1;
                continue;
            }
            b'\n' => {
                i += 1;
                TokKind::Newline
            }
            b'/' if bytes.get(i + 1) == Some(&b'/') => {
                while i < bytes.len() && bytes[i] != b'\n' {
                    i += 1;
                }
                TokKind::Comment
            }
            b'"' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        None | Some(b'\n') => break TokKind::Unterminated,
                        Some(b'"') => {
                            i += 1;
                            break TokKind::Str;
                        }
                        Some(b'\\') if bytes.get(i + 1).is_some_and(|&c| c != b'\n') => i += 2,
                        Some(_) => i += 1,
                    }
                }
            }
            b'0'..=b'9' => {
                i += 1;
                loop {
                    match bytes.get(i) {
                        Some(b'e' | b'E')
                            if matches!(bytes.get(i + 1), Some(b'+' | b'-'))
                                && bytes.get(i + 2).is_some_and(u8::is_ascii_digit) =>
                        {
                            i += 3
                        }
                        Some(c) if c.is_ascii_alphanumeric() || *c == b'_' => i += 1,
                        Some(b'.') if bytes.get(i + 1).is_some_and(u8::is_ascii_digit) => i += 2,
                        _ => break,
                    }
                }
                TokKind::Number
            }
            c if c.is_ascii_alphabetic() || c == b'_' => {
                while i < bytes.len() && (bytes[i].is_ascii_alphanumeric() || bytes[i] == b'_') {
                    i += 1;
                }
                TokKind::Word
            }
            _ => {
                let rest = &text[i..];
                if let Some(p) = PUNCT3.iter().chain(PUNCT2).find(|p| rest.starts_with(**p)) {
                    i += p.len();
                    TokKind::Punct
                } else if PUNCT1.contains(&b) {
                    i += 1;
                    TokKind::Punct
                } else {
                    // One whole character, so spans stay on character boundaries.
                    i += rest.chars().next().map_or(1, char::len_utf8);
                    TokKind::Invalid
                }
            }
        };
        tokens.push(Token { kind, start, end: i });
    }
    tokens
}

/// A statement (or top-level item) at one block level, as a byte range without separators.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Chunk {
    pub start: usize,
    pub end: usize,
    /// Block nesting level: 0 for top-level items.
    pub depth: u32,
}

pub(crate) struct Layout {
    /// The prepared text (see the module docs).
    pub text: String,
    pub tokens: Vec<Token>,
    pub chunks: Vec<Chunk>,
    /// Whether every bracket was closed by the matching kind.
    pub balanced: bool,
    /// Offsets of opening brackets that were never closed by a matching bracket.
    pub unclosed: Vec<usize>,
    pub diagnostics: Vec<Diagnostic>,
    /// Chunks blanked out because of lexical or nesting errors.
    pub blanked: Vec<Chunk>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum FrameKind {
    Top,
    Block,
    Paren,
    Bracket,
    Record,
}

impl FrameKind {
    fn is_statement_level(self) -> bool {
        matches!(self, FrameKind::Top | FrameKind::Block)
    }
}

struct Frame {
    kind: FrameKind,
    /// Offset of the opening bracket (0 for the top level).
    open: usize,
    /// `if`s seen in the current statement of this frame (they nest expressions).
    ifs: usize,
    /// `then`s not yet matched by an `else`: an `else` then belongs to an `if` expression.
    pending_then: usize,
    chunk_start: Option<usize>,
    chunk_end: usize,
    depth: u32,
}

impl Frame {
    fn new(kind: FrameKind, open: usize, depth: u32) -> Frame {
        Frame { kind, open, ifs: 0, pending_then: 0, chunk_start: None, chunk_end: 0, depth }
    }
}

/// Tokens after which a newline does not end the statement.
const CONTINUES_AFTER: &[&str] = &[
    "=", ",", ".", "->", ":", "+", "-", "*", "/", "@", "**", "==", "!=", "<", "<=", ">", ">=", "&&", "||", "!", "then",
    "else", "if", "return", "use", "fn", "model", "param", "repeat", "for",
];
/// Tokens that continue the previous line when they start a line.
const CONTINUES_BEFORE: &[&str] = &[
    "+", "-", "*", "/", "@", "**", "==", "!=", "<", "<=", ">", ">=", "&&", "||", ".", "->", "=", ",", "then", "else",
    "{",
];
/// Tokens after which `{` opens a record literal rather than a block.
const RECORD_AFTER: &[&str] = &[
    "=", "(", "[", "{", ",", ":", ".", "+", "-", "*", "/", "@", "**", "==", "!=", "<", "<=", ">", ">=", "&&", "||",
    "!", "return", "then",
];

struct Scanner {
    out: Vec<u8>,
    stack: Vec<Frame>,
    /// Sum of `ifs` over the stack, kept in step with it.
    open_ifs: usize,
    chunks: Vec<Chunk>,
    balanced: bool,
    unclosed: Vec<usize>,
    /// (offset, diagnostic) for lexical errors; nesting errors separately.
    lexical: Vec<(usize, Diagnostic)>,
    too_deep: Vec<(usize, Diagnostic)>,
}

impl Scanner {
    fn blank(&mut self, start: usize, end: usize) {
        for b in &mut self.out[start..end] {
            *b = b' ';
        }
    }

    fn statement_frame(&mut self) -> &mut Frame {
        let idx = self.stack.iter().rposition(|f| f.kind.is_statement_level()).unwrap_or(0);
        &mut self.stack[idx]
    }

    /// Extends the current statement of the innermost block to cover `[start, end)`.
    fn note_token(&mut self, start: usize, end: usize) {
        let frame = self.statement_frame();
        frame.chunk_start.get_or_insert(start);
        frame.chunk_end = end;
    }

    fn close_chunk(&mut self, idx: usize) {
        let frame = &mut self.stack[idx];
        if let Some(start) = frame.chunk_start.take() {
            self.chunks.push(Chunk { start, end: frame.chunk_end, depth: frame.depth });
        }
        self.open_ifs -= frame.ifs;
        frame.ifs = 0;
        frame.pending_then = 0;
    }

    fn pop(&mut self) {
        let idx = self.stack.len() - 1;
        if self.stack[idx].kind == FrameKind::Block {
            self.close_chunk(idx);
        }
        let frame = self.stack.pop().expect("non-empty stack");
        self.open_ifs -= frame.ifs;
    }

    fn nesting(&self) -> usize {
        self.stack.len() - 1 + self.open_ifs
    }

    fn check_depth(&mut self, file: FileId, tok: &Token) {
        // Report only the first crossing of the limit; deeper levels add nothing.
        if self.nesting() == MAX_NESTING + 1 {
            let d = Diagnostic::error(codes::E0008, format!("nested too deeply (more than {MAX_NESTING} levels)"))
                .primary(Span::new(file, tok.start, tok.end), "this is too deep")
                .help("split the expression into several bindings");
            self.too_deep.push((tok.start, d));
        }
    }
}

/// Runs the layout pass over `src` (see the module docs).
pub(crate) fn layout(file: FileId, src: &str) -> Layout {
    let tokens = tokenize(src);
    let mut sc = Scanner {
        out: src.as_bytes().to_vec(),
        stack: vec![Frame::new(FrameKind::Top, 0, 0)],
        open_ifs: 0,
        chunks: Vec::new(),
        balanced: true,
        unclosed: Vec::new(),
        lexical: Vec::new(),
        too_deep: Vec::new(),
    };
    // Index of the previous token that is not a newline or comment.
    let mut prev: Option<usize> = None;
    // Whether the previous token was the `else` of an `if` expression.
    let mut prev_else_expr = false;
    // Whether the previous token is a field name (`x.if`): then it is no keyword.
    let mut prev_is_field = false;
    for (idx, tok) in tokens.iter().enumerate() {
        let text = &src[tok.start..tok.end];
        match tok.kind {
            TokKind::Comment => {
                sc.blank(tok.start, tok.end);
                continue;
            }
            TokKind::Newline => {
                let top = sc.stack.last().expect("stack has the top frame").kind;
                let continues = !top.is_statement_level()
                    || prev.is_some_and(|p| {
                        !prev_is_field && CONTINUES_AFTER.contains(&&src[tokens[p].start..tokens[p].end])
                    })
                    || next_significant(&tokens, idx).is_some_and(|n| CONTINUES_BEFORE.contains(&&src[n.start..n.end]));
                if continues {
                    sc.blank(tok.start, tok.end);
                } else {
                    let top_idx = sc.stack.len() - 1;
                    sc.close_chunk(top_idx);
                }
                continue;
            }
            _ => {}
        }
        let else_expr_before = prev_else_expr;
        prev_else_expr = false;
        let after_dot = prev.is_some_and(|p| &src[tokens[p].start..tokens[p].end] == ".");
        let is_field = after_dot && tok.kind == TokKind::Word;
        let field_before = prev_is_field;
        prev_is_field = is_field;
        match (tok.kind, text) {
            (TokKind::Punct, ";") if sc.stack.last().is_some_and(|f| f.kind.is_statement_level()) => {
                let top_idx = sc.stack.len() - 1;
                sc.close_chunk(top_idx);
            }
            (TokKind::Punct, "(" | "[" | "{") => {
                sc.note_token(tok.start, tok.end);
                let kind = match text {
                    "(" => FrameKind::Paren,
                    "[" => FrameKind::Bracket,
                    _ if else_expr_before => FrameKind::Record,
                    _ if !field_before
                        && prev.is_some_and(|p| RECORD_AFTER.contains(&&src[tokens[p].start..tokens[p].end])) =>
                    {
                        FrameKind::Record
                    }
                    _ => FrameKind::Block,
                };
                let depth = sc.stack.last().map_or(0, |f| f.depth) + u32::from(kind == FrameKind::Block);
                sc.stack.push(Frame::new(kind, tok.start, depth));
                sc.check_depth(file, tok);
            }
            (TokKind::Punct, ")" | "]" | "}") => {
                let fits = |k: FrameKind| match text {
                    ")" => k == FrameKind::Paren,
                    "]" => k == FrameKind::Bracket,
                    _ => matches!(k, FrameKind::Block | FrameKind::Record),
                };
                match sc.stack.iter().rposition(|f| f.kind != FrameKind::Top && fits(f.kind)) {
                    Some(pos) => {
                        if pos != sc.stack.len() - 1 {
                            sc.balanced = false;
                            let skipped: Vec<usize> = sc.stack[pos + 1..].iter().map(|f| f.open).collect();
                            sc.unclosed.extend(skipped);
                        }
                        while sc.stack.len() > pos {
                            sc.pop();
                        }
                    }
                    None => sc.balanced = false,
                }
                sc.note_token(tok.start, tok.end);
            }
            _ => {
                sc.note_token(tok.start, tok.end);
                match (tok.kind, text) {
                    (TokKind::Word, _) if is_field => {}
                    (TokKind::Word, "if") => {
                        sc.stack.last_mut().expect("top frame").ifs += 1;
                        sc.open_ifs += 1;
                        sc.check_depth(file, tok);
                    }
                    (TokKind::Word, "then") => sc.stack.last_mut().expect("top frame").pending_then += 1,
                    (TokKind::Word, "else") => {
                        let frame = sc.stack.last_mut().expect("top frame");
                        if frame.pending_then > 0 {
                            frame.pending_then -= 1;
                            prev_else_expr = true;
                        }
                    }
                    (TokKind::Unterminated, _) => {
                        let d = Diagnostic::error(codes::E0003, "unterminated string literal")
                            .primary(Span::new(file, tok.start, tok.end), "this string has no closing `\"`")
                            .help("strings end on the line they start; add the closing `\"`");
                        sc.lexical.push((tok.start, d));
                    }
                    (TokKind::Invalid, c) => {
                        let shown = c.chars().next().map_or_else(String::new, |ch| ch.escape_debug().to_string());
                        let d = Diagnostic::error(codes::E0002, format!("unexpected character `{shown}`"))
                            .primary(Span::new(file, tok.start, tok.end), "not part of any token")
                            .maybe_help(unexpected_character_help(c));
                        sc.lexical.push((tok.start, d));
                    }
                    _ => {}
                }
            }
        }
        prev = Some(idx);
    }
    if sc.stack.len() > 1 {
        sc.balanced = false;
        let open: Vec<usize> = sc.stack[1..].iter().map(|f| f.open).collect();
        sc.unclosed.extend(open);
    }
    while sc.stack.len() > 1 {
        sc.pop();
    }
    sc.close_chunk(0);

    let mut diagnostics = Vec::new();
    let mut blanked: Vec<Chunk> = Vec::new();
    // A too-deep item is dropped whole: its inner structure cannot be trusted.
    for (pos, d) in std::mem::take(&mut sc.too_deep) {
        if let Some(chunk) = sc.chunks.iter().find(|c| c.depth == 0 && c.start <= pos && pos <= c.end).copied()
            && !blanked.iter().any(|b| b.start <= pos && pos < b.end)
        {
            diagnostics.push(d);
            blanked.push(chunk);
        }
    }
    let mut lexical = std::mem::take(&mut sc.lexical);
    lexical.sort_by_key(|(pos, _)| *pos);
    for (pos, d) in lexical {
        if blanked.iter().any(|b| b.start <= pos && pos < b.end) {
            continue;
        }
        if let Some(chunk) = innermost_chunk(&sc.chunks, pos) {
            blanked.push(chunk);
        }
        diagnostics.push(d);
    }
    for chunk in &blanked {
        sc.blank(chunk.start, chunk.end);
    }
    let text = String::from_utf8(sc.out).unwrap_or_else(|_| " ".repeat(src.len()));
    sc.unclosed.sort_unstable();
    Layout { text, tokens, chunks: sc.chunks, balanced: sc.balanced, unclosed: sc.unclosed, diagnostics, blanked }
}

fn next_significant(tokens: &[Token], idx: usize) -> Option<&Token> {
    tokens[idx + 1..].iter().find(|t| !matches!(t.kind, TokKind::Newline | TokKind::Comment))
}

/// The deepest statement whose range contains `pos` (ends inclusive, so an error reported just
/// after a statement's last token still belongs to it).
pub(crate) fn innermost_chunk(chunks: &[Chunk], pos: usize) -> Option<Chunk> {
    chunks.iter().filter(|c| c.start <= pos && pos <= c.end).max_by_key(|c| (c.depth, c.start)).copied()
}

/// Names a broken statement would have bound, so that later stages do not report them as
/// unknown: the item or member name after its keyword, and every name followed by `=` or `,`
/// (the targets of a binding, wherever the statement broke).
pub(crate) fn bound_names(src: &str, tokens: &[Token], chunk: Chunk) -> Vec<String> {
    let words: Vec<(&str, &Token)> = tokens
        .iter()
        .filter(|t| {
            t.start >= chunk.start && t.end <= chunk.end && !matches!(t.kind, TokKind::Comment | TokKind::Newline)
        })
        .map(|t| (&src[t.start..t.end], t))
        .collect();
    let Some(&(first, _)) = words.first() else { return Vec::new() };
    let is_word = |i: usize| words.get(i).is_some_and(|(_, t)| t.kind == TokKind::Word);
    let mut names = Vec::new();
    // A broken statement that starts with a name most likely binds it (`y := 3`).
    if words[0].1.kind == TokKind::Word && !crate::parse::errors::RESERVED.contains(&first) {
        names.push(first.to_string());
    }
    match first {
        "fn" | "model" | "param" | "buffer" | "latent" | "prior" | "output" | "input" | "metric" if is_word(1) => {
            names.push(words[1].0.to_string());
        }
        "use" => {
            names.extend(words.iter().skip(1).filter(|(_, t)| t.kind == TokKind::Word).map(|(w, _)| w.to_string()))
        }
        _ => {}
    }
    for (i, (w, t)) in words.iter().enumerate() {
        let next = words.get(i + 1).map(|(n, _)| *n);
        if t.kind == TokKind::Word && matches!(next, Some("=") | Some(",")) && !names.iter().any(|n| n == w) {
            names.push(w.to_string());
        }
    }
    names
}

/// The help for an unexpected character that another language gives a meaning.
fn unexpected_character_help(c: &str) -> Option<String> {
    match c {
        "^" => Some("`^` is not an operator in Hourglass; write a power with `**`, as in `a ** 2`".to_string()),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn prepared(src: &str) -> String {
        layout(FileId(0), src).text
    }

    #[test]
    fn newlines_inside_brackets_are_free() {
        assert_eq!(prepared("x = f(a,\n  b)\ny = 1"), "x = f(a,   b)\ny = 1");
        assert_eq!(prepared("x = [1,\n2]"), "x = [1, 2]");
    }

    #[test]
    fn continuation_lines_join() {
        assert_eq!(prepared("d = a - b\n    + c\ne = 1"), "d = a - b     + c\ne = 1");
        assert_eq!(prepared("d = a +\n c"), "d = a +  c");
        assert_eq!(prepared("if t {\n}\nelse {\n}"), "if t {\n} else {\n}");
    }

    #[test]
    fn block_braces_keep_newlines_record_braces_do_not() {
        assert_eq!(prepared("fn f() {\n return {\n z: 1 }\n}"), "fn f() {\n return {  z: 1 }\n}");
        assert_eq!(prepared("x = if c then a else {\n z: 1 }"), "x = if c then a else {  z: 1 }");
    }

    #[test]
    fn field_names_are_not_keywords() {
        assert_eq!(prepared("a = x.if\nb = x.then\nc = q.return {\n}"), "a = x.if\nb = x.then\nc = q.return {\n}");
    }

    #[test]
    fn comments_become_spaces() {
        assert_eq!(prepared("x = 1 // hi\ny = f(a, // c\n b)"), "x = 1      \ny = f(a,       b)");
    }

    #[test]
    fn chunks_cover_statements_at_each_level() {
        let l = layout(FileId(0), "fn f() {\n a = 1\n b = 2\n}\nfn g() { }");
        let top: Vec<_> = l.chunks.iter().filter(|c| c.depth == 0).map(|c| (c.start, c.end)).collect();
        assert_eq!(top, vec![(0, 24), (25, 35)]);
        let inner: Vec<_> = l.chunks.iter().filter(|c| c.depth == 1).map(|c| (c.start, c.end)).collect();
        assert_eq!(inner, vec![(10, 15), (17, 22)]);
        assert!(l.balanced);
        assert!(l.unclosed.is_empty());
    }

    #[test]
    fn unclosed_brackets_are_located() {
        let l = layout(FileId(0), "fn f(x) {\n a = g(x\n}\nfn h() {");
        assert!(!l.balanced);
        assert_eq!(l.unclosed, vec![16, 28]);
    }

    #[test]
    fn deep_nesting_is_refused_and_blanked() {
        let src = format!("x = {}1{}\ny = 2", "(".repeat(300), ")".repeat(300));
        let l = layout(FileId(0), &src);
        assert_eq!(l.diagnostics.len(), 1);
        assert_eq!(l.diagnostics[0].code, codes::E0008);
        assert!(l.text.starts_with("    "));
        assert!(l.text.ends_with("y = 2"));
    }

    #[test]
    fn lexical_errors_are_reported_once_per_statement() {
        let l = layout(FileId(0), "x = $ $\ny = \"abc\nz = 1");
        let codes: Vec<_> = l.diagnostics.iter().map(|d| d.code).collect();
        assert_eq!(codes, vec![codes::E0002, codes::E0003]);
        assert!(l.text.ends_with("z = 1"));
    }

    #[test]
    fn bound_names_of_broken_statements() {
        let src = "a, b = f(x))\nparam w: f32 = 1\nc = 1 d = 2";
        let l = layout(FileId(0), src);
        let names: Vec<Vec<String>> = l.chunks.iter().map(|c| bound_names(src, &l.tokens, *c)).collect();
        assert!(names.contains(&vec!["a".to_string(), "b".to_string()]), "{names:?}");
        assert!(names.contains(&vec!["c".to_string(), "d".to_string()]), "{names:?}");
    }
}
