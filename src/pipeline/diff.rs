//! Line diff between two rendered configurations (version history in the TUI, API and CLI).

use similar::{ChangeTag, TextDiff};

/// One line of a diff.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DiffLine {
    Same(String),
    Added(String),
    Removed(String),
}

impl DiffLine {
    /// The line without its newline.
    pub fn text(&self) -> &str {
        match self {
            DiffLine::Same(s) | DiffLine::Added(s) | DiffLine::Removed(s) => s,
        }
    }

    /// `' '`, `'+'` or `'-'`, as in a unified diff.
    pub fn marker(&self) -> char {
        match self {
            DiffLine::Same(_) => ' ',
            DiffLine::Added(_) => '+',
            DiffLine::Removed(_) => '-',
        }
    }
}

/// Every line of `old` and `new`, marked as kept, added or removed (Myers diff, removals first).
pub fn diff(old: &str, new: &str) -> Vec<DiffLine> {
    TextDiff::from_lines(old, new)
        .iter_all_changes()
        .map(|c| {
            let line = c.value().trim_end_matches(['\n', '\r']).to_string();
            match c.tag() {
                ChangeTag::Equal => DiffLine::Same(line),
                ChangeTag::Insert => DiffLine::Added(line),
                ChangeTag::Delete => DiffLine::Removed(line),
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn marks_changed_lines() {
        let d = diff("a\nb\nc\n", "a\nB\nc\nd\n");
        let shown: Vec<String> = d
            .iter()
            .map(|l| format!("{}{}", l.marker(), l.text()))
            .collect();
        assert_eq!(shown, vec![" a", "-b", "+B", " c", "+d"]);
    }

    #[test]
    fn identical_texts_have_no_changes() {
        assert!(
            diff("x\ny", "x\ny")
                .iter()
                .all(|l| matches!(l, DiffLine::Same(_)))
        );
        assert!(diff("", "").is_empty());
    }
}
