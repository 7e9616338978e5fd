//! `Tape`: the model bound to data as a flat list of nodes with preallocated buffers, evaluated by
//! a forward pass and differentiated by a reverse pass; it is the `LogDensity` the engines use.
//!
//! Terms the tape cannot express (calls of nets, indices that depend on unknowns, `quantile` of an
//! unknown) are evaluated by the generic evaluator instead: the value on `f64`, the gradient by
//! forward mode with one `Dual64` evaluation per constrained element of each sampled unknown.
//! That path is correct but slow and allocates; `Tape::fallback_terms` lists the terms that
//! take it.

use std::sync::Arc;

use num_dual::Dual64;
use ppl_infer::{LogDensity, LogDensityError};
use ppl_ir::{Model, VarId};

use super::array::Array;
use super::error::TapeError;
use super::eval::Evaluator;
use super::graph::{backward_node, forward_node};
use super::layout::{Bindings, Draw, ParameterLayout, bound_evaluator};
use super::lower::{Builder, Program, SummedNodes};
use super::numerics::{self, Real};
use crate::marginal::{StatePotentials, SummedLatent};

/// The log density of a model bound to data, with reverse-mode gradients.
#[derive(Clone)]
pub struct Tape {
    pub(super) model: Arc<Model>,
    pub(super) bindings: Arc<Bindings>,
    pub(super) layout: ParameterLayout,
    pub(super) program: Program,
    values: Vec<f64>,
    adjoints: Vec<f64>,
    labels: Vec<String>,
    /// Log |J| of each layout entry at the last forward pass.
    log_jacobians: Vec<f64>,
    /// Whether the constraints' log-Jacobians are part of the density: yes for sampling (the
    /// density of the unconstrained parameters), no for MAP (the mode on the constrained scale,
    /// as Stan's optimizer does by default).
    pub(super) include_jacobian: bool,
    /// Per layout entry, whether its log-Jacobian is left out although `include_jacobian` holds
    /// (variational EM's params); empty: none is.
    jacobian_left_out: Vec<bool>,
}

impl Tape {
    /// Binds `model` to `bindings` and lowers it. `sampled` are the unknowns that form the
    /// unconstrained position, in this order (the others must be fixed in `bindings`);
    /// `labels` name the terms (by index in `model.terms`, e.g. their statement text) in error
    /// reports.
    pub fn new(
        model: &Model,
        bindings: &Bindings,
        sampled: &[VarId],
        labels: Vec<String>,
    ) -> Result<Tape, TapeError> {
        Tape::with_summed(model, bindings, sampled, labels, &[])
    }

    /// As `new`, with the discrete latents `summed` (decided by `marginal::analyse`) summed out
    /// on the tape: their terms are lowered once per state and combined by a log-sum-exp or the
    /// forward algorithm. `bindings` must hold some value of each summed latent (any valid
    /// one: the tape overrides it per state); it is what `constrain` sees.
    pub fn with_summed(
        model: &Model,
        bindings: &Bindings,
        sampled: &[VarId],
        labels: Vec<String>,
        summed: &[SummedLatent],
    ) -> Result<Tape, TapeError> {
        // Loops whose body is elementwise in the loop variable become single array statements.
        let vectorised = super::vectorise::vectorise_loops(model);
        let model = &vectorised;
        let layout = ParameterLayout::new(model, bindings, sampled)?;
        let program = Builder::new(model, bindings, &layout, summed)?.build()?;
        let values = program.values.clone();
        let adjoints = vec![0.0; values.len()];
        Ok(Tape {
            model: Arc::new(model.clone()),
            bindings: Arc::new(bindings.clone()),
            log_jacobians: vec![0.0; layout.entries.len()],
            layout,
            program,
            values,
            adjoints,
            labels,
            include_jacobian: true,
            jacobian_left_out: Vec::new(),
        })
    }

    /// The same density without the constraints' log-Jacobians: its maximum is the mode on the
    /// constrained scale (MAP), not on the unconstrained one.
    pub fn without_jacobian(mut self) -> Tape {
        self.include_jacobian = false;
        self
    }

    /// Whether discrete latents are summed out on this tape.
    pub(super) fn sums_latents(&self) -> bool {
        !self.program.summed.is_empty()
    }

