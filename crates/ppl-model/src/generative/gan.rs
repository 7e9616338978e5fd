//! Recognising an implicit (GAN) model for the adversarial engine (LANGUAGE.md §6 rule 1).
//!
//! The recognised shape (the canonical GAN form):
//! ```text
//! observed x: real[N, D]
//! latent z: real[N, K]
//! net generator = mlp(K, ..., D, act = relu)
//! net discriminator = mlp(D, ..., 1, act = leaky_relu)
//! z ~ Normal(0, 1)
//! x ~ Implicit(generator(z))
//! critic discriminator
//! ```
//! The noise latent shares the plate `N` with the data, has the standard normal as its only
//! term, and feeds the generator directly; the critic reads one data row and returns one logit.
//! Anything else is refused with the reason and the statement responsible, so the planner can
//! say why rule 1 does not apply. The engine (`ppl_infer::adversarial`) never sees the IR: it
//! gets the data matrix and the two nets' sizes and activations from a [`GanSpec`].

use ppl_dist::DistKind;
use ppl_ir::{ElemType, Expr, ExprKind, Model, Net, Role, Size, TermKind, VarId};
use ppl_nn::Activation;
use ppl_syntax::Span;
use ppl_syntax::diagnostic::backticked;

use crate::BoundData;
use crate::names::column_names;

/// One net of the GAN with its sizes bound to numbers.
#[derive(Clone, Debug, PartialEq)]
pub struct GanNet {
    /// Its index in `Model::nets`.
    pub net: usize,
    pub name: String,
    /// Layer sizes, input first.
    pub sizes: Vec<usize>,
    pub activation: Activation,
}

/// A recognised GAN: which variables play which part, and the data as a matrix.
#[derive(Clone, Debug, PartialEq)]
pub struct GanSpec {
    /// The observed variable under `Implicit`.
    pub observed: VarId,
    /// The noise latent fed to the generator.
    pub noise: VarId,
    pub generator: GanNet,
    pub critic: GanNet,
    /// Data points (the plate `N`).
    pub rows: usize,
    /// Values per data point (`D`).
    pub columns: usize,
    /// The data, row-major `rows × columns`.
    pub data: Vec<f64>,
    /// The data's column names in CmdStan form (`x.1`, `x.2`), for generated samples.
    pub column_names: Vec<String>,
}

/// Why a model is not a GAN the adversarial engine trains, with the statement responsible when
/// there is one.
#[derive(Clone, Debug, PartialEq)]
pub struct NotAGan {
    pub reason: String,
    pub span: Option<Span>,
}

impl NotAGan {
    fn at(span: Span, reason: impl Into<String>) -> Self {
        NotAGan {
            reason: reason.into(),
            span: Some(span),
        }
    }
}

