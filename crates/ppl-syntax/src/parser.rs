//! The statement parser: each statement cut by `split` is parsed with the `pest` grammar in
//! `grammar/ppl.pest` and turned into the `ast` tree, with spans offset back into the whole file.
//! Pest errors become readable diagnostics through `rule_name`, which names every grammar rule.

use std::cell::RefCell;
use std::sync::LazyLock;

use pest::Parser as _;
use pest::error::{ErrorVariant, InputLocation};
use pest::iterators::{Pair, Pairs};
use pest::pratt_parser::{Assoc, Op, PrattParser};
use pest::set_error_detail;
use pest_derive::Parser;

use crate::ast::*;
use crate::codes;
use crate::diagnostic::Diagnostic;
use crate::lexer::{Token, tokens};
use crate::split::{Chunk, split};

// The path is relative to this crate's CARGO_MANIFEST_DIR (pest_derive 2.9 looks there first).
#[derive(Parser)]
#[grammar = "../../grammar/ppl.pest"]
struct Grammar;

static PRATT: LazyLock<PrattParser<Rule>> = LazyLock::new(|| {
    PrattParser::new()
        .op(Op::infix(Rule::add, Assoc::Left) | Op::infix(Rule::sub, Assoc::Left))
        .op(Op::infix(Rule::mul, Assoc::Left)
            | Op::infix(Rule::div, Assoc::Left)
            | Op::infix(Rule::matmul, Assoc::Left))
        .op(Op::prefix(Rule::neg))
        .op(Op::infix(Rule::pow, Assoc::Right))
        .op(Op::postfix(Rule::index_suffix))
});

/// Parses a whole model file. Never fails: returns every statement it could read and one
/// diagnostic per statement it could not, sorted by position.
pub fn parse(source: &str) -> (Program, Vec<Diagnostic>) {
    // Literal tokens ("expected `)`") are only recorded with error detail on.
    set_error_detail(true);
    let (chunks, mut diagnostics) = split(source);
    let mut statements = Vec::new();
    for chunk in &chunks {
        if let Some(statement) = parse_chunk(source, chunk, &mut diagnostics) {
            statements.push(statement);
        }
    }
    diagnostics.sort_by_key(|d| d.span.map_or(usize::MAX, |s| s.start));
    (Program { statements }, diagnostics)
}

/// Parses a model file given as bytes: invalid UTF-8 is a diagnostic pointing at the first bad
/// byte, and nothing is parsed.
pub fn parse_bytes(bytes: &[u8]) -> (Program, Vec<Diagnostic>) {
    match std::str::from_utf8(bytes) {
        Ok(source) => parse(source),
        Err(error) => {
            let start = error.valid_up_to();
            let end = start + error.error_len().unwrap_or(bytes.len() - start).max(1);
            let line = bytes[..start].iter().filter(|&&b| b == b'\n').count() + 1;
            let diagnostic = Diagnostic::error(
                codes::INVALID_UTF8,
                Span::new(start, end.min(bytes.len())),
                format!("the model file is not valid UTF-8 (byte {start}, line {line})"),
            )
            .with_label("this byte is not UTF-8")
            .with_hint("save the model file as UTF-8");
            (Program::default(), vec![diagnostic])
        }
    }
}

/// The text of a model file for display: valid UTF-8 is returned as is; each byte of an invalid
/// sequence becomes one `?`, so that every byte offset into `bytes` (the spans of diagnostics) is
/// still a character boundary of the result and points at the same place.
pub fn display_source(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len());
    let mut rest = bytes;
    loop {
        match std::str::from_utf8(rest) {
            Ok(valid) => {
                out.push_str(valid);
                return out;
            }
            Err(error) => {
                let (valid, after) = rest.split_at(error.valid_up_to());
                // `valid` is valid UTF-8 by construction; the fallback never runs.
                out.push_str(std::str::from_utf8(valid).unwrap_or_default());
                let bad = error
                    .error_len()
                    .unwrap_or(after.len())
                    .max(1)
                    .min(after.len());
                out.extend(std::iter::repeat_n('?', bad));
                rest = after.get(bad..).unwrap_or_default();
            }
        }
    }
}

/// Parses one expression on its own (the REPL evaluates these after a run). Spans are offsets
/// into `source`.
pub fn parse_expression(source: &str) -> Result<Expr, Box<Diagnostic>> {
    set_error_detail(true);
    let (chunks, mut diagnostics) = split(source);
    if !diagnostics.is_empty() {
        return Err(Box::new(diagnostics.swap_remove(0)));
    }
    let span = match chunks.as_slice() {
        [Chunk::Simple { span, .. }] => *span,
        [] => {
            return Err(Box::new(Diagnostic::error(
                codes::SYNTAX,
                Span::new(0, source.len()),
                "expected an expression",
            )));
        }
        [only] => {
            return Err(Box::new(Diagnostic::error(
                codes::SYNTAX,
                only.span(),
                "expected an expression, found a `for` block",
            )));
        }
        [_, second, ..] => {
            return Err(Box::new(Diagnostic::error(
                codes::SYNTAX,
                second.span(),
                "expected one expression, found more than one statement",
            )));
        }
    };
    let text = &source[span.range()];
    let builder = Builder::new(span.start);
    let result = match Grammar::parse(Rule::expression, text) {
        Ok(mut pairs) => builder.expr(first_inner(&mut pairs)),
        Err(error) => return Err(Box::new(syntax_error(error, source, span))),
    };
    match builder.error.into_inner() {
        Some(diagnostic) => Err(Box::new(diagnostic)),
        None => Ok(result),
    }
}

