//! Statement splitting (LANGUAGE.md §1 "Lexical rules"): the token stream of a whole file is cut
//! into statements at top-level newlines and `;`, with `for` bodies in `{ }` split one level down.
//! Spans are byte ranges of the original text, so the statement parser works on slices and every
//! offset stays exact.
//!
//! Lexical problems (unknown characters, `1.`, unterminated strings, brackets) are found here,
//! one diagnostic per statement, and such a statement is not handed to the grammar.

use crate::ast::Span;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::lexer::{Token, tokens};

/// The largest nesting estimate of a statement: twice the open brackets plus the operators
/// chained in the current operand at each level (a comma starts a new operand, so long vectors
/// are fine). Later passes recurse over the tree, so the limit keeps every recursion shallow;
/// measured: 100 brackets deep (estimate 200) parses in a 2 MiB debug-build thread and 140
/// overflows it, so 100 leaves room for the passes after parsing. Models need a tenth of it.
pub const MAX_NESTING: usize = 100;
/// The deepest nesting of `for` bodies.
pub const MAX_BLOCK_NESTING: usize = 64;

/// A statement as cut from the file.
#[derive(Clone, Debug, PartialEq)]
pub enum Chunk {
    /// A statement without a body. `bad` means a diagnostic has already been given for it.
    Simple { span: Span, bad: bool },
    /// `HEADER { BODY }`: a `for` loop if all goes well.
    Block {
        /// The text before `{`; empty (start == end) if there is none.
        header: Span,
        header_bad: bool,
        open: Span,
        body: Vec<Chunk>,
        /// `None` when the `{` is never closed (already diagnosed).
        close: Option<Span>,
    },
}

impl Chunk {
    pub fn span(&self) -> Span {
        match self {
            Chunk::Simple { span, .. } => *span,
            Chunk::Block {
                header,
                open,
                body,
                close,
                ..
            } => {
                let start = if header.start < header.end {
                    header.start
                } else {
                    open.start
                };
                let end = close
                    .map(|c| c.end)
                    .or_else(|| body.last().map(|b| b.span().end))
                    .unwrap_or(open.end);
                Span::new(start, end.max(open.end))
            }
        }
    }
}

/// Splits `source` into statements; the diagnostics are the lexical and bracket problems.
pub fn split(source: &str) -> (Vec<Chunk>, Vec<Diagnostic>) {
    let tokens = tokens(source);
    let limit = tokens.len();
    let mut splitter = Splitter {
        source,
        tokens,
        position: 0,
        limit,
        block_depth: 0,
        diagnostics: Vec::new(),
    };
    let (chunks, _) = splitter.block(false);
    (chunks, splitter.diagnostics)
}

struct Splitter<'s> {
    source: &'s str,
    tokens: Vec<(Token, Span)>,
    position: usize,
    /// Token index where the current region ends (the end of the file, or the resumption point
    /// after an unclosed `{`).
    limit: usize,
    block_depth: usize,
    diagnostics: Vec<Diagnostic>,
}

/// One open bracket while scanning a statement.
struct Open {
    token: Token,
    span: Span,
    /// Operators seen in the current comma-separated item at this level.
    operators: usize,
}

