//! Finds line numbers in YAML text: document boundaries and the line of a path such as
//! `spec.sources[1].parameters`. serde's YAML values carry no positions, so this reads the
//! block-style layout by indentation; flow collections are located by their first line.

use std::collections::HashMap;

use super::problem::Problem;

/// One document of a multi-document stream.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Document<'a> {
    /// 0-based position among the non-empty documents of the stream.
    pub index: usize,
    /// 1-based line of the document's first line in the whole text.
    pub first_line: usize,
    pub text: &'a str,
}

/// Splits on `---` lines; documents holding only comments or blanks are dropped.
pub fn split_documents(text: &str) -> Vec<Document<'_>> {
    let mut docs = Vec::new();
    let mut start = 0;
    let mut first_line = 1;
    let mut offset = 0;
    for (n, line) in text.split_inclusive('\n').enumerate() {
        let bare = line.trim_end();
        let is_sep = bare == "---" || bare.starts_with("--- ") || bare.starts_with("---\t");
        if is_sep {
            push_doc(&mut docs, &text[start..offset], first_line);
            start = offset + line.len();
            first_line = n + 2;
        }
        offset += line.len();
    }
    push_doc(&mut docs, &text[start..], first_line);
    docs
}

fn push_doc<'a>(docs: &mut Vec<Document<'a>>, text: &'a str, first_line: usize) {
    let meaningful = text
        .lines()
        .any(|l| !l.trim().is_empty() && !l.trim_start().starts_with('#'));
    if meaningful {
        docs.push(Document {
            index: docs.len(),
            first_line,
            text,
        });
    }
}

/// Maps YAML paths (`a.b[0].c`) to 1-based lines within one document.
#[derive(Debug, Default)]
pub struct LineIndex {
    lines: HashMap<String, usize>,
}

#[derive(Clone, Copy, PartialEq)]
enum Entry {
    Key,
    Item,
}

impl LineIndex {
    pub fn new(doc: &str) -> Self {
        let mut lines = HashMap::new();
        let mut stack: Vec<(usize, String, Entry)> = Vec::new();
        let mut counters: HashMap<String, usize> = HashMap::new();
        let mut block_scalar_indent: Option<usize> = None;
        for (n, raw) in doc.lines().enumerate() {
            let indent = raw.len() - raw.trim_start_matches(' ').len();
            let content = raw.trim();
            if content.is_empty() || content.starts_with('#') {
                continue;
            }
            if let Some(bi) = block_scalar_indent {
                if indent > bi {
                    continue;
                }
                block_scalar_indent = None;
            }
            let mut ind = indent;
            let mut rest = content;
            loop {
                if let Some(after) = rest.strip_prefix("- ").or((rest == "-").then_some("")) {
                    while stack
                        .last()
                        .is_some_and(|(i, _, e)| *i > ind || (*i == ind && *e == Entry::Item))
                    {
                        stack.pop();
                    }
                    let owner = stack.last().map(|s| s.1.clone()).unwrap_or_default();
                    let counter = counters.entry(owner.clone()).or_insert(0);
                    let path = format!("{owner}[{counter}]");
                    *counter += 1;
                    lines.entry(path.clone()).or_insert(n + 1);
                    stack.push((ind, path, Entry::Item));
                    let skipped = rest.len() - after.len();
                    let after_trim = after.trim_start_matches(' ');
                    ind += skipped + (after.len() - after_trim.len());
                    rest = after_trim;
                    if rest.is_empty() {
                        break;
                    }
                    continue;
                }
                if let Some((key, value)) = split_key(rest) {
                    while stack.last().is_some_and(|(i, _, _)| *i >= ind) {
                        stack.pop();
                    }
                    let parent = stack.last().map(|s| s.1.clone()).unwrap_or_default();
                    let path = if parent.is_empty() {
                        key.to_string()
                    } else {
                        format!("{parent}.{key}")
                    };
                    counters.remove(&path);
                    lines.entry(path.clone()).or_insert(n + 1);
                    stack.push((ind, path, Entry::Key));
                    let v = value.trim();
                    if v.starts_with('|') || v.starts_with('>') {
                        block_scalar_indent = Some(ind);
                    }
                }
                break;
            }
        }
        LineIndex { lines }
    }

    /// The line of `path`, or of its nearest located ancestor.
    pub fn line_of(&self, path: &str) -> Option<usize> {
        let mut p = path;
        loop {
            if let Some(l) = self.lines.get(p) {
                return Some(*l);
            }
            let cut = p.rfind(['.', '['])?;
            p = &p[..cut];
        }
    }
}

