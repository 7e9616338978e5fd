//! `ppl-bench`: timing ppl against the peer baselines in `shared/peers` (found next to the
//! workspace), one JSON object on stdout per run (progress and errors on stderr).
//!
//! ```text
//! ppl-bench em --data FILE.csv --k K [--seed S] [--restarts R] [--tol T] [--max-iter M]
//!              [--reg LAMBDA] [--threads N] [--repeat R] [--model FILE.model] [--ppl PATH]
//!              [--peers DIR] [--peer-python PATH] [--no-peer]
//! ppl-bench nuts --model eight_schools|logreg|std_normal [--seed S] [--repeat R] [--fresh]
//!              [--no-peer] [--ppl PATH] [--peers DIR] [--peer-python PATH]
//! ppl-bench rbm --data digits.csv [--seed S] [--repeat R] [--momentum M] [--k K] [--no-peer]
//! ppl-bench discrete --model coal|hmm|mixture [--seed S] [--methods nuts,gibbs] [--no-peer]
//! ppl-bench gradient --model FILE.model --data FILE [--evals N]
//! ppl-bench load --data FILE [--repeat R]
//! ppl-bench metric [--cases C,...] [--metrics auto,stan] [--seeds 0,1,2] [--chains 4]
//! ```
//! `metric`: see the `metric` module (the NUTS metric suite in process: gradient evaluations per
//! minimum bulk ESS under each metric, several seeds).
//! `rbm`: see the `rbm` module (the RBM engine in process against scikit-learn's BernoulliRBM).
//! `em`: see the `em` module (ppl's EM in process, optionally the whole `ppl run`, and
//! scikit-learn). `nuts`: see the `nuts` module (the `ppl` binary, Stan and NumPyro on one model,
//! seeds S..S+R-1, medians). `discrete`: see the `discrete` module (ppl NUTS and Gibbs against
//! NumPyro with the latent summed out by hand, same data, same run). `load`: see the `load` module
//! (a data file's parse against `memcpy` of its bytes). What the figures mean is written up in `BENCHMARKS.md`.

mod args;
mod convert;
mod discrete;
mod em;
mod error;
mod gradient;
mod load;
mod metric;
mod nuts;
mod peers;
mod process;
mod rbm;
mod stats;

use std::process::ExitCode;

use serde_json::json;

use crate::error::BenchError;

fn main() -> ExitCode {
    let arguments: Vec<String> = std::env::args().skip(1).collect();
    let result = match arguments.first().map(String::as_str) {
        Some("em") => em::EmCommand::parse(&arguments[1..]).and_then(|command| command.run()),
        Some("nuts") => nuts::NutsCommand::parse(&arguments[1..]).and_then(|command| command.run()),
        Some("discrete") => {
            discrete::DiscreteCommand::parse(&arguments[1..]).and_then(|command| command.run())
        }
        Some("gradient") => {
            gradient::GradientCommand::parse(&arguments[1..]).and_then(|command| command.run())
        }
        Some("rbm") => rbm::RbmCommand::parse(&arguments[1..]).and_then(|command| command.run()),
        Some("metric") => {
            metric::MetricCommand::parse(&arguments[1..]).and_then(|command| command.run())
        }
        Some("load") => load::LoadCommand::parse(&arguments[1..]).and_then(|command| command.run()),
        _ => Err(BenchError::Usage(format!(
            "usage:\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}\n  {}",
            em::USAGE,
            gradient::USAGE,
            nuts::USAGE,
            rbm::USAGE,
            discrete::USAGE,
            load::USAGE,
            metric::USAGE
        ))),
    };
    match result {
        Ok(report) => {
            println!("{report}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("ppl-bench: {error}");
            println!("{}", json!({ "error": error.to_string() }));
            ExitCode::from(2)
        }
    }
}
