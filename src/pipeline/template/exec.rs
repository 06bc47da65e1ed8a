//! Executes a parsed template against a JSON-like value, with `missingkey=error` semantics.

use serde_json::Value;

use super::TemplateError;
use super::budget::{MAX_DEPTH, MAX_OUTPUT, MAX_RANGE, MAX_STEPS};
use super::funcs::{self, Helpers};
use super::parse::{Arg, Branch, Cmd, Node, Pipe};
use super::value::{display, truthy, type_name};

pub(super) struct Exec<'a> {
    pub out: String,
    vars: Vec<(String, Value)>,
    helpers: &'a dyn Helpers,
    depth: usize,
    steps: u64,
}

impl<'a> Exec<'a> {
    pub fn new(root: &Value, helpers: &'a dyn Helpers) -> Self {
        Exec {
            out: String::new(),
            vars: vec![(String::new(), root.clone())],
            helpers,
            depth: 0,
            steps: 0,
        }
    }

    /// Counts one step of work against the budget.
    fn tick(&mut self, line: usize) -> Result<(), TemplateError> {
        self.steps += 1;
        if self.steps > MAX_STEPS {
            return Err(TemplateError::new(
                line,
                format!("template takes more than {MAX_STEPS} steps"),
            ));
        }
        Ok(())
    }

    fn emit(&mut self, s: &str, line: usize) -> Result<(), TemplateError> {
        if self.out.len().saturating_add(s.len()) > MAX_OUTPUT {
            return Err(too_long(line));
        }
        self.out.push_str(s);
        Ok(())
    }

    pub fn nodes(&mut self, nodes: &[Node], dot: &Value) -> Result<(), TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(TemplateError::new(0, "template nests too deeply"));
        }
        let mark = self.vars.len();
        let result = nodes.iter().try_for_each(|n| self.node(n, dot));
        self.vars.truncate(mark);
        self.depth -= 1;
        result
    }

    fn node(&mut self, node: &Node, dot: &Value) -> Result<(), TemplateError> {
        match node {
            Node::Text(t) => {
                self.tick(0)?;
                self.emit(t, 0)
            }
            Node::Action(pipe) => {
                self.tick(pipe.line)?;
                let v = self.pipe(pipe, dot)?;
                if pipe.vars.is_empty() {
                    self.emit(&display(&v), pipe.line)?;
                }
                Ok(())
            }
            Node::If(b) => self.conditional(b, dot, false),
            Node::With(b) => self.conditional(b, dot, true),
            Node::Range(b) => self.range(b, dot),
        }
    }

    /// `if` keeps the dot, `with` moves it to the value.
    fn conditional(&mut self, b: &Branch, dot: &Value, with: bool) -> Result<(), TemplateError> {
        let mark = self.vars.len();
        let v = self.pipe(&b.pipe, dot)?;
        let result = if truthy(&v) {
            self.nodes(&b.body, if with { &v } else { dot })
        } else {
            self.nodes(&b.otherwise, dot)
        };
        self.vars.truncate(mark);
        result
    }

    fn range(&mut self, b: &Branch, dot: &Value) -> Result<(), TemplateError> {
        let mark = self.vars.len();
        // The range pipeline's own declarations are bound per element, not to its value.
        let decl = Pipe {
            vars: Vec::new(),
            ..b.pipe.clone()
        };
        let v = self.pipe(&decl, dot)?;
        let items: Vec<(Value, Value)> = match &v {
            Value::Array(a) => a
                .iter()
                .enumerate()
                .map(|(i, x)| (Value::from(i), x.clone()))
                .collect(),
            Value::Object(m) => m
                .iter()
                .map(|(k, x)| (Value::from(k.clone()), x.clone()))
                .collect(),
            Value::Null => Vec::new(),
            Value::Number(n) if n.as_i64().is_some() => {
                let n = n.as_i64().unwrap_or(0);
                if n > MAX_RANGE {
                    return Err(TemplateError::new(
                        b.pipe.line,
                        format!("range over {n} exceeds the limit of {MAX_RANGE} iterations"),
                    ));
                }
                (0..n).map(|i| (Value::from(i), Value::from(i))).collect()
            }
            other => {
                return Err(TemplateError::new(
                    b.pipe.line,
                    format!("range can't iterate over {}", type_name(other)),
                ));
            }
        };
        let result = if items.is_empty() {
            self.nodes(&b.otherwise, dot)
        } else {
            items.into_iter().try_for_each(|(k, x)| {
                self.tick(b.pipe.line)?;
                match b.pipe.vars.as_slice() {
                    [one] => self.vars.push((one.clone(), x.clone())),
                    [key, val] => {
                        self.vars.push((key.clone(), k));
                        self.vars.push((val.clone(), x.clone()));
                    }
                    _ => {}
                }
                let r = self.nodes(&b.body, &x);
                self.vars.truncate(mark);
                r
            })
        };
        self.vars.truncate(mark);
        result
    }

    fn pipe(&mut self, pipe: &Pipe, dot: &Value) -> Result<Value, TemplateError> {
        self.depth += 1;
        if self.depth > MAX_DEPTH {
            return Err(TemplateError::new(pipe.line, "template nests too deeply"));
        }
        let mut value: Option<Value> = None;
        for cmd in &pipe.cmds {
            value = Some(self.command(cmd, dot, value, pipe.line)?);
        }
        self.depth -= 1;
        let value = value.unwrap_or(Value::Null);
        for name in &pipe.vars {
            if pipe.assign {
                if let Some(slot) = self.vars.iter_mut().rev().find(|(n, _)| n == name) {
                    slot.1 = value.clone();
                }
            } else {
                self.vars.push((name.clone(), value.clone()));
            }
        }
        Ok(value)
    }

    fn command(
        &mut self,
        cmd: &Cmd,
        dot: &Value,
        piped: Option<Value>,
        line: usize,
    ) -> Result<Value, TemplateError> {
        let Some((first, rest)) = cmd.args.split_first() else {
            return Err(TemplateError::new(line, "empty command"));
        };
        if let Arg::Func(name) = first {
            return self.call(name, rest, dot, piped, line);
        }
        if !rest.is_empty() || piped.is_some() {
            return Err(TemplateError::new(
                line,
                format!("can't give argument to non-function {}", describe(first)),
            ));
        }
        self.arg(first, dot, line)
    }

    fn call(
        &mut self,
        name: &str,
        args: &[Arg],
        dot: &Value,
        piped: Option<Value>,
        line: usize,
    ) -> Result<Value, TemplateError> {
        // `and` / `or` stop at the first deciding argument, like Go 1.18+.
        if name == "and" || name == "or" {
            let want = name == "or";
            let count = args.len() + usize::from(piped.is_some());
            if count == 0 {
                return Err(TemplateError::new(
                    line,
                    format!("{name}: needs at least 1 argument"),
                ));
            }
            let mut last = Value::Null;
            for a in args {
                last = self.arg(a, dot, line)?;
                if truthy(&last) == want {
                    return Ok(last);
                }
            }
            return Ok(piped.unwrap_or(last));
        }
        let mut values = args
            .iter()
            .map(|a| self.arg(a, dot, line))
            .collect::<Result<Vec<_>, _>>()?;
        values.extend(piped);
        self.tick(line)?;
        let v = funcs::call(name, &values, self.helpers)
            .map_err(|m| TemplateError::new(line, format!("{name}: {m}")))?;
        // A value that could never be written out is refused where it is made.
        if matches!(&v, Value::String(s) if s.len() > MAX_OUTPUT) {
            return Err(too_long(line));
        }
        Ok(v)
    }

    fn arg(&mut self, arg: &Arg, dot: &Value, line: usize) -> Result<Value, TemplateError> {
        match arg {
            Arg::Field(path) => field_chain(dot, path, line),
            Arg::Var(name, path) => {
                let Some((_, v)) = self.vars.iter().rev().find(|(n, _)| n == name) else {
                    return Err(TemplateError::new(
                        line,
                        format!("undefined variable \"${name}\""),
                    ));
                };
                let v = v.clone();
                field_chain(&v, path, line)
            }
            Arg::Func(name) => self.call(name, &[], dot, None, line),
            Arg::Str(s) => Ok(Value::from(s.clone())),
            Arg::Int(i) => Ok(Value::from(*i)),
            Arg::Float(f) => {
                Ok(serde_json::Number::from_f64(*f).map_or(Value::Null, Value::Number))
            }
            Arg::Bool(b) => Ok(Value::Bool(*b)),
            Arg::Nil => Ok(Value::Null),
            Arg::Sub(pipe, path) => {
                let v = self.pipe(pipe, dot)?;
                field_chain(&v, path, line)
            }
        }
    }
}

