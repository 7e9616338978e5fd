//! What every picture shares: the output format from the file's extension, rendering into memory
//! and writing the file atomically, the embedded font, the chain colours, tick labels, and the
//! panel-with-lines and legend pieces the per-kind modules are built from.

use std::path::Path;
use std::sync::OnceLock;

use plotters::coord::Shift;
use plotters::prelude::*;

use crate::error::{PlotError, drawing};

/// The family every text is drawn in; registered with the embedded DejaVu Sans so that PNGs need
/// no system font library.
pub const FONT: &str = "sans-serif";
pub const TITLE_SIZE: u32 = 22;
pub const CAPTION_SIZE: u32 = 17;
pub const DESCRIPTION_SIZE: u32 = 14;
pub const TICK_SIZE: u32 = 12;
pub const LEGEND_SIZE: u32 = 14;

/// Height of the band above the panels that holds the figure's title.
pub const TITLE_BAND: u32 = 44;
/// Width of the strip right of the panels that holds the legend.
pub const LEGEND_WIDTH: u32 = 140;
pub const PANEL_WIDTH: u32 = 520;
pub const PANEL_HEIGHT: u32 = 300;

/// Okabe and Ito's colour-blind-safe palette (2008), darkest first and yellow left out (it
/// vanishes on white): chains stay distinguishable to readers with any common colour vision.
const CHAIN_COLOURS: [RGBColor; 7] = [
    RGBColor(0, 114, 178),   // blue
    RGBColor(230, 159, 0),   // orange
    RGBColor(0, 158, 115),   // bluish green
    RGBColor(204, 121, 167), // reddish purple
    RGBColor(86, 180, 233),  // sky blue
    RGBColor(213, 94, 0),    // vermillion
    RGBColor(0, 0, 0),       // black
];

/// Divergent transitions: a red that stands out against every chain colour and grey.
pub const DIVERGENT: RGBColor = RGBColor(220, 0, 0);
pub const NEUTRAL: RGBColor = RGBColor(70, 70, 90);
/// Grid lines: the minor ones are left out (they crowd small panels), the major ones faint.
pub const LIGHT_GRID: RGBColor = RGBColor(255, 255, 255);
pub const BOLD_GRID: RGBColor = RGBColor(225, 225, 225);

pub fn chain_colour(index: usize) -> RGBColor {
    CHAIN_COLOURS[index % CHAIN_COLOURS.len()]
}

/// The picture formats, picked by the output file's extension.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Png,
    Svg,
}

impl Format {
    pub fn of(path: &Path) -> Result<Format, PlotError> {
        let extension = path
            .extension()
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase);
        match extension.as_deref() {
            Some("png") => Ok(Format::Png),
            Some("svg") => Ok(Format::Svg),
            _ => Err(PlotError::OutputFormat {
                path: path.to_path_buf(),
            }),
        }
    }
}

/// A picture that can be drawn on any plotters backend.
pub trait Figure {
    fn draw<DB: DrawingBackend>(&self, root: &DrawingArea<DB, Shift>) -> Result<(), PlotError>;
}

/// Pictures larger than this are refused rather than allocated (a PNG of 8000² is 192 MB raw).
const MAX_SIDE: u32 = 8000;
const MIN_SIDE: u32 = 200;

pub fn check_size(width: u32, height: u32) -> Result<(), PlotError> {
    let why = if width < MIN_SIDE || height < MIN_SIDE {
        "too small: each side must be at least 200 pixels"
    } else if width > MAX_SIDE || height > MAX_SIDE {
        "too large: each side must be at most 8000 pixels"
    } else {
        return Ok(());
    };
    Err(PlotError::BadSize { width, height, why })
}

