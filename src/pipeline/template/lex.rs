//! Splits a template into text and action tokens, Go `text/template` style.
//!
//! Whitespace trim markers (`{{- ` and ` -}}`) are applied here, so the parser only sees
//! already-trimmed text.

use super::TemplateError;

/// One lexical item with the (1-based) template line it starts on.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Token {
    pub kind: Tok,
    pub line: usize,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Text(String),
    /// `{{` (after trimming).
    Open,
    /// `}}`.
    Close,
    /// `.a.b` → ["a", "b"]; a lone `.` is `Field(vec![])`.
    Field(Vec<String>),
    /// `$x.a.b` → ("x", ["a","b"]); `$` alone is ("", []).
    Var(String, Vec<String>),
    Ident(String),
    Str(String),
    Int(i64),
    Float(f64),
    Pipe,
    LParen,
    RParen,
    Comma,
    Declare,
    Assign,
}

const OPEN: &str = "{{";
const CLOSE: &str = "}}";

fn is_space(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\r' | '\n')
}

/// Lexes a whole template.
pub(super) fn lex(src: &str) -> Result<Vec<Token>, TemplateError> {
    let mut lx = Lexer {
        src,
        pos: 0,
        line: 1,
        out: Vec::new(),
    };
    lx.run()?;
    Ok(lx.out)
}

struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    line: usize,
    out: Vec<Token>,
}

