//! Evaluating an expression over fitted values, as the REPL does after a run
//! (`mean(mu[1] - mu[2])`): the expression arrives as a top-level `let` of a checked model, and is
//! evaluated once per draw (or at the point estimates) with the dimensions, the data and that
//! draw's unknowns bound. The `let`s it refers to are computed from the same values, so a query
//! sees exactly what the model's own statements see.

use ppl_ir::{LetId, Model, VarId};
use thiserror::Error;

use crate::BoundData;
use crate::tape::{Array, Bindings, Evaluator, TapeError};

/// Why a query cannot be evaluated.
#[derive(Debug, Error)]
pub enum QueryError {
    #[error("the model has no `let {0}` to evaluate")]
    NoSuchLet(String),
    #[error("`let {0}` is inside a loop; a query must be a top-level `let`")]
    InsideLoop(String),
    #[error("variable #{0} is not in the model")]
    NoSuchVariable(usize),
    #[error("`{name}` has {found} values at this draw, but its shape needs {expected}")]
    WrongLength {
        name: String,
        expected: usize,
        found: usize,
    },
    #[error(transparent)]
    Tape(#[from] TapeError),
}

/// One top-level `let` of a model bound to its data, ready to be evaluated at many draws.
pub struct Query<'a> {
    model: &'a Model,
    target: LetId,
    bindings: Bindings,
    /// The data (and any fixed values) as arrays, cloned into each evaluation.
    known: Vec<Option<Array<f64>>>,
}

impl<'a> Query<'a> {
    /// Prepares the evaluation of `let name` of `model`, with `bound` (from
    /// [`crate::bind`] on this same model) giving the dimensions and the observed values.
    pub fn new(model: &'a Model, bound: &BoundData, name: &str) -> Result<Query<'a>, QueryError> {
        let definition = model
            .lets
            .iter()
            .find(|l| l.name == name)
            .ok_or_else(|| QueryError::NoSuchLet(name.to_string()))?;
        if !definition.loops.is_empty() {
            return Err(QueryError::InsideLoop(name.to_string()));
        }
        let mut bindings = Bindings::new(model, bound.dims.clone());
        for (index, values) in bound.observed.iter().enumerate() {
            if let Some(values) = values {
                bindings.set(VarId(index), values.clone());
            }
        }
        let known = bindings.arrays::<f64>(model)?;
        Ok(Query {
            model,
            target: definition.id,
            bindings,
            known,
        })
    }

    /// The `let`'s value with the given unknowns bound (each as flat row-major constrained
    /// values). Unknowns not given stay unbound: an expression that needs one fails with
    /// [`TapeError::Unbound`].
    pub fn evaluate(&self, unknowns: &[(VarId, &[f64])]) -> Result<Array<f64>, QueryError> {
        let mut variables = self.known.clone();
        for &(var, values) in unknowns {
            let variable = self
                .model
                .variables
                .get(var.0)
                .ok_or(QueryError::NoSuchVariable(var.0))?;
            let shape = self.bindings.shape(self.model, var);
            let expected: usize = shape.iter().product();
            if values.len() != expected {
                return Err(QueryError::WrongLength {
                    name: variable.name.clone(),
                    expected,
                    found: values.len(),
                });
            }
            variables[var.0] = Some(Array::new(shape, values.to_vec()));
        }
        let mut evaluator = Evaluator::new(self.model, &self.bindings.dims, variables);
        Ok(evaluator.full_let(self.target)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn checked(source: &str) -> Model {
        let (program, diagnostics) = ppl_syntax::parse(source);
        assert!(diagnostics.is_empty(), "{diagnostics:?}");
        let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
        assert!(!diagnostics.iter().any(|d| d.is_error()), "{diagnostics:?}");
        model
    }

    fn bound(model: &Model) -> BoundData {
        crate::bind(model, None, &[]).expect("binds without data")
    }

    fn variable(model: &Model, name: &str) -> VarId {
        model
            .variables
            .iter()
            .find(|v| v.name == name)
            .expect("declared")
            .id
    }

    #[test]
    fn evaluates_arithmetic_and_indexing_of_unknowns() {
        let model =
            checked("latent mu: real[3]\nmu ~ Normal(0, 1)\nlet __query = mu[1] - mu[3] * 2\n");
        let bound = bound(&model);
        let query = Query::new(&model, &bound, "__query").unwrap();
        let mu = variable(&model, "mu");
        let value = query.evaluate(&[(mu, &[1.0, 5.0, 0.25])]).unwrap();
        assert!(value.shape.is_empty());
        assert_eq!(value.values, vec![0.5]);
        let value = query.evaluate(&[(mu, &[-2.0, 0.0, 1.0])]).unwrap();
        assert_eq!(value.values, vec![-4.0]);
    }

    #[test]
    fn comparisons_give_indicators_and_arrays_keep_their_shape() {
        let model = checked(
            "const K = 2\nlatent tau: positive[K]\ntau ~ Exponential(1)\nlet __query = tau > 5\n",
        );
        let bound = bound(&model);
        let query = Query::new(&model, &bound, "__query").unwrap();
        let tau = variable(&model, "tau");
        let value = query.evaluate(&[(tau, &[6.0, 4.0])]).unwrap();
        assert_eq!(value.shape, vec![2]);
        assert_eq!(value.values, vec![1.0, 0.0]);
    }

    #[test]
    fn other_lets_are_computed_from_the_same_draw() {
        let model = checked(
            "latent a: real\nlatent b: real\na ~ Normal(0, 1)\nb ~ Normal(0, 1)\nlet s = a + b\nlet __query = s * s\n",
        );
        let bound = bound(&model);
        let query = Query::new(&model, &bound, "__query").unwrap();
        let (a, b) = (variable(&model, "a"), variable(&model, "b"));
        let value = query.evaluate(&[(a, &[1.5]), (b, &[0.5])]).unwrap();
        assert_eq!(value.values, vec![4.0]);
    }

    #[test]
    fn missing_values_and_wrong_lengths_are_errors_not_panics() {
        let model = checked("latent mu: real[2]\nmu ~ Normal(0, 1)\nlet __query = mu[2]\n");
        let bound = bound(&model);
        let query = Query::new(&model, &bound, "__query").unwrap();
        assert!(matches!(
            query.evaluate(&[]),
            Err(QueryError::Tape(TapeError::Unbound { .. }))
        ));
        let mu = variable(&model, "mu");
        assert!(matches!(
            query.evaluate(&[(mu, &[1.0])]),
            Err(QueryError::WrongLength { expected: 2, .. })
        ));
        assert!(matches!(
            Query::new(&model, &bound, "nope"),
            Err(QueryError::NoSuchLet(_))
        ));
    }
}
