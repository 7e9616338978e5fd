//! What is known and what is sampled: `Bindings` hold the values of everything known (dimensions,
//! data, fixed unknowns), `ParameterLayout` places each sampled unknown in the unconstrained
//! position vector, and the forward-mode oracle evaluates the whole model from a position.

use std::sync::Arc;

use ppl_ir::{Constraint, ExpressionBound, LetId, Model, Role, VarId};

use super::array::Array;
use super::error::TapeError;
use super::eval::Evaluator;
use super::net::{NetEntry, NetWeights, net_entries};
use super::numerics::{self, Real};

/// The values of everything known when the log density is evaluated.
#[derive(Clone, Debug, PartialEq)]
pub struct Bindings {
    /// Dimension values, by `DimId`.
    pub dims: Vec<usize>,
    /// By `VarId`, flat row-major: observed data, and fixed values of unknowns that are not
    /// sampled (e.g. discrete latents held fixed by a Gibbs or EM step). `None` for the rest.
    pub values: Vec<Option<Vec<f64>>>,
}

impl Bindings {
    /// No variable values yet.
    pub fn new(model: &Model, dims: Vec<usize>) -> Bindings {
        Bindings {
            dims,
            values: vec![None; model.variables.len()],
        }
    }

    /// Sets a variable's value (flat, row-major).
    pub fn set(&mut self, var: VarId, values: Vec<f64>) {
        if var.0 >= self.values.len() {
            self.values.resize(var.0 + 1, None);
        }
        self.values[var.0] = Some(values);
    }

    /// A variable's shape with the dimensions substituted (negative sizes count as 0).
    pub fn shape(&self, model: &Model, var: VarId) -> Vec<usize> {
        model.variables[var.0]
            .ty
            .shape
            .iter()
            .map(|size| size.evaluate(&self.dims).max(0) as usize)
            .collect()
    }

    /// The known variable values as arrays, checking their lengths.
    pub(crate) fn arrays<T: Real>(
        &self,
        model: &Model,
    ) -> Result<Vec<Option<Array<T>>>, TapeError> {
        let mut arrays = Vec::with_capacity(model.variables.len());
        for variable in &model.variables {
            let Some(values) = self.values.get(variable.id.0).and_then(|v| v.as_ref()) else {
                arrays.push(None);
                continue;
            };
            let shape = self.shape(model, variable.id);
            let expected: usize = shape.iter().product();
            if values.len() != expected {
                return Err(TapeError::WrongLength {
                    what: format!("the value of `{}`", variable.name),
                    expected,
                    found: values.len(),
                });
            }
            arrays.push(Some(Array::new(
                shape,
                values.iter().map(|&v| T::from(v)).collect(),
            )));
        }
        Ok(arrays)
    }
}

/// Where one sampled unknown lives in the unconstrained position vector.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterEntry {
    pub var: VarId,
    pub name: String,
    /// First coordinate in the position vector.
    pub offset: usize,
    /// Number of unconstrained coordinates (fewer than the constrained size for simplexes,
    /// correlation Cholesky factors and covariance matrices).
    pub len: usize,
    /// The constrained shape.
    pub shape: Vec<usize>,
    /// The transform from the coordinates; for an expression bound it is the standard one
    /// (to (0, 1), or to (0, inf) for one finite end) that `expression_bound` then maps.
    pub constraint: Constraint,
    /// A bound of data and earlier unknowns, evaluated per draw: with both ends the value is
    /// `low + (high - low) v` (log |J| gains `log(high - low)`), with one end `low + v` or
    /// `high - v`, `v` the standard transform's value.
    pub expression_bound: Option<ExpressionBound>,
}

/// The low and high ends of an expression bound, one value per element (`None`: infinite).
type BoundEnds<T> = (Option<Array<T>>, Option<Array<T>>);

/// What an expression bound is evaluated with: the model and the known values.
#[derive(Clone, Debug, PartialEq)]
struct BoundContext {
    model: Model,
    bindings: Bindings,
}

