//! Draws from an approximation (ADVI's guide, Laplace's Gaussian) made to look like a sampler's:
//! each unconstrained draw is pushed through the constraints (summed-out discrete latents drawn
//! from their conditionals) and the columns are summarised with the same statistics.

use ppl_model::posterior::Posterior;

use crate::draws::{SAMPLER_COLUMNS, summarise};
use crate::drivers::mcmc::Draws;
use crate::report::SummaryRow;

/// The summary rows and the draws (as one chain, with the sampler columns empty) of `count`
/// unconstrained draws laid out row-major in `draws`.
pub fn summarise_draws(
    posterior: &Posterior,
    draws: &[f64],
    seed: u64,
) -> (Vec<SummaryRow>, Draws) {
    let dim = posterior.tape.layout().dim.max(1);
    let mut own = posterior.clone();
    let mut rng = ppl_infer::mcmc::chains::chain_rng(seed ^ 0xa99f_0c1a, 0);
    let mut rows = Vec::with_capacity(draws.len() / dim);
    for position in draws.chunks_exact(dim) {
        let Ok(values) = own.complete_draw(position, &mut rng) else {
            continue;
        };
        let mut row = vec![f64::NAN; SAMPLER_COLUMNS.len()];
        row.extend(values);
        rows.push(row);
    }
    let mut columns: Vec<String> = SAMPLER_COLUMNS.iter().map(|s| s.to_string()).collect();
    columns.extend(posterior.columns.iter().map(|c| c.csv.clone()));
    let chains = vec![rows];
    let summary = summarise(&columns, &chains);
    (summary, Draws { columns, chains })
}

/// Pareto k-hat in words, as the PSIS paper reads it.
pub fn pareto_k_warning(k: f64, what: &str) -> Option<String> {
    if k.is_nan() {
        return Some(format!(
            "Pareto k-hat could not be computed for the {what}: its reliability is unknown"
        ));
    }
    (k > 0.7).then(|| {
        format!(
            "Pareto k-hat {k:.2} (above 0.7): the {what} is far from the posterior, so its means and intervals should not be trusted; sample with NUTS instead"
        )
    })
}
