//! One problem found while loading, validating or rendering, naming what and where.

use std::fmt;

/// A user-facing problem: which file and line (when known), which resource, which parameter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// The file the resource came from, if it came from a file.
    pub file: Option<String>,
    /// 1-based line in that file, when it could be located.
    pub line: Option<usize>,
    /// e.g. `SourceType hostmetrics`, `Configuration web-tier: sources[0] (hostmetrics)`.
    pub resource: String,
    pub parameter: Option<String>,
    /// Where in the YAML document the problem is (`spec.sources[0].parameters`), used to find the
    /// line once the text is known.
    pub path: Option<String>,
    pub message: String,
}

impl Problem {
    pub fn new(resource: impl Into<String>, message: impl Into<String>) -> Self {
        Problem {
            file: None,
            line: None,
            resource: resource.into(),
            parameter: None,
            path: None,
            message: message.into(),
        }
    }

    pub fn parameter(mut self, name: impl Into<String>) -> Self {
        self.parameter = Some(name.into());
        self
    }

    pub fn at(mut self, path: impl Into<String>) -> Self {
        self.path = Some(path.into());
        self
    }

    pub fn line(mut self, line: usize) -> Self {
        self.line = Some(line);
        self
    }

    pub fn file(mut self, file: impl Into<String>) -> Self {
        self.file = Some(file.into());
        self
    }
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match (&self.file, self.line) {
            (Some(file), Some(line)) => write!(f, "{file}:{line}: ")?,
            (Some(file), None) => write!(f, "{file}: ")?,
            (None, Some(line)) => write!(f, "line {line}: ")?,
            (None, None) => {}
        }
        if !self.resource.is_empty() {
            write!(f, "{}: ", self.resource)?;
        }
        if let Some(p) = &self.parameter {
            write!(f, "parameter {p}: ")?;
        }
        f.write_str(&self.message)
    }
}

/// Several problems, shown one per line.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct Problems(pub Vec<Problem>);

impl fmt::Display for Problems {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, p) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("\n")?;
            }
            write!(f, "{p}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_file_line_resource_and_parameter() {
        let p = Problem::new("SourceType redis", "expected int, got string")
            .parameter("port")
            .file("types/redis.yaml")
            .line(12);
        assert_eq!(
            p.to_string(),
            "types/redis.yaml:12: SourceType redis: parameter port: expected int, got string"
        );
    }
}