/// The sampled unknowns, in the order given, laid out one after another.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterLayout {
    pub entries: Vec<ParameterEntry>,
    /// The weights of each declared net, after the entries' coordinates (`super::net`).
    pub nets: Vec<NetEntry>,
    /// Total number of unconstrained coordinates.
    pub dim: usize,
    /// Present when some entry has an expression bound.
    bound_context: Option<Arc<BoundContext>>,
}

impl ParameterLayout {
    pub fn new(
        model: &Model,
        bindings: &Bindings,
        sampled: &[VarId],
    ) -> Result<ParameterLayout, TapeError> {
        let mut entries: Vec<ParameterEntry> = Vec::with_capacity(sampled.len());
        let mut offset = 0;
        for &var in sampled {
            let Some(variable) = model.variables.get(var.0) else {
                return Err(TapeError::NotSampleable {
                    what: format!("variable #{}", var.0),
                });
            };
            if variable.role == Role::Observed || entries.iter().any(|e| e.var == var) {
                return Err(TapeError::NotSampleable {
                    what: format!("`{}` (observed, or listed twice)", variable.name),
                });
            }
            let shape = bindings.shape(model, var);
            let constraint = match &variable.expression_bound {
                None => variable.constraint.clone(),
                Some(bound) => Constraint::Bounded {
                    low: 0.0,
                    high: if bound.low.is_some() && bound.high.is_some() {
                        1.0
                    } else {
                        f64::INFINITY
                    },
                    open: true,
                },
            };
            numerics::check_constraint(&constraint, &shape, &variable.name)?;
            let len = numerics::unconstrained_len(&constraint, &shape);
            entries.push(ParameterEntry {
                var,
                name: variable.name.clone(),
                offset,
                len,
                shape,
                constraint,
                expression_bound: variable.expression_bound.clone(),
            });
            offset += len;
        }
        let (nets, offset) = net_entries(model, &bindings.dims, offset)?;
        let bound_context = entries
            .iter()
            .any(|e| e.expression_bound.is_some())
            .then(|| {
                Arc::new(BoundContext {
                    model: model.clone(),
                    bindings: bindings.clone(),
                })
            });
        Ok(ParameterLayout {
            entries,
            nets,
            dim: offset,
            bound_context,
        })
    }

    /// The entries with an expression bound, in declaration order (a bound reads only
    /// unknowns declared before its variable, so each is final when it is read).
    pub(crate) fn expression_bounded(&self) -> Vec<usize> {
        let mut order: Vec<usize> = (0..self.entries.len())
            .filter(|&i| self.entries[i].expression_bound.is_some())
            .collect();
        order.sort_by_key(|&i| self.entries[i].var.0);
        order
    }

