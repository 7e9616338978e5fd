//! Symbolic sizes and shapes: reading a size expression into its affine normal form, broadcasting,
//! and printing shapes with dimension names.

use ppl_syntax::{Diagnostic, Span, codes};

use super::{Checked, Checker, Symbol};
use crate::model::*;

/// `[N, 2]`, with dimension names.
pub fn display_shape(shape: &[Size], dims: &[Dim]) -> String {
    let parts: Vec<String> = shape.iter().map(|s| display_size(s, dims)).collect();
    format!("[{}]", parts.join(", "))
}

pub fn display_size(size: &Size, dims: &[Dim]) -> String {
    let mut out = String::new();
    for (dim, coefficient) in &size.terms {
        let name = &dims[dim.0].name;
        let term = match *coefficient {
            1 => name.clone(),
            -1 => format!("-{name}"),
            c => format!("{c} * {name}"),
        };
        if out.is_empty() {
            out = term;
        } else if let Some(rest) = term.strip_prefix('-') {
            out = format!("{out} - {rest}");
        } else {
            out = format!("{out} + {term}");
        }
    }
    if out.is_empty() {
        return size.constant.to_string();
    }
    match size.constant {
        0 => out,
        c if c > 0 => format!("{out} + {c}"),
        c => format!("{out} - {}", -c),
    }
}