impl Splitter<'_> {
    /// Statements up to a `}` (returned) or the region's end (`None`).
    fn block(&mut self, in_braces: bool) -> (Vec<Chunk>, Option<Span>) {
        let mut chunks = Vec::new();
        loop {
            while self.position < self.limit
                && matches!(
                    self.tokens[self.position].0,
                    Token::Newline | Token::Semicolon | Token::Comment
                )
            {
                self.position += 1;
            }
            if self.position >= self.limit {
                return (chunks, None);
            }
            let (token, span) = self.tokens[self.position];
            if token == Token::RightBrace {
                self.position += 1;
                if in_braces {
                    return (chunks, Some(span));
                }
                self.diagnostics.push(
                    Diagnostic::error(codes::UNMATCHED_BRACKET, span, "`}` has no matching `{`")
                        .with_label("nothing to close here"),
                );
                continue;
            }
            chunks.push(self.statement());
        }
    }

    fn statement(&mut self) -> Chunk {
        let first = self.position;
        let mut stack: Vec<Open> = Vec::new();
        let mut top_level_operators = 0usize;
        let mut error: Option<Diagnostic> = None;
        let mut last_significant: Option<usize> = None;
        let set_error = |error: &mut Option<Diagnostic>, diagnostic: Diagnostic| {
            if error.is_none() {
                *error = Some(diagnostic);
            }
        };
        while self.position < self.limit {
            let (token, span) = self.tokens[self.position];
            match token {
                Token::Newline | Token::Semicolon if stack.is_empty() => {
                    let continues = token == Token::Newline
                        && last_significant.is_some_and(|i| self.tokens[i].0.continues_line());
                    if !continues {
                        break;
                    }
                }
                Token::LeftParen | Token::LeftBracket => {
                    stack.push(Open {
                        token,
                        span,
                        operators: 0,
                    });
                    let nesting = 2 * stack.len()
                        + top_level_operators
                        + stack.iter().map(|o| o.operators).sum::<usize>();
                    if nesting > MAX_NESTING {
                        set_error(&mut error, too_deep(span));
                    }
                }
                Token::RightParen | Token::RightBracket => {
                    let opener = if token == Token::RightParen {
                        Token::LeftParen
                    } else {
                        Token::LeftBracket
                    };
                    match stack.iter().rposition(|o| o.token == opener) {
                        Some(found) => {
                            if let Some(inner) = stack.get(found + 1) {
                                set_error(
                                    &mut error,
                                    unclosed(inner.token, inner.span)
                                        .with_secondary(span, "closed here first"),
                                );
                            }
                            stack.truncate(found);
                        }
                        None => set_error(
                            &mut error,
                            Diagnostic::error(
                                codes::UNMATCHED_BRACKET,
                                span,
                                format!(
                                    "`{}` has no matching `{}`",
                                    self.text(span),
                                    if token == Token::RightParen { "(" } else { "[" }
                                ),
                            )
                            .with_label("nothing to close here"),
                        ),
                    }
                }
                Token::LeftBrace => {
                    if let Some(outer) = stack.first() {
                        set_error(
                            &mut error,
                            unclosed(outer.token, outer.span)
                                .with_secondary(span, "still open at this `{`"),
                        );
                    }
                    return self.block_statement(first, last_significant, error);
                }
                Token::RightBrace => {
                    if let Some(inner) = stack.last() {
                        set_error(
                            &mut error,
                            unclosed(inner.token, inner.span)
                                .with_secondary(span, "still open at this `}`"),
                        );
                        stack.clear();
                    }
                    break;
                }
                Token::Comma => match stack.last_mut() {
                    Some(open) => open.operators = 0,
                    None => top_level_operators = 0,
                },
                Token::Unknown => set_error(&mut error, self.unknown_character(span)),
                Token::Dot => set_error(&mut error, self.lone_dot(span)),
                Token::UnterminatedString => set_error(
                    &mut error,
                    Diagnostic::error(
                        codes::UNTERMINATED_STRING,
                        span,
                        "this string is not closed on its line",
                    )
                    .with_label("no closing `\"` before the end of the line")
                    .with_hint(
                        "a string is `\"...\"` on one line; write `\\\"` for a quote inside it",
                    ),
                ),
                _ if token.continues_line() && !matches!(token, Token::Comma) => {
                    match stack.last_mut() {
                        Some(open) => open.operators += 1,
                        None => top_level_operators += 1,
                    }
                    let nesting = 2 * stack.len()
                        + top_level_operators
                        + stack.iter().map(|o| o.operators).sum::<usize>();
                    if nesting > MAX_NESTING {
                        set_error(&mut error, too_deep(span));
                    }
                }
                _ => {}
            }
            if !matches!(token, Token::Newline | Token::Comment) {
                last_significant = Some(self.position);
            }
            self.position += 1;
        }
        if let Some(outer) = stack.first() {
            // Open at the end of the region: report it and resume at the next line that starts
            // in column 1, so later statements are still checked.
            set_error(&mut error, unclosed(outer.token, outer.span));
            let opener_index = self
                .tokens
                .iter()
                .position(|(_, s)| *s == outer.span)
                .unwrap_or(first);
            self.position = self.resume_after(opener_index);
            last_significant = (first..self.position)
                .rev()
                .find(|&i| !matches!(self.tokens[i].0, Token::Newline | Token::Comment));
        }
        let end = last_significant.unwrap_or(first);
        let span = self.tokens[first].1.to(self.tokens[end].1);
        let bad = error.is_some();
        if let Some(diagnostic) = error {
            self.diagnostics.push(diagnostic);
        }
        Chunk::Simple { span, bad }
    }

    /// The statement continues with `{` at `self.position`: split its body.
    fn block_statement(
        &mut self,
        first: usize,
        last_significant: Option<usize>,
        header_error: Option<Diagnostic>,
    ) -> Chunk {
        let brace_index = self.position;
        let open = self.tokens[brace_index].1;
        let header = match last_significant {
            Some(last) if brace_index > first => self.tokens[first].1.to(self.tokens[last].1),
            _ => Span::new(open.start, open.start),
        };
        let header_bad = header_error.is_some();
        if let Some(diagnostic) = header_error {
            self.diagnostics.push(diagnostic);
        }
        self.position += 1;
        if self.block_depth >= MAX_BLOCK_NESTING {
            return self.skip_too_deep_block(header, open);
        }
        let mark = self.diagnostics.len();
        self.block_depth += 1;
        let (mut body, mut close) = self.block(true);
        if close.is_none() {
            let resume = self.resume_after(brace_index);
            if resume < self.limit {
                // Re-split the body up to the resumption point only.
                self.diagnostics.truncate(mark);
                let saved_limit = self.limit;
                self.position = brace_index + 1;
                self.limit = resume;
                body = self.block(true).0;
                self.limit = saved_limit;
                self.position = resume;
            }
            self.diagnostics
                .push(unclosed(Token::LeftBrace, open).with_hint(
                    "close the body of the `for` with `}`; statements after it resume at the next line that starts in column 1",
                ));
            close = None;
        } else {
            self.complain_about_text_after_brace();
        }
        self.block_depth -= 1;
        Chunk::Block {
            header,
            header_bad,
            open,
            body,
            close,
        }
    }

    /// Bodies nested deeper than `MAX_BLOCK_NESTING`: skip to the matching `}` without recursing.
    fn skip_too_deep_block(&mut self, header: Span, open: Span) -> Chunk {
        self.diagnostics.push(too_deep(open));
        let mut depth = 1usize;
        let mut close = None;
        while self.position < self.limit {
            let (token, span) = self.tokens[self.position];
            self.position += 1;
            match token {
                Token::LeftBrace => depth += 1,
                Token::RightBrace => {
                    depth -= 1;
                    if depth == 0 {
                        close = Some(span);
                        break;
                    }
                }
                _ => {}
            }
        }
        Chunk::Block {
            header,
            header_bad: true,
            open,
            body: Vec::new(),
            close: close.or(Some(open)),
        }
    }

    /// After `}` the line must end (or a `;` or another `}` follow).
    fn complain_about_text_after_brace(&mut self) {
        if let Some(&(token, span)) = self.tokens.get(self.position)
            && self.position < self.limit
            && !matches!(
                token,
                Token::Newline | Token::Semicolon | Token::Comment | Token::RightBrace
            )
        {
            self.diagnostics.push(
                Diagnostic::error(
                    codes::SYNTAX,
                    span,
                    format!(
                        "expected a new line or `;` after `}}`, found `{}`",
                        self.text(span)
                    ),
                )
                .with_hint("start the next statement on its own line"),
            );
        }
    }

    /// The index of the first token after `index`'s line that starts a line in column 1 (not a
    /// comment), or the region's end.
    fn resume_after(&self, index: usize) -> usize {
        (index + 1..self.limit)
            .find(|&i| {
                let (token, span) = self.tokens[i];
                !matches!(token, Token::Newline | Token::Comment)
                    && (span.start == 0 || self.source.as_bytes()[span.start - 1] == b'\n')
            })
            .unwrap_or(self.limit)
    }

    fn text(&self, span: Span) -> &str {
        &self.source[span.range()]
    }

    fn unknown_character(&self, span: Span) -> Diagnostic {
        let text = self.text(span);
        let diagnostic = Diagnostic::error(
            codes::UNEXPECTED_CHARACTER,
            span,
            format!("unexpected character `{}`", text.escape_debug()),
        )
        .with_label("no token starts with this character");
        match text {
            "'" => diagnostic.with_hint("strings use double quotes: `\"...\"`"),
            "!" => diagnostic.with_hint("`!=` is the only operator with `!`"),
            "&" | "|" => diagnostic.with_hint(
                "ppl has no `&&` or `||`: comparisons give 0/1, so multiply them for `and`",
            ),
            "%" => diagnostic.with_hint("ppl has no `%` operator"),
            _ if !text.is_ascii() => {
                diagnostic.with_hint("names are ASCII letters, digits and `_`")
            }
            _ => diagnostic,
        }
    }

    fn lone_dot(&self, span: Span) -> Diagnostic {
        let bytes = self.source.as_bytes();
        let digit_before = span.start > 0 && bytes[span.start - 1].is_ascii_digit();
        let digit_after = bytes.get(span.end).is_some_and(|b| b.is_ascii_digit());
        if digit_after && !digit_before {
            let digits: String = self.source[span.end..]
                .chars()
                .take_while(|c| c.is_ascii_digit())
                .collect();
            Diagnostic::error(codes::BAD_NUMBER, span, "a number cannot start with `.`")
                .with_label("a digit is needed before the `.`")
                .with_hint(format!("write `0.{digits}`"))
        } else if digit_before {
            let digits: String = self.source[..span.start]
                .chars()
                .rev()
                .take_while(|c| c.is_ascii_digit())
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            Diagnostic::error(codes::BAD_NUMBER, span, "a number cannot end with `.`")
                .with_label("a digit is needed after the `.`")
                .with_hint(format!(
                    "write `{digits}.0`; a range is written with two dots: `1..K`"
                ))
        } else {
            Diagnostic::error(codes::UNEXPECTED_CHARACTER, span, "unexpected `.`")
                .with_label("`.` is not an operator")
                .with_hint("a range is written with two dots (`1..K`); elements are indexed with brackets (`x[1]`)")
        }
    }
}

