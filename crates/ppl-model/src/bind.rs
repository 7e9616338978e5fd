//! Binding a checked model to its data: dimensions from array lengths (or int keys), observed values
//! from the data set or inline, and every data check of LANGUAGE.md §2 (missing, wrong length,
//! non-finite, a real where an int belongs, outside a bound or a distribution's support), each
//! reported as a diagnostic on the declaration it concerns.

use ppl_data::{DataSet, DataValue};
use ppl_dist::Support;
use ppl_ir::{Constraint, ElemType, ExprKind, Model, Role, Size, TermKind, VarId};
use ppl_syntax::{Diagnostic, codes};

/// The model's known values: one length per dimension and the flat row-major values of every
/// observed variable.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct BoundData {
    pub dims: Vec<usize>,
    /// By `VarId`; `None` for unknowns.
    pub observed: Vec<Option<Vec<f64>>>,
    /// Data keys the model does not use (`-v` lists them).
    pub unused_keys: Vec<String>,
}

impl BoundData {
    /// The concrete shape of a variable.
    pub fn shape(&self, sizes: &[Size]) -> Vec<usize> {
        sizes
            .iter()
            .map(|s| s.evaluate(&self.dims).max(0) as usize)
            .collect()
    }
}

/// Whether the model reads anything from a data file: an observed variable with no inline value, or
/// a dimension that no inline value's length binds (`observed y: real[N] = [1.2, 0.8]` binds N).
pub fn needs_data(model: &Model) -> bool {
    let bound_inline = |dim: ppl_ir::DimId| {
        model.variables.iter().any(|v| {
            v.role == Role::Observed
                && v.init.is_some()
                && v.ty
                    .shape
                    .iter()
                    .any(|size| matches!(size.terms.as_slice(), [(d, 1)] if *d == dim))
        })
    };
    model
        .variables
        .iter()
        .any(|v| v.role == Role::Observed && v.init.is_none())
        || model.dims.iter().any(|d| !bound_inline(d.id))
}

/// Binds the model to `data` (absent when the model needs none). Dimension overrides from
/// `--set N=10` (used by `simulate`) come in `dim_overrides`.
pub fn bind(
    model: &Model,
    data: Option<&DataSet>,
    dim_overrides: &[(String, f64)],
) -> Result<BoundData, Vec<Diagnostic>> {
    let mut binder = Binder {
        model,
        data,
        dims: vec![None; model.dims.len()],
        diagnostics: Vec::new(),
    };
    binder.bind_dims(dim_overrides);
    let observed = binder.bind_observed();
    binder.check_constants();
    let missing_dims: Vec<usize> = binder
        .dims
        .iter()
        .enumerate()
        .filter(|(_, d)| d.is_none())
        .map(|(i, _)| i)
        .collect();
    for index in missing_dims {
        let dim = &model.dims[index];
        binder.diagnostics.push(
            Diagnostic::error(
                codes::DATA_MISSING,
                dim.span,
                format!("the dimension `{}` is not given by the data", dim.name),
            )
            .with_label("no data array has this length and no int of this name is in the data")
            .with_hint(format!(
                "add `{}` to the data file, or `--set {}=...`",
                dim.name, dim.name
            )),
        );
    }
    if binder.diagnostics.iter().any(Diagnostic::is_error) {
        return Err(binder.diagnostics);
    }
    let dims: Vec<usize> = binder.dims.iter().map(|d| d.unwrap_or(0)).collect();
    let mut bound = BoundData {
        dims,
        observed,
        unused_keys: Vec::new(),
    };
    if let Some(data) = data {
        bound.unused_keys = data
            .names()
            .filter(|name| {
                model.variable(name).is_none()
                    && !model.dims.iter().any(|d| d.name == *name)
                    && !model.constants.iter().any(|c| c.name == *name)
            })
            .map(str::to_string)
            .collect();
    }
    let too_large = check_allocation(model, &bound.dims);
    if !too_large.is_empty() {
        return Err(too_large);
    }
    let mut diagnostics = check_supports(model, &bound, data);
    diagnostics.extend(check_observed_expression_bounds(model, &bound, data));
    if !diagnostics.is_empty() {
        return Err(diagnostics);
    }
    Ok(bound)
}