impl Checker<'_> {
    /// Reads a size written in a type (`K - 1`, `2 * Z`, `N`), declaring unknown names as new
    /// dimensions (LANGUAGE.md §2: a dimension is declared by its first use in a shape).
    pub(super) fn size_from_syntax(&mut self, expr: &ppl_syntax::Expr) -> Checked<Size> {
        use ppl_syntax::{BinaryOp, ExprKind};
        match &expr.kind {
            ExprKind::Int(value) => Ok(Size::constant(*value)),
            ExprKind::Name(name) => match self.scope.get(name).copied() {
                Some(Symbol::Dim(dim)) => Ok(Size::dim(dim)),
                Some(Symbol::Constant(index)) => {
                    let constant = &self.model.constants[index];
                    if constant.elem == ElemType::Real {
                        return Err(self.report(
                            Diagnostic::error(
                                codes::BAD_SIZE,
                                expr.span,
                                format!("the size `{name}` is a real constant"),
                            )
                            .with_label("sizes must be integers")
                            .with_secondary(constant.span, "declared here"),
                        ));
                    }
                    Ok(Size::constant(constant.value as i64))
                }
                Some(_) => Err(self.report(
                    Diagnostic::error(
                        codes::BAD_SIZE,
                        expr.span,
                        format!("`{name}` cannot be used as a size"),
                    )
                    .with_label("not a constant or a dimension")
                    .with_hint("sizes are integers built from constants and dimension names"),
                )),
                None => {
                    let id = DimId(self.model.dims.len());
                    self.declare(name, expr.span, Symbol::Dim(id))?;
                    self.model.dims.push(Dim {
                        id,
                        name: name.clone(),
                        span: expr.span,
                    });
                    Ok(Size::dim(id))
                }
            },
            ExprKind::Binary { op, lhs, rhs } => {
                let left = self.size_from_syntax(lhs)?;
                let right = self.size_from_syntax(rhs)?;
                match op {
                    BinaryOp::Add => Ok(left.add(&right, 1)),
                    BinaryOp::Sub => Ok(left.add(&right, -1)),
                    BinaryOp::Mul => match (left.as_constant(), right.as_constant()) {
                        (Some(c), _) => Ok(right.scale(c)),
                        (_, Some(c)) => Ok(left.scale(c)),
                        _ => Err(self.bad_size(expr.span)),
                    },
                    _ => Err(self.bad_size(expr.span)),
                }
            }
            ExprKind::Neg(inner) => Ok(self.size_from_syntax(inner)?.scale(-1)),
            _ => Err(self.bad_size(expr.span)),
        }
    }

    /// Refuses a shape whose least possible number of elements is beyond `MAX_ELEMENTS`, before
    /// any later stage tries to allocate it.
    pub(super) fn check_allocation(&mut self, shape: &[Size], span: Span) -> Checked<()> {
        let least = element_count(shape.iter().map(Size::least_value));
        if least <= MAX_ELEMENTS {
            return Ok(());
        }
        let described = if least == i64::MAX {
            "more than 9.2e18".to_string()
        } else {
            format!("at least {least}")
        };
        Err(self.report(
            Diagnostic::error(
                codes::TOO_LARGE,
                span,
                format!("this value would have {described} elements, beyond the limit of {MAX_ELEMENTS}"),
            )
            .with_label("too large to allocate")
            .with_hint("reduce the size (check the constants it is built from), or split the data and fit it in parts"),
        ))
    }

    fn bad_size(&mut self, span: Span) -> super::Reported {
        self.report(
            Diagnostic::error(codes::BAD_SIZE, span, "this size is not an integer-affine expression")
                .with_label("expected constants and dimension names combined with `+`, `-` and `*` by a constant")
                .with_hint("e.g. `real[N]`, `real[K - 1]`, `real[2 * Z]`"),
        )
    }

    /// The size an already-checked int expression stands for, when it is affine in dimensions.
    pub(super) fn size_of_checked(expr: &Expr) -> Option<Size> {
        match &expr.kind {
            ExprKind::Literal(value) if expr.ty.elem != ElemType::Real && value.fract() == 0.0 => {
                Some(Size::constant(*value as i64))
            }
            ExprKind::Dim(dim) => Some(Size::dim(*dim)),
            ExprKind::Neg(inner) => Some(Self::size_of_checked(inner)?.scale(-1)),
            ExprKind::Binary { op, lhs, rhs } => {
                let left = Self::size_of_checked(lhs)?;
                let right = Self::size_of_checked(rhs)?;
                match op {
                    BinaryOp::Add => Some(left.add(&right, 1)),
                    BinaryOp::Sub => Some(left.add(&right, -1)),
                    BinaryOp::Mul => match (left.as_constant(), right.as_constant()) {
                        (Some(c), _) => Some(right.scale(c)),
                        (_, Some(c)) => Some(left.scale(c)),
                        _ => None,
                    },
                    _ => None,
                }
            }
            _ => None,
        }
    }

    /// NumPy broadcasting over trailing axes; sizes must be equal in normal form or one of them 1.
    pub(super) fn broadcast(
        &mut self,
        shapes: &[(&[Size], Span)],
        span: Span,
    ) -> Checked<Vec<Size>> {
        let rank = shapes.iter().map(|(s, _)| s.len()).max().unwrap_or(0);
        let mut out = Vec::with_capacity(rank);
        for axis in 0..rank {
            let mut size: Option<Size> = None;
            for (shape, _) in shapes {
                let offset = rank - shape.len();
                if axis < offset {
                    continue;
                }
                let candidate = &shape[axis - offset];
                size = match size {
                    None => Some(candidate.clone()),
                    Some(current) if current == *candidate => Some(current),
                    Some(current) if current.as_constant() == Some(1) => Some(candidate.clone()),
                    Some(current) if candidate.as_constant() == Some(1) => Some(current),
                    Some(_) => return Err(self.shape_mismatch(shapes, span)),
                };
            }
            out.push(size.unwrap_or_else(|| Size::constant(1)));
        }
        Ok(out)
    }

    pub(super) fn shape_mismatch(
        &mut self,
        shapes: &[(&[Size], Span)],
        span: Span,
    ) -> super::Reported {
        let described: Vec<String> = shapes
            .iter()
            .map(|(s, _)| display_shape(s, &self.model.dims))
            .collect();
        let mut diagnostic = Diagnostic::error(
            codes::SHAPE_MISMATCH,
            span,
            format!("shapes {} do not agree", described.join(" and ")),
        )
        .with_label("these shapes cannot be broadcast together")
        .with_hint(
            "sizes must match exactly (compared symbolically: `N` and `K` differ even if equal at run time), or be 1",
        );
        for ((shape, operand_span), _) in shapes.iter().zip(&described) {
            if *operand_span != span {
                diagnostic = diagnostic.with_secondary(
                    *operand_span,
                    format!("shape {}", display_shape(shape, &self.model.dims)),
                );
            }
        }
        self.report(diagnostic)
    }
}
