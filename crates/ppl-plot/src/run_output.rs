//! A run's output directory as the pictures need it: the chains' draws (every CmdStan-layout CSV in
//! the directory, so a directory merged from several machines works as one), the objective trace
//! and method from `summary.json`, and the lookup from a `--var` name to columns.

use std::path::{Path, PathBuf};

use ppl_planner::draws::{ChainFile, SAMPLER_COLUMNS, display_name};

use crate::error::PlotError;

/// One chain's draws, column by column.
#[derive(Clone, Debug, PartialEq)]
pub struct Chain {
    /// The label in legends: "chain 3".
    pub label: String,
    /// `values[column][draw]`, in the order of [`RunOutput::columns`].
    pub values: Vec<Vec<f64>>,
}

/// What a picture can be drawn from.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct RunOutput {
    /// The directory (or file) read.
    pub path: PathBuf,
    /// Column names in display form (`theta[1,2]`), sampler columns (`lp__`, ...) first.
    pub columns: Vec<String>,
    pub chains: Vec<Chain>,
    /// `summary.json`'s `method`, when there is one.
    pub method: Option<String>,
    /// `summary.json`'s `objective` (non-finite values, written as `null`, are NaN here).
    pub objective: Vec<f64>,
}

impl RunOutput {
    /// Reads a run's output directory, or a single draws CSV file. A directory with neither draws
    /// nor `summary.json` is an error; one with only `summary.json` (an EM run) is fine for the
    /// objective plot, and the draws plots say there are no draws.
    pub fn read(path: &Path) -> Result<RunOutput, PlotError> {
        let unreadable = |reason: String| PlotError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };
        let mut output = RunOutput {
            path: path.to_path_buf(),
            ..RunOutput::default()
        };
        let files = if path.is_file() {
            vec![path.to_path_buf()]
        } else {
            let summary = path.join("summary.json");
            if summary.is_file() {
                output.read_summary(&summary)?;
            }
            ppl_planner::draws::draw_files(path).map_err(|e| unreadable(e.to_string()))?
        };
        if files.is_empty() && !path.join("summary.json").is_file() {
            return Err(PlotError::NoDraws {
                path: path.to_path_buf(),
            });
        }
        let mut chain_files = Vec::with_capacity(files.len());
        for file in &files {
            chain_files.push(
                ChainFile::read(file).map_err(|reason| PlotError::Unreadable {
                    path: file.clone(),
                    reason,
                })?,
            );
        }
        if let Some(first) = chain_files.first() {
            if let Some(other) = chain_files.iter().find(|c| c.columns != first.columns) {
                return Err(PlotError::ChainsDisagree {
                    first: first.path.clone(),
                    other: other.path.clone(),
                });
            }
            output.columns = first.columns.iter().map(|c| display_name(c)).collect();
        }
        // Chains in the order of their ids (chain-10 after chain-9), and labelled by them unless a
        // merge brought two chains with one id.
        chain_files.sort_by_key(|c| c.chain_id);
        let mut ids: Vec<Option<u64>> = chain_files.iter().map(|c| c.chain_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let ids_label = ids.len() == chain_files.len() && ids.iter().all(Option::is_some);
        for (index, file) in chain_files.into_iter().enumerate() {
            let label = match file.chain_id {
                Some(id) if ids_label => format!("chain {id}"),
                _ => format!("chain {}", index + 1),
            };
            let values = (0..file.columns.len())
                .map(|column| file.rows.iter().map(|row| row[column]).collect())
                .collect();
            output.chains.push(Chain { label, values });
        }
        Ok(output)
    }

    /// A run held in memory (the REPL's last fit): `columns` in CSV form, sampler columns first,
    /// and each chain's draws as rows in that order.
    pub fn from_draws(columns: &[String], chains: &[Vec<Vec<f64>>]) -> RunOutput {
        RunOutput {
            path: PathBuf::from("(the last run)"),
            columns: columns.iter().map(|c| display_name(c)).collect(),
            chains: chains
                .iter()
                .enumerate()
                .map(|(index, rows)| Chain {
                    label: format!("chain {}", index + 1),
                    values: (0..columns.len())
                        .map(|column| {
                            rows.iter()
                                .map(|row| row.get(column).copied().unwrap_or(f64::NAN))
                                .collect()
                        })
                        .collect(),
                })
                .collect(),
            method: None,
            objective: Vec::new(),
        }
    }

