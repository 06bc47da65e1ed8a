//! How secrets show in `Debug` output, and so in any log line that formats a value with
//! `?`: whether one is set, never what it is.

/// A secret as `Debug` shows it.
pub fn redact(secret: &str) -> &'static str {
    if secret.is_empty() {
        "\"\""
    } else {
        "<redacted>"
    }
}

/// [`redact`] for optional secrets.
pub fn redact_opt(secret: &Option<String>) -> &'static str {
    match secret {
        None => "None",
        Some(s) if s.is_empty() => "Some(\"\")",
        Some(_) => "Some(<redacted>)",
    }
}