/// Draws the figure in memory and writes it to `path` in one step, so a failure leaves no
/// half-written picture behind.
pub fn render(
    figure: &impl Figure,
    (width, height): (u32, u32),
    path: &Path,
) -> Result<(), PlotError> {
    check_size(width, height)?;
    register_font()?;
    let bytes = match Format::of(path)? {
        Format::Png => {
            let mut pixels = vec![255u8; width as usize * height as usize * 3];
            {
                let root =
                    BitMapBackend::with_buffer(&mut pixels, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(drawing)?;
                figure.draw(&root)?;
                root.present().map_err(drawing)?;
            }
            encode_png(&pixels, width, height)?
        }
        Format::Svg => {
            let mut text = String::new();
            {
                let root = SVGBackend::with_string(&mut text, (width, height)).into_drawing_area();
                root.fill(&WHITE).map_err(drawing)?;
                figure.draw(&root)?;
                root.present().map_err(drawing)?;
            }
            text.into_bytes()
        }
    };
    ppl_planner::report::write_atomically(path, &bytes).map_err(|e| PlotError::Unwritable {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })
}

pub(crate) fn encode_png(pixels: &[u8], width: u32, height: u32) -> Result<Vec<u8>, PlotError> {
    let mut bytes = Vec::new();
    let mut encoder = png::Encoder::new(&mut bytes, width, height);
    encoder.set_color(png::ColorType::Rgb);
    encoder.set_depth(png::BitDepth::Eight);
    let failed = |e: png::EncodingError| PlotError::Drawing(format!("PNG encoding: {e}"));
    let mut writer = encoder.write_header().map_err(failed)?;
    writer.write_image_data(pixels).map_err(failed)?;
    writer.finish().map_err(failed)?;
    Ok(bytes)
}

fn register_font() -> Result<(), PlotError> {
    static REGISTERED: OnceLock<bool> = OnceLock::new();
    let registered = *REGISTERED.get_or_init(|| {
        plotters::style::register_font(
            FONT,
            FontStyle::Normal,
            include_bytes!("../fonts/DejaVuSans.ttf"),
        )
        .is_ok()
    });
    if registered {
        Ok(())
    } else {
        Err(PlotError::Drawing(
            "the embedded font could not be loaded".into(),
        ))
    }
}

pub fn font(size: u32) -> TextStyle<'static> {
    TextStyle::from((FONT, size).into_font()).color(&BLACK)
}

/// A tick label: plain for moderate numbers, trailing zeros dropped, scientific for very large or
/// very small ones, so labels stay short enough for the label area.
pub fn tick(value: &f64) -> String {
    let value = *value;
    let magnitude = value.abs();
    if magnitude < 1e-12 {
        return "0".into();
    }
    if !(1e-3..1e5).contains(&magnitude) {
        return format!("{value:.1e}");
    }
    let text = format!("{value:.4}");
    let text = text.trim_end_matches('0').trim_end_matches('.');
    text.to_string()
}

/// A range around `low..high` with a margin, widened when the values are all equal and replaced by
/// 0..1 when they are not finite, so that a chart can always be built.
pub fn padded(low: f64, high: f64) -> std::ops::Range<f64> {
    if !low.is_finite() || !high.is_finite() || low > high {
        return 0.0..1.0;
    }
    if high - low <= f64::EPSILON * (low.abs() + high.abs()) {
        let half = 0.5 * (low.abs() + 1.0);
        return low - half..high + half;
    }
    let margin = 0.04 * (high - low);
    low - margin..high + margin
}

/// Smallest and largest finite value.
pub fn extent<'a>(values: impl IntoIterator<Item = &'a f64>) -> (f64, f64) {
    values
        .into_iter()
        .filter(|v| v.is_finite())
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(low, high), v| {
            (low.min(*v), high.max(*v))
        })
}

/// Rows and columns for `count` panels: one column up to three panels, then two, then three.
pub fn grid(count: usize) -> (usize, usize) {
    let columns = match count {
        0..=3 => 1,
        4..=12 => 2,
        _ => 3,
    };
    (count.div_ceil(columns).max(1), columns)
}

/// The default size of a figure of `count` panels with a legend strip.
pub fn panels_size(count: usize, legend: bool) -> (u32, u32) {
    let (rows, columns) = grid(count);
    let legend = if legend { LEGEND_WIDTH } else { 0 };
    (
        PANEL_WIDTH * columns as u32 + legend,
        PANEL_HEIGHT * rows as u32 + TITLE_BAND,
    )
}