fn too_long(line: usize) -> TemplateError {
    TemplateError::new(
        line,
        format!("template output exceeds {} KiB", MAX_OUTPUT >> 10),
    )
}

/// Follows `.a.b.c`; a missing map key is an error (`missingkey=error`).
fn field_chain(start: &Value, path: &[String], line: usize) -> Result<Value, TemplateError> {
    let mut cur = start;
    for (i, name) in path.iter().enumerate() {
        let shown = format!(".{}", path[..=i].join("."));
        cur = match cur {
            Value::Object(m) => m.get(name).ok_or_else(|| {
                TemplateError::new(
                    line,
                    format!("map has no entry for key \"{name}\" (evaluating {shown})"),
                )
            })?,
            Value::Null => {
                return Err(TemplateError::new(
                    line,
                    format!("nil value evaluating {shown}"),
                ));
            }
            other => {
                return Err(TemplateError::new(
                    line,
                    format!(
                        "can't evaluate field {name} in type {} ({shown})",
                        type_name(other)
                    ),
                ));
            }
        };
    }
    Ok(cur.clone())
}

fn describe(arg: &Arg) -> String {
    match arg {
        Arg::Field(p) => format!(".{}", p.join(".")),
        Arg::Var(n, p) if p.is_empty() => format!("${n}"),
        Arg::Var(n, p) => format!("${n}.{}", p.join(".")),
        Arg::Str(s) => format!("{s:?}"),
        Arg::Int(i) => i.to_string(),
        Arg::Float(f) => f.to_string(),
        Arg::Bool(b) => b.to_string(),
        Arg::Nil => "nil".into(),
        Arg::Func(n) => n.clone(),
        Arg::Sub(..) => "(...)".into(),
    }
}
