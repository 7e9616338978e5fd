//! The REPL's line editor helper: colours input with the shared lexer's token classes (the same
//! classes the language's own tools use), completes names, and says when the input needs another
//! line (an open bracket, or a trailing operator), which the REPL then reads under its
//! continuation prompt.

use std::borrow::Cow;

use ppl_syntax::TokenClass;
use rustyline::completion::Completer;
use rustyline::highlight::{CmdKind, Highlighter};
use rustyline::hint::Hinter;
use rustyline::validate::{ValidationContext, ValidationResult, Validator};
use rustyline::{Helper, Result};

/// Highlighting (when `colour`) and Tab completion for rustyline.
pub struct ReplHelper {
    pub colour: bool,
    /// The names the model declares so far, for Tab completion; the session refreshes them.
    pub names: std::rc::Rc<std::cell::RefCell<Vec<String>>>,
}

const RESET: &str = "\x1b[0m";

/// The ANSI style of each token class; `None` leaves the text as typed.
fn style(class: TokenClass) -> Option<&'static str> {
    match class {
        TokenClass::Keyword => Some("\x1b[1;34m"),
        TokenClass::Distribution => Some("\x1b[36m"),
        TokenClass::Number => Some("\x1b[33m"),
        TokenClass::String => Some("\x1b[32m"),
        TokenClass::Operator => Some("\x1b[35m"),
        TokenClass::Comment => Some("\x1b[90m"),
        TokenClass::Error => Some("\x1b[4;31m"),
        TokenClass::Name | TokenClass::Punctuation => None,
    }
}

/// `input` with ANSI colours: a `:command` word in bold, model text by token class.
pub fn colourise(input: &str) -> String {
    if super::commands::is_command(input) {
        let trimmed = input.trim_start();
        let leading = &input[..input.len() - trimmed.len()];
        let word_end = trimmed.find(char::is_whitespace).unwrap_or(trimmed.len());
        return format!(
            "{leading}\x1b[1m{}{RESET}{}",
            &trimmed[..word_end],
            &trimmed[word_end..]
        );
    }
    let mut out = String::with_capacity(input.len() * 2);
    let mut written = 0;
    for (class, span) in ppl_syntax::highlight(input) {
        let (start, end) = (span.start.min(input.len()), span.end.min(input.len()));
        if start < written || !input.is_char_boundary(start) || !input.is_char_boundary(end) {
            continue;
        }
        out.push_str(&input[written..start]);
        match style(class) {
            Some(code) => {
                out.push_str(code);
                out.push_str(&input[start..end]);
                out.push_str(RESET);
            }
            None => out.push_str(&input[start..end]),
        }
        written = end;
    }
    out.push_str(&input[written..]);
    out
}

/// Whether rustyline should read another line before handing `input` over: never for a
/// `:command`; a blank continuation line ends the input whatever is open (the way out of an
/// unbalanced bracket, also in scripts); otherwise while a bracket is open or the input ends in
/// an operator.
pub fn needs_more(input: &str) -> bool {
    // A `:command` on a fresh line always acts, even under an unfinished statement (which it
    // abandons), so a user stuck in an open bracket can always `:reset` or `:quit`.
    let last_line = input.rsplit('\n').next().unwrap_or(input);
    if super::commands::is_command(input) || super::commands::is_command(last_line.trim()) {
        return false;
    }
    let ends_in_blank_line = input
        .rsplit_once('\n')
        .is_some_and(|(_, last)| last.trim().is_empty());
    !ends_in_blank_line && ppl_syntax::needs_more_input(input)
}

impl Highlighter for ReplHelper {
    fn highlight<'l>(&self, line: &'l str, _pos: usize) -> Cow<'l, str> {
        if self.colour {
            Cow::Owned(colourise(line))
        } else {
            Cow::Borrowed(line)
        }
    }

    fn highlight_prompt<'b, 's: 'b, 'p: 'b>(
        &'s self,
        prompt: &'p str,
        _default: bool,
    ) -> Cow<'b, str> {
        if self.colour {
            Cow::Owned(format!("\x1b[1;32m{prompt}{RESET}"))
        } else {
            Cow::Borrowed(prompt)
        }
    }

    fn highlight_char(&self, _line: &str, _pos: usize, _kind: CmdKind) -> bool {
        // Every edit can change a token's class (`Normal` becomes a distribution at `(`).
        self.colour
    }
}