    /// The same density without the log-Jacobians of `variables` only: the density of the
    /// others' unconstrained coordinates, and on the constrained scale for these (variational
    /// EM: a Gaussian guide over the latents' unconstrained space, the params' MLE on theirs).
    pub fn without_jacobian_of(mut self, variables: &[VarId]) -> Tape {
        self.jacobian_left_out = self
            .layout
            .entries
            .iter()
            .map(|entry| variables.contains(&entry.var))
            .collect();
        self
    }

    /// Whether entry `index`'s log-Jacobian is part of the density.
    fn includes_jacobian(&self, index: usize) -> bool {
        self.include_jacobian && !self.jacobian_left_out.get(index).copied().unwrap_or(false)
    }

    /// Where each sampled unknown lives in the position vector.
    pub fn layout(&self) -> &ParameterLayout {
        &self.layout
    }

    /// Number of nodes (for diagnostics and tests of the lowering).
    pub fn node_count(&self) -> usize {
        self.program.ops.len()
    }

    /// Indices (in `model.terms`) of the terms evaluated by the slow generic path.
    pub fn fallback_terms(&self) -> &[usize] {
        &self.program.fallback_terms
    }

    /// The constrained values at `position`: every sampled unknown and every `let` that depends
    /// on an unknown (with its loop axes first).
    pub fn constrain(&self, position: &[f64]) -> Result<Draw, TapeError> {
        if !self.model.lets.iter().any(|l| l.is_output()) {
            // No `let` to compute, so no evaluator: building one copies every data array, which
            // for a regression on N × D data costs more than the draw itself.
            let (constrained, _) = self.layout.constrain(position)?;
            let variables = self
                .layout
                .entries
                .iter()
                .zip(constrained)
                .map(|(entry, value)| (entry.var, value))
                .collect();
            return Ok(Draw {
                variables,
                lets: Vec::new(),
            });
        }
        let (mut evaluator, _) =
            bound_evaluator(&self.model, &self.bindings, &self.layout, position)?;
        let variables = self
            .layout
            .entries
            .iter()
            .map(|entry| {
                let value = evaluator.variables[entry.var.0]
                    .clone()
                    .expect("bound above");
                (entry.var, value)
            })
            .collect();
        let mut lets = Vec::new();
        for definition in self.model.lets.iter().filter(|l| l.is_output()) {
            lets.push((definition.id, evaluator.full_let(definition.id)?));
        }
        Ok(Draw { variables, lets })
    }

    /// As `constrain`, with some fixed unknowns (summed-out latents) set to `fixed` values first,
    /// so that the `let`s reading them see a recovered draw.
    pub fn constrain_with(
        &self,
        position: &[f64],
        fixed: &[(VarId, Vec<f64>)],
    ) -> Result<Draw, TapeError> {
        let mut bindings = (*self.bindings).clone();
        for (var, values) in fixed {
            bindings.set(*var, values.clone());
        }
        let (mut evaluator, _) = bound_evaluator(&self.model, &bindings, &self.layout, position)?;
        let variables = self
            .layout
            .entries
            .iter()
            .map(|entry| {
                let value = evaluator.variables[entry.var.0]
                    .clone()
                    .expect("bound above");
                (entry.var, value)
            })
            .collect();
        let mut lets = Vec::new();
        for definition in self.model.lets.iter().filter(|l| l.is_output()) {
            lets.push((definition.id, evaluator.full_let(definition.id)?));
        }
        Ok(Draw { variables, lets })
    }

    /// How many terms of summed-out scalars took the change-point fast path (one running sum
    /// over the states instead of a lowering per state); for tests.
    #[cfg(test)]
    pub(crate) fn threshold_terms(&self) -> usize {
        self.program
            .ops
            .iter()
            .filter(|op| matches!(op, super::graph::Op::ThresholdSums { .. }))
            .count()
    }

    /// Which fused nodes sum latents out on the density's path, for tests: (chains by the scaled
    /// recursion with transitions read once, chains with per-step transitions, fused plates,
    /// nodes kept only for recovery).
    #[cfg(test)]
    pub(crate) fn fused_nodes(&self) -> (usize, usize, usize, usize) {
        use super::graph::Op;
        let ops = &self.program.ops;
        let count = |test: &dyn Fn(&Op) -> bool| ops.iter().filter(|op| test(op)).count();
        (
            count(&|op| {
                matches!(
                    op,
                    Op::ChainForward {
                        homogeneous: true,
                        ..
                    }
                )
            }),
            count(&|op| {
                matches!(
                    op,
                    Op::ChainForward {
                        homogeneous: false,
                        ..
                    }
                )
            }),
            count(&|op| matches!(op, Op::SummedPlate { .. })),
            self.program.recovery_only.iter().filter(|&&r| r).count(),
        )
    }

