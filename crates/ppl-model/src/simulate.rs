//! Drawing data from the model (`ppl simulate`). Prior predictive: unknowns fixed by `--set` or
//! drawn from their priors, covariates (observed variables with no distribution) read from
//! `--data`, then the observed variables drawn. Posterior predictive ([`simulate_predictive`]):
//! the unknowns taken from each saved draw of a fitted run, the observed variables drawn for new
//! covariates, one replicate per draw.
//!
//! Statements are declarative (LANGUAGE.md §1), so `~` statements are not drawn in source order
//! but as soon as what they read is known: every loop iteration of every `~` is one pending draw,
//! and passes over the pending draws repeat until none is left or a pass draws nothing. Elements
//! not drawn yet are NaN, so a `~` on part of a variable (`z[1] ~ ...`, `y[i] ~ ...` in a loop)
//! waits exactly for the elements it reads. A model whose `~` statements are already in order
//! draws in one pass, in source order, so a seed gives the same data as before this was allowed.

use ppl_data::DataSet;
use ppl_ir::{ElemType, Expr, ExprKind, LoopId, Model, Role, TermKind, VarId};
use ppl_syntax::{Diagnostic, Span, codes};
use rand::SeedableRng;

use crate::tape::{Array, Evaluator, TapeError, index_plan};

/// What to simulate.
#[derive(Clone, Debug, Default)]
pub struct SimulationRequest {
    /// `--set NAME=VALUE`: unknowns (flat row-major values) and dimensions (one value).
    pub fixed: Vec<(String, Vec<f64>)>,
    /// `--n N`: the length of the observed variables' first dimension (for
    /// [`simulate_predictive`]: the number of replicates).
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

/// Prior predictive simulation with no data file: every observed variable must have a
/// distribution or an inline value.
pub fn simulate(
    model: &Model,
    request: &SimulationRequest,
) -> Result<SimulatedTable, Vec<Diagnostic>> {
    simulate_with_data(model, request, None)
}

/// Prior predictive simulation with covariates from `data` (`ppl simulate MODEL --data F`):
/// observed variables with no distribution are read from it and bind their dimensions; the
/// table holds the simulated observed variables, then the covariates of the same length, so that
/// it can be fitted again as it is.
pub fn simulate_with_data(
    model: &Model,
    request: &SimulationRequest,
    data: Option<&DataSet>,
) -> Result<SimulatedTable, Vec<Diagnostic>> {
    let setup = Setup::new(model, &request.fixed, data, Plate::Length(request.n), None)?;
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(request.seed);
    let values = setup.draw(model, setup.initial.clone(), &mut rng)?;
    data_table(model, &setup, &values)
}

/// The saved draws of a fitted run: CmdStan column names (`theta.1.2`) and one row per draw.
#[derive(Clone, Copy, Debug)]
pub struct FittedDraws<'a> {
    pub columns: &'a [String],
    pub rows: &'a [Vec<f64>],
}

