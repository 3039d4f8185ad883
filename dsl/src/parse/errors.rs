//! Turns pest's parse failures into diagnostics that speak the language, not the grammar:
//! "expected an expression, found `)`" rather than a list of rule names.
//!
//! Pest records, at the furthest position it reached, the literal tokens it would have accepted
//! and the rules it was trying. This module groups them into phrases (an expression, an
//! operator, a statement, a model member, a name, end of line, a specific token) and names the
//! token actually found there, read from the original source.

use pest::error::{Error as PestError, InputLocation};

use super::grammar::Rule;
use super::layout::{TokKind, Token};
use crate::ast::{FileId, Span};
use crate::codes;
use crate::diagnostic::Diagnostic;

/// Words that can never be names.
pub(crate) const RESERVED: &[&str] = &[
    "use", "model", "fn", "param", "repeat", "for", "if", "then", "else", "return", "training", "sampling", "true",
    "false",
];

const STATEMENT_KEYWORDS: &[&str] =
    &["param", "buffer", "update", "repeat", "for", "return", "latent", "prior", "output"];
const MEMBER_KEYWORDS: &[&str] = &["input", "condition", "encoder", "bottleneck", "decoder", "loss", "metric", "train"];
const ITEM_KEYWORDS: &[&str] = &["use", "fn", "model"];
const OPERATORS: &[&str] = &["+", "-", "*", "**", "/", "@", "==", "!=", "<", "<=", ">", ">=", "&&", "||", ".", "["];
const EXPR_STARTS: &[&str] = &["!", "\"", "(", "-", "[", "{", "_", "true", "false", "if", "training", "sampling"];

/// A syntax error and the byte offset it was found at.
pub(crate) struct SyntaxError {
    pub offset: usize,
    pub diagnostic: Diagnostic,
}

/// Builds the diagnostic for a failed parse of `prepared` (the layout pass's output for `src`).
pub(crate) fn syntax_error(
    file: FileId,
    src: &str,
    prepared: &str,
    tokens: &[Token],
    unclosed: &[usize],
    err: &PestError<Rule>,
) -> SyntaxError {
    let reported = match err.location {
        InputLocation::Pos(p) => p,
        InputLocation::Span((s, _)) => s,
    };
    let mut attempts = err.parse_attempts();
    let mut offset = attempts.as_ref().map_or(reported, |a| a.max_position.max(reported)).min(src.len());
    // A reserved word where a name was expected: pest's furthest attempt lies inside the
    // `!reserved` lookahead, which says nothing useful; report the word itself.
    if offset > reported
        && tokens.iter().any(|t| {
            t.kind == TokKind::Word
                && t.start == reported
                && offset <= t.end
                && RESERVED.contains(&&src[t.start..t.end])
        })
    {
        offset = reported;
        attempts = None;
    }
    let mut rules: Vec<Rule> = match &err.variant {
        pest::error::ErrorVariant::ParsingError { positives, .. } if offset == reported => positives.clone(),
        _ => Vec::new(),
    };
    let mut literals: Vec<String> = Vec::new();
    let mut name_chars = false;
    if attempts.is_none() {
        name_chars = rules.iter().any(|r| matches!(r, Rule::name | Rule::let_stmt | Rule::param | Rule::kwarg_name));
        if rules.iter().any(|r| matches!(r, Rule::expr | Rule::arg | Rule::number | Rule::paren)) {
            literals.push("\"".to_string());
        }
    }
    if let Some(a) = &attempts {
        for stack in a.call_stacks() {
            if let Some(r) = stack.deepest.get_rule() {
                rules.push(*r);
            }
        }
        // The token type is not nameable outside pest; its `Display` is the literal text, or
        // `a..b` for a character range (digits say nothing that `"` does not already say).
        for tok in a.expected_tokens() {
            match tok.to_string().as_str() {
                "A..Z" | "a..z" => name_chars = true,
                "0..9" | "BUILTIN_RULE" => {}
                t => literals.push(t.to_string()),
            }
        }
    }
    let expected = describe_expected(&rules, &literals, name_chars);
    let (found, span) = describe_found(file, src, prepared, tokens, offset);
    let expected = if expected.is_empty() { expected_from_context(src, tokens, offset) } else { expected };
    let message = match expected.as_str() {
        "" => format!("unexpected {found}"),
        e => format!("expected {e}, found {found}"),
    };
    let label = if expected.is_empty() { "unexpected here".to_string() } else { format!("expected {expected}") };
    let mut d = Diagnostic::error(codes::E0001, message).primary(span, label);
    // The bracket left open last before the error is the likely culprit.
    if let Some(&open) = unclosed.iter().rev().find(|&&o| o < offset) {
        let bracket = &src[open..open + 1];
        d = d.secondary(Span::new(file, open, open + 1), format!("this `{bracket}` is never closed"));
    }
    if let Some(help) = help_for(&expected, &found, src, offset) {
        d = d.help(help);
    }
    SyntaxError { offset, diagnostic: d }
}

