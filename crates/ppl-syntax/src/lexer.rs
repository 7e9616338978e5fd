//! The one `logos` lexer of ppl. The statement splitter uses it to find statement boundaries with
//! exact byte offsets, and the REPL uses it for highlighting and to decide whether a line needs a
//! continuation. The `pest` grammar (`grammar/ppl.pest`) spells the same tokens; a test keeps the
//! two in agreement.

use crate::ast::Span;
use logos::Logos;

/// Every token of the language. Statement keywords other than the reserved `if then else for in`
/// lex as `Name`: they are keywords only at the start of a statement.
#[derive(Logos, Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[logos(skip r"[ \t\r\f]+")]
pub enum Token {
    #[token("\n")]
    Newline,
    #[regex(r"#[^\n]*", allow_greedy = true)]
    Comment,
    #[regex("[A-Za-z_][A-Za-z0-9_]*")]
    Name,
    #[token("if")]
    If,
    #[token("then")]
    Then,
    #[token("else")]
    Else,
    #[token("for")]
    For,
    #[token("in")]
    In,
    #[token("true")]
    True,
    #[token("false")]
    False,
    #[regex("[0-9]+")]
    Int,
    #[regex(r"[0-9]+\.[0-9]+([eE][+-]?[0-9]+)?")]
    #[regex(r"[0-9]+[eE][+-]?[0-9]+")]
    Real,
    #[regex(r#""([^"\\\n]|\\[^\n])*""#)]
    String,
    /// A string with no closing quote on its line.
    #[regex(r#""([^"\\\n]|\\[^\n])*\\?"#)]
    UnterminatedString,
    #[token("+")]
    Plus,
    #[token("-")]
    Minus,
    #[token("*")]
    Star,
    #[token("/")]
    Slash,
    #[token("@")]
    At,
    #[token("^")]
    Caret,
    #[token("<")]
    Less,
    #[token("<=")]
    LessEqual,
    #[token(">")]
    Greater,
    #[token(">=")]
    GreaterEqual,
    #[token("==")]
    EqualEqual,
    #[token("!=")]
    NotEqual,
    #[token("=")]
    Assign,
    #[token("~")]
    Tilde,
    #[token(",")]
    Comma,
    #[token(":")]
    Colon,
    #[token(";")]
    Semicolon,
    #[token("..")]
    DotDot,
    /// A lone `.`: never valid (`1.`, `.5`, `x.y`), lexed so the error can say why.
    #[token(".")]
    Dot,
    #[token("(")]
    LeftParen,
    #[token(")")]
    RightParen,
    #[token("[")]
    LeftBracket,
    #[token("]")]
    RightBracket,
    #[token("{")]
    LeftBrace,
    #[token("}")]
    RightBrace,
    /// A character that starts no token. Never produced by `logos` itself: `tokens` maps lexing
    /// errors to it.
    Unknown,
}

/// The words no name may take.
pub const RESERVED_WORDS: [&str; 5] = ["if", "then", "else", "for", "in"];

/// Words that are keywords only at the start of a statement.
pub const STATEMENT_KEYWORDS: [&str; 13] = [
    "data", "const", "observed", "latent", "param", "let", "net", "factor", "guide", "energy",
    "critic", "infer", "model",
];

impl Token {
    /// A token after which a newline does not end the statement (LANGUAGE.md §1): a binary
    /// operator, `~`, `=`, `,`, `:`, `in`, `if`, `then` or `else`.
    pub fn continues_line(self) -> bool {
        matches!(
            self,
            Token::Plus
                | Token::Minus
                | Token::Star
                | Token::Slash
                | Token::At
                | Token::Caret
                | Token::Less
                | Token::LessEqual
                | Token::Greater
                | Token::GreaterEqual
                | Token::EqualEqual
                | Token::NotEqual
                | Token::DotDot
                | Token::Tilde
                | Token::Assign
                | Token::Comma
                | Token::Colon
                | Token::In
                | Token::If
                | Token::Then
                | Token::Else
        )
    }

    /// Whether the token written as `text` continues a line when it ends one.
    pub fn lexer_continues(text: &str) -> bool {
        let found = tokens(text);
        matches!(found.as_slice(), [(token, _)] if token.continues_line())
    }

