//! The function library: Go's built-ins plus the Sprig helpers resource types commonly use.
//! Argument order follows Go/Sprig (the piped value comes last).

use serde_json::{Map, Value};

use super::budget::{MAX_OUTPUT, MAX_WIDTH};
use super::value::{compare, display, equal, go_quote, truthy, type_name};

/// Extra functions supplied by the caller (e.g. `componentID`, which needs the resource name).
pub trait Helpers {
    /// Whether `name` is a helper (checked at parse time, so unknown names fail early).
    fn has(&self, name: &str) -> bool;
    /// Calls helper `name`; `None` if it is not one.
    fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>>;
}

/// No extra functions.
pub struct NoHelpers;

impl Helpers for NoHelpers {
    fn has(&self, _: &str) -> bool {
        false
    }
    fn call(&self, _: &str, _: &[Value]) -> Option<Result<Value, String>> {
        None
    }
}

/// Every built-in function name.
pub const BUILTINS: &[&str] = &[
    "and",
    "or",
    "not",
    "eq",
    "ne",
    "lt",
    "le",
    "gt",
    "ge",
    "len",
    "index",
    "print",
    "println",
    "printf",
    "default",
    "empty",
    "coalesce",
    "ternary",
    "quote",
    "squote",
    "toYaml",
    "toJson",
    "indent",
    "nindent",
    "trim",
    "trimPrefix",
    "trimSuffix",
    "lower",
    "upper",
    "replace",
    "join",
    "split",
    "splitList",
    "contains",
    "hasPrefix",
    "hasSuffix",
    "list",
    "dict",
    "hasKey",
    "keys",
    "toString",
    "int",
    "required",
    "fail",
    "has",
];

pub fn is_builtin(name: &str) -> bool {
    BUILTINS.contains(&name)
}

type R = Result<Value, String>;

