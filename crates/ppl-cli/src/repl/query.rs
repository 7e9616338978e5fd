//! Expressions over the last fit (LANGUAGE.md §9): `mean(mu[1] - mu[2])`, `sd(mu)`,
//! `quantile(sigma, 0.9)`, `prob(tau > 5)`. The outermost call of a reducer reduces over the draws,
//! element by element; the expression inside is checked as a `let` appended to the fitted model's
//! text and evaluated per draw by `ppl_model::query` with the model's variables bound. A bare
//! expression prints its posterior mean and sd.

use std::fmt::Write as _;
use std::ops::Range;

use ppl_ir::{CheckOptions, VarId};
use ppl_model::TapeError;
use ppl_model::query::{Query, QueryError};
use ppl_syntax::diagnostic::backticked;
use ppl_syntax::{Diagnostic, Expr, ExprKind, Span};

use crate::output::format_number;

/// The name the expression gets in the checked model.
const QUERY_LET: &str = "__query";

/// How the values of the draws are reduced.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Reducer {
    Mean,
    Sd,
    Quantile(f64),
    /// The share of draws where a condition holds.
    Prob,
    /// No reducer written: mean and sd.
    MeanAndSd,
}

/// A query: the reducer and the span of the expression evaluated per draw.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    pub reducer: Reducer,
    pub inner: Span,
}

/// Splits `mean(...)`, `sd(...)`, `quantile(..., p)` and `prob(...)` into reducer and inner
/// expression; anything else is a bare expression.
pub fn request(expr: &Expr) -> Result<Request, String> {
    let ExprKind::Call(call) = &expr.kind else {
        return Ok(Request {
            reducer: Reducer::MeanAndSd,
            inner: expr.span,
        });
    };
    let (reducer, usage) = match call.func.name.as_str() {
        "mean" => (Reducer::Mean, "mean(EXPR)"),
        "sd" => (Reducer::Sd, "sd(EXPR)"),
        "prob" => (Reducer::Prob, "prob(CONDITION)"),
        "quantile" => (Reducer::Quantile(f64::NAN), "quantile(EXPR, P)"),
        _ => {
            return Ok(Request {
                reducer: Reducer::MeanAndSd,
                inner: expr.span,
            });
        }
    };
    let positional: Vec<&Expr> = call.positional().collect();
    let arity = if matches!(reducer, Reducer::Quantile(_)) {
        2
    } else {
        1
    };
    if positional.len() != arity || positional.len() != call.args.len() {
        return Err(format!(
            "`{}` over the draws is written `{usage}`",
            call.func.name
        ));
    }
    let reducer = match reducer {
        Reducer::Quantile(_) => {
            let probability = match &positional[1].kind {
                ExprKind::Real(p) => *p,
                ExprKind::Int(p) => *p as f64,
                _ => f64::NAN,
            };
            if !(0.0..=1.0).contains(&probability) {
                return Err(
                    "the probability of `quantile(EXPR, P)` must be a number from 0 to 1, like 0.9"
                        .into(),
                );
            }
            Reducer::Quantile(probability)
        }
        other => other,
    };
    Ok(Request {
        reducer,
        inner: positional[0].span,
    })
}

/// The values a fit left, ready to bind: per unknown its name and its columns in each row; rows
/// grouped by chain. A point estimate (EM) is one chain of one row.
pub struct FitValues {
    pub unknowns: Vec<(String, Range<usize>)>,
    pub chains: Vec<Vec<Vec<f64>>>,
    pub point: bool,
}

impl FitValues {
    /// From MCMC draws: columns are named as CmdStan's (`mu`, `theta.1.2`).
    pub fn from_draws(names: &[String], columns: &[String], chains: Vec<Vec<Vec<f64>>>) -> Self {
        let unknowns = names
            .iter()
            .filter_map(|name| {
                let prefix = format!("{name}.");
                contiguous(columns, |c| c == name || c.starts_with(&prefix))
                    .map(|range| (name.clone(), range))
            })
            .collect();
        FitValues {
            unknowns,
            chains,
            point: false,
        }
    }

    /// From point estimates named in display form (`mu`, `mu[1]`, `theta[1,2]`), row-major.
    pub fn from_estimates(names: &[String], estimates: &[(String, f64)]) -> Self {
        let columns: Vec<String> = estimates.iter().map(|(n, _)| n.clone()).collect();
        let unknowns = names
            .iter()
            .filter_map(|name| {
                let prefix = format!("{name}[");
                contiguous(&columns, |c| c == name || c.starts_with(&prefix))
                    .map(|range| (name.clone(), range))
            })
            .collect();
        FitValues {
            unknowns,
            chains: vec![vec![estimates.iter().map(|(_, v)| *v).collect()]],
            point: true,
        }
    }

