//! Tests of the evaluator and the tape on hand-built IR: values against hand computations,
//! tape gradients against whole-model forward mode (the oracle) and central finite differences.

use ppl_dist::DistKind;
use ppl_infer::{LogDensity, LogDensityError};
use ppl_ir::{
    BinaryOp, Builtin, Constraint, Dim, DimId, ElemType, Expr, ExprKind, IndexExpr, Let, LetId,
    LoopId, LoopVar, Model, Role, Size, Term, TermKind, ValueType, VarId, Variable,
};
use ppl_syntax::Span;

use super::*;

// ---------------------------------------------------------------------------------------------
// Builders of IR by hand.

fn span() -> Span {
    Span::new(0, 0)
}

fn expr(kind: ExprKind, rank: usize) -> Expr {
    Expr {
        kind,
        ty: ValueType {
            elem: ElemType::Real,
            shape: vec![Size::constant(1); rank],
        },
        span: span(),
    }
}

fn lit(value: f64) -> Expr {
    expr(ExprKind::Literal(value), 0)
}

fn bin(op: BinaryOp, lhs: Expr, rhs: Expr) -> Expr {
    let rank = lhs.ty.shape.len().max(rhs.ty.shape.len());
    expr(
        ExprKind::Binary {
            op,
            lhs: Box::new(lhs),
            rhs: Box::new(rhs),
        },
        rank,
    )
}

fn add(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Add, a, b)
}

fn mul(a: Expr, b: Expr) -> Expr {
    bin(BinaryOp::Mul, a, b)
}

fn call(function: Builtin, args: Vec<Expr>) -> Expr {
    let rank = args.first().map_or(0, |a| a.ty.shape.len());
    expr(ExprKind::Call { function, args }, rank)
}

fn index(base: Expr, indices: Vec<IndexExpr>) -> Expr {
    expr(
        ExprKind::Index {
            base: Box::new(base),
            indices,
        },
        0,
    )
}

fn single(k: f64) -> IndexExpr {
    IndexExpr::Single(lit(k))
}

fn vector(parts: Vec<Expr>) -> Expr {
    expr(ExprKind::Vector(parts), 1)
}

#[derive(Default)]
struct Builder {
    model: Model,
}

impl Builder {
    fn dim(&mut self, name: &str) -> DimId {
        let id = DimId(self.model.dims.len());
        self.model.dims.push(Dim {
            id,
            name: name.into(),
            span: span(),
        });
        id
    }

    fn variable(
        &mut self,
        name: &str,
        role: Role,
        shape: Vec<Size>,
        constraint: Constraint,
    ) -> VarId {
        let id = VarId(self.model.variables.len());
        self.model.variables.push(Variable {
            id,
            name: name.into(),
            role,
            ty: ValueType {
                elem: ElemType::Real,
                shape,
            },
            constraint,
            declared_as: String::new(),
            init: None,
            span: span(),
            name_span: span(),
            data_bound: None,
            expression_bound: None,
        });
        id
    }

    fn param(&mut self, name: &str, shape: Vec<Size>, constraint: Constraint) -> (VarId, Expr) {
        let rank = shape.len();
        let id = self.variable(name, Role::Param, shape, constraint);
        (id, expr(ExprKind::Variable(id), rank))
    }

    fn observed(&mut self, name: &str, shape: Vec<Size>) -> (VarId, Expr) {
        let rank = shape.len();
        let id = self.variable(name, Role::Observed, shape, Constraint::None);
        (id, expr(ExprKind::Variable(id), rank))
    }

    fn let_(&mut self, name: &str, value: Expr, loops: Vec<LoopId>) -> LetId {
        let id = LetId(self.model.lets.len());
        self.model.lets.push(Let {
            id,
            name: name.into(),
            value,
            depends_on_unknowns: true,
            local: false,
            loops,
            span: span(),
        });
        id
    }

    fn loop_var(&mut self, name: &str, low: Expr, high: Expr) -> (LoopId, Expr) {
        let id = LoopId(self.model.loop_vars.len());
        self.model.loop_vars.push(LoopVar {
            id,
            name: name.into(),
            low,
            high,
            span: span(),
        });
        (id, expr(ExprKind::LoopVar(id), 0))
    }

    fn tilde(&mut self, target: Expr, distribution: DistKind, args: Vec<Expr>) {
        self.tilde_in(target, distribution, args, Vec::new());
    }

    fn tilde_in(
        &mut self,
        target: Expr,
        distribution: DistKind,
        args: Vec<Expr>,
        loops: Vec<LoopId>,
    ) {
        self.model.terms.push(Term {
            kind: TermKind::Tilde {
                target,
                distribution,
                args,
            },
            loops,
            span: span(),
        });
    }

    fn factor(&mut self, value: Expr) {
        self.model.terms.push(Term {
            kind: TermKind::Factor(value),
            loops: Vec::new(),
            span: span(),
        });
    }
}

fn sizes(values: &[i64]) -> Vec<Size> {
    values.iter().map(|&v| Size::constant(v)).collect()
}

fn positive() -> Constraint {
    Constraint::Bounded {
        low: 0.0,
        high: f64::INFINITY,
        open: true,
    }
}

/// A deterministic spread of test positions.
fn position(dim: usize, seed: f64) -> Vec<f64> {
    (0..dim)
        .map(|i| ((i as f64 + 1.0) * 0.7 + seed).sin() * 0.8)
        .collect()
}

fn close(a: f64, b: f64, tolerance: f64) -> bool {
    (a - b).abs() <= tolerance * (1.0 + a.abs().max(b.abs()))
}

