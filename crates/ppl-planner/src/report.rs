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
        let mut object = json!({
            "method": self.method,
            "reason": self.reason,
            "seconds": number(self.seconds),
            "total_seconds": number(self.total_seconds),
            "summary": summary,
            "estimates": estimates,
            "objective": self.objective.iter().map(|v| number(*v)).collect::<Vec<_>>(),
            "diagnostics": diagnostics,
            "plan": plan,
        });
        // Only an interrupted run carries the mark, so complete runs read as they always did.
        if self.is_partial()
            && let Some(fields) = object.as_object_mut()
        {
            fields.insert("partial".into(), json!(true));
        }
        object
    }

    /// Reads back what [`RunReport::to_json`] wrote (`summary.json`), for `ppl summary` on the
    /// output directory of a method that writes no draws (EM, MAP, ADVI). Numbers written as
    /// `null` come back as NaN; `None` if `value` is not such an object.
    pub fn from_json(value: &Value) -> Option<RunReport> {
        let object = value.as_object()?;
        let text = |key: &str| object.get(key).and_then(Value::as_str).map(str::to_string);
        let float = |value: Option<&Value>| value.and_then(Value::as_f64).unwrap_or(f64::NAN);
        let mut report = RunReport {
            method: text("method")?,
            reason: text("reason").unwrap_or_default(),
            seconds: float(object.get("seconds")),
            objective_name: "objective".into(),
            total_seconds: float(object.get("total_seconds")),
            ..RunReport::default()
        };
        if let Some(summary) = object.get("summary").and_then(Value::as_object) {
            for (name, stats) in summary {
                let field = |key: &str| float(stats.get(key));
                report.summary.push(SummaryRow {
                    name: name.clone(),
                    stats: ppl_infer::diagnostics::Summary {
                        mean: field("mean"),
                        sd: field("sd"),
                        q5: field("q5"),
                        q50: field("q50"),
                        q95: field("q95"),
                        mcse_mean: field("mcse_mean"),
                        ess_bulk: field("ess_bulk"),
                        ess_tail: field("ess_tail"),
                        rhat: field("rhat"),
                    },
                });
            }
        }
        if let Some(estimates) = object.get("estimates").and_then(Value::as_object) {
            for (name, value) in estimates {
                report.estimates.push((name.clone(), float(Some(value))));
            }
        }
        if let Some(objective) = object.get("objective").and_then(Value::as_array) {
            report.objective = objective.iter().map(|v| float(Some(v))).collect();
        }
        if let Some(plan) = object.get("plan").and_then(Value::as_object) {
            for (name, how) in plan {
                report
                    .plan
                    .push((name.clone(), how.as_str().unwrap_or_default().to_string()));
            }
        }
        if let Some(diagnostics) = object.get("diagnostics").and_then(Value::as_object) {
            let mut diagnostics = diagnostics.clone();
            if let Some(Value::Array(warnings)) = diagnostics.remove("warnings") {
                report.warnings = warnings
                    .iter()
                    .filter_map(|w| w.as_str().map(str::to_string))
                    .collect();
            }
            report.diagnostics = diagnostics;
        }
        if object.get("partial") == Some(&Value::Bool(true)) {
            report
                .diagnostics
                .insert("interrupted".into(), Value::Bool(true));
        }
        if report.is_partial() {
            report
                .notes
                .push("INTERRUPTED: this summary covers the run up to the stop request".into());
        }
        Some(report)
    }

    /// Whether a stop request (Ctrl-C, SIGTERM) ended the run early: its summary covers only
    /// what was drawn or fitted before it.
    pub fn is_partial(&self) -> bool {
        self.diagnostics.get("interrupted") == Some(&Value::Bool(true))
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
