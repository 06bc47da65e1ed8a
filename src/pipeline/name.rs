//! The one rule for resource names (types, destinations, configurations, processors) and
//! how a name is shown in messages.

/// The longest name a resource may have: it travels in URLs, tables and file names.
pub const MAX_NAME: usize = 128;

/// The one rule for resource names (types, destinations, configurations, processors),
/// as shown to users.
pub const NAME_RULE: &str =
    "1 to 128 letters, digits, '_', '-' or '.', starting with a letter or digit";

/// A name as messages show it: whole up to twice the longest valid name, else cut, so a
/// name of 100,000 characters does not become an error message of that size.
pub fn cut_name(name: &str) -> std::borrow::Cow<'_, str> {
    const SHOWN: usize = 2 * MAX_NAME;
    if name.len() <= SHOWN {
        return name.into();
    }
    let mut end = SHOWN;
    while !name.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}… ({} bytes)", &name[..end], name.len()).into()
}

/// Whether `name` follows [`NAME_RULE`]. A name that starts with a letter or digit is
/// never `.` or `..`, which a URL would collapse.
pub fn valid_resource_name(name: &str) -> bool {
    name.len() <= MAX_NAME
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-' || c == '.')
}

#[cfg(test)]
mod name_rule {
    use super::*;

    #[test]
    fn names_are_short_plain_and_never_a_path_step() {
        for good in [
            "web-tier",
            "a",
            "edge.v2",
            "k8s_nodes",
            &"a".repeat(MAX_NAME),
        ] {
            assert!(valid_resource_name(good), "{good}");
        }
        for bad in [
            "",
            ".",
            "..",
            ".hidden",
            "-dash",
            "_under",
            "a b",
            "a/b",
            "é",
            &"a".repeat(MAX_NAME + 1),
        ] {
            assert!(!valid_resource_name(bad), "{bad:?}");
        }
        assert_eq!(cut_name("web"), "web");
        let long = "a".repeat(100_000);
        let shown = cut_name(&long);
        assert!(
            shown.len() < 300 && shown.ends_with("(100000 bytes)"),
            "{shown}"
        );
    }
}
