//! What is known and what is sampled: `Bindings` hold the values of everything known (dimensions,
//! data, fixed unknowns), `ParameterLayout` places each sampled unknown in the unconstrained
//! position vector, and the forward-mode oracle evaluates the whole model from a position.

use ppl_ir::{Constraint, LetId, Model, Role, VarId};

use super::array::Array;
use super::error::TapeError;
use super::eval::Evaluator;
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
    pub constraint: Constraint,
}

/// The sampled unknowns, in the order given, laid out one after another.
#[derive(Clone, Debug, PartialEq)]
pub struct ParameterLayout {
    pub entries: Vec<ParameterEntry>,
    /// Total number of unconstrained coordinates.
    pub dim: usize,
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
            numerics::check_constraint(&variable.constraint, &shape, &variable.name)?;
            let len = numerics::unconstrained_len(&variable.constraint, &shape);
            entries.push(ParameterEntry {
                var,
                name: variable.name.clone(),
                offset,
                len,
                shape,
                constraint: variable.constraint.clone(),
            });
            offset += len;
        }
        Ok(ParameterLayout {
            entries,
            dim: offset,
        })
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
        Ok(position)
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
    Ok((
        Evaluator::new(model, &bindings.dims, variables),
        log_jacobian,
    ))
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