/// Builds the tape and checks its value against the oracle, its gradient against forward mode
/// and central finite differences; returns the tape and its value.
fn check(model: &Model, bindings: &Bindings, sampled: &[VarId], at: &[f64]) -> (Tape, f64) {
    let mut tape = Tape::new(model, bindings, sampled, Vec::new()).expect("tape builds");
    assert_eq!(tape.dim(), at.len(), "position length");
    let mut gradient = vec![0.0; at.len()];
    // A first pass at another point leaves the tape's buffers and scratch dirty, as every pass
    // but the first is in a sampler: a reverse rule that relies on freshly zeroed scratch fails
    // here (the `cholesky` rule once did, and a single-pass test never saw it).
    let elsewhere: Vec<f64> = at.iter().map(|x| 0.7 * x - 0.2).collect();
    let _ = tape.log_density_and_gradient(&elsewhere, &mut gradient);
    let value = tape
        .log_density_and_gradient(at, &mut gradient)
        .expect("finite log density");
    let value_only = tape.log_density(at).expect("finite log density");
    assert!(close(value, value_only, 1e-12), "{value} vs {value_only}");
    let layout = tape.layout().clone();
    let (oracle_value, oracle) = oracle_gradient(model, bindings, &layout, at).expect("oracle");
    assert!(
        close(value, oracle_value, 1e-10),
        "value {value} vs oracle {oracle_value}"
    );
    for (i, (g, o)) in gradient.iter().zip(&oracle).enumerate() {
        assert!(
            close(*g, *o, 1e-8),
            "coordinate {i}: tape {g} vs forward mode {o}"
        );
    }
    for i in 0..at.len() {
        let step = 1e-6 * (1.0 + at[i].abs());
        let mut shifted = at.to_vec();
        shifted[i] = at[i] + step;
        let up = log_density_oracle::<f64>(model, bindings, &layout, &shifted).unwrap();
        shifted[i] = at[i] - step;
        let down = log_density_oracle::<f64>(model, bindings, &layout, &shifted).unwrap();
        let difference = (up - down) / (2.0 * step);
        assert!(
            close(gradient[i], difference, 1e-5),
            "coordinate {i}: tape {} vs finite difference {difference}",
            gradient[i]
        );
    }
    (tape, value)
}

const LN_SQRT_2PI: f64 = 0.918_938_533_204_672_8;

fn normal_log_density(x: f64, mu: f64, sigma: f64) -> f64 {
    let z = (x - mu) / sigma;
    -0.5 * z * z - sigma.ln() - LN_SQRT_2PI
}

// ---------------------------------------------------------------------------------------------
// Values against hand computations.

#[test]
fn scalar_normal_matches_the_formula() {
    let mut b = Builder::default();
    let (x, x_expr) = b.param("x", vec![], Constraint::None);
    b.tilde(x_expr, DistKind::Normal, vec![lit(1.0), lit(2.0)]);
    let bindings = Bindings::new(&b.model, vec![]);
    let (_, value) = check(&b.model, &bindings, &[x], &[0.5]);
    assert!(close(value, normal_log_density(0.5, 1.0, 2.0), 1e-14));
}

#[test]
fn positive_parameter_adds_the_log_jacobian() {
    let mut b = Builder::default();
    let (sigma, sigma_expr) = b.param("sigma", vec![], positive());
    b.tilde(sigma_expr, DistKind::Exponential, vec![lit(2.0)]);
    let bindings = Bindings::new(&b.model, vec![]);
    let u: f64 = 0.3;
    let (_, value) = check(&b.model, &bindings, &[sigma], &[u]);
    // log(2) - 2 e^u + u (the Jacobian of exp).
    assert!(close(value, 2f64.ln() - 2.0 * u.exp() + u, 1e-14));
}

/// The mixture likelihood `x ~ Normal(mu[z], sigma[z])` with z fixed: one gather per argument
/// and one density node, whatever N.
#[test]
fn gathered_mixture_likelihood() {
    let mut b = Builder::default();
    let n = b.dim("N");
    let (x, x_expr) = b.observed("x", vec![Size::dim(n)]);
    let (z, z_expr) = b.observed("z", vec![Size::dim(n)]);
    let (mu, mu_expr) = b.param("mu", sizes(&[2]), Constraint::None);
    let (sigma, sigma_expr) = b.param("sigma", sizes(&[2]), positive());
    let mu_z = index(mu_expr, vec![IndexExpr::Gather(z_expr.clone())]);
    let sigma_z = index(sigma_expr, vec![IndexExpr::Gather(z_expr)]);
    b.tilde(x_expr, DistKind::Normal, vec![mu_z, sigma_z]);
    let data_x = vec![0.1, 2.0, -0.5, 3.1, 1.2];
    let data_z = vec![1.0, 2.0, 1.0, 2.0, 2.0];
    let mut bindings = Bindings::new(&b.model, vec![5]);
    bindings.set(x, data_x.clone());
    bindings.set(z, data_z.clone());
    let at = [0.2, 2.5, -0.1, 0.4];
    let (tape, value) = check(&b.model, &bindings, &[mu, sigma], &at);
    let sigmas = [at[2].exp(), at[3].exp()];
    let expected: f64 = data_x
        .iter()
        .zip(&data_z)
        .map(|(&xi, &zi)| {
            let k = zi as usize - 1;
            normal_log_density(xi, at[k], sigmas[k])
        })
        .sum::<f64>()
        + at[2]
        + at[3];
    assert!(close(value, expected, 1e-13));
    // Two inputs, two constants (x, z... folded into gathers' sources), two gathers, one density.
    assert!(tape.node_count() <= 7, "{} nodes", tape.node_count());
}