fn parse_chunk(
    source: &str,
    chunk: &Chunk,
    diagnostics: &mut Vec<Diagnostic>,
) -> Option<Statement> {
    match chunk {
        Chunk::Simple { bad: true, .. } => None,
        Chunk::Simple { span, bad: false } => {
            let text = &source[span.range()];
            if starts_with_for(text) {
                diagnostics.push(missing_for_body(source, *span));
                return None;
            }
            let builder = Builder::new(span.start);
            match Grammar::parse(Rule::statement, text) {
                Ok(mut pairs) => {
                    let statement = builder.statement(first_inner(&mut pairs));
                    diagnostics.extend(builder.error.into_inner());
                    Some(statement)
                }
                Err(error) => {
                    diagnostics.push(syntax_error(error, source, *span));
                    None
                }
            }
        }
        Chunk::Block {
            header,
            header_bad,
            open,
            body,
            close: _,
        } => {
            let statements: Vec<Statement> = body
                .iter()
                .filter_map(|c| parse_chunk(source, c, diagnostics))
                .collect();
            if *header_bad {
                return None;
            }
            let text = &source[header.range()];
            if !starts_with_for(text) {
                diagnostics.push(
                    Diagnostic::error(
                        codes::SYNTAX,
                        *open,
                        "`{` can only open the body of a `for` loop",
                    )
                    .with_label("no `for` before this `{`")
                    .with_hint("write `for n in 1..N { ... }` with the `{` on the `for` line"),
                );
                return None;
            }
            let builder = Builder::new(header.start);
            match Grammar::parse(Rule::for_header, text) {
                Ok(mut pairs) => {
                    let mut parts = first_pair(&mut pairs).into_inner();
                    let var = builder.ident(parts.find(|p| p.as_rule() == Rule::ident)?);
                    let range = builder.expr(parts.find(|p| p.as_rule() == Rule::expr)?);
                    diagnostics.extend(builder.error.into_inner());
                    Some(Statement {
                        kind: StatementKind::For {
                            var,
                            range,
                            body: statements,
                        },
                        span: chunk.span(),
                    })
                }
                Err(error) => {
                    diagnostics.push(syntax_error(error, source, *header));
                    None
                }
            }
        }
    }
}

fn starts_with_for(text: &str) -> bool {
    text.strip_prefix("for")
        .is_some_and(|rest| !rest.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_'))
}

/// A `for` statement that reached the end of its line without `{`.
fn missing_for_body(source: &str, span: Span) -> Diagnostic {
    let text = &source[span.range()];
    let position = match Grammar::parse(Rule::for_header, text) {
        Ok(_) => span.end,
        Err(error) => span.start + error_position(&error),
    };
    let width = source[position..span.end]
        .chars()
        .next()
        .map_or(0, char::len_utf8);
    let at = Span::new(position, position + width);
    Diagnostic::error(
        codes::MISSING_FOR_BODY,
        at,
        "expected `{` after the range of the `for`",
    )
    .with_label("the body should start here")
    .with_secondary(span, "this `for` has no body")
    .with_hint("write the body in `{ }` with the `{` on the `for` line: `for n in 1..N { ... }`")
}

fn first_pair<'i>(pairs: &mut Pairs<'i, Rule>) -> Pair<'i, Rule> {
    pairs.next().expect("a successful parse has a top pair")
}

fn first_inner<'i>(pairs: &mut Pairs<'i, Rule>) -> Pair<'i, Rule> {
    // The top rules wrap exactly one non-EOI child; the grammar guarantees it on success.
    first_pair(pairs)
        .into_inner()
        .find(|p| p.as_rule() != Rule::EOI)
        .expect("a successful parse has content")
}

// ---------------------------------------------------------------------------------------------
// From pest pairs to the syntax tree.

struct Builder {
    offset: usize,
    /// The first problem found while building (an out-of-range number, a bad escape, a
    /// positional argument after a keyword): one diagnostic per statement.
    error: RefCell<Option<Diagnostic>>,
}

impl Builder {
    fn new(offset: usize) -> Self {
        Builder {
            offset,
            error: RefCell::new(None),
        }
    }

    fn report(&self, diagnostic: Diagnostic) {
        let mut error = self.error.borrow_mut();
        if error.is_none() {
            *error = Some(diagnostic);
        }
    }

    fn span(&self, pair: &Pair<Rule>) -> Span {
        let span = pair.as_span();
        Span::new(span.start() + self.offset, span.end() + self.offset)
    }

    fn ident(&self, pair: Pair<Rule>) -> Ident {
        Ident {
            name: pair.as_str().to_string(),
            span: self.span(&pair),
        }
    }

    fn statement(&self, pair: Pair<Rule>) -> Statement {
        let span = self.span(&pair);
        let rule = pair.as_rule();
        let mut parts = pair
            .into_inner()
            .filter(|p| !matches!(p.as_rule(), Rule::tilde | Rule::assign));
        let mut next = || {
            parts
                .next()
                .expect("the grammar fixes the parts of a statement")
        };
        let kind = match rule {
            Rule::tilde_stmt => {
                let target = self.expr(next());
                let dist = self.call(next());
                let truncation = parts.next().map(|t| self.truncation(t));
                StatementKind::Tilde {
                    target,
                    dist,
                    truncation,
                }
            }
            Rule::data_stmt => {
                next();
                let path = next();
                StatementKind::Data {
                    path: self.string(&path),
                    path_span: self.span(&path),
                }
            }
            Rule::const_stmt => {
                next();
                StatementKind::Const {
                    name: self.ident(next()),
                    value: self.expr(next()),
                }
            }
            Rule::declare_stmt => {
                let kind = match next().as_rule() {
                    Rule::kw_observed => DeclKind::Observed,
                    Rule::kw_latent => DeclKind::Latent,
                    _ => DeclKind::Param,
                };
                let name = self.ident(next());
                let ty = self.type_expr(next());
                let init = parts.next().map(|p| self.expr(p));
                StatementKind::Declare {
                    kind,
                    name,
                    ty,
                    init,
                }
            }
            Rule::let_stmt => {
                let local = next().as_rule() == Rule::kw_local;
                if local {
                    next();
                }
                let name = self.ident(next());
                let following = next();
                if following.as_rule() == Rule::let_element {
                    let index = following.into_inner().next().map(|p| self.expr(p));
                    let value = self.expr(next());
                    match index {
                        Some(index) => StatementKind::LetElement {
                            name,
                            index,
                            value,
                            local,
                        },
                        None => StatementKind::Let { name, value, local },
                    }
                } else {
                    StatementKind::Let {
                        name,
                        value: self.expr(following),
                        local,
                    }
                }
            }
            Rule::net_stmt => {
                next();
                let name = self.ident(next());
                let call = self.call(next());
                StatementKind::Net {
                    name,
                    value: Expr {
                        span: call.span,
                        kind: ExprKind::Call(call),
                    },
                }
            }
            Rule::factor_stmt => {
                next();
                StatementKind::Factor {
                    value: self.expr(next()),
                }
            }
            Rule::guide_stmt => {
                next();
                StatementKind::Guide {
                    target: self.expr(next()),
                    dist: self.call(next()),
                }
            }
            Rule::energy_stmt => {
                next();
                StatementKind::Energy {
                    value: self.expr(next()),
                }
            }
            Rule::critic_stmt => {
                next();
                StatementKind::Critic {
                    net: self.ident(next()),
                }
            }
            Rule::infer_stmt => {
                next();
                let method = self.ident(next());
                let args = parts.next().map(|p| self.args(p)).unwrap_or_default();
                StatementKind::Infer { method, args }
            }
            Rule::model_stmt => {
                next();
                let name = self.ident(next());
                let params = parts.map(|p| self.signature_param(p)).collect();
                StatementKind::ModelSignature { name, params }
            }
            other => unreachable!("not a statement rule: {other:?}"),
        };
        Statement { kind, span }
    }

