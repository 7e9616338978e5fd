//! Recognising a variational autoencoder in a model (LANGUAGE.md §6 rule 3, `--method vae`) and
//! building the VAE engine's problem from it.
//!
//! The recognised form, by structure rather than names (a library model is inlined under a
//! prefix):
//! ```text
//! latent z: real[N, L]
//! net encoder = mlp(D, ..., 2L, act = ...)
//! net decoder = mlp(L, ..., D, act = ...)
//! z ~ Normal(0, 1)
//! x ~ Bernoulli(logit = decoder(z))        # or x ~ Normal(decoder(z), sigma), sigma a number
//!                                          # or a scalar `param sigma: positive`, learned
//! let h = encoder(x)                       # or the call written inline in the guide
//! guide z ~ Normal(h[.., 1:L], exp(c * h[.., L+1:2L]))
//! ```
//! where `x` is an observed `[N, D]` matrix or a `let` of data only (`let x = pixel > 7`). Anything
//! else is [`NotAVae`] with the reason and the statement it concerns.

use nalgebra::DMatrix;
use ppl_dist::DistKind;
use ppl_infer::vae::{NetShape, VaeLikelihood, VaeProblem};
use ppl_ir::{BinaryOp, ElemType, Expr, ExprKind, IndexExpr, Model, Role, TermKind, VarId};
use ppl_nn::Activation;
use ppl_syntax::Span;

use crate::BoundData;
use crate::mixture::let_of_data;

/// A recognised VAE, with the data it is trained on.
#[derive(Clone, Debug, PartialEq)]
pub struct VaeSpec {
    /// The latent code `z`.
    pub latent_variable: VarId,
    pub latent: usize,
    /// Indices into `model.nets`.
    pub encoder_net: usize,
    pub decoder_net: usize,
    pub encoder: NetShape,
    pub decoder: NetShape,
    /// `c` in the guide's scale `exp(c · h[.., L+1:2L])`.
    pub log_scale_factor: f64,
    pub likelihood: VaeLikelihood,
    /// The name under the `~` (`x`): the generated columns are `x.1`, `x.2`, ...
    pub data_name: String,
    /// The data rows `[N, D]`, row-major, after the `let`s.
    pub rows: usize,
    pub width: usize,
    pub values: Vec<f64>,
}

/// Why a model is not the VAE form, with the statement responsible when there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct NotAVae {
    pub reason: String,
    pub span: Option<Span>,
}

impl NotAVae {
    fn at(span: Span, reason: impl Into<String>) -> Self {
        NotAVae {
            reason: reason.into(),
            span: Some(span),
        }
    }
}

