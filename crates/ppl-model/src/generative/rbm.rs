//! Recognising a restricted Boltzmann machine (LANGUAGE.md §6 rule 2): one `energy` statement
//! that is a signed sum of `sum(...)` terms, one bilinear (`sum(v @ W * h)`) and one bias term
//! per layer (`sum(v @ b)`, `sum(h @ c)`, or with `*`), over binary visible data `v` (an observed
//! variable or a `let` of data, every value 0 or 1) and a `latent h: bool[N, H]` on the same
//! plate, with real params W, b, c. The engine gets the data and the sizes; the signs are kept
//! so that the trained parameters map back onto the params as written. Anything else is
//! [`NotAnRbm`] with the reason and the statement, which the planner shows in rule 2's verdict.

use ppl_ir::{
    BinaryOp, Builtin, Constraint, ElemType, Expr, ExprKind, Model, Role, TermKind, VarId,
};
use ppl_syntax::Span;

use crate::BoundData;
use crate::mixture::let_of_data;
use crate::names::column_names;

/// How the model's variables map onto the RBM engine's problem.
#[derive(Clone, Debug, PartialEq)]
pub struct RbmSpec {
    /// The visible units as written under the energy (`v`).
    pub visible_name: String,
    /// The data columns the visible units come from (`pixel.1` .. `pixel.64`).
    pub columns: Vec<String>,
    /// `rows × visible`, row-major, each 0 or 1.
    pub data: Vec<f64>,
    pub rows: usize,
    pub visible: usize,
    pub hidden: usize,
    pub hidden_var: VarId,
    pub weights: VarId,
    /// True when `W` is declared hidden × visible (`sum(h @ W * v)`).
    pub weights_transposed: bool,
    pub visible_bias: VarId,
    pub hidden_bias: VarId,
    /// The sign with which each term enters the log density (+1 in the canonical form
    /// `energy -(...)`): the engine's parameter is the model's times this sign.
    pub signs: [f64; 3],
}

/// Why a model is not an RBM the block-Gibbs engine trains.
#[derive(Clone, Debug, PartialEq)]
pub struct NotAnRbm {
    pub reason: String,
    pub span: Option<Span>,
}

impl NotAnRbm {
    fn at(span: Span, reason: impl Into<String>) -> Self {
        NotAnRbm {
            reason: reason.into(),
            span: Some(span),
        }
    }
}

impl std::fmt::Display for NotAnRbm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.reason)
    }
}

/// A reference to one layer of units.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Unit {
    /// The data side: an observed variable or a `let` of data.
    Visible(UnitSource),
    Hidden(VarId),
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum UnitSource {
    Variable(VarId),
    Let(ppl_ir::LetId),
}

/// One `sum(...)` of the energy, classified.
enum Part {
    Bilinear {
        weights: VarId,
        /// The unit on the left of `@`.
        left: Unit,
        right: Unit,
    },
    Bias {
        unit: Unit,
        bias: VarId,
    },
}

