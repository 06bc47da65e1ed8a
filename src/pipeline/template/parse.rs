//! Builds the template tree from tokens. Undefined functions and variables are parse errors,
//! as in Go, so a broken resource type is rejected when it is loaded.

use super::TemplateError;
use super::lex::{Tok, Token};

#[derive(Debug, Clone)]
pub(super) enum Node {
    Text(String),
    Action(Pipe),
    If(Branch),
    With(Branch),
    Range(Branch),
}

/// `if`, `with` and `range`: the pipeline, the body and the `else` part.
#[derive(Debug, Clone)]
pub(super) struct Branch {
    pub pipe: Pipe,
    pub body: Vec<Node>,
    pub otherwise: Vec<Node>,
}

#[derive(Debug, Clone)]
pub(super) struct Pipe {
    pub line: usize,
    /// Variables declared (`:=`) or assigned (`=`) by this pipeline.
    pub vars: Vec<String>,
    pub assign: bool,
    pub cmds: Vec<Cmd>,
}

#[derive(Debug, Clone)]
pub(super) struct Cmd {
    pub args: Vec<Arg>,
}

#[derive(Debug, Clone)]
pub(super) enum Arg {
    /// `.a.b` (empty: the dot itself).
    Field(Vec<String>),
    Var(String, Vec<String>),
    Func(String),
    Str(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Nil,
    /// `( pipeline )` optionally followed by `.field` accesses.
    Sub(Box<Pipe>, Vec<String>),
}

/// Deepest nesting of `if`/`with`/`range` (an `else if` chain counts one level per link)
/// and parentheses. The parser and the executor recurse per level, so without a bound a
/// hostile template could overflow the stack and abort the whole server; real templates
/// nest a handful of levels.
pub(super) const MAX_NESTING: usize = 100;

/// What ended a list of nodes.
enum Stop {
    Eof,
    End,
    Else(usize),
}

pub(super) fn parse(
    tokens: Vec<Token>,
    funcs: &dyn Fn(&str) -> bool,
) -> Result<Vec<Node>, TemplateError> {
    let mut p = Parser {
        toks: tokens,
        pos: 0,
        scopes: vec![vec![String::new()]],
        funcs,
        depth: 0,
    };
    let (nodes, end, line) = p.list()?;
    match end {
        Stop::Eof => Ok(nodes),
        Stop::End => Err(TemplateError::new(line, "unexpected {{end}}")),
        Stop::Else(_) => Err(TemplateError::new(line, "unexpected {{else}}")),
    }
}

struct Parser<'f> {
    toks: Vec<Token>,
    pos: usize,
    /// Variables in scope, innermost last; "" is `$`.
    scopes: Vec<Vec<String>>,
    funcs: &'f dyn Fn(&str) -> bool,
    /// Current nesting, bounded by [`MAX_NESTING`].
    depth: usize,
}

