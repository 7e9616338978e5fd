//! `ppl new NAME --template T`: a starting model and a small data file that run as they are, so
//! a newcomer edits something that works. The data are simulated from the model's own story with
//! a fixed seed, so the same command always writes the same files.

use std::path::{Path, PathBuf};

use clap::{Args, ValueEnum};
use rand::{Rng, RngExt};
use rand_distr::{Distribution, Normal, Poisson};

use crate::frontend::{CommandError, Exit};

#[derive(Copy, Clone, Debug, PartialEq, Eq, ValueEnum)]
pub enum Template {
    /// Linear regression of y on x, sampled by NUTS.
    Regression,
    /// A two-component Gaussian mixture, fitted by EM.
    Mixture,
    /// Groups sharing a population mean (non-centred), sampled by NUTS.
    Hierarchical,
    /// Counts whose rate drops at an unknown time: the switch is summed out, the rates sampled
    /// by NUTS.
    Changepoint,
    /// A variational autoencoder on small black-and-white pictures (the library's `VAE`).
    Vae,
}

#[derive(Args, Debug)]
pub struct NewArgs {
    /// The name: writes NAME.model and NAME.csv.
    pub name: String,
    /// Which model to start from.
    #[arg(long, value_enum, default_value = "regression")]
    pub template: Template,
    /// The folder to write into.
    #[arg(long, default_value = ".")]
    pub dir: PathBuf,
}

pub fn run(args: NewArgs) -> Result<(), CommandError> {
    let valid = !args.name.is_empty()
        && args
            .name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
    if !valid {
        return Err(CommandError::message(
            ppl_syntax::codes::USAGE,
            format!(
                "`{}` is not a usable name: letters, digits, `_` and `-` only",
                args.name
            ),
            Exit::Usage,
        ));
    }
    let model_path = args.dir.join(format!("{}.model", args.name));
    let data_path = args.dir.join(format!("{}.csv", args.name));
    for path in [&model_path, &data_path] {
        if path.exists() {
            return Err(CommandError::message(
                ppl_syntax::codes::USAGE,
                format!(
                    "`{}` exists already: ppl new never overwrites a file",
                    path.display()
                ),
                Exit::Usage,
            ));
        }
    }
    let (model, data) = write_template(args.template, &args.name);
    write(&args.dir, &data_path, &data)?;
    write(&args.dir, &model_path, &model)?;
    // A generative model is worth saving: `ppl sample` draws from what `--out` keeps.
    let out = match args.template {
        Template::Vae => format!(" --out {}_fit", args.name),
        _ => String::new(),
    };
    eprintln!(
        "wrote {} and {}; try: ppl run {}{out}",
        model_path.display(),
        data_path.display(),
        model_path.display()
    );
    Ok(())
}

fn write(dir: &Path, path: &Path, text: &str) -> Result<(), CommandError> {
    std::fs::create_dir_all(dir)
        .and_then(|_| crate::output::write_atomically(path, text.as_bytes()))
        .map_err(|e| CommandError::cannot_write(path, &e))
}