    /// Tokens that carry no meaning for the parser.
    pub fn is_trivia(self) -> bool {
        matches!(self, Token::Comment)
    }
}

/// Every token of `source` with its byte span, comments and newlines included, whitespace left out.
/// Characters that start no token come out as `Token::Unknown`, one per character.
pub fn tokens(source: &str) -> Vec<(Token, Span)> {
    let mut lexer = Token::lexer(source);
    let mut out = Vec::new();
    while let Some(result) = lexer.next() {
        let range = lexer.span();
        match result {
            Ok(token) => out.push((token, Span::new(range.start, range.end))),
            Err(()) => {
                // Split an error run into characters so every span stays on a char boundary and
                // the diagnostic points at exactly one character.
                let text = &source[range.clone()];
                for (offset, character) in text.char_indices() {
                    let start = range.start + offset;
                    out.push((
                        Token::Unknown,
                        Span::new(start, start + character.len_utf8()),
                    ));
                }
            }
        }
    }
    out
}

/// What a token is, for colouring it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum TokenClass {
    /// `if then else for in`, `true false`, and statement keywords where they act as keywords.
    Keyword,
    Name,
    /// A capitalised name directly followed by `(`: `Normal(`, `VAE(`.
    Distribution,
    Number,
    String,
    Operator,
    /// Brackets, `,`, `:`, `;`.
    Punctuation,
    Comment,
    /// Something that cannot be lexed: an unknown character, a lone `.`, an unterminated string.
    Error,
}

/// The highlighting class of every token of `source`, in order. Statement keywords count as
/// keywords when they start a statement and are not the target of a `~` (`latent ~ ...`).
pub fn highlight(source: &str) -> Vec<(TokenClass, Span)> {
    let all = tokens(source);
    let significant: Vec<usize> = (0..all.len()).filter(|&i| !all[i].0.is_trivia()).collect();
    let mut classes: Vec<(TokenClass, Span)> = all
        .iter()
        .map(|&(token, span)| (basic_class(token), span))
        .collect();
    for (position, &index) in significant.iter().enumerate() {
        let (token, span) = all[index];
        if token != Token::Name {
            continue;
        }
        let previous = position.checked_sub(1).map(|p| all[significant[p]].0);
        let next = significant.get(position + 1).map(|&n| all[n].0);
        let text = &source[span.range()];
        let starts_statement = match previous {
            None => true,
            Some(Token::Newline | Token::Semicolon | Token::LeftBrace | Token::RightBrace) => true,
            Some(_) => false,
        };
        // `local` is a keyword only as the start of `local let`.
        let local_let = text == "local"
            && significant
                .get(position + 1)
                .is_some_and(|&n| source.get(all[n].1.range()) == Some("let"));
        if starts_statement
            && (STATEMENT_KEYWORDS.contains(&text) || local_let)
            && !matches!(next, Some(Token::Tilde | Token::LeftBracket))
        {
            classes[index].0 = TokenClass::Keyword;
        } else if text.starts_with(|c: char| c.is_ascii_uppercase())
            && next == Some(Token::LeftParen)
        {
            classes[index].0 = TokenClass::Distribution;
        }
    }
    classes
}

fn basic_class(token: Token) -> TokenClass {
    match token {
        Token::If
        | Token::Then
        | Token::Else
        | Token::For
        | Token::In
        | Token::True
        | Token::False => TokenClass::Keyword,
        Token::Name => TokenClass::Name,
        Token::Int | Token::Real => TokenClass::Number,
        Token::String => TokenClass::String,
        Token::Comment => TokenClass::Comment,
        Token::Plus
        | Token::Minus
        | Token::Star
        | Token::Slash
        | Token::At
        | Token::Caret
        | Token::Less
        | Token::LessEqual
        | Token::Greater
        | Token::GreaterEqual
        | Token::EqualEqual
        | Token::NotEqual
        | Token::Assign
        | Token::Tilde
        | Token::DotDot => TokenClass::Operator,
        Token::Newline
        | Token::Comma
        | Token::Colon
        | Token::Semicolon
        | Token::LeftParen
        | Token::RightParen
        | Token::LeftBracket
        | Token::RightBracket
        | Token::LeftBrace
        | Token::RightBrace => TokenClass::Punctuation,
        Token::Dot | Token::UnterminatedString | Token::Unknown => TokenClass::Error,
    }
}