/// Checks every observed value against a bound written as an expression of data
/// (`observed y: real[N] in (0, U)`): the bound is evaluated once over the bound data, a scalar
/// end applying to every element and an end of the variable's shape element by element.
fn check_observed_expression_bounds(
    model: &Model,
    bound: &BoundData,
    data: Option<&DataSet>,
) -> Vec<Diagnostic> {
    use crate::tape::{Array, Evaluator};
    let mut diagnostics = Vec::new();
    let variables: Vec<Option<Array<f64>>> = model
        .variables
        .iter()
        .zip(&bound.observed)
        .map(|(variable, values)| {
            values
                .as_ref()
                .map(|values| Array::new(bound.shape(&variable.ty.shape), values.clone()))
        })
        .collect();
    let mut evaluator = Evaluator::new(model, &bound.dims, variables);
    for (variable, values) in model.variables.iter().zip(&bound.observed) {
        let (Some(expression_bound), Some(values)) = (&variable.expression_bound, values) else {
            continue;
        };
        let mut end = |expr: &Option<ppl_ir::Expr>| -> Option<Option<Vec<f64>>> {
            match expr {
                None => Some(None),
                Some(expr) => evaluator.eval(expr).ok().map(|array| Some(array.values)),
            }
        };
        let (Some(low), Some(high)) = (end(&expression_bound.low), end(&expression_bound.high))
        else {
            continue;
        };
        let end_at = |end: &Option<Vec<f64>>, index: usize, infinite: f64| match end {
            None => infinite,
            Some(values) if values.len() == 1 => values[0],
            Some(values) => values.get(index).copied().unwrap_or(f64::NAN),
        };
        // The bound is open, as an unknown's: a value on its end is outside (NaN ends too).
        let outside = values.iter().enumerate().find_map(|(index, &x)| {
            let (low, high) = (
                end_at(&low, index, f64::NEG_INFINITY),
                end_at(&high, index, f64::INFINITY),
            );
            let inside =
                (low == f64::NEG_INFINITY || x > low) && (high == f64::INFINITY || x < high);
            (!inside).then_some((index, x, low, high))
        });
        if let Some((index, x, low, high)) = outside {
            let location = data
                .and_then(|d| d.get(&variable.name))
                .map(|v| format!(" at {}", v.locate(index)))
                .unwrap_or_default();
            diagnostics.push(
                Diagnostic::error(
                    codes::DATA_OUT_OF_BOUNDS,
                    variable.name_span,
                    format!(
                        "`{}` has {x}{location}, outside its bound ({low}, {high})",
                        variable.name
                    ),
                )
                .with_label(format!("declared as `{}`", variable.declared_as)),
            );
        }
    }
    diagnostics
}

/// Refuses variables whose bound shapes hold more than `MAX_ELEMENTS` elements (one variable, or
/// all of them together), before the tape or a sampler allocates them. The checker refuses
/// constant sizes; this catches sizes made large by dimensions from the data or `--set`.
fn check_allocation(model: &Model, dims: &[usize]) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
    let mut total: i64 = 0;
    for variable in &model.variables {
        let count = ppl_ir::element_count(variable.ty.shape.iter().map(|s| s.evaluate(dims)));
        total = total.saturating_add(count);
        if count > ppl_ir::MAX_ELEMENTS {
            diagnostics.push(
                Diagnostic::error(
                    codes::TOO_LARGE,
                    variable.name_span,
                    format!(
                        "`{}` would have {count} elements, beyond the limit of {}",
                        variable.name,
                        ppl_ir::MAX_ELEMENTS
                    ),
                )
                .with_label("too large to allocate")
                .with_hint("reduce the dimensions it is declared with (from the data or `--set`), or fit the data in parts"),
            );
        }
    }
    if diagnostics.is_empty()
        && total > ppl_ir::MAX_ELEMENTS
        && let Some(first) = model.variables.first()
    {
        diagnostics.push(
            Diagnostic::error(
                codes::TOO_LARGE,
                first.name_span,
                format!(
                    "the model's variables would have {total} elements together, beyond the limit of {}",
                    ppl_ir::MAX_ELEMENTS
                ),
            )
            .with_label("the first of the model's variables")
            .with_hint("reduce the dimensions (from the data or `--set`), or fit the data in parts"),
        );
    }
    diagnostics
}

