//! Scenario errors: every one names a file, a 1-based line and column, what is wrong and, where
//! it helps, what was expected; the offending source line rides along for a caret.

use std::fmt;
use std::ops::Range;

/// A scenario that cannot be loaded. Display: `file:line:column: message[; expected …]`, or
/// only the message when the file could not be read at all (line 0).
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{}{message}{}", Position(self), Expected(.expected))]
pub struct ScenarioError {
    /// The file name given to [`super::parse`] (or `<scenario json>` for a trace header).
    pub file: String,
    /// 1-based line; 0 when the file could not be read (no position; `message` names the file).
    pub line: usize,
    /// 1-based column, counted in characters (not bytes) from the start of the line.
    pub column: usize,
    /// What is wrong, e.g. `unknown namespace "NS_MAIL"`.
    pub message: String,
    /// What was expected instead, e.g. `one of NS_ALL, NS_DNS, …, or a number`.
    pub expected: Option<String>,
    /// The text of the offending line (no line terminator), for a caret under `column`.
    pub source_line: Option<String>,
}

struct Position<'a>(&'a ScenarioError);

impl fmt::Display for Position<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0.line {
            0 => Ok(()),
            line => write!(f, "{}:{line}:{}: ", self.0.file, self.0.column),
        }
    }
}

struct Expected<'a>(&'a Option<String>);

impl fmt::Display for Expected<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.0 {
            Some(e) => write!(f, "; expected {e}"),
            None => Ok(()),
        }
    }
}

/// Where a value came from: a byte span of a TOML text, or a path inside a JSON scenario
/// (which has no text of its own).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Loc {
    Span(Range<usize>),
    Path(String),
}

impl Loc {
    pub(crate) fn start(&self) -> Option<usize> {
        match self {
            Loc::Span(r) => Some(r.start),
            Loc::Path(_) => None,
        }
    }
}

/// The text errors point into.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Source<'a> {
    pub file: &'a str,
    /// `None` for JSON scenarios: errors then carry line 1, column 1 and the path in the
    /// message.
    pub text: Option<&'a str>,
}

impl<'a> Source<'a> {
    pub(crate) fn error(
        &self,
        loc: &Loc,
        message: impl Into<String>,
        expected: Option<String>,
    ) -> ScenarioError {
        let message = message.into();
        match (loc, self.text) {
            (Loc::Span(span), Some(text)) => {
                let (line, column, source_line) = position(text, span.start);
                ScenarioError {
                    file: self.file.to_string(),
                    line,
                    column,
                    message,
                    expected,
                    source_line: Some(source_line),
                }
            }
            (Loc::Path(path), _) if !path.is_empty() => ScenarioError {
                file: self.file.to_string(),
                line: 1,
                column: 1,
                message: format!("at {path}: {message}"),
                expected,
                source_line: None,
            },
            _ => ScenarioError {
                file: self.file.to_string(),
                line: 1,
                column: 1,
                message,
                expected,
                source_line: None,
            },
        }
    }

    /// The 1-based line of a location, for "also used at line N" messages.
    pub(crate) fn line_of(&self, loc: &Loc) -> Option<usize> {
        match (loc, self.text) {
            (Loc::Span(span), Some(text)) => Some(position(text, span.start).0),
            _ => None,
        }
    }

    /// " at line N" or "" (JSON has no lines).
    pub(crate) fn at_line(&self, loc: &Loc) -> String {
        match (self.line_of(loc), loc) {
            (Some(line), _) => format!(" at line {line}"),
            (None, Loc::Path(p)) if !p.is_empty() => format!(" at {p}"),
            _ => String::new(),
        }
    }
}

/// 1-based line and character column of byte `offset` (clamped to the text, and moved back to
/// a character boundary), with the text of that line.
pub(crate) fn position(text: &str, offset: usize) -> (usize, usize, String) {
    let mut offset = offset.min(text.len());
    while offset > 0 && !text.is_char_boundary(offset) {
        offset -= 1;
    }
    let before = text.get(..offset).unwrap_or("");
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    let line = before.matches('\n').count() + 1;
    let column = before.get(line_start..).map_or(0, |s| s.chars().count()) + 1;
    let rest = text.get(line_start..).unwrap_or("");
    let line_text = rest.split('\n').next().unwrap_or("");
    let line_text = line_text.strip_suffix('\r').unwrap_or(line_text);
    (line, column, line_text.to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_in_characters() {
        let text = "a = 1\r\nbé = \"x\"\n";
        assert_eq!(position(text, 0), (1, 1, "a = 1".into()));
        assert_eq!(position(text, 4), (1, 5, "a = 1".into()));
        // "bé" is 3 bytes: the '=' after it is at byte 7 + 4 = 11, character column 4.
        assert_eq!(position(text, 11), (2, 4, "bé = \"x\"".into()));
        // Inside the 'é': moved back to its start.
        assert_eq!(position(text, 9), (2, 2, "bé = \"x\"".into()));
        assert_eq!(position(text, 1000), (3, 1, String::new()));
        assert_eq!(position("", 0), (1, 1, String::new()));
    }

    #[test]
    fn display_is_file_line_column_message_expected() {
        let src = Source {
            file: "s.toml",
            text: Some("x = 1\ny = 2\n"),
        };
        let e = src.error(&Loc::Span(6..7), "unknown key `y`", Some("one of x".into()));
        assert_eq!(
            e.to_string(),
            "s.toml:2:1: unknown key `y`; expected one of x"
        );
        assert_eq!(e.source_line.as_deref(), Some("y = 2"));
        let json = Source {
            file: "<scenario json>",
            text: None,
        };
        let e = json.error(&Loc::Path("process[0].name".into()), "bad", None);
        assert_eq!(
            e.to_string(),
            "<scenario json>:1:1: at process[0].name: bad"
        );
    }
}
