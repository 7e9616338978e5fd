//! Autocorrelation per chain: ρ̂ₖ against the lag k, one line per chain; slow decay means few
//! effective draws.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::PlotError;
use crate::figure::{self, Figure, LinesPanel};
use crate::stats;
use crate::{PlotRequest, RunOutput};

/// Lags drawn: enough to see a sampler's usual decorrelation time, fewer than a short chain has.
pub const MAX_LAG: usize = 100;

pub struct AutocorrelationPlot<'a> {
    pub run: &'a RunOutput,
    pub columns: &'a [usize],
}

impl Figure for AutocorrelationPlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let title = format!(
            "Autocorrelation per chain: {}",
            crate::chains_phrase(self.run)
        );
        figure::chain_panels(root, self.run, &title, self.columns, |name, chains| {
            // A constant chain has no autocorrelation; it is left out of the panel.
            let series: Vec<(RGBColor, Vec<(f64, f64)>)> = chains
                .iter()
                .enumerate()
                .filter_map(|(index, draws)| {
                    let acf = stats::autocorrelation(draws, MAX_LAG)?;
                    let points = acf
                        .into_iter()
                        .enumerate()
                        .map(|(k, r)| (k as f64, r))
                        .collect();
                    Some((figure::chain_colour(index), points))
                })
                .collect();
            let longest = series.iter().map(|(_, p)| p.len()).max().unwrap_or(2);
            let (low, _) =
                figure::extent(series.iter().flat_map(|(_, p)| p.iter().map(|(_, r)| r)));
            LinesPanel {
                caption: format!("autocorrelation of {name}"),
                x_description: "lag".into(),
                y_description: "autocorrelation".into(),
                x_range: 0.0..(longest.max(2) - 1) as f64,
                y_range: low.clamp(-1.0, -0.2) - 0.05..1.05,
                series,
                reference: Some(0.0),
                stroke: 2,
                opacity: 0.85,
                dots: false,
            }
        })
    }
}

pub fn plot(
    run: &RunOutput,
    columns: &[usize],
    request: &PlotRequest,
) -> Result<(u32, u32), PlotError> {
    figure::render_panels(
        &AutocorrelationPlot { run, columns },
        columns.len(),
        request,
    )
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_png, synthetic_run};
    use crate::{PlotKind, PlotRequest};

    #[test]
    fn an_autocorrelation_plot_of_synthetic_chains() {
        let run = synthetic_run();
        let dir = crate::testing::scratch("autocorr");
        let mut request = PlotRequest::new(PlotKind::Autocorr, dir.join("a.png"));
        request.variables = vec!["mu".into(), "theta".into()];
        let picture = crate::plot(&run, &request).unwrap();
        assert_eq!(picture.variables, ["mu", "theta[1]", "theta[2]"]);
        check_png(&picture.path, picture.width, picture.height);
    }
}