pub fn call(name: &str, a: &[Value], helpers: &dyn Helpers) -> R {
    if let Some(r) = helpers.call(name, a) {
        return r;
    }
    match name {
        "not" => exact(a, 1).map(|_| Value::Bool(!truthy(&a[0]))),
        "eq" => {
            at_least(a, 2)?;
            Ok(Value::Bool(a[1..].iter().any(|b| equal(&a[0], b))))
        }
        "ne" => exact(a, 2).map(|_| Value::Bool(!equal(&a[0], &a[1]))),
        "lt" => ordered(a, |o| o.is_lt()),
        "le" => ordered(a, |o| o.is_le()),
        "gt" => ordered(a, |o| o.is_gt()),
        "ge" => ordered(a, |o| o.is_ge()),
        "len" => {
            exact(a, 1)?;
            match &a[0] {
                Value::String(s) => Ok(Value::from(s.len())),
                Value::Array(v) => Ok(Value::from(v.len())),
                Value::Object(m) => Ok(Value::from(m.len())),
                Value::Null => Ok(Value::from(0)),
                other => Err(format!("len of {}", type_name(other))),
            }
        }
        "index" => index(a),
        "print" => Ok(Value::from(go_print(a))),
        "println" => Ok(Value::from(
            a.iter().map(display).collect::<Vec<_>>().join(" ") + "\n",
        )),
        "printf" => {
            at_least(a, 1)?;
            let Value::String(fmt) = &a[0] else {
                return Err("format must be a string".into());
            };
            printf(fmt, &a[1..]).map(Value::from)
        }
        "default" => {
            at_least(a, 1)?;
            // `default D V`: V if it is non-empty, else D. `default D` alone gives D.
            Ok(match a.get(1) {
                Some(v) if truthy(v) => v.clone(),
                _ => a[0].clone(),
            })
        }
        "empty" => exact(a, 1).map(|_| Value::Bool(!truthy(&a[0]))),
        "coalesce" => Ok(a.iter().find(|v| truthy(v)).cloned().unwrap_or(Value::Null)),
        "ternary" => {
            exact(a, 3)?;
            Ok(if truthy(&a[2]) {
                a[0].clone()
            } else {
                a[1].clone()
            })
        }
        "quote" => Ok(Value::from(joined(a, |s| go_quote(&s)))),
        "squote" => Ok(Value::from(joined(a, |s| format!("'{s}'")))),
        "toYaml" => exact(a, 1).and_then(|_| to_yaml(&a[0]).map(Value::from)),
        "toJson" => {
            exact(a, 1)?;
            serde_json::to_string(&a[0])
                .map(Value::from)
                .map_err(|e| e.to_string())
        }
        "indent" => {
            exact(a, 2)?;
            Ok(Value::from(indent(int_arg(&a[0])?, &display(&a[1]))?))
        }
        "nindent" => {
            exact(a, 2)?;
            Ok(Value::from(format!(
                "\n{}",
                indent(int_arg(&a[0])?, &display(&a[1]))?
            )))
        }
        "trim" => str1(a, |s| s.trim().to_string()),
        "lower" => str1(a, |s| s.to_lowercase()),
        "upper" => str1(a, |s| s.to_uppercase()),
        "toString" => str1(a, |s| s.to_string()),
        "trimPrefix" => str2(a, |p, s| s.strip_prefix(p).unwrap_or(s).to_string()),
        "trimSuffix" => str2(a, |p, s| s.strip_suffix(p).unwrap_or(s).to_string()),
        "contains" => bool2(a, |sub, s| s.contains(sub)),
        "hasPrefix" => bool2(a, |p, s| s.starts_with(p)),
        "hasSuffix" => bool2(a, |p, s| s.ends_with(p)),
        "replace" => {
            exact(a, 3)?;
            Ok(Value::from(
                display(&a[2]).replace(&display(&a[0]), &display(&a[1])),
            ))
        }
        "join" => {
            exact(a, 2)?;
            let sep = display(&a[0]);
            match &a[1] {
                Value::Array(items) => Ok(Value::from(
                    items.iter().map(display).collect::<Vec<_>>().join(&sep),
                )),
                Value::Null => Ok(Value::from("")),
                other => Ok(Value::from(display(other))),
            }
        }
        "splitList" | "split" => {
            exact(a, 2)?;
            let (sep, s) = (display(&a[0]), display(&a[1]));
            if name == "split" {
                // Sprig's `split` gives a map {_0: .., _1: ..}.
                let m: Map<String, Value> = s
                    .split(sep.as_str())
                    .enumerate()
                    .map(|(i, p)| (format!("_{i}"), Value::from(p)))
                    .collect();
                return Ok(Value::Object(m));
            }
            Ok(Value::Array(
                s.split(sep.as_str()).map(Value::from).collect(),
            ))
        }
        "list" => Ok(Value::Array(a.to_vec())),
        "has" => {
            // `has NEEDLE LIST` (Sprig): whether the list holds the value.
            exact(a, 2)?;
            match &a[1] {
                Value::Array(items) => Ok(Value::Bool(items.iter().any(|i| equal(i, &a[0])))),
                Value::Null => Ok(Value::Bool(false)),
                other => Err(format!(
                    "second argument must be a list, not {}",
                    type_name(other)
                )),
            }
        }
        "dict" => {
            if !a.len().is_multiple_of(2) {
                return Err("needs an even number of arguments (key value ...)".into());
            }
            Ok(Value::Object(
                a.chunks(2)
                    .map(|kv| (display(&kv[0]), kv[1].clone()))
                    .collect(),
            ))
        }
        "hasKey" => {
            exact(a, 2)?;
            match &a[0] {
                Value::Object(m) => Ok(Value::Bool(m.contains_key(&display(&a[1])))),
                other => Err(format!(
                    "first argument must be a map, not {}",
                    type_name(other)
                )),
            }
        }
        "keys" => {
            exact(a, 1)?;
            match &a[0] {
                Value::Object(m) => Ok(Value::Array(m.keys().cloned().map(Value::from).collect())),
                other => Err(format!("argument must be a map, not {}", type_name(other))),
            }
        }
        "int" => {
            exact(a, 1)?;
            match &a[0] {
                Value::String(s) => s
                    .trim()
                    .parse::<i64>()
                    .map(Value::from)
                    .map_err(|_| format!("{s:?} is not an integer")),
                Value::Bool(b) => Ok(Value::from(i64::from(*b))),
                Value::Null => Ok(Value::from(0)),
                other => int_arg(other).map(Value::from),
            }
        }
        "required" => {
            exact(a, 2)?;
            if !matches!(&a[1], Value::Null) && a[1] != "" {
                Ok(a[1].clone())
            } else {
                Err(display(&a[0]))
            }
        }
        "fail" => Err(go_print(a)),
        other => Err(format!("function \"{other}\" not defined")),
    }
}

