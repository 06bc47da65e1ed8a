//! A focused Go `text/template` engine for resource-type templates.
//!
//! Why not a crate: `gtmpl` 0.7 (the one Rust port) reports no line for execution errors and
//! returns an empty value for a missing map key, while BindPlane types rely on
//! `missingkey=error`. This engine covers what resource types use: `{{ .param }}`, `if / else if /
//! else / end`, `range` (with `$i, $v :=` and `else`), `with`, variables, pipes, parenthesised
//! sub-pipelines, `{{-`/`-}}` trimming, comments, and the functions in [`funcs::BUILTINS`].
//! `define`/`template`/`block` are rejected with a clear error. Every error names the template line.

mod budget;
mod exec;
mod funcs;
mod lex;
mod parse;
mod value;

use serde_json::Value;

pub use funcs::to_yaml;
pub use funcs::{BUILTINS, Helpers, NoHelpers};
pub use value::{display, truthy};

/// A template error with the 1-based template line it happened on (0 when not tied to a line).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("line {line}: {message}")]
pub struct TemplateError {
    pub line: usize,
    pub message: String,
}

impl TemplateError {
    fn new(line: usize, message: impl Into<String>) -> Self {
        TemplateError {
            line,
            message: message.into(),
        }
    }
}

/// A parsed template, ready to execute many times.
#[derive(Debug, Clone)]
pub struct Template {
    nodes: Vec<parse::Node>,
}

impl Template {
    /// Parses `src`; functions other than the built-ins must be named by `helpers`.
    pub fn parse(src: &str, helpers: &dyn Helpers) -> Result<Self, TemplateError> {
        let tokens = lex::lex(src)?;
        let known = |name: &str| funcs::is_builtin(name) || helpers.has(name);
        let nodes = parse::parse(tokens, &known)?;
        Ok(Template { nodes })
    }

    /// Executes the template with `data` as both `.` and `$`.
    pub fn render(&self, data: &Value, helpers: &dyn Helpers) -> Result<String, TemplateError> {
        let mut exec = exec::Exec::new(data, helpers);
        exec.nodes(&self.nodes, data)?;
        Ok(exec.out)
    }
}

