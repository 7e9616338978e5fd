//! The front end of ppl: model text to a syntax tree with byte spans, plus the diagnostic type that
//! every later phase reports with.
//!
//! `parse` never fails: it returns the statements it could read and one diagnostic per statement
//! it could not (LANGUAGE.md §1: a `logos` pass splits the file into statements, each statement is
//! parsed by the `pest` grammar in `grammar/ppl.pest`).

pub mod ast;
pub mod codes;
pub mod diagnostic;
pub mod lexer;
pub mod parser;
pub mod split;

pub use ast::*;
pub use diagnostic::{Diagnostic, Label, Severity};
pub use lexer::{Token, TokenClass, highlight, needs_more_input, tokens};
pub use parser::{display_source, parse, parse_bytes, parse_expression};