impl Lexer<'_> {
    fn rest(&self) -> &str {
        &self.src[self.pos..]
    }

    fn advance(&mut self, n: usize) {
        self.line += self.src[self.pos..self.pos + n].matches('\n').count();
        self.pos += n;
    }

    fn err(&self, msg: impl Into<String>) -> TemplateError {
        TemplateError::new(self.line, msg)
    }

    fn run(&mut self) -> Result<(), TemplateError> {
        let mut trim_next_text = false;
        while self.pos < self.src.len() {
            let start_line = self.line;
            let (text_len, found) = match self.rest().find(OPEN) {
                Some(i) => (i, true),
                None => (self.rest().len(), false),
            };
            let mut text = self.rest()[..text_len].to_string();
            self.advance(text_len);
            if trim_next_text {
                text = text.trim_start_matches(is_space).to_string();
            }
            if !found {
                self.push_text(text, start_line);
                break;
            }
            // A left trim marker is `{{-` followed by a space.
            let after = &self.rest()[OPEN.len()..];
            let trim_left = after.starts_with('-') && after[1..].starts_with(is_space);
            if trim_left {
                text = text.trim_end_matches(is_space).to_string();
            }
            self.push_text(text, start_line);
            self.advance(OPEN.len() + usize::from(trim_left));
            trim_next_text = self.action()?;
        }
        Ok(())
    }

    fn push_text(&mut self, text: String, line: usize) {
        if !text.is_empty() {
            self.out.push(Token {
                kind: Tok::Text(text),
                line,
            });
        }
    }

    fn push(&mut self, kind: Tok, line: usize) {
        self.out.push(Token { kind, line });
    }

    /// Lexes one action after its `{{`; returns whether it ended with a right trim marker.
    fn action(&mut self) -> Result<bool, TemplateError> {
        let open_line = self.line;
        // Comments: `{{/* ... */}}`, possibly with trim markers around them.
        let trimmed = self.rest().trim_start_matches(is_space);
        if trimmed.starts_with("/*") {
            let skip = self.rest().len() - trimmed.len();
            self.advance(skip);
            let Some(end) = self.rest().find("*/") else {
                return Err(self.err("unclosed comment"));
            };
            self.advance(end + 2);
            return self.close_after_comment();
        }
        self.push(Tok::Open, open_line);
        loop {
            let rest = self.rest();
            if rest.is_empty() {
                return Err(TemplateError::new(open_line, "unclosed action"));
            }
            if rest.starts_with(CLOSE) {
                self.push(Tok::Close, self.line);
                self.advance(CLOSE.len());
                return Ok(false);
            }
            let mut chars = rest.chars();
            let Some(c) = chars.next() else {
                return Err(TemplateError::new(open_line, "unclosed action"));
            };
            if is_space(c) {
                let ws = rest.len() - rest.trim_start_matches(is_space).len();
                let after = &rest[ws..];
                if after.starts_with("-}}") {
                    self.advance(ws + 1);
                    self.push(Tok::Close, self.line);
                    self.advance(CLOSE.len());
                    return Ok(true);
                }
                self.advance(ws);
                continue;
            }
            let line = self.line;
            match c {
                '|' => self.single(Tok::Pipe, line),
                '(' => self.single(Tok::LParen, line),
                ')' => {
                    self.single(Tok::RParen, line);
                    // `(pipe).field` chains.
                    if self.rest().starts_with('.') && self.rest()[1..].starts_with(is_ident_char) {
                        let fields = self.field_chain();
                        self.push(Tok::Field(fields), line);
                    }
                }
                ',' => self.single(Tok::Comma, line),
                ':' if rest.starts_with(":=") => {
                    self.push(Tok::Declare, line);
                    self.advance(2);
                }
                '=' => self.single(Tok::Assign, line),
                '"' => self.quoted()?,
                '`' => self.raw_string()?,
                '.' if !rest[1..].starts_with(|c: char| c.is_ascii_digit()) => {
                    let fields = self.field_chain();
                    self.push(Tok::Field(fields), line);
                }
                '$' => {
                    self.advance(1);
                    let name = self.ident();
                    let fields = if self.rest().starts_with('.') {
                        self.field_chain()
                    } else {
                        Vec::new()
                    };
                    self.push(Tok::Var(name, fields), line);
                }
                c if c.is_ascii_digit() || c == '-' || c == '+' || c == '.' => self.number()?,
                c if is_ident_char(c) => {
                    let name = self.ident();
                    self.push(Tok::Ident(name), line);
                }
                other => return Err(self.err(format!("unexpected {other:?} in action"))),
            }
        }
    }

    fn close_after_comment(&mut self) -> Result<bool, TemplateError> {
        let rest = self.rest();
        let ws = rest.len() - rest.trim_start_matches(is_space).len();
        let after = &rest[ws..];
        if after.starts_with(CLOSE) {
            self.advance(ws + CLOSE.len());
            Ok(false)
        } else if ws > 0 && after.starts_with("-}}") {
            self.advance(ws + 1 + CLOSE.len());
            Ok(true)
        } else {
            Err(self.err("comment must be followed by }}"))
        }
    }

    fn single(&mut self, kind: Tok, line: usize) {
        self.push(kind, line);
        self.advance(1);
    }

    fn ident(&mut self) -> String {
        let len = self
            .rest()
            .find(|c: char| !is_ident_char(c))
            .unwrap_or(self.rest().len());
        let name = self.rest()[..len].to_string();
        self.advance(len);
        name
    }

    /// Reads `.a.b.c` (the cursor is on the first dot).
    fn field_chain(&mut self) -> Vec<String> {
        let mut fields = Vec::new();
        while self.rest().starts_with('.') {
            self.advance(1);
            let name = self.ident();
            if name.is_empty() {
                break;
            }
            fields.push(name);
        }
        fields
    }

    fn quoted(&mut self) -> Result<(), TemplateError> {
        let line = self.line;
        let mut out = String::new();
        let mut chars = self.rest().char_indices().skip(1);
        let mut end = None;
        while let Some((i, c)) = chars.next() {
            match c {
                '"' => {
                    end = Some(i + 1);
                    break;
                }
                '\n' => return Err(self.err("newline in quoted string")),
                '\\' => {
                    let Some((_, e)) = chars.next() else { break };
                    out.push(match e {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        '\\' => '\\',
                        '"' => '"',
                        '\'' => '\'',
                        '0' => '\0',
                        other => {
                            return Err(self.err(format!("unknown escape \\{other} in string")));
                        }
                    });
                }
                c => out.push(c),
            }
        }
        let Some(end) = end else {
            return Err(self.err("unterminated quoted string"));
        };
        self.advance(end);
        self.push(Tok::Str(out), line);
        Ok(())
    }

    fn raw_string(&mut self) -> Result<(), TemplateError> {
        let line = self.line;
        let Some(end) = self.rest()[1..].find('`') else {
            return Err(self.err("unterminated raw string"));
        };
        let s = self.rest()[1..1 + end].to_string();
        self.advance(end + 2);
        self.push(Tok::Str(s), line);
        Ok(())
    }

    fn number(&mut self) -> Result<(), TemplateError> {
        let line = self.line;
        let len = self
            .rest()
            .char_indices()
            .find(|&(i, c)| {
                !(c.is_ascii_alphanumeric() || c == '.' || c == '_' || (i == 0 && "+-".contains(c)))
                    && !((c == '+' || c == '-') && i > 0 && self.rest()[..i].ends_with(['e', 'E']))
            })
            .map_or(self.rest().len(), |(i, _)| i);
        let text = self.rest()[..len].replace('_', "");
        let kind = parse_number(&text).ok_or_else(|| self.err(format!("bad number {text:?}")))?;
        self.advance(len);
        self.push(kind, line);
        Ok(())
    }
}