    /// The per-state log-potentials of each summed-out latent at `position` (in the order the
    /// latents were given to `with_summed`), for recovery.
    pub fn summed_potentials(
        &mut self,
        position: &[f64],
    ) -> Result<Vec<StatePotentials>, LogDensityError> {
        Ok(self.log_density_and_potentials(position)?.1)
    }

    /// The log density (discrete latents summed out) and the per-state log-potentials, from one
    /// forward pass.
    pub fn log_density_and_potentials(
        &mut self,
        position: &[f64],
    ) -> Result<(f64, Vec<StatePotentials>), LogDensityError> {
        let log_density = self.forward_nodes(position, false, true)?;
        let read = |node: usize| {
            let info = self.program.infos[node];
            &self.values[info.start..info.start + info.len]
        };
        let mut out = Vec::with_capacity(self.program.summed.len());
        for summed in &self.program.summed {
            out.push(match summed {
                SummedNodes::Scalar { per_state } => StatePotentials::Scalar {
                    log_weights: read(*per_state).to_vec(),
                },
                SummedNodes::Plate { per_state } => {
                    let states = per_state.len();
                    let elements = per_state.first().map(|&n| read(n).len()).unwrap_or(0);
                    let mut log_weights = vec![0.0; elements * states];
                    for (k, &node) in per_state.iter().enumerate() {
                        for (n, &value) in read(node).iter().enumerate() {
                            log_weights[n * states + k] = value;
                        }
                    }
                    StatePotentials::Plate {
                        log_weights,
                        states,
                    }
                }
                SummedNodes::Chain {
                    emissions,
                    transitions,
                } => {
                    let states = emissions.len();
                    let steps = emissions.first().map(|&n| read(n).len()).unwrap_or(0);
                    let mut emission_values = vec![0.0; steps * states];
                    for (k, &node) in emissions.iter().enumerate() {
                        for (t, &value) in read(node).iter().enumerate() {
                            emission_values[t * states + k] = value;
                        }
                    }
                    let mut transition_values =
                        vec![0.0; steps.saturating_sub(1) * states * states];
                    for (pair, &node) in transitions.iter().enumerate() {
                        for (t, &value) in read(node).iter().enumerate() {
                            transition_values[t * states * states + pair] = value;
                        }
                    }
                    StatePotentials::Chain {
                        emissions: emission_values,
                        transitions: transition_values,
                        states,
                    }
                }
            });
        }
        Ok((log_density, out))
    }

    /// The unconstrained position of constrained values given per layout entry (flat row-major),
    /// e.g. initial values.
    pub fn unconstrain(&self, values: &[Vec<f64>]) -> Result<Vec<f64>, TapeError> {
        self.layout.unconstrain(values)
    }

    fn label(&self, term: usize) -> String {
        self.labels
            .get(term)
            .cloned()
            .unwrap_or_else(|| format!("term {} of the model", term + 1))
    }

    /// Values of all variables for the generic evaluator: data, fixed unknowns, and the current
    /// constrained inputs.
    fn current_variables<T: Real>(&self) -> Result<Vec<Option<Array<T>>>, TapeError> {
        let mut variables = self.bindings.arrays::<T>(&self.model)?;
        for (entry, &node) in self.layout.entries.iter().zip(&self.program.variable_nodes) {
            let info = self.program.infos[node];
            let values = self.values[info.start..info.start + info.len]
                .iter()
                .map(|&v| T::from(v))
                .collect();
            variables[entry.var.0] = Some(Array::new(entry.shape.clone(), values));
        }
        Ok(variables)
    }

    fn fallback_value(&self, term: usize) -> Result<f64, TapeError> {
        let variables = self.current_variables::<f64>()?;
        Evaluator::new(&self.model, &self.bindings.dims, variables).term(&self.model.terms[term])
    }

    /// Adds the fallback term's gradient with respect to the constrained inputs to their adjoints.
    fn fallback_gradient(&mut self, term: usize) -> Result<(), TapeError> {
        for (index, &node) in self.program.variable_nodes.clone().iter().enumerate() {
            let info = self.program.infos[node];
            for element in 0..info.len {
                let mut variables = self.current_variables::<Dual64>()?;
                let entry = &self.layout.entries[index];
                if let Some(array) = variables[entry.var.0].as_mut() {
                    array.values[element] = array.values[element].derivative();
                }
                let derivative = Evaluator::new(&self.model, &self.bindings.dims, variables)
                    .term(&self.model.terms[term])?
                    .eps;
                self.adjoints[info.start + element] += derivative;
            }
        }
        Ok(())
    }