impl Parser<'_> {
    /// Runs `inner` one nesting level deeper, refusing to go past [`MAX_NESTING`].
    fn nested<T>(
        &mut self,
        line: usize,
        inner: impl FnOnce(&mut Self) -> Result<T, TemplateError>,
    ) -> Result<T, TemplateError> {
        if self.depth >= MAX_NESTING {
            return Err(TemplateError::new(
                line,
                format!(
                    "template nests deeper than {MAX_NESTING} levels (if/with/range, else-if chains, parentheses)"
                ),
            ));
        }
        self.depth += 1;
        let result = inner(self);
        self.depth -= 1;
        result
    }

    fn peek(&self) -> Option<&Token> {
        self.toks.get(self.pos)
    }

    fn next(&mut self) -> Option<Token> {
        let t = self.toks.get(self.pos).cloned();
        self.pos += 1;
        t
    }

    fn last_line(&self) -> usize {
        self.toks.last().map_or(1, |t| t.line)
    }

    fn expect_close(&mut self, what: &str) -> Result<(), TemplateError> {
        match self.next() {
            Some(Token {
                kind: Tok::Close, ..
            }) => Ok(()),
            Some(t) => Err(TemplateError::new(
                t.line,
                format!("unexpected {:?} in {what}", t.kind),
            )),
            None => Err(TemplateError::new(
                self.last_line(),
                format!("unclosed {what}"),
            )),
        }
    }

    /// Parses nodes until `{{end}}`, `{{else ...` or the end of input.
    fn list(&mut self) -> Result<(Vec<Node>, Stop, usize), TemplateError> {
        let mut nodes = Vec::new();
        while let Some(tok) = self.next() {
            let line = tok.line;
            match tok.kind {
                Tok::Text(t) => nodes.push(Node::Text(t)),
                Tok::Open => match self.peek().map(|t| t.kind.clone()) {
                    Some(Tok::Ident(kw)) if is_keyword(&kw) => {
                        self.pos += 1;
                        match kw.as_str() {
                            "end" => {
                                self.expect_close("end")?;
                                return Ok((nodes, Stop::End, line));
                            }
                            "else" => return Ok((nodes, Stop::Else(line), line)),
                            "if" => nodes.push(Node::If(self.branch("if", line)?)),
                            "with" => nodes.push(Node::With(self.branch("with", line)?)),
                            "range" => nodes.push(Node::Range(self.branch("range", line)?)),
                            other => {
                                return Err(TemplateError::new(
                                    line,
                                    format!(
                                        "{{{{{other}}}}} is not supported in resource type templates"
                                    ),
                                ));
                            }
                        }
                    }
                    _ => {
                        let pipe = self.pipeline(line, true)?;
                        self.expect_close("action")?;
                        nodes.push(Node::Action(pipe));
                    }
                },
                other => return Err(TemplateError::new(line, format!("unexpected {other:?}"))),
            }
        }
        Ok((nodes, Stop::Eof, self.last_line()))
    }

    /// Parses the rest of `{{if|with|range PIPE}} ... [{{else}} ...] {{end}}`.
    fn branch(&mut self, kw: &str, line: usize) -> Result<Branch, TemplateError> {
        self.nested(line, |p| {
            p.scopes.push(Vec::new());
            let result = p.branch_inner(kw, line);
            p.scopes.pop();
            result
        })
    }

    fn branch_inner(&mut self, kw: &str, line: usize) -> Result<Branch, TemplateError> {
        let pipe = self.pipeline(line, true)?;
        if pipe.cmds.is_empty() {
            return Err(TemplateError::new(line, format!("missing value for {kw}")));
        }
        if kw == "range" && pipe.vars.len() > 2 || kw != "range" && pipe.vars.len() > 1 {
            return Err(TemplateError::new(
                line,
                format!("too many declarations in {kw}"),
            ));
        }
        self.expect_close(kw)?;
        let (body, end, end_line) = self.list()?;
        let otherwise = match end {
            Stop::Eof => {
                return Err(TemplateError::new(
                    line,
                    format!("{{{{{kw}}}}} has no matching {{{{end}}}}"),
                ));
            }
            Stop::End => Vec::new(),
            Stop::Else(else_line) => self.else_part(kw, else_line)?,
        };
        let _ = end_line;
        Ok(Branch {
            pipe,
            body,
            otherwise,
        })
    }

    /// After `{{else`: either `}}` and a plain else-list, or `if`/`with` chaining.
    fn else_part(&mut self, kw: &str, line: usize) -> Result<Vec<Node>, TemplateError> {
        match self.peek().map(|t| t.kind.clone()) {
            Some(Tok::Ident(chain)) if (chain == "if" || chain == "with") && kw != "range" => {
                self.pos += 1;
                // `{{else if x}}...{{end}}` is `{{else}}{{if x}}...{{end}}{{end}}` sharing one end.
                let inner = self.branch(&chain, line)?;
                Ok(vec![if chain == "if" {
                    Node::If(inner)
                } else {
                    Node::With(inner)
                }])
            }
            _ => {
                self.expect_close("else")?;
                self.scopes.push(Vec::new());
                let parsed = self.list();
                self.scopes.pop();
                let (nodes, end, end_line) = parsed?;
                match end {
                    Stop::End => Ok(nodes),
                    Stop::Else(l) => Err(TemplateError::new(
                        l,
                        format!("more than one {{{{else}}}} in {kw}"),
                    )),
                    Stop::Eof => Err(TemplateError::new(
                        end_line,
                        format!("{{{{{kw}}}}} has no matching {{{{end}}}}"),
                    )),
                }
            }
        }
    }

    /// Parses `[$a[, $b] :=|=] cmd | cmd ...` up to (not including) `}}` or `)`.
    fn pipeline(&mut self, line: usize, allow_decl: bool) -> Result<Pipe, TemplateError> {
        let mut pipe = Pipe {
            line,
            vars: Vec::new(),
            assign: false,
            cmds: Vec::new(),
        };
        if allow_decl {
            self.declarations(&mut pipe)?;
        }
        loop {
            let cmd = self.command()?;
            if cmd.args.is_empty() {
                if !pipe.cmds.is_empty() || !pipe.vars.is_empty() {
                    return Err(TemplateError::new(
                        self.line_here(),
                        "missing command in pipeline",
                    ));
                }
                break;
            }
            pipe.cmds.push(cmd);
            match self.peek().map(|t| &t.kind) {
                Some(Tok::Pipe) => {
                    self.pos += 1;
                }
                _ => break,
            }
        }
        // Declared variables come into scope after their pipeline.
        if !pipe.assign
            && let Some(scope) = self.scopes.last_mut()
        {
            scope.extend(pipe.vars.iter().cloned());
        }
        Ok(pipe)
    }

    fn line_here(&self) -> usize {
        self.peek().map_or_else(|| self.last_line(), |t| t.line)
    }

    fn declarations(&mut self, pipe: &mut Pipe) -> Result<(), TemplateError> {
        let save = self.pos;
        let mut vars = Vec::new();
        loop {
            match self.peek().map(|t| t.kind.clone()) {
                Some(Tok::Var(name, fields)) if fields.is_empty() && !name.is_empty() => {
                    self.pos += 1;
                    vars.push(name);
                }
                _ => break,
            }
            match self.peek().map(|t| t.kind.clone()) {
                Some(Tok::Comma) => self.pos += 1,
                Some(Tok::Declare) => {
                    self.pos += 1;
                    pipe.vars = vars;
                    return Ok(());
                }
                Some(Tok::Assign) => {
                    let line = self.line_here();
                    self.pos += 1;
                    for v in &vars {
                        if !self.var_defined(v) {
                            return Err(TemplateError::new(
                                line,
                                format!("undefined variable \"${v}\""),
                            ));
                        }
                    }
                    pipe.vars = vars;
                    pipe.assign = true;
                    return Ok(());
                }
                _ => break,
            }
        }
        self.pos = save;
        Ok(())
    }

    fn var_defined(&self, name: &str) -> bool {
        self.scopes.iter().any(|s| s.iter().any(|v| v == name))
    }

    fn command(&mut self) -> Result<Cmd, TemplateError> {
        let mut args = Vec::new();
        while let Some(tok) = self.peek().cloned() {
            let arg = match tok.kind {
                Tok::Close | Tok::Pipe | Tok::RParen => break,
                Tok::Field(f) => Arg::Field(f),
                Tok::Var(name, fields) => {
                    if !self.var_defined(&name) {
                        return Err(TemplateError::new(
                            tok.line,
                            format!("undefined variable \"${name}\""),
                        ));
                    }
                    Arg::Var(name, fields)
                }
                Tok::Str(s) => Arg::Str(s),
                Tok::Int(i) => Arg::Int(i),
                Tok::Float(f) => Arg::Float(f),
                Tok::Ident(name) => match name.as_str() {
                    "true" => Arg::Bool(true),
                    "false" => Arg::Bool(false),
                    "nil" => Arg::Nil,
                    _ if (self.funcs)(&name) => Arg::Func(name),
                    _ => {
                        return Err(TemplateError::new(
                            tok.line,
                            format!("function \"{name}\" not defined"),
                        ));
                    }
                },
                Tok::LParen => {
                    self.pos += 1;
                    let inner = self.nested(tok.line, |p| p.pipeline(tok.line, false))?;
                    match self.next() {
                        Some(Token {
                            kind: Tok::RParen, ..
                        }) => {}
                        _ => return Err(TemplateError::new(tok.line, "unclosed left paren")),
                    }
                    let fields = match self.peek().map(|t| t.kind.clone()) {
                        Some(Tok::Field(f)) => {
                            self.pos += 1;
                            f
                        }
                        _ => Vec::new(),
                    };
                    args.push(Arg::Sub(Box::new(inner), fields));
                    continue;
                }
                other => {
                    return Err(TemplateError::new(
                        tok.line,
                        format!("unexpected {other:?} in command"),
                    ));
                }
            };
            self.pos += 1;
            args.push(arg);
        }
        Ok(Cmd { args })
    }
}

fn is_keyword(s: &str) -> bool {
    matches!(
        s,
        "if" | "else"
            | "end"
            | "range"
            | "with"
            | "define"
            | "template"
            | "block"
            | "break"
            | "continue"
    )
}