/// Recognises the RBM, or says why the model is not one.
pub fn recognise(model: &Model, bound: &BoundData) -> Result<RbmSpec, NotAnRbm> {
    let energies: Vec<&ppl_ir::Term> = model
        .terms
        .iter()
        .filter(|t| matches!(t.kind, TermKind::Energy(_)))
        .collect();
    let [term] = energies.as_slice() else {
        let span = energies.get(1).map(|t| t.span).unwrap_or_default();
        return Err(NotAnRbm::at(span, "more than one `energy` statement"));
    };
    if let Some(other) = model.terms.iter().find(|t| t.span != term.span) {
        return Err(NotAnRbm::at(
            other.span,
            "an RBM is trained on its energy alone, and this statement adds another term to the log density",
        ));
    }
    if !term.loops.is_empty() {
        return Err(NotAnRbm::at(term.span, "an `energy` inside a `for` loop"));
    }
    let TermKind::Energy(expr) = &term.kind else {
        return Err(NotAnRbm::at(term.span, "not an `energy` statement"));
    };
    let mut sums = Vec::new();
    flatten(expr, -1.0, &mut sums)?;

    let mut bilinear = None;
    let mut visible_bias = None;
    let mut hidden_bias = None;
    let mut visible_unit: Option<(UnitSource, Span)> = None;
    let mut hidden_unit: Option<VarId> = None;
    for (sign, body) in &sums {
        let part = classify(model, body)?;
        let mut note = |unit: Unit, span: Span| -> Result<(), NotAnRbm> {
            match unit {
                Unit::Visible(source) => match visible_unit {
                    Some((seen, _)) if seen != source => Err(NotAnRbm::at(
                        span,
                        "the energy reads two different visible layers",
                    )),
                    _ => {
                        visible_unit = Some((source, span));
                        Ok(())
                    }
                },
                Unit::Hidden(id) => match hidden_unit {
                    Some(seen) if seen != id => Err(NotAnRbm::at(
                        span,
                        "the energy reads two different hidden layers",
                    )),
                    _ => {
                        hidden_unit = Some(id);
                        Ok(())
                    }
                },
            }
        };
        match part {
            Part::Bilinear {
                weights,
                left,
                right,
            } => {
                note(left, body.span)?;
                note(right, body.span)?;
                let transposed = match (left, right) {
                    (Unit::Visible(_), Unit::Hidden(_)) => false,
                    (Unit::Hidden(_), Unit::Visible(_)) => true,
                    _ => {
                        return Err(NotAnRbm::at(
                            body.span,
                            "this product couples a layer with itself: an RBM couples visible and hidden units only (a non-bilinear energy needs single-site Gibbs, not in this version)",
                        ));
                    }
                };
                if bilinear.is_some() {
                    return Err(NotAnRbm::at(body.span, "a second coupling term"));
                }
                bilinear = Some((weights, transposed, *sign));
            }
            Part::Bias { unit, bias } => {
                note(unit, body.span)?;
                let slot = match unit {
                    Unit::Visible(_) => &mut visible_bias,
                    Unit::Hidden(_) => &mut hidden_bias,
                };
                if slot.is_some() {
                    return Err(NotAnRbm::at(body.span, "a second bias term for one layer"));
                }
                *slot = Some((bias, *sign));
            }
        }
    }
    let missing = |what: &str| NotAnRbm::at(term.span, format!("the energy has no {what}"));
    let (weights, weights_transposed, weights_sign) =
        bilinear.ok_or_else(|| missing("coupling term `sum(v @ W * h)`"))?;
    let (visible_bias, visible_sign) =
        visible_bias.ok_or_else(|| missing("visible bias term `sum(v @ b)`"))?;
    let (hidden_bias, hidden_sign) =
        hidden_bias.ok_or_else(|| missing("hidden bias term `sum(h @ c)`"))?;
    let (Some((source, source_span)), Some(hidden_var)) = (visible_unit, hidden_unit) else {
        return Err(missing("visible and hidden layers"));
    };

    // The visible data, its shape and its column names.
    let (visible_name, shape, data, columns) = match source {
        UnitSource::Variable(id) => {
            let variable = &model.variables[id.0];
            let shape = bound.shape(&variable.ty.shape);
            let values = bound.observed[id.0].clone().ok_or_else(|| {
                NotAnRbm::at(variable.span, format!("`{}` has no data", variable.name))
            })?;
            let columns = column_names(&variable.name, shape.get(1..).unwrap_or(&[]));
            (variable.name.clone(), shape, values, columns)
        }
        UnitSource::Let(id) => {
            let let_ = &model.lets[id.0];
            let (observed, derived) =
                let_of_data(model, bound, id).map_err(|reason| NotAnRbm::at(let_.span, reason))?;
            let variable = &model.variables[observed.0];
            let observed_shape = bound.shape(&variable.ty.shape);
            // The let's columns are the data's when it keeps the data's shape (`pixel > 7`).
            let columns = if observed_shape == derived.shape {
                column_names(&variable.name, derived.shape.get(1..).unwrap_or(&[]))
            } else {
                column_names(&let_.name, derived.shape.get(1..).unwrap_or(&[]))
            };
            (let_.name.clone(), derived.shape, derived.values, columns)
        }
    };
    let [rows, visible] = shape.as_slice() else {
        return Err(NotAnRbm::at(
            source_span,
            format!("the visible `{visible_name}` is not a matrix of rows × units"),
        ));
    };
    let (rows, visible) = (*rows, *visible);
    if let Some(position) = data.iter().position(|&x| x != 0.0 && x != 1.0) {
        return Err(NotAnRbm::at(
            source_span,
            format!(
                "the visible `{visible_name}` is {} at row {}, column {}: an RBM's visible units are 0 or 1 (binarise with a comparison, `let v = x > 7`)",
                data[position],
                position / visible.max(1) + 1,
                position % visible.max(1) + 1
            ),
        ));
    }

    // The hidden layer: a bool latent on the same plate.
    let h = &model.variables[hidden_var.0];
    let h_shape = bound.shape(&h.ty.shape);
    if h.ty.elem != ElemType::Bool || h.role != Role::Latent {
        return Err(NotAnRbm::at(
            h.span,
            format!("the hidden `{}` is not a `latent` of type bool", h.name),
        ));
    }
    let [h_rows, hidden] = h_shape.as_slice() else {
        return Err(NotAnRbm::at(
            h.span,
            format!("the hidden `{}` is not a matrix of rows × units", h.name),
        ));
    };
    let hidden = *hidden;
    if *h_rows != rows {
        return Err(NotAnRbm::at(
            h.span,
            format!(
                "the hidden `{}` has {h_rows} rows and the visible `{visible_name}` {rows}: they must share the plate",
                h.name
            ),
        ));
    }
    if rows == 0 || visible == 0 || hidden == 0 {
        return Err(NotAnRbm::at(
            h.span,
            "the RBM has no rows or no units once the data is bound",
        ));
    }

    // The params: real, unconstrained, of the right shapes.
    let expect = |id: VarId, want: &[usize], role: &str| -> Result<(), NotAnRbm> {
        let variable = &model.variables[id.0];
        let shape = bound.shape(&variable.ty.shape);
        if variable.role != Role::Param
            || variable.ty.elem != ElemType::Real
            || variable.constraint != Constraint::None
        {
            return Err(NotAnRbm::at(
                variable.span,
                format!(
                    "the {role} `{}` is not an unconstrained real `param`",
                    variable.name
                ),
            ));
        }
        if shape != want {
            return Err(NotAnRbm::at(
                variable.span,
                format!(
                    "the {role} `{}` has shape {shape:?}, and the layers need {want:?}",
                    variable.name
                ),
            ));
        }
        Ok(())
    };
    if weights_transposed {
        expect(weights, &[hidden, visible], "weights")?;
    } else {
        expect(weights, &[visible, hidden], "weights")?;
    }
    expect(visible_bias, &[visible], "visible bias")?;
    expect(hidden_bias, &[hidden], "hidden bias")?;
    for variable in model.unknowns() {
        if ![hidden_var, weights, visible_bias, hidden_bias].contains(&variable.id) {
            return Err(NotAnRbm::at(
                variable.span,
                format!("`{}` is not part of the RBM's energy", variable.name),
            ));
        }
    }
    Ok(RbmSpec {
        visible_name,
        columns,
        data,
        rows,
        visible,
        hidden,
        hidden_var,
        weights,
        weights_transposed,
        visible_bias,
        hidden_bias,
        signs: [weights_sign, visible_sign, hidden_sign],
    })
}