    /// An evaluator over the known values and `values` (one per entry), for the bounds.
    fn bound_evaluator<'a, T: Real>(
        &self,
        context: &'a BoundContext,
        values: &[Array<T>],
    ) -> Result<Evaluator<'a, T>, TapeError> {
        let mut variables = context.bindings.arrays::<T>(&context.model)?;
        for (entry, value) in self.entries.iter().zip(values) {
            variables[entry.var.0] = Some(value.clone());
        }
        Ok(Evaluator::new(
            &context.model,
            &context.bindings.dims,
            variables,
        ))
    }

    /// Maps the standard values of the expression-bounded entries to their bounds, in place;
    /// returns the log |J| of the affine maps.
    fn apply_expression_bounds<T: Real>(
        &self,
        context: &BoundContext,
        values: &mut [Array<T>],
    ) -> Result<T, TapeError> {
        let mut log_jacobian = T::from(0.0);
        let mut evaluator = self.bound_evaluator(context, values)?;
        for index in self.expression_bounded() {
            let entry = &self.entries[index];
            let (low, high) = self.bound_ends(&mut evaluator, entry)?;
            for (k, value) in values[index].values.iter_mut().enumerate() {
                let v = *value;
                *value = match (&low, &high) {
                    (Some(low), Some(high)) => {
                        let width = high.values[k] - low.values[k];
                        log_jacobian += width.ln();
                        low.values[k] + width * v
                    }
                    (Some(low), None) => low.values[k] + v,
                    (None, Some(high)) => high.values[k] - v,
                    (None, None) => v,
                };
            }
            evaluator.variables[entry.var.0] = Some(values[index].clone());
            evaluator.forget_lets();
        }
        Ok(log_jacobian)
    }

    /// The ends of an entry's expression bound, each broadcast to one value per element.
    fn bound_ends<T: Real>(
        &self,
        evaluator: &mut Evaluator<'_, T>,
        entry: &ParameterEntry,
    ) -> Result<BoundEnds<T>, TapeError> {
        let count: usize = entry.shape.iter().product();
        let mut end = |expr: &Option<ppl_ir::Expr>| -> Result<Option<Array<T>>, TapeError> {
            let Some(expr) = expr else {
                return Ok(None);
            };
            let value = evaluator.eval(expr)?;
            let values = match value.values.len() {
                1 => vec![value.values[0]; count],
                n if n == count => value.values,
                n => {
                    return Err(TapeError::Constraint {
                        variable: entry.name.clone(),
                        detail: format!("a bound has {n} values for {count} elements"),
                    });
                }
            };
            Ok(Some(Array::new(entry.shape.clone(), values)))
        };
        let Some(bound) = &entry.expression_bound else {
            return Ok((None, None));
        };
        let low = end(&bound.low)?;
        let high = end(&bound.high)?;
        Ok((low, high))
    }

    /// The constrained values of every sampled unknown and the summed log-Jacobian.
    pub(crate) fn constrain<T: Real>(
        &self,
        position: &[T],
    ) -> Result<(Vec<Array<T>>, T), TapeError> {
        if position.len() != self.dim {
            return Err(TapeError::WrongLength {
                what: "the position".into(),
                expected: self.dim,
                found: position.len(),
            });
        }
        let mut log_jacobian = T::from(0.0);
        let mut values = Vec::with_capacity(self.entries.len());
        for entry in &self.entries {
            let free = &position[entry.offset..entry.offset + entry.len];
            let (constrained, jacobian) =
                numerics::constrain(&entry.constraint, &entry.shape, free);
            log_jacobian += jacobian;
            values.push(Array::new(entry.shape.clone(), constrained));
        }
        if let Some(context) = &self.bound_context {
            log_jacobian += self.apply_expression_bounds(context, &mut values)?;
        }
        Ok((values, log_jacobian))
    }

    /// The unconstrained position of constrained values given per entry (flat row-major).
    pub fn unconstrain(&self, values: &[Vec<f64>]) -> Result<Vec<f64>, TapeError> {
        if values.len() != self.entries.len() {
            return Err(TapeError::WrongLength {
                what: "the list of sampled values".into(),
                expected: self.entries.len(),
                found: values.len(),
            });
        }
        let standard = match &self.bound_context {
            None => None,
            Some(context) => Some(self.remove_expression_bounds(context, values)?),
        };
        let values = standard.as_deref().unwrap_or(values);
        let mut position = Vec::with_capacity(self.dim);
        for (entry, value) in self.entries.iter().zip(values) {
            let expected: usize = entry.shape.iter().product();
            if value.len() != expected {
                return Err(TapeError::WrongLength {
                    what: format!("the value of `{}`", entry.name),
                    expected,
                    found: value.len(),
                });
            }
            position.extend(numerics::unconstrain(
                &entry.constraint,
                &entry.shape,
                value,
                &entry.name,
            )?);
        }
        for net in &self.nets {
            position.extend(net.default_coordinates());
        }
        Ok(position)
    }
}

impl ParameterLayout {
    /// Every net's weights at `position`, by net index, for the generic evaluator.
    pub(crate) fn net_weights<T: Real>(&self, position: &[T]) -> Vec<Option<NetWeights<T>>> {
        let mut weights = Vec::new();
        for net in &self.nets {
            if weights.len() <= net.net {
                weights.resize(net.net + 1, None);
            }
            weights[net.net] = Some(NetWeights {
                sizes: net.sizes.clone(),
                activation: net.activation,
                weights: net.weights(position),
            });
        }
        weights
    }