    fn draw_count(&self) -> usize {
        self.chains.iter().map(Vec::len).sum()
    }
}

/// The first run of consecutive columns that match.
fn contiguous(columns: &[String], matches: impl Fn(&str) -> bool) -> Option<Range<usize>> {
    let start = columns.iter().position(|c| matches(c))?;
    let length = columns[start..].iter().take_while(|c| matches(c)).count();
    Some(start..start + length)
}

/// What the REPL prints for a failed query.
#[derive(Debug)]
pub enum QueryFailure {
    /// Diagnostics on the input line or on the model text, and the text they point into.
    Diagnostics {
        diagnostics: Vec<Diagnostic>,
        source: String,
        file_name: String,
    },
    /// A plain explanation (a reducer used where it cannot apply, ...).
    Message(String),
}

impl QueryFailure {
    fn on_input(diagnostic: Diagnostic, input: &str) -> Self {
        QueryFailure::Diagnostics {
            diagnostics: vec![diagnostic],
            source: input.to_string(),
            file_name: "<input>".into(),
        }
    }

    fn on_query(diagnostics: Vec<Diagnostic>, query_source: &str) -> Self {
        QueryFailure::Diagnostics {
            diagnostics,
            source: query_source.to_string(),
            file_name: "<query>".into(),
        }
    }
}

/// Evaluates `request` (parsed from `input`) over `values`, fitted on the model `source` with
/// the constants `sets` and `data`. Returns the text to print.
pub fn evaluate(
    input: &str,
    request: &Request,
    source: &str,
    sets: &[(String, f64)],
    data: Option<&ppl_data::DataSet>,
    values: &FitValues,
) -> Result<String, QueryFailure> {
    let inner_text = &input[request.inner.range()];
    let mut query_source = source.to_string();
    if !query_source.is_empty() && !query_source.ends_with('\n') {
        query_source.push('\n');
    }
    let prefix = format!("let {QUERY_LET} = ");
    let region_start = query_source.len() + prefix.len();
    query_source.push_str(&prefix);
    query_source.push_str(inner_text);
    query_source.push('\n');
    // Spans inside the appended expression move back onto the input line.
    let to_input = |diagnostic: Diagnostic| -> Option<Diagnostic> {
        let span = diagnostic.span?;
        if span.start < region_start {
            return None;
        }
        let shift = |s: Span| {
            Span::new(
                s.start - region_start + request.inner.start,
                s.end.saturating_sub(region_start) + request.inner.start,
            )
        };
        let mut moved = diagnostic.clone();
        moved.span = Some(shift(span));
        moved.secondary.retain(|l| l.span.start >= region_start);
        for label in &mut moved.secondary {
            label.span = shift(label.span);
        }
        Some(moved)
    };
    let (program, mut diagnostics) = ppl_syntax::parse(&query_source);
    let options = CheckOptions {
        const_overrides: sets.to_vec(),
    };
    let (model, check_diagnostics) = ppl_ir::check(&program, &query_source, &options);
    diagnostics.extend(check_diagnostics);
    let errors: Vec<Diagnostic> = diagnostics.into_iter().filter(|d| d.is_error()).collect();
    if !errors.is_empty() {
        let on_input: Vec<Diagnostic> = errors.iter().cloned().filter_map(to_input).collect();
        return Err(if on_input.len() == errors.len() {
            QueryFailure::Diagnostics {
                diagnostics: on_input,
                source: input.to_string(),
                file_name: "<input>".into(),
            }
        } else {
            QueryFailure::on_query(errors, &query_source)
        });
    }
    let unplaced = QueryFailure::Message;
    let bound = ppl_model::bind(&model, data, &[])
        .map_err(|diagnostics| QueryFailure::on_query(diagnostics, &query_source))?;
    let query = Query::new(&model, &bound, QUERY_LET).map_err(|e| unplaced(e.to_string()))?;
    if values.point && !matches!(request.reducer, Reducer::Mean | Reducer::MeanAndSd) {
        return Err(unplaced(
            "the last run gave point estimates (EM), not posterior draws: `sd`, `quantile` and `prob` need draws; a bare expression or `mean(...)` prints its value at the estimates".into(),
        ));
    }
    let bindings: Vec<(VarId, Range<usize>)> = values
        .unknowns
        .iter()
        .filter_map(|(name, range)| {
            model
                .variables
                .iter()
                .find(|v| &v.name == name)
                .map(|v| (v.id, range.clone()))
        })
        .collect();
    // Per element of the result, its values chain by chain.
    let mut shape: Option<Vec<usize>> = None;
    let mut per_element: Vec<Vec<Vec<f64>>> = Vec::new();
    for (chain_index, chain) in values.chains.iter().enumerate() {
        for row in chain {
            let unknowns: Vec<(VarId, &[f64])> = bindings
                .iter()
                .filter_map(|(var, range)| row.get(range.clone()).map(|v| (*var, v)))
                .collect();
            let value = query.evaluate(&unknowns).map_err(|error| match error {
                QueryError::Tape(TapeError::Unbound { what, .. }) => {
                    let fitted = backticked(values.unknowns.iter().map(|(n, _)| n));
                    unplaced(format!(
                        "the last run has no value of {what} (it fitted {})",
                        if fitted.is_empty() {
                            "nothing"
                        } else {
                            fitted.as_str()
                        }
                    ))
                }
                QueryError::Tape(tape) => {
                    let diagnostic = ppl_model::posterior::tape_diagnostic(&tape);
                    match to_input(diagnostic.clone()) {
                        Some(moved) => QueryFailure::on_input(moved, input),
                        None => QueryFailure::on_query(vec![diagnostic], &query_source),
                    }
                }
                other => unplaced(other.to_string()),
            })?;
            match &shape {
                None => {
                    per_element = vec![vec![Vec::new(); values.chains.len()]; value.len()];
                    shape = Some(value.shape.clone());
                }
                Some(first) if *first != value.shape => {
                    return Err(unplaced(format!(
                        "`{inner_text}` changes shape between draws ({first:?}, then {:?})",
                        value.shape
                    )));
                }
                Some(_) => {}
            }
            for (element, v) in per_element.iter_mut().zip(&value.values) {
                element[chain_index].push(*v);
            }
        }
    }
    let Some(shape) = shape else {
        return Err(unplaced(
            "the last run left no draws to evaluate over".into(),
        ));
    };
    // A condition (a comparison, `true`, a product of comparisons) is 0 or 1 at every draw.
    let is_condition = || {
        per_element
            .iter()
            .flatten()
            .flatten()
            .all(|v| *v == 0.0 || *v == 1.0)
    };
    if request.reducer == Reducer::Prob && !is_condition() {
        return Err(unplaced(format!(
            "`prob(...)` takes a condition such as `prob({inner_text} > 0)`, not a number"
        )));
    }
    let label_base = match &ppl_syntax::parse_expression(inner_text) {
        Ok(Expr {
            kind: ExprKind::Name(name),
            ..
        }) => name.clone(),
        _ => String::new(),
    };
    let labels = ppl_model::names::element_names(&label_base, per_element.len(), &shape);
    Ok(format_result(
        request.reducer,
        values,
        &labels,
        &per_element,
        shape.is_empty(),
    ))
}