/// `key: value` or `key:` at the start of a line; quoted keys are unquoted.
fn split_key(s: &str) -> Option<(&str, &str)> {
    if s.starts_with(['{', '[', '"', '\'']) && !s.starts_with('"') && !s.starts_with('\'') {
        return None;
    }
    let (key, value) = if let Some(q) = s.strip_prefix('"') {
        let end = q.find('"')?;
        let after = q[end + 1..].strip_prefix(':')?;
        (&q[..end], after)
    } else if let Some(q) = s.strip_prefix('\'') {
        let end = q.find('\'')?;
        let after = q[end + 1..].strip_prefix(':')?;
        (&q[..end], after)
    } else {
        let idx = s
            .find(": ")
            .or_else(|| s.ends_with(':').then(|| s.len() - 1))?;
        (&s[..idx], &s[idx + 1..])
    };
    if !value.is_empty() && !value.starts_with(' ') {
        return None;
    }
    Some((key, value))
}

/// Where a document came from, to turn YAML paths into file lines.
#[derive(Debug, Default)]
pub struct Origin {
    pub file: Option<String>,
    /// 1-based line of the document's first line in the file.
    pub first_line: usize,
    index: Option<LineIndex>,
    text: String,
}

impl Origin {
    pub fn new(file: Option<&str>, doc_text: &str, first_line: usize) -> Self {
        Origin {
            file: file.map(str::to_string),
            first_line,
            index: Some(LineIndex::new(doc_text)),
            text: doc_text.to_string(),
        }
    }

    /// No text: problems carry only resource and parameter names.
    pub fn none() -> Self {
        Origin::default()
    }

    /// The file line of a YAML path, if located.
    pub fn line(&self, path: &str) -> Option<usize> {
        let l = self.index.as_ref()?.line_of(path)?;
        Some(self.first_line + l - 1)
    }

    /// The file line of template line `tline` in the block scalar at `path`.
    pub(super) fn template_line(&self, path: &str, tline: usize) -> Option<usize> {
        let l = self.index.as_ref()?.line_of(path)?;
        let key_line = self.text.lines().nth(l - 1)?;
        let is_block = key_line
            .trim_end()
            .rsplit(':')
            .next()
            .is_some_and(|v| v.trim_start().starts_with(['|', '>']));
        let offset = if is_block {
            tline
        } else {
            tline.saturating_sub(1)
        };
        Some(self.first_line + l - 1 + offset)
    }

    /// Fills in file and line for problems that carry a path.
    pub fn place(&self, mut p: Problem) -> Problem {
        if p.file.is_none() {
            p.file.clone_from(&self.file);
        }
        if p.line.is_none()
            && let Some(path) = &p.path
        {
            p.line = self.line(path);
        }
        p
    }
}

/// A serde/YAML error, with its line made absolute.
pub(crate) fn yaml_problem(label: &str, e: &serde_norway::Error, origin: &Origin) -> Problem {
    let mut p = Problem::new(label, strip_location(&e.to_string()));
    if let Some(loc) = e.location() {
        p.line = Some(origin.first_line + loc.line() - 1);
    }
    origin.place(p)
}

/// serde_norway appends "at line N column M"; the problem carries the absolute line instead.
fn strip_location(msg: &str) -> String {
    match msg.rfind(" at line ") {
        Some(i) if msg[i..].contains(" column ") => msg[..i].to_string(),
        _ => msg.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
apiVersion: fleetdeck/v1
kind: Configuration
spec:
  sources:
    - type: hostmetrics
      parameters:
        - {name: a, value: 1}
        - name: b
          value: 2
      processors:
        - type: batch
    - type: filelog
      parameters:
        include: [x]
        script: |
          - type: not a list item
  destinations:
  - type: otlp
";

    #[test]
    fn finds_keys_and_list_items() {
        let idx = LineIndex::new(DOC);
        assert_eq!(idx.line_of("kind"), Some(2));
        assert_eq!(idx.line_of("spec.sources[0]"), Some(5));
        assert_eq!(idx.line_of("spec.sources[0].parameters[1]"), Some(8));
        assert_eq!(idx.line_of("spec.sources[0].parameters[1].value"), Some(9));
        assert_eq!(idx.line_of("spec.sources[0].processors[0].type"), Some(11));
        assert_eq!(idx.line_of("spec.sources[1].parameters.include"), Some(14));
        assert_eq!(idx.line_of("spec.destinations[0]"), Some(18));
        // Block scalar content is not structure.
        assert_eq!(idx.line_of("spec.sources[2]"), Some(4));
    }

    #[test]
    fn unknown_paths_fall_back_to_the_nearest_ancestor() {
        let idx = LineIndex::new(DOC);
        assert_eq!(idx.line_of("spec.sources[1].parameters.nope"), Some(13));
        assert_eq!(idx.line_of("nothing"), None);
    }

    #[test]
    fn documents_keep_their_index_and_first_line() {
        let text = "# header\n---\na: 1\n---\n# only a comment\n---\nb: 2\n";
        let docs = split_documents(text);
        assert_eq!(docs.len(), 2);
        assert_eq!((docs[0].index, docs[0].first_line), (0, 3));
        assert_eq!((docs[1].index, docs[1].first_line), (1, 7));
        assert_eq!(docs[1].text, "b: 2\n");
    }
}
