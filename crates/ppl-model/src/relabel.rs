//! Label switching in mixture posteriors. A mixture's likelihood is the same under any
//! permutation of its components, so a sampler's chains may settle on different labellings: the
//! per-chain means of `mu[1]` and `mu[2]` are then swapped between chains, and the summary mixes
//! them. [`label_switching`] detects it: for a vector unknown whose elements' R-hat is large
//! but whose per-draw *sorted* elements' R-hat is small, the chains agree on the set of values
//! and disagree only on which label carries which. [`Relabeller`] removes it post hoc by
//! ordering a named parameter per draw (`--relabel mu`: `mu[1] < mu[2] < ...`), the
//! identifiability constraint of Richardson and Green (1997), applying the same permutation to
//! every component-indexed unknown (each axis of length K) and mapping the discrete labels (an
//! `int in 1..K` unknown) through it. Declaring the parameter `ordered[K]` imposes the same
//! order in the model itself.

use ppl_infer::diagnostics::rhat;
use ppl_ir::{Constraint, ElemType, Model, Role};

use crate::posterior::OutputColumn;

/// R-hat above which a vector's elements count as disagreeing between chains.
const DISAGREE_RHAT: f64 = 1.1;
/// R-hat below which its sorted elements count as agreeing.
const AGREE_RHAT: f64 = 1.05;

/// One variable's columns: its name, shape and where its values sit in a row.
#[derive(Clone, Debug, PartialEq)]
struct Group {
    name: String,
    shape: Vec<usize>,
    /// Row positions of its elements, row-major.
    positions: Vec<usize>,
}

/// Groups the columns by variable (`mu[1]`, `mu[2]` → `mu` with shape `[2]`), in order.
/// A column whose indices do not parse is its own scalar group.
fn groups(columns: &[OutputColumn]) -> Vec<Group> {
    let mut out: Vec<Group> = Vec::new();
    for (position, column) in columns.iter().enumerate() {
        let (name, indices) = match column.display.split_once('[') {
            Some((name, rest)) => {
                let inner = rest.trim_end_matches(']');
                let parsed: Option<Vec<usize>> =
                    inner.split(',').map(|i| i.trim().parse().ok()).collect();
                match parsed {
                    Some(indices) => (name.to_string(), indices),
                    None => (column.display.clone(), Vec::new()),
                }
            }
            None => (column.display.clone(), Vec::new()),
        };
        match out.last_mut() {
            Some(group) if group.name == name && group.shape.len() == indices.len() => {
                for (extent, &index) in group.shape.iter_mut().zip(&indices) {
                    *extent = (*extent).max(index);
                }
                group.positions.push(position);
            }
            _ => out.push(Group {
                name,
                shape: indices,
                positions: vec![position],
            }),
        }
    }
    out
}

/// The real vector unknowns whose chains disagree on the labels: per variable (1-D, two or
/// more elements, not whole numbers), the largest R-hat of its elements and of its per-draw sorted elements.
/// `chains[c][d]` is draw `d` of chain `c`, a row in `columns` order (`offset` columns before
/// them, the sampler's). Needs two or more chains.
pub fn label_switching(
    columns: &[OutputColumn],
    chains: &[Vec<Vec<f64>>],
    offset: usize,
) -> Vec<(String, f64, f64)> {
    label_switching_given(columns, chains, offset, None)
}