fn parse_number(text: &str) -> Option<Tok> {
    let (neg, digits) = match text.strip_prefix('-') {
        Some(d) => (true, d),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let sign = if neg { -1 } else { 1 };
    if let Some(hex) = digits
        .strip_prefix("0x")
        .or_else(|| digits.strip_prefix("0X"))
    {
        return i64::from_str_radix(hex, 16)
            .ok()
            .map(|v| Tok::Int(sign * v));
    }
    if let Ok(v) = digits.parse::<i64>() {
        return Some(Tok::Int(sign * v));
    }
    digits
        .parse::<f64>()
        .ok()
        .filter(|f| f.is_finite())
        .map(|v| Tok::Float(if neg { -v } else { v }))
}

fn is_ident_char(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(src: &str) -> Vec<Tok> {
        lex(src).unwrap().into_iter().map(|t| t.kind).collect()
    }

    #[test]
    fn trim_markers_remove_surrounding_whitespace() {
        assert_eq!(
            kinds("a  \n {{- .x -}} \n b"),
            vec![
                Tok::Text("a".into()),
                Tok::Open,
                Tok::Field(vec!["x".into()]),
                Tok::Close,
                Tok::Text("b".into()),
            ]
        );
    }

    #[test]
    fn negative_number_is_not_a_trim_marker() {
        assert_eq!(
            kinds("x {{-3}}"),
            vec![Tok::Text("x ".into()), Tok::Open, Tok::Int(-3), Tok::Close]
        );
    }

    #[test]
    fn lines_are_counted_across_text_and_actions() {
        let toks = lex("a\nb\n{{ .x }}\n{{ .y\n }}").unwrap();
        let lines: Vec<usize> = toks.iter().map(|t| t.line).collect();
        assert_eq!(lines, vec![1, 3, 3, 3, 3, 4, 4, 5]);
    }

    #[test]
    fn comments_vanish_and_can_trim() {
        assert_eq!(
            kinds("a {{- /* hi */ -}} b"),
            vec![Tok::Text("a".into()), Tok::Text("b".into())]
        );
    }

    #[test]
    fn strings_numbers_and_variables() {
        assert_eq!(
            kinds(r#"{{ $i, $v := "a\"b" `r\n` 1.5 0x10 $.x }}"#),
            vec![
                Tok::Open,
                Tok::Var("i".into(), vec![]),
                Tok::Comma,
                Tok::Var("v".into(), vec![]),
                Tok::Declare,
                Tok::Str("a\"b".into()),
                Tok::Str("r\\n".into()),
                Tok::Float(1.5),
                Tok::Int(16),
                Tok::Var("".into(), vec!["x".into()]),
                Tok::Close,
            ]
        );
    }

    #[test]
    fn unclosed_action_names_its_line() {
        let err = lex("a\n\n{{ .x ").unwrap_err();
        assert_eq!(err.line, 3);
        assert!(err.message.contains("unclosed action"));
    }
}