#[test]
fn eight_schools_non_centred() {
    let mut b = Builder::default();
    let j = b.dim("J");
    let (y, y_expr) = b.observed("y", vec![Size::dim(j)]);
    let (s, s_expr) = b.observed("sigma", vec![Size::dim(j)]);
    let (mu, mu_expr) = b.param("mu", vec![], Constraint::None);
    let (tau, tau_expr) = b.param("tau", vec![], positive());
    let (eta, eta_expr) = b.param("eta", vec![Size::dim(j)], Constraint::None);
    b.tilde(mu_expr.clone(), DistKind::Normal, vec![lit(0.0), lit(5.0)]);
    b.tilde(tau_expr.clone(), DistKind::Cauchy, vec![lit(0.0), lit(5.0)]);
    b.tilde(eta_expr.clone(), DistKind::Normal, vec![lit(0.0), lit(1.0)]);
    let theta = b.let_("theta", add(mu_expr, mul(tau_expr, eta_expr)), vec![]);
    let theta_expr = expr(ExprKind::Let(theta), 1);
    b.tilde(y_expr, DistKind::Normal, vec![theta_expr, s_expr]);
    let mut bindings = Bindings::new(&b.model, vec![8]);
    bindings.set(y, vec![28.0, 8.0, -3.0, 7.0, -1.0, 1.0, 18.0, 12.0]);
    bindings.set(s, vec![15.0, 10.0, 16.0, 11.0, 9.0, 11.0, 10.0, 18.0]);
    let at = position(10, 0.3);
    let (tape, _) = check(&b.model, &bindings, &[mu, tau, eta], &at);
    let draw = tape.constrain(&at).unwrap();
    let theta_value = &draw.lets[0].1;
    let expected = at[0] + at[1].exp() * at[2];
    assert!(close(theta_value.values[0], expected, 1e-14));
    assert_eq!(
        tape.unconstrain(&[vec![at[0]], vec![at[1].exp()], at[2..].to_vec()])
            .unwrap()
            .len(),
        10
    );
}

#[test]
fn gaussian_process_with_mv_normal() {
    for use_cholesky in [false, true] {
        let mut b = Builder::default();
        let n = b.dim("N");
        let (x, x_expr) = b.observed("x", vec![Size::dim(n)]);
        let (y, y_expr) = b.observed("y", vec![Size::dim(n)]);
        let (alpha, alpha_expr) = b.param("alpha", vec![], positive());
        let (rho, rho_expr) = b.param("rho", vec![], positive());
        let (sigma, sigma_expr) = b.param("sigma", vec![], positive());
        let n_expr = expr(ExprKind::Dim(n), 0);
        let kernel = call(Builtin::GpExpQuadCov, vec![x_expr, alpha_expr, rho_expr]);
        let noise = call(
            Builtin::Diag,
            vec![call(
                Builtin::Fill,
                vec![n_expr.clone(), call(Builtin::Square, vec![sigma_expr])],
            )],
        );
        let covariance = add(kernel, noise);
        let zeros = call(Builtin::Zeros, vec![n_expr]);
        if use_cholesky {
            let factor = call(Builtin::Cholesky, vec![covariance]);
            b.tilde(y_expr, DistKind::MvNormalCholesky, vec![zeros, factor]);
        } else {
            b.tilde(y_expr, DistKind::MvNormalCov, vec![zeros, covariance]);
        }
        let mut bindings = Bindings::new(&b.model, vec![6]);
        bindings.set(x, vec![-2.0, -1.1, 0.0, 0.7, 1.5, 3.0]);
        bindings.set(y, vec![0.3, -0.4, 0.9, 1.1, 0.2, -1.0]);
        let (tape, _) = check(
            &b.model,
            &bindings,
            &[alpha, rho, sigma],
            &[0.1, -0.2, -0.5],
        );
        assert!(tape.fallback_terms().is_empty());
    }
}

// ---------------------------------------------------------------------------------------------
// Every expression form and builtin, each as `factor sum(expression)` of parameters.

/// Makes an expression from the parameters `v`, `m` and `s`.
type MakeExpression = Box<dyn Fn(&Expr, &Expr, &Expr) -> Expr>;

