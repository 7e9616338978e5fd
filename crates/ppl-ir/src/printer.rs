//! A stable, readable text form of the IR (`ppl check --ir`), used by snapshot tests: one line per
//! dimension, constant, variable, `let` and term, expressions fully parenthesised with their types.

use std::fmt::Write;

use crate::check::display_shape;
use crate::model::*;

/// Renders the model.
pub fn print(model: &Model) -> String {
    let mut out = String::new();
    let printer = Printer { model };
    if let Some((path, _)) = &model.data_file {
        let _ = writeln!(out, "data {path:?}");
    }
    for dim in &model.dims {
        let _ = writeln!(out, "dim {}", dim.name);
    }
    for constant in &model.constants {
        let _ = writeln!(
            out,
            "const {}: {} = {}",
            constant.name,
            elem_name(constant.elem),
            constant.value
        );
    }
    for variable in &model.variables {
        let role = match variable.role {
            Role::Observed => "observed",
            Role::Latent => "latent",
            Role::Param => "param",
        };
        let _ = write!(
            out,
            "{role} {}: {}{} {}",
            variable.name,
            elem_name(variable.ty.elem),
            display_shape(&variable.ty.shape, &model.dims),
            match &variable.data_bound {
                Some((low, high)) => format!(
                    "in [{}, {}] (from the data)",
                    crate::check::display_size(low, &model.dims),
                    crate::check::display_size(high, &model.dims)
                ),
                None => match &variable.expression_bound {
                    Some(bound) => format!(
                        "in ({}, {}) (per draw)",
                        bound
                            .low
                            .as_ref()
                            .map_or("-inf".to_string(), |e| printer.expr(e)),
                        bound
                            .high
                            .as_ref()
                            .map_or("inf".to_string(), |e| printer.expr(e))
                    ),
                    None => constraint_name(&variable.constraint),
                },
            }
        );
        if let Some(init) = &variable.init {
            let _ = write!(out, " = {}", printer.expr(init));
        }
        out.push('\n');
    }
    for let_ in &model.lets {
        let _ = writeln!(
            out,
            "{}let {}{}: {} = {}{}",
            if let_.local { "local " } else { "" },
            let_.name,
            printer.loops(&let_.loops),
            printer.ty(&let_.value.ty),
            printer.expr(&let_.value),
            if let_.depends_on_unknowns && let_.local {
                "  # per draw, not saved"
            } else if let_.depends_on_unknowns {
                "  # per draw"
            } else {
                "  # data only"
            }
        );
    }
    for net in &model.nets {
        let sizes: Vec<String> = net
            .sizes
            .iter()
            .map(|s| crate::check::display_shape(std::slice::from_ref(s), &model.dims))
            .collect();
        let _ = writeln!(
            out,
            "net {} = mlp({}, act = {})",
            net.name,
            sizes.join(", "),
            match net.activation_slope {
                Some(slope) => format!("{}({slope})", net.activation),
                None => net.activation.clone(),
            }
        );
    }
    for term in &model.terms {
        let body = match &term.kind {
            TermKind::Tilde {
                target,
                distribution,
                args,
            } => {
                let args: Vec<String> = args.iter().map(|a| printer.expr(a)).collect();
                format!(
                    "{} ~ {:?}({})",
                    printer.expr(target),
                    distribution,
                    args.join(", ")
                )
            }
            TermKind::Factor(e) => format!("factor {}", printer.expr(e)),
            TermKind::Energy(e) => format!("energy {}", printer.expr(e)),
        };
        let _ = writeln!(out, "term{} {body}", printer.loops(&term.loops));
    }
    for guide in &model.guides {
        let args: Vec<String> = guide.args.iter().map(|a| printer.expr(a)).collect();
        let _ = writeln!(
            out,
            "guide {} ~ {:?}({})",
            printer.expr(&guide.target),
            guide.distribution,
            args.join(", ")
        );
    }
    for item in &model.unsupported {
        let _ = writeln!(out, "unsupported {}", item.description);
    }
    if let Some(infer) = &model.infer {
        let settings: Vec<String> = infer
            .settings
            .iter()
            .map(|s| format!("{} = {}", s.key, s.value))
            .collect();
        let _ = writeln!(out, "infer {}({})", infer.method, settings.join(", "));
    }
    out
}

fn elem_name(elem: ElemType) -> &'static str {
    match elem {
        ElemType::Bool => "bool",
        ElemType::Int => "int",
        ElemType::Real => "real",
    }
}