/// Splits the energy into signed `sum(...)` bodies; `sign` is the sign in the log density
/// (the energy enters it negated).
fn flatten<'e>(expr: &'e Expr, sign: f64, out: &mut Vec<(f64, &'e Expr)>) -> Result<(), NotAnRbm> {
    match &expr.kind {
        ExprKind::Neg(inner) => flatten(inner, -sign, out),
        ExprKind::Binary {
            op: BinaryOp::Add,
            lhs,
            rhs,
        } => {
            flatten(lhs, sign, out)?;
            flatten(rhs, sign, out)
        }
        ExprKind::Binary {
            op: BinaryOp::Sub,
            lhs,
            rhs,
        } => {
            flatten(lhs, sign, out)?;
            flatten(rhs, -sign, out)
        }
        ExprKind::Call {
            function: Builtin::Sum,
            args,
        } if args.len() == 1 => {
            out.push((sign, &args[0]));
            Ok(())
        }
        _ => Err(NotAnRbm::at(
            expr.span,
            "this part of the energy is not a `sum(...)` of a coupling `v @ W * h` or a bias `v @ b`: the block-Gibbs engine needs a bilinear energy (a general energy needs single-site Gibbs, not in this version)",
        )),
    }
}

/// A layer reference: the visible data or the hidden latent.
fn unit(model: &Model, expr: &Expr) -> Option<Unit> {
    match &expr.kind {
        ExprKind::Variable(id) => {
            let variable = &model.variables[id.0];
            match variable.role {
                Role::Observed => Some(Unit::Visible(UnitSource::Variable(*id))),
                Role::Latent => Some(Unit::Hidden(*id)),
                Role::Param => None,
            }
        }
        ExprKind::Let(id) if !model.lets[id.0].depends_on_unknowns => {
            Some(Unit::Visible(UnitSource::Let(*id)))
        }
        _ => None,
    }
}

