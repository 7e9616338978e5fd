//! The run report as the table a statistician reads. The JSON form is built by
//! `ppl_planner::RunReport::to_json` from the same value, so the two cannot disagree.

use ppl_planner::RunReport;
pub use ppl_planner::report::{format_number, write_atomically};

/// `ppl run`'s table: method, why, the plan, estimates or the posterior summary, the objective
/// trace, warnings and timings.
pub fn table(report: &RunReport) -> String {
    let mut out = String::new();
    out.push_str(&format!("method: {}\n", report.method));
    out.push_str(&format!("why:    {}\n", report.reason));
    if !report.plan.is_empty() {
        out.push_str(&format!("plan:   {}\n", plan_line(&report.plan)));
    }
    for note in &report.notes {
        out.push_str(&format!("        {note}\n"));
    }
    if !report.estimates.is_empty() {
        let width = report
            .estimates
            .iter()
            .map(|(n, _)| n.len())
            .max()
            .unwrap_or(8)
            .max(8);
        if report.estimate_errors.is_empty() {
            out.push_str(&format!("\n{:<width$}  {:>12}\n", "estimate", "value"));
            for (name, value) in &report.estimates {
                out.push_str(&format!("{name:<width$}  {:>12}\n", format_number(*value)));
            }
        } else {
            out.push_str(&format!(
                "\n{:<width$}  {:>12}  {:>12}\n",
                "estimate", "value", "std. error"
            ));
            for ((name, value), error) in report.estimates.iter().zip(&report.estimate_errors) {
                let error = error.map(format_number).unwrap_or_else(|| "-".into());
                out.push_str(&format!(
                    "{name:<width$}  {:>12}  {error:>12}\n",
                    format_number(*value)
                ));
            }
        }
    }
    if !report.summary.is_empty() {
        let width = report
            .summary
            .iter()
            .map(|r| r.name.len())
            .max()
            .unwrap_or(8)
            .max(8);
        // `--quantiles` replaces the 5%, 50%, 95% columns by the chosen ones.
        let heads: Vec<String> = match &report.quantiles {
            Some(chosen) => chosen
                .probabilities
                .iter()
                .map(|p| format!("{}%", ppl_planner::report::QuantileTable::percent(*p)))
                .collect(),
            None => vec!["5%".into(), "50%".into(), "95%".into()],
        };
        let quantile_heads: String = heads.iter().map(|h| format!(" {h:>9}")).collect();
        out.push_str(&format!(
            "\n{:<width$} {:>9} {:>9}{quantile_heads} {:>8} {:>8} {:>8} {:>6}\n",
            "", "mean", "sd", "mcse", "ess_bulk", "ess_tail", "rhat"
        ));
        // A long table hides the warnings below it: show the first rows, the rest are in the
        // JSON and the draws files.
        const SHOWN: usize = 40;
        for (index, row) in report.summary.iter().enumerate().take(SHOWN) {
            let r = &row.stats;
            let quantiles: Vec<f64> = match &report.quantiles {
                Some(chosen) => chosen.values.get(index).cloned().unwrap_or_default(),
                None => vec![r.q5, r.q50, r.q95],
            };
            let quantile_cells: String = quantiles
                .iter()
                .map(|q| format!(" {:>9}", format_number(*q)))
                .collect();
            out.push_str(&format!(
                "{:<width$} {:>9} {:>9}{quantile_cells} {:>8} {:>8.0} {:>8.0} {:>6.3}\n",
                row.name,
                format_number(r.mean),
                format_number(r.sd),
                format_number(r.mcse_mean),
                r.ess_bulk,
                r.ess_tail,
                r.rhat
            ));
        }
        if report.summary.len() > SHOWN {
            out.push_str(&format!(
                "... {} more rows (all of them in `--format json` and the draws files)\n",
                report.summary.len() - SHOWN
            ));
        }
    }
    if !report.objective.is_empty() {
        let last = report.objective.last().copied().unwrap_or(f64::NAN);
        out.push_str(&format!(
            "\n{}: {}\n",
            report.objective_name,
            format_number(last)
        ));
        let shown: Vec<String> = if report.objective.len() <= 8 {
            report.objective.iter().map(|v| format_number(*v)).collect()
        } else {
            let head = report.objective[..4].iter().map(|v| format_number(*v));
            let tail = report.objective[report.objective.len() - 3..]
                .iter()
                .map(|v| format_number(*v));
            head.chain(std::iter::once("...".to_string()))
                .chain(tail)
                .collect()
        };
        out.push_str(&format!(
            "trace ({} values): {}\n",
            report.objective.len(),
            shown.join(", ")
        ));
    }
    for warning in &report.warnings {
        out.push_str(&format!("\nwarning: {warning}\n"));
    }
    // `ppl summary` of draws files ran nothing: it has no time to show.
    if report.seconds > 0.0 || report.total_seconds > 0.0 {
        out.push_str(&format!(
            "\ntime: {:.3} s inference, {:.3} s in all\n",
            report.seconds, report.total_seconds
        ));
    }
    out
}

/// `z: EM responsibilities · w, mu: closed-form M-step`: unknowns handled alike are grouped.
fn plan_line(plan: &[(String, String)]) -> String {
    let mut groups: Vec<(Vec<&str>, &str)> = Vec::new();
    for (name, how) in plan {
        match groups.iter_mut().find(|(_, h)| *h == how.as_str()) {
            Some((names, _)) => names.push(name),
            None => groups.push((vec![name], how)),
        }
    }
    groups
        .iter()
        .map(|(names, how)| format!("{}: {how}", names.join(", ")))
        .collect::<Vec<_>>()
        .join(" · ")
}
