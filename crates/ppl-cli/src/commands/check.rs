//! `ppl check MODEL`: parse, resolve, type- and shape-check; `--ir` prints the checked IR.

use std::path::PathBuf;

use clap::Args;

use crate::frontend::{CommandError, load_model};

#[derive(Args, Debug)]
pub struct CheckArgs {
    /// The model file.
    pub model: PathBuf,
    /// Print the checked IR (the typed model graph).
    #[arg(long)]
    pub ir: bool,
    /// Override a constant (or a library file's argument): `--set K=3`.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    pub sets: Vec<String>,
}

pub fn run(args: CheckArgs) -> Result<(), CommandError> {
    let sets = super::run::parse_const_sets(&args.sets)?;
    let loaded = load_model(&args.model, &sets)?;
    super::run::check_sets(&loaded, &sets)?;
    crate::render::write_all(&loaded.warnings, &loaded.file_name, &loaded.source);
    if args.ir {
        print!("{}", ppl_ir::printer::print(&loaded.model));
    } else {
        let model = &loaded.model;
        let count = |role| model.variables.iter().filter(|v| v.role == role).count();
        println!(
            "{}: ok ({} observed, {} latent, {} param, {} dimension{}, {} term{})",
            loaded.file_name,
            count(ppl_ir::Role::Observed),
            count(ppl_ir::Role::Latent),
            count(ppl_ir::Role::Param),
            model.dims.len(),
            if model.dims.len() == 1 { "" } else { "s" },
            model.terms.len(),
            if model.terms.len() == 1 { "" } else { "s" },
        );
    }
    Ok(())
}