/// Recognises the canonical GAN form in `model` with its data bound.
pub fn recognise(model: &Model, bound: &BoundData) -> Result<GanSpec, NotAGan> {
    let implicit = match model.implicits.as_slice() {
        [] => {
            return Err(NotAGan {
                reason: "no `Implicit` statement".into(),
                span: None,
            });
        }
        [one] => one,
        [_, second, ..] => {
            return Err(NotAGan::at(
                second.span,
                "the adversarial engine trains one `Implicit` statement, and this is a second",
            ));
        }
    };
    let critic_statement = match model.critics.as_slice() {
        [] => {
            return Err(NotAGan::at(
                implicit.span,
                "an `Implicit` statement needs a `critic NET` to train against",
            ));
        }
        [one] => one,
        [_, second, ..] => {
            return Err(NotAGan::at(
                second.span,
                "the adversarial engine trains one critic, and this is a second",
            ));
        }
    };
    if let Some(guide) = model.guides.first() {
        return Err(NotAGan::at(
            guide.span,
            "a GAN has no density to fit a `guide` to; remove the guide",
        ));
    }

    // The data: an observed matrix, one row per data point.
    let observed = match &implicit.target.kind {
        ExprKind::Variable(id) if model.variables[id.0].role == Role::Observed => {
            &model.variables[id.0]
        }
        _ => {
            return Err(NotAGan::at(
                implicit.target.span,
                "the target of `Implicit` must be a whole observed variable, `x: real[N, D]` with one row per data point",
            ));
        }
    };
    let [plate, data_width] = observed.ty.shape.as_slice() else {
        return Err(NotAGan::at(
            observed.span,
            format!(
                "`{}` is `{}`; the adversarial engine needs a matrix `real[N, D]` with one row per data point",
                observed.name, observed.declared_as
            ),
        ));
    };
    let rows = positive(plate, bound);
    let columns = positive(data_width, bound);
    let (Some(rows), Some(columns)) = (rows, columns) else {
        return Err(NotAGan::at(
            observed.span,
            format!("`{}` has no data points to train on", observed.name),
        ));
    };
    let data = bound
        .observed
        .get(observed.id.0)
        .and_then(|values| values.clone())
        .filter(|values| values.len() == rows * columns)
        .ok_or_else(|| {
            NotAGan::at(
                observed.span,
                format!("`{}` has no bound data values", observed.name),
            )
        })?;

    // The push-forward: `generator(z)`.
    let [pushed] = implicit.arguments.as_slice() else {
        return Err(NotAGan::at(
            implicit.span,
            "`Implicit` takes one argument, the generator applied to the noise: `Implicit(generator(z))`",
        ));
    };
    let (generator_index, noise) = generator_call(model, pushed)?;
    let generator_net = &model.nets[generator_index];
    if noise.ty.shape.len() != 2 || noise.ty.shape[0] != *plate {
        return Err(NotAGan::at(
            noise.span,
            format!(
                "the noise `{}` must be `real[{}, K]`: one row of noise per data point, on the plate of `{}`",
                noise.name,
                size_text(model, plate),
                observed.name
            ),
        ));
    }
    let noise_width = positive(&noise.ty.shape[1], bound).ok_or_else(|| {
        NotAGan::at(
            noise.span,
            format!("the noise `{}` has no columns", noise.name),
        )
    })?;
    let generator = bind_net(model, generator_index, bound)?;
    if generator.sizes.first() != Some(&noise_width) || generator.sizes.last() != Some(&columns) {
        return Err(NotAGan::at(
            generator_net.span,
            format!(
                "the generator `{}` must map the {noise_width} noise values of a row of `{}` to the {columns} values of a row of `{}`, but its sizes are {:?}",
                generator.name, noise.name, observed.name, generator.sizes
            ),
        ));
    }

    // The critic: one data row to one logit, a different net from the generator.
    if critic_statement.net == generator_index {
        return Err(NotAGan::at(
            critic_statement.span,
            "the critic must be a net of its own, not the generator",
        ));
    }
    let critic = bind_net(model, critic_statement.net, bound)?;
    if critic.sizes.first() != Some(&columns) || critic.sizes.last() != Some(&1) {
        return Err(NotAGan::at(
            model.nets[critic_statement.net].span,
            format!(
                "the critic `{}` must map the {columns} values of a row of `{}` to one logit, but its sizes are {:?}",
                critic.name, observed.name, critic.sizes
            ),
        ));
    }
    if let Some(other) = model
        .nets
        .iter()
        .enumerate()
        .find(|(index, _)| *index != generator_index && *index != critic_statement.net)
    {
        return Err(NotAGan::at(
            other.1.span,
            format!(
                "the net `{}` is neither the generator nor the critic, and the adversarial engine trains only those two",
                other.1.name
            ),
        ));
    }

    // The only unknown is the noise, and its only term is the standard normal.
    if let Some(other) = model.unknowns().find(|v| v.id != noise.id) {
        return Err(NotAGan::at(
            other.span,
            format!(
                "`{}` is an unknown the adversarial engine does not train: a GAN's unknowns are its noise `{}` and its nets",
                other.name, noise.name
            ),
        ));
    }
    let mut noise_prior = false;
    for term in &model.terms {
        let standard_normal = matches!(
            &term.kind,
            TermKind::Tilde { target, distribution: DistKind::Normal, args }
                if matches!(target.kind, ExprKind::Variable(id) if id == noise.id)
                    && term.loops.is_empty()
                    && literal(args.first()) == Some(0.0)
                    && literal(args.get(1)) == Some(1.0)
        );
        if standard_normal && !noise_prior {
            noise_prior = true;
            continue;
        }
        return Err(NotAGan::at(
            term.span,
            format!(
                "a GAN has no density terms besides its noise `{} ~ Normal(0, 1)`; this statement adds one the adversarial engine cannot use",
                noise.name
            ),
        ));
    }
    if !noise_prior {
        return Err(NotAGan::at(
            noise.span,
            format!(
                "the noise `{}` needs the standard normal: `{} ~ Normal(0, 1)`",
                noise.name, noise.name
            ),
        ));
    }

    Ok(GanSpec {
        observed: observed.id,
        noise: noise.id,
        generator,
        critic,
        rows,
        columns,
        data,
        column_names: column_names(&observed.name, &[columns]),
    })
}