    /// The standard values (before the affine map) of constrained values given per entry:
    /// the inverse of `apply_expression_bounds`, refusing a value outside its bound.
    fn remove_expression_bounds(
        &self,
        context: &BoundContext,
        values: &[Vec<f64>],
    ) -> Result<Vec<Vec<f64>>, TapeError> {
        let arrays: Vec<Array<f64>> = self
            .entries
            .iter()
            .zip(values)
            .map(|(entry, value)| Array::new(entry.shape.clone(), value.clone()))
            .collect();
        let mut evaluator = self.bound_evaluator(context, &arrays)?;
        let mut standard = values.to_vec();
        for index in self.expression_bounded() {
            let entry = &self.entries[index];
            let expected: usize = entry.shape.iter().product();
            if standard[index].len() != expected {
                return Err(TapeError::WrongLength {
                    what: format!("the value of `{}`", entry.name),
                    expected,
                    found: standard[index].len(),
                });
            }
            let (low, high) = self.bound_ends(&mut evaluator, entry)?;
            for (k, value) in standard[index].iter_mut().enumerate() {
                let x = *value;
                let (v, inside) = match (&low, &high) {
                    (Some(low), Some(high)) => {
                        let (l, h) = (low.values[k], high.values[k]);
                        ((x - l) / (h - l), l < x && x < h)
                    }
                    (Some(low), None) => (x - low.values[k], x > low.values[k]),
                    (None, Some(high)) => (high.values[k] - x, x < high.values[k]),
                    (None, None) => (x, true),
                };
                if !inside {
                    return Err(TapeError::Constraint {
                        variable: entry.name.clone(),
                        detail: format!("the value {x} is outside its bound at these values"),
                    });
                }
                *value = v;
            }
        }
        Ok(standard)
    }
}

/// The constrained values of one position, for output: every sampled unknown and every `let` that
/// depends on one.
#[derive(Clone, Debug, PartialEq)]
pub struct Draw {
    pub variables: Vec<(VarId, Array<f64>)>,
    pub lets: Vec<(LetId, Array<f64>)>,
}

/// An evaluator with the data and the constrained sampled values of `position` bound, and the
/// log-Jacobian of the constraints.
pub(crate) fn bound_evaluator<'a, T: Real>(
    model: &'a Model,
    bindings: &'a Bindings,
    layout: &ParameterLayout,
    position: &[T],
) -> Result<(Evaluator<'a, T>, T), TapeError> {
    let mut variables = bindings.arrays::<T>(model)?;
    let (constrained, log_jacobian) = layout.constrain(position)?;
    for (entry, value) in layout.entries.iter().zip(constrained) {
        variables[entry.var.0] = Some(value);
    }
    let mut evaluator = Evaluator::new(model, &bindings.dims, variables);
    evaluator.nets = layout.net_weights(position);
    Ok((evaluator, log_jacobian))
}

/// The whole model's log density at an unconstrained position, on any scalar type, with the
/// constraints' log-Jacobians added: the reference the tape is tested against. With `Dual64`
/// seeded in one coordinate it gives one directional derivative (whole-model forward mode).
pub fn log_density_oracle<T: Real>(
    model: &Model,
    bindings: &Bindings,
    layout: &ParameterLayout,
    position: &[T],
) -> Result<T, TapeError> {
    let (mut evaluator, log_jacobian) = bound_evaluator(model, bindings, layout, position)?;
    Ok(evaluator.log_density()? + log_jacobian)
}

/// The log density and its gradient by whole-model forward mode: one `Dual64` evaluation per
/// coordinate. Slow (O(dim) evaluations) and simple: the test oracle for the tape.
pub fn oracle_gradient(
    model: &Model,
    bindings: &Bindings,
    layout: &ParameterLayout,
    position: &[f64],
) -> Result<(f64, Vec<f64>), TapeError> {
    use num_dual::Dual64;
    let value = log_density_oracle(model, bindings, layout, position)?;
    let mut gradient = vec![0.0; position.len()];
    for (coordinate, slot) in gradient.iter_mut().enumerate() {
        let seeded: Vec<Dual64> = position
            .iter()
            .enumerate()
            .map(|(i, &p)| {
                let dual = Dual64::from(p);
                if i == coordinate {
                    dual.derivative()
                } else {
                    dual
                }
            })
            .collect();
        let result = log_density_oracle(model, bindings, layout, &seeded)?;
        *slot = result.eps;
    }
    Ok((value, gradient))
}
