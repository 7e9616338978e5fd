//! Gradient cost over log-density cost of the tape, for growing dimension: prints one JSON object
//! per model and size. Run with `cargo bench -p ppl-model --bench tape`.
//!
//! Models: `x: real[D]; x ~ Normal(0, 1)`, and a regression `beta: real[D]; sigma: positive;
//! beta ~ Normal(0, 1); y ~ Normal(X @ beta, sigma)` with N = 200 observations.

use std::hint::black_box;
use std::time::Instant;

use ppl_dist::DistKind;
use ppl_infer::LogDensity;
use ppl_ir::{
    BinaryOp, Constraint, ElemType, Expr, ExprKind, IndexExpr, Model, Role, Size, Term, TermKind,
    ValueType, VarId, Variable,
};
use ppl_model::tape::{Bindings, Tape};
use ppl_syntax::Span;

fn expr(kind: ExprKind) -> Expr {
    Expr {
        kind,
        ty: ValueType {
            elem: ElemType::Real,
            shape: Vec::new(),
        },
        span: Span::new(0, 0),
    }
}

fn variable(
    model: &mut Model,
    name: &str,
    role: Role,
    shape: &[i64],
    constraint: Constraint,
) -> VarId {
    let id = VarId(model.variables.len());
    model.variables.push(Variable {
        id,
        name: name.into(),
        role,
        ty: ValueType {
            elem: ElemType::Real,
            shape: shape.iter().map(|&s| Size::constant(s)).collect(),
        },
        constraint,
        declared_as: String::new(),
        init: None,
        span: Span::new(0, 0),
        name_span: Span::new(0, 0),
        data_bound: None,
        expression_bound: None,
    });
    id
}

fn tilde(model: &mut Model, target: Expr, distribution: DistKind, args: Vec<Expr>) {
    model.terms.push(Term {
        kind: TermKind::Tilde {
            target,
            distribution,
            args,
        },
        loops: Vec::new(),
        span: Span::new(0, 0),
    });
}

fn standard_normal(d: usize) -> (Model, Bindings, Vec<VarId>) {
    let mut model = Model::default();
    let x = variable(&mut model, "x", Role::Latent, &[d as i64], Constraint::None);
    let args = vec![expr(ExprKind::Literal(0.0)), expr(ExprKind::Literal(1.0))];
    tilde(
        &mut model,
        expr(ExprKind::Variable(x)),
        DistKind::Normal,
        args,
    );
    let bindings = Bindings::new(&model, Vec::new());
    (model, bindings, vec![x])
}

fn regression(d: usize, n: usize) -> (Model, Bindings, Vec<VarId>) {
    let mut model = Model::default();
    let design = variable(
        &mut model,
        "X",
        Role::Observed,
        &[n as i64, d as i64],
        Constraint::None,
    );
    let y = variable(
        &mut model,
        "y",
        Role::Observed,
        &[n as i64],
        Constraint::None,
    );
    let beta = variable(
        &mut model,
        "beta",
        Role::Latent,
        &[d as i64],
        Constraint::None,
    );
    let positive = Constraint::Bounded {
        low: 0.0,
        high: f64::INFINITY,
        open: true,
    };
    let sigma = variable(&mut model, "sigma", Role::Latent, &[], positive);
    let prior = vec![expr(ExprKind::Literal(0.0)), expr(ExprKind::Literal(1.0))];
    tilde(
        &mut model,
        expr(ExprKind::Variable(beta)),
        DistKind::Normal,
        prior,
    );
    let mean = expr(ExprKind::Binary {
        op: BinaryOp::MatMul,
        lhs: Box::new(expr(ExprKind::Variable(design))),
        rhs: Box::new(expr(ExprKind::Variable(beta))),
    });
    let args = vec![mean, expr(ExprKind::Variable(sigma))];
    tilde(
        &mut model,
        expr(ExprKind::Variable(y)),
        DistKind::Normal,
        args,
    );
    let mut bindings = Bindings::new(&model, Vec::new());
    bindings.set(
        design,
        (0..n * d).map(|i| ((i as f64) * 0.37).sin()).collect(),
    );
    bindings.set(y, (0..n).map(|i| ((i as f64) * 0.11).cos()).collect());
    (model, bindings, vec![beta, sigma])
}

/// `x ~ Normal(mu[z], sigma[z])` over n points with K = 3 components, z fixed.
fn mixture(n: usize) -> (Model, Bindings, Vec<VarId>) {
    let mut model = Model::default();
    let x = variable(
        &mut model,
        "x",
        Role::Observed,
        &[n as i64],
        Constraint::None,
    );
    let z = variable(
        &mut model,
        "z",
        Role::Observed,
        &[n as i64],
        Constraint::None,
    );
    let mu = variable(&mut model, "mu", Role::Param, &[3], Constraint::None);
    let positive = Constraint::Bounded {
        low: 0.0,
        high: f64::INFINITY,
        open: true,
    };
    let sigma = variable(&mut model, "sigma", Role::Param, &[3], positive);
    let gathered = |base: VarId| {
        expr(ExprKind::Index {
            base: Box::new(expr(ExprKind::Variable(base))),
            indices: vec![IndexExpr::Gather(expr(ExprKind::Variable(z)))],
        })
    };
    let args = vec![gathered(mu), gathered(sigma)];
    tilde(
        &mut model,
        expr(ExprKind::Variable(x)),
        DistKind::Normal,
        args,
    );
    let mut bindings = Bindings::new(&model, Vec::new());
    bindings.set(x, (0..n).map(|i| ((i as f64) * 0.37).sin() * 3.0).collect());
    bindings.set(z, (0..n).map(|i| (i % 3 + 1) as f64).collect());
    (model, bindings, vec![mu, sigma])
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

fn measure(name: &str, d: usize, (model, bindings, sampled): (Model, Bindings, Vec<VarId>)) {
    let mut tape = Tape::new(&model, &bindings, &sampled, Vec::new()).expect("tape builds");
    let dim = tape.dim();
    let position: Vec<f64> = (0..dim).map(|i| ((i as f64) * 0.3).sin() * 0.5).collect();
    let mut gradient = vec![0.0; dim];
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
        "{{\"model\": \"{name}\", \"d\": {d}, \"log_density_us\": {:.3}, \"gradient_us\": {:.3}, \"ratio\": {:.2}}}",
        value_seconds * 1e6,
        gradient_seconds * 1e6,
        gradient_seconds / value_seconds
    );
}

fn main() {
    for d in [10, 100, 1_000, 10_000] {
        measure("normal", d, standard_normal(d));
        measure("regression_n200", d, regression(d, 200));
    }
    measure("mixture_gather", 1_000_000, mixture(1_000_000));
}
