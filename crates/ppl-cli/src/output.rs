//! The result of `ppl run` in its two forms: the table a statistician reads and the one JSON object
//! of LANGUAGE.md §8 (`--format json`), both built from one `RunReport` so they cannot disagree.

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
        for row in &self.summary {
            let stats = &row.stats;
            summary.insert(
                row.name.clone(),
                json!({
                    "mean": number(stats.mean), "sd": number(stats.sd), "q5": number(stats.q5),
                    "q50": number(stats.q50), "q95": number(stats.q95), "mcse_mean": number(stats.mcse_mean),
                    "ess_bulk": number(stats.ess_bulk), "ess_tail": number(stats.ess_tail), "rhat": number(stats.rhat),
                }),
            );
        }
        let mut estimates = Map::new();
        for (name, value) in &self.estimates {
            estimates.insert(name.clone(), number(*value));
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
        })
    }

    pub fn to_table(&self) -> String {
        let mut out = String::new();
        out.push_str(&format!("method: {}\n", self.method));
        out.push_str(&format!("why:    {}\n", self.reason));
        for note in &self.notes {
            out.push_str(&format!("        {note}\n"));
        }
        if !self.estimates.is_empty() {
            let width = self
                .estimates
                .iter()
                .map(|(n, _)| n.len())
                .max()
                .unwrap_or(8)
                .max(8);
            if self.estimate_errors.is_empty() {
                out.push_str(&format!("\n{:<width$}  {:>12}\n", "estimate", "value"));
                for (name, value) in &self.estimates {
                    out.push_str(&format!("{name:<width$}  {:>12}\n", format_number(*value)));
                }
            } else {
                out.push_str(&format!(
                    "\n{:<width$}  {:>12}  {:>12}\n",
                    "estimate", "value", "std. error"
                ));
                for ((name, value), error) in self.estimates.iter().zip(&self.estimate_errors) {
                    let error = error.map(format_number).unwrap_or_else(|| "-".into());
                    out.push_str(&format!(
                        "{name:<width$}  {:>12}  {error:>12}\n",
                        format_number(*value)
                    ));
                }
            }
        }
        if !self.summary.is_empty() {
            let width = self
                .summary
                .iter()
                .map(|r| r.name.len())
                .max()
                .unwrap_or(8)
                .max(8);
            out.push_str(&format!(
                "\n{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8} {:>8} {:>6}\n",
                "", "mean", "sd", "5%", "50%", "95%", "mcse", "ess_bulk", "ess_tail", "rhat"
            ));
            // A long table hides the warnings below it: show the first rows, the rest are in the
            // JSON and the draws files.
            const SHOWN: usize = 40;
            for row in self.summary.iter().take(SHOWN) {
                let r = &row.stats;
                out.push_str(&format!(
                    "{:<width$} {:>9} {:>9} {:>9} {:>9} {:>9} {:>8} {:>8.0} {:>8.0} {:>6.3}\n",
                    row.name,
                    format_number(r.mean),
                    format_number(r.sd),
                    format_number(r.q5),
                    format_number(r.q50),
                    format_number(r.q95),
                    format_number(r.mcse_mean),
                    r.ess_bulk,
                    r.ess_tail,
                    r.rhat
                ));
            }
            if self.summary.len() > SHOWN {
                out.push_str(&format!(
                    "... {} more rows (all of them in `--format json` and the draws files)\n",
                    self.summary.len() - SHOWN
                ));
            }
        }
        if !self.objective.is_empty() {
            let last = self.objective.last().copied().unwrap_or(f64::NAN);
            out.push_str(&format!(
                "\n{}: {}\n",
                self.objective_name,
                format_number(last)
            ));
            let shown: Vec<String> = if self.objective.len() <= 8 {
                self.objective.iter().map(|v| format_number(*v)).collect()
            } else {
                let head = self.objective[..4].iter().map(|v| format_number(*v));
                let tail = self.objective[self.objective.len() - 3..]
                    .iter()
                    .map(|v| format_number(*v));
                head.chain(std::iter::once("...".to_string()))
                    .chain(tail)
                    .collect()
            };
            out.push_str(&format!(
                "trace ({} values): {}\n",
                self.objective.len(),
                shown.join(", ")
            ));
        }
        for warning in &self.warnings {
            out.push_str(&format!("\nwarning: {warning}\n"));
        }
        out.push_str(&format!(
            "\ntime: {:.3} s inference, {:.3} s in all\n",
            self.seconds, self.total_seconds
        ));
        out
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
