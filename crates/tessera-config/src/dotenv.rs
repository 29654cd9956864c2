//! Reading `.env`: dotenvy parses it; this module reads the file and, when a line does not parse,
//! finds that line's number without keeping any of its text.
//!
//! # Security
//! dotenvy's parse error carries the text of the line it refused (`JWT_SECRET_KEY=hunter2
//! hunter2` gives `Error parsing line: 'hunter2 hunter2'`), and a message printed at start ends up
//! in logs. So its error is never shown: [`read`] reports the file and a line number, computed
//! here, and nothing else.

use std::path::Path;

use zeroize::Zeroizing;

use crate::ConfigError;

/// The entries of the `.env` file at `path`, in file order (none if there is no such file).
///
/// # Errors
/// [`ConfigError::DotEnvUnreadable`] if the file exists but cannot be read;
/// [`ConfigError::DotEnvLine`] with the number of the first line that is not UTF-8 or does not
/// parse.
pub(crate) fn read(path: &Path) -> Result<Vec<(String, String)>, ConfigError> {
    let bytes = match std::fs::read(path) {
        Ok(bytes) => Zeroizing::new(bytes),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::DotEnvUnreadable {
                path: path.to_owned(),
                source,
            })
        }
    };
    let line_error = |line, problem| ConfigError::DotEnvLine {
        path: path.to_owned(),
        line,
        problem,
    };
    let text = std::str::from_utf8(&bytes).map_err(|err| {
        let line = line_number_at(&bytes, err.valid_up_to());
        line_error(line, "is not UTF-8")
    })?;
    // Whatever dotenvy's error says (it quotes the line), only the line's number is kept.
    dotenvy::from_read_iter(text.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|_| line_error(failing_line(text), "does not parse"))
}

/// The number (from 1) of the line that byte `offset` of `bytes` is on.
fn line_number_at(bytes: &[u8], offset: usize) -> usize {
    let before = bytes.get(..offset).unwrap_or(bytes);
    before.iter().filter(|byte| **byte == b'\n').count() + 1
}

/// The number of the line on which the first entry that dotenvy refuses starts.
///
/// dotenvy cuts the text into entries (a line, or several when a quoted value spans them) and
/// parses each one on its own: whether an entry parses depends on its text alone (earlier entries
/// only feed `$VAR` substitution, which never fails). So the first entry that fails when parsed
/// alone is the one the whole file fails on. If none does, which would mean [`entries`] cuts the
/// text differently from dotenvy, the last entry is named: a parse that fails only as a whole
/// fails at the end.
fn failing_line(text: &str) -> usize {
    let entries = entries(text);
    entries
        .iter()
        .find(|(_, entry)| dotenvy::from_read_iter(entry.as_bytes()).any(|item| item.is_err()))
        .or(entries.last())
        .map_or(1, |(line, _)| *line)
}

/// Where a `.env` entry's text stands at the end of a line: the states of dotenvy 0.15's
/// `QuotedLines` reader, which decide whether the next line continues the entry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Quoting {
    /// Outside quotes, after a character that is not whitespace: the entry may end here.
    Complete,
    /// After a `\` outside quotes.
    Escape,
    /// Inside `'...'`.
    Strong,
    /// After a `\` inside `'...'`.
    StrongEscape,
    /// Inside `"..."`.
    Weak,
    /// After a `\` inside `"..."`.
    WeakEscape,
    /// After whitespace outside quotes, where `#` starts a comment.
    WhiteSpace,
    /// In a comment, which lasts to the end of the line: the entry ends with it.
    Comment,
}

impl Quoting {
    /// The state after `line` (one line, with its line break), starting from `self`.
    fn after(mut self, line: &str) -> Quoting {
        for c in line.chars() {
            self = match self {
                Quoting::Comment => return Quoting::Comment,
                Quoting::WhiteSpace if c == '#' => return Quoting::Comment,
                Quoting::Complete | Quoting::WhiteSpace => match c {
                    '\\' => Quoting::Escape,
                    '"' => Quoting::Weak,
                    '\'' => Quoting::Strong,
                    c if self == Quoting::Complete
                        && c.is_whitespace()
                        && c != '\n'
                        && c != '\r' =>
                    {
                        Quoting::WhiteSpace
                    }
                    _ => Quoting::Complete,
                },
                Quoting::Escape => Quoting::Complete,
                Quoting::Weak => match c {
                    '\\' => Quoting::WeakEscape,
                    '"' => Quoting::Complete,
                    _ => Quoting::Weak,
                },
                Quoting::WeakEscape => Quoting::Weak,
                Quoting::Strong => match c {
                    '\\' => Quoting::StrongEscape,
                    '\'' => Quoting::Complete,
                    _ => Quoting::Strong,
                },
                Quoting::StrongEscape => Quoting::Strong,
            };
        }
        self
    }
}

/// `text` cut into entries as dotenvy 0.15 cuts it, each with the number of the line it starts on
/// and its text (line breaks included). An entry is one line, or several while a quote is open; a
/// line whose entry so far starts with `#` is a comment and ends it. A quote still open at the end
/// of the text makes the rest one entry (which dotenvy refuses).
fn entries(text: &str) -> Vec<(usize, &str)> {
    let mut entries = Vec::new();
    let (mut start, mut end, mut first_line) = (0, 0, 1);
    let mut state = Quoting::Complete;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        end += line.len();
        let entry = text.get(start..end).unwrap_or_default();
        if !entry.trim_start().starts_with('#') {
            state = state.after(line);
            if !matches!(state, Quoting::Complete | Quoting::Comment) {
                continue;
            }
        }
        entries.push((first_line, entry));
        (start, first_line, state) = (end, index + 2, Quoting::Complete);
    }
    if let Some(rest) = text.get(start..).filter(|rest| !rest.is_empty()) {
        entries.push((first_line, rest));
    }
    entries
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, reason = "test code")]
    use super::*;

    #[test]
    fn entries_span_the_lines_of_a_quoted_value() {
        let text = "# c\n\nA=\"x\ny\"\nB='p\\'\nq' # note\nC=c\r\nD=\"open\nE=e";
        assert_eq!(
            entries(text),
            vec![
                (1, "# c\n"),
                (2, "\n"),
                (3, "A=\"x\ny\"\n"),
                (5, "B='p\\'\nq' # note\n"),
                (7, "C=c\r\n"),
                (8, "D=\"open\nE=e"),
            ]
        );
        assert_eq!(entries(""), vec![]);
    }

    #[test]
    fn the_failing_entry_is_found_by_its_first_line() {
        assert_eq!(failing_line("A=a\nB=\"x y\nz\" w\nC=c\n"), 2);
        assert_eq!(failing_line("A=\"x y\nz w\"\nB b\n"), 3);
        assert_eq!(failing_line("A=a\nB=\"open\nC=c\n"), 2);
        // Trailing whitespace on a last line without a line break: dotenvy refuses it at the end.
        assert_eq!(failing_line("A=a\nB=b "), 2);
    }
}