fn expression_cases() -> Vec<(&'static str, MakeExpression)> {
    // v: real[3], m: real[2, 3], s: positive (all parameters).
    use Builtin as B;
    vec![
        (
            "neg",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| expr(ExprKind::Neg(Box::new(v.clone())), 1)),
        ),
        (
            "sub",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| bin(BinaryOp::Sub, m.clone(), v.clone())),
        ),
        (
            "div",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| bin(BinaryOp::Div, v.clone(), s.clone())),
        ),
        (
            "pow",
            Box::new(|_: &Expr, _: &Expr, s: &Expr| bin(BinaryOp::Pow, s.clone(), lit(2.5))),
        ),
        (
            "pow of negative base",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| bin(BinaryOp::Pow, v.clone(), lit(3.0))),
        ),
        (
            "matmul matrix-vector",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| bin(BinaryOp::MatMul, m.clone(), v.clone())),
        ),
        (
            "matmul matrix-matrix",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| {
                bin(
                    BinaryOp::MatMul,
                    m.clone(),
                    call(B::Transpose, vec![m.clone()]),
                )
            }),
        ),
        (
            "comparison and if",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| {
                expr(
                    ExprKind::If {
                        cond: Box::new(bin(BinaryOp::Gt, v.clone(), lit(0.0))),
                        then: Box::new(mul(v.clone(), s.clone())),
                        otherwise: Box::new(call(B::Exp, vec![v.clone()])),
                    },
                    1,
                )
            }),
        ),
        (
            "vector literal",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| {
                vector(vec![
                    index(v.clone(), vec![single(2.0)]),
                    s.clone(),
                    lit(3.0),
                ])
            }),
        ),
        (
            "slice",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| {
                index(
                    m.clone(),
                    vec![
                        IndexExpr::All,
                        IndexExpr::Slice {
                            low: lit(2.0),
                            high: lit(3.0),
                        },
                    ],
                )
            }),
        ),
        (
            "gather by range",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| {
                let range = expr(
                    ExprKind::Range {
                        low: Box::new(lit(2.0)),
                        high: Box::new(lit(3.0)),
                    },
                    1,
                );
                index(v.clone(), vec![IndexExpr::Gather(range)])
            }),
        ),
        (
            "gather repeated",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| {
                index(
                    v.clone(),
                    vec![IndexExpr::Gather(vector(vec![
                        lit(3.0),
                        lit(1.0),
                        lit(3.0),
                    ]))],
                )
            }),
        ),
        (
            "single index of a matrix",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| {
                index(m.clone(), vec![single(2.0), single(1.0)])
            }),
        ),
        (
            "dot",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| {
                call(B::Dot, vec![v.clone(), index(m.clone(), vec![single(1.0)])])
            }),
        ),
        (
            "mean",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::Mean, vec![v.clone()])),
        ),
        (
            "sd",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::Sd, vec![v.clone()])),
        ),
        (
            "prod",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::Prod, vec![v.clone()])),
        ),
        (
            "softmax",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| {
                mul(
                    call(B::Softmax, vec![m.clone()]),
                    vector(vec![lit(1.0), lit(-2.0), lit(0.5)]),
                )
            }),
        ),
        (
            "log_softmax",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| {
                mul(
                    call(B::LogSoftmax, vec![m.clone()]),
                    vector(vec![lit(1.0), lit(2.0), lit(0.5)]),
                )
            }),
        ),
        (
            "log_sum_exp",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| call(B::LogSumExp, vec![m.clone()])),
        ),
        (
            "min of all",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::Min, vec![v.clone()])),
        ),
        (
            "max of all",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::Max, vec![v.clone()])),
        ),
        (
            "elementwise max",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| call(B::Max, vec![v.clone(), s.clone()])),
        ),
        (
            "elementwise min",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| call(B::Min, vec![v.clone(), s.clone()])),
        ),
        (
            "fill",
            Box::new(|_: &Expr, _: &Expr, s: &Expr| call(B::Fill, vec![lit(3.0), s.clone()])),
        ),
        (
            "rows and cols",
            Box::new(|_: &Expr, m: &Expr, s: &Expr| {
                mul(
                    s.clone(),
                    add(
                        call(B::Rows, vec![m.clone()]),
                        call(B::Cols, vec![m.clone()]),
                    ),
                )
            }),
        ),
        (
            "transpose",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| {
                bin(
                    BinaryOp::MatMul,
                    v.clone(),
                    call(B::Transpose, vec![m.clone()]),
                )
            }),
        ),
        (
            "rowsum",
            Box::new(|_: &Expr, m: &Expr, _: &Expr| {
                mul(
                    call(B::Rowsum, vec![m.clone()]),
                    vector(vec![lit(1.0), lit(-3.0)]),
                )
            }),
        ),
        (
            "colsum",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| {
                mul(call(B::Colsum, vec![m.clone()]), v.clone())
            }),
        ),
        (
            "colmean",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| {
                mul(call(B::Colmean, vec![m.clone()]), v.clone())
            }),
        ),
        (
            "cbind",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| {
                let bound = call(
                    B::Cbind,
                    vec![v.clone(), call(B::Transpose, vec![m.clone()])],
                );
                bin(
                    BinaryOp::MatMul,
                    bound,
                    vector(vec![lit(1.0), lit(2.0), lit(-1.0)]),
                )
            }),
        ),
        (
            "rbind",
            Box::new(|v: &Expr, m: &Expr, _: &Expr| {
                let bound = call(B::Rbind, vec![m.clone(), v.clone()]);
                bin(
                    BinaryOp::MatMul,
                    bound,
                    vector(vec![lit(1.0), lit(2.0), lit(-1.0)]),
                )
            }),
        ),
        (
            "reverse",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| {
                mul(
                    call(B::Reverse, vec![v.clone()]),
                    vector(vec![lit(1.0), lit(2.0), lit(3.0)]),
                )
            }),
        ),
        (
            "diag and cholesky",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| {
                let spd = add(
                    call(B::Diag, vec![call(B::Exp, vec![v.clone()])]),
                    mul(s.clone(), lit(0.1)),
                );
                mul(call(B::Cholesky, vec![spd]), lit(1.5))
            }),
        ),
        (
            "gp_exp_quad_cov of unknown points",
            Box::new(|v: &Expr, _: &Expr, s: &Expr| {
                call(B::GpExpQuadCov, vec![v.clone(), s.clone(), lit(1.3)])
            }),
        ),
        (
            "quantile (a call node, reverse rule by forward mode)",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::Quantile, vec![v.clone(), lit(0.3)])),
        ),
        (
            "leaky_relu with slope",
            Box::new(|v: &Expr, _: &Expr, _: &Expr| call(B::LeakyRelu, vec![v.clone(), lit(0.2)])),
        ),
    ]
}

fn elementwise_builtins() -> Vec<Builtin> {
    use Builtin as B;
    vec![
        B::Exp,
        B::Log,
        B::Log10,
        B::Log1p,
        B::Expm1,
        B::Sqrt,
        B::Square,
        B::Abs,
        B::Sin,
        B::Cos,
        B::Tanh,
        B::Sigmoid,
        B::Logit,
        B::Softplus,
        B::Relu,
        B::LeakyRelu,
        B::Lgamma,
        B::Digamma,
    ]
}

#[test]
fn every_expression_form_differentiates_like_the_oracle() {
    let mut cases = expression_cases();
    for builtin in elementwise_builtins() {
        // Positive arguments in (0, 1) suit every function (log, sqrt, logit, lgamma).
        cases.push((
            builtin.name(),
            Box::new(move |v: &Expr, _: &Expr, _: &Expr| {
                call(builtin, vec![call(Builtin::Sigmoid, vec![v.clone()])])
            }),
        ));
    }
    for (name, make) in cases {
        let mut b = Builder::default();
        let (v, v_expr) = b.param("v", sizes(&[3]), Constraint::None);
        let (m, m_expr) = b.param("m", sizes(&[2, 3]), Constraint::None);
        let (s, s_expr) = b.param("s", vec![], positive());
        b.factor(call(Builtin::Sum, vec![make(&v_expr, &m_expr, &s_expr)]));
        let bindings = Bindings::new(&b.model, vec![]);
        let at = position(10, 1.1);
        let outcome = std::panic::catch_unwind(|| check(&b.model, &bindings, &[v, m, s], &at));
        let (tape, _) = outcome.unwrap_or_else(|_| panic!("case `{name}` failed"));
        if !name.contains("fallback") {
            assert!(tape.fallback_terms().is_empty(), "case `{name}` fell back");
        } else {
            assert_eq!(tape.fallback_terms(), &[0]);
        }
    }
}