/// For failures inside negative lookaheads, which record no expected tokens: what the previous
/// keyword needs.
fn expected_from_context(src: &str, tokens: &[Token], offset: usize) -> String {
    let prev = tokens.iter().rev().find(|t| t.end <= offset && !matches!(t.kind, TokKind::Newline | TokKind::Comment));
    match prev.map(|t| &src[t.start..t.end]) {
        Some("repeat") => "a repeat count".to_string(),
        Some("in") => "a list to loop over".to_string(),
        Some("if") => "a condition".to_string(),
        _ => String::new(),
    }
}

fn describe_expected(rules: &[Rule], literals: &[String], name_chars: bool) -> String {
    let has = |r: Rule| rules.contains(&r);
    let lit = |t: &str| literals.iter().any(|l| l == t);
    let mut lits: Vec<&str> =
        literals.iter().map(String::as_str).filter(|l| !matches!(*l, " " | "\t" | "\r" | "//" | "e" | "E")).collect();
    let mut phrases: Vec<String> = Vec::new();
    let remove = |lits: &mut Vec<&str>, set: &[&str]| lits.retain(|l| !set.contains(l));
    let mut name_done = false;

    if lits.iter().any(|l| ITEM_KEYWORDS.contains(l)) && lit("model") {
        phrases.push("`use`, `fn` or `model`".to_string());
        remove(&mut lits, ITEM_KEYWORDS);
    }
    if lits.iter().any(|l| MEMBER_KEYWORDS.contains(l)) && lit("encoder") {
        phrases.push("a model member".to_string());
        remove(&mut lits, MEMBER_KEYWORDS);
    }
    if lit("repeat") && lit("param") {
        phrases.push("a statement".to_string());
        remove(&mut lits, STATEMENT_KEYWORDS);
        remove(&mut lits, &["if"]);
        name_done = true;
    }
    // Only an expression can start with a string, and only a dimension with `...` (besides
    // index lists, which also take expressions).
    if lit("\"") {
        phrases.push("an expression".to_string());
        remove(&mut lits, EXPR_STARTS);
        if lits.iter().any(|l| ["..", ":"].contains(l)) && has(Rule::index_item) {
            remove(&mut lits, &["..."]);
        }
        name_done = true;
    } else if lit("...") {
        phrases.push("a dimension".to_string());
        remove(&mut lits, &["(", "..."]);
        name_done = true;
    }
    if has(Rule::type_expr) || has(Rule::tensor_type) || has(Rule::named_type) {
        phrases.push("a type".to_string());
        remove(&mut lits, &["[", "fn"]);
        name_done = true;
    }
    let n_ops = lits.iter().filter(|l| OPERATORS.contains(l)).count();
    if n_ops >= 3 {
        phrases.push("an operator".to_string());
        // `(` here would only continue a call, and letters would only lengthen the name.
        remove(&mut lits, OPERATORS);
        remove(&mut lits, &["-", "("]);
        name_done = true;
    }
    if (lit("./") || lit("../")) && name_chars {
        phrases.push("a module path or a file path".to_string());
        remove(&mut lits, &["./", "../", "_"]);
        name_done = true;
    }
    if name_chars && !name_done {
        phrases.push("a name".to_string());
    }
    remove(&mut lits, &["_"]);
    // Where an item, member or statement may start, an empty line is no news.
    let starts_something =
        phrases.iter().any(|p| p.starts_with("`use`") || p == "a model member" || p == "a statement");
    let end_of_line = !starts_something && lits.iter().any(|l| *l == "\n" || *l == ";");
    remove(&mut lits, &["\n", ";"]);
    lits.sort_by_key(|l| token_order(l));
    lits.dedup();
    phrases.extend(lits.iter().map(|l| format!("`{l}`")));
    if end_of_line {
        phrases.push("end of line".to_string());
    }
    join_or(&phrases)
}