/// The model text and its CSV data.
fn write_template(template: Template, name: &str) -> (String, String) {
    let mut rng = ppl_infer::mcmc::chains::chain_rng(20261127, 0);
    if template == Template::Changepoint {
        return changepoint(name, &mut rng);
    }
    if template == Template::Vae {
        return bars(name, &mut rng);
    }
    let mut normal = |mean: f64, sd: f64| {
        Normal::new(mean, sd)
            .map(|d| d.sample(&mut rng))
            .unwrap_or(mean)
    };
    match template {
        Template::Regression => {
            let mut csv = String::from("x,y\n");
            for _ in 0..100 {
                let x = normal(0.0, 1.0);
                let y = 1.0 + 2.0 * x + normal(0.0, 0.5);
                csv.push_str(&format!("{x:.4},{y:.4}\n"));
            }
            let model = format!(
                "# {name}.model — linear regression of y on x.\n# Run: ppl run {name}.model\ndata \"{name}.csv\"\n\nobserved x: real[N]\nobserved y: real[N]\nlatent alpha: real               # intercept\nlatent beta: real                # slope\nlatent sigma: positive           # residual sd\n\nalpha ~ Normal(0, 10)\nbeta ~ Normal(0, 10)\nsigma ~ HalfNormal(5)\ny ~ Normal(alpha + beta * x, sigma)\n"
            );
            (model, csv)
        }
        Template::Mixture => {
            let mut csv = String::from("x\n");
            for i in 0..300 {
                let x = if i % 5 < 2 {
                    normal(-1.0, 0.5)
                } else {
                    normal(1.5, 0.7)
                };
                csv.push_str(&format!("{x:.4}\n"));
            }
            let model = format!(
                "# {name}.model — a two-component Gaussian mixture, fitted by EM.\n# Run: ppl run {name}.model\ndata \"{name}.csv\"\n\nconst K = 2\nobserved x: real[N]\nparam w: simplex[K]              # mixture weights\nparam mu: real[K]                # component means\nparam sigma: positive[K]         # component sds\nlatent z: int[N] in 1..K         # which component each point came from\n\nz ~ Categorical(w)\nx ~ Normal(mu[z], sigma[z])\n"
            );
            (model, csv)
        }
        Template::Hierarchical => {
            let mut csv = String::from("group,y\n");
            let effects: Vec<f64> = (0..8).map(|_| normal(3.0, 2.0)).collect();
            for i in 0..160 {
                let group = i % 8 + 1;
                let y = effects[group - 1] + normal(0.0, 4.0);
                csv.push_str(&format!("{group},{y:.4}\n"));
            }
            let model = format!(
                "# {name}.model — groups that share a population mean, written non-centred\n# (theta = mu + tau * eta), which NUTS samples without divergences.\n# Run: ppl run {name}.model\ndata \"{name}.csv\"\n\nconst J = 8\nobserved group: int[N] in 1..J   # which group each row belongs to\nobserved y: real[N]\nlatent mu: real                  # population mean\nlatent tau: positive             # spread of the group means\nlatent eta: real[J]\nlatent sigma: positive           # within-group sd\n\nlet theta = mu + tau * eta       # group means\nmu ~ Normal(0, 10)\ntau ~ HalfNormal(5)\neta ~ Normal(0, 1)\nsigma ~ HalfNormal(10)\ny ~ Normal(theta[group], sigma)\n"
            );
            (model, csv)
        }
        Template::Changepoint | Template::Vae => (String::new(), String::new()),
    }
}

/// Sixty years of counts at 4 a year, dropping to 1 a year from year 36 (index 36).
fn changepoint(name: &str, rng: &mut impl Rng) -> (String, String) {
    let mut csv = String::from("year,count\n");
    for t in 1..=60 {
        let rate = if t < 36 { 4.0 } else { 1.0 };
        let count = Poisson::new(rate).map_or(rate, |d| d.sample(rng));
        csv.push_str(&format!("{},{count}\n", 1960 + t));
    }
    let model = format!(
        "# {name}.model — counts per year whose rate drops at an unknown year.\n# The switch `s` is a discrete unknown: ppl sums it out of the log density, samples the two\n# rates by NUTS and recovers `s` per draw from its exact conditional.\n# Run: ppl run {name}.model\ndata \"{name}.csv\"\n\nobserved year: int[T]\nobserved count: int[T]\nlatent s: int in 1..T            # the first year of the late regime, as an index\nlatent early: positive           # counts per year before the switch\nlatent late: positive            # and from the switch on\n\nearly ~ Exponential(0.5)\nlate ~ Exponential(0.5)\ncount ~ Poisson(if [t for t in 1..T] < s then early else late)\n\nlet switch_year = year[1] + s - 1\n"
    );
    (model, csv)
}

/// Side of the pictures of the VAE template: 8 × 8 pixels, as the digits example.
const SIDE: usize = 8;

/// 400 pictures of one bar, horizontal or vertical at a random place, with 2% of the pixels
/// flipped: sixteen shapes a 2-D code can tell apart.
fn bars(name: &str, rng: &mut impl Rng) -> (String, String) {
    let header: Vec<String> = (1..=SIDE * SIDE).map(|k| format!("pixel.{k}")).collect();
    let mut csv = header.join(",");
    csv.push('\n');
    for _ in 0..400 {
        let horizontal = rng.random_bool(0.5);
        let place = rng.random_range(0..SIDE);
        let row: Vec<&str> = (0..SIDE * SIDE)
            .map(|k| {
                let (r, c) = (k / SIDE, k % SIDE);
                let on = if horizontal { r == place } else { c == place };
                if on != rng.random_bool(0.02) {
                    "1"
                } else {
                    "0"
                }
            })
            .collect();
        csv.push_str(&row.join(","));
        csv.push('\n');
    }
    let model = format!(
        "# {name}.model — a variational autoencoder (the library's VAE) on 8x8 black-and-white\n# pictures of one bar each: a 2-D code per picture, learned with its decoder by the ELBO.\n# The last 100 rows are held out; afterwards `ppl sample OUT --out bars` draws new pictures.\n# Run: ppl run {name}.model --out {name}_fit\ndata \"{name}.csv\"\n\nobserved pixel: int[N, 64]\npixel ~ VAE(latent = 2, hidden = [64])\ninfer vae(epochs = 500, holdout = 100)\n"
    );
    (model, csv)
}