#[test]
fn comprehension_loops_and_lets_in_loops() {
    // for n in 1..N { let m = mu * w[n]; x[n] ~ Normal(m, s) }, plus a comprehension and a
    // reference to the whole looped let outside the loop.
    let mut b = Builder::default();
    let n = b.dim("N");
    let (x, x_expr) = b.observed("x", vec![Size::dim(n)]);
    let (w, w_expr) = b.observed("w", vec![Size::dim(n)]);
    let (mu, mu_expr) = b.param("mu", vec![], Constraint::None);
    let (s, s_expr) = b.param("s", vec![], positive());
    let n_expr = expr(ExprKind::Dim(n), 0);
    let (loop_n, n_var) = b.loop_var("n", lit(1.0), n_expr.clone());
    let m = b.let_(
        "m",
        mul(
            mu_expr.clone(),
            index(w_expr, vec![IndexExpr::Single(n_var.clone())]),
        ),
        vec![loop_n],
    );
    b.tilde_in(
        index(x_expr, vec![IndexExpr::Single(n_var)]),
        DistKind::Normal,
        vec![expr(ExprKind::Let(m), 0), s_expr.clone()],
        vec![loop_n],
    );
    let (loop_k, k_var) = b.loop_var("k", lit(1.0), lit(3.0));
    let comprehension = expr(
        ExprKind::Comprehension {
            body: Box::new(mul(k_var, mu_expr)),
            var: loop_k,
        },
        1,
    );
    b.factor(call(
        Builtin::Sum,
        vec![call(Builtin::Sin, vec![comprehension])],
    ));
    b.factor(call(
        Builtin::Sum,
        vec![mul(expr(ExprKind::Let(m), 1), s_expr)],
    ));
    let mut bindings = Bindings::new(&b.model, vec![4]);
    bindings.set(x, vec![0.5, -0.3, 1.2, 0.0]);
    bindings.set(w, vec![1.0, 2.0, -1.0, 0.5]);
    let at = [0.4, -0.2];
    let (tape, value) = check(&b.model, &bindings, &[mu, s], &at);
    let (mu_value, s_value) = (at[0], at[1].exp());
    let weights = [1.0, 2.0, -1.0, 0.5];
    let xs = [0.5, -0.3, 1.2, 0.0];
    let likelihood: f64 = xs
        .iter()
        .zip(&weights)
        .map(|(x, w)| normal_log_density(*x, mu_value * w, s_value))
        .sum();
    let comprehension_sum: f64 = (1..=3).map(|k| (k as f64 * mu_value).sin()).sum();
    let let_sum: f64 = weights.iter().map(|w| mu_value * w * s_value).sum();
    assert!(close(
        value,
        likelihood + comprehension_sum + let_sum + at[1],
        1e-13
    ));
    assert_eq!(tape.constrain(&at).unwrap().lets[0].1.shape, vec![4]);
}

// ---------------------------------------------------------------------------------------------
// Distributions.

#[test]
fn every_scalar_distribution() {
    use DistKind as K;
    // (kind, variate: Some(data value) or None for a parameter with this constraint, params:
    // (initial unconstrained value, constraint) each; Binomial's n is data.)
    let unit = Constraint::Bounded {
        low: 0.0,
        high: 1.0,
        open: true,
    };
    let cases: Vec<(DistKind, Option<f64>, Constraint, Vec<Constraint>)> = vec![
        (
            K::Normal,
            None,
            Constraint::None,
            vec![Constraint::None, positive()],
        ),
        (K::HalfNormal, None, positive(), vec![positive()]),
        (
            K::LogNormal,
            None,
            positive(),
            vec![Constraint::None, positive()],
        ),
        (
            K::StudentT,
            None,
            Constraint::None,
            vec![positive(), Constraint::None, positive()],
        ),
        (
            K::Cauchy,
            None,
            Constraint::None,
            vec![Constraint::None, positive()],
        ),
        (K::HalfCauchy, None, positive(), vec![positive()]),
        (
            K::Laplace,
            None,
            Constraint::None,
            vec![Constraint::None, positive()],
        ),
        (K::Exponential, None, positive(), vec![positive()]),
        (K::Gamma, None, positive(), vec![positive(), positive()]),
        (K::InvGamma, None, positive(), vec![positive(), positive()]),
        (K::Beta, None, unit.clone(), vec![positive(), positive()]),
        (K::Weibull, None, positive(), vec![positive(), positive()]),
        (
            K::Bernoulli,
            Some(1.0),
            Constraint::None,
            vec![unit.clone()],
        ),
        (
            K::BernoulliLogit,
            Some(0.0),
            Constraint::None,
            vec![Constraint::None],
        ),
        (K::Poisson, Some(3.0), Constraint::None, vec![positive()]),
        (
            K::PoissonLog,
            Some(2.0),
            Constraint::None,
            vec![Constraint::None],
        ),
        (
            K::NegBinomial,
            Some(4.0),
            Constraint::None,
            vec![positive(), positive()],
        ),
    ];
    for (kind, data, variate_constraint, params) in cases {
        let mut b = Builder::default();
        let mut sampled = Vec::new();
        let mut bindings_values = Vec::new();
        let variate = match data {
            Some(value) => {
                let (id, e) = b.observed("x", sizes(&[2]));
                bindings_values.push((id, vec![value, value.min(1.0)]));
                e
            }
            None => {
                let (id, e) = b.param("x", sizes(&[2]), variate_constraint);
                sampled.push(id);
                e
            }
        };
        let mut args = Vec::new();
        for (k, constraint) in params.into_iter().enumerate() {
            let (id, e) = b.param(&format!("p{k}"), vec![], constraint);
            sampled.push(id);
            args.push(e);
        }
        b.tilde(variate, kind, args);
        let mut bindings = Bindings::new(&b.model, vec![]);
        for (id, values) in bindings_values {
            bindings.set(id, values);
        }
        let dim = Tape::new(&b.model, &bindings, &sampled, Vec::new())
            .unwrap()
            .dim();
        let at = position(dim, 0.4);
        let outcome = std::panic::catch_unwind(|| check(&b.model, &bindings, &sampled, &at));
        assert!(outcome.is_ok(), "{kind:?} failed");
    }
    // Uniform and Binomial: bounds and n as data.
    let mut b = Builder::default();
    let (x, x_expr) = b.param(
        "x",
        vec![],
        Constraint::Bounded {
            low: -1.0,
            high: 2.0,
            open: false,
        },
    );
    b.tilde(x_expr, DistKind::Uniform, vec![lit(-1.0), lit(2.0)]);
    let (p, p_expr) = b.param("p", vec![], unit.clone());
    let (k, k_expr) = b.observed("k", vec![]);
    b.tilde(k_expr.clone(), DistKind::Binomial, vec![lit(10.0), p_expr]);
    let (eta, eta_expr) = b.param("eta", vec![], Constraint::None);
    b.tilde(k_expr, DistKind::BinomialLogit, vec![lit(10.0), eta_expr]);
    let mut bindings = Bindings::new(&b.model, vec![]);
    bindings.set(k, vec![3.0]);
    check(&b.model, &bindings, &[x, p, eta], &[0.3, -0.2, 0.5]);
}