/// Posterior predictive simulation for new covariates (`ppl simulate DIR --data new.csv`): for
/// each replicate, the unknowns are those of one saved draw and the observed variables are
/// drawn given them and the covariates of `data`. Unknowns whose shape involves a dimension the
/// new covariates bind (per-observation latents such as a mixture's assignments) belong to the new
/// observations and are drawn afresh from their distribution; the others come from the draw.
///
/// `request.n` replicates (default: one per draw), from draws spread evenly over the run; the
/// columns are named as `ppl run --predict`'s, `y_rep[1]`, `y_rep[1,2]`, one row per replicate.
pub fn simulate_predictive(
    model: &Model,
    request: &SimulationRequest,
    data: Option<&DataSet>,
    draws: FittedDraws<'_>,
) -> Result<SimulatedTable, Vec<Diagnostic>> {
    if draws.rows.is_empty() {
        return Err(vec![Diagnostic::unplaced(
            codes::SIMULATE_DRAWS_MISMATCH,
            "the fitted run has no draws to simulate from",
        )]);
    }
    let setup = Setup::new(
        model,
        &request.fixed,
        data,
        Plate::Length(None),
        Some(draws.columns),
    )?;
    // Where each unknown taken from the draws lives in a draws row.
    let mut from_draws: Vec<(VarId, Vec<usize>)> = Vec::new();
    for variable in &model.variables {
        // Fixed by `--set` (a variable a `~` draws starts as NaN, not as given).
        let given = setup.initial[variable.id.0]
            .as_ref()
            .is_some_and(|a| !a.values.iter().any(|v| v.is_nan()));
        if variable.role == Role::Observed || given {
            continue;
        }
        let shape = setup.shape_of(variable);
        let fresh = variable
            .ty
            .shape
            .iter()
            .any(|size| size.terms.iter().any(|(dim, _)| setup.bound_by_data[dim.0]));
        if fresh && setup.targeted[variable.id.0] {
            continue;
        }
        let names = crate::names::column_names(&variable.name, &shape);
        let mut positions = Vec::with_capacity(names.len());
        for name in &names {
            match draws.columns.iter().position(|c| c == name) {
                Some(position) => positions.push(position),
                None => {
                    return Err(vec![
                        Diagnostic::error(
                            codes::SIMULATE_DRAWS_MISMATCH,
                            variable.name_span,
                            format!("the fitted draws have no column `{name}` for `{}`", variable.name),
                        )
                        .with_label("not in the draws")
                        .with_hint(
                            "simulate from the run of this model, with the dimensions it was fitted with",
                        ),
                    ]);
                }
            }
        }
        from_draws.push((variable.id, positions));
    }
    let saved = draws.rows.len();
    let replicates = request.n.unwrap_or(saved);
    let observed: Vec<VarId> = model
        .variables
        .iter()
        .filter(|v| v.role == Role::Observed && setup.targeted[v.id.0])
        .map(|v| v.id)
        .collect();
    let mut table = SimulatedTable {
        columns: Vec::new(),
        rows: replicates,
        values: Vec::new(),
        integer: Vec::new(),
    };
    for &id in &observed {
        let variable = &model.variables[id.0];
        let shape = setup.shape_of(variable);
        let count = shape.iter().product::<usize>();
        table.columns.extend(crate::names::element_names(
            &format!("{}_rep", variable.name),
            count,
            &shape,
        ));
        let integer = variable.ty.elem != ElemType::Real;
        table.integer.extend(std::iter::repeat_n(integer, count));
        table
            .values
            .extend(std::iter::repeat_with(|| Vec::with_capacity(replicates)).take(count));
    }
    let mut rng = rand::rngs::ChaCha8Rng::seed_from_u64(request.seed);
    for replicate in 0..replicates {
        // Evenly spread over the saved draws; every draw once when `replicates == saved`.
        let row = &draws.rows[replicate * saved / replicates.max(1)];
        let mut initial = setup.initial.clone();
        for (id, positions) in &from_draws {
            let variable = &model.variables[id.0];
            let values: Vec<f64> = positions
                .iter()
                .map(|&p| row.get(p).copied().unwrap_or(f64::NAN))
                .collect();
            initial[id.0] = Some(Array::new(setup.shape_of(variable), values));
        }
        let values = setup.draw(model, initial, &mut rng)?;
        let mut column = 0;
        for &id in &observed {
            let Some(value) = &values[id.0] else {
                continue;
            };
            for element in &value.values {
                if let Some(slot) = table.values.get_mut(column) {
                    slot.push(*element);
                }
                column += 1;
            }
        }
    }
    Ok(table)
}

/// How the plate's length is given.
enum Plate {
    /// `--n`, if given: the length of the first observed variable's first dimension.
    Length(Option<usize>),
}

/// The model with its dimensions bound and its known values in place, ready to draw.
struct Setup {
    dims: Vec<usize>,
    /// By `VarId`: fixed, covariate and inline values; NaN-filled arrays for variables a `~`
    /// draws; `None` for what is taken from the fitted draws.
    initial: Vec<Option<Array<f64>>>,
    /// By `VarId`: whether some `~` has the variable (or part of it) as its target.
    targeted: Vec<bool>,
    /// By `DimId`: whether the `--data` covariates bound the dimension.
    bound_by_data: Vec<bool>,
    /// Observed variables read from `--data`.
    covariates: Vec<VarId>,
}