/// Closing brackets last, so "expected `,` or `)`" reads naturally.
fn token_order(tok: &str) -> (u8, String) {
    let rank = match tok {
        ")" | "]" | "}" => 2,
        "," => 1,
        _ => 0,
    };
    (rank, tok.to_string())
}

fn join_or(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// What is at `offset`, and the span to underline.
fn describe_found(file: FileId, src: &str, prepared: &str, tokens: &[Token], offset: usize) -> (String, Span) {
    let bytes = prepared.as_bytes();
    let mut pos = offset;
    while pos < bytes.len() && matches!(bytes[pos], b' ' | b'\t' | b'\r') {
        pos += 1;
    }
    if pos >= bytes.len() {
        // Point just after the last token: an empty last line would show no snippet.
        let at =
            tokens.iter().rev().find(|t| !matches!(t.kind, TokKind::Newline | TokKind::Comment)).map_or(0, |t| t.end);
        return ("end of file".to_string(), Span::new(file, at, at));
    }
    if bytes[pos] == b'\n' {
        return ("end of line".to_string(), Span::new(file, pos, pos));
    }
    let tok = tokens.iter().find(|t| t.start <= pos && pos < t.end && t.kind != TokKind::Newline);
    let Some(tok) = tok else {
        let end = pos + src[pos..].chars().next().map_or(1, char::len_utf8);
        return (format!("`{}`", &src[pos..end]), Span::new(file, pos, end));
    };
    let text = &src[tok.start..tok.end];
    let found = match tok.kind {
        TokKind::Word if RESERVED.contains(&text) => format!("keyword `{text}`"),
        TokKind::Str | TokKind::Unterminated => "a string".to_string(),
        _ if text.chars().count() > 24 => format!("`{}...`", text.chars().take(20).collect::<String>()),
        _ => format!("`{text}`"),
    };
    (found, Span::new(file, tok.start, tok.end))
}

fn help_for(expected: &str, found: &str, src: &str, offset: usize) -> Option<String> {
    let line_start = src[..offset].rfind('\n').map_or(0, |i| i + 1);
    if found == "`,`" && src[line_start..].trim_start().starts_with("use ") {
        return Some("import several names with braces: `use std.nn.{Linear, Mlp}`".to_string());
    }
    if found == "`:`" && src[offset..].starts_with(":=") {
        return Some("bind with `=`: `name = value`".to_string());
    }
    if expected.contains("a model member") && !found.starts_with("keyword") {
        let rest = src[offset..].trim_start();
        let word: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
        let after = rest[word.len()..].trim_start();
        if !word.is_empty() && (after.starts_with('=') || after.starts_with(',')) {
            return Some(
                "statements go inside a section: `encoder { ... }`, `bottleneck { ... }` or `decoder { ... }`"
                    .to_string(),
            );
        }
    }
    if let Some(kw) = found.strip_prefix("keyword `").and_then(|f| f.strip_suffix('`'))
        && (expected.contains("a name") || expected.contains("an expression"))
        && !matches!(kw, "if" | "true" | "false" | "training" | "sampling")
    {
        return Some(format!("`{kw}` is a reserved word and cannot be used as a name"));
    }
    if expected.ends_with("end of line") {
        let word = found.trim_start_matches("keyword ").trim_matches('`');
        let is_word = word.starts_with(|c: char| c.is_ascii_alphabetic() || c == '_')
            && word.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if is_word {
            return Some("separate statements with a newline or `;`".to_string());
        }
    }
    if found == "`=`" && expected.contains("an operator") {
        return Some("to compare values use `==`; bindings (`name = value`) start a statement".to_string());
    }
    None
}