#[test]
fn every_multivariate_distribution() {
    let mut b = Builder::default();
    let (z, z_expr) = b.observed("z", sizes(&[4]));
    let (counts, counts_expr) = b.observed("counts", sizes(&[3]));
    let (p, p_expr) = b.param("p", sizes(&[3]), Constraint::Simplex);
    let (logits, logits_expr) = b.param("logits", sizes(&[2, 3]), Constraint::None);
    let (alpha, alpha_expr) = b.param("alpha", sizes(&[3]), positive());
    let (x, x_expr) = b.param("x", sizes(&[2, 3]), Constraint::None);
    let (mu, mu_expr) = b.param("mu", sizes(&[3]), Constraint::None);
    let (cov, cov_expr) = b.param("cov", sizes(&[3, 3]), Constraint::Cov);
    let (corr, corr_expr) = b.param("L", sizes(&[3, 3]), Constraint::CorrCholesky);
    let (eta, eta_expr) = b.param("eta", vec![], positive());
    b.tilde(z_expr.clone(), DistKind::Categorical, vec![p_expr.clone()]);
    // A batch of 4 variates against 2 logit rows does not broadcast; use the first two.
    let first_two = index(
        z_expr,
        vec![IndexExpr::Slice {
            low: lit(1.0),
            high: lit(2.0),
        }],
    );
    b.tilde(first_two, DistKind::CategoricalLogits, vec![logits_expr]);
    b.tilde(p_expr.clone(), DistKind::Dirichlet, vec![alpha_expr]);
    b.tilde(counts_expr, DistKind::Multinomial, vec![p_expr]);
    b.tilde(
        x_expr.clone(),
        DistKind::MvNormalCov,
        vec![mu_expr.clone(), cov_expr],
    );
    let scales = call(
        Builtin::Diag,
        vec![vector(vec![lit(1.5), lit(0.7), lit(2.0)])],
    );
    let factor = bin(BinaryOp::MatMul, scales, corr_expr.clone());
    b.tilde(x_expr, DistKind::MvNormalCholesky, vec![mu_expr, factor]);
    b.tilde(corr_expr, DistKind::LkjCholesky, vec![eta_expr]);
    let mut bindings = Bindings::new(&b.model, vec![]);
    bindings.set(z, vec![1.0, 3.0, 2.0, 3.0]);
    bindings.set(counts, vec![2.0, 0.0, 5.0]);
    let sampled = [p, logits, alpha, x, mu, cov, corr, eta];
    let dim = Tape::new(&b.model, &bindings, &sampled, Vec::new())
        .unwrap()
        .dim();
    assert_eq!(dim, 2 + 6 + 3 + 6 + 3 + 6 + 3 + 1);
    check(&b.model, &bindings, &sampled, &position(dim, 0.9));
}

// ---------------------------------------------------------------------------------------------
// Constraints.