impl Setup {
    fn new(
        model: &Model,
        fixed_values: &[(String, Vec<f64>)],
        data: Option<&DataSet>,
        plate: Plate,
        draw_columns: Option<&[String]>,
    ) -> Result<Setup, Vec<Diagnostic>> {
        let fixed = |name: &str| fixed_values.iter().find(|(n, _)| n == name).map(|(_, v)| v);
        for (name, _) in fixed_values {
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
        let mut targeted = vec![false; model.variables.len()];
        for term in &model.terms {
            if let TermKind::Tilde { target, .. } = &term.kind
                && let Some(id) = target_variable(target)
            {
                targeted[id.0] = true;
            }
        }
        let is_covariate = |v: &ppl_ir::Variable| {
            v.role == Role::Observed && v.init.is_none() && !targeted[v.id.0]
        };
        // Dimensions: `--set`, then the covariates' lengths, then `--n` for the plate.
        let mut dims: Vec<Option<(usize, String)>> = vec![None; model.dims.len()];
        let mut bound_by_data = vec![false; model.dims.len()];
        let mut conflicts = Vec::new();
        let mut bind =
            |dims: &mut Vec<Option<(usize, String)>>, dim: usize, value: usize, source: String| {
                match &dims[dim] {
                    Some((old, old_source)) if *old != value => conflicts.push(
                        Diagnostic::error(
                            codes::SIMULATE_SIZE_CONFLICT,
                            model.dims[dim].span,
                            format!(
                                "`{}` is {old} by {old_source} but {value} by {source}",
                                model.dims[dim].name
                            ),
                        )
                        .with_label("two different sizes")
                        .with_hint("give the size once, or make the two agree"),
                    ),
                    Some(_) => {}
                    None => dims[dim] = Some((value, source)),
                }
            };
        for dim in &model.dims {
            if let Some(value) = fixed(&dim.name) {
                let value = value.first().copied().unwrap_or(0.0).max(0.0) as usize;
                bind(&mut dims, dim.id.0, value, format!("`--set {}`", dim.name));
            }
        }
        if let Some(data) = data {
            for dim in &model.dims {
                if let Some(value) = data.get(&dim.name)
                    && value.is_scalar()
                    && let Some(&number) = value.values.first()
                {
                    bind(
                        &mut dims,
                        dim.id.0,
                        number.max(0.0) as usize,
                        format!("`{}` in the data", dim.name),
                    );
                    bound_by_data[dim.id.0] = true;
                }
            }
            for variable in model.variables.iter().filter(|v| is_covariate(v)) {
                let Some(value) = data.get(&variable.name) else {
                    continue;
                };
                for (axis, size) in variable.ty.shape.iter().enumerate() {
                    if let ([(dim, 1)], 0) = (size.terms.as_slice(), size.constant)
                        && let Some(&length) = value.shape.get(axis)
                    {
                        bind(
                            &mut dims,
                            dim.0,
                            length,
                            format!("the length of `{}` in the data", variable.name),
                        );
                        bound_by_data[dim.0] = true;
                    }
                }
            }
        }
        let plate_dim = model
            .variables
            .iter()
            .find(|v| v.role == Role::Observed && v.init.is_none() && targeted[v.id.0])
            .or_else(|| {
                model
                    .variables
                    .iter()
                    .find(|v| v.role == Role::Observed && v.init.is_none())
            })
            .and_then(|v| v.ty.shape.first())
            .and_then(|s| match s.terms.as_slice() {
                [(dim, 1)] if s.constant == 0 => Some(*dim),
                _ => None,
            });
        let Plate::Length(n) = plate;
        if let (Some(dim), Some(n)) = (plate_dim, n) {
            bind(&mut dims, dim.0, n, "`--n`".to_string());
        }
        if !conflicts.is_empty() {
            return Err(conflicts);
        }
        // The sizes of unknowns read from a fitted run: the largest index of their columns.
        if let Some(columns) = draw_columns {
            for variable in model.variables.iter().filter(|v| v.role != Role::Observed) {
                for (axis, size) in variable.ty.shape.iter().enumerate() {
                    let ([(dim, 1)], 0) = (size.terms.as_slice(), size.constant) else {
                        continue;
                    };
                    if dims[dim.0].is_some() {
                        continue;
                    }
                    let prefix = format!("{}.", variable.name);
                    let largest = columns
                        .iter()
                        .filter_map(|c| c.strip_prefix(&prefix))
                        .filter_map(|rest| rest.split('.').nth(axis)?.parse::<usize>().ok())
                        .max();
                    if let Some(largest) = largest {
                        dims[dim.0] = Some((largest, "the fitted draws".to_string()));
                    }
                }
            }
        }
        let mut bound = Vec::with_capacity(dims.len());
        for (dim, value) in model.dims.iter().zip(&dims) {
            match value {
                Some((value, _)) => bound.push(*value),
                None => {
                    return Err(vec![
                        Diagnostic::error(
                            codes::BAD_SET,
                            dim.span,
                            format!("the size `{}` is not given", dim.name),
                        )
                        .with_label("simulate needs every dimension")
                        .with_hint(format!(
                            "pass `--n N` for the data length, `--set {}=...`, or covariates in `--data`",
                            dim.name
                        )),
                    ]);
                }
            }
        }
        let dims = bound;
        let mut setup = Setup {
            initial: vec![None; model.variables.len()],
            dims,
            targeted: targeted.clone(),
            bound_by_data,
            covariates: Vec::new(),
        };
        let mut problems = Vec::new();
        for variable in &model.variables {
            let shape = setup.shape_of(variable);
            let count: usize = shape.iter().product();
            let dim_value = model
                .dims
                .iter()
                .find(|d| d.name == variable.name && shape.is_empty())
                .map(|d| vec![setup.dims[d.id.0] as f64]);
            let inline = (variable.role == Role::Observed)
                .then(|| variable.init.as_ref().and_then(crate::bind::literal_values))
                .flatten();
            let covariate = if is_covariate(variable) {
                data.and_then(|d| d.get(&variable.name))
                    .map(|v| v.values.clone())
            } else {
                None
            };
            let given = fixed(&variable.name)
                .cloned()
                .map(|v| (v, "`--set`"))
                .or_else(|| inline.map(|v| (v, "the inline value")))
                .or_else(|| dim_value.map(|v| (v, "the dimension")))
                .or_else(|| covariate.map(|v| (v, "the data")));
            if let Some((given, source)) = given {
                if given.len() != count {
                    let code = if source == "the data" {
                        codes::DATA_LENGTH
                    } else {
                        codes::BAD_SET
                    };
                    problems.push(
                        Diagnostic::error(
                            code,
                            variable.name_span,
                            format!(
                                "{source} gives {} values for `{}` but it has {count}",
                                given.len(),
                                variable.name
                            ),
                        )
                        .with_label(format!("declared as `{}`", variable.declared_as)),
                    );
                    continue;
                }
                if source == "the data" {
                    setup.covariates.push(variable.id);
                }
                setup.initial[variable.id.0] = Some(Array::new(shape, given));
            } else if setup.targeted[variable.id.0] {
                setup.initial[variable.id.0] = Some(Array::new(shape, vec![f64::NAN; count]));
            } else if variable.role == Role::Observed {
                problems.push(
                    Diagnostic::error(
                        codes::SIMULATE_MISSING_COVARIATE,
                        variable.name_span,
                        format!(
                            "`{}` is data with no distribution (a covariate): simulate reads it from `--data`",
                            variable.name
                        ),
                    )
                    .with_label("observed, and no `~` draws it")
                    .with_hint(format!(
                        "pass a data file holding `{}` with `--data FILE`",
                        variable.name
                    )),
                );
            } else if draw_columns.is_none() {
                problems.push(
                    Diagnostic::error(
                        codes::SIMULATE_IMPROPER_PRIOR,
                        variable.name_span,
                        format!(
                            "`{}` has a flat (improper) prior, which cannot be drawn from",
                            variable.name
                        ),
                    )
                    .with_label("no `~` statement for this unknown")
                    .with_hint(format!(
                        "fix it with `--set {}=...`, or give it a proper prior",
                        variable.name
                    )),
                );
            }
        }
        if !problems.is_empty() {
            return Err(problems);
        }
        Ok(setup)
    }

    fn shape_of(&self, variable: &ppl_ir::Variable) -> Vec<usize> {
        variable
            .ty
            .shape
            .iter()
            .map(|s| s.evaluate(&self.dims).max(0) as usize)
            .collect()
    }

    /// Draws every element a `~` targets that is not known yet, as soon as what it reads is
    /// known (see the module doc).
    fn draw(
        &self,
        model: &Model,
        initial: Vec<Option<Array<f64>>>,
        rng: &mut rand::rngs::ChaCha8Rng,
    ) -> Result<Vec<Option<Array<f64>>>, Vec<Diagnostic>> {
        let mut evaluator = Evaluator::new(model, &self.dims, initial);
        // One pending draw per loop iteration of every `~`.
        let mut pending: Vec<(usize, Vec<(LoopId, i64)>)> = Vec::new();
        for (index, term) in model.terms.iter().enumerate() {
            if !matches!(term.kind, TermKind::Tilde { .. }) {
                continue;
            }
            let mut iterations = Vec::new();
            let outcome = evaluator.for_each_iteration(&term.loops, &mut |evaluator| {
                iterations.push(
                    term.loops
                        .iter()
                        .map(|&id| (id, evaluator.loops[id.0].unwrap_or(0)))
                        .collect(),
                );
                Ok(())
            });
            if let Err(error) = outcome {
                return Err(vec![cannot_evaluate(term.span, &error)]);
            }
            pending.extend(iterations.into_iter().map(|loops| (index, loops)));
        }
        while !pending.is_empty() {
            let mut waiting = Vec::new();
            let mut last_problem = None;
            let before = pending.len();
            for (index, loops) in pending {
                let term = &model.terms[index];
                for &(id, value) in &loops {
                    evaluator.loops[id.0] = Some(value);
                }
                let outcome = draw_one(&mut evaluator, term, rng);
                for &(id, _) in &loops {
                    evaluator.loops[id.0] = None;
                }
                match outcome {
                    Ok(true) => evaluator.forget_lets(),
                    Ok(false) => {}
                    Err(problem) => {
                        if let Problem::Fatal(diagnostic) = problem {
                            return Err(vec![diagnostic]);
                        }
                        if last_problem.is_none() {
                            last_problem = Some((index, problem));
                        }
                        waiting.push((index, loops));
                    }
                }
            }
            if waiting.len() == before {
                let (index, problem) = last_problem
                    .unwrap_or((waiting.first().map_or(0, |w| w.0), Problem::Waiting(None)));
                let span = model.terms.get(index).map_or(Span::default(), |t| t.span);
                return Err(vec![match problem {
                    Problem::Waiting(Some(error)) => cannot_evaluate(span, &error),
                    Problem::Fatal(diagnostic) => diagnostic,
                    Problem::Waiting(None) => Diagnostic::error(
                        codes::BAD_SET,
                        span,
                        "cannot draw this: what it reads is never drawn",
                    )
                    .with_hint("a `~` that reads itself, or a cycle of `~` statements"),
                }]);
            }
            pending = waiting;
        }
        Ok(evaluator.variables)
    }
}

enum Problem {
    /// What the statement reads is not known yet (with the evaluator's error, if it had one).
    Waiting(Option<TapeError>),
    /// The draw itself failed.
    Fatal(Diagnostic),
}

/// The variable a `~` target is, or part of.
fn target_variable(target: &Expr) -> Option<VarId> {
    match &target.kind {
        ExprKind::Variable(id) => Some(*id),
        ExprKind::Index { base, .. } => target_variable(base),
        _ => None,
    }
}

/// Draws one iteration of one `~` if what it reads is known: `Ok(true)` when it drew, `Ok(false)`
/// when every element of its target was already known.
fn draw_one(
    evaluator: &mut Evaluator<'_, f64>,
    term: &ppl_ir::Term,
    rng: &mut rand::rngs::ChaCha8Rng,
) -> Result<bool, Problem> {
    let TermKind::Tilde {
        target,
        distribution,
        args,
    } = &term.kind
    else {
        return Ok(false);
    };
    let (id, shape, positions) = target_positions(evaluator, target).map_err(|e| match e {
        Some(error) => Problem::Waiting(Some(error)),
        None => Problem::Fatal(unsupported(term.span, "a `~` on this kind of target")),
    })?;
    let known = evaluator.variables[id.0]
        .as_ref()
        .is_some_and(|v| positions.iter().all(|&p| !v.values[p].is_nan()));
    if known {
        return Ok(false);
    }
    let mut evaluated = Vec::with_capacity(args.len());
    for arg in args {
        let value = evaluator
            .eval(arg)
            .map_err(|error| Problem::Waiting(Some(error)))?;
        if value.values.iter().any(|v| v.is_nan()) {
            return Err(Problem::Waiting(None));
        }
        evaluated.push(value);
    }
    let family = distribution.family();
    let event_rank = family.variate_rank;
    let event_shape = &shape[shape.len().saturating_sub(event_rank)..];
    let event_size: usize = event_shape.iter().product::<usize>().max(1);
    let count = positions.len();
    let batches = count / event_size;
    let ranks: Vec<usize> = distribution
        .parameterisation()
        .params
        .iter()
        .map(|p| p.rank)
        .collect();
    let model = evaluator.model;
    let variable = &model.variables[id.0];
    let whole: usize = evaluator.variables[id.0]
        .as_ref()
        .map_or(count, |v| v.values.len());
    // A bound that reads an unknown not drawn yet waits for it, like an argument.
    let bounds = unknown_bounds(variable, evaluator, whole)
        .map_err(|error| Problem::Waiting(Some(error)))?;
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
                let available = array.values.len() / per;
                let index = if available <= 1 { 0 } else { batch % available };
                &array.values[index * per..((index + 1) * per).min(array.values.len())]
            })
            .collect();
        let range = batch * event_size..(batch + 1) * event_size;
        let slot = &mut out[range.clone()];
        // A bounded unknown's prior is its distribution truncated to the bound (as in Stan):
        // draws outside it are rejected.
        let mut attempts = 0;
        loop {
            if let Err(error) = ppl_dist::sample(*distribution, &params, rng, slot) {
                return Err(Problem::Fatal(
                    Diagnostic::error(
                        codes::BAD_SET,
                        term.span,
                        format!("cannot draw from `{}`: {error}", family.name),
                    )
                    .with_hint("check the values given with `--set`"),
                ));
            }
            let inside = bounds.as_ref().is_none_or(|bounds| {
                slot.iter()
                    .zip(range.clone())
                    .all(|(&x, k)| positions.get(k).is_none_or(|&p| bounds.contains(p, x)))
            });
            if inside {
                break;
            }
            attempts += 1;
            if attempts == MAX_REJECTIONS {
                return Err(Problem::Fatal(
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
                ));
            }
        }
    }
    if let Some(value) = evaluator.variables[id.0].as_mut() {
        for (&position, drawn) in positions.iter().zip(out) {
            if value.values[position].is_nan() {
                value.values[position] = drawn;
            }
        }
    }
    Ok(true)
}

