//! Drawing a data set from the model (`ppl simulate`): unknowns fixed by `--set` or drawn from their
//! distributions, then the observed variables drawn statement by statement in source order.

use ppl_ir::{ElemType, ExprKind, Model, Role, TermKind};
use ppl_syntax::{Diagnostic, codes};
use rand::SeedableRng;

use crate::tape::{Array, Evaluator};

/// What to simulate.
#[derive(Clone, Debug, Default)]
pub struct SimulationRequest {
    /// `--set NAME=VALUE`: unknowns (flat row-major values) and dimensions (one value).
    pub fixed: Vec<(String, Vec<f64>)>,
    /// `--n N`: the length of the observed variables' first dimension.
    pub n: Option<usize>,
    pub seed: u64,
}

/// The simulated observed variables, as CSV columns.
#[derive(Clone, Debug, PartialEq)]
pub struct SimulatedTable {
    pub columns: Vec<String>,
    pub rows: usize,
    /// Column-major: `values[c][r]`.
    pub values: Vec<Vec<f64>>,
    pub integer: Vec<bool>,
}

impl SimulatedTable {
    pub fn to_csv(&self) -> String {
        let mut out = self.columns.join(",");
        out.push('\n');
        for row in 0..self.rows {
            let cells: Vec<String> = self
                .values
                .iter()
                .zip(&self.integer)
                .map(|(column, integer)| {
                    if *integer {
                        format!("{}", column[row] as i64)
                    } else {
                        format!("{}", column[row])
                    }
                })
                .collect();
            out.push_str(&cells.join(","));
            out.push('\n');
        }
        out
    }
}

