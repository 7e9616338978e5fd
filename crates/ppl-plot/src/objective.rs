//! The objective trace of an optimising engine, read from `summary.json`: EM's log-likelihood per
//! iteration (of the best restart), ADVI's ELBO, a VAE's ELBO per data point, an RBM's mean
//! pseudo-log-likelihood, a GAN's generator loss (LANGUAGE.md §8). A curve that is still climbing
//! at the end asks for more iterations.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::PlotError;
use crate::figure::{self, Figure, LinesPanel};
use crate::{Picture, PlotRequest, RunOutput};

pub const DEFAULT_SIZE: (u32, u32) = (900, 560);
/// Up to this many iterations each gets a dot; beyond, the dots would merge into the line.
const DOTS_UP_TO: usize = 150;

/// What a method's objective is and what it is counted in (LANGUAGE.md §8).
pub fn describe(method: Option<&str>) -> (&'static str, &'static str) {
    match method {
        Some("em") => ("log-likelihood", "EM iteration"),
        Some("advi" | "vi") => ("ELBO", "iteration"),
        Some("vae") => ("ELBO per data point", "epoch"),
        Some("rbm") => ("mean pseudo-log-likelihood", "epoch"),
        Some("gan") => ("generator loss", "epoch"),
        _ => ("objective", "iteration"),
    }
}

pub struct ObjectivePlot<'a> {
    pub method: Option<&'a str>,
    pub values: &'a [f64],
}

impl Figure for ObjectivePlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let (name, step) = describe(self.method);
        let method = self.method.unwrap_or("the run").to_uppercase();
        let last = self.values.iter().rev().find(|v| v.is_finite());
        let title = match last {
            Some(last) => format!(
                "Objective trace of {method}: {name}, final {}",
                figure::tick(last)
            ),
            None => format!("Objective trace of {method}: {name}"),
        };
        let (cells, _) = figure::layout(root, &title, 1, false)?;
        let points: Vec<(f64, f64)> = self
            .values
            .iter()
            .enumerate()
            .map(|(i, v)| ((i + 1) as f64, *v))
            .filter(|(_, v)| v.is_finite())
            .collect();
        let (low, high) = figure::extent(points.iter().map(|(_, v)| v));
        let Some(cell) = cells.first() else {
            return Ok(());
        };
        LinesPanel {
            caption: format!("{name} by {step}"),
            x_description: step.to_string(),
            y_description: name.to_string(),
            x_range: 0.0..self.values.len().max(2) as f64 + 1.0,
            y_range: figure::padded(low, high),
            dots: points.len() <= DOTS_UP_TO,
            series: vec![(figure::chain_colour(0), points)],
            reference: None,
            stroke: 2,
            opacity: 1.0,
        }
        .draw(cell)?;
        Ok(())
    }
}

pub fn plot(run: &RunOutput, request: &PlotRequest) -> Result<Picture, PlotError> {
    if !run.objective.iter().any(|v| v.is_finite()) {
        let method = run.method.as_deref().unwrap_or("unknown");
        return Err(PlotError::InputMissing {
            message: format!(
                "`{}` has no objective trace (its method is {method}): EM, MAP, Laplace, ADVI, VAE, RBM and GAN runs record one in summary.json",
                run.path.display()
            ),
        });
    }
    let size = request.size.unwrap_or(DEFAULT_SIZE);
    let figure = ObjectivePlot {
        method: run.method.as_deref(),
        values: &run.objective,
    };
    figure::render(&figure, size, &request.out)?;
    Ok(Picture {
        path: request.out.clone(),
        width: size.0,
        height: size.1,
        variables: vec![describe(run.method.as_deref()).0.to_string()],
        left_out: 0,
    })
}

#[cfg(test)]
mod tests {
    use crate::testing::check_png;
    use crate::{PlotKind, PlotRequest, RunOutput};

    #[test]
    fn an_objective_trace_of_an_em_run() {
        let run = RunOutput {
            method: Some("em".into()),
            objective: (1..=40).map(|i| -1500.0 - 20.0 / f64::from(i)).collect(),
            ..RunOutput::default()
        };
        let dir = crate::testing::scratch("objective");
        let picture = crate::plot(
            &run,
            &PlotRequest::new(PlotKind::Objective, dir.join("o.png")),
        )
        .unwrap();
        assert_eq!(picture.variables, ["log-likelihood"]);
        check_png(&picture.path, 900, 560);
    }

    #[test]
    fn a_run_without_an_objective_says_so() {
        let run = RunOutput {
            method: Some("nuts".into()),
            ..RunOutput::default()
        };
        let error = crate::plot(&run, &PlotRequest::new(PlotKind::Objective, "o.png")).unwrap_err();
        assert_eq!(error.code(), "E0904");
        assert!(error.to_string().contains("its method is nuts"), "{error}");
    }
}