/// Parses and renders in one go (tests and one-off use).
pub fn render_str(src: &str, data: &Value) -> Result<String, TemplateError> {
    Template::parse(src, &NoHelpers)?.render(data, &NoHelpers)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn r(src: &str, data: Value) -> String {
        match render_str(src, &data) {
            Ok(s) => s,
            Err(e) => panic!("{src:?} failed: {e}"),
        }
    }

    fn err(src: &str, data: Value) -> TemplateError {
        match render_str(src, &data) {
            Ok(s) => panic!("{src:?} should fail, rendered {s:?}"),
            Err(e) => e,
        }
    }

    /// Templates that would take the server's memory or time with them fail as errors
    /// naming their line, whatever the data.
    #[test]
    fn runaway_templates_are_errors_not_aborts() {
        for (src, data, says) in [
            (
                "{{ range 100000000000 }}x{{ end }}",
                json!({}),
                "limit of 10000 iterations",
            ),
            (
                "a\n{{ range .n }}x{{ end }}",
                json!({"n": 100000000000_i64}),
                "limit of 10000",
            ),
            (
                "{{ indent 100000000000 \"x\" }}",
                json!({}),
                "widest indent",
            ),
            (
                "{{ printf \"%99999999999d\" 1 }}",
                json!({}),
                "width or precision",
            ),
            (
                "{{ printf \"%.99999999999f\" 1.5 }}",
                json!({}),
                "width or precision",
            ),
            (
                "{{ range 1000 }}{{ $.s }}{{ end }}",
                json!({"s": "x".repeat(2048)}),
                "exceeds 1024 KiB",
            ),
            (
                "{{ range 10000 }}{{ range 10000 }}{{ if false }}x{{ end }}{{ end }}{{ end }}",
                json!({}),
                "steps",
            ),
            (
                "{{ indent 1000 .s }}",
                json!({"s": "\n".repeat(2000)}),
                "too long",
            ),
        ] {
            let e = err(src, data);
            assert!(e.message.contains(says), "{src}: {e}");
            assert!(e.line >= 1, "{src}: names a line: {e}");
        }
        // Within the budgets all is as before.
        assert_eq!(r("{{ range 3 }}{{ . }}{{ end }}", json!({})), "012");
        assert_eq!(r("{{ printf \"%5d|\" 42 }}", json!({})), "   42|");
    }

    #[test]
    fn fields_and_nested_fields() {
        assert_eq!(
            r("x={{ .a }} y={{ .b.c }}", json!({"a": 1, "b": {"c": "z"}})),
            "x=1 y=z"
        );
    }

    #[test]
    fn missing_key_is_an_error_with_its_line() {
        let e = err("a\nb\n  {{ .nope }}", json!({"a": 1}));
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("map has no entry for key \"nope\""),
            "{e}"
        );
    }

    #[test]
    fn if_else_if_else_chain() {
        let t = "{{ if eq .p \"grpc\" }}G{{ else if eq .p \"http\" }}H{{ else }}O{{ end }}";
        assert_eq!(r(t, json!({"p": "grpc"})), "G");
        assert_eq!(r(t, json!({"p": "http"})), "H");
        assert_eq!(r(t, json!({"p": "x"})), "O");
    }

    #[test]
    fn range_with_index_value_and_else() {
        let t = "{{ range $i, $v := .l }}{{ $i }}={{ $v }};{{ else }}none{{ end }}";
        assert_eq!(r(t, json!({"l": ["a", "b"]})), "0=a;1=b;");
        assert_eq!(r(t, json!({"l": []})), "none");
        assert_eq!(
            r(
                "{{ range $k, $v := .m }}{{ $k }}:{{ $v }} {{ end }}",
                json!({"m": {"b": 2, "a": 1}})
            ),
            "a:1 b:2 "
        );
        assert_eq!(
            r("{{ range .l }}[{{ . }}]{{ end }}", json!({"l": [1, 2]})),
            "[1][2]"
        );
    }

    #[test]
    fn dollar_reaches_the_root_inside_range_and_with() {
        let t =
            "{{ range .l }}{{ . }}{{ $.sep }}{{ end }}{{ with .w }}{{ .x }}{{ $.sep }}{{ end }}";
        assert_eq!(
            r(t, json!({"l": [1, 2], "sep": ",", "w": {"x": "X"}})),
            "1,2,X,"
        );
    }

    #[test]
    fn with_else_runs_for_empty_values() {
        assert_eq!(
            r("{{ with .a }}A{{ else }}E{{ end }}", json!({"a": ""})),
            "E"
        );
        assert_eq!(r("{{ with .a }}{{ . }}{{ end }}", json!({"a": "v"})), "v");
    }

    #[test]
    fn variables_declare_and_assign_with_scope() {
        let t = "{{ $x := 1 }}{{ if true }}{{ $x = 2 }}{{ end }}{{ $x }}";
        assert_eq!(r(t, json!({})), "2");
        let e = Template::parse("{{ if true }}{{ $y := 1 }}{{ end }}{{ $y }}", &NoHelpers);
        assert!(e.unwrap_err().message.contains("undefined variable"));
    }

    #[test]
    fn pipes_pass_the_value_as_the_last_argument() {
        assert_eq!(
            r("{{ .a | default \"d\" | quote }}", json!({"a": ""})),
            "\"d\""
        );
        assert_eq!(
            r("{{ .a | printf \"%s-%s\" \"x\" }}", json!({"a": "y"})),
            "x-y"
        );
        assert_eq!(
            r("{{ (index .m \"k\").v }}", json!({"m": {"k": {"v": 9}}})),
            "9"
        );
    }

    #[test]
    fn logic_functions_short_circuit() {
        // The second operand would fail on a missing key if it were evaluated.
        assert_eq!(
            r(
                "{{ if and .off .missing }}y{{ else }}n{{ end }}",
                json!({"off": false})
            ),
            "n"
        );
        assert_eq!(r("{{ or .on .missing }}", json!({"on": "first"})), "first");
        assert_eq!(r("{{ not .on }}", json!({"on": true})), "false");
    }

    #[test]
    fn whitespace_trimming_builds_clean_yaml() {
        let t = "- otlp:\n    protocols:\n    {{- if .grpc }}\n      grpc: {}\n    {{- end }}\n    {{- if .http }}\n      http: {}\n    {{- end }}\n";
        assert_eq!(
            r(t, json!({"grpc": true, "http": false})),
            "- otlp:\n    protocols:\n      grpc: {}\n"
        );
    }

    #[test]
    fn to_yaml_with_nindent_embeds_structures() {
        let t = "a:{{ .m | toYaml | nindent 2 }}";
        assert_eq!(
            r(t, json!({"m": {"k": "v", "l": [1]}})),
            "a:\n  k: v\n  l:\n  - 1"
        );
    }

    #[test]
    fn unknown_function_fails_at_parse_time_with_line() {
        let e = Template::parse("ok\n{{ frobnicate .x }}", &NoHelpers).unwrap_err();
        assert_eq!(e.line, 2);
        assert!(e.message.contains("function \"frobnicate\" not defined"));
    }

    #[test]
    fn structural_errors_name_lines() {
        let e = Template::parse("{{ if .a }}\nx\n", &NoHelpers).unwrap_err();
        assert!(e.message.contains("no matching {{end}}"), "{e}");
        assert_eq!(e.line, 1);
        let e = Template::parse("a\n{{ end }}", &NoHelpers).unwrap_err();
        assert_eq!((e.line, e.message.as_str()), (2, "unexpected {{end}}"));
        let e = Template::parse("{{ define \"x\" }}{{ end }}", &NoHelpers).unwrap_err();
        assert!(e.message.contains("not supported"));
    }

    #[test]
    fn runtime_function_errors_name_function_and_line() {
        let e = err("\n\n{{ lt .a \"x\" }}", json!({"a": 1}));
        assert_eq!(e.line, 3);
        assert!(e.message.starts_with("lt: incompatible types"), "{e}");
    }

    #[test]
    fn field_on_a_scalar_is_an_error() {
        let e = err("{{ .a.b }}", json!({"a": "s"}));
        assert!(
            e.message.contains("can't evaluate field b in type string"),
            "{e}"
        );
    }

    #[test]
    fn len_contains_and_comparisons_in_conditions() {
        let t = "{{ if gt (len .l) 1 }}many{{ end }}{{ if contains \"x\" .s }}+x{{ end }}";
        assert_eq!(r(t, json!({"l": [1, 2], "s": "axb"})), "many+x");
    }

    #[test]
    fn helpers_are_callable_and_known_at_parse_time() {
        struct Prefix;
        impl Helpers for Prefix {
            fn has(&self, name: &str) -> bool {
                name == "componentID"
            }
            fn call(&self, name: &str, args: &[Value]) -> Option<Result<Value, String>> {
                (name == "componentID")
                    .then(|| Ok(Value::from(format!("{}/src0", display(&args[0])))))
            }
        }
        let t = Template::parse("{{ componentID \"file_storage\" }}", &Prefix).unwrap();
        assert_eq!(t.render(&json!({}), &Prefix).unwrap(), "file_storage/src0");
    }
}