/// The panel cells of a figure and its legend strip, if it has one.
pub type Layout<DB> = (Vec<DrawingArea<DB, Shift>>, Option<DrawingArea<DB, Shift>>);

/// Splits the root into the title band (drawn), the panel cells and the legend strip.
pub fn layout<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
    count: usize,
    legend: bool,
) -> Result<Layout<DB>, PlotError> {
    let body = root
        .titled(title, title_font(root, title))
        .map_err(drawing)?;
    let (width, _) = body.dim_in_pixel();
    let (panels, legend_area) = if legend {
        let (panels, legend_area) = body.split_horizontally(width.saturating_sub(LEGEND_WIDTH));
        (panels, Some(legend_area))
    } else {
        (body, None)
    };
    let (rows, columns) = grid(count);
    let mut cells = panels.split_evenly((rows, columns));
    cells.truncate(count);
    Ok((cells, legend_area))
}

/// The title's font: the largest size up to `TITLE_SIZE` at which the title fits the width, so a
/// long title on a narrow picture shrinks rather than being cut off at both ends.
fn title_font<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    title: &str,
) -> TextStyle<'static> {
    let (width, _) = root.dim_in_pixel();
    let room = width.saturating_sub(16);
    let mut size = TITLE_SIZE;
    while size > 10 {
        match root.estimate_text_size(title, &font(size)) {
            Ok((text_width, _)) if text_width <= room => break,
            Ok(_) => size -= 1,
            Err(_) => break,
        }
    }
    font(size)
}

/// How a legend entry is marked.
#[derive(Clone, Copy, Debug)]
pub enum Mark {
    Line,
    Dot,
    Bar,
}

/// A legend in its own strip, so it never covers data: one row per entry.
pub fn legend<DB: DrawingBackend>(
    area: &DrawingArea<DB, Shift>,
    entries: &[(String, RGBColor, Mark)],
) -> Result<(), PlotError> {
    for (row, (label, colour, mark)) in entries.iter().enumerate() {
        let y = 24 + 26 * row as i32;
        match mark {
            Mark::Line => area
                .draw(&PathElement::new(
                    vec![(10, y), (38, y)],
                    colour.stroke_width(3),
                ))
                .map_err(drawing)?,
            Mark::Dot => area
                .draw(&Circle::new((24, y), 5, colour.filled()))
                .map_err(drawing)?,
            Mark::Bar => area
                .draw(&Rectangle::new([(12, y - 7), (36, y + 7)], colour.filled()))
                .map_err(drawing)?,
        }
        area.draw(&Text::new(
            label.clone(),
            (46, y - LEGEND_SIZE as i32 / 2),
            font(LEGEND_SIZE),
        ))
        .map_err(drawing)?;
    }
    Ok(())
}

/// Legend entries for the chains of a run, in the run's chain order and colours.
pub fn chain_entries(
    run: &crate::run_output::RunOutput,
    mark: Mark,
) -> Vec<(String, RGBColor, Mark)> {
    run.chains
        .iter()
        .enumerate()
        .map(|(i, chain)| (chain.label.clone(), chain_colour(i), mark))
        .collect()
}

/// One panel of lines, one per series: the trace, density and autocorrelation plots.
pub struct LinesPanel {
    pub caption: String,
    pub x_description: String,
    pub y_description: String,
    pub x_range: std::ops::Range<f64>,
    pub y_range: std::ops::Range<f64>,
    /// (colour, points) per series, drawn in order.
    pub series: Vec<(RGBColor, Vec<(f64, f64)>)>,
    /// A horizontal reference line (zero autocorrelation).
    pub reference: Option<f64>,
    pub stroke: u32,
    pub opacity: f64,
    /// A dot on every point (short series, such as an objective trace of a few dozen iterations).
    pub dots: bool,
}