fn param(model: &Model, expr: &Expr) -> Option<VarId> {
    match &expr.kind {
        ExprKind::Variable(id) if model.variables[id.0].role == Role::Param => Some(*id),
        _ => None,
    }
}

fn classify(model: &Model, body: &Expr) -> Result<Part, NotAnRbm> {
    let not_a_part = || {
        NotAnRbm::at(
            body.span,
            "this `sum(...)` is neither a coupling `v @ W * h` nor a bias `v @ b` of a layer: the block-Gibbs engine needs a bilinear energy (a general energy needs single-site Gibbs, not in this version)",
        )
    };
    let ExprKind::Binary { op, lhs, rhs } = &body.kind else {
        return Err(not_a_part());
    };
    match op {
        // `v @ b`: a layer times a bias vector.
        BinaryOp::MatMul => match (unit(model, lhs), param(model, rhs)) {
            (Some(unit), Some(bias)) if rhs.ty.shape.len() == 1 => Ok(Part::Bias { unit, bias }),
            _ => Err(not_a_part()),
        },
        BinaryOp::Mul => {
            // `(a @ W) * c` or `c * (a @ W)`.
            for (product, other) in [(lhs, rhs), (rhs, lhs)] {
                if let ExprKind::Binary {
                    op: BinaryOp::MatMul,
                    lhs: left,
                    rhs: weights,
                } = &product.kind
                    && let (Some(left), Some(weights), Some(right)) =
                        (unit(model, left), param(model, weights), unit(model, other))
                {
                    return Ok(Part::Bilinear {
                        weights,
                        left,
                        right,
                    });
                }
            }
            // `v * b`: a bias broadcast over the rows.
            for (layer, bias) in [(lhs, rhs), (rhs, lhs)] {
                if let (Some(unit), Some(bias_id)) = (unit(model, layer), param(model, bias))
                    && bias.ty.shape.len() == 1
                {
                    return Ok(Part::Bias {
                        unit,
                        bias: bias_id,
                    });
                }
            }
            Err(not_a_part())
        }
        _ => Err(not_a_part()),
    }
}

/// The model's params from the engine's (the signs undone), as (name, value) pairs in the
/// order `W` (row-major as declared), `b`, `c`.
pub fn estimates(
    model: &Model,
    spec: &RbmSpec,
    weights: &[f64],
    visible_bias: &[f64],
    hidden_bias: &[f64],
) -> Vec<(String, f64)> {
    let (d, h) = (spec.visible, spec.hidden);
    let mut out = Vec::with_capacity(d * h + d + h);
    let w_name = &model.variables[spec.weights.0].name;
    let shape = if spec.weights_transposed {
        [h, d]
    } else {
        [d, h]
    };
    let names = crate::names::element_names(w_name, d * h, &shape);
    for (flat, name) in names.into_iter().enumerate() {
        let (i, j) = if spec.weights_transposed {
            (flat % d, flat / d)
        } else {
            (flat / h, flat % h)
        };
        out.push((name, spec.signs[0] * weights[i * h + j]));
    }
    for (variable, values, sign) in [
        (spec.visible_bias, visible_bias, spec.signs[1]),
        (spec.hidden_bias, hidden_bias, spec.signs[2]),
    ] {
        let name = &model.variables[variable.0].name;
        let names = crate::names::element_names(name, values.len(), &[values.len()]);
        out.extend(names.into_iter().zip(values.iter().map(|v| sign * v)));
    }
    out
}

#[cfg(test)]
mod tests;