    fn signature_param(&self, pair: Pair<Rule>) -> SignatureParam {
        let mut parts = pair.into_inner().filter(|p| p.as_rule() != Rule::assign);
        let name = self.ident(parts.next().expect("a parameter has a name"));
        let ty = self.type_expr(parts.next().expect("a parameter has a type"));
        let default = parts.next().map(|p| self.expr(p));
        SignatureParam { name, ty, default }
    }

    fn type_expr(&self, pair: Pair<Rule>) -> TypeExpr {
        let span = self.span(&pair);
        let mut base = None;
        let mut sizes = None;
        let mut bound = None;
        for part in pair.into_inner() {
            match part.as_rule() {
                Rule::ident => base = Some(self.ident(part)),
                Rule::type_sizes => {
                    sizes = Some(part.into_inner().map(|p| self.expr(p)).collect());
                }
                Rule::open_bound | Rule::closed_bound => {
                    let bound_span = self.span(&part);
                    let is_open = part.as_rule() == Rule::open_bound;
                    let mut ends = part
                        .into_inner()
                        .filter(|p| p.as_rule() != Rule::range_op)
                        .map(|p| self.expr(p));
                    let low = ends.next().expect("a bound has a low end");
                    let high = ends.next().expect("a bound has a high end");
                    bound = Some(if is_open {
                        Bound::Open {
                            low,
                            high,
                            span: bound_span,
                        }
                    } else {
                        Bound::Closed {
                            low,
                            high,
                            span: bound_span,
                        }
                    });
                }
                _ => {}
            }
        }
        TypeExpr {
            base: base.expect("a type has a base"),
            sizes,
            bound,
            span,
        }
    }

    /// Any expression-level pair: `expr`, `if_expr`, `range`, `comparison`, `arith` or a primary.
    fn expr(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        match pair.as_rule() {
            Rule::expr => self.expr(pair.into_inner().next().expect("expr has one child")),
            Rule::if_expr => {
                let mut parts = pair.into_inner().filter(|p| p.as_rule() == Rule::expr);
                let mut next = || self.expr(parts.next().expect("if has three parts"));
                let (cond, then, otherwise) = (next(), next(), next());
                Expr {
                    kind: ExprKind::If {
                        cond: Box::new(cond),
                        then: Box::new(then),
                        otherwise: Box::new(otherwise),
                    },
                    span,
                }
            }
            Rule::range | Rule::comparison | Rule::closed_bound => {
                let mut parts = pair.into_inner();
                let low = self.expr(parts.next().expect("a level has a first operand"));
                let Some(operator) = parts.next() else {
                    return low;
                };
                let high = self.expr(parts.next().expect("an operator has a right operand"));
                let kind = if operator.as_rule() == Rule::range_op {
                    ExprKind::Range {
                        low: Box::new(low),
                        high: Box::new(high),
                    }
                } else {
                    let op = match operator.as_str() {
                        "<" => BinaryOp::Lt,
                        "<=" => BinaryOp::Le,
                        ">" => BinaryOp::Gt,
                        ">=" => BinaryOp::Ge,
                        "==" => BinaryOp::Eq,
                        _ => BinaryOp::Ne,
                    };
                    ExprKind::Binary {
                        op,
                        lhs: Box::new(low),
                        rhs: Box::new(high),
                    }
                };
                Expr { kind, span }
            }
            Rule::arith => self.arith(pair.into_inner()),
            _ => self.primary(pair),
        }
    }

