//! The checker: resolves names, types, constraints and symbolic shapes of a parsed model and lowers
//! it to a `Model`. It never stops at the first problem: each statement is checked on its own, and
//! a statement that fails leaves no trace in the model, so later statements are still checked
//! (their own uses of a failed name report once, as unknown).

mod expr;
mod library;
mod recursion;
mod shapes;
mod statements;

use std::collections::{HashMap, HashSet};

use ppl_syntax::{Diagnostic, Program, Span};

use crate::model::*;

pub use shapes::{display_shape, display_size};
pub use statements::visit;

/// Settings that change what a model means: `--set K=3` overrides of constants.
#[derive(Clone, Debug, Default)]
pub struct CheckOptions {
    pub const_overrides: Vec<(String, f64)>,
}

/// Checks a parsed program. The model is complete when no diagnostic is an error.
pub fn check(program: &Program, source: &str, options: &CheckOptions) -> (Model, Vec<Diagnostic>) {
    let mut checker = Checker::new(source, options);
    for statement in &program.statements {
        if let ppl_syntax::StatementKind::Declare { name, .. } = &statement.kind {
            checker
                .declarations
                .entry(name.name.clone())
                .or_insert(name.span);
        }
    }
    for statement in &program.statements {
        checker.statement(statement, &[]);
    }
    checker.finish()
}

/// What a name in scope stands for.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Symbol {
    Constant(usize),
    Dim(DimId),
    Variable(VarId),
    Let(LetId),
    Net(usize),
    LoopVar(LoopId),
    /// A library signature's int list (`hidden: int[] = [128]`), spliced into `mlp(...)` sizes.
    SizeList(usize),
}

/// A failed check: the diagnostic has been recorded; the statement is abandoned.
#[derive(Debug)]
struct Reported;

type Checked<T> = Result<T, Reported>;

struct Checker<'a> {
    source: &'a str,
    options: &'a CheckOptions,
    model: Model,
    diagnostics: Vec<Diagnostic>,
    /// Global names, and loop variables pushed and popped as bodies are entered.
    scope: HashMap<String, Symbol>,
    /// Where each global name was declared, for "first declared here".
    declared_at: HashMap<String, Span>,
    /// Which parts of each variable have a distribution, to catch two on one element.
    coverage: HashMap<VarId, Vec<Coverage>>,
    /// The int lists of a library signature, by `Symbol::SizeList` index.
    size_lists: Vec<Vec<Size>>,
    /// Names whose declaration failed (and reported): later uses stay silent, since "not
    /// declared" would only repeat the first error.
    failed_names: HashSet<String>,
    /// Variables that are the target of a `~` that failed to check: they do have a
    /// distribution, so "no distribution" would be a follow-on warning.
    failed_tilde_targets: HashSet<VarId>,
    /// The expanded nesting depth of each `let`, by `LetId` (see `MAX_EXPANDED_DEPTH`).
    let_depths: Vec<usize>,
    /// The target (as written) and span of each library model used, to refuse a second one on
    /// the same target.
    library_uses: Vec<(String, Span)>,
    /// How many times each library model has been used, for the prefixes `vae`, `vae2`, ...
    library_uses_by_name: HashMap<String, usize>,
    /// The recursive `let` whose piece is being checked (its earlier elements are readable).
    defining_recurrence: Option<LetId>,
    /// Recursive `let`s used outside their pieces (complete from then on), with the first use.
    sealed_recurrences: HashSet<LetId>,
    first_recurrence_use: HashMap<LetId, Span>,
    /// Every declared name of the program and where, to tell "declared later" from "not
    /// declared" when a bound names an unknown.
    declarations: HashMap<String, Span>,
    /// The variable whose bound is being checked (its bound may use only earlier names).
    bounding: Option<String>,
}

/// The part of a variable a `~` statement covers.
#[derive(Clone, Debug, PartialEq)]
enum Coverage {
    Whole(Span),
    /// Indexed with indices known at compile time (constants only).
    Constant(Vec<i64>, Span),
    /// Indexed by loop variables or data: assumed disjoint from other indexed statements.
    Partial(Span),
}

impl<'a> Checker<'a> {
    fn new(source: &'a str, options: &'a CheckOptions) -> Self {
        Checker {
            source,
            options,
            model: Model::default(),
            diagnostics: Vec::new(),
            scope: HashMap::new(),
            declared_at: HashMap::new(),
            coverage: HashMap::new(),
            size_lists: Vec::new(),
            failed_names: HashSet::new(),
            failed_tilde_targets: HashSet::new(),
            let_depths: Vec::new(),
            library_uses: Vec::new(),
            library_uses_by_name: HashMap::new(),
            defining_recurrence: None,
            sealed_recurrences: HashSet::new(),
            first_recurrence_use: HashMap::new(),
            declarations: HashMap::new(),
            bounding: None,
        }
    }