#[test]
fn every_constraint_round_trips_and_differentiates() {
    let constraints = vec![
        (Constraint::None, vec![3]),
        (positive(), vec![3]),
        (
            Constraint::Bounded {
                low: f64::NEG_INFINITY,
                high: 2.0,
                open: true,
            },
            vec![3],
        ),
        (
            Constraint::Bounded {
                low: -1.0,
                high: 4.0,
                open: false,
            },
            vec![3],
        ),
        (Constraint::Simplex, vec![2, 4]),
        (Constraint::Ordered, vec![4]),
        (Constraint::PositiveOrdered, vec![4]),
        (Constraint::CorrCholesky, vec![3, 3]),
        (Constraint::Cov, vec![2, 3, 3]),
    ];
    for (constraint, shape) in constraints {
        let mut b = Builder::default();
        let shape_sizes: Vec<i64> = shape.iter().map(|&s| s as i64).collect();
        let (v, v_expr) = b.param("v", sizes(&shape_sizes), constraint.clone());
        // A smooth, non-linear function of every element.
        b.factor(call(
            Builtin::Sum,
            vec![call(Builtin::Sin, vec![mul(v_expr, lit(1.3))])],
        ));
        let bindings = Bindings::new(&b.model, vec![]);
        let tape = Tape::new(&b.model, &bindings, &[v], Vec::new()).unwrap();
        let at = position(tape.dim(), 0.2);
        check(&b.model, &bindings, &[v], &at);
        let draw = tape.constrain(&at).unwrap();
        let values = draw.variables[0].1.values.clone();
        let back = tape.unconstrain(std::slice::from_ref(&values)).unwrap();
        for (a, b) in back.iter().zip(&at) {
            assert!(close(*a, *b, 1e-9), "{constraint:?}: {a} vs {b}");
        }
        match constraint {
            Constraint::Simplex => {
                for row in values.chunks(4) {
                    assert!(close(row.iter().sum(), 1.0, 1e-14));
                    assert!(row.iter().all(|&p| p > 0.0));
                }
            }
            Constraint::Ordered | Constraint::PositiveOrdered => {
                assert!(values.windows(2).all(|w| w[0] < w[1]));
            }
            Constraint::CorrCholesky => {
                for row in values.chunks(3) {
                    assert!(close(row.iter().map(|v| v * v).sum(), 1.0, 1e-14));
                }
            }
            Constraint::Bounded { low, high, .. } => {
                assert!(values.iter().all(|&x| x > low && x < high));
            }
            _ => {}
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Errors.

#[test]
fn a_non_finite_term_is_named() {
    let mut b = Builder::default();
    let (x, x_expr) = b.param("x", vec![], Constraint::None);
    b.tilde(x_expr.clone(), DistKind::Normal, vec![lit(0.0), lit(1.0)]);
    b.tilde(x_expr, DistKind::Normal, vec![lit(0.0), lit(-1.0)]);
    let bindings = Bindings::new(&b.model, vec![]);
    let labels = vec![
        "x ~ Normal(0, 1)".to_string(),
        "x ~ Normal(0, -1)".to_string(),
    ];
    let mut tape = Tape::new(&b.model, &bindings, &[x], labels).unwrap();
    let mut gradient = [0.0];
    let error = tape
        .log_density_and_gradient(&[0.1], &mut gradient)
        .unwrap_err();
    assert_eq!(
        error,
        LogDensityError::NotFinite {
            term: Some("x ~ Normal(0, -1)".into()),
            term_index: Some(1)
        }
    );
}

#[test]
fn an_index_out_of_range_in_data_is_a_build_error_with_its_span() {
    let mut b = Builder::default();
    let (x, x_expr) = b.observed("x", sizes(&[3]));
    let (z, z_expr) = b.observed("z", sizes(&[3]));
    let (mu, mu_expr) = b.param("mu", sizes(&[2]), Constraint::None);
    let mut gather = z_expr;
    gather.span = Span::new(10, 11);
    b.tilde(
        x_expr,
        DistKind::Normal,
        vec![index(mu_expr, vec![IndexExpr::Gather(gather)]), lit(1.0)],
    );
    let mut bindings = Bindings::new(&b.model, vec![]);
    bindings.set(x, vec![0.0, 1.0, 2.0]);
    bindings.set(z, vec![1.0, 3.0, 2.0]);
    let error = Tape::new(&b.model, &bindings, &[mu], Vec::new())
        .err()
        .unwrap();
    assert!(matches!(
        error,
        TapeError::IndexOutOfRange {
            index: 3,
            length: 2,
            ..
        }
    ));
    assert_eq!(error.span(), Some(Span::new(10, 11)));
    // Wrong data lengths are reported, not panics.
    bindings.set(z, vec![1.0]);
    assert!(matches!(
        Tape::new(&b.model, &bindings, &[mu], Vec::new()),
        Err(TapeError::WrongLength { .. })
    ));
}

// ---------------------------------------------------------------------------------------------
// Builtin semantics on data, against hand-computed values (the tape reuses these for its
// rearrangements, so gradient checks alone would not catch a wrong orientation).

fn evaluate(value: Expr) -> Array<f64> {
    let model = Model::default();
    let mut evaluator = super::eval::Evaluator::<f64>::new(&model, &[], Vec::new());
    evaluator.eval(&value).expect("evaluates")
}

fn row(values: &[f64]) -> Expr {
    vector(values.iter().map(|&v| lit(v)).collect())
}

/// [[1, 2, 3], [4, 5, 6]]
fn matrix() -> Expr {
    vector(vec![row(&[1.0, 2.0, 3.0]), row(&[4.0, 5.0, 6.0])])
}

#[test]
fn builtins_compute_what_the_language_says() {
    use Builtin as B;
    let cases: Vec<(Expr, Vec<usize>, Vec<f64>)> = vec![
        (
            call(B::Transpose, vec![matrix()]),
            vec![3, 2],
            vec![1.0, 4.0, 2.0, 5.0, 3.0, 6.0],
        ),
        (
            call(B::Cbind, vec![row(&[7.0, 8.0]), matrix()]),
            vec![2, 4],
            vec![7.0, 1.0, 2.0, 3.0, 8.0, 4.0, 5.0, 6.0],
        ),
        (
            call(B::Rbind, vec![matrix(), row(&[7.0, 8.0, 9.0])]),
            vec![3, 3],
            vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0, 9.0],
        ),
        (call(B::Rowsum, vec![matrix()]), vec![2], vec![6.0, 15.0]),
        (
            call(B::Colsum, vec![matrix()]),
            vec![3],
            vec![5.0, 7.0, 9.0],
        ),
        (
            call(B::Colmean, vec![matrix()]),
            vec![3],
            vec![2.5, 3.5, 4.5],
        ),
        (
            call(B::Reverse, vec![row(&[1.0, 2.0, 3.0])]),
            vec![3],
            vec![3.0, 2.0, 1.0],
        ),
        (
            call(B::Diag, vec![row(&[1.0, 2.0])]),
            vec![2, 2],
            vec![1.0, 0.0, 0.0, 2.0],
        ),
        (
            call(B::Fill, vec![lit(2.0), lit(1.5)]),
            vec![2],
            vec![1.5, 1.5],
        ),
        (
            call(B::Zeros, vec![lit(2.0), lit(1.0)]),
            vec![2, 1],
            vec![0.0, 0.0],
        ),
        (
            call(B::Sd, vec![row(&[1.0, 2.0, 3.0, 4.0])]),
            vec![],
            vec![(5.0f64 / 3.0).sqrt()],
        ),
        (
            call(B::Quantile, vec![row(&[4.0, 1.0, 3.0, 2.0]), lit(0.5)]),
            vec![],
            vec![2.5],
        ),
        (
            call(
                B::Quantile,
                vec![row(&[4.0, 1.0, 3.0, 2.0]), row(&[0.0, 0.9])],
            ),
            vec![2],
            vec![1.0, 3.7],
        ),
        (call(B::Prod, vec![matrix()]), vec![], vec![720.0]),
        (call(B::Max, vec![matrix()]), vec![], vec![6.0]),
        (
            call(B::LogSumExp, vec![row(&[0.0, 0.0])]),
            vec![],
            vec![2f64.ln()],
        ),
        (
            call(B::Softmax, vec![row(&[0.0, 2f64.ln()])]),
            vec![2],
            vec![1.0 / 3.0, 2.0 / 3.0],
        ),
        (
            call(
                B::Cholesky,
                vec![vector(vec![row(&[4.0, 2.0]), row(&[2.0, 5.0])])],
            ),
            vec![2, 2],
            vec![2.0, 0.0, 1.0, 2.0],
        ),
        (
            call(B::GpExpQuadCov, vec![row(&[0.0, 1.0]), lit(2.0), lit(0.5)]),
            vec![2, 2],
            vec![4.0, 4.0 * (-2.0f64).exp(), 4.0 * (-2.0f64).exp(), 4.0],
        ),
        (
            bin(BinaryOp::MatMul, matrix(), row(&[1.0, 0.0, -1.0])),
            vec![2],
            vec![-2.0, -2.0],
        ),
        (bin(BinaryOp::Pow, lit(-2.0), lit(3.0)), vec![], vec![-8.0]),
        (
            bin(BinaryOp::Le, row(&[1.0, 2.0]), lit(1.0)),
            vec![2],
            vec![1.0, 0.0],
        ),
        (
            index(
                matrix(),
                vec![IndexExpr::Gather(row(&[2.0, 2.0, 1.0])), single(3.0)],
            ),
            vec![3],
            vec![6.0, 6.0, 3.0],
        ),
        (
            add(matrix(), row(&[10.0, 20.0, 30.0])),
            vec![2, 3],
            vec![11.0, 22.0, 33.0, 14.0, 25.0, 36.0],
        ),
    ];
    for (value, shape, expected) in cases {
        let result = evaluate(value.clone());
        assert_eq!(result.shape, shape, "{value:?}");
        for (a, b) in result.values.iter().zip(&expected) {
            assert!(close(*a, *b, 1e-14), "{a} vs {b} in {value:?}");
        }
        assert_eq!(result.values.len(), expected.len());
    }
}

#[test]
fn fixed_discrete_latents_and_clones() {
    // z is a latent held fixed (not sampled): it is data to the tape.
    let mut b = Builder::default();
    let (x, x_expr) = b.observed("x", sizes(&[3]));
    let z = b.variable("z", Role::Latent, sizes(&[3]), Constraint::None);
    let z_expr = expr(ExprKind::Variable(z), 1);
    let (mu, mu_expr) = b.param("mu", sizes(&[2]), Constraint::None);
    let gathered = index(mu_expr, vec![IndexExpr::Gather(z_expr)]);
    b.tilde(x_expr, DistKind::Normal, vec![gathered, lit(1.0)]);
    let mut bindings = Bindings::new(&b.model, vec![]);
    bindings.set(x, vec![0.0, 1.0, 2.0]);
    bindings.set(z, vec![2.0, 2.0, 1.0]);
    let (tape, value) = check(&b.model, &bindings, &[mu], &[0.5, 1.5]);
    let expected = normal_log_density(0.0, 1.5, 1.0)
        + normal_log_density(1.0, 1.5, 1.0)
        + normal_log_density(2.0, 0.5, 1.0);
    assert!(close(value, expected, 1e-14));
    // Clones evaluate independently (one per chain).
    let mut first = tape.clone();
    let mut second = tape;
    let a = first.log_density(&[0.0, 0.0]).unwrap();
    let b_value = second.log_density(&[0.5, 1.5]).unwrap();
    assert!(close(b_value, expected, 1e-14));
    assert!(close(first.log_density(&[0.0, 0.0]).unwrap(), a, 0.0));
}

#[test]
fn constraint_errors_are_reported() {
    let mut b = Builder::default();
    let (p, p_expr) = b.param("p", sizes(&[3]), Constraint::Simplex);
    b.factor(call(Builtin::Sum, vec![p_expr]));
    let bindings = Bindings::new(&b.model, vec![]);
    let tape = Tape::new(&b.model, &bindings, &[p], Vec::new()).unwrap();
    assert!(matches!(
        tape.unconstrain(&[vec![0.5, 0.6, 0.2]]),
        Err(TapeError::Constraint { .. })
    ));
    assert!(matches!(
        tape.unconstrain(&[vec![0.5, 0.5]]),
        Err(TapeError::WrongLength { .. })
    ));
    let mut b = Builder::default();
    let empty_interval = Constraint::Bounded {
        low: 1.0,
        high: 1.0,
        open: false,
    };
    let (q, _) = b.param("q", vec![], empty_interval);
    let bindings = Bindings::new(&b.model, vec![]);
    assert!(matches!(
        Tape::new(&b.model, &bindings, &[q], Vec::new()),
        Err(TapeError::Constraint { .. })
    ));
    // An observed variable cannot be sampled.
    let mut b = Builder::default();
    let (y, _) = b.observed("y", vec![]);
    let bindings = Bindings::new(&b.model, vec![]);
    assert!(matches!(
        Tape::new(&b.model, &bindings, &[y], Vec::new()),
        Err(TapeError::NotSampleable { .. })
    ));
}

#[test]
fn without_jacobian_is_the_density_on_the_constrained_scale() {
    // x: positive, x ~ Gamma(2, 1): without the Jacobian, log p = ln x - x (+ const) with x = e^u,
    // so d/du = (1/x - 1) x = 1 - x; with it, log|J| = u is added and d/du = 2 - x.
    let mut b = Builder::default();
    let (x, target) = b.param("x", vec![], positive());
    b.tilde(target, DistKind::Gamma, vec![lit(2.0), lit(1.0)]);
    let bindings = Bindings::new(&b.model, vec![]);
    let with = Tape::new(&b.model, &bindings, &[x], Vec::new()).unwrap();
    let mut without = with.clone().without_jacobian();
    let mut with = with;
    let u = 0.3_f64;
    let mut gradient = [0.0];
    let value = without
        .log_density_and_gradient(&[u], &mut gradient)
        .unwrap();
    let x_value = u.exp();
    assert!((value - (x_value.ln() - x_value)).abs() < 1e-12);
    assert!((gradient[0] - (1.0 - x_value)).abs() < 1e-12);
    let value_with = with.log_density_and_gradient(&[u], &mut gradient).unwrap();
    assert!((value_with - value - u).abs() < 1e-12);
    assert!((gradient[0] - (2.0 - x_value)).abs() < 1e-12);
}