/// [`label_switching`] with the R-hat of each column already known (`known_rhat[p]` for
/// `columns[p]`, as the summary computed it from the same draws), so that it is not computed
/// twice; `None`, or a slice of another length, computes them here.
pub fn label_switching_given(
    columns: &[OutputColumn],
    chains: &[Vec<Vec<f64>>],
    offset: usize,
    known_rhat: Option<&[f64]>,
) -> Vec<(String, f64, f64)> {
    if chains.len() < 2 || chains.iter().any(|c| c.len() < 4) {
        return Vec::new();
    }
    let known_rhat = known_rhat.filter(|known| known.len() == columns.len());
    let mut found = Vec::new();
    for group in groups(columns) {
        let generated = columns.get(group.positions[0]).is_some_and(|c| c.generated);
        // A discrete vector (the labels themselves) follows the real ones: it is not what the
        // user would order. Its draws are whole numbers.
        let discrete = chains[0].iter().take(20).all(|row| {
            group
                .positions
                .iter()
                .all(|&p| row.get(offset + p).is_some_and(|v| v.fract() == 0.0))
        });
        if generated || discrete || group.shape.len() != 1 || group.positions.len() < 2 {
            continue;
        }
        let worst = |rhats: &mut dyn Iterator<Item = f64>| -> f64 {
            rhats.filter(|r| r.is_finite()).fold(f64::NAN, f64::max)
        };
        let series_rhat = |values: &dyn Fn(&[f64]) -> f64| -> f64 {
            let series: Vec<Vec<f64>> = chains
                .iter()
                .map(|chain| chain.iter().map(|row| values(row)).collect())
                .collect();
            let slices: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
            rhat(&slices)
        };
        let before = worst(&mut group.positions.iter().map(|&p| match known_rhat {
            Some(known) => known[p],
            None => series_rhat(&|row: &[f64]| row.get(offset + p).copied().unwrap_or(f64::NAN)),
        }));
        // Chains that agree on each element agree on the labels: the sorted elements (a sort
        // per draw, the costly part) are looked at only when they do not.
        if before.is_nan() || before <= DISAGREE_RHAT {
            continue;
        }
        let sorted_rows: Vec<Vec<Vec<f64>>> = chains
            .iter()
            .map(|chain| {
                chain
                    .iter()
                    .map(|row| {
                        let mut values: Vec<f64> = group
                            .positions
                            .iter()
                            .map(|&p| row.get(offset + p).copied().unwrap_or(f64::NAN))
                            .collect();
                        values.sort_by(f64::total_cmp);
                        values
                    })
                    .collect()
            })
            .collect();
        let after = worst(&mut (0..group.positions.len()).map(|rank| {
            let series: Vec<Vec<f64>> = sorted_rows
                .iter()
                .map(|chain| chain.iter().map(|sorted| sorted[rank]).collect())
                .collect();
            let slices: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
            rhat(&slices)
        }));
        if after < AGREE_RHAT {
            found.push((group.name, before, after));
        }
    }
    found
}

/// Relabels draws by ordering one parameter (see the module docs).
#[derive(Clone, Debug, PartialEq)]
pub struct Relabeller {
    /// The ordered parameter's row positions, by component.
    key: Vec<usize>,
    /// Every permuted variable: its shape, row positions, and which axes are component axes.
    permuted: Vec<(Vec<usize>, Vec<usize>, Vec<bool>)>,
    /// Row positions of the discrete labels (values 1..K).
    labels: Vec<usize>,
    /// Names of the permuted variables and the labels, for the note.
    pub names: Vec<String>,
}

impl Relabeller {
    /// The relabeller that orders `param` (a real vector unknown of K ≥ 2 elements) for rows in
    /// `columns` order. The permuted variables are the unknowns and `let`s with an axis of
    /// length K; the labels are the `int` unknowns with support exactly `1..K`. Errors with a
    /// message when `param` is not such a vector.
    pub fn new(
        model: &Model,
        dims: &[usize],
        columns: &[OutputColumn],
        param: &str,
    ) -> Result<Relabeller, String> {
        let groups = groups(columns);
        let variable = model
            .variables
            .iter()
            .find(|v| v.name == param && v.role != Role::Observed)
            .ok_or_else(|| format!("`--relabel {param}`: the model has no unknown `{param}`"))?;
        if variable.ty.elem != ElemType::Real {
            return Err(format!(
                "`--relabel {param}`: `{param}` is not real, so it cannot order the components"
            ));
        }
        let key = groups
            .iter()
            .find(|g| g.name == param && g.shape.len() == 1 && g.positions.len() >= 2)
            .ok_or_else(|| {
                format!(
                    "`--relabel {param}`: `{param}` must be a vector of two or more components in the draws"
                )
            })?;
        let components = key.positions.len();
        let mut permuted = Vec::new();
        let mut labels = Vec::new();
        let mut names = Vec::new();
        for group in &groups {
            let declared = model.variables.iter().find(|v| v.name == group.name);
            let is_let = model.lets.iter().any(|l| l.name == group.name);
            let unknown = declared.is_some_and(|v| v.role != Role::Observed);
            if !unknown && !is_let {
                continue;
            }
            if let Some(variable) = declared
                && variable.ty.elem == ElemType::Int
                && support_is_labels(variable, dims, components)
            {
                labels.extend(&group.positions);
                names.push(format!("{} (labels)", group.name));
                continue;
            }
            let axes: Vec<bool> = group.shape.iter().map(|&n| n == components).collect();
            if axes.iter().any(|a| *a)
                && group.positions.len() == group.shape.iter().product::<usize>()
            {
                permuted.push((group.shape.clone(), group.positions.clone(), axes));
                names.push(group.name.clone());
            }
        }
        Ok(Relabeller {
            key: key.positions.clone(),
            permuted,
            labels,
            names,
        })
    }