struct Binder<'a> {
    model: &'a Model,
    data: Option<&'a DataSet>,
    dims: Vec<Option<usize>>,
    diagnostics: Vec<Diagnostic>,
}

impl<'a> Binder<'a> {
    fn data_value(&self, name: &str) -> Option<&'a DataValue> {
        self.data.and_then(|d| d.get(name))
    }

    fn file_name(&self) -> String {
        self.data
            .map(|d| d.path.display().to_string())
            .unwrap_or_else(|| "the data".to_string())
    }

    /// Dimensions come from an int of their name, or from the length of the first array that
    /// declares a shape axis as exactly that dimension.
    fn bind_dims(&mut self, overrides: &[(String, f64)]) {
        for dim in &self.model.dims {
            if let Some((_, value)) = overrides.iter().find(|(n, _)| *n == dim.name) {
                self.dims[dim.id.0] = Some(*value as usize);
                continue;
            }
            let Some(value) = self.data_value(&dim.name) else {
                continue;
            };
            if !value.is_scalar() || value.first_non_integer().is_some() || value.values[0] < 0.0 {
                self.diagnostics.push(
                    Diagnostic::error(
                        codes::DATA_NOT_INT,
                        dim.span,
                        format!(
                            "the dimension `{}` in {} is not a non-negative int",
                            dim.name,
                            self.file_name()
                        ),
                    )
                    .with_label("a dimension must be a count"),
                );
                continue;
            }
            self.dims[dim.id.0] = Some(value.values[0] as usize);
        }
        for variable in &self.model.variables {
            if variable.role != Role::Observed {
                continue;
            }
            // Lengths come from the data file, or from an inline value's (constant) shape.
            let lengths: Vec<usize> = match (&variable.init, self.data_value(&variable.name)) {
                (Some(init), _) => init
                    .ty
                    .shape
                    .iter()
                    .map(|s| s.as_constant().unwrap_or(0).max(0) as usize)
                    .collect(),
                (None, Some(value)) => value.shape.clone(),
                (None, None) => continue,
            };
            for (axis, size) in variable.ty.shape.iter().enumerate() {
                let Some(&length) = lengths.get(axis) else {
                    continue;
                };
                if let [(dim, 1)] = size.terms.as_slice()
                    && self.dims[dim.0].is_none()
                {
                    let length = length as i64 - size.constant;
                    if length >= 0 {
                        self.dims[dim.0] = Some(length as usize);
                    }
                }
            }
        }
    }

    fn bind_observed(&mut self) -> Vec<Option<Vec<f64>>> {
        let mut observed = vec![None; self.model.variables.len()];
        for variable in &self.model.variables {
            if variable.role != Role::Observed {
                continue;
            }
            if let Some(init) = &variable.init {
                match literal_values(init) {
                    Some(values) => {
                        let expected: Option<i64> =
                            variable.ty.shape.iter().map(|s| self.evaluate(s)).product();
                        match expected {
                            // A scalar broadcasts to the declared shape.
                            Some(count) if values.len() == 1 && count != 1 => {
                                observed[variable.id.0] =
                                    Some(vec![values[0]; count.max(0) as usize])
                            }
                            Some(count) if count != values.len() as i64 => {
                                self.diagnostics.push(
                                    Diagnostic::error(
                                        codes::DATA_LENGTH,
                                        init.span,
                                        format!(
                                            "`{}` is given {} values inline but its shape holds {count}",
                                            variable.name,
                                            values.len()
                                        ),
                                    )
                                    .with_label(format!("declared as `{}`", variable.declared_as)),
                                );
                            }
                            _ => observed[variable.id.0] = Some(values),
                        }
                    }
                    None => self.diagnostics.push(
                        Diagnostic::error(
                            codes::NOT_CONSTANT,
                            init.span,
                            "an inline observed value must be numbers",
                        )
                        .with_label("expected a number or a list of numbers"),
                    ),
                }
                continue;
            }
            let Some(value) = self.data_value(&variable.name) else {
                let mut diagnostic = Diagnostic::error(
                    codes::DATA_MISSING,
                    variable.name_span,
                    format!("`{}` is not in {}", variable.name, self.file_name()),
                )
                .with_label("observed, but the data has no column or key of this name");
                if let Some(data) = self.data {
                    let names: Vec<&str> = data.names().collect();
                    // A key that another name of the model already reads is not a candidate.
                    let taken = |key: &str| {
                        self.model.variables.iter().any(|v| v.name == key)
                            || self.model.dims.iter().any(|d| d.name == key)
                            || self.model.constants.iter().any(|c| c.name == key)
                    };
                    diagnostic = match ppl_syntax::diagnostic::closest(
                        &variable.name,
                        names.iter().copied().filter(|key| !taken(key)),
                    ) {
                        Some(s) => {
                            diagnostic.with_hint(format!("the data has `{s}`: did you mean it?"))
                        }
                        None => diagnostic.with_hint(format!("the data has: {}", names.join(", "))),
                    };
                } else {
                    diagnostic = diagnostic
                        .with_hint("name a data file with `data \"file.csv\"` or `--data`");
                }
                self.diagnostics.push(diagnostic);
                continue;
            };
            if let Some(values) = self.check_value(variable.id, value) {
                observed[variable.id.0] = Some(values);
            }
        }
        observed
    }

    fn check_value(&mut self, id: VarId, value: &DataValue) -> Option<Vec<f64>> {
        let variable = &self.model.variables[id.0];
        let span = variable.name_span;
        let name = &variable.name;
        if value.shape.len() != variable.ty.shape.len() {
            self.diagnostics.push(
                Diagnostic::error(
                    codes::DATA_LENGTH,
                    variable.span,
                    format!(
                        "`{name}` is declared with {} axes but the data has {}",
                        variable.ty.shape.len(),
                        value.shape.len()
                    ),
                )
                .with_label(format!("declared as `{}`", variable.declared_as))
                .with_hint(if variable.ty.shape.len() == 2 {
                    format!("in CSV a matrix is the columns `{name}[1]`, `{name}[2]`, ...")
                } else {
                    format!("the data's `{name}` has shape {:?}", value.shape)
                }),
            );
            return None;
        }
        for (axis, size) in variable.ty.shape.iter().enumerate() {
            let Some(expected) = self.evaluate(size) else {
                continue;
            };
            if expected != value.shape[axis] as i64 {
                let dim_name = describe_size(self.model, size);
                self.diagnostics.push(
                    Diagnostic::error(
                        codes::DATA_LENGTH,
                        variable.span,
                        format!(
                            "`{name}` has {} {} in the data, but its size `{dim_name}` is {expected}",
                            value.shape[axis],
                            if axis == 0 { "rows" } else { "columns" }
                        ),
                    )
                    .with_label(format!("declared as `{}`", variable.declared_as))
                    .with_hint("arrays that share a dimension must have the same length"),
                );
                return None;
            }
        }
        if let Some((index, problem)) = value.first_non_finite() {
            let message = format!("`{name}` has {problem} at {}", value.locate(index));
            self.diagnostics.push(if problem.is_unsupported_type() {
                Diagnostic::error(codes::DATA_COLUMN_TYPE, span, message)
                    .with_label("data must be numbers")
                    .with_hint("convert the column to numbers (or codes) before writing the file")
            } else {
                Diagnostic::error(codes::DATA_NOT_FINITE, span, message)
                    .with_label("data must be finite numbers")
                    .with_hint(non_finite_hint(&problem))
            });
            return None;
        }
        if variable.ty.elem == ElemType::Bool {
            // A bool is 0/1 however the file writes it (`true`, `1`, `1.0`): exports from R,
            // pandas and spreadsheets often write flags as reals.
            if let Some(index) = value.values.iter().position(|&x| x != 0.0 && x != 1.0) {
                self.diagnostics.push(
                    Diagnostic::error(
                        codes::DATA_OUT_OF_BOUNDS,
                        span,
                        format!(
                            "`{name}` is a bool but the data has {} at {}",
                            value.values[index],
                            value.locate(index)
                        ),
                    )
                    .with_label(format!("declared as `{}`", variable.declared_as))
                    .with_hint("a bool is given as 0/1 or true/false"),
                );
                return None;
            }
        } else if variable.ty.elem != ElemType::Real
            && let Some(index) = value.first_non_integer()
        {
            self.diagnostics.push(
                Diagnostic::error(
                    codes::DATA_NOT_INT,
                    span,
                    format!(
                        "`{name}` is an int but the data has the real {} at {}",
                        value.values[index],
                        value.locate(index)
                    ),
                )
                .with_label(format!("declared as `{}`", variable.declared_as))
                .with_hint("declare it `real` if the values are measurements"),
            );
            return None;
        }
        if let Constraint::Bounded { low, high, open } = variable.constraint {
            let outside = |x: f64| {
                if open {
                    x <= low || x >= high
                } else {
                    x < low || x > high
                }
            };
            if let Some(index) = value.values.iter().position(|&x| outside(x)) {
                self.diagnostics.push(
                    Diagnostic::error(
                        codes::DATA_OUT_OF_BOUNDS,
                        span,
                        format!(
                            "`{name}` has {} at {}, outside its bound",
                            value.values[index],
                            value.locate(index)
                        ),
                    )
                    .with_label(format!("declared as `{}`", variable.declared_as)),
                );
                return None;
            }
        }
        if let Some((low, high)) = &variable.data_bound
            && let (Some(low), Some(high)) = (self.evaluate(low), self.evaluate(high))
            && let Some(index) = value
                .values
                .iter()
                .position(|&x| x < low as f64 || x > high as f64)
        {
            self.diagnostics.push(
                Diagnostic::error(
                    codes::DATA_OUT_OF_BOUNDS,
                    span,
                    format!(
                        "`{name}` has {} at {}, outside its bound {low}..{high}",
                        value.values[index],
                        value.locate(index)
                    ),
                )
                .with_label(format!("declared as `{}`", variable.declared_as)),
            );
            return None;
        }
        Some(value.values.clone())
    }

    fn evaluate(&self, size: &Size) -> Option<i64> {
        let mut total = size.constant;
        for (dim, coefficient) in &size.terms {
            total += coefficient * self.dims[dim.0]? as i64;
        }
        Some(total)
    }

    fn check_constants(&mut self) {
        for constant in &self.model.constants {
            let Some(value) = self.data_value(&constant.name) else {
                continue;
            };
            if value.is_scalar() && value.values[0] != constant.value {
                self.diagnostics.push(
                    Diagnostic::error(
                        codes::DATA_CONST_DISAGREES,
                        constant.span,
                        format!(
                            "the data gives `{}` = {} but the model's const is {}",
                            constant.name, value.values[0], constant.value
                        ),
                    )
                    .with_label("declared here")
                    .with_hint(format!(
                        "use `--set {}={}` or fix the data",
                        constant.name, value.values[0]
                    )),
                );
            }
        }
    }
}

