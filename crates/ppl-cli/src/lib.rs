//! The `ppl` command line (work in progress).
pub fn main() -> std::process::ExitCode {
    std::process::ExitCode::SUCCESS
}
