//! The cost of a recursive `let` on the tape as its length grows: an ARMA(1,1) model whose errors
//! are `let err[1] = ...` then `for t in 2..T { let err[t] = ... err[t - 1] }`, at T = 100 to
//! 10,000. Prints one JSON object per length: the time to build the tape, one log density, one log
//! density + gradient, and the gradient time per element (flat when the cost is linear in T).
//! Run with `cargo bench -p ppl-model --bench recursion`.

use std::hint::black_box;
use std::time::Instant;

use ppl_infer::LogDensity;
use ppl_ir::VarId;
use ppl_model::tape::{Bindings, Tape};

fn arma_source(length: usize) -> String {
    let y: Vec<String> = (0..length)
        .map(|t| {
            format!(
                "{:.6}",
                ((t as f64) * 0.37).sin() + 0.3 * ((t as f64) * 0.05).cos()
            )
        })
        .collect();
    format!(
        "observed y: real[T] = [{}]\n\
         latent mu: real\nlatent phi: real in (-1, 1)\nlatent theta: real in (-1, 1)\n\
         latent sigma: positive\n\
         let err[1] = y[1] - mu - phi * mu\n\
         for t in 2..T {{\n  let err[t] = y[t] - mu - phi * y[t - 1] - theta * err[t - 1]\n}}\n\
         err ~ Normal(0, sigma)\n",
        y.join(", ")
    )
}

fn tape(source: &str) -> Tape {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(diagnostics.iter().all(|d| !d.is_error()), "{diagnostics:?}");
    let bound = ppl_model::bind(&model, None, &[]).expect("binds");
    let mut bindings = Bindings::new(&model, bound.dims.clone());
    for (index, values) in bound.observed.iter().enumerate() {
        if let Some(values) = values {
            bindings.set(VarId(index), values.clone());
        }
    }
    let sampled: Vec<VarId> = model.unknowns().map(|v| v.id).collect();
    Tape::new(&model, &bindings, &sampled, Vec::new()).expect("tape builds")
}

/// Seconds per call of `f`, timed over enough calls to take about a fifth of a second.
fn seconds_per_call(mut f: impl FnMut()) -> f64 {
    let mut calls = 1usize;
    loop {
        let start = Instant::now();
        for _ in 0..calls {
            f();
        }
        let elapsed = start.elapsed().as_secs_f64();
        if elapsed > 0.2 {
            return elapsed / calls as f64;
        }
        calls *= 4;
    }
}

fn main() {
    for length in [100, 300, 1_000, 3_000, 10_000] {
        let source = arma_source(length);
        let start = Instant::now();
        let mut tape = tape(&source);
        let build_seconds = start.elapsed().as_secs_f64();
        let position = [0.2, 0.3, -0.4, 0.1];
        let mut gradient = [0.0; 4];
        let value_seconds = seconds_per_call(|| {
            black_box(tape.log_density(black_box(&position)).expect("finite"));
        });
        let gradient_seconds = seconds_per_call(|| {
            black_box(
                tape.log_density_and_gradient(black_box(&position), &mut gradient)
                    .expect("finite"),
            );
        });
        println!(
            "{{\"model\": \"arma11_recursive\", \"T\": {length}, \"build_ms\": {:.1}, \"log_density_us\": {:.1}, \"gradient_us\": {:.1}, \"gradient_ns_per_element\": {:.1}}}",
            build_seconds * 1e3,
            value_seconds * 1e6,
            gradient_seconds * 1e6,
            gradient_seconds * 1e9 / length as f64
        );
    }
}