fn exact(a: &[Value], n: usize) -> Result<(), String> {
    if a.len() == n {
        Ok(())
    } else {
        Err(format!(
            "wants {n} argument{}, got {}",
            if n == 1 { "" } else { "s" },
            a.len()
        ))
    }
}

fn at_least(a: &[Value], n: usize) -> Result<(), String> {
    if a.len() >= n {
        Ok(())
    } else {
        Err(format!("wants at least {n} arguments, got {}", a.len()))
    }
}

fn ordered(a: &[Value], test: impl Fn(std::cmp::Ordering) -> bool) -> R {
    exact(a, 2)?;
    compare(&a[0], &a[1]).map(|o| Value::Bool(test(o)))
}

fn str1(a: &[Value], f: impl Fn(&str) -> String) -> R {
    exact(a, 1)?;
    Ok(Value::from(f(&display(&a[0]))))
}

fn str2(a: &[Value], f: impl Fn(&str, &str) -> String) -> R {
    exact(a, 2)?;
    Ok(Value::from(f(&display(&a[0]), &display(&a[1]))))
}

fn bool2(a: &[Value], f: impl Fn(&str, &str) -> bool) -> R {
    exact(a, 2)?;
    Ok(Value::Bool(f(&display(&a[0]), &display(&a[1]))))
}