impl std::fmt::Display for NotAVae {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// Where the data under the likelihood `~` comes from.
#[derive(Clone, Copy, PartialEq, Debug)]
enum DataSource {
    Variable(VarId),
    Let(ppl_ir::LetId),
}

/// Recognises the VAE form, or says why the model is not one.
pub fn recognise(model: &Model, bound: &BoundData) -> Result<VaeSpec, NotAVae> {
    let [guide] = model.guides.as_slice() else {
        let span = model.guides.get(1).map(|g| g.span);
        return Err(NotAVae {
            reason: if model.guides.is_empty() {
                "there is no `guide` statement".into()
            } else {
                "more than one `guide` statement: the VAE has one, for its latent code".into()
            },
            span,
        });
    };
    let ExprKind::Variable(z) = guide.target.kind else {
        return Err(NotAVae::at(
            guide.span,
            "the guide is not on a whole latent variable",
        ));
    };
    let z_var = &model.variables[z.0];
    let z_shape = bound.shape(&z_var.ty.shape);
    if z_var.role != Role::Latent || z_var.ty.elem != ElemType::Real || z_shape.len() != 2 {
        return Err(NotAVae::at(
            z_var.span,
            format!(
                "the guided `{}` is not a real latent matrix `real[N, L]`",
                z_var.name
            ),
        ));
    }
    let (rows, latent) = (z_shape[0], z_shape[1]);
    // A scalar positive param may be the Normal likelihood's sd (checked there).
    let noise_param = |v: &ppl_ir::Variable| {
        v.role == Role::Param
            && v.ty.elem == ElemType::Real
            && v.ty.shape.is_empty()
            && matches!(v.constraint, ppl_ir::Constraint::Bounded { low, high, .. } if low == 0.0 && high == f64::INFINITY)
    };
    if let Some(other) = model.unknowns().find(|v| v.id != z && !noise_param(v)) {
        return Err(NotAVae::at(
            other.span,
            format!(
                "`{}` is an unknown besides the latent code `{}`: the VAE's only params are its nets' weights",
                other.name, z_var.name
            ),
        ));
    }
    // The guide: Normal(h[.., 1:L], exp(c * h[.., L+1:2L])).
    let (DistKind::Normal, [mean_arg, scale_arg]) = (guide.distribution, guide.args.as_slice())
    else {
        return Err(NotAVae::at(
            guide.span,
            "the guide is not `Normal(mean, sd)` with both from an encoder net",
        ));
    };
    let (encoder_net, encoder_input, mean_range) = net_slice(model, mean_arg).ok_or_else(|| {
        NotAVae::at(
            mean_arg.span,
            "the guide's mean is not a column slice `h[.., 1:L]` of an encoder net's output",
        )
    })?;
    let (log_scale_factor, scale_inner) = exp_of_scaled(scale_arg).ok_or_else(|| {
        NotAVae::at(
            scale_arg.span,
            "the guide's sd is not `exp(c * h[.., L+1:2L])` of the encoder's output",
        )
    })?;
    let (scale_net, scale_input, scale_range) = net_slice(model, scale_inner).ok_or_else(|| {
        NotAVae::at(
            scale_arg.span,
            "the guide's sd is not `exp(c * h[.., L+1:2L])` of the encoder's output",
        )
    })?;
    if scale_net != encoder_net || scale_input != encoder_input {
        return Err(NotAVae::at(
            scale_arg.span,
            "the guide's mean and sd come from different nets or inputs",
        ));
    }
    if mean_range != (1, latent) || scale_range != (latent + 1, 2 * latent) {
        return Err(NotAVae::at(
            guide.span,
            format!(
                "the guide must take the mean from columns 1:{latent} and the scale from columns {}:{} of the encoder output",
                latent + 1,
                2 * latent
            ),
        ));
    }
    // The terms: the prior on z and the likelihood through the decoder.
    let mut prior = false;
    let mut likelihood = None;
    let mut learned_sigma: Option<VarId> = None;
    for term in &model.terms {
        if !term.loops.is_empty() {
            return Err(NotAVae::at(
                term.span,
                "a `~` statement inside a `for` loop",
            ));
        }
        let TermKind::Tilde {
            target,
            distribution,
            args,
        } = &term.kind
        else {
            return Err(NotAVae::at(term.span, "a `factor` or `energy` term"));
        };
        if matches!(target.kind, ExprKind::Variable(id) if id == z) {
            let standard = *distribution == DistKind::Normal
                && matches!(args.as_slice(), [a, b] if literal(a) == Some(0.0) && literal(b) == Some(1.0));
            if !standard {
                return Err(NotAVae::at(
                    term.span,
                    format!("the prior of `{}` is not `Normal(0, 1)`", z_var.name),
                ));
            }
            prior = true;
            continue;
        }
        if likelihood.is_some() {
            return Err(NotAVae::at(
                term.span,
                "a second likelihood statement: the VAE has one",
            ));
        }
        let source = match target.kind {
            ExprKind::Variable(id) if model.variables[id.0].role == Role::Observed => {
                DataSource::Variable(id)
            }
            ExprKind::Let(id) => DataSource::Let(id),
            _ => {
                return Err(NotAVae::at(
                    term.span,
                    "the likelihood is not on observed data or a `let` of data",
                ));
            }
        };
        let (decoder_net, family) = match (distribution, args.as_slice()) {
            (DistKind::BernoulliLogit, [logits]) => {
                (decoder_call(logits, z), VaeLikelihood::BernoulliLogit)
            }
            (DistKind::Normal, [mean, sd]) => match (literal(sd), &sd.kind) {
                (Some(sigma), _) if sigma > 0.0 => {
                    (decoder_call(mean, z), VaeLikelihood::Normal { sigma })
                }
                (None, ExprKind::Variable(id))
                    if model.variables.get(id.0).is_some_and(noise_param) =>
                {
                    learned_sigma = Some(*id);
                    (
                        decoder_call(mean, z),
                        VaeLikelihood::LearnedNormal { initial_sigma: 1.0 },
                    )
                }
                _ => {
                    return Err(NotAVae::at(
                        sd.span,
                        "the Normal likelihood's sd is neither a positive number nor a scalar `param` with a `positive` constraint",
                    ));
                }
            },
            _ => {
                return Err(NotAVae::at(
                    term.span,
                    format!(
                        "the likelihood is `{}`; the VAE takes `Bernoulli(logit = decoder(z))` or `Normal(decoder(z), sigma)`",
                        distribution.family().name
                    ),
                ));
            }
        };
        let Some(decoder_net) = decoder_net else {
            return Err(NotAVae::at(
                term.span,
                format!(
                    "the likelihood's parameter is not a decoder net applied to `{}`",
                    z_var.name
                ),
            ));
        };
        likelihood = Some((source, decoder_net, family, term.span));
    }
    if let Some(other) = model
        .unknowns()
        .find(|v| v.id != z && Some(v.id) != learned_sigma)
    {
        return Err(NotAVae::at(
            other.span,
            format!(
                "`{}` is an unknown besides the latent code `{}` that is not the Normal likelihood's sd",
                other.name, z_var.name
            ),
        ));
    }
    if !prior {
        return Err(NotAVae::at(
            z_var.span,
            format!("`{}` has no `~ Normal(0, 1)` prior", z_var.name),
        ));
    }
    let Some((source, decoder_net, family, likelihood_span)) = likelihood else {
        return Err(NotAVae::at(
            guide.span,
            "no likelihood statement through a decoder net",
        ));
    };
    if encoder_input != source {
        return Err(NotAVae::at(
            guide.span,
            "the encoder does not read the data the likelihood is on",
        ));
    }
    if decoder_net == encoder_net {
        return Err(NotAVae::at(
            likelihood_span,
            "the encoder and the decoder are the same net",
        ));
    }
    // The data values.
    let (data_name, shape, values) = match source {
        DataSource::Variable(id) => {
            let variable = &model.variables[id.0];
            let values = bound.observed[id.0].clone().unwrap_or_default();
            (
                variable.name.clone(),
                bound.shape(&variable.ty.shape),
                values,
            )
        }
        DataSource::Let(id) => {
            let (_, derived) = let_of_data(model, bound, id)
                .map_err(|reason| NotAVae::at(likelihood_span, reason))?;
            (model.lets[id.0].name.clone(), derived.shape, derived.values)
        }
    };
    if shape.len() != 2 || shape[0] != rows {
        return Err(NotAVae::at(
            likelihood_span,
            format!(
                "`{data_name}` is not a matrix with one row per row of `{}` ({rows})",
                z_var.name
            ),
        ));
    }
    let width = shape[1];
    if family == VaeLikelihood::BernoulliLogit && values.iter().any(|&v| v != 0.0 && v != 1.0) {
        return Err(NotAVae::at(
            likelihood_span,
            format!("`{data_name}` has values other than 0 and 1"),
        ));
    }
    // A learned sd starts where a decoder that knew only the column means would put it: the
    // data's sd around them (Adam then moves log σ by about the learning rate per step).
    let family = match family {
        VaeLikelihood::LearnedNormal { .. } => VaeLikelihood::LearnedNormal {
            initial_sigma: residual_sd(&values, width),
        },
        other => other,
    };
    let encoder = net_shape(model, bound, encoder_net)?;
    let decoder = net_shape(model, bound, decoder_net)?;
    let net_span = |net: usize| model.nets[net].span;
    if encoder.sizes.first() != Some(&width) || encoder.sizes.last() != Some(&(2 * latent)) {
        return Err(NotAVae::at(
            net_span(encoder_net),
            format!(
                "the encoder must map the {width} values of a row to 2 × {latent} (mean and scale)"
            ),
        ));
    }
    if decoder.sizes.first() != Some(&latent) || decoder.sizes.last() != Some(&width) {
        return Err(NotAVae::at(
            net_span(decoder_net),
            format!("the decoder must map the {latent} latents to the {width} values of a row"),
        ));
    }
    Ok(VaeSpec {
        latent_variable: z,
        latent,
        encoder_net,
        decoder_net,
        encoder,
        decoder,
        log_scale_factor,
        likelihood: family,
        data_name,
        rows,
        width,
        values,
    })
}

/// The engine's problem: the spec's data as an f32 matrix, the last `holdout` rows held out.
pub fn problem(spec: &VaeSpec, holdout: usize) -> VaeProblem {
    VaeProblem {
        data: DMatrix::from_row_iterator(
            spec.rows,
            spec.width,
            spec.values.iter().map(|&v| v as f32),
        ),
        encoder: spec.encoder.clone(),
        decoder: spec.decoder.clone(),
        latent: spec.latent,
        log_scale_factor: spec.log_scale_factor,
        likelihood: spec.likelihood,
        holdout,
    }
}

fn net_shape(model: &Model, bound: &BoundData, net: usize) -> Result<NetShape, NotAVae> {
    let declared = &model.nets[net];
    let activation = Activation::from_name(&declared.activation).ok_or_else(|| {
        NotAVae::at(
            declared.span,
            format!(
                "the activation `{}` is not one a net supports",
                declared.activation
            ),
        )
    })?;
    let sizes: Vec<usize> = declared
        .sizes
        .iter()
        .map(|s| usize::try_from(s.evaluate(&bound.dims)).unwrap_or(0))
        .collect();
    if sizes.len() < 2 || sizes.contains(&0) {
        return Err(NotAVae::at(
            declared.span,
            "a net needs positive layer sizes",
        ));
    }
    Ok(NetShape { sizes, activation })
}

/// A number, or arithmetic on numbers: a library file run on its own keeps its signature's
/// constants as `latent + 1`, which inlining would have folded to `3`.
/// The sd of row-major `values` (`width` columns) around their column means; 1 when it is not
/// a positive number (no rows, or constant data).
fn residual_sd(values: &[f64], width: usize) -> f64 {
    let rows = values.len() / width.max(1);
    if rows == 0 {
        return 1.0;
    }
    let mut means = vec![0.0; width];
    for row in values.chunks_exact(width) {
        for (mean, v) in means.iter_mut().zip(row) {
            *mean += v / rows as f64;
        }
    }
    let squares: f64 = values
        .chunks_exact(width)
        .flat_map(|row| row.iter().zip(&means).map(|(v, m)| (v - m).powi(2)))
        .sum();
    let sd = (squares / (rows * width) as f64).sqrt();
    if sd.is_finite() && sd > 0.0 { sd } else { 1.0 }
}

fn literal(expr: &Expr) -> Option<f64> {
    match &expr.kind {
        ExprKind::Literal(v) => Some(*v),
        ExprKind::Neg(inner) => literal(inner).map(|v| -v),
        ExprKind::Binary { op, lhs, rhs } => {
            let (lhs, rhs) = (literal(lhs)?, literal(rhs)?);
            match op {
                BinaryOp::Add => Some(lhs + rhs),
                BinaryOp::Sub => Some(lhs - rhs),
                BinaryOp::Mul => Some(lhs * rhs),
                _ => None,
            }
        }
        _ => None,
    }
}

/// `decoder(z)`: the net's index.
fn decoder_call(expr: &Expr, z: VarId) -> Option<usize> {
    match &expr.kind {
        ExprKind::NetCall { net, args } => match args.as_slice() {
            [
                Expr {
                    kind: ExprKind::Variable(id),
                    ..
                },
            ] if *id == z => Some(*net),
            _ => None,
        },
        _ => None,
    }
}

/// `h[.., a:b]` with `h` a `let` of `net(data)` (or the call inline): the net, its input, (a, b).
fn net_slice(model: &Model, expr: &Expr) -> Option<(usize, DataSource, (usize, usize))> {
    let ExprKind::Index { base, indices } = &expr.kind else {
        return None;
    };
    let [IndexExpr::All, IndexExpr::Slice { low, high }] = indices.as_slice() else {
        return None;
    };
    let range = (literal(low)? as usize, literal(high)? as usize);
    let call = match &base.kind {
        ExprKind::Let(id) => {
            let let_ = &model.lets[id.0];
            if !let_.loops.is_empty() {
                return None;
            }
            &let_.value
        }
        _ => base.as_ref(),
    };
    let ExprKind::NetCall { net, args } = &call.kind else {
        return None;
    };
    let [input] = args.as_slice() else {
        return None;
    };
    let source = match input.kind {
        ExprKind::Variable(id) if model.variables[id.0].role == Role::Observed => {
            DataSource::Variable(id)
        }
        ExprKind::Let(id) => DataSource::Let(id),
        _ => return None,
    };
    Some((*net, source, range))
}

/// `exp(c * inner)`, `exp(inner * c)` or `exp(inner)`: (c, inner).
fn exp_of_scaled(expr: &Expr) -> Option<(f64, &Expr)> {
    let ExprKind::Call { function, args } = &expr.kind else {
        return None;
    };
    if function.name() != "exp" {
        return None;
    }
    let [inner] = args.as_slice() else {
        return None;
    };
    if let ExprKind::Binary {
        op: BinaryOp::Mul,
        lhs,
        rhs,
    } = &inner.kind
    {
        if let Some(c) = literal(lhs) {
            return Some((c, rhs));
        }
        if let Some(c) = literal(rhs) {
            return Some((c, lhs));
        }
    }
    Some((1.0, inner))
}