    fn arith(&self, pairs: Pairs<Rule>) -> Expr {
        PRATT
            .map_primary(|primary| self.primary(primary))
            .map_prefix(|operator, operand| {
                let span = self.span(&operator).to(operand.span);
                Expr {
                    kind: ExprKind::Neg(Box::new(operand)),
                    span,
                }
            })
            .map_postfix(|base, suffix| {
                let span = base.span.to(self.span(&suffix));
                let indices = suffix.into_inner().map(|i| self.index(i)).collect();
                Expr {
                    kind: ExprKind::Index {
                        base: Box::new(base),
                        indices,
                    },
                    span,
                }
            })
            .map_infix(|lhs, operator, rhs| {
                let op = match operator.as_rule() {
                    Rule::add => BinaryOp::Add,
                    Rule::sub => BinaryOp::Sub,
                    Rule::mul => BinaryOp::Mul,
                    Rule::div => BinaryOp::Div,
                    Rule::matmul => BinaryOp::MatMul,
                    _ => BinaryOp::Pow,
                };
                let span = lhs.span.to(rhs.span);
                Expr {
                    kind: ExprKind::Binary {
                        op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                    span,
                }
            })
            .parse(pairs)
    }

    fn index(&self, pair: Pair<Rule>) -> Index {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let first = parts.next().expect("an index has content");
        if first.as_rule() == Rule::index_all {
            return Index::All(span);
        }
        let low = self.expr(first);
        match parts.next() {
            Some(high) => Index::Slice {
                low,
                high: self.expr(high),
                span,
            },
            None => Index::Expr(low),
        }
    }

    fn primary(&self, pair: Pair<Rule>) -> Expr {
        let span = self.span(&pair);
        let kind = match pair.as_rule() {
            Rule::int => match pair.as_str().parse::<i64>() {
                Ok(value) => ExprKind::Int(value),
                Err(_) => {
                    self.report(
                        Diagnostic::error(
                            codes::BAD_NUMBER,
                            span,
                            format!("the integer `{}` is too large", pair.as_str()),
                        )
                        .with_label(format!("integers go up to {}", i64::MAX))
                        .with_hint("write it as a real number, e.g. `1e20`"),
                    );
                    ExprKind::Real(pair.as_str().parse().unwrap_or(f64::INFINITY))
                }
            },
            Rule::real => {
                let value: f64 = pair.as_str().parse().unwrap_or(f64::INFINITY);
                if !value.is_finite() {
                    self.report(
                        Diagnostic::error(
                            codes::BAD_NUMBER,
                            span,
                            format!("the number `{}` is too large", pair.as_str()),
                        )
                        .with_label("beyond the largest real number (about 1.8e308)")
                        .with_hint("write `inf` for infinity"),
                    );
                }
                ExprKind::Real(value)
            }
            Rule::boolean => ExprKind::Bool(pair.as_str() == "true"),
            Rule::ident => ExprKind::Name(pair.as_str().to_string()),
            Rule::call => ExprKind::Call(self.call(pair)),
            Rule::paren => {
                // Keep the parentheses in the span: it is the text of this expression.
                let inner = self.expr(pair.into_inner().next().expect("parentheses hold one expr"));
                return Expr {
                    kind: inner.kind,
                    span,
                };
            }
            Rule::vector => {
                let mut parts = pair.into_inner().peekable();
                let Some(first) = parts.next() else {
                    return Expr {
                        kind: ExprKind::Vector(Vec::new()),
                        span,
                    };
                };
                let first = self.expr(first);
                match parts.peek().map(|p| p.as_rule()) {
                    Some(Rule::comprehension_tail) => {
                        let mut tail = parts
                            .next()
                            .expect("peeked")
                            .into_inner()
                            .filter(|p| matches!(p.as_rule(), Rule::ident | Rule::expr));
                        let var = self.ident(tail.next().expect("a comprehension has a variable"));
                        let range = self.expr(tail.next().expect("a comprehension has a range"));
                        ExprKind::Comprehension {
                            body: Box::new(first),
                            var,
                            range: Box::new(range),
                        }
                    }
                    _ => {
                        let mut items = vec![first];
                        items.extend(parts.map(|p| self.expr(p)));
                        ExprKind::Vector(items)
                    }
                }
            }
            _ => return self.expr(pair),
        };
        Expr { kind, span }
    }

    /// `truncated(lo, hi)` with either bound possibly empty.
    fn truncation(&self, pair: Pair<Rule>) -> Truncation {
        let span = self.span(&pair);
        let mut bounds = pair
            .into_inner()
            .filter(|p| p.as_rule() == Rule::truncation_bound)
            .map(|bound| bound.into_inner().next().map(|e| self.expr(e)));
        let low = bounds.next().flatten();
        let high = bounds.next().flatten();
        Truncation { low, high, span }
    }

    fn call(&self, pair: Pair<Rule>) -> Call {
        let span = self.span(&pair);
        let mut parts = pair.into_inner();
        let func = self.ident(parts.next().expect("a call has a name"));
        let args = parts.next().map(|p| self.args(p)).unwrap_or_default();
        Call { func, args, span }
    }

    fn args(&self, pair: Pair<Rule>) -> Vec<Arg> {
        let mut args: Vec<Arg> = Vec::new();
        for arg in pair.into_inner() {
            let span = self.span(&arg);
            let mut parts = arg.into_inner().filter(|p| p.as_rule() != Rule::assign);
            let first = parts.next().expect("an argument has a value");
            let (name, value) = match parts.next() {
                Some(value) => (Some(self.ident(first)), self.expr(value)),
                None => (None, self.expr(first)),
            };
            if name.is_none()
                && let Some(keyword) = args.iter().rev().find(|a| a.name.is_some())
            {
                let keyword_name = keyword.name.as_ref().map_or("", |n| n.name.as_str());
                self.report(
                    Diagnostic::error(
                        codes::POSITIONAL_AFTER_KEYWORD,
                        span,
                        "a positional argument cannot follow a keyword argument",
                    )
                    .with_label("positional argument after a keyword")
                    .with_secondary(
                        keyword.span,
                        format!("the keyword argument `{keyword_name}`"),
                    )
                    .with_hint("put the positional arguments first, then `name = value` ones"),
                );
            }
            args.push(Arg { name, value, span });
        }
        args
    }

    /// The contents of a string literal, with `\"` and `\\` resolved.
    fn string(&self, pair: &Pair<Rule>) -> String {
        let text = pair.as_str();
        let inner = &text[1..text.len() - 1];
        let mut out = String::with_capacity(inner.len());
        let mut characters = inner.char_indices();
        while let Some((position, character)) = characters.next() {
            if character != '\\' {
                out.push(character);
                continue;
            }
            match characters.next() {
                Some((_, escaped @ ('"' | '\\'))) => out.push(escaped),
                Some((_, other)) => {
                    let start = pair.as_span().start() + self.offset + 1 + position;
                    self.report(
                        Diagnostic::error(
                            codes::BAD_ESCAPE,
                            Span::new(start, start + 1 + other.len_utf8()),
                            format!("unknown escape `\\{other}` in a string"),
                        )
                        .with_hint("only `\\\"` and `\\\\` are escapes; write `/` in paths"),
                    );
                    out.push(other);
                }
                None => out.push('\\'),
            }
        }
        out
    }
}

// ---------------------------------------------------------------------------------------------
// Readable syntax errors.

/// What a grammar rule is called in an error message. Exhaustive, so that a new rule cannot ship
/// with its raw name in user-facing text.
fn rule_name(rule: Rule) -> &'static str {
    match rule {
        Rule::EOI => "the end of the statement",
        Rule::WHITESPACE | Rule::COMMENT => "a space",
        Rule::ident_char => "a letter, digit or `_`",
        Rule::exponent => "an exponent such as `e-3`",
        Rule::infix => "an operator",
        Rule::primary => "an expression",
        Rule::reserved => "a reserved word",
        Rule::ident => "a name",
        Rule::kw_if => "`if`",
        Rule::kw_then => "`then`",
        Rule::kw_else => "`else`",
        Rule::kw_for => "`for`",
        Rule::kw_in => "`in`",
        Rule::kw_data => "`data`",
        Rule::kw_local => "`local`",
        Rule::kw_const => "`const`",
        Rule::kw_observed => "`observed`",
        Rule::kw_latent => "`latent`",
        Rule::kw_param => "`param`",
        Rule::kw_let => "`let`",
        Rule::kw_net => "`net`",
        Rule::kw_factor => "`factor`",
        Rule::kw_guide => "`guide`",
        Rule::kw_energy => "`energy`",
        Rule::kw_critic => "`critic`",
        Rule::kw_infer => "`infer`",
        Rule::kw_model => "`model`",
        Rule::real | Rule::int => "a number",
        Rule::boolean => "`true` or `false`",
        Rule::string => "a string in double quotes",
        Rule::tilde => "`~`",
        Rule::assign => "`=`",
        Rule::statement => "a statement",
        Rule::tilde_stmt => "a `~` statement",
        Rule::truncation => "`truncated(lo, hi)`",
        Rule::truncation_bound => "a bound or nothing",
        Rule::kw_truncated => "`truncated`",
        Rule::data_stmt => "a `data` statement",
        Rule::const_stmt => "a `const` declaration",
        Rule::declare_stmt => "a declaration",
        Rule::let_stmt => "a `let` statement",
        Rule::let_element => "an element index such as `[t]`",
        Rule::net_stmt => "a `net` declaration",
        Rule::factor_stmt => "a `factor` statement",
        Rule::guide_stmt => "a `guide` statement",
        Rule::energy_stmt => "an `energy` statement",
        Rule::critic_stmt => "a `critic` statement",
        Rule::infer_stmt => "an `infer` statement",
        Rule::model_stmt => "a model signature",
        Rule::signature_param => "a parameter such as `hidden: int = 64`",
        Rule::for_header => "a `for` header",
        Rule::expression => "an expression",
        Rule::type_expr => "a type such as `real[N]`",
        Rule::type_sizes => "sizes in `[ ]`",
        Rule::open_bound => "a bound such as `(0, inf)`",
        Rule::closed_bound => "a bound such as `1..K`",
        Rule::expr | Rule::range | Rule::comparison | Rule::arith | Rule::paren | Rule::vector => {
            "an expression"
        }
        Rule::if_expr => "an `if` expression",
        Rule::range_op => "`..`",
        Rule::compare_op => "a comparison",
        Rule::add | Rule::sub | Rule::mul | Rule::div | Rule::matmul | Rule::pow | Rule::neg => {
            "an operator"
        }
        Rule::index_suffix => "`[`",
        Rule::index_item => "an index",
        Rule::index_all => "`..`",
        Rule::comprehension_tail => "`for`",
        Rule::call => "a call such as `f(x)`",
        Rule::arg_list | Rule::arg => "an argument",
    }
}