    fn read_summary(&mut self, path: &Path) -> Result<(), PlotError> {
        let unreadable = |reason: String| PlotError::Unreadable {
            path: path.to_path_buf(),
            reason,
        };
        let text = std::fs::read_to_string(path).map_err(|e| unreadable(e.to_string()))?;
        let json: serde_json::Value =
            serde_json::from_str(&text).map_err(|e| unreadable(format!("not JSON: {e}")))?;
        self.method = json
            .get("method")
            .and_then(serde_json::Value::as_str)
            .map(str::to_string);
        if let Some(values) = json.get("objective").and_then(serde_json::Value::as_array) {
            self.objective = values
                .iter()
                .map(|v| v.as_f64().unwrap_or(f64::NAN))
                .collect();
        }
        Ok(())
    }

    /// The columns that are the model's quantities (not the sampler's).
    pub fn quantity_columns(&self) -> std::ops::Range<usize> {
        let first = if self
            .columns
            .first()
            .is_some_and(|c| c == SAMPLER_COLUMNS[0])
        {
            SAMPLER_COLUMNS.len().min(self.columns.len())
        } else {
            0
        };
        first..self.columns.len()
    }

    /// The columns that `names` stand for, in order: `theta[1]` (or CmdStan's `theta.1`) one
    /// element, `theta` all of its elements, `lp__` a sampler column. Duplicates are kept once.
    pub fn select(&self, names: &[String]) -> Result<Vec<usize>, PlotError> {
        let mut selected: Vec<usize> = Vec::new();
        for name in names {
            let wanted = display_name(&name.replace(' ', ""));
            let exact = self.columns.iter().position(|c| *c == wanted);
            let found: Vec<usize> = match exact {
                Some(index) => vec![index],
                None => self
                    .quantity_columns()
                    .filter(|&i| base_name(&self.columns[i]) == wanted)
                    .collect(),
            };
            if found.is_empty() {
                return Err(PlotError::UnknownVariable {
                    name: name.clone(),
                    available: self.describe_variables(),
                });
            }
            for index in found {
                if !selected.contains(&index) {
                    selected.push(index);
                }
            }
        }
        Ok(selected)
    }

    /// "mu, tau, theta[1..8]": the quantities, arrays shortened to their first and last element.
    pub fn describe_variables(&self) -> String {
        let mut groups: Vec<(String, Vec<&str>)> = Vec::new();
        for index in self.quantity_columns() {
            let name = &self.columns[index];
            let base = base_name(name);
            match groups.last_mut() {
                Some((last, members)) if *last == base && base != *name => members.push(name),
                _ => groups.push((base.to_string(), vec![name])),
            }
        }
        if groups.is_empty() {
            return "no quantities in its draws".into();
        }
        let parts: Vec<String> = groups
            .iter()
            .map(|(base, members)| match members.as_slice() {
                [only] => (*only).to_string(),
                [first, .., last] => {
                    let index = |name: &str| {
                        name.get(base.len() + 1..name.len().saturating_sub(1))
                            .unwrap_or("")
                            .to_string()
                    };
                    format!("{base}[{}..{}]", index(first), index(last))
                }
                [] => base.clone(),
            })
            .collect();
        parts.join(", ")
    }

    /// Draws of one column, per chain.
    pub fn column(&self, index: usize) -> Vec<&[f64]> {
        self.chains
            .iter()
            .filter_map(|chain| chain.values.get(index).map(Vec::as_slice))
            .collect()
    }

    pub fn has_draws(&self) -> bool {
        self.chains
            .iter()
            .any(|c| c.values.first().is_some_and(|v| !v.is_empty()))
    }
}

/// `theta[1,2]` → `theta`; a scalar's name is its own base.
fn base_name(display: &str) -> &str {
    display.split('[').next().unwrap_or(display)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn output(columns: &[&str]) -> RunOutput {
        RunOutput {
            columns: columns.iter().map(|c| c.to_string()).collect(),
            ..RunOutput::default()
        }
    }

    #[test]
    fn names_select_elements_whole_arrays_and_sampler_columns() {
        let mut names: Vec<&str> = SAMPLER_COLUMNS.to_vec();
        names.extend(["mu", "tau", "theta[1]", "theta[2]", "theta[3]"]);
        let run = output(&names);
        let select =
            |wanted: &[&str]| run.select(&wanted.iter().map(|w| w.to_string()).collect::<Vec<_>>());
        assert_eq!(select(&["tau"]).unwrap(), vec![8]);
        assert_eq!(select(&["theta.2", "theta[ 3 ]"]).unwrap(), vec![10, 11]);
        assert_eq!(select(&["theta", "theta[1]"]).unwrap(), vec![9, 10, 11]);
        assert_eq!(select(&["lp__"]).unwrap(), vec![0]);
        let error = select(&["sigma"]).unwrap_err();
        assert_eq!(
            error.to_string(),
            "no variable `sigma` in the draws; the run has mu, tau, theta[1..3]"
        );
        assert_eq!(error.code(), "E0902");
    }
}
