//! A program that embeds ppl: a regression model given as text, data from arrays the program
//! already holds, the planner's choice and reasons, then posterior means and intervals read from
//! the fit. Run with `cargo run --release -p ppl-planner --example embed`.

use ppl_planner::{DataSource, FitOptions, Setting, Settings};

const MODEL: &str = "
observed x: real[N]
observed y: real[N]
latent alpha: real
latent beta: real
latent sigma: positive
alpha ~ Normal(0, 10)
beta ~ Normal(0, 10)
sigma ~ HalfNormal(5)
y ~ Normal(alpha + beta * x, sigma)
";

fn main() -> Result<(), Box<dyn std::error::Error>> {
    // Data the program computed itself: y = 1 + 2 x + noise.
    let x: Vec<f64> = (0..50).map(|i| f64::from(i) / 10.0).collect();
    let y: Vec<f64> = x
        .iter()
        .enumerate()
        .map(|(i, x)| 1.0 + 2.0 * x + 0.3 * ((i as f64) * 1.7).sin())
        .collect();
    let json = serde_json::json!({ "x": x, "y": y }).to_string();
    let data = ppl_data::DataSet::from_json_str(&json, "arrays.json".as_ref())?;

    let model = ppl_planner::parse_model(MODEL, "regression.model".as_ref(), "regression", &[])?;
    let bound = ppl_planner::bind(&model, DataSource::InMemory(data), &[])?;
    let mut settings = Settings::default();
    settings.set(Setting::Seed, 7.0)?;
    let plan = ppl_planner::plan(&model, &bound.bound, &settings)?;
    println!("method: {} — {}", plan.method, plan.reason);
    for verdict in &plan.verdicts {
        println!("  {}", verdict.describe());
    }
    let fitted = ppl_planner::fit(&model, &bound, plan, &settings, &FitOptions::default())?;
    for row in &fitted.report.summary {
        println!(
            "{:>6}: mean {:.3}, 90% interval [{:.3}, {:.3}], R-hat {:.3}",
            row.name, row.stats.mean, row.stats.q5, row.stats.q95, row.stats.rhat
        );
    }
    Ok(())
}