/// Every line is accepted as typed: the REPL gathers an unfinished statement itself, line by
/// line, so that each further line is read under its own continuation prompt (rustyline's
/// multi-line editing shows the prompt on the first line only).
impl Validator for ReplHelper {
    fn validate(&self, _context: &mut ValidationContext) -> Result<ValidationResult> {
        Ok(ValidationResult::Valid(None))
    }
}

impl Completer for ReplHelper {
    type Candidate = String;

    /// Tab completes `:commands` at the start of a line, and elsewhere the names the model
    /// declares, the distributions and the built-in functions.
    fn complete(
        &self,
        line: &str,
        pos: usize,
        _context: &rustyline::Context<'_>,
    ) -> Result<(usize, Vec<String>)> {
        let before = &line[..pos.min(line.len())];
        let start = before
            .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_' || c == ':'))
            .map_or(0, |i| i + 1);
        let word = &before[start..];
        if word.is_empty() {
            return Ok((pos, Vec::new()));
        }
        let mut candidates: Vec<String> = if let Some(command) = word.strip_prefix(':') {
            super::commands::COMMANDS
                .iter()
                .filter(|(name, ..)| name.starts_with(command))
                .map(|(name, ..)| format!(":{name}"))
                .collect()
        } else {
            let names = self.names.borrow();
            names
                .iter()
                .map(String::as_str)
                .chain(ppl_dist::catalog::families().iter().map(|f| f.name))
                .chain(ppl_ir::Builtin::ALL.iter().map(|b| b.name()))
                .chain(ppl_ir::Method::ALL.iter().map(|m| m.name()))
                .filter(|candidate| candidate.starts_with(word) && *candidate != word)
                .map(str::to_string)
                .collect()
        };
        candidates.sort();
        candidates.dedup();
        Ok((start, candidates))
    }
}

impl Hinter for ReplHelper {
    type Hint = String;
}

impl Helper for ReplHelper {}

#[cfg(test)]
mod tests {
    use super::*;

    fn strip(text: &str) -> String {
        let mut out = String::new();
        let mut chars = text.chars();
        while let Some(c) = chars.next() {
            if c == '\x1b' {
                for c in chars.by_ref() {
                    if c == 'm' {
                        break;
                    }
                }
            } else {
                out.push(c);
            }
        }
        out
    }

    #[test]
    fn colouring_keeps_the_text_and_marks_token_classes() {
        for input in [
            "param mu: real[K]   # a comment",
            "x ~ Normal(mu[z], sigma[z]) + 1.5",
            ":load  examples/gmm.model",
            "data \"x.csv\"",
            "é ~ $",
            "",
        ] {
            assert_eq!(strip(&colourise(input)), input);
        }
        let coloured = colourise("param mu: real\nmu ~ Normal(0, 1)");
        assert!(coloured.contains("\x1b[1;34mparam\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[36mNormal\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[33m0\x1b[0m"), "{coloured:?}");
        assert!(coloured.contains("\x1b[35m~\x1b[0m"), "{coloured:?}");
        assert!(colourise(":run nuts").starts_with("\x1b[1m:run\x1b[0m"));
    }

    #[test]
    fn continuation_follows_brackets_and_operators() {
        assert!(needs_more("x ~ Normal(mu,"));
        assert!(needs_more("let a = 1 +"));
        assert!(needs_more("for i in 1..N {\n  x[i] ~ Normal(0, 1)"));
        assert!(!needs_more("for i in 1..N {\n  x[i] ~ Normal(0, 1)\n}"));
        assert!(!needs_more("x ~ Normal(mu, 1)"));
        assert!(!needs_more(":load dir/"));
        assert!(
            !needs_more("x ~ Normal(mu,\n"),
            "a blank line ends the input"
        );
    }
}