fn constraint_name(constraint: &Constraint) -> String {
    match constraint {
        Constraint::None => "unconstrained".into(),
        Constraint::Bounded {
            low,
            high,
            open: true,
        } => format!("in ({low}, {high})"),
        Constraint::Bounded {
            low,
            high,
            open: false,
        } => format!("in [{low}, {high}]"),
        other => format!("{other:?}").to_lowercase(),
    }
}

struct Printer<'a> {
    model: &'a Model,
}

impl Printer<'_> {
    fn ty(&self, ty: &ValueType) -> String {
        format!(
            "{}{}",
            elem_name(ty.elem),
            display_shape(&ty.shape, &self.model.dims)
        )
    }

    fn loops(&self, loops: &[LoopId]) -> String {
        loops
            .iter()
            .map(|l| {
                let v = &self.model.loop_vars[l.0];
                format!(
                    " for {} in {}..{}",
                    v.name,
                    self.expr(&v.low),
                    self.expr(&v.high)
                )
            })
            .collect()
    }

    fn expr(&self, expr: &Expr) -> String {
        match &expr.kind {
            ExprKind::Literal(v) => {
                if expr.ty.elem == ElemType::Real && v.fract() == 0.0 && v.is_finite() {
                    format!("{v:.1}")
                } else {
                    format!("{v}")
                }
            }
            ExprKind::Variable(id) => self.model.variables[id.0].name.clone(),
            ExprKind::Let(id) => self.model.lets[id.0].name.clone(),
            ExprKind::Dim(id) => self.model.dims[id.0].name.clone(),
            ExprKind::LoopVar(id) => self.model.loop_vars[id.0].name.clone(),
            ExprKind::Vector(items) => {
                let items: Vec<String> = items.iter().map(|e| self.expr(e)).collect();
                format!("[{}]", items.join(", "))
            }
            ExprKind::Comprehension { body, var } => {
                let v = &self.model.loop_vars[var.0];
                format!(
                    "[{} for {} in {}..{}]",
                    self.expr(body),
                    v.name,
                    self.expr(&v.low),
                    self.expr(&v.high)
                )
            }
            ExprKind::Neg(inner) => format!("(-{})", self.expr(inner)),
            ExprKind::Binary { op, lhs, rhs } => {
                format!("({} {} {})", self.expr(lhs), op.symbol(), self.expr(rhs))
            }
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                format!(
                    "(if {} then {} else {})",
                    self.expr(cond),
                    self.expr(then),
                    self.expr(otherwise)
                )
            }
            ExprKind::Range { low, high } => format!("({}..{})", self.expr(low), self.expr(high)),
            ExprKind::Index { base, indices } => {
                let indices: Vec<String> = indices
                    .iter()
                    .map(|i| match i {
                        IndexExpr::Single(e) => self.expr(e),
                        IndexExpr::Gather(e) => format!("gather {}", self.expr(e)),
                        IndexExpr::Slice { low, high } => {
                            format!("{}:{}", self.expr(low), self.expr(high))
                        }
                        IndexExpr::All => "..".into(),
                    })
                    .collect();
                format!("{}[{}]", self.expr(base), indices.join(", "))
            }
            ExprKind::Call { function, args } => {
                let args: Vec<String> = args.iter().map(|e| self.expr(e)).collect();
                format!("{}({})", function.name(), args.join(", "))
            }
            ExprKind::NetCall { net, args } => {
                let args: Vec<String> = args.iter().map(|e| self.expr(e)).collect();
                format!("{}({})", self.model.nets[*net].name, args.join(", "))
            }
            ExprKind::DistFunction {
                function,
                distribution,
                args,
                variate,
            } => {
                let args: Vec<String> = args.iter().map(|e| self.expr(e)).collect();
                format!(
                    "{}({distribution:?}({}), {})",
                    function.name(),
                    args.join(", "),
                    self.expr(variate)
                )
            }
            ExprKind::Recurrence { pieces, .. } => {
                let pieces: Vec<String> = pieces
                    .iter()
                    .map(|piece| {
                        let head = match piece.loop_var {
                            Some(var) => {
                                let v = &self.model.loop_vars[var.0];
                                format!(
                                    "for {} in {}..{}: ",
                                    v.name,
                                    self.expr(&v.low),
                                    self.expr(&v.high)
                                )
                            }
                            None => String::new(),
                        };
                        format!(
                            "{head}[{}] = {}",
                            self.expr(&piece.index),
                            self.expr(&piece.value)
                        )
                    })
                    .collect();
                format!("recurrence {{ {} }}", pieces.join("; "))
            }
            ExprKind::Element { of, index } => {
                format!(
                    "{}[earlier {}]",
                    self.model.lets[of.0].name,
                    self.expr(index)
                )
            }
        }
    }
}