/// The variable a target writes, the shape of the target and the flat positions of its elements
/// in the variable. `Err(None)` for a target that is not a variable or an index into one.
fn target_positions(
    evaluator: &mut Evaluator<'_, f64>,
    target: &Expr,
) -> Result<(VarId, Vec<usize>, Vec<usize>), Option<TapeError>> {
    match &target.kind {
        ExprKind::Variable(id) => {
            let shape = evaluator.variables[id.0]
                .as_ref()
                .map(|v| v.shape.clone())
                .ok_or(None)?;
            let count = shape.iter().product();
            Ok((*id, shape, (0..count).collect()))
        }
        ExprKind::Index { base, indices } => {
            let ExprKind::Variable(id) = base.kind else {
                return Err(None);
            };
            let mut evaluated = Vec::with_capacity(indices.len());
            for index in indices {
                evaluated.push(evaluator.index_value(index, target.span).map_err(Some)?);
            }
            let base_shape = evaluator.variables[id.0]
                .as_ref()
                .map(|v| v.shape.clone())
                .ok_or(None)?;
            let (shape, positions) =
                index_plan(&base_shape, &evaluated, target.span).map_err(Some)?;
            Ok((id, shape, positions))
        }
        _ => Err(None),
    }
}

fn cannot_evaluate(span: Span, error: &TapeError) -> Diagnostic {
    Diagnostic::error(
        codes::BAD_SET,
        span,
        format!("cannot evaluate the arguments: {error}"),
    )
    .with_hint("check the values given with `--set` and the covariates in `--data`")
}