pub fn simulate(
    model: &Model,
    request: &SimulationRequest,
) -> Result<SimulatedTable, Vec<Diagnostic>> {
    let fixed = |name: &str| {
        request
            .fixed
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v)
    };
    for (name, _) in &request.fixed {
        let known = model
            .variable(name)
            .is_some_and(|v| v.role != Role::Observed)
            || model.dims.iter().any(|d| &d.name == name);
        if !known {
            return Err(vec![Diagnostic::unplaced(
                codes::BAD_SET,
                format!("`--set {name}=...`: the model has no unknown or dimension `{name}`"),
            )]);
        }
    }
    // The plate: the first dimension of the first observed variable.
    let plate = model
        .variables
        .iter()
        .find(|v| v.role == Role::Observed && v.init.is_none())
        .and_then(|v| v.ty.shape.first())
        .and_then(|s| match s.terms.as_slice() {
            [(dim, 1)] if s.constant == 0 => Some(*dim),
            _ => None,
        });
    let mut dims = Vec::with_capacity(model.dims.len());
    for dim in &model.dims {
        let value = match (fixed(&dim.name), plate == Some(dim.id), request.n) {
            (Some(v), _, _) => v.first().copied().unwrap_or(0.0).max(0.0) as usize,
            (None, true, Some(n)) => n,
            _ => {
                return Err(vec![
                    Diagnostic::error(
                        codes::BAD_SET,
                        dim.span,
                        format!("the size `{}` is not given", dim.name),
                    )
                    .with_label("simulate needs every dimension")
                    .with_hint(format!(
                        "pass `--n N` for the data length or `--set {}=...`",
                        dim.name
                    )),
                ]);
            }
        };
        dims.push(value);
    }
    let shape_of = |v: &ppl_ir::Variable| -> Vec<usize> {
        v.ty.shape
            .iter()
            .map(|s| s.evaluate(&dims).max(0) as usize)
            .collect()
    };
    let mut values: Vec<Option<Array<f64>>> = vec![None; model.variables.len()];
    for variable in &model.variables {
        let shape = shape_of(variable);
        let count: usize = shape.iter().product();
        let given = fixed(&variable.name).cloned().or_else(|| {
            (variable.role == Role::Observed)
                .then(|| variable.init.as_ref().and_then(crate::bind::literal_values))
                .flatten()
        });
        if let Some(given) = given {
            if given.len() != count {
                return Err(vec![
                    Diagnostic::error(
                        codes::BAD_SET,
                        variable.name_span,
                        format!(
                            "`--set {}` gives {} values but `{}` has {count}",
                            variable.name,
                            given.len(),
                            variable.name
                        ),
                    )
                    .with_label(format!("declared as `{}`", variable.declared_as)),
                ]);
            }
            values[variable.id.0] = Some(Array::new(shape, given));
        }
    }
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(request.seed);
    for term in &model.terms {
        let TermKind::Tilde {
            target,
            distribution,
            args,
        } = &term.kind
        else {
            continue;
        };
        let ExprKind::Variable(id) = target.kind else {
            return Err(vec![unsupported(term.span, "a `~` on part of a variable")]);
        };
        if values[id.0].is_some() {
            continue;
        }
        if !term.loops.is_empty() {
            return Err(vec![unsupported(term.span, "a `~` inside a `for` loop")]);
        }
        let variable = &model.variables[id.0];
        let shape = shape_of(variable);
        let mut evaluator = Evaluator::new(model, &dims, values.clone());
        let mut evaluated = Vec::with_capacity(args.len());
        for arg in args {
            match evaluator.eval(arg) {
                Ok(value) => evaluated.push(value),
                Err(error) => {
                    return Err(vec![
                        Diagnostic::error(
                            codes::BAD_SET,
                            term.span,
                            format!("cannot evaluate the arguments: {error}"),
                        )
                        .with_hint("fix the unknowns this statement uses with `--set`"),
                    ]);
                }
            }
        }
        let family = distribution.family();
        let event_rank = family.variate_rank;
        let event_shape = &shape[shape.len().saturating_sub(event_rank)..];
        let event_size: usize = event_shape.iter().product::<usize>().max(1);
        let count: usize = shape.iter().product();
        let batches = count / event_size.max(1);
        let ranks: Vec<usize> = distribution
            .parameterisation()
            .params
            .iter()
            .map(|p| p.rank)
            .collect();
        let bounds = match unknown_bounds(variable, &mut evaluator, count) {
            Ok(bounds) => bounds,
            Err(error) => {
                return Err(vec![
                    Diagnostic::error(
                        codes::BAD_SET,
                        variable.span,
                        format!("cannot evaluate the bound of `{}`: {error}", variable.name),
                    )
                    .with_hint("draw or `--set` the unknowns the bound uses before this one"),
                ]);
            }
        };
        let mut out = vec![0.0; count];
        for batch in 0..batches {
            let params: Vec<&[f64]> = evaluated
                .iter()
                .zip(&ranks)
                .map(|(array, rank)| {
                    let per: usize = array.shape[array.shape.len().saturating_sub(*rank)..]
                        .iter()
                        .product::<usize>()
                        .max(1);
                    let available = array.values.len() / per.max(1);
                    let index = if available <= 1 { 0 } else { batch % available };
                    &array.values[index * per..(index + 1) * per]
                })
                .collect();
            let range = batch * event_size..(batch + 1) * event_size;
            let slot = &mut out[range.clone()];
            // A bounded unknown's prior is its distribution truncated to the bound (as in
            // Stan): draws outside it are rejected.
            let mut attempts = 0;
            loop {
                if let Err(error) = ppl_dist::sample(*distribution, &params, &mut rng, slot) {
                    return Err(vec![
                        Diagnostic::error(
                            codes::BAD_SET,
                            term.span,
                            format!("cannot draw from `{}`: {error}", family.name),
                        )
                        .with_hint("check the values given with `--set`"),
                    ]);
                }
                let inside = bounds.as_ref().is_none_or(|bounds| {
                    slot.iter()
                        .zip(range.clone())
                        .all(|(&x, k)| bounds.contains(k, x))
                });
                if inside {
                    break;
                }
                attempts += 1;
                if attempts == MAX_REJECTIONS {
                    return Err(vec![
                        Diagnostic::error(
                            codes::BAD_SET,
                            term.span,
                            format!(
                                "`{}` drew no value inside the bound of `{}` in {MAX_REJECTIONS} tries",
                                family.name, variable.name
                            ),
                        )
                        .with_label("its mass inside the bound is too small to draw by rejection")
                        .with_hint(format!("fix `{}` with `--set`", variable.name)),
                    ]);
                }
            }
        }
        values[id.0] = Some(Array::new(shape, out));
    }
    let mut table = SimulatedTable {
        columns: Vec::new(),
        rows: 0,
        values: Vec::new(),
        integer: Vec::new(),
    };
    for variable in &model.variables {
        if variable.init.is_some() && variable.role == Role::Observed {
            continue;
        }
        let Some(value) = &values[variable.id.0] else {
            let what = if variable.role == Role::Observed {
                "no distribution to draw it from"
            } else {
                "no distribution and no `--set` value"
            };
            return Err(vec![
                Diagnostic::error(
                    codes::BAD_SET,
                    variable.name_span,
                    format!("`{}` has {what}", variable.name),
                )
                .with_hint(format!("fix it with `--set {}=...`", variable.name)),
            ]);
        };
        if variable.role != Role::Observed {
            continue;
        }
        let rows = value.shape.first().copied().unwrap_or(1);
        if table.columns.is_empty() {
            table.rows = rows;
        } else if rows != table.rows {
            return Err(vec![unsupported(
                variable.span,
                "observed variables of different lengths in one CSV file",
            )]);
        }
        let width = value.values.len() / rows.max(1);
        for column in 0..width {
            table.columns.push(if value.shape.len() <= 1 {
                variable.name.clone()
            } else {
                let index = crate::names::unravel(column, &value.shape[1..]);
                let parts: Vec<String> = index.iter().map(|i| (i + 1).to_string()).collect();
                if parts.len() == 1 {
                    format!("{}[{}]", variable.name, parts[0])
                } else {
                    format!("{}.{}", variable.name, parts.join("."))
                }
            });
            table.values.push(
                (0..rows)
                    .map(|r| value.values[r * width + column])
                    .collect(),
            );
            table.integer.push(variable.ty.elem != ElemType::Real);
        }
    }
    Ok(table)
}

