//! The `ppl` command line: argument parsing, one module per subcommand, and the edge where
//! diagnostics are rendered and turned into exit statuses (0 ok, 1 inference failed, 2 usage, 3
//! model or data error). Only this crate touches the terminal.

mod commands;
mod frontend;
mod output;
mod render;
mod repl;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

pub use frontend::{CommandError, Exit};

#[derive(Parser, Debug)]
#[command(
    name = "ppl",
    version,
    disable_help_subcommand = true,
    about = "A probabilistic programming language: models as short text files, answers in milliseconds",
    long_about = None
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Fit a model: picks the inference method (and says why) unless --method is given.
    Run(commands::run::RunArgs),
    /// Parse, resolve, type- and shape-check a model; --ir prints the checked IR.
    Check(commands::check::CheckArgs),
    /// Draw a data set from the model (unknowns fixed by --set or drawn from their priors), or replicates from a run's draws.
    Simulate(commands::simulate::SimulateArgs),
    /// Draw new rows from a trained generative model (a VAE, RBM or GAN run's DIR/generator.json): CSV and pictures.
    Sample(commands::sample::SampleArgs),
    /// Merge chains from one or many runs (directories or draws CSV files) and print diagnostics.
    Summary(commands::summary::SummaryArgs),
    /// PSIS-LOO (elpd_loo, p_loo, Pareto k̂) from the log_lik columns of a run with --log-lik.
    Loo(commands::loo::LooArgs),
    /// Rank runs of competing models by PSIS-LOO elpd, with differences and their SE.
    Compare(commands::compare::CompareArgs),
    /// Draw a picture of a run: trace, rank, density, pair, forest, autocorr, objective, ppc or samples.
    Plot(commands::plot::PlotArgs),
    /// Build a model line by line, fit it, and evaluate expressions over the posterior.
    Repl(repl::ReplArgs),
    /// Write a starting model and a small data file that run as they are.
    New(commands::new::NewArgs),
    /// Help on a topic: settings, methods, distributions, functions, library, a method's name, or a command's name.
    Help(commands::help::HelpArgs),
}

/// Runs the command line and returns the exit status.
pub fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(error) => {
            let _ = error.print();
            if !error.use_stderr() {
                return ExitCode::SUCCESS; // --help, --version
            }
            // `--format json` promises one JSON object on stdout, even for a usage error.
            let arguments: Vec<String> = std::env::args().collect();
            let json = arguments
                .windows(2)
                .any(|w| w[0] == "--format" && w[1] == "json")
                || arguments.iter().any(|a| a == "--format=json");
            if json {
                let message = error.kind().to_string();
                let detail = error.to_string();
                let first_line = detail
                    .lines()
                    .next()
                    .unwrap_or(&message)
                    .trim_start_matches("error: ");
                println!(
                    "{}",
                    serde_json::json!({"error": {"code": ppl_syntax::codes::USAGE, "message": first_line}})
                );
            }
            return ExitCode::from(2);
        }
    };
    let result = match cli.command {
        Command::Run(args) => commands::run::run(args),
        Command::Check(args) => commands::check::run(args),
        Command::Simulate(args) => commands::simulate::run(args),
        Command::Sample(args) => commands::sample::run(args),
        Command::Summary(args) => commands::summary::run(args),
        Command::Loo(args) => commands::loo::run(args),
        Command::Compare(args) => commands::compare::run(args),
        Command::Plot(args) => commands::plot::run(args),
        Command::Repl(args) => repl::run(args),
        Command::New(args) => commands::new::run(args),
        Command::Help(args) => commands::help::run(args, <Cli as clap::CommandFactory>::command()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            error.report();
            ExitCode::from(error.exit as u8)
        }
    }
}