fn bracket_text(token: Token) -> (&'static str, &'static str) {
    match token {
        Token::LeftParen => ("(", ")"),
        Token::LeftBracket => ("[", "]"),
        _ => ("{", "}"),
    }
}

fn unclosed(token: Token, span: Span) -> Diagnostic {
    let (open, close) = bracket_text(token);
    Diagnostic::error(
        codes::UNCLOSED_BRACKET,
        span,
        format!("this `{open}` is never closed"),
    )
    .with_label(format!("needs a matching `{close}`"))
}

fn too_deep(span: Span) -> Diagnostic {
    Diagnostic::error(
        codes::TOO_DEEP,
        span,
        format!("this statement is nested too deeply (more than {MAX_NESTING} levels)"),
    )
    .with_label("too deep from here on")
    .with_hint("split the expression into several `let` statements")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts(source: &str) -> Vec<String> {
        split(source)
            .0
            .iter()
            .map(|c| source[c.span().range()].to_string())
            .collect()
    }

    #[test]
    fn newlines_and_semicolons_end_statements() {
        assert_eq!(
            texts("a ~ N(0, 1)\nb ~ N(0,\n 1); c ~ N(0, 1)"),
            vec!["a ~ N(0, 1)", "b ~ N(0,\n 1)", "c ~ N(0, 1)"]
        );
    }

    #[test]
    fn trailing_operators_continue_the_line() {
        assert_eq!(
            texts("let y = a +\n  b\nlet z = if c then\n 1 else\n 2 # c\nx"),
            vec!["let y = a +\n  b", "let z = if c then\n 1 else\n 2", "x"]
        );
        // a leading operator does not continue the previous line
        assert_eq!(texts("let y = a\n+ b"), vec!["let y = a", "+ b"]);
    }

    #[test]
    fn for_bodies_split_one_level_down() {
        let (chunks, diagnostics) = split(
            "for n in 1..N {\n  y[n] ~ N(0, 1); z ~ N(0, 1)\n  for k in 1..K { w ~ N(0, 1) }\n}\nq ~ N(0, 1)",
        );
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(chunks.len(), 2);
        let Chunk::Block { body, close, .. } = &chunks[0] else {
            panic!("expected a block")
        };
        assert_eq!(body.len(), 3);
        assert!(close.is_some());
        assert!(matches!(body[2], Chunk::Block { .. }));
    }

    #[test]
    fn an_unclosed_bracket_resumes_at_column_one() {
        let source = "x ~ Normal(mu,\n   sigma\ny ~ Normal(0, 1)\n";
        let (chunks, diagnostics) = split(source);
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, codes::UNCLOSED_BRACKET);
        assert_eq!(diagnostics[0].span, Some(Span::new(10, 11)));
        assert_eq!(chunks.len(), 2);
        assert_eq!(
            chunks[0],
            Chunk::Simple {
                span: Span::new(0, 23),
                bad: true
            }
        );
        assert_eq!(&source[chunks[1].span().range()], "y ~ Normal(0, 1)");
    }

    #[test]
    fn an_unclosed_brace_keeps_its_body_and_resumes() {
        let source = "for n in 1..N {\n  y[n] ~ N(0, 1)\nx ~ N(0, 1)";
        let (chunks, diagnostics) = split(source);
        assert_eq!(diagnostics.len(), 1, "{diagnostics:?}");
        assert_eq!(diagnostics[0].span, Some(Span::new(14, 15)));
        assert_eq!(chunks.len(), 2);
        let Chunk::Block { body, close, .. } = &chunks[0] else {
            panic!("expected a block")
        };
        assert_eq!(body.len(), 1);
        assert_eq!(*close, None);
    }

    #[test]
    fn mismatched_brackets_point_at_the_unclosed_one() {
        let (_, diagnostics) = split("x ~ Normal(mu[z, sigma)");
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, codes::UNCLOSED_BRACKET);
        assert_eq!(diagnostics[0].span, Some(Span::new(13, 14)));
        let (_, diagnostics) = split("x ~ Normal(0, 1))\ny ~ N(0, 1)");
        assert_eq!(diagnostics.len(), 1);
        assert_eq!(diagnostics[0].code, codes::UNMATCHED_BRACKET);
    }

    #[test]
    fn long_flat_vectors_are_not_too_deep() {
        let items: Vec<String> = (0..5000).map(|i| format!("-{i}.5")).collect();
        let source = format!("observed x: real[5000] = [{}]", items.join(", "));
        let (_, diagnostics) = split(&source);
        assert!(diagnostics.is_empty());
    }
}