    fn report(&mut self, diagnostic: Diagnostic) -> Reported {
        self.diagnostics.push(diagnostic);
        Reported
    }

    fn text(&self, span: Span) -> &'a str {
        self.source.get(span.range()).unwrap_or("")
    }

    fn finish(mut self) -> (Model, Vec<Diagnostic>) {
        self.warn_improper_priors();
        (self.model, self.diagnostics)
    }

    /// Latents with no distribution at all get a flat prior (Stan's behaviour); say so, except for
    /// bounded ints (a proper uniform) and bounded reals on a finite interval or a simplex. Params
    /// are point-estimated, where a flat prior is simply maximum likelihood.
    fn warn_improper_priors(&mut self) {
        let mut warnings = Vec::new();
        for variable in &self.model.variables {
            if variable.role != Role::Latent
                || self.coverage.contains_key(&variable.id)
                || self.failed_tilde_targets.contains(&variable.id)
            {
                continue;
            }
            let proper = match &variable.constraint {
                // An int bound from the data is finite once the data is bound.
                Constraint::Bounded { .. } if variable.data_bound.is_some() => true,
                Constraint::Bounded { low, high, .. } => low.is_finite() && high.is_finite(),
                Constraint::None => variable
                    .expression_bound
                    .as_ref()
                    .is_some_and(|b| b.low.is_some() && b.high.is_some()),
                Constraint::Simplex | Constraint::CorrCholesky => true,
                _ => false,
            };
            if !proper {
                warnings.push(
                    Diagnostic::warning(
                        ppl_syntax::codes::IMPROPER_PRIOR,
                        variable.name_span,
                        format!("`{}` has no distribution: its prior is flat (improper)", variable.name),
                    )
                    .with_label("no `~` statement for this unknown")
                    .with_hint(match variable.constraint {
                        Constraint::None | Constraint::Bounded { .. } => format!(
                            "add a prior, e.g. `{} ~ Normal(0, 10)`, unless the likelihood alone identifies it",
                            variable.name
                        ),
                        _ => format!("add a prior for `{}` with `~`, unless the likelihood alone identifies it", variable.name),
                    }),
                );
            }
        }
        self.diagnostics.extend(warnings);
    }

    /// Declares a global name, reporting a duplicate.
    fn declare(&mut self, name: &str, span: Span, symbol: Symbol) -> Checked<()> {
        if let Some(previous) = self.declared_at.get(name).copied() {
            return Err(self.report(
                Diagnostic::error(
                    ppl_syntax::codes::DUPLICATE_NAME,
                    span,
                    format!("`{name}` is declared twice"),
                )
                .with_label("declared again here")
                .with_secondary(previous, "first declared here"),
            ));
        }
        if let Some(function) = crate::Builtin::from_name(name) {
            // `latent sd: positive` is common in Stan and PyMC code; a variable is never called,
            // so `sd(x)` still reaches the function and the name only shadows it as a value.
            self.diagnostics.push(
                Diagnostic::note(
                    ppl_syntax::codes::SHADOWED_BUILTIN,
                    span,
                    format!(
                        "`{name}` shadows the built-in function `{}`",
                        function.name()
                    ),
                )
                .with_label("declared here")
                .with_hint(format!(
                    "`{name}` names this declaration; `{name}(...)` still calls the function"
                )),
            );
        } else if ppl_dist::family(name).is_some() || name == "pi" || name == "inf" {
            return Err(self.report(
                Diagnostic::error(
                    ppl_syntax::codes::RESERVED_NAME,
                    span,
                    format!("`{name}` is a built-in name and cannot be declared"),
                )
                .with_hint("choose another name"),
            ));
        }
        self.declared_at.insert(name.to_string(), span);
        self.scope.insert(name.to_string(), symbol);
        Ok(())
    }

    /// Records that the declaration of `name` failed (its error is already reported).
    fn failed_declaration(&mut self, name: &str) {
        if !self.scope.contains_key(name) {
            self.failed_names.insert(name.to_string());
        }
    }

    /// Every name a `did you mean` hint may suggest.
    fn visible_names(&self) -> Vec<String> {
        self.scope.keys().cloned().collect()
    }
}