fn describe_size(model: &Model, size: &Size) -> String {
    ppl_ir::check::display_shape(std::slice::from_ref(size), &model.dims)
        .trim_matches(|c| c == '[' || c == ']')
        .to_string()
}

/// The numbers of an inline literal (`[1.0, 2.5, 0.3]`, `-2`, `[[1, 2], [3, 4]]`).
pub fn literal_values(expr: &ppl_ir::Expr) -> Option<Vec<f64>> {
    match &expr.kind {
        ExprKind::Literal(v) => Some(vec![*v]),
        ExprKind::Neg(inner) => Some(literal_values(inner)?.into_iter().map(|v| -v).collect()),
        ExprKind::Vector(items) => {
            let mut out = Vec::new();
            for item in items {
                out.extend(literal_values(item)?);
            }
            Some(out)
        }
        _ => None,
    }
}

/// Observed values must lie in the support of the distribution they are observed under
/// (LANGUAGE.md §2: e.g. a negative count under `Poisson` is a data error at load).
fn check_supports(model: &Model, bound: &BoundData, data: Option<&DataSet>) -> Vec<Diagnostic> {
    let mut diagnostics = Vec::new();
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
            continue;
        };
        let variable = &model.variables[id.0];
        let Some(values) = &bound.observed[id.0] else {
            continue;
        };
        let family = distribution.family();
        let categories = args
            .first()
            .and_then(|p| p.ty.shape.last())
            .map(|s| s.evaluate(&bound.dims) as f64);
        let inside = |x: f64| match family.support {
            Support::Positive => x > 0.0,
            Support::NonNegative => x >= 0.0,
            Support::Unit => x > 0.0 && x < 1.0,
            Support::Binary => x == 0.0 || x == 1.0,
            Support::Count | Support::CountVector => x >= 0.0,
            Support::Category => x >= 1.0 && categories.is_none_or(|k| x <= k),
            _ => true,
        };
        if let Some(index) = values.iter().position(|&x| !inside(x)) {
            let location = data
                .and_then(|d| d.get(&variable.name))
                .map(|v| format!(" at {}", v.locate(index)))
                .unwrap_or_default();
            let support = match family.support {
                Support::Positive => "positive values".to_string(),
                Support::NonNegative => "values >= 0".to_string(),
                Support::Unit => "values strictly between 0 and 1".to_string(),
                Support::Binary => "0 or 1".to_string(),
                Support::Count | Support::CountVector => "counts 0, 1, 2, ...".to_string(),
                Support::Category => match categories {
                    Some(k) => format!("categories 1..{k}"),
                    None => "categories 1..K".to_string(),
                },
                _ => "its support".to_string(),
            };
            diagnostics.push(
                Diagnostic::error(
                    codes::DATA_OUT_OF_SUPPORT,
                    variable.name_span,
                    format!(
                        "`{}` has {}{location}, outside the support of `{}`",
                        variable.name, values[index], family.name
                    ),
                )
                .with_label(format!("`{}` takes {support}", family.name))
                .with_secondary(term.span, "observed under this distribution"),
            );
        }
    }
    diagnostics
}

/// What to do about a cell that is not a finite number: the fix differs between a missing value,
/// stray text and a number too large for a double.
fn non_finite_hint(problem: &ppl_data::CellProblem) -> &'static str {
    use ppl_data::CellProblem;
    match problem {
        CellProblem::Empty | CellProblem::Missing(_) | CellProblem::NaN(_) => {
            "remove or impute missing values before fitting"
        }
        CellProblem::NotANumber(_) => {
            "a numeric column holds only numbers: fix the cell (a unit, a thousands separator, a stray quote?)"
        }
        CellProblem::Infinite(text) if text.bytes().any(|b| b.is_ascii_digit()) => {
            "the number is beyond the largest double (about 1.8e308): rescale the column (other units, or its logarithm)"
        }
        CellProblem::Infinite(_) => {
            "data must be finite: replace the infinite value, or drop the row"
        }
        _ => "convert the column to numbers (or codes) before writing the file",
    }
}