/// One line per element: the reduced value, with the Monte Carlo standard error for means and
/// probabilities over draws.
fn format_result(
    reducer: Reducer,
    values: &FitValues,
    labels: &[String],
    per_element: &[Vec<Vec<f64>>],
    scalar: bool,
) -> String {
    use ppl_infer::diagnostics::{mcse_mean, mean_sd, quantile};
    let width = labels.iter().map(|l| l.chars().count()).max().unwrap_or(0);
    let mut out = String::new();
    if per_element.is_empty() {
        out.push_str("(empty)\n");
    }
    for (label, chains) in labels.iter().zip(per_element) {
        let slices: Vec<&[f64]> = chains
            .iter()
            .map(Vec::as_slice)
            .filter(|c| !c.is_empty())
            .collect();
        let with_mcse = |value: f64, slices: &[&[f64]]| {
            let mcse = mcse_mean(slices);
            if values.point || !mcse.is_finite() {
                format_number(value)
            } else {
                format!("{}  (MCSE {})", format_number(value), format_number(mcse))
            }
        };
        let text = match reducer {
            Reducer::Mean => with_mcse(mean_sd(&slices).0, &slices),
            Reducer::Sd => format_number(mean_sd(&slices).1),
            Reducer::Quantile(p) => format_number(quantile(&slices, p)),
            Reducer::Prob => {
                let indicators: Vec<Vec<f64>> = slices
                    .iter()
                    .map(|c| c.iter().map(|v| f64::from(u8::from(*v != 0.0))).collect())
                    .collect();
                let slices: Vec<&[f64]> = indicators.iter().map(Vec::as_slice).collect();
                with_mcse(mean_sd(&slices).0, &slices)
            }
            Reducer::MeanAndSd if values.point => format_number(mean_sd(&slices).0),
            Reducer::MeanAndSd => {
                let (mean, sd) = mean_sd(&slices);
                format!("mean {}  sd {}", format_number(mean), format_number(sd))
            }
        };
        if scalar {
            let _ = writeln!(out, "{text}");
        } else {
            let _ = writeln!(out, "{label:<width$}  {text}");
        }
    }
    if values.point {
        out.push_str("(at the point estimates of the last run)\n");
    } else {
        let _ = writeln!(
            out,
            "({} draws in {} chain{})",
            values.draw_count(),
            values.chains.len(),
            if values.chains.len() == 1 { "" } else { "s" }
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parsed(text: &str) -> Result<Request, String> {
        request(&ppl_syntax::parse_expression(text).expect("an expression"))
    }

    #[test]
    fn reducers_are_recognised_only_outermost() {
        let r = parsed("mean(mu[1] - mu[2])").unwrap();
        assert_eq!(r.reducer, Reducer::Mean);
        assert_eq!(r.inner, Span::new(5, 18));
        assert_eq!(parsed("sd(mu)").unwrap().reducer, Reducer::Sd);
        assert_eq!(
            parsed("quantile(sigma, 0.9)").unwrap().reducer,
            Reducer::Quantile(0.9)
        );
        assert_eq!(parsed("prob(tau > 5)").unwrap().reducer, Reducer::Prob);
        let bare = parsed("exp(mu) + 1").unwrap();
        assert_eq!(bare.reducer, Reducer::MeanAndSd);
        assert_eq!(bare.inner, Span::new(0, 11));
        assert_eq!(parsed("log(mu)").unwrap().reducer, Reducer::MeanAndSd);
    }

    #[test]
    fn malformed_reducers_are_explained() {
        assert!(parsed("mean(mu, 2)").unwrap_err().contains("mean(EXPR)"));
        assert!(parsed("quantile(mu)").is_err());
        assert!(
            parsed("quantile(mu, 1.5)")
                .unwrap_err()
                .contains("from 0 to 1")
        );
        assert!(parsed("quantile(mu, p)").is_err());
        assert!(parsed("prob(a > 1, b)").is_err());
    }

    #[test]
    fn fitted_values_are_found_by_name() {
        let columns: Vec<String> = ["lp__", "mu.1", "mu.2", "sigma", "mu_sum"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let names = vec!["mu".to_string(), "sigma".to_string(), "z".to_string()];
        let fit = FitValues::from_draws(&names, &columns, vec![]);
        assert_eq!(
            fit.unknowns,
            vec![("mu".to_string(), 1..3), ("sigma".to_string(), 3..4)]
        );
        let estimates = vec![
            ("w[1]".to_string(), 0.3),
            ("w[2]".to_string(), 0.7),
            ("mu[1]".to_string(), -2.0),
            ("mu[2]".to_string(), 2.0),
        ];
        let names = vec!["w".to_string(), "mu".to_string()];
        let fit = FitValues::from_estimates(&names, &estimates);
        assert_eq!(
            fit.unknowns,
            vec![("w".to_string(), 0..2), ("mu".to_string(), 2..4)]
        );
        assert_eq!(fit.chains, vec![vec![vec![0.3, 0.7, -2.0, 2.0]]]);
    }

    #[test]
    fn evaluation_reduces_over_draws_elementwise() {
        let source = "const K = 2\nlatent mu: real[K]\nmu ~ Normal(0, 1)\n";
        let columns = vec!["lp__".to_string(), "mu.1".to_string(), "mu.2".to_string()];
        let chains = vec![
            vec![vec![0.0, 1.0, 10.0], vec![0.0, 3.0, 20.0]],
            vec![vec![0.0, 5.0, 30.0], vec![0.0, 7.0, 40.0]],
        ];
        let fit = FitValues::from_draws(&["mu".to_string()], &columns, chains);
        let run = |input: &str| {
            let request = parsed(input).unwrap();
            evaluate(input, &request, source, &[], None, &fit).map_err(|f| format!("{f:?}"))
        };
        let text = run("mean(mu[2] - mu[1])").unwrap();
        assert!(text.starts_with("21.0000"), "{text}");
        assert!(text.contains("(4 draws in 2 chains)"), "{text}");
        let text = run("sd(mu)").unwrap();
        let expected = (20.0f64 / 3.0).sqrt();
        assert!(
            text.contains(&format!("mu[1]  {}", format_number(expected))),
            "{text}"
        );
        let text = run("prob(mu > 4)").unwrap();
        assert!(text.contains("[1]  0.5000"), "{text}");
        assert!(text.contains("[2]  1.0000"), "{text}");
        let text = run("quantile(mu[1], 0.5)").unwrap();
        assert!(text.starts_with("4.0000"), "{text}");
        assert!(run("prob(mu[1])").unwrap_err().contains("condition"));
        let error = run("mean(nu)").unwrap_err();
        assert!(error.contains("E0201"), "{error}");
    }
}
