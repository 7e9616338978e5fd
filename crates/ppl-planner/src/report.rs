//! The result of a fit as one value, `RunReport`: the method, why, the plan per unknown, the
//! summary or estimates, the objective trace and the diagnostics. The JSON object of LANGUAGE.md
//! §8 (`--format json`, `summary.json`) is built here; the CLI renders the same value as a table,
//! so the two cannot disagree.

use std::path::Path;

use serde_json::{Map, Value, json};

/// One row of the posterior summary table: a quantity's name and its statistics.
#[derive(Clone, Debug, PartialEq)]
pub struct SummaryRow {
    pub name: String,
    pub stats: ppl_infer::diagnostics::Summary,
}

/// Everything a run reports.
#[derive(Clone, Debug, Default)]
pub struct RunReport {
    pub method: String,
    pub reason: String,
    /// How each unknown is handled (`z` → "EM responsibilities"), in declaration order.
    pub plan: Vec<(String, String)>,
    pub seconds: f64,
    pub total_seconds: f64,
    pub summary: Vec<SummaryRow>,
    pub estimates: Vec<(String, f64)>,
    /// Standard errors of the estimates, where known (MAP); empty when none are reported.
    pub estimate_errors: Vec<Option<f64>>,
    pub objective: Vec<f64>,
    /// What the objective is, for the table ("log-likelihood").
    pub objective_name: String,
    pub diagnostics: Map<String, Value>,
    /// Plain-language lines for the table (convergence, warnings).
    pub notes: Vec<String>,
    pub warnings: Vec<String>,
    /// `--quantiles`: the chosen quantiles of every summary row (the table shows them instead of
    /// 5%, 50%, 95%; the JSON adds them beside `q5`, `q50`, `q95`).
    pub quantiles: Option<QuantileTable>,
}

/// Chosen quantiles of the summary rows.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct QuantileTable {
    /// Probabilities in (0, 1), in the order asked for.
    pub probabilities: Vec<f64>,
    /// By summary row (same order as `RunReport::summary`), one value per probability.
    pub values: Vec<Vec<f64>>,
}

impl QuantileTable {
    /// The JSON key of a probability: `q5` for 0.05, `q2.5` for 0.025.
    pub fn key(probability: f64) -> String {
        format!("q{}", Self::percent(probability))
    }

    /// The percentage as the table heads it: `5` for 0.05, `2.5` for 0.025.
    pub fn percent(probability: f64) -> String {
        // Rounded so that 0.1 * 100 prints as 10, not 10.000000000000002.
        format!("{}", (probability * 100.0 * 1e9).round() / 1e9)
    }
}

/// JSON numbers, with non-finite values as `null` (LANGUAGE.md §8).
pub fn number(value: f64) -> Value {
    if value.is_finite() {
        json!(value)
    } else {
        Value::Null
    }
}

impl RunReport {
    pub fn to_json(&self) -> Value {
        let mut summary = Map::new();
        for (index, row) in self.summary.iter().enumerate() {
            let stats = &row.stats;
            let mut entry = json!({
                "mean": number(stats.mean), "sd": number(stats.sd), "q5": number(stats.q5),
                "q50": number(stats.q50), "q95": number(stats.q95), "mcse_mean": number(stats.mcse_mean),
                "ess_bulk": number(stats.ess_bulk), "ess_tail": number(stats.ess_tail), "rhat": number(stats.rhat),
            });
            if let (Some(table), Some(object)) = (&self.quantiles, entry.as_object_mut())
                && let Some(values) = table.values.get(index)
            {
                for (probability, value) in table.probabilities.iter().zip(values) {
                    object.insert(QuantileTable::key(*probability), number(*value));
                }
            }
            summary.insert(row.name.clone(), entry);
        }
        let mut estimates = Map::new();
        for (name, value) in &self.estimates {
            estimates.insert(name.clone(), number(*value));
        }
        let mut plan = Map::new();
        for (name, how) in &self.plan {
            plan.insert(name.clone(), json!(how));
        }
        let mut diagnostics = self.diagnostics.clone();
        if !self.warnings.is_empty() {
            diagnostics.insert("warnings".into(), json!(self.warnings));
        }
        json!({
            "method": self.method,
            "reason": self.reason,
            "seconds": number(self.seconds),
            "total_seconds": number(self.total_seconds),
            "summary": summary,
            "estimates": estimates,
            "objective": self.objective.iter().map(|v| number(*v)).collect::<Vec<_>>(),
            "diagnostics": diagnostics,
            "plan": plan,
        })
    }

    /// Writes `summary.json` (the JSON object) into `dir`, atomically.
    pub fn write_summary(&self, dir: &Path) -> std::io::Result<()> {
        write_atomically(
            &dir.join("summary.json"),
            serde_json::to_string_pretty(&self.to_json())?.as_bytes(),
        )
    }
}

/// Writes a whole file so that a crash leaves either the old file or the complete new one.
pub fn write_atomically(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::io::Write;
    let mut file = ppl_data::atomic_file::AtomicFile::create(path)?;
    file.write_all(bytes)?;
    file.commit()
}

/// Four significant decimals for moderate numbers, scientific for very large or small ones.
pub fn format_number(value: f64) -> String {
    if !value.is_finite() {
        return format!("{value}");
    }
    let magnitude = value.abs();
    if magnitude != 0.0 && !(1e-3..1e6).contains(&magnitude) {
        format!("{value:.3e}")
    } else if magnitude >= 1000.0 {
        format!("{value:.2}")
    } else {
        format!("{value:.4}")
    }
}
