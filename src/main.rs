//! The `ppl` binary: everything lives in `ppl-cli`; this file only hands over the exit status.
fn main() -> std::process::ExitCode {
    ppl_cli::main()
}