    /// Adds every fallback term's gradient to the adjoints of the variables' nodes.
    fn fallback_gradients(&mut self) -> Result<(), LogDensityError> {
        for term in self.program.fallback_terms.clone() {
            if let Err(error) = self.fallback_gradient(term) {
                return Err(LogDensityError::NotFinite {
                    term: Some(format!("{}: {error}", self.label(term))),
                    term_index: Some(term),
                });
            }
        }
        Ok(())
    }

    /// Writes the constrained inputs and runs the log density's nodes forward; returns the log
    /// density.
    fn forward(&mut self, position: &[f64], with_partials: bool) -> Result<f64, LogDensityError> {
        self.forward_nodes(position, with_partials, false)
    }

    /// As `forward`; with `every_node`, the nodes kept only for recovery run too.
    fn forward_nodes(
        &mut self,
        position: &[f64],
        with_partials: bool,
        every_node: bool,
    ) -> Result<f64, LogDensityError> {
        if position.len() != self.layout.dim {
            return Err(LogDensityError::NotFinite {
                term: Some(format!(
                    "a position of length {} where {} is needed",
                    position.len(),
                    self.layout.dim
                )),
                term_index: None,
            });
        }
        for (index, entry) in self.layout.entries.iter().enumerate() {
            let info = self.program.infos[self.program.inputs[index]];
            self.log_jacobians[index] = numerics::constrain_into(
                &entry.constraint,
                &entry.shape,
                &position[entry.offset..entry.offset + entry.len],
                &mut self.values[info.start..info.start + info.len],
            );
        }
        for (net, &node) in self.layout.nets.iter().zip(&self.program.net_inputs) {
            let info = self.program.infos[node];
            let coordinates = &position[net.offset..net.offset + net.len];
            for ((value, &u), &scale) in self.values[info.start..info.start + info.len]
                .iter_mut()
                .zip(coordinates)
                .zip(&net.scales)
            {
                *value = scale * u;
            }
        }
        let infos = &self.program.infos;
        let skipped = &self.program.recovery_only;
        for (index, (op, info)) in self.program.ops.iter_mut().zip(infos).enumerate() {
            if !info.needs_gradient || (!every_node && skipped.get(index) == Some(&true)) {
                continue;
            }
            let (before, rest) = self.values.split_at_mut(info.start);
            forward_node(op, infos, before, &mut rest[..info.len], with_partials);
        }
        let mut total = 0.0;
        for &(term, node) in &self.program.terms {
            let value = self.values[self.program.infos[node].start];
            if !value.is_finite() {
                return Err(LogDensityError::NotFinite {
                    term: Some(self.label(term)),
                    term_index: Some(term),
                });
            }
            total += value;
        }
        for &term in &self.program.fallback_terms {
            let value = match self.fallback_value(term) {
                Ok(value) if value.is_finite() => value,
                Ok(_) => f64::NAN,
                Err(error) => {
                    return Err(LogDensityError::NotFinite {
                        term: Some(format!("{}: {error}", self.label(term))),
                        term_index: Some(term),
                    });
                }
            };
            if !value.is_finite() {
                return Err(LogDensityError::NotFinite {
                    term: Some(self.label(term)),
                    term_index: Some(term),
                });
            }
            total += value;
        }
        for &(index, node) in &self.program.bound_jacobians {
            let log_jacobian = self.values[self.program.infos[node].start];
            if !log_jacobian.is_finite() {
                return Err(LogDensityError::NotFinite {
                    term: Some(format!(
                        "the bound of `{}`",
                        self.layout.entries[index].name
                    )),
                    term_index: None,
                });
            }
            if self.includes_jacobian(index) {
                total += log_jacobian;
            }
        }
        for (index, (entry, &log_jacobian)) in self
            .layout
            .entries
            .iter()
            .zip(&self.log_jacobians)
            .enumerate()
        {
            if !log_jacobian.is_finite() {
                return Err(LogDensityError::NotFinite {
                    term: Some(format!("the constraint of `{}`", entry.name)),
                    term_index: None,
                });
            }
            if self.includes_jacobian(index) {
                total += log_jacobian;
            }
        }
        Ok(total)
    }