/// How many draws of one batch may fall outside a bound before simulation gives up.
const MAX_REJECTIONS: usize = 10_000;

/// The bound of each element of a drawn unknown.
struct ElementBounds {
    low: Vec<f64>,
    high: Vec<f64>,
    open: bool,
}

impl ElementBounds {
    fn contains(&self, k: usize, x: f64) -> bool {
        let (low, high) = (self.low[k], self.high[k]);
        if self.open {
            low < x && x < high
        } else {
            low <= x && x <= high
        }
    }
}

/// The bounds of an unknown's elements, from its type or evaluated from earlier values;
/// `None` when it has none.
fn unknown_bounds(
    variable: &ppl_ir::Variable,
    evaluator: &mut Evaluator<'_, f64>,
    count: usize,
) -> Result<Option<ElementBounds>, crate::tape::TapeError> {
    if variable.role == Role::Observed {
        return Ok(None);
    }
    if let Some(bound) = &variable.expression_bound {
        let mut end = |expr: &Option<ppl_ir::Expr>, infinite: f64| match expr {
            None => Ok(vec![infinite; count]),
            Some(expr) => evaluator.eval(expr).map(|value| {
                if value.values.len() == count {
                    value.values
                } else {
                    vec![value.values.first().copied().unwrap_or(f64::NAN); count]
                }
            }),
        };
        let low = end(&bound.low, f64::NEG_INFINITY)?;
        let high = end(&bound.high, f64::INFINITY)?;
        return Ok(Some(ElementBounds {
            low,
            high,
            open: true,
        }));
    }
    match variable.constraint {
        ppl_ir::Constraint::Bounded { low, high, open } if variable.ty.elem == ElemType::Real => {
            Ok(Some(ElementBounds {
                low: vec![low; count],
                high: vec![high; count],
                open,
            }))
        }
        _ => Ok(None),
    }
}

fn unsupported(span: ppl_syntax::Span, what: &str) -> Diagnostic {
    Diagnostic::error(
        codes::UNSUPPORTED,
        span,
        format!("simulate does not handle {what} yet"),
    )
    .with_label("not simulated")
}