impl LinesPanel {
    pub fn draw<DB: DrawingBackend>(&self, area: &DrawingArea<DB, Shift>) -> Result<(), PlotError> {
        let mut chart = ChartBuilder::on(area)
            .caption(&self.caption, font(CAPTION_SIZE))
            .margin(8)
            .margin_right(18)
            .x_label_area_size(44)
            .y_label_area_size(72)
            .build_cartesian_2d(self.x_range.clone(), self.y_range.clone())
            .map_err(drawing)?;
        chart
            .configure_mesh()
            .x_desc(&self.x_description)
            .y_desc(&self.y_description)
            .x_label_formatter(&tick)
            .y_label_formatter(&tick)
            .x_labels(6)
            .y_labels(6)
            .label_style(font(TICK_SIZE))
            .axis_desc_style(font(DESCRIPTION_SIZE))
            .light_line_style(LIGHT_GRID)
            .bold_line_style(BOLD_GRID)
            .draw()
            .map_err(drawing)?;
        if let Some(level) = self.reference {
            chart
                .draw_series(LineSeries::new(
                    [(self.x_range.start, level), (self.x_range.end, level)],
                    BLACK.stroke_width(1),
                ))
                .map_err(drawing)?;
        }
        for (colour, points) in &self.series {
            chart
                .draw_series(LineSeries::new(
                    points
                        .iter()
                        .copied()
                        .filter(|(x, y)| x.is_finite() && y.is_finite()),
                    colour.mix(self.opacity).stroke_width(self.stroke),
                ))
                .map_err(drawing)?;
            if self.dots {
                chart
                    .draw_series(
                        points
                            .iter()
                            .filter(|(x, y)| x.is_finite() && y.is_finite())
                            .map(|&p| Circle::new(p, 3, colour.filled())),
                    )
                    .map_err(drawing)?;
            }
        }
        Ok(())
    }
}

/// A figure of one panel per column of a run, each drawn by `panel` from the column's display
/// name and its draws per chain, with the chains' legend beside them: the trace, density and
/// autocorrelation plots differ only in what a panel shows.
pub fn chain_panels<DB: DrawingBackend>(
    root: &DrawingArea<DB, Shift>,
    run: &crate::run_output::RunOutput,
    title: &str,
    columns: &[usize],
    panel: impl Fn(&str, &[&[f64]]) -> LinesPanel,
) -> Result<(), PlotError> {
    let (cells, legend_area) = layout(root, title, columns.len(), true)?;
    for (cell, &column) in cells.iter().zip(columns) {
        panel(&run.columns[column], &run.column(column)).draw(cell)?;
    }
    if let Some(area) = legend_area {
        legend(&area, &chain_entries(run, Mark::Line))?;
    }
    Ok(())
}

/// Renders a figure of `count` chain panels at the request's size (or one fitted to the panels)
/// and says the size drawn.
pub fn render_panels(
    figure: &impl Figure,
    count: usize,
    request: &crate::PlotRequest,
) -> Result<(u32, u32), PlotError> {
    let size = request.size.unwrap_or_else(|| panels_size(count, true));
    render(figure, size, &request.out)?;
    Ok(size)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ticks_are_short() {
        assert_eq!(tick(&2.5), "2.5");
        assert_eq!(tick(&1000.0), "1000");
        assert_eq!(tick(&-0.125), "-0.125");
        assert_eq!(tick(&1e-17), "0");
        assert_eq!(tick(&-1507.28), "-1507.28");
        assert_eq!(tick(&250000.0), "2.5e5");
        assert_eq!(tick(&0.0001), "1.0e-4");
    }

    #[test]
    fn ranges_are_always_drawable() {
        assert_eq!(padded(f64::NAN, 1.0), 0.0..1.0);
        let flat = padded(3.0, 3.0);
        assert!(flat.start < 3.0 && flat.end > 3.0);
        assert_eq!(grid(10), (5, 2));
        assert_eq!(grid(1), (1, 1));
    }

    #[test]
    fn the_extension_picks_the_format() {
        assert_eq!(Format::of(Path::new("a/b.PNG")).unwrap(), Format::Png);
        assert_eq!(Format::of(Path::new("b.svg")).unwrap(), Format::Svg);
        assert_eq!(Format::of(Path::new("b.pdf")).unwrap_err().code(), "E0905");
    }
}