/// The net and the noise latent of `generator(z)`.
fn generator_call<'m>(
    model: &'m Model,
    pushed: &Expr,
) -> Result<(usize, &'m ppl_ir::Variable), NotAGan> {
    let refuse = || {
        NotAGan::at(
            pushed.span,
            "the argument of `Implicit` must be a net applied to a noise latent, as in `Implicit(generator(z))`",
        )
    };
    let ExprKind::NetCall { net, args } = &pushed.kind else {
        return Err(refuse());
    };
    let [argument] = args.as_slice() else {
        return Err(refuse());
    };
    let ExprKind::Variable(id) = argument.kind else {
        return Err(refuse());
    };
    let noise = &model.variables[id.0];
    if noise.role != Role::Latent || noise.ty.elem != ElemType::Real {
        return Err(NotAGan::at(
            argument.span,
            format!(
                "the generator's input `{}` must be a real latent (the noise)",
                noise.name
            ),
        ));
    }
    if *net >= model.nets.len() {
        return Err(refuse());
    }
    Ok((*net, noise))
}

fn bind_net(model: &Model, index: usize, bound: &BoundData) -> Result<GanNet, NotAGan> {
    let net: &Net = &model.nets[index];
    let sizes: Option<Vec<usize>> = net.sizes.iter().map(|s| positive(s, bound)).collect();
    let sizes = sizes.ok_or_else(|| {
        NotAGan::at(
            net.span,
            format!("every size of the net `{}` must be positive", net.name),
        )
    })?;
    let named = Activation::from_name(&net.activation);
    let activation = match (named, net.activation_slope) {
        (Some(Activation::LeakyRelu), Some(slope)) => Some(Activation::LeakyReluSlope(slope)),
        (named, None) => named,
        _ => None,
    };
    let activation = activation.ok_or_else(|| {
        NotAGan::at(
            net.span,
            format!(
                "the net `{}` uses the activation `{}`; the adversarial engine knows {}",
                net.name,
                net.activation,
                backticked(Activation::ALL.map(|a| a.name()))
            ),
        )
    })?;
    Ok(GanNet {
        net: index,
        name: net.name.clone(),
        sizes,
        activation,
    })
}

/// A size's value once the data is bound, if positive.
fn positive(size: &Size, bound: &BoundData) -> Option<usize> {
    usize::try_from(size.evaluate(&bound.dims))
        .ok()
        .filter(|n| *n > 0)
}

fn literal(expr: Option<&Expr>) -> Option<f64> {
    match expr?.kind {
        ExprKind::Literal(value) => Some(value),
        _ => None,
    }
}

/// `N`, `2`, `N + 1`, for messages.
fn size_text(model: &Model, size: &Size) -> String {
    match size.as_constant() {
        Some(value) => value.to_string(),
        None => match size.terms.as_slice() {
            [(dim, 1)] if size.constant == 0 => model
                .dims
                .get(dim.0)
                .map_or_else(|| "N".to_string(), |d| d.name.clone()),
            _ => "N".to_string(),
        },
    }
}