const OPERATOR_TOKENS: [&str; 14] = [
    "+", "-", "*", "/", "@", "^", "<", "<=", ">", ">=", "==", "!=", "..", "[",
];

fn error_position(error: &pest::error::Error<Rule>) -> usize {
    match error.location {
        InputLocation::Pos(position) => position,
        InputLocation::Span((start, _)) => start,
    }
}

/// Turns a pest error on the statement at `statement` (a span of `source`) into a diagnostic.
fn syntax_error(error: pest::error::Error<Rule>, source: &str, statement: Span) -> Diagnostic {
    let text = &source[statement.range()];
    if let ErrorVariant::CustomError { message } = &error.variant {
        // pest's own limits ("stack limit reached", "call limit reached").
        return Diagnostic::error(
            codes::TOO_DEEP,
            statement,
            "this statement is nested too deeply to parse",
        )
        .with_label(message.clone())
        .with_hint("split the expression into several `let` statements");
    }
    let (position, mut expected, mut operators) = expectations(&error);
    let position = position.min(text.len());
    let absolute = statement.start + position;

    // An operator (or a call's `(`, or an index's `[`) can only come after an operand; elsewhere
    // `-`, `(` and `[` merely start an expression, which "an expression" already says.
    let after_operand = position > 0 && previous_ends_operand(source, statement.start, absolute);
    let previous = previous_token(source, statement.start, absolute);
    if previous.as_deref() == Some("~") {
        // Only a distribution call may follow `~`, whatever the grammar was trying inside it.
        expected = vec!["a distribution such as `Normal(0, 1)`".to_string()];
        operators = false;
    }
    if operators && after_operand {
        expected.retain(|e| e != "`(`");
        expected.insert(0, "an operator".to_string());
    } else if position == 0 {
        expected = vec!["a statement".to_string()];
    }
    if !after_operand
        && expected
            .iter()
            .any(|e| matches!(e.as_str(), "an expression" | "an index" | "an argument"))
    {
        expected.retain(|e| !matches!(e.as_str(), "`(`" | "`[`" | "`-`"));
    }
    // The end of the statement is implied when an operator could continue it; say it last.
    if let Some(end) = expected
        .iter()
        .position(|e| e == "the end of the statement")
    {
        let end = expected.remove(end);
        expected.push(end);
    }
    let expected_text = match expected.as_slice() {
        [] => "something else".to_string(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    };
    let found = token_at(source, absolute, statement.end);
    let before: Vec<Token> = tokens(&source[statement.start..absolute])
        .into_iter()
        .map(|(t, _)| t)
        .collect();
    let (message, at) = match &found {
        Some((text, span))
            if is_comparison(text) && before.iter().any(|t| is_comparison_token(*t)) =>
        {
            (
                "a comparison cannot be followed by another comparison".to_string(),
                *span,
            )
        }
        Some((text, span)) if text == ".." && before.contains(&Token::DotDot) => (
            "a range cannot be followed by another `..`".to_string(),
            *span,
        ),
        Some((text, span)) => (format!("expected {expected_text}, found `{text}`"), *span),
        None => {
            let after = previous
                .as_ref()
                .map(|p| format!(" after `{p}`"))
                .unwrap_or_default();
            (
                format!("expected {expected_text}{after}"),
                Span::new(statement.end, statement.end),
            )
        }
    };
    let mut diagnostic = Diagnostic::error(codes::SYNTAX, at, message)
        .with_secondary(statement, "in this statement");
    let continued_line = continued_from_previous_line(source, statement.start, at.start);
    let hint = continued_line.or_else(|| {
        hint_for(
            &found,
            previous.as_deref(),
            &source[statement.start..absolute],
        )
    });
    if let Some(hint) = hint {
        diagnostic = diagnostic.with_hint(hint);
    }
    diagnostic
}

/// Where the parse failed and what could have come there: readable names of the rules and
/// literal tokens tried, and whether an operator was among them.
fn expectations(error: &pest::error::Error<Rule>) -> (usize, Vec<String>, bool) {
    let mut expected: Vec<String> = Vec::new();
    let mut operators = false;
    let push = |name: String, expected: &mut Vec<String>| {
        if !expected.contains(&name) {
            expected.push(name);
        }
    };
    // pest's own position is the furthest *rule* failure. A literal (`:`, `)`) that failed
    // further on is only in the detailed attempts; then the rules tried earlier are beside the
    // point. Literals that fail inside atomic rules (the `.` of a number) are not worth naming,
    // so when only those are there, the rule position stands.
    if let Some(attempts) = error.parse_attempts()
        && attempts.max_position > error_position(error)
    {
        for token in attempts.expected_tokens() {
            // `ParsingToken` is not exported; its Display is the literal text for literals.
            let token = token.to_string();
            if OPERATOR_TOKENS.contains(&token.as_str()) {
                operators = true;
            } else if matches!(token.as_str(), "then" | "else" | "in" | "for")
                || (token.chars().all(|c| c.is_ascii_punctuation())
                    && !matches!(token.as_str(), "\"" | "#" | "\\" | "_" | "."))
            {
                push(format!("`{token}`"), &mut expected);
            }
        }
        if !expected.is_empty() {
            return (attempts.max_position, expected, operators);
        }
        operators = false;
    }
    if let ErrorVariant::ParsingError { positives, .. } = &error.variant {
        for rule in positives {
            push(rule_name(*rule).to_string(), &mut expected);
        }
    }
    if let Some(attempts) = error.parse_attempts()
        && attempts.max_position == error_position(error)
    {
        for token in attempts.expected_tokens() {
            let token = token.to_string();
            if OPERATOR_TOKENS.contains(&token.as_str()) {
                operators = true;
            } else if matches!(token.as_str(), "then" | "else" | "in" | "for")
                || (token.chars().all(|c| c.is_ascii_punctuation())
                    && !matches!(token.as_str(), "\"" | "#" | "\\" | "_" | "."))
            {
                push(format!("`{token}`"), &mut expected);
            }
        }
    }
    if expected
        .iter()
        .any(|e| matches!(e.as_str(), "an operator" | "`[`" | "a comparison"))
    {
        operators = true;
    }
    expected.retain(|e| !matches!(e.as_str(), "an operator" | "`[`" | "a comparison" | "`..`"));
    if expected.iter().any(|e| e == "an expression") {
        expected.retain(|e| {
            !matches!(
                e.as_str(),
                "a number" | "a name" | "`true` or `false`" | "a call such as `f(x)`"
            )
        });
    }
    (error_position(error), expected, operators)
}

/// A hint when the error is on a line that the line before continued (it ended in `~`, `+`, ...).
fn continued_from_previous_line(source: &str, start: usize, error_at: usize) -> Option<String> {
    let error_at = error_at.min(source.len());
    let line_start = source[..error_at].rfind('\n').map(|p| p + 1)?;
    if line_start <= start {
        return None;
    }
    let (token, span) = tokens(&source[start..line_start])
        .into_iter()
        .rev()
        .find(|(t, _)| !matches!(t, Token::Comment | Token::Newline))?;
    token.continues_line().then(|| {
        let text = &source[start + span.start..start + span.end];
        format!("the line before ends in `{text}`, so this line continues that statement")
    })
}

/// The token starting at `position` (before `end`), with its span.
fn token_at(source: &str, position: usize, end: usize) -> Option<(String, Span)> {
    let rest = &source[position..end];
    tokens(rest)
        .into_iter()
        .find(|(t, _)| !matches!(t, Token::Comment | Token::Newline))
        .map(|(_, span)| {
            let span = Span::new(span.start + position, span.end + position);
            (source[span.range()].to_string(), span)
        })
}

/// The text of the last token before `position` in the statement starting at `start`.
fn previous_token(source: &str, start: usize, position: usize) -> Option<String> {
    tokens(&source[start..position])
        .into_iter()
        .rev()
        .find(|(t, _)| !matches!(t, Token::Comment | Token::Newline))
        .map(|(_, span)| source[start + span.start..start + span.end].to_string())
}

fn is_comparison(text: &str) -> bool {
    matches!(text, "<" | "<=" | ">" | ">=" | "==" | "!=")
}

fn is_comparison_token(token: Token) -> bool {
    matches!(
        token,
        Token::Less
            | Token::LessEqual
            | Token::Greater
            | Token::GreaterEqual
            | Token::EqualEqual
            | Token::NotEqual
    )
}

/// Whether the last token before `position` ends an operand (so an operator may follow).
fn previous_ends_operand(source: &str, start: usize, position: usize) -> bool {
    tokens(&source[start..position])
        .into_iter()
        .rev()
        .find(|(t, _)| !matches!(t, Token::Comment | Token::Newline))
        .is_some_and(|(t, _)| {
            matches!(
                t,
                Token::Name
                    | Token::Int
                    | Token::Real
                    | Token::True
                    | Token::False
                    | Token::RightParen
                    | Token::RightBracket
            )
        })
}

fn hint_for(
    found: &Option<(String, Span)>,
    previous: Option<&str>,
    before: &str,
) -> Option<String> {
    let found = found.as_ref().map(|(text, _)| text.as_str());
    let before_tokens: Vec<Token> = tokens(before).into_iter().map(|(t, _)| t).collect();
    match found {
        Some("if") => Some("`if` is not an operand: put it in parentheses, `1 + (if c then a else b)`".into()),
        Some(t) if before.trim().is_empty() && Token::lexer_continues(t) => Some(format!(
            "a line never continues because of how it starts: put `{t}` at the end of the line before, or use parentheses"
        )),
        Some(t) if is_comparison(t) && before_tokens.iter().any(|t| is_comparison_token(*t)) => {
            Some("comparisons do not chain: `a < b < c` is not allowed; put one comparison in parentheses if you mean its 0/1 value".into())
        }
        Some("..") if before_tokens.contains(&Token::DotDot) => {
            Some("ranges do not chain: write one range `a..b`".into())
        }
        Some("=") if previous.is_some_and(|p| p.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')) => {
            Some("a statement starts with a keyword: `let y = ...`, `const K = ...`; compare with `==`".into())
        }
        Some(":") => Some("`i:j` slices are only allowed directly inside an index, `x[i:j]`; declarations start with `observed`, `latent` or `param`".into()),
        Some("~") if previous.is_some() => Some("each statement holds one `~`".into()),
        _ => match previous {
            Some("~") => Some("the right side of `~` is a distribution call, e.g. `Normal(mu, sigma)`".into()),
            _ => None,
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_ok(source: &str) -> Program {
        let (program, diagnostics) = parse(source);
        assert!(diagnostics.is_empty(), "{source}: {diagnostics:#?}");
        program
    }

    fn first_error(source: &str) -> Diagnostic {
        let (_, diagnostics) = parse(source);
        assert!(!diagnostics.is_empty(), "{source} should not parse");
        diagnostics[0].clone()
    }

    fn expr_of(source: &str) -> Expr {
        parse_expression(source).unwrap_or_else(|d| panic!("{source}: {d:?}"))
    }

    #[test]
    fn precedence_follows_the_spec() {
        // -a^b is -(a^b); a^b^c is a^(b^c); a - b - c is (a - b) - c
        let e = expr_of("-a^b^c");
        let ExprKind::Neg(inner) = &e.kind else {
            panic!("{e:?}")
        };
        let ExprKind::Binary {
            op: BinaryOp::Pow,
            rhs,
            ..
        } = &inner.kind
        else {
            panic!()
        };
        assert!(matches!(
            rhs.kind,
            ExprKind::Binary {
                op: BinaryOp::Pow,
                ..
            }
        ));
        let e = expr_of("a - b - c");
        let ExprKind::Binary { lhs, .. } = &e.kind else {
            panic!()
        };
        assert!(matches!(
            lhs.kind,
            ExprKind::Binary {
                op: BinaryOp::Sub,
                ..
            }
        ));
        // 1..K + 1 is 1..(K + 1); a + b < c is (a + b) < c
        let e = expr_of("1..K + 1");
        assert!(matches!(e.kind, ExprKind::Range { .. }));
        let e = expr_of("a + b * c < d");
        let ExprKind::Binary {
            op: BinaryOp::Lt,
            lhs,
            ..
        } = &e.kind
        else {
            panic!()
        };
        assert!(matches!(
            lhs.kind,
            ExprKind::Binary {
                op: BinaryOp::Add,
                ..
            }
        ));
        // else extends right
        let e = expr_of("if c then a else b + 1");
        let ExprKind::If { otherwise, .. } = &e.kind else {
            panic!()
        };
        assert!(matches!(otherwise.kind, ExprKind::Binary { .. }));
    }

    #[test]
    fn spans_are_exact_in_the_file() {
        let source = "const K = 2\n\n  x ~ Normal(mu[z], (sigma))  # c\n";
        let program = parse_ok(source);
        let StatementKind::Tilde { target, dist, .. } = &program.statements[1].kind else {
            panic!()
        };
        assert_eq!(
            &source[program.statements[1].span.range()],
            "x ~ Normal(mu[z], (sigma))"
        );
        assert_eq!(&source[target.span.range()], "x");
        assert_eq!(&source[dist.span.range()], "Normal(mu[z], (sigma))");
        assert_eq!(&source[dist.args[0].value.span.range()], "mu[z]");
        assert_eq!(&source[dist.args[1].value.span.range()], "(sigma)");
    }

    #[test]
    fn keywords_count_only_at_statement_start() {
        let program =
            parse_ok("latent ~ Normal(0, 1)\nlatent[1] ~ Normal(0, 1)\nx ~ VAE(latent = 2)");
        assert!(
            program
                .statements
                .iter()
                .all(|s| matches!(s.kind, StatementKind::Tilde { .. }))
        );
    }

    #[test]
    fn indices_all_slices_and_ranges() {
        let e = expr_of("a[.., i:j, 1..3, z]");
        let ExprKind::Index { indices, .. } = &e.kind else {
            panic!()
        };
        assert!(matches!(indices[0], Index::All(_)));
        assert!(matches!(indices[1], Index::Slice { .. }));
        assert!(matches!(
            &indices[2],
            Index::Expr(Expr {
                kind: ExprKind::Range { .. },
                ..
            })
        ));
        assert!(matches!(&indices[3], Index::Expr(_)));
    }

    #[test]
    fn readable_errors() {
        assert_eq!(
            first_error("x ~").message,
            "expected a distribution such as `Normal(0, 1)` after `~`"
        );
        let d = first_error("x ~ Normal(mu, 1 + if c then 1 else 2)");
        assert!(d.hint.unwrap().contains("parentheses"));
        let d = first_error("y ~ Normal(mu = 1, 2)");
        assert_eq!(d.code, codes::POSITIONAL_AFTER_KEYWORD);
        let d = first_error("let y = a < b < c");
        assert!(
            d.hint.as_deref().unwrap_or("").contains("do not chain"),
            "{d:?}"
        );
    }

    /// Nesting just under the splitter's limit parses (or, if pest runs out of stack first,
    /// gives TOO_DEEP) without overflowing the 2 MiB stack of a test thread; beyond it, TOO_DEEP.
    #[test]
    fn deep_nesting_never_crashes() {
        // A bracket counts twice in the nesting estimate, an operator once.
        let operators = crate::split::MAX_NESTING - 2;
        let brackets = crate::split::MAX_NESTING / 2 - 2;
        let cases = [
            format!("let y = {}x{}", "(".repeat(brackets), ")".repeat(brackets)),
            format!("let y = {}x{}", "[".repeat(brackets), "]".repeat(brackets)),
            format!("let y = x{}", " ^ x".repeat(operators)),
            format!("let y = {}x", "- ".repeat(operators)),
            format!("let y = {}x", "if c then a else ".repeat(operators / 3)),
            format!("let y = {}x{}", "f(".repeat(brackets), ")".repeat(brackets)),
            format!("let y = x{}", "[i]".repeat(operators)),
            format!(
                "let y = {}x{}",
                "(- ".repeat(brackets / 2),
                ")".repeat(brackets / 2)
            ),
        ];
        for source in &cases {
            let (program, diagnostics) = parse(source);
            let ok = diagnostics.is_empty() && program.statements.len() == 1;
            let too_deep = diagnostics.iter().all(|d| d.code == codes::TOO_DEEP);
            assert!(ok || too_deep, "{}: {diagnostics:?}", &source[..40]);
        }
        let too_deep = format!("let y = {}x{}", "(".repeat(1000), ")".repeat(1000));
        assert_eq!(first_error(&too_deep).code, codes::TOO_DEEP);
        let nested_fors = |n: usize| {
            format!(
                "{}x ~ Normal(0, 1){}",
                "for i in 1..N { ".repeat(n),
                " }".repeat(n)
            )
        };
        let (program, diagnostics) = parse(&nested_fors(40));
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        assert_eq!(program.statements.len(), 1);
        assert_eq!(first_error(&nested_fors(5000)).code, codes::TOO_DEEP);
    }

    #[test]
    fn grammar_and_lexer_agree_on_tokens() {
        // Every kind of token the lexer knows, in a statement the grammar accepts: the two
        // definitions of the language's tokens must not drift apart.
        let source = "let y = if a <= b then [x[.., 1:2] for k in 1..K] else -c ^ 2.5e-3 * d / e @ f + g - 1 # c\nlet z = (a < b) + (a > b) + (a >= b) + (a == b) + (a != b) + true + false; const s = 1E3";
        let lexed: Vec<Token> = tokens(source).into_iter().map(|(t, _)| t).collect();
        for token in [
            Token::If,
            Token::Then,
            Token::Else,
            Token::For,
            Token::In,
            Token::True,
            Token::False,
            Token::Int,
            Token::Real,
            Token::Name,
            Token::Comment,
            Token::Newline,
            Token::Semicolon,
            Token::Plus,
            Token::Minus,
            Token::Star,
            Token::Slash,
            Token::At,
            Token::Caret,
            Token::Less,
            Token::LessEqual,
            Token::Greater,
            Token::GreaterEqual,
            Token::EqualEqual,
            Token::NotEqual,
            Token::Assign,
            Token::Comma,
            Token::Colon,
            Token::DotDot,
            Token::LeftParen,
            Token::RightParen,
            Token::LeftBracket,
            Token::RightBracket,
        ] {
            assert!(lexed.contains(&token), "{token:?} missing from the sample");
        }
        assert!(
            !lexed
                .iter()
                .any(|t| matches!(t, Token::Unknown | Token::Dot | Token::UnterminatedString))
        );
        parse_ok(source);
        parse_ok("data \"a \\\" b\"\nx ~ N(0, 1)\nfor n in 1..N { y ~ N(0, 1) }");
        // and what the lexer rejects, the parser reports
        for bad in ["let y = 1.", "let y = .5", "let y = a $ b", "data \"open"] {
            assert!(!parse(bad).1.is_empty(), "{bad}");
        }
    }

    #[test]
    fn parse_expression_for_the_repl() {
        let e = expr_of("mean(mu[1] - mu[2])");
        assert!(matches!(e.kind, ExprKind::Call(_)));
        assert!(parse_expression("x ~ Normal(0, 1)").is_err());
        assert!(parse_expression("a; b").is_err());
        assert!(parse_expression("").is_err());
    }

    #[test]
    fn invalid_utf8_points_at_the_byte() {
        let (_, diagnostics) = parse_bytes(b"const K = 2\nx \xff ~ Normal(0, 1)");
        assert_eq!(diagnostics[0].code, codes::INVALID_UTF8);
        assert_eq!(diagnostics[0].span, Some(Span::new(14, 15)));
    }

    #[test]
    fn display_source_keeps_every_byte_offset() {
        let bytes = b"# caf\xe9 \xe2\x82 ok\n\xff";
        let shown = display_source(bytes);
        assert_eq!(shown, "# caf? ?? ok\n?");
        assert_eq!(shown.len(), bytes.len());
        assert_eq!(display_source("µ ok".as_bytes()), "µ ok");
    }
}

#[cfg(test)]
mod parse_expression_tests {
    use super::*;

    #[test]
    fn a_block_is_not_an_expression_and_does_not_panic() {
        let error = parse_expression("for i in 1..3 { x[i] ~ Normal(0, 1) }").unwrap_err();
        assert_eq!(error.code, codes::SYNTAX);
        assert!(parse_expression("mean(mu[1] - mu[2])").is_ok());
    }
}
