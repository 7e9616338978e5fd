//! Checking expressions: name resolution, element types, symbolic shapes, indexing and built-in
//! function signatures.

use ppl_syntax::{self as syntax, Diagnostic, Span, codes};

use super::shapes::display_shape;
use super::{Checked, Checker, Symbol};
use crate::Builtin;
use crate::builtins::ShapeRule;
use crate::model::*;

fn scalar(elem: ElemType) -> ValueType {
    ValueType {
        elem,
        shape: Vec::new(),
    }
}

impl Checker<'_> {
    pub(super) fn expr(&mut self, expr: &syntax::Expr) -> Checked<Expr> {
        let span = expr.span;
        let make = |kind, ty| Expr { kind, ty, span };
        match &expr.kind {
            syntax::ExprKind::Int(value) => Ok(make(
                ExprKind::Literal(*value as f64),
                scalar(ElemType::Int),
            )),
            syntax::ExprKind::Real(value) => {
                Ok(make(ExprKind::Literal(*value), scalar(ElemType::Real)))
            }
            syntax::ExprKind::Bool(value) => Ok(make(
                ExprKind::Literal(f64::from(u8::from(*value))),
                scalar(ElemType::Bool),
            )),
            syntax::ExprKind::Name(name) => self.name(name, span),
            syntax::ExprKind::Vector(items) => {
                let items = items.iter().map(|e| self.expr(e)).collect::<Vec<_>>();
                let items: Vec<Expr> = items.into_iter().collect::<Checked<_>>()?;
                let Some(first) = items.first() else {
                    return Ok(make(
                        ExprKind::Vector(items),
                        ValueType {
                            elem: ElemType::Real,
                            shape: vec![Size::constant(0)],
                        },
                    ));
                };
                let element_shape = first.ty.shape.clone();
                for item in &items[1..] {
                    if item.ty.shape != element_shape {
                        let shapes = [
                            (&element_shape[..], first.span),
                            (&item.ty.shape[..], item.span),
                        ];
                        return Err(self.shape_mismatch(&shapes, span));
                    }
                }
                let elem = items
                    .iter()
                    .map(|i| i.ty.elem)
                    .max()
                    .unwrap_or(ElemType::Real);
                let mut shape = vec![Size::constant(items.len() as i64)];
                shape.extend(element_shape);
                Ok(make(ExprKind::Vector(items), ValueType { elem, shape }))
            }
            syntax::ExprKind::Comprehension { body, var, range } => {
                let (loop_id, length) = self.open_loop(var, range)?;
                let body = self.expr(body);
                self.close_loop(&var.name);
                let body = body?;
                let mut shape = vec![length];
                shape.extend(body.ty.shape.iter().cloned());
                let elem = body.ty.elem;
                Ok(make(
                    ExprKind::Comprehension {
                        body: Box::new(body),
                        var: loop_id,
                    },
                    ValueType { elem, shape },
                ))
            }
            syntax::ExprKind::Neg(inner) => {
                let inner = self.expr(inner)?;
                let mut ty = inner.ty.clone();
                ty.elem = ty.elem.max(ElemType::Int);
                Ok(make(ExprKind::Neg(Box::new(inner)), ty))
            }
            syntax::ExprKind::Binary { op, lhs, rhs } => {
                let lhs = self.expr(lhs)?;
                let rhs = self.expr(rhs)?;
                self.binary(*op, lhs, rhs, span)
            }
            syntax::ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                let cond = self.expr(cond)?;
                let then = self.expr(then)?;
                let otherwise = self.expr(otherwise)?;
                if cond.ty.elem == ElemType::Real {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::TYPE_MISMATCH,
                            cond.span,
                            "the condition of `if` is a real",
                        )
                        .with_label("expected a comparison, a bool or an int")
                        .with_hint("compare it: `if x > 0 then ... else ...`"),
                    ));
                }
                let shape = self.broadcast(
                    &[
                        (&cond.ty.shape, cond.span),
                        (&then.ty.shape, then.span),
                        (&otherwise.ty.shape, otherwise.span),
                    ],
                    span,
                )?;
                let elem = then.ty.elem.max(otherwise.ty.elem);
                Ok(make(
                    ExprKind::If {
                        cond: Box::new(cond),
                        then: Box::new(then),
                        otherwise: Box::new(otherwise),
                    },
                    ValueType { elem, shape },
                ))
            }
            syntax::ExprKind::Range { low, high } => {
                let low = self.int_scalar(low, "a range bound")?;
                let high = self.int_scalar(high, "a range bound")?;
                let length = self.range_length(&low, &high, span)?;
                Ok(make(
                    ExprKind::Range {
                        low: Box::new(low),
                        high: Box::new(high),
                    },
                    ValueType {
                        elem: ElemType::Int,
                        shape: vec![length],
                    },
                ))
            }
            syntax::ExprKind::Index { base, indices } => {
                let base = self.expr(base)?;
                self.index(base, indices, span)
            }
            syntax::ExprKind::Call(call) => self.call(call),
        }
    }

    fn name(&mut self, name: &str, span: Span) -> Checked<Expr> {
        let make = |kind, ty| Ok(Expr { kind, ty, span });
        match self.scope.get(name).copied() {
            Some(Symbol::Constant(index)) => {
                let constant = &self.model.constants[index];
                make(ExprKind::Literal(constant.value), scalar(constant.elem))
            }
            Some(Symbol::Dim(dim)) => make(ExprKind::Dim(dim), scalar(ElemType::Int)),
            Some(Symbol::Variable(id)) => {
                let ty = self.model.variables[id.0].ty.clone();
                make(ExprKind::Variable(id), ty)
            }
            Some(Symbol::Let(id)) => {
                self.note_let_use(id, span);
                let ty = self.model.lets[id.0].value.ty.clone();
                let ty = self.let_type(id, ty);
                make(ExprKind::Let(id), ty)
            }
            Some(Symbol::LoopVar(id)) => make(ExprKind::LoopVar(id), scalar(ElemType::Int)),
            Some(Symbol::SizeList(index)) => {
                let sizes = self.size_lists[index].clone();
                let mut items = Vec::with_capacity(sizes.len());
                for size in &sizes {
                    match size.as_constant() {
                        Some(value) => items.push(Expr {
                            kind: ExprKind::Literal(value as f64),
                            ty: scalar(ElemType::Int),
                            span,
                        }),
                        None => match size.terms.as_slice() {
                            [(dim, 1)] if size.constant == 0 => items.push(Expr {
                                kind: ExprKind::Dim(*dim),
                                ty: scalar(ElemType::Int),
                                span,
                            }),
                            _ => {
                                return Err(self.report(
                                    Diagnostic::error(
                                        codes::BAD_SIZE,
                                        span,
                                        format!("`{name}` is a list of sizes"),
                                    )
                                    .with_label("usable in `mlp(...)`"),
                                ));
                            }
                        },
                    }
                }
                let ty = ValueType {
                    elem: ElemType::Int,
                    shape: vec![Size::constant(items.len() as i64)],
                };
                make(ExprKind::Vector(items), ty)
            }
            Some(Symbol::Net(_)) => Err(self.report(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    span,
                    format!("the net `{name}` is a function"),
                )
                .with_label("call it with an argument")
                .with_hint(format!("e.g. `{name}(x)`")),
            )),
            None if name == "pi" => make(
                ExprKind::Literal(std::f64::consts::PI),
                scalar(ElemType::Real),
            ),
            None if name == "inf" => make(ExprKind::Literal(f64::INFINITY), scalar(ElemType::Real)),
            None => Err(self.unknown_name(name, span)),
        }
    }

    /// A `let` declared inside loops is indexed by them: its type gains the loop ranges in front.
    fn let_type(&self, id: LetId, ty: ValueType) -> ValueType {
        let let_ = &self.model.lets[id.0];
        let mut shape: Vec<Size> = let_
            .loops
            .iter()
            .map(|l| {
                let loop_var = &self.model.loop_vars[l.0];
                Self::size_of_checked(&loop_var.high)
                    .zip(Self::size_of_checked(&loop_var.low))
                    .map(|(h, lo)| h.add(&lo, -1).add(&Size::constant(1), 1))
                    .unwrap_or_default()
            })
            .collect();
        shape.extend(ty.shape);
        ValueType {
            elem: ty.elem,
            shape,
        }
    }

    pub(super) fn unknown_name(&mut self, name: &str, span: Span) -> super::Reported {
        if self.failed_names.contains(name) {
            // The failed declaration has reported; this use adds nothing.
            return super::Reported;
        }
        if let Some(bounded) = self.bounding.clone() {
            let order = if bounded == name {
                Some(format!("`{bounded}`'s bound uses `{bounded}` itself"))
            } else {
                self.declarations
                    .contains_key(name)
                    .then(|| format!("`{bounded}`'s bound uses `{name}`, declared after it"))
            };
            if let Some(message) = order {
                let mut diagnostic = Diagnostic::error(codes::USED_BEFORE_DECLARED, span, message)
                    .with_label("not declared before the bounded variable")
                    .with_hint(
                        "a bound may use data and the unknowns declared before it: the order of declaration decides",
                    );
                if let Some(&declared) = self.declarations.get(name)
                    && bounded != name
                {
                    diagnostic = diagnostic.with_secondary(declared, "declared here");
                }
                return self.report(diagnostic);
            }
        }
        let names = self.visible_names();
        let mut diagnostic = Diagnostic::error(
            codes::UNKNOWN_NAME,
            span,
            format!("`{name}` is not declared"),
        )
        .with_label("unknown name");
        if let Some(suggestion) =
            ppl_syntax::diagnostic::closest(name, names.iter().map(String::as_str))
        {
            diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
        } else {
            diagnostic = diagnostic.with_hint(format!(
                "declare it first, e.g. `param {name}: real` or `observed {name}: real[N]`"
            ));
        }
        self.report(diagnostic)
    }

    /// An expression that must be one int: a range bound, a single index.
    pub(super) fn int_scalar(&mut self, expr: &syntax::Expr, what: &str) -> Checked<Expr> {
        let checked = self.expr(expr)?;
        if checked.ty.elem == ElemType::Real || !checked.ty.shape.is_empty() {
            let found = self.describe_type(&checked.ty);
            return Err(self.report(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    expr.span,
                    format!("{what} must be an int"),
                )
                .with_label(format!("this is {found}")),
            ));
        }
        Ok(checked)
    }

    pub(super) fn describe_type(&self, ty: &ValueType) -> String {
        let elem = match ty.elem {
            ElemType::Bool => "bool",
            ElemType::Int => "int",
            ElemType::Real => "real",
        };
        if ty.shape.is_empty() && ty.elem == ElemType::Int {
            "an int".into()
        } else if ty.shape.is_empty() {
            format!("a {elem}")
        } else {
            format!("{elem}{}", display_shape(&ty.shape, &self.model.dims))
        }
    }

    /// `high - low + 1` as a size; ranges whose length is not affine in dimensions are rejected
    /// because shapes must be known symbolically.
    fn range_length(&mut self, low: &Expr, high: &Expr, span: Span) -> Checked<Size> {
        match (Self::size_of_checked(low), Self::size_of_checked(high)) {
            (Some(l), Some(h)) => {
                let length = h.add(&l, -1).add(&Size::constant(1), 1);
                self.check_allocation(std::slice::from_ref(&length), span)?;
                Ok(length)
            }
            _ => Err(self.report(
                Diagnostic::error(
                    codes::BAD_SIZE,
                    span,
                    "the length of this range is not known from the model",
                )
                .with_label("bounds must be constants, dimensions or loop-free sums of them")
                .with_hint("e.g. `1..N`, `2..K`, `1..(N - 1)`"),
            )),
        }
    }

    /// Enters a loop or comprehension variable; returns its id and the loop's length.
    pub(super) fn open_loop(
        &mut self,
        var: &syntax::Ident,
        range: &syntax::Expr,
    ) -> Checked<(LoopId, Size)> {
        let syntax::ExprKind::Range { low, high } = &range.kind else {
            return Err(self.report(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    range.span,
                    "a loop runs over a range `a..b`",
                )
                .with_label("expected `low..high`")
                .with_hint("e.g. `for n in 1..N { ... }`"),
            ));
        };
        let low = self.int_scalar(low, "a loop bound")?;
        let high = self.int_scalar(high, "a loop bound")?;
        let length = self.range_length(&low, &high, range.span)?;
        if self.scope.contains_key(&var.name) {
            let previous = self.declared_at.get(&var.name).copied().unwrap_or(var.span);
            return Err(self.report(
                Diagnostic::error(
                    codes::DUPLICATE_NAME,
                    var.span,
                    format!("`{}` is already declared", var.name),
                )
                .with_label("a loop variable must have a new name")
                .with_secondary(previous, "declared here"),
            ));
        }
        let id = LoopId(self.model.loop_vars.len());
        self.model.loop_vars.push(LoopVar {
            id,
            name: var.name.clone(),
            low,
            high,
            span: var.span,
        });
        self.scope.insert(var.name.clone(), Symbol::LoopVar(id));
        Ok((id, length))
    }

    pub(super) fn close_loop(&mut self, name: &str) {
        self.scope.remove(name);
    }

    fn binary(&mut self, op: BinaryOp, lhs: Expr, rhs: Expr, span: Span) -> Checked<Expr> {
        let (elem, shape) = if op == BinaryOp::MatMul {
            (ElemType::Real, self.matmul_shape(&lhs, &rhs, span)?)
        } else {
            let shape = self.broadcast(
                &[(&lhs.ty.shape, lhs.span), (&rhs.ty.shape, rhs.span)],
                span,
            )?;
            let elem = if op.is_comparison() {
                ElemType::Int
            } else if matches!(op, BinaryOp::Div | BinaryOp::Pow) {
                ElemType::Real
            } else {
                lhs.ty.elem.max(rhs.ty.elem).max(ElemType::Int)
            };
            (elem, shape)
        };
        Ok(Expr {
            kind: ExprKind::Binary {
                op,
                lhs: Box::new(lhs),
                rhs: Box::new(rhs),
            },
            ty: ValueType { elem, shape },
            span,
        })
    }

    fn matmul_shape(&mut self, lhs: &Expr, rhs: &Expr, span: Span) -> Checked<Vec<Size>> {
        let (a, b) = (&lhs.ty.shape, &rhs.ty.shape);
        let inner_ok = |x: &Size, y: &Size| x == y;
        let shape = match (a.len(), b.len()) {
            (2, 2) if inner_ok(&a[1], &b[0]) => vec![a[0].clone(), b[1].clone()],
            (2, 1) if inner_ok(&a[1], &b[0]) => vec![a[0].clone()],
            (1, 2) if inner_ok(&a[0], &b[0]) => vec![b[1].clone()],
            (1, 1) if inner_ok(&a[0], &b[0]) => vec![],
            _ => {
                let message = format!(
                    "`@` cannot multiply {} by {}",
                    display_shape(a, &self.model.dims),
                    display_shape(b, &self.model.dims)
                );
                return Err(self.report(
                    Diagnostic::error(codes::SHAPE_MISMATCH, span, message)
                        .with_label("the inner sizes must match")
                        .with_secondary(
                            lhs.span,
                            format!("shape {}", display_shape(a, &self.model.dims)),
                        )
                        .with_secondary(
                            rhs.span,
                            format!("shape {}", display_shape(b, &self.model.dims)),
                        ),
                ));
            }
        };
        Ok(shape)
    }

    fn index(&mut self, base: Expr, indices: &[syntax::Index], span: Span) -> Checked<Expr> {
        if indices.len() > base.ty.shape.len() {
            let axes = base.ty.shape.len();
            let message = format!(
                "{} ind{} for a value with {} ax{}",
                indices.len(),
                if indices.len() == 1 { "ex" } else { "ices" },
                axes,
                if axes == 1 { "is" } else { "es" }
            );
            let found = self.describe_type(&base.ty);
            return Err(self.report(
                Diagnostic::error(codes::WRONG_INDEX_COUNT, span, message)
                    .with_label("too many indices")
                    .with_secondary(base.span, format!("this is {found}")),
            ));
        }
        let mut shape = Vec::new();
        let mut checked = Vec::with_capacity(indices.len());
        for (axis, index) in indices.iter().enumerate() {
            match index {
                syntax::Index::All(_) => {
                    shape.push(base.ty.shape[axis].clone());
                    checked.push(IndexExpr::All);
                }
                syntax::Index::Slice { low, high, span } => {
                    let low = self.int_scalar(low, "a slice bound")?;
                    let high = self.int_scalar(high, "a slice bound")?;
                    shape.push(self.range_length(&low, &high, *span)?);
                    checked.push(IndexExpr::Slice { low, high });
                }
                syntax::Index::Expr(expr) => {
                    let value = self.expr(expr)?;
                    if value.ty.elem == ElemType::Real {
                        return Err(self.report(
                            Diagnostic::error(
                                codes::TYPE_MISMATCH,
                                expr.span,
                                "an index must be an int",
                            )
                            .with_label("this is a real")
                            .with_hint(
                                "indices are 1-based ints; declare the index variable as `int`",
                            ),
                        ));
                    }
                    if value.ty.shape.is_empty() {
                        checked.push(IndexExpr::Single(value));
                    } else {
                        shape.extend(value.ty.shape.iter().cloned());
                        checked.push(IndexExpr::Gather(value));
                    }
                }
            }
        }
        shape.extend(base.ty.shape[indices.len()..].iter().cloned());
        let elem = base.ty.elem;
        Ok(Expr {
            kind: ExprKind::Index {
                base: Box::new(base),
                indices: checked,
            },
            ty: ValueType { elem, shape },
            span,
        })
    }

    fn call(&mut self, call: &syntax::Call) -> Checked<Expr> {
        let name = call.func.name.as_str();
        if let Some(Symbol::Net(net)) = self.scope.get(name).copied() {
            let args = call
                .args
                .iter()
                .map(|a| self.expr(&a.value))
                .collect::<Vec<_>>();
            let args: Vec<Expr> = args.into_iter().collect::<Checked<_>>()?;
            let out = self.model.nets[net]
                .sizes
                .last()
                .cloned()
                .unwrap_or_default();
            let mut shape: Vec<Size> = args
                .first()
                .map(|a| a.ty.shape[..a.ty.shape.len().saturating_sub(1)].to_vec())
                .unwrap_or_default();
            shape.push(out);
            return Ok(Expr {
                kind: ExprKind::NetCall { net, args },
                ty: ValueType {
                    elem: ElemType::Real,
                    shape,
                },
                span: call.span,
            });
        }
        if let Some(function) = crate::DistFunction::from_name(name) {
            return self.dist_function(function, call);
        }
        let Some(function) = Builtin::from_name(name) else {
            return Err(self.unknown_function(&call.func));
        };
        if let Some(keyword) = call.args.iter().find_map(|a| a.name.as_ref()) {
            return Err(self.report(
                Diagnostic::error(
                    codes::BAD_KEYWORD,
                    keyword.span,
                    format!("`{name}` takes no keyword arguments"),
                )
                .with_label("unexpected keyword"),
            ));
        }
        let (min, max) = function.arity();
        if call.args.len() < min || call.args.len() > max {
            let expected = if min == max {
                format!("{min}")
            } else {
                format!("{min} to {max}")
            };
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    call.span,
                    format!(
                        "`{name}` takes {expected} argument{}, not {}",
                        if max == 1 { "" } else { "s" },
                        call.args.len()
                    ),
                )
                .with_label("wrong number of arguments"),
            ));
        }
        let args = call
            .args
            .iter()
            .map(|a| self.expr(&a.value))
            .collect::<Vec<_>>();
        let args: Vec<Expr> = args.into_iter().collect::<Checked<_>>()?;
        let ty = self.builtin_type(function, &args, call)?;
        Ok(Expr {
            kind: ExprKind::Call { function, args },
            ty,
            span: call.span,
        })
    }

    /// `logpdf(D(args), x)` and its cdf relatives: the distribution resolved as in a `~`
    /// statement with `x` as its variate; scalar kinds only, and a cdf only where one is written.
    fn dist_function(
        &mut self,
        function: crate::DistFunction,
        call: &syntax::Call,
    ) -> Checked<Expr> {
        let name = function.name();
        let usage = format!("`{name}(Normal(mu, sigma), x)`: a distribution, then the value");
        let (Some(dist), Some(value), 2) = (call.args.first(), call.args.get(1), call.args.len())
        else {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    call.span,
                    format!("`{name}` takes a distribution and a value"),
                )
                .with_label("wrong arguments")
                .with_hint(usage),
            ));
        };
        let syntax::ExprKind::Call(dist_call) = &dist.value.kind else {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    dist.value.span,
                    format!("the first argument of `{name}` must be a distribution"),
                )
                .with_label("not a distribution")
                .with_hint(usage),
            ));
        };
        if let Some(keyword) = dist.name.as_ref().or(value.name.as_ref()) {
            return Err(self.report(
                Diagnostic::error(
                    codes::BAD_KEYWORD,
                    keyword.span,
                    format!("`{name}` takes no keyword arguments"),
                )
                .with_label("unexpected keyword"),
            ));
        }
        let variate = self.expr(&value.value)?;
        let (distribution, args) = self.distribution(dist_call, &variate)?;
        let refuse = |checker: &mut Self, why: String| {
            Err(checker.report(
                Diagnostic::error(codes::WRONG_ARGUMENTS, dist_call.span, why)
                    .with_label("not available for this distribution"),
            ))
        };
        if !distribution.is_scalar() {
            return refuse(
                self,
                format!(
                    "`{name}` of the multivariate `{}` is not supported yet",
                    dist_call.func.name
                ),
            );
        }
        if function != crate::DistFunction::LogPdf && !ppl_dist::has_cdf(distribution) {
            return refuse(
                self,
                format!(
                    "`{name}` is written for {}, not `{}`",
                    super::statements::kinds_with_cdf(),
                    dist_call.func.name
                ),
            );
        }
        let mut shapes: Vec<(&[Size], Span)> = vec![(&variate.ty.shape, variate.span)];
        shapes.extend(args.iter().map(|a| (a.ty.shape.as_slice(), a.span)));
        let shape = self.broadcast(&shapes, call.span)?;
        Ok(Expr {
            kind: ExprKind::DistFunction {
                function,
                distribution,
                args,
                variate: Box::new(variate),
            },
            ty: ValueType {
                elem: ElemType::Real,
                shape,
            },
            span: call.span,
        })
    }

    pub(super) fn unknown_function(&mut self, func: &syntax::Ident) -> super::Reported {
        let mut candidates: Vec<&str> = Builtin::ALL.iter().map(|b| b.name()).collect();
        let nets: Vec<String> = self.model.nets.iter().map(|n| n.name.clone()).collect();
        candidates.extend(nets.iter().map(String::as_str));
        let mut diagnostic = Diagnostic::error(
            codes::UNKNOWN_FUNCTION,
            func.span,
            format!("there is no function `{}`", func.name),
        )
        .with_label("unknown function");
        if ppl_dist::family(&func.name).is_some() {
            diagnostic = diagnostic.with_hint(format!(
                "`{}` is a distribution: use it on the right of `~`",
                func.name
            ));
        } else if let Some(suggestion) = ppl_syntax::diagnostic::closest(&func.name, candidates) {
            diagnostic = diagnostic.with_hint(format!("did you mean `{suggestion}`?"));
        }
        self.report(diagnostic)
    }

    /// Shape and type rules of each built-in.
    fn builtin_type(
        &mut self,
        function: Builtin,
        args: &[Expr],
        call: &syntax::Call,
    ) -> Checked<ValueType> {
        let real = |shape: Vec<Size>| ValueType {
            elem: ElemType::Real,
            shape,
        };
        let rank_error = |checker: &mut Self, what: &str| {
            let found = checker.describe_type(&args[0].ty);
            Err(checker.report(
                Diagnostic::error(
                    codes::SHAPE_MISMATCH,
                    args[0].span,
                    format!("`{}` expects {what}", function.name()),
                )
                .with_label(format!("this is {found}")),
            ))
        };
        let first = &args[0].ty;
        Ok(match function.shape_rule() {
            ShapeRule::ReduceOrPairwise if args.len() == 2 => real(self.broadcast(
                &[
                    (&first.shape, args[0].span),
                    (&args[1].ty.shape, args[1].span),
                ],
                call.span,
            )?),
            ShapeRule::Elementwise => {
                if args.len() == 2 {
                    real(self.broadcast(
                        &[
                            (&first.shape, args[0].span),
                            (&args[1].ty.shape, args[1].span),
                        ],
                        call.span,
                    )?)
                } else {
                    real(first.shape.clone())
                }
            }
            ShapeRule::ElementwiseKeepsInt => ValueType {
                elem: first.elem.max(ElemType::Int),
                shape: first.shape.clone(),
            },
            ShapeRule::ReduceKeepsInt => ValueType {
                elem: first.elem.max(ElemType::Int),
                shape: vec![],
            },
            ShapeRule::Reduce | ShapeRule::ReduceOrPairwise => real(vec![]),
            ShapeRule::AtProbabilities => {
                if !args[1].ty.shape.is_empty() {
                    real(args[1].ty.shape.clone())
                } else {
                    real(vec![])
                }
            }
            ShapeRule::ReduceOrPairwiseKeepsType => {
                if args.len() == 2 {
                    let shape = self.broadcast(
                        &[
                            (&first.shape, args[0].span),
                            (&args[1].ty.shape, args[1].span),
                        ],
                        call.span,
                    )?;
                    ValueType {
                        elem: first.elem.max(args[1].ty.elem),
                        shape,
                    }
                } else {
                    ValueType {
                        elem: first.elem,
                        shape: vec![],
                    }
                }
            }
            ShapeRule::Dot => {
                if first.shape.len() != 1 || args[1].ty.shape != first.shape {
                    return rank_error(self, "two vectors of the same length");
                }
                real(vec![])
            }
            ShapeRule::LastAxis => {
                if first.shape.is_empty() {
                    return rank_error(self, "a vector");
                }
                real(first.shape.clone())
            }
            ShapeRule::Sizes | ShapeRule::Fill => {
                let fill = function.shape_rule() == ShapeRule::Fill;
                let count = if fill { 1 } else { args.len() };
                let mut shape = Vec::new();
                for arg in &args[..count] {
                    match Self::size_of_checked(arg) {
                        Some(size) => shape.push(size),
                        None => {
                            return Err(self.report(
                                Diagnostic::error(
                                    codes::BAD_SIZE,
                                    arg.span,
                                    format!(
                                        "the size given to `{}` is not known from the model",
                                        function.name()
                                    ),
                                )
                                .with_label("expected a constant or a dimension"),
                            ));
                        }
                    }
                }
                if fill {
                    shape.extend(args[1].ty.shape.iter().cloned());
                }
                self.check_allocation(&shape, call.span)?;
                if fill {
                    ValueType {
                        elem: args[1].ty.elem,
                        shape,
                    }
                } else {
                    real(shape)
                }
            }
            ShapeRule::RowCount | ShapeRule::ColumnCount => {
                let axis = usize::from(function.shape_rule() == ShapeRule::ColumnCount);
                if first.shape.len() <= axis {
                    return rank_error(self, if axis == 0 { "an array" } else { "a matrix" });
                }
                ValueType {
                    elem: ElemType::Int,
                    shape: vec![],
                }
            }
            ShapeRule::Transpose => match first.shape.len() {
                2 => ValueType {
                    elem: first.elem,
                    shape: vec![first.shape[1].clone(), first.shape[0].clone()],
                },
                _ => return rank_error(self, "a matrix"),
            },
            ShapeRule::PerRow | ShapeRule::PerColumn | ShapeRule::PerColumnMean => {
                if first.shape.len() != 2 {
                    return rank_error(self, "a matrix");
                }
                let axis = usize::from(function.shape_rule() == ShapeRule::PerRow);
                let elem = if function.shape_rule() == ShapeRule::PerColumnMean {
                    ElemType::Real
                } else {
                    first.elem.max(ElemType::Int)
                };
                ValueType {
                    elem,
                    shape: vec![first.shape[1 - axis].clone()],
                }
            }
            ShapeRule::Columns | ShapeRule::Rows => {
                let columns = function.shape_rule() == ShapeRule::Columns;
                let mut rows: Option<Size> = None;
                let mut total = Size::constant(0);
                for arg in args {
                    let (length, width) = match arg.ty.shape.len() {
                        1 => (arg.ty.shape[0].clone(), Size::constant(1)),
                        2 if columns => (arg.ty.shape[0].clone(), arg.ty.shape[1].clone()),
                        2 => (arg.ty.shape[1].clone(), arg.ty.shape[0].clone()),
                        _ => {
                            return Err(self.report(
                                Diagnostic::error(
                                    codes::SHAPE_MISMATCH,
                                    arg.span,
                                    format!("`{}` takes vectors and matrices", function.name()),
                                )
                                .with_label("not a vector or a matrix"),
                            ));
                        }
                    };
                    if let Some(existing) = &rows
                        && *existing != length
                    {
                        let shapes = [
                            (&args[0].ty.shape[..], args[0].span),
                            (&arg.ty.shape[..], arg.span),
                        ];
                        return Err(self.shape_mismatch(&shapes, call.span));
                    }
                    rows = Some(length);
                    total = total.add(&width, 1);
                }
                let rows = rows.unwrap_or_default();
                let elem = args
                    .iter()
                    .map(|a| a.ty.elem)
                    .max()
                    .unwrap_or(ElemType::Real);
                let shape = if columns {
                    vec![rows, total]
                } else {
                    vec![total, rows]
                };
                ValueType { elem, shape }
            }
            ShapeRule::SameVector => {
                if first.shape.len() != 1 {
                    return rank_error(self, "a vector");
                }
                first.clone()
            }
            ShapeRule::VectorToSquare => {
                if first.shape.len() != 1 {
                    return rank_error(self, "a vector");
                }
                real(vec![first.shape[0].clone(), first.shape[0].clone()])
            }
            ShapeRule::SquareMatrix => {
                if first.shape.len() != 2 || first.shape[0] != first.shape[1] {
                    return rank_error(self, "a square matrix");
                }
                real(first.shape.clone())
            }
            ShapeRule::PointsToSquare => {
                if first.shape.len() != 1 {
                    return rank_error(self, "a vector of inputs");
                }
                real(vec![first.shape[0].clone(), first.shape[0].clone()])
            }
        })
    }
}