/// The data set a prior predictive simulation writes: the simulated observed variables in
/// declaration order, then the covariates with as many rows.
fn data_table(
    model: &Model,
    setup: &Setup,
    values: &[Option<Array<f64>>],
) -> Result<SimulatedTable, Vec<Diagnostic>> {
    let mut table = SimulatedTable {
        columns: Vec::new(),
        rows: 0,
        values: Vec::new(),
        integer: Vec::new(),
    };
    let simulated = model
        .variables
        .iter()
        .filter(|v| v.role == Role::Observed && v.init.is_none() && setup.targeted[v.id.0]);
    let covariates = setup.covariates.iter().map(|id| &model.variables[id.0]);
    let mut first = true;
    for (variable, is_covariate) in simulated
        .map(|v| (v, false))
        .chain(covariates.map(|v| (v, true)))
    {
        let Some(value) = &values[variable.id.0] else {
            continue;
        };
        if value.shape.is_empty() && is_covariate {
            continue;
        }
        let rows = value.shape.first().copied().unwrap_or(1);
        if first {
            table.rows = rows;
            first = false;
        } else if rows != table.rows {
            if is_covariate {
                continue;
            }
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
        let low = self.low.get(k).copied().unwrap_or(f64::NEG_INFINITY);
        let high = self.high.get(k).copied().unwrap_or(f64::INFINITY);
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
