//! Trace plots: each quantity's draws against the iteration, one line per chain in its own
//! colour, so a chain stuck apart from the others or drifting is seen at once.

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::PlotError;
use crate::figure::{self, Figure, LinesPanel};
use crate::{PlotRequest, RunOutput};

/// A trace plot of some columns of a run.
pub struct TracePlot<'a> {
    pub run: &'a RunOutput,
    pub columns: &'a [usize],
}

impl Figure for TracePlot<'_> {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let title = format!("Trace plots: {}", crate::chains_phrase(self.run));
        figure::chain_panels(root, self.run, &title, self.columns, |name, chains| {
            let length = chains.iter().map(|c| c.len()).max().unwrap_or(0);
            let (low, high) = figure::extent(chains.iter().flat_map(|c| c.iter()));
            // Many chains of many draws overlap: thin, slightly transparent lines keep each visible.
            let series = chains
                .iter()
                .enumerate()
                .map(|(index, draws)| {
                    let points = draws
                        .iter()
                        .enumerate()
                        .map(|(i, v)| ((i + 1) as f64, *v))
                        .collect();
                    (figure::chain_colour(index), points)
                })
                .collect();
            LinesPanel {
                caption: format!("trace of {name}"),
                x_description: "iteration (after warmup)".into(),
                y_description: name.into(),
                x_range: 0.0..length.max(1) as f64 + 1.0,
                y_range: figure::padded(low, high),
                series,
                reference: None,
                stroke: 1,
                opacity: 0.75,
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
    figure::render_panels(&TracePlot { run, columns }, columns.len(), request)
}

#[cfg(test)]
mod tests {
    use crate::testing::{check_png, check_svg, synthetic_run};
    use crate::{PlotKind, PlotRequest};

    #[test]
    fn a_trace_plot_of_synthetic_chains() {
        let run = synthetic_run();
        let dir = crate::testing::scratch("trace");
        let request = PlotRequest::new(PlotKind::Trace, dir.join("trace.png"));
        let picture = crate::plot(&run, &request).unwrap();
        assert_eq!(picture.variables, ["mu", "tau", "theta[1]", "theta[2]"]);
        check_png(&picture.path, picture.width, picture.height);
        let mut request = PlotRequest::new(PlotKind::Trace, dir.join("trace.svg"));
        request.variables = vec!["tau".into()];
        request.size = Some((640, 360));
        let picture = crate::plot(&run, &request).unwrap();
        check_svg(&picture.path, 640, 360, &["trace of tau", "chain 4"]);
    }
}