    /// Relabels one row (the model's columns, without the sampler's) in place.
    pub fn apply(&self, row: &mut [f64]) {
        let values: Vec<f64> = self
            .key
            .iter()
            .map(|&p| row.get(p).copied().unwrap_or(f64::NAN))
            .collect();
        // order[j] = the old component that becomes component j.
        let mut order: Vec<usize> = (0..values.len()).collect();
        order.sort_by(|&a, &b| values[a].total_cmp(&values[b]));
        if order.iter().enumerate().all(|(j, &k)| j == k) {
            return;
        }
        let mut new_label = vec![0usize; order.len()];
        for (j, &k) in order.iter().enumerate() {
            new_label[k] = j;
        }
        for (shape, positions, axes) in &self.permuted {
            let old: Vec<f64> = positions
                .iter()
                .map(|&p| row.get(p).copied().unwrap_or(f64::NAN))
                .collect();
            for (flat, &position) in positions.iter().enumerate() {
                // The element's indices, with each component axis mapped to the old component.
                let mut rest = flat;
                let mut source = 0;
                let mut stride = 1;
                let mut indices = vec![0usize; shape.len()];
                for axis in (0..shape.len()).rev() {
                    indices[axis] = rest % shape[axis];
                    rest /= shape[axis];
                }
                for axis in (0..shape.len()).rev() {
                    let index = if axes[axis] {
                        order[indices[axis]]
                    } else {
                        indices[axis]
                    };
                    source += index * stride;
                    stride *= shape[axis];
                }
                if let (Some(slot), Some(&value)) = (row.get_mut(position), old.get(source)) {
                    *slot = value;
                }
            }
        }
        for &position in &self.labels {
            if let Some(slot) = row.get_mut(position)
                && *slot >= 1.0
                && let Some(&label) = new_label.get(*slot as usize - 1)
            {
                *slot = (label + 1) as f64;
            }
        }
    }
}

/// Whether an `int` unknown's support is exactly `1..components` (a component label).
fn support_is_labels(variable: &ppl_ir::Variable, dims: &[usize], components: usize) -> bool {
    let (low, high) = match (&variable.data_bound, &variable.constraint) {
        (Some((low, high)), _) => (low.evaluate(dims), high.evaluate(dims)),
        (None, Constraint::Bounded { low, high, open }) if !open => {
            (low.ceil() as i64, high.floor() as i64)
        }
        _ => return false,
    };
    low == 1 && high == components as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn column(display: &str) -> OutputColumn {
        OutputColumn {
            display: display.into(),
            csv: display.replace(['[', ','], ".").replace(']', ""),
            generated: false,
        }
    }

    #[test]
    fn groups_read_shapes_from_the_column_names() {
        let columns: Vec<OutputColumn> = [
            "a", "mu[1]", "mu[2]", "t[1,1]", "t[1,2]", "t[2,1]", "t[2,2]",
        ]
        .iter()
        .map(|c| column(c))
        .collect();
        let found = groups(&columns);
        assert_eq!(found.len(), 3);
        assert_eq!(found[1].shape, vec![2]);
        assert_eq!(found[2].shape, vec![2, 2]);
        assert_eq!(found[2].positions, vec![3, 4, 5, 6]);
    }

    #[test]
    fn swapped_chains_are_detected_and_agreeing_ones_are_not() {
        let columns = vec![column("mu[1]"), column("mu[2]")];
        let chain = |first: f64, second: f64| -> Vec<Vec<f64>> {
            (0..200)
                .map(|i| {
                    let wobble = ((i * 37 % 101) as f64 / 101.0 - 0.5) * 0.2;
                    vec![first + wobble, second - wobble]
                })
                .collect()
        };
        let switched = vec![chain(-1.0, 1.0), chain(1.0, -1.0)];
        let found = label_switching(&columns, &switched, 0);
        assert_eq!(found.len(), 1, "{found:?}");
        assert_eq!(found[0].0, "mu");
        // The summary's R-hats, handed in, give the same answer as computing them here.
        let known: Vec<f64> = (0..2)
            .map(|p| {
                let series: Vec<Vec<f64>> = switched
                    .iter()
                    .map(|c| c.iter().map(|row| row[p]).collect())
                    .collect();
                let slices: Vec<&[f64]> = series.iter().map(Vec::as_slice).collect();
                rhat(&slices)
            })
            .collect();
        assert_eq!(
            label_switching_given(&columns, &switched, 0, Some(&known)),
            found
        );
        let agreeing = vec![chain(-1.0, 1.0), chain(-1.0, 1.0)];
        assert!(label_switching(&columns, &agreeing, 0).is_empty());
    }
}
