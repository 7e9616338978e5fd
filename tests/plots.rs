//! Every plot kind drawn for the examples through the command line (`ppl run --plot`, `ppl plot
//! --kind ...`): the files exist, are PNGs or SVGs of the size reported, and are not blank.

use std::path::Path;
use std::process::Output;

mod common;
use common::{ppl, scratch};

fn succeeded(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stderr).into_owned()
}

/// A PNG's width and height from its header, after checking the signature; and that the file is
/// more than a blank page (a white PNG of this size compresses to a few hundred bytes).
fn png_size(path: &Path) -> (u32, u32) {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    assert_eq!(&bytes[..8], b"\x89PNG\r\n\x1a\n", "{}", path.display());
    assert!(
        bytes.len() > 5_000,
        "{}: {} bytes",
        path.display(),
        bytes.len()
    );
    let word =
        |at: usize| u32::from_be_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let (width, height) = (word(16), word(20));
    assert!(
        (200..=8000).contains(&width) && (200..=8000).contains(&height),
        "{width}x{height}"
    );
    (width, height)
}

#[test]
fn a_sampling_run_draws_every_kind_of_its_draws_and_a_ppc() {
    let out = scratch("plots-eight");
    let out_text = out.to_str().unwrap();
    let stderr = succeeded(&ppl(&[
        "run",
        "examples/eight_schools_centered.model",
        "--draws",
        "500",
        "--predict",
        "--plot",
        "--quiet",
        "--out",
        out_text,
    ]));
    let folder = out.join("plots");
    assert!(
        stderr.contains(&format!("wrote 7 pictures into {}", folder.display())),
        "{stderr}"
    );
    for kind in [
        "trace", "rank", "density", "pair", "forest", "autocorr", "ppc",
    ] {
        png_size(&folder.join(format!("{kind}.png")));
    }
    // The centred funnel's divergences, in the pair plot of tau against theta[1], as SVG.
    let svg = out.join("pair.svg");
    let args = [
        "plot", out_text, "--kind", "pair", "--var", "theta[1]", "--var", "tau",
    ];
    succeeded(&ppl(
        &[&args[..], &["--out", svg.to_str().unwrap()]].concat()
    ));
    let text = std::fs::read_to_string(&svg).unwrap();
    assert!(
        text.contains("divergent"),
        "the legend counts the divergences"
    );
    // A ppc from the directory needs the model for its data, and says so without it.
    let ppc = out.join("ppc.png");
    let without = ppl(&[
        "plot",
        out_text,
        "--kind",
        "ppc",
        "--out",
        ppc.to_str().unwrap(),
    ]);
    assert_eq!(without.status.code(), Some(3));
    let message = String::from_utf8_lossy(&without.stderr);
    assert!(
        message.contains("E0904") && message.contains("--model"),
        "{message}"
    );
    let with = ppl(&[
        "plot",
        out_text,
        "--kind",
        "ppc",
        "--model",
        "examples/eight_schools_centered.model",
        "--out",
        ppc.to_str().unwrap(),
    ]);
    succeeded(&with);
    assert!(String::from_utf8_lossy(&with.stdout).contains("ppc of y"));
    assert_eq!(png_size(&ppc), (900, 560));
    std::fs::remove_dir_all(&out).ok();
}

#[test]
fn an_em_run_draws_its_objective_and_says_the_draws_plots_do_not_apply() {
    let out = scratch("plots-gmm");
    let out_text = out.to_str().unwrap();
    let stderr = succeeded(&ppl(&[
        "run",
        "examples/gmm.model",
        "--plot",
        "--out",
        out_text,
    ]));
    assert!(stderr.contains("wrote 1 picture into"), "{stderr}");
    png_size(&out.join("plots/objective.png"));
    let trace = ppl(&[
        "plot",
        out_text,
        "--kind",
        "trace",
        "--out",
        "/dev/null/t.png",
    ]);
    assert_eq!(trace.status.code(), Some(3), "no draws in an EM run");
    let no_out = ppl(&["run", "examples/gmm.model", "--plot"]);
    assert_eq!(no_out.status.code(), Some(2), "--plot needs --out");
    std::fs::remove_dir_all(&out).ok();
}
