//! Every plot kind drawn from real runs of the examples: the centred eight schools sampled by NUTS
//! (draws with divergent transitions) and the Gaussian mixture fitted by EM (an objective trace),
//! each run through `ppl_planner` into an output directory that is then read back as `ppl plot`
//! reads it. The files must be real pictures of the asked size.

use std::path::{Path, PathBuf};

use ppl_plot::{PlotKind, PlotRequest, RunOutput};

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples")
}

fn scratch(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ppl-plot-examples-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Fits a model with a fixed seed, writing its outputs into `out`.
fn fit(model: &str, out: &Path) {
    let loaded = ppl_planner::load_model(&examples().join(model), &[]).unwrap();
    let mut settings = ppl_planner::Settings::default();
    settings.set(ppl_planner::Setting::Seed, 1.0).unwrap();
    // Stan's windowed diagonal metric (`--metric stan`, position 4 of the choices): the pair
    // plot below is about the funnel's divergences, which the default metric mostly avoids.
    settings.set(ppl_planner::Setting::Metric, 4.0).unwrap();
    let options = ppl_planner::FitOptions {
        out: Some(out),
        ..ppl_planner::FitOptions::default()
    };
    ppl_planner::run(
        &loaded,
        ppl_planner::DataSource::ModelDefault,
        &settings,
        &options,
    )
    .unwrap();
}

/// A PNG signature, an IHDR chunk with this width and height, and a size between a blank picture
/// and the raw pixels.
fn check_png(path: &Path, width: u32, height: u32) {
    let bytes = std::fs::read(path).unwrap();
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert_eq!(&bytes[12..16], b"IHDR");
    let read =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    assert_eq!((read(16), read(20)), (width, height), "{}", path.display());
    assert!(
        bytes.len() > 20_000 && bytes.len() < (width * height * 3) as usize / 2,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
}

#[test]
fn every_kind_for_the_centred_eight_schools() {
    let dir = scratch("eight");
    let run_dir = dir.join("fit");
    fit("eight_schools_centered.model", &run_dir);
    let run = RunOutput::read(&run_dir).unwrap();
    assert_eq!(run.chains.len(), 4);
    let drawn = |kind: PlotKind, variables: &[&str], file: &str| {
        let mut request = PlotRequest::new(kind, dir.join(file));
        request.variables = variables.iter().map(|v| v.to_string()).collect();
        let picture = ppl_plot::plot(&run, &request).unwrap();
        check_png(&picture.path, picture.width, picture.height);
        picture
    };
    for kind in [
        PlotKind::Trace,
        PlotKind::Rank,
        PlotKind::Density,
        PlotKind::Autocorr,
    ] {
        let picture = drawn(kind, &[], &format!("{}.png", kind.name()));
        // mu, tau and the eight theta: ten panels in a grid of two columns.
        assert_eq!(picture.variables.len(), 10);
        assert_eq!((picture.width, picture.height), (1180, 1544));
    }
    let forest = drawn(PlotKind::Forest, &["theta"], "forest.png");
    assert_eq!(forest.variables.len(), 8);
    let pair = drawn(PlotKind::Pair, &["theta[1]", "tau"], "pair.png");
    assert_eq!(pair.variables, ["theta[1]", "tau"]);

    // What the pair plot shows: the divergent transitions of the centred parameterisation sit in
    // the neck of the funnel, at small tau. With this seed, every divergent draw has tau below the
    // median tau of all draws.
    let (calm, diverged) = ppl_plot::pair::split_points(&run, 9, 8);
    assert!(diverged.len() > 20, "{} divergent draws", diverged.len());
    let mut taus: Vec<f64> = calm.iter().chain(&diverged).map(|&(_, tau)| tau).collect();
    taus.sort_by(f64::total_cmp);
    let median = taus[taus.len() / 2];
    let below = diverged.iter().filter(|&&(_, tau)| tau < median).count();
    assert!(
        below as f64 >= 0.9 * diverged.len() as f64,
        "{below} of {} divergent draws below the median tau {median}",
        diverged.len()
    );

    // An SVG of an asked size, and the coded errors of `ppl plot`.
    let mut request = PlotRequest::new(PlotKind::Trace, dir.join("tau.svg"));
    request.variables = vec!["tau".into()];
    request.size = Some((700, 400));
    ppl_plot::plot(&run, &request).unwrap();
    let svg = std::fs::read_to_string(dir.join("tau.svg")).unwrap();
    assert!(
        svg.starts_with("<svg") && svg.contains("width=\"700\"") && svg.contains("trace of tau")
    );
    request.variables = vec!["sigma".into()];
    assert_eq!(ppl_plot::plot(&run, &request).unwrap_err().code(), "E0902");
    request.variables.clear();
    request.out = dir.join("no-such-directory/trace.png");
    assert_eq!(ppl_plot::plot(&run, &request).unwrap_err().code(), "E0707");
    request.out = dir.join("trace.pdf");
    assert_eq!(ppl_plot::plot(&run, &request).unwrap_err().code(), "E0905");
    request.out = dir.join("objective.png");
    request.kind = PlotKind::Objective;
    assert_eq!(ppl_plot::plot(&run, &request).unwrap_err().code(), "E0904");
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn the_objective_trace_of_an_em_fit() {
    let dir = scratch("gmm");
    let run_dir = dir.join("fit");
    fit("gmm.model", &run_dir);
    let run = RunOutput::read(&run_dir).unwrap();
    assert_eq!(run.method.as_deref(), Some("em"));
    // EM never lowers the likelihood (Dempster, Laird and Rubin 1977): the trace climbs.
    assert!(run.objective.windows(2).all(|w| w[1] >= w[0] - 1e-9));
    let request = PlotRequest::new(PlotKind::Objective, dir.join("objective.png"));
    let picture = ppl_plot::plot(&run, &request).unwrap();
    check_png(&picture.path, 900, 560);
    // An EM run has no draws: the draws' pictures say so with a code.
    let request = PlotRequest::new(PlotKind::Trace, dir.join("trace.png"));
    assert_eq!(ppl_plot::plot(&run, &request).unwrap_err().code(), "E0901");
    std::fs::remove_dir_all(&dir).unwrap();
}
