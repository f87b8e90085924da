//! Errors rendered for a person: the offending line quoted, the column marked.
//!
//! ```text
//! error: unknown namespace "NS_MAIL"; expected one of NS_ALL, NS_DNS, …, or a number
//!   --> demo.toml:14:15
//!    |
//! 14 |   { op = "lookup", namespace = "NS_MAIL", name = "alice@example.com" },
//!    |                                ^^^^^^^^^
//! ```

use nspsim_runtime::scenario::ScenarioError;

/// At most this many characters of a source line are quoted, around the column.
pub const MAX_QUOTED_LINE: usize = 80;

/// A scenario error with its source line and a caret under the column. A file that could not
/// be read (line 0) has no position to show. Long lines are quoted in part, around the column.
pub fn scenario_error(e: &ScenarioError) -> String {
    let mut out = format!("error: {}", e.message);
    if let Some(expected) = &e.expected {
        out.push_str(&format!("; expected {expected}"));
    }
    out.push('\n');
    if e.line == 0 {
        return out;
    }
    out.push_str(&format!("  --> {}:{}:{}\n", e.file, e.line, e.column));
    if let Some(src) = &e.source_line {
        let gutter = e.line.to_string().len();
        let pad = " ".repeat(gutter);
        let (src, col) = window(src, e.column.saturating_sub(1));
        let src = src.as_str();
        let width = underline_width(src, col);
        out.push_str(&format!(
            "{pad} |\n{} | {src}\n{pad} | {}{}\n",
            e.line,
            " ".repeat(col),
            "^".repeat(width)
        ));
    }
    out
}

/// At most [`MAX_QUOTED_LINE`] characters of `src` around character `col`, with `…` where
/// cut, and the column within them.
fn window(src: &str, col: usize) -> (String, usize) {
    let chars: Vec<char> = src.chars().collect();
    if chars.len() <= MAX_QUOTED_LINE {
        return (src.to_string(), col);
    }
    let start = col
        .saturating_sub(MAX_QUOTED_LINE / 4)
        .min(chars.len() - MAX_QUOTED_LINE);
    let end = start + MAX_QUOTED_LINE;
    let mut out = String::new();
    let mut col = col - start.min(col);
    if start > 0 {
        out.push('…');
        col += 1;
    }
    out.extend(&chars[start..end]);
    if end < chars.len() {
        out.push('…');
    }
    (out, col)
}

/// The width of the token starting at `col`: a quoted string, or a run of word characters.
fn underline_width(src: &str, col: usize) -> usize {
    let rest: Vec<char> = src.chars().skip(col).collect();
    match rest.first() {
        Some('"') => rest
            .iter()
            .skip(1)
            .position(|c| *c == '"')
            .map_or(1, |i| i + 2),
        Some(_) => rest
            .iter()
            .take_while(|c| c.is_alphanumeric() || matches!(c, '_' | '-' | '.' | ':'))
            .count()
            .max(1),
        None => 1,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_caret_sits_under_the_column() {
        let e = ScenarioError {
            file: "demo.toml".into(),
            line: 14,
            column: 32,
            message: "unknown namespace \"NS_MAIL\"".into(),
            expected: Some("one of NS_EMAIL".into()),
            source_line: Some(
                "  { op = \"lookup\", namespace = \"NS_MAIL\", name = \"a\" },".into(),
            ),
        };
        let text = scenario_error(&e);
        assert_eq!(
            text,
            "error: unknown namespace \"NS_MAIL\"; expected one of NS_EMAIL\n  --> demo.toml:14:32\n   |\n14 |   { op = \"lookup\", namespace = \"NS_MAIL\", name = \"a\" },\n   |                                ^^^^^^^^^\n"
        );
    }
}
