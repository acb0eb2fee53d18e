//! Diagnostics: plain serializable structs shared by the CLI and the browser page.

use std::sync::Arc;

use serde::{Serialize, Serializer};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Error,
    Warning,
}

/// A position in a script: 1-based line and column; 0 when unknown.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Serialize, Default)]
pub struct SourcePos {
    /// Shared by every position in the same file: a large plan has one per resource and
    /// per recorded field, and a copy of the name each took an allocation.
    #[serde(serialize_with = "serialize_str")]
    pub file: Arc<str>,
    pub line: u32,
    pub column: u32,
}

fn serialize_str<S: Serializer>(s: &str, to: S) -> Result<S::Ok, S::Error> {
    to.serialize_str(s)
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Diagnostic {
    pub severity: Severity,
    /// A stable id for findings that have one (lints); `None` for script errors.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    pub message: String,
    pub file: String,
    pub line: u32,
    pub column: u32,
    /// The script line the position points into, for the caret display.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub source_line: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
    /// A one-line fix, for lint findings.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
}

/// Longest message a diagnostic carries: a message that quotes a huge input (a parameter
/// value, a script string) is cut in the middle rather than echoing megabytes.
pub const MAX_MESSAGE: usize = 1000;

fn clip(message: String) -> String {
    if message.len() <= MAX_MESSAGE {
        return message;
    }
    let mut head = MAX_MESSAGE * 3 / 4;
    while !message.is_char_boundary(head) {
        head -= 1;
    }
    let mut tail = message.len() - MAX_MESSAGE / 5;
    while !message.is_char_boundary(tail) {
        tail += 1;
    }
    format!(
        "{} … ({} characters left out) … {}",
        &message[..head],
        tail - head,
        &message[tail..]
    )
}

impl Diagnostic {
    pub fn error(message: impl Into<String>, pos: &SourcePos) -> Self {
        Self::new(Severity::Error, message, pos)
    }

    pub fn warning(message: impl Into<String>, pos: &SourcePos) -> Self {
        Self::new(Severity::Warning, message, pos)
    }

    fn new(severity: Severity, message: impl Into<String>, pos: &SourcePos) -> Self {
        Diagnostic {
            severity,
            code: None,
            message: clip(message.into()),
            file: pos.file.to_string(),
            line: pos.line,
            column: pos.column,
            source_line: None,
            notes: Vec::new(),
            fix: None,
        }
    }

    /// A lint finding: a stable id and a one-line fix (also shown as a note).
    pub fn finding(
        severity: Severity,
        id: &str,
        message: impl Into<String>,
        fix: impl Into<String>,
        pos: &SourcePos,
    ) -> Self {
        let fix = fix.into();
        let mut d = Self::new(severity, message, pos);
        d.code = Some(id.to_string());
        d.notes.push(format!("fix: {fix}"));
        d.fix = Some(fix);
        d
    }

    pub fn with_code(mut self, id: &str) -> Self {
        self.code = Some(id.to_string());
        self
    }

    pub fn with_note(mut self, note: impl Into<String>) -> Self {
        self.notes.push(note.into());
        self
    }

    /// Renders the diagnostic as people read compiler errors:
    ///
    /// ```text
    /// error: security group 'master': expected a CIDR like "10.0.0.0/16", got "10.0.0.0/33"
    ///   --> scripts/deploy.rhai:23:11
    ///    |
    /// 23 | master_sg.ingress(tcp(8080), "10.0.0.0/33");
    ///    |           ^
    ///    = note: ...
    /// ```
    pub fn render(&self) -> String {
        let label = match self.severity {
            Severity::Error => "error",
            Severity::Warning => "warning",
        };
        let mut out = match &self.code {
            Some(code) => format!("{label}[{code}]: {}\n", self.message),
            None => format!("{label}: {}\n", self.message),
        };
        if self.line > 0 {
            let gutter = self.line.to_string().len();
            let pad = " ".repeat(gutter);
            out.push_str(&format!(
                "{pad}--> {}:{}:{}\n",
                self.file, self.line, self.column
            ));
            if let Some(src) = &self.source_line {
                let src = src.trim_end();
                out.push_str(&format!("{pad} |\n{} | {src}\n", self.line));
                // Keep tabs so the caret lines up under the same column.
                let lead: String = src
                    .chars()
                    .take(self.column.saturating_sub(1) as usize)
                    .map(|c| if c == '\t' { '\t' } else { ' ' })
                    .collect();
                out.push_str(&format!("{pad} | {lead}^\n"));
            }
            for note in &self.notes {
                out.push_str(&format!("{pad} = note: {note}\n"));
            }
        } else {
            if !self.file.is_empty() {
                out.push_str(&format!("  --> {}\n", self.file));
            }
            for note in &self.notes {
                out.push_str(&format!("  = note: {note}\n"));
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caret_sits_under_the_column() {
        let pos = SourcePos {
            file: "x.rhai".into(),
            line: 3,
            column: 5,
        };
        let mut d = Diagnostic::error("bad thing", &pos);
        d.source_line = Some("let abc = 1;".into());
        assert_eq!(
            d.render(),
            "error: bad thing\n --> x.rhai:3:5\n  |\n3 | let abc = 1;\n  |     ^\n"
        );
    }
}

#[cfg(test)]
mod clip_tests {
    use super::*;

    #[test]
    fn huge_messages_are_cut_in_the_middle() {
        let pos = SourcePos::default();
        let long = format!(
            "parameter 'x': expected an integer, got {:?}",
            "9".repeat(5_000_000)
        );
        let d = Diagnostic::error(long, &pos);
        assert!(d.message.len() < MAX_MESSAGE + 100, "{}", d.message.len());
        assert!(
            d.message
                .starts_with("parameter 'x': expected an integer, got \"999")
        );
        assert!(d.message.contains("characters left out") && d.message.ends_with("999\""));
        let short = Diagnostic::error("a short message é", &pos);
        assert_eq!(short.message, "a short message é");
        let wide = Diagnostic::error("é".repeat(2000), &pos);
        assert!(wide.message.contains("characters left out"));
    }
}