/// True when the REPL should read another line before parsing `source`: a bracket is still open,
/// or the last line ends in a token that continues the statement.
pub fn needs_more_input(source: &str) -> bool {
    let mut depth: i64 = 0;
    let mut last = None;
    for (token, _) in tokens(source) {
        match token {
            Token::LeftParen | Token::LeftBracket | Token::LeftBrace => depth += 1,
            Token::RightParen | Token::RightBracket | Token::RightBrace => depth -= 1,
            _ => {}
        }
        if !token.is_trivia() && token != Token::Newline {
            last = Some(token);
        }
        if depth < 0 {
            // A stray closing bracket is an error to show now, not a reason to wait.
            return false;
        }
    }
    depth > 0 || last.is_some_and(Token::continues_line)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn kinds(source: &str) -> Vec<Token> {
        tokens(source).into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn ranges_are_not_reals() {
        use Token::*;
        assert_eq!(kinds("1..K"), vec![Int, DotDot, Name]);
        assert_eq!(kinds("1.5..2"), vec![Real, DotDot, Int]);
        assert_eq!(kinds("1e-3 2E5 1.5e+2"), vec![Real, Real, Real]);
        assert_eq!(kinds("1."), vec![Int, Dot]);
        assert_eq!(kinds(".5"), vec![Dot, Int]);
        assert_eq!(kinds("1e"), vec![Int, Name]);
    }

    #[test]
    fn reserved_words_only_as_whole_words() {
        use Token::*;
        assert_eq!(
            kinds("if iffy in input for format"),
            vec![If, Name, In, Name, For, Name]
        );
        assert_eq!(kinds("latent data true"), vec![Name, Name, True]);
    }

    #[test]
    fn strings_and_escapes() {
        use Token::*;
        assert_eq!(kinds(r#""a\"b\\" x"#), vec![String, Name]);
        assert_eq!(kinds("\"open\nx"), vec![UnterminatedString, Newline, Name]);
        assert_eq!(kinds("\"end\\"), vec![UnterminatedString]);
    }

    #[test]
    fn unknown_characters_are_single_characters() {
        let found = tokens("x $ é");
        assert_eq!(found[1], (Token::Unknown, Span::new(2, 3)));
        assert_eq!(found[2], (Token::Unknown, Span::new(4, 6)));
    }

    #[test]
    fn operators_take_the_longest_match() {
        use Token::*;
        assert_eq!(
            kinds("<= < == = != >= > ~"),
            vec![
                LessEqual,
                Less,
                EqualEqual,
                Assign,
                NotEqual,
                GreaterEqual,
                Greater,
                Tilde
            ]
        );
        assert_eq!(kinds("a # note\n"), vec![Name, Comment, Newline]);
    }

    #[test]
    fn continuation_for_the_repl() {
        assert!(needs_more_input("x ~ Normal(mu,"));
        assert!(needs_more_input("x ~"));
        assert!(needs_more_input("let y = a +   # comment"));
        assert!(needs_more_input("for n in 1..N {"));
        assert!(needs_more_input("let y = if c then"));
        assert!(!needs_more_input("x ~ Normal(0, 1)"));
        assert!(!needs_more_input("x ~ Normal(0, 1))"));
        assert!(!needs_more_input(""));
    }

    #[test]
    fn highlighting_knows_soft_keywords_and_distributions() {
        let source = "latent z: real\nlatent ~ Normal(0, K)";
        let classes: Vec<TokenClass> = highlight(source).into_iter().map(|(c, _)| c).collect();
        assert_eq!(classes[0], TokenClass::Keyword);
        assert_eq!(classes[1], TokenClass::Name);
        // second line: `latent` is the target of `~`, `Normal` a distribution, `K` a name
        let second: Vec<TokenClass> = classes[5..].to_vec();
        assert_eq!(second[0], TokenClass::Name);
        assert_eq!(second[2], TokenClass::Distribution);
        assert_eq!(second[6], TokenClass::Name);
    }
}