fn joined(a: &[Value], f: impl Fn(String) -> String) -> String {
    a.iter()
        .filter(|v| !v.is_null())
        .map(|v| f(display(v)))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Go's `print`: spaces only between operands when neither is a string.
fn go_print(a: &[Value]) -> String {
    let mut out = String::new();
    for (i, v) in a.iter().enumerate() {
        if i > 0 && !v.is_string() && !a[i - 1].is_string() {
            out.push(' ');
        }
        out.push_str(&display(v));
    }
    out
}

fn int_arg(v: &Value) -> Result<i64, String> {
    match v {
        Value::Number(n) => n
            .as_i64()
            .or_else(|| n.as_f64().map(|f| f as i64))
            .ok_or_else(|| "number out of range".to_string()),
        other => Err(format!("expected a number, got {}", type_name(other))),
    }
}

fn index(a: &[Value]) -> R {
    at_least(a, 1)?;
    let mut cur = a[0].clone();
    for key in &a[1..] {
        cur = match (&cur, key) {
            (Value::Object(m), k) => m.get(&display(k)).cloned().unwrap_or(Value::Null),
            (Value::Array(v), k) => {
                let i = int_arg(k)?;
                usize::try_from(i)
                    .ok()
                    .and_then(|i| v.get(i))
                    .cloned()
                    .ok_or_else(|| format!("index out of range: {i}"))?
            }
            (Value::Null, _) => return Err("index of untyped nil".into()),
            (other, _) => return Err(format!("can't index item of type {}", type_name(other))),
        };
    }
    Ok(cur)
}

fn indent(n: i64, s: &str) -> Result<String, String> {
    let n = usize::try_from(n).unwrap_or(0);
    if n > MAX_WIDTH {
        return Err(format!("{n} exceeds the widest indent, {MAX_WIDTH}"));
    }
    let pad = " ".repeat(n);
    let lines = s.matches('\n').count() + 1;
    if lines.saturating_mul(n).saturating_add(s.len()) > MAX_OUTPUT {
        return Err("the indented text would be too long".into());
    }
    Ok(format!("{pad}{}", s.replace('\n', &format!("\n{pad}"))))
}

/// YAML for a value, without the trailing newline (as Sprig's `toYaml`).
pub fn to_yaml(v: &Value) -> Result<String, String> {
    let s = serde_norway::to_string(v).map_err(|e| e.to_string())?;
    Ok(s.strip_suffix('\n').unwrap_or(&s).to_string())
}

/// A small `printf`: flags `-` and `0`, width, precision, verbs `v s d q t f x %`.
fn printf(fmt: &str, args: &[Value]) -> Result<String, String> {
    let mut out = String::new();
    let mut chars = fmt.chars().peekable();
    let mut next_arg = args.iter();
    while let Some(c) = chars.next() {
        if c != '%' {
            out.push(c);
            continue;
        }
        let (mut left, mut zero) = (false, false);
        while let Some(&f) = chars.peek() {
            match f {
                '-' => left = true,
                '0' => zero = true,
                '+' | ' ' | '#' => {}
                _ => break,
            }
            chars.next();
        }
        let width = take_digits(&mut chars);
        let prec = if chars.peek() == Some(&'.') {
            chars.next();
            Some(take_digits(&mut chars).unwrap_or(0))
        } else {
            None
        };
        if width.max(prec).is_some_and(|w| w > MAX_WIDTH) {
            return Err(format!(
                "width or precision {} exceeds {MAX_WIDTH}",
                width.max(prec).unwrap_or(0)
            ));
        }
        let Some(verb) = chars.next() else {
            out.push_str("%!(NOVERB)");
            break;
        };
        if verb == '%' {
            out.push('%');
            continue;
        }
        let Some(arg) = next_arg.next() else {
            out.push_str(&format!("%!{verb}(MISSING)"));
            continue;
        };
        let body = match verb {
            'v' | 's' => display(arg),
            'q' => go_quote(&display(arg)),
            'd' => int_arg(arg)?.to_string(),
            't' => match arg {
                Value::Bool(b) => b.to_string(),
                other => return Err(format!("%t needs a bool, got {}", type_name(other))),
            },
            'f' => {
                let f = arg
                    .as_f64()
                    .ok_or_else(|| format!("%f needs a number, got {}", type_name(arg)))?;
                format!("{f:.*}", prec.unwrap_or(6))
            }
            'x' => match arg {
                Value::String(s) => s.bytes().map(|b| format!("{b:02x}")).collect(),
                other => format!("{:x}", int_arg(other)?),
            },
            other => return Err(format!("unsupported verb %{other}")),
        };
        let body = match (prec, verb) {
            (Some(p), 's' | 'v') => body.chars().take(p).collect(),
            _ => body,
        };
        out.push_str(&pad(&body, width.unwrap_or(0), left, zero && verb != 's'));
    }
    if next_arg.next().is_some() {
        out.push_str("%!(EXTRA)");
    }
    Ok(out)
}

fn take_digits(chars: &mut std::iter::Peekable<std::str::Chars<'_>>) -> Option<usize> {
    let mut n: Option<usize> = None;
    while let Some(d) = chars.peek().and_then(|c| c.to_digit(10)) {
        n = Some(n.unwrap_or(0).saturating_mul(10).saturating_add(d as usize));
        chars.next();
    }
    n
}

fn pad(body: &str, width: usize, left: bool, zero: bool) -> String {
    let len = body.chars().count();
    if len >= width {
        return body.to_string();
    }
    let fill = width - len;
    if left {
        format!("{body}{}", " ".repeat(fill))
    } else if zero {
        match body.strip_prefix('-') {
            Some(rest) => format!("-{}{rest}", "0".repeat(fill)),
            None => format!("{}{body}", "0".repeat(fill)),
        }
    } else {
        format!("{}{body}", " ".repeat(fill))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn f(name: &str, args: &[Value]) -> R {
        call(name, args, &NoHelpers)
    }

    #[test]
    fn printf_handles_common_verbs() {
        let out = f(
            "printf",
            &[
                json!("%s:%d %q %5.2f|%-4s|%03d %t %%"),
                json!("a"),
                json!(7),
                json!("x"),
                json!(1.23456),
                json!("ab"),
                json!(5),
                json!(true),
            ],
        );
        assert_eq!(out.unwrap(), json!("a:7 \"x\"  1.23|ab  |005 true %"));
    }

    #[test]
    fn default_picks_fallback_only_for_empty_values() {
        assert_eq!(f("default", &[json!("d"), json!("")]).unwrap(), json!("d"));
        assert_eq!(f("default", &[json!("d"), json!("v")]).unwrap(), json!("v"));
        assert_eq!(f("default", &[json!(5), json!(0)]).unwrap(), json!(5));
    }

    #[test]
    fn sprig_string_helpers_take_the_subject_last() {
        assert_eq!(
            f("contains", &[json!("ell"), json!("hello")]).unwrap(),
            json!(true)
        );
        assert_eq!(
            f("hasPrefix", &[json!("he"), json!("hello")]).unwrap(),
            json!(true)
        );
        assert_eq!(
            f("join", &[json!(","), json!(["a", "b"])]).unwrap(),
            json!("a,b")
        );
        assert_eq!(
            f("replace", &[json!("l"), json!("L"), json!("hello")]).unwrap(),
            json!("heLLo")
        );
        assert_eq!(
            f("trimSuffix", &[json!(".log"), json!("a.log")]).unwrap(),
            json!("a")
        );
    }

    #[test]
    fn indent_and_nindent_prefix_every_line() {
        assert_eq!(
            f("indent", &[json!(2), json!("a\nb")]).unwrap(),
            json!("  a\n  b")
        );
        assert_eq!(
            f("nindent", &[json!(2), json!("a")]).unwrap(),
            json!("\n  a")
        );
    }

    #[test]
    fn to_yaml_has_no_trailing_newline() {
        assert_eq!(
            f("toYaml", &[json!({"a": [1, 2]})]).unwrap(),
            json!("a:\n- 1\n- 2")
        );
        assert_eq!(
            f("toJson", &[json!({"a": "b"})]).unwrap(),
            json!("{\"a\":\"b\"}")
        );
    }

    #[test]
    fn index_walks_maps_and_lists() {
        let data = json!({"a": [10, {"b": "x"}]});
        assert_eq!(
            f("index", &[data.clone(), json!("a"), json!(1), json!("b")]).unwrap(),
            json!("x")
        );
        assert_eq!(
            f("index", &[data.clone(), json!("zz")]).unwrap(),
            Value::Null
        );
        assert!(
            f("index", &[data, json!("a"), json!(9)])
                .unwrap_err()
                .contains("out of range")
        );
    }

    #[test]
    fn comparisons_reject_mixed_types() {
        assert_eq!(f("lt", &[json!(1), json!(2)]).unwrap(), json!(true));
        assert_eq!(
            f("eq", &[json!("a"), json!("b"), json!("a")]).unwrap(),
            json!(true)
        );
        assert!(f("gt", &[json!("a"), json!(1)]).is_err());
    }

    #[test]
    fn quote_quotes_each_argument() {
        assert_eq!(
            f("quote", &[json!("a b"), json!(3)]).unwrap(),
            json!("\"a b\" \"3\"")
        );
    }
}
