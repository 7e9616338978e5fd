//! One module per subcommand.

pub mod check;
pub mod compare;
pub mod help;
pub mod loo;
pub mod new;
pub mod plot;
pub mod run;
pub mod sample;
pub mod simulate;
pub mod summary;