    /// The reverse pass after `forward(.., true)`: writes the gradient of the log density.
    fn backward(&mut self, position: &[f64], gradient: &mut [f64]) -> Result<(), LogDensityError> {
        // Constants (most of the buffer, with the data) never receive adjoints.
        // Nodes kept only for recovery are never read by the density's path: no adjoint.
        let skipped = &self.program.recovery_only;
        for (index, info) in self.program.infos.iter().enumerate() {
            if info.needs_gradient && skipped.get(index) != Some(&true) {
                self.adjoints[info.start..info.start + info.len].fill(0.0);
            }
        }
        for &(_, node) in &self.program.terms {
            self.adjoints[self.program.infos[node].start] += 1.0;
        }
        for &(index, node) in &self.program.bound_jacobians {
            if self.includes_jacobian(index) {
                self.adjoints[self.program.infos[node].start] += 1.0;
            }
        }
        // With an expression bound a fallback term's gradient lands on a computed node, which
        // the reverse pass must then carry back to the inputs and the bound's ends.
        let fallback_first = !self.program.bound_jacobians.is_empty()
            || self.program.variable_nodes != self.program.inputs;
        if fallback_first {
            self.fallback_gradients()?;
        }
        let infos = &self.program.infos;
        let skipped = &self.program.recovery_only;
        for index in (0..self.program.ops.len()).rev() {
            let info = infos[index];
            if !info.needs_gradient || skipped.get(index) == Some(&true) {
                continue;
            }
            let (before_values, own_values) = self.values.split_at(info.start);
            let (before_adjoints, own_adjoints) = self.adjoints.split_at_mut(info.start);
            backward_node(
                &mut self.program.ops[index],
                infos,
                before_values,
                &own_values[..info.len],
                &own_adjoints[..info.len],
                before_adjoints,
            );
        }
        if !fallback_first {
            self.fallback_gradients()?;
        }
        gradient.fill(0.0);
        for (index, entry) in self.layout.entries.iter().enumerate() {
            let info = self.program.infos[self.program.inputs[index]];
            numerics::constrain_gradient(
                &entry.constraint,
                &entry.shape,
                &position[entry.offset..entry.offset + entry.len],
                &self.adjoints[info.start..info.start + info.len],
                &mut gradient[entry.offset..entry.offset + entry.len],
            );
        }
        for (net, &node) in self.layout.nets.iter().zip(&self.program.net_inputs) {
            let info = self.program.infos[node];
            for ((g, &adjoint), &scale) in gradient[net.offset..net.offset + net.len]
                .iter_mut()
                .zip(&self.adjoints[info.start..info.start + info.len])
                .zip(&net.scales)
            {
                *g = scale * adjoint;
            }
        }
        // The transforms' reverse rule always adds the log-Jacobian's gradient; with a zero
        // adjoint it is that gradient alone, which is taken back out where it is left out.
        for (index, entry) in self.layout.entries.iter().enumerate() {
            if self.includes_jacobian(index) {
                continue;
            }
            let info = self.program.infos[self.program.inputs[index]];
            let zero_adjoint = vec![0.0; info.len];
            let mut jacobian_gradient = vec![0.0; entry.len];
            let range = entry.offset..entry.offset + entry.len;
            numerics::constrain_gradient(
                &entry.constraint,
                &entry.shape,
                &position[range.clone()],
                &zero_adjoint,
                &mut jacobian_gradient,
            );
            for (g, j) in gradient[range].iter_mut().zip(&jacobian_gradient) {
                *g -= j;
            }
        }
        if gradient.iter().any(|g| !g.is_finite()) {
            return Err(LogDensityError::NotFinite {
                term: Some("the gradient".into()),
                term_index: None,
            });
        }
        Ok(())
    }
}

impl LogDensity for Tape {
    fn dim(&self) -> usize {
        self.layout.dim
    }

    fn log_density_and_gradient(
        &mut self,
        position: &[f64],
        gradient: &mut [f64],
    ) -> Result<f64, LogDensityError> {
        if gradient.len() != self.layout.dim {
            return Err(LogDensityError::NotFinite {
                term: Some(format!(
                    "a gradient buffer of length {} where {} is needed",
                    gradient.len(),
                    self.layout.dim
                )),
                term_index: None,
            });
        }
        let value = self.forward(position, true)?;
        self.backward(position, gradient)?;
        Ok(value)
    }

    fn log_density(&mut self, position: &[f64]) -> Result<f64, LogDensityError> {
        self.forward(position, false)
    }
}
