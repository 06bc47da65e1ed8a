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

/// A database URL (`postgres://user:pw@host/db`, or the `key=value` form) as logs and
/// errors show it: the password, wherever it is given, becomes `***`.
pub fn url_without_password(url: &str) -> String {
    let mut out = url.to_string();
    // user:password@ in the authority; the query may hold an '@' of its own.
    if let Some(scheme_end) = out.find("://") {
        let start = scheme_end + 3;
        let authority_end = out[start..]
            .find(['?', '#'])
            .map_or(out.len(), |i| start + i);
        if let Some(at) = out[start..authority_end].rfind('@').map(|i| start + i)
            && let Some(colon) = out[start..at].find(':').map(|i| start + i)
        {
            out.replace_range(colon + 1..at, "***");
        }
    }
    // password=… as a query parameter or a key=value pair.
    let mut from = 0;
    while let Some(i) = out[from..].find("password=").map(|i| from + i) {
        let value = i + "password=".len();
        let end = out[value..]
            .find(['&', ' ', '\t', '\n'])
            .map_or(out.len(), |j| value + j);
        out.replace_range(value..end, "***");
        from = value + 3;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::url_without_password;

    #[test]
    fn database_urls_lose_their_passwords_wherever_they_are() {
        for (given, shown) in [
            (
                "postgres://fleet:s3cr@t@db:5432/fleet",
                "postgres://fleet:***@db:5432/fleet",
            ),
            (
                "postgresql://fleet@db/fleet?password=x&sslmode=disable",
                "postgresql://fleet@db/fleet?password=***&sslmode=disable",
            ),
            (
                "host=db user=fleet password=x dbname=f",
                "host=db user=fleet password=*** dbname=f",
            ),
            (
                "postgres://db/fleet?application_name=a@b",
                "postgres://db/fleet?application_name=a@b",
            ),
        ] {
            assert_eq!(url_without_password(given), shown);
        }
    }
}
