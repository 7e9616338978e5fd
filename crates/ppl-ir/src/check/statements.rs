//! Checking statements: declarations and their types, `~` statements against the distribution
//! catalogue, loops, and the forms kept for later engines (`guide`, `net`, `infer`, ...).

use ppl_dist::{DistKind, Family};
use ppl_syntax::{self as syntax, BaseType, DeclKind, Diagnostic, Span, StatementKind, codes};

use super::shapes::display_shape;
use super::{Checked, Checker, Coverage, Symbol};
use crate::Method;
use crate::model::*;

impl Checker<'_> {
    pub(super) fn statement(&mut self, statement: &syntax::Statement, loops: &[LoopId]) {
        // A failed statement has already reported; nothing else to do.
        let _ = self.statement_inner(statement, loops);
    }

    fn statement_inner(&mut self, statement: &syntax::Statement, loops: &[LoopId]) -> Checked<()> {
        let span = statement.span;
        match &statement.kind {
            StatementKind::Data { path, path_span } => {
                if let Some((_, previous)) = &self.model.data_file {
                    let previous = *previous;
                    return Err(self.report(
                        Diagnostic::error(
                            codes::DUPLICATE_NAME,
                            span,
                            "the data file is named twice",
                        )
                        .with_secondary(previous, "first named here"),
                    ));
                }
                self.model.data_file = Some((path.clone(), *path_span));
            }
            StatementKind::Const { name, value } => {
                if let Err(reported) = self.constant(name, value) {
                    self.failed_declaration(&name.name);
                    return Err(reported);
                }
            }
            StatementKind::Declare {
                kind,
                name,
                ty,
                init,
            } => {
                let declared = self
                    .only_top_level(loops, span, "a declaration")
                    .and_then(|()| self.declaration(*kind, name, ty, init.as_ref(), span));
                if let Err(reported) = declared {
                    self.failed_declaration(&name.name);
                    return Err(reported);
                }
            }
            StatementKind::Let { name, value, local } => {
                let value = match self.expr(value) {
                    Ok(value) => value,
                    Err(reported) => {
                        self.failed_declaration(&name.name);
                        return Err(reported);
                    }
                };
                // Later passes inline a `let` where it is used, recursively: bound the depth here.
                let depth = expanded_depth(&value, &self.let_depths);
                if depth > MAX_EXPANDED_DEPTH {
                    self.failed_declaration(&name.name);
                    return Err(self.report(
                        Diagnostic::error(
                            codes::TOO_LONG_A_CHAIN,
                            name.span,
                            format!(
                                "`{}` builds on a chain of `let`s nested {depth} deep, more than {MAX_EXPANDED_DEPTH}",
                                name.name
                            ),
                        )
                        .with_label("this `let` is too deeply nested")
                        .with_hint("write the chain as a vector or a loop over an array instead of one `let` per step"),
                    ));
                }
                self.let_depths.push(depth);
                let depends_on_unknowns = self.depends_on_unknowns(&value);
                let id = LetId(self.model.lets.len());
                self.declare(&name.name, name.span, Symbol::Let(id))?;
                self.model.lets.push(Let {
                    id,
                    name: name.name.clone(),
                    value,
                    depends_on_unknowns,
                    local: *local,
                    loops: loops.to_vec(),
                    span,
                });
            }
            StatementKind::LetElement {
                name,
                index,
                value,
                local,
            } => self.let_element(name, index, value, *local, loops, span)?,
            StatementKind::Net { name, value } => {
                let declared = self
                    .only_top_level(loops, span, "a `net`")
                    .and_then(|()| self.net(name, value, span));
                if let Err(reported) = declared {
                    self.failed_declaration(&name.name);
                    return Err(reported);
                }
            }
            StatementKind::Tilde {
                target,
                dist,
                truncation,
            } => self.tilde(target, dist, truncation.as_ref(), loops, span)?,
            StatementKind::For { var, range, body } => {
                let (id, _) = self.open_loop(var, range)?;
                let mut inner = loops.to_vec();
                inner.push(id);
                for statement in body {
                    self.statement(statement, &inner);
                }
                self.close_loop(&var.name);
            }
            StatementKind::Factor { value } => {
                let value = self.expr(value)?;
                self.model.terms.push(Term {
                    kind: TermKind::Factor(value),
                    loops: loops.to_vec(),
                    span,
                });
            }
            StatementKind::Energy { value } => {
                let value = self.expr(value)?;
                self.model.terms.push(Term {
                    kind: TermKind::Energy(value),
                    loops: loops.to_vec(),
                    span,
                });
            }
            StatementKind::Guide { target, dist } => {
                let target_expr = self.expr(target)?;
                let (distribution, args) = self.distribution(dist, &target_expr)?;
                self.model.guides.push(Guide {
                    target: target_expr,
                    distribution,
                    args,
                    span,
                });
            }
            StatementKind::Critic { net } => {
                let Some(Symbol::Net(index)) = self.scope.get(&net.name).copied() else {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::UNKNOWN_NAME,
                            net.span,
                            format!("`{}` is not a declared net", net.name),
                        )
                        .with_label("expected the name of a `net`")
                        .with_hint(format!(
                            "declare it first: `net {} = mlp(D, 64, 1)`",
                            net.name
                        )),
                    ));
                };
                self.model.critics.push(Critic { net: index, span });
                self.model.unsupported.push(Unsupported {
                    feature: Feature::Critic,
                    description: "adversarial training (`critic`)".into(),
                    span,
                });
            }
            StatementKind::Infer { method, args } => {
                let Some(method_value) = Method::from_name(&method.name) else {
                    let mut diagnostic = Diagnostic::error(
                        codes::BAD_SETTING,
                        method.span,
                        format!("there is no inference method `{}`", method.name),
                    )
                    .with_label("unknown method");
                    diagnostic = match ppl_syntax::diagnostic::closest(
                        &method.name,
                        Method::ALL.iter().map(|m| m.name()),
                    ) {
                        Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                        None => diagnostic.with_hint(format!(
                            "methods: {}",
                            Method::ALL.map(|m| m.name()).join(", ")
                        )),
                    };
                    return Err(self.report(diagnostic));
                };
                let mut settings = Vec::new();
                for arg in args {
                    let Some(key) = &arg.name else {
                        return Err(self.report(
                            Diagnostic::error(
                                codes::BAD_SETTING,
                                arg.span,
                                "`infer` settings are written `name = value`",
                            )
                            .with_label("expected `name = value`"),
                        ));
                    };
                    let value = self.expr(&arg.value)?;
                    let ExprKind::Literal(number) = value.kind else {
                        return Err(self.report(
                            Diagnostic::error(
                                codes::NOT_CONSTANT,
                                arg.value.span,
                                "an `infer` setting must be a number",
                            )
                            .with_label("not a constant"),
                        ));
                    };
                    settings.push(InferSetting {
                        key: key.name.clone(),
                        key_span: key.span,
                        value: number,
                        value_span: arg.value.span,
                    });
                }
                self.model.infer = Some(InferRequest {
                    method: method_value,
                    settings,
                    span,
                });
            }
            StatementKind::ModelSignature { params, .. } => {
                // Run on its own, a library file is an ordinary model: each argument's default
                // is a constant (`--set latent=3` overrides it), an int list a size list.
                for param in params {
                    let Some(default) = &param.default else {
                        continue;
                    };
                    if let syntax::ExprKind::Vector(items) = &default.kind {
                        let mut sizes = Vec::with_capacity(items.len());
                        for item in items {
                            sizes.push(self.size_from_syntax(item)?);
                        }
                        let index = self.size_lists.len();
                        self.declare(&param.name.name, param.name.span, Symbol::SizeList(index))?;
                        self.size_lists.push(sizes);
                        continue;
                    }
                    self.constant(&param.name, default)?;
                    if param.ty.base.name == "real"
                        && let Some(constant) = self.model.constants.last_mut()
                    {
                        constant.elem = ElemType::Real;
                    }
                }
            }
        }
        Ok(())
    }

    fn only_top_level(&mut self, loops: &[LoopId], span: Span, what: &str) -> Checked<()> {
        if loops.is_empty() {
            return Ok(());
        }
        Err(self.report(
            Diagnostic::error(
                codes::SYNTAX,
                span,
                format!("{what} cannot be inside a `for` loop"),
            )
            .with_label("move it before the loop"),
        ))
    }

    fn constant(&mut self, name: &syntax::Ident, value: &syntax::Expr) -> Checked<()> {
        let checked = self.expr(value)?;
        let override_value = self
            .options
            .const_overrides
            .iter()
            .find(|(n, _)| *n == name.name)
            .map(|(_, v)| *v);
        let number = match (override_value, Self::fold(&checked)) {
            (Some(v), _) => v,
            (None, Some(v)) => v,
            (None, None) => {
                return Err(self.report(
                    Diagnostic::error(
                        codes::NOT_CONSTANT,
                        value.span,
                        format!("`{}` must be known when the model is read", name.name),
                    )
                    .with_label("this depends on data or unknowns")
                    .with_hint("use `let` for values computed from data or unknowns"),
                ));
            }
        };
        let elem = if checked.ty.elem == ElemType::Real || number.fract() != 0.0 {
            ElemType::Real
        } else {
            ElemType::Int
        };
        let index = self.model.constants.len();
        self.declare(&name.name, name.span, Symbol::Constant(index))?;
        self.model.constants.push(Constant {
            name: name.name.clone(),
            value: number,
            elem,
            span: name.span,
        });
        Ok(())
    }

    /// The value of an expression made only of literals, when it is a scalar.
    pub(super) fn fold(expr: &Expr) -> Option<f64> {
        Some(match &expr.kind {
            ExprKind::Literal(v) => *v,
            ExprKind::Neg(inner) => -Self::fold(inner)?,
            ExprKind::Binary { op, lhs, rhs } => {
                let (a, b) = (Self::fold(lhs)?, Self::fold(rhs)?);
                match op {
                    BinaryOp::Add => a + b,
                    BinaryOp::Sub => a - b,
                    BinaryOp::Mul => a * b,
                    BinaryOp::Div => a / b,
                    BinaryOp::Pow => a.powf(b),
                    _ => return None,
                }
            }
            _ => return None,
        })
    }

    fn declaration(
        &mut self,
        kind: DeclKind,
        name: &syntax::Ident,
        ty: &syntax::TypeExpr,
        init: Option<&syntax::Expr>,
        span: Span,
    ) -> Checked<()> {
        let Some(base) = BaseType::from_name(&ty.base.name) else {
            let mut diagnostic = Diagnostic::error(
                codes::UNKNOWN_TYPE,
                ty.base.span,
                format!("there is no type `{}`", ty.base.name),
            )
            .with_label("unknown type");
            diagnostic = match ppl_syntax::diagnostic::closest(&ty.base.name, BaseType::ALL_NAMES) {
                Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                None => diagnostic.with_hint(format!("types: {}", BaseType::ALL_NAMES.join(", "))),
            };
            return Err(self.report(diagnostic));
        };
        // `observed N: int` declares the dimension N itself.
        if kind == DeclKind::Observed
            && base == BaseType::Int
            && ty.sizes.is_none()
            && ty.bound.is_none()
            && init.is_none()
        {
            if let Some(Symbol::Dim(_)) = self.scope.get(&name.name) {
                return Ok(());
            }
            let id = DimId(self.model.dims.len());
            self.declare(&name.name, name.span, Symbol::Dim(id))?;
            self.model.dims.push(Dim {
                id,
                name: name.name.clone(),
                span: name.span,
            });
            return Ok(());
        }
        let mut sizes = Vec::new();
        for size in ty.sizes.iter().flatten() {
            let size = self.size_from_syntax(size)?;
            if let Some(value) = size.as_constant()
                && value < 0
            {
                return Err(self.report(
                    Diagnostic::error(
                        codes::NEGATIVE_SIZE,
                        ty.span,
                        format!("a size of {value} is negative"),
                    )
                    .with_label("sizes must be 0 or more"),
                ));
            }
            sizes.push(size);
        }
        self.check_allocation(&sizes, ty.span)?;
        let (elem, constraint, shape) = match base {
            BaseType::Real => (ElemType::Real, Constraint::None, sizes),
            BaseType::Int => (ElemType::Int, Constraint::None, sizes),
            BaseType::Bool => (
                ElemType::Bool,
                Constraint::Bounded {
                    low: 0.0,
                    high: 1.0,
                    open: false,
                },
                sizes,
            ),
            BaseType::Positive => (
                ElemType::Real,
                Constraint::Bounded {
                    low: 0.0,
                    high: f64::INFINITY,
                    open: true,
                },
                sizes,
            ),
            BaseType::Unit => (
                ElemType::Real,
                Constraint::Bounded {
                    low: 0.0,
                    high: 1.0,
                    open: true,
                },
                sizes,
            ),
            constrained => {
                if sizes.is_empty() {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::MISSING_SIZE,
                            ty.span,
                            format!("`{}` needs a size", base.name()),
                        )
                        .with_label("no size given")
                        .with_hint(format!("e.g. `{}[K]`", base.name())),
                    ));
                }
                let mut shape = sizes.clone();
                let constraint = match constrained {
                    BaseType::Simplex => Constraint::Simplex,
                    BaseType::Ordered => Constraint::Ordered,
                    BaseType::PositiveOrdered => Constraint::PositiveOrdered,
                    BaseType::CorrCholesky => Constraint::CorrCholesky,
                    _ => Constraint::Cov,
                };
                if constraint.object_rank() == 2 {
                    shape.push(sizes.last().cloned().unwrap_or_default());
                }
                (ElemType::Real, constraint, shape)
            }
        };
        let mut data_bound = None;
        let mut expression_bound = None;
        let constraint = match &ty.bound {
            None => constraint,
            Some(bound) => {
                let (low, high, open, bound_span) = match bound {
                    syntax::Bound::Closed { low, high, span } => (low, high, false, *span),
                    syntax::Bound::Open { low, high, span } => (low, high, true, *span),
                };
                if !matches!(constraint, Constraint::None) {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::BAD_BOUND,
                            bound_span,
                            format!("`{}` already has its own constraint", base.name()),
                        )
                        .with_label("remove this bound"),
                    ));
                }
                if elem == ElemType::Int && !open {
                    // An int bound may use data (`int in 1..N`): resolved when data is bound.
                    let low_size = self.int_bound_value(low)?;
                    let high_size = self.int_bound_value(high)?;
                    if low_size.as_constant().is_none() || high_size.as_constant().is_none() {
                        data_bound = Some((low_size, high_size));
                    }
                }
                let (low, high) = if data_bound.is_some() {
                    (f64::NEG_INFINITY, f64::INFINITY)
                } else if elem == ElemType::Real {
                    let low_end = self.real_bound_end(low, name, &shape)?;
                    let high_end = self.real_bound_end(high, name, &shape)?;
                    match (low_end, high_end) {
                        (BoundEnd::Number(low, _), BoundEnd::Number(high, _)) => (low, high),
                        (low_end, high_end) => {
                            // Observed values are checked against their bound when the data is
                            // bound, so it can read data only.
                            if kind == DeclKind::Observed {
                                for end in [&low_end, &high_end] {
                                    if let BoundEnd::Expression(expr) = end
                                        && self.depends_on_unknowns_of(expr)
                                    {
                                        return Err(self.report(
                                            Diagnostic::error(
                                                codes::NOT_CONSTANT,
                                                expr.span,
                                                format!(
                                                    "the bound of the observed `{}` reads an unknown",
                                                    name.name
                                                ),
                                            )
                                            .with_label("not data")
                                            .with_hint(
                                                "an observed variable's bound is checked against the data, so it may use data, `const`s and dimensions only",
                                            ),
                                        ));
                                    }
                                }
                            }
                            expression_bound = Some(ExpressionBound {
                                low: low_end.into_expr(),
                                high: high_end.into_expr(),
                            });
                            (f64::NEG_INFINITY, f64::INFINITY)
                        }
                    }
                } else {
                    (self.bound_value(low)?, self.bound_value(high)?)
                };
                if low > high || (low == high && open) {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::BAD_BOUND,
                            bound_span,
                            format!("the bound's low end {low} is not below its high end {high}"),
                        )
                        .with_label("empty range"),
                    ));
                }
                if expression_bound.is_some() {
                    Constraint::None
                } else {
                    Constraint::Bounded { low, high, open }
                }
            }
        };
        let value_type = ValueType { elem, shape };
        // A bad initial value is reported, and the variable is still declared, so that its later
        // uses do not report it as unknown.
        let init = init.and_then(|init| self.initial_value(init, &value_type, ty, name).ok());
        let role = match kind {
            DeclKind::Observed => Role::Observed,
            DeclKind::Latent => Role::Latent,
            DeclKind::Param => Role::Param,
        };
        let id = VarId(self.model.variables.len());
        self.declare(&name.name, name.span, Symbol::Variable(id))?;
        let declared_as = self.text(ty.span).to_string();
        self.model.variables.push(Variable {
            id,
            name: name.name.clone(),
            role,
            ty: value_type,
            constraint,
            declared_as,
            init,
            span,
            name_span: name.span,
            data_bound,
            expression_bound,
        });
        Ok(())
    }

    /// Checks `= init` against the declared type: same shape (a scalar broadcasts; a dimension
    /// is bound from the value's length at load), and no real for an int.
    fn initial_value(
        &mut self,
        init: &syntax::Expr,
        value_type: &ValueType,
        ty: &syntax::TypeExpr,
        name: &syntax::Ident,
    ) -> Checked<Expr> {
        let checked = self.expr(init)?;
        if checked.ty.shape.len() != value_type.shape.len()
            || checked
                .ty
                .shape
                .iter()
                .zip(&value_type.shape)
                .any(|(a, b)| a != b)
        {
            let shapes = [
                (&value_type.shape[..], ty.span),
                (&checked.ty.shape[..], init.span),
            ];
            // A scalar broadcasts; a size that names a dimension is bound from the
            // inline value's length when the data are bound (as from a data file).
            let broadcast_ok = checked.ty.shape.is_empty()
                || (checked.ty.shape.len() == value_type.shape.len()
                    && checked
                        .ty
                        .shape
                        .iter()
                        .zip(&value_type.shape)
                        .all(|(a, b)| a == b || !b.terms.is_empty()));
            if !broadcast_ok {
                return Err(self.shape_mismatch(&shapes, init.span));
            }
        }
        if checked.ty.elem > value_type.elem {
            return Err(self.report(
                Diagnostic::error(
                    codes::TYPE_MISMATCH,
                    init.span,
                    format!("a real value for the int variable `{}`", name.name),
                )
                .with_label("this is real"),
            ));
        }
        Ok(checked)
    }

    /// An end of an int bound: a constant, or an integer-affine expression of dimensions.
    fn int_bound_value(&mut self, expr: &syntax::Expr) -> Checked<Size> {
        let checked = self.expr(expr)?;
        if let Some(value) = Self::fold(&checked)
            && value.fract() == 0.0
        {
            return Ok(Size::constant(value as i64));
        }
        match Self::size_of_checked(&checked) {
            Some(size) => Ok(size),
            None => Err(self.report(
                Diagnostic::error(
                    codes::NOT_CONSTANT,
                    expr.span,
                    "an int bound must be known once the data is bound",
                )
                .with_label("not a constant or a size")
                .with_hint("use numbers, `const`s and dimension names (`1..N`, `0..K - 1`)"),
            )),
        }
    }

    /// An end of a real variable's bound: a number when the model is read, or else an
    /// expression of data and earlier unknowns (evaluated per draw; for an observed variable,
    /// once against its data), scalar or of the variable's shape. An infinite end is
    /// `Number(±inf)`.
    fn real_bound_end(
        &mut self,
        expr: &syntax::Expr,
        name: &syntax::Ident,
        sizes: &[Size],
    ) -> Checked<BoundEnd> {
        self.bounding = Some(name.name.clone());
        let checked = self.expr(expr);
        self.bounding = None;
        let checked = checked?;
        if let Some(value) = Self::fold(&checked) {
            return Ok(BoundEnd::Number(value, expr.span));
        }
        let scalar = checked.ty.shape.is_empty();
        if checked.ty.elem == ElemType::Bool || !(scalar || checked.ty.shape == sizes) {
            let found = self.describe_type(&checked.ty);
            return Err(self.report(
                Diagnostic::error(
                    codes::BAD_BOUND,
                    expr.span,
                    format!(
                        "a bound of `{}` must be a real number or one per element",
                        name.name
                    ),
                )
                .with_label(format!("this is {found}")),
            ));
        }
        Ok(BoundEnd::Expression(checked))
    }

    fn bound_value(&mut self, expr: &syntax::Expr) -> Checked<f64> {
        let checked = self.expr(expr)?;
        match Self::fold(&checked) {
            Some(v) => Ok(v),
            None => Err(self.report(
                Diagnostic::error(
                    codes::NOT_CONSTANT,
                    expr.span,
                    "a bound must be known when the model is read",
                )
                .with_label("not a constant")
                .with_hint("use numbers, `const`s, `inf` and `pi`"),
            )),
        }
    }

    fn net(&mut self, name: &syntax::Ident, value: &syntax::Expr, span: Span) -> Checked<()> {
        let syntax::ExprKind::Call(call) = &value.kind else {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    value.span,
                    "a `net` is declared with `mlp(sizes..., act = ...)`",
                )
                .with_label("expected a call of `mlp`"),
            ));
        };
        if call.func.name != "mlp" {
            return Err(self.report(
                Diagnostic::error(
                    codes::UNKNOWN_FUNCTION,
                    call.func.span,
                    format!("there is no network constructor `{}`", call.func.name),
                )
                .with_label("expected `mlp`"),
            ));
        }
        let mut sizes = Vec::new();
        let mut activation = "relu".to_string();
        let mut activation_slope = None;
        for arg in &call.args {
            match &arg.name {
                Some(key) if key.name == "act" => match &arg.value.kind {
                    syntax::ExprKind::Name(act) => activation = act.clone(),
                    // `leaky_relu(0.2)`: the builtin's slope, given once for the whole net.
                    syntax::ExprKind::Call(act)
                        if act.func.name == "leaky_relu"
                            && act.args.len() == 1
                            && act.args[0].name.is_none() =>
                    {
                        activation = act.func.name.clone();
                        activation_slope = Some(self.bound_value(&act.args[0].value)?);
                    }
                    _ => {
                        return Err(self.report(
                            Diagnostic::error(
                                codes::BAD_KEYWORD,
                                arg.value.span,
                                "`act` names an activation",
                            )
                            .with_hint(
                                "e.g. `act = relu`, `act = tanh`, `act = leaky_relu(0.2)` (its slope)",
                            ),
                        ));
                    }
                },
                Some(key) => {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::BAD_KEYWORD,
                            key.span,
                            format!("`mlp` has no setting `{}`", key.name),
                        )
                        .with_hint("`mlp` takes sizes and `act = ...`"),
                    ));
                }
                None => match &arg.value.kind {
                    syntax::ExprKind::Vector(items) => {
                        for item in items {
                            sizes.push(self.size_from_syntax(item)?);
                        }
                    }
                    syntax::ExprKind::Name(list)
                        if matches!(self.scope.get(list), Some(Symbol::SizeList(_))) =>
                    {
                        let Some(Symbol::SizeList(index)) = self.scope.get(list).copied() else {
                            unreachable!("matched above")
                        };
                        sizes.extend(self.size_lists[index].iter().cloned());
                    }
                    _ => sizes.push(self.size_from_syntax(&arg.value)?),
                },
            }
        }
        if sizes.len() < 2 {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    call.span,
                    "`mlp` needs at least an input and an output size",
                )
                .with_hint("e.g. `mlp(D, 64, 1)`"),
            ));
        }
        let index = self.model.nets.len();
        self.declare(&name.name, name.span, Symbol::Net(index))?;
        self.model.nets.push(Net {
            name: name.name.clone(),
            sizes,
            activation,
            activation_slope,
            span,
        });
        self.model.unsupported.push(Unsupported {
            feature: Feature::Net,
            description: format!("the neural network `{}`", name.name),
            span,
        });
        Ok(())
    }

    fn depends_on_unknowns(&self, expr: &Expr) -> bool {
        let mut found = false;
        visit(expr, &mut |e| match &e.kind {
            ExprKind::Variable(id) => found |= self.model.variables[id.0].role != Role::Observed,
            ExprKind::Let(id) => found |= self.model.lets[id.0].depends_on_unknowns,
            ExprKind::NetCall { .. } => found = true,
            _ => {}
        });
        found
    }

    fn tilde(
        &mut self,
        target: &syntax::Expr,
        call: &syntax::Call,
        truncation: Option<&syntax::Truncation>,
        loops: &[LoopId],
        span: Span,
    ) -> Checked<()> {
        let target_expr = self.assignable(target)?;
        let name = call.func.name.as_str();
        if name == "Implicit" {
            let mut checked = Vec::with_capacity(call.args.len());
            for arg in &call.args {
                checked.push(self.expr(&arg.value)?);
            }
            self.model.implicits.push(Implicit {
                target: target_expr.clone(),
                arguments: checked,
                span,
            });
            self.model.unsupported.push(Unsupported {
                feature: Feature::Implicit,
                description: "an implicit (GAN generator) distribution".into(),
                span,
            });
            return Ok(());
        }
        if crate::library::files(name).next().is_some() {
            return self.library_model(target, &target_expr, call, loops, span);
        }
        let root = match &target_expr.kind {
            ExprKind::Variable(id) => Some(*id),
            ExprKind::Index { base, .. } => match base.kind {
                ExprKind::Variable(id) => Some(id),
                _ => None,
            },
            _ => None,
        };
        let checked = self
            .distribution(call, &target_expr)
            .and_then(|found| self.record_coverage(&target_expr, span).map(|()| found));
        let (distribution, args) = match checked {
            Ok(found) => found,
            Err(reported) => {
                if let Some(root) = root {
                    self.failed_tilde_targets.insert(root);
                }
                return Err(reported);
            }
        };
        let normaliser = match truncation {
            Some(truncation) => {
                Some(self.truncation_term(truncation, call, distribution, &args, &target_expr)?)
            }
            None => None,
        };
        self.model.terms.push(Term {
            kind: TermKind::Tilde {
                target: target_expr,
                distribution,
                args,
            },
            loops: loops.to_vec(),
            span,
        });
        if let Some(normaliser) = normaliser {
            self.model.terms.push(Term {
                kind: TermKind::Factor(normaliser),
                loops: loops.to_vec(),
                span,
            });
        }
        Ok(())
    }

    /// The term a truncation adds beside its `~`: minus the log probability of the interval,
    /// log(F(hi) − F(lo)) = log F(hi) + log(1 − e^(log F(lo) − log F(hi))), with one side left
    /// out when its bound is, and log 0 = −inf for a variate outside the interval. Each bound is
    /// broadcast against the variate (`+ 0 * x`) so the normaliser counts once per element.
    fn truncation_term(
        &mut self,
        truncation: &syntax::Truncation,
        call: &syntax::Call,
        distribution: DistKind,
        args: &[Expr],
        target: &Expr,
    ) -> Checked<Expr> {
        if !ppl_dist::has_cdf(distribution) {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    truncation.span,
                    format!(
                        "`truncated` needs a scalar distribution with a cdf ({}), not `{}`",
                        kinds_with_cdf(),
                        call.func.name
                    ),
                )
                .with_label("cannot truncate this distribution"),
            ));
        }
        let span = truncation.span;
        let make = |kind: ExprKind, shape: Vec<Size>| Expr {
            kind,
            ty: ValueType {
                elem: ElemType::Real,
                shape,
            },
            span,
        };
        let binary = |op: BinaryOp, lhs: Expr, rhs: Expr, shape: Vec<Size>| {
            make(
                ExprKind::Binary {
                    op,
                    lhs: Box::new(lhs),
                    rhs: Box::new(rhs),
                },
                shape,
            )
        };
        let call_of = |function: crate::Builtin, arg: Expr, shape: Vec<Size>| {
            make(
                ExprKind::Call {
                    function,
                    args: vec![arg],
                },
                shape,
            )
        };
        let mut bounds = Vec::new();
        for bound in [&truncation.low, &truncation.high] {
            let Some(bound) = bound else {
                bounds.push(None);
                continue;
            };
            let value = self.expr(bound)?;
            if value.ty.elem == ElemType::Bool {
                return Err(self.report(
                    Diagnostic::error(codes::TYPE_MISMATCH, bound.span, "a bound must be a number")
                        .with_label("a bool"),
                ));
            }
            let shape = self.broadcast(
                &[
                    (&value.ty.shape, value.span),
                    (&target.ty.shape, target.span),
                ],
                bound.span,
            )?;
            // bound + 0 * target: the bound at every element of the variate.
            let zeros = binary(
                BinaryOp::Mul,
                make(ExprKind::Literal(0.0), vec![]),
                target.clone(),
                target.ty.shape.clone(),
            );
            bounds.push(Some(binary(BinaryOp::Add, value, zeros, shape)));
        }
        let (low, high) = (bounds[0].take(), bounds[1].take());
        // An integer variate keeps its lower bound: P(lo ≤ X) = P(X > lo − 1).
        let mass_low = low.as_ref().map(|lo| {
            if ppl_dist::is_discrete_scalar(distribution) {
                let one = make(ExprKind::Literal(1.0), vec![]);
                binary(BinaryOp::Sub, lo.clone(), one, lo.ty.shape.clone())
            } else {
                lo.clone()
            }
        });
        if low.is_none() && high.is_none() {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    span,
                    "`truncated( , )` has no bound",
                )
                .with_label("give a lower bound, an upper bound or both"),
            ));
        }
        let mut all: Vec<(&[Size], Span)> = vec![(&target.ty.shape, target.span)];
        all.extend(args.iter().map(|a| (a.ty.shape.as_slice(), a.span)));
        let shape = self.broadcast(&all, span)?;
        let tail = |function: DistFunction, at: Expr| {
            make(
                ExprKind::DistFunction {
                    function,
                    distribution,
                    args: args.to_vec(),
                    variate: Box::new(at),
                },
                shape.clone(),
            )
        };
        // log P(lo ≤ X ≤ hi), and the support indicators log(x ≥ lo), log(x ≤ hi).
        let mut indicators = Vec::new();
        let log_mass = match (&mass_low, &high) {
            (Some(lo), None) => tail(DistFunction::LogCcdf, lo.clone()),
            (None, Some(hi)) => tail(DistFunction::LogCdf, hi.clone()),
            (Some(lo), Some(hi)) => {
                let upper = tail(DistFunction::LogCdf, hi.clone());
                let lower = tail(DistFunction::LogCdf, lo.clone());
                let ratio = binary(BinaryOp::Sub, lower, upper.clone(), shape.clone());
                let exp = call_of(crate::Builtin::Exp, ratio, shape.clone());
                let negated = make(ExprKind::Neg(Box::new(exp)), shape.clone());
                let log1p = call_of(crate::Builtin::Log1p, negated, shape.clone());
                binary(BinaryOp::Add, upper, log1p, shape.clone())
            }
            (None, None) => unreachable!("refused above"),
        };
        for (bound, op) in [(&low, BinaryOp::Ge), (&high, BinaryOp::Le)] {
            if let Some(bound) = bound {
                let inside = binary(op, target.clone(), bound.clone(), bound.ty.shape.clone());
                let log = call_of(crate::Builtin::Log, inside, bound.ty.shape.clone());
                indicators.push(call_of(crate::Builtin::Sum, log, vec![]));
            }
        }
        let mut total = make(
            ExprKind::Neg(Box::new(call_of(crate::Builtin::Sum, log_mass, vec![]))),
            vec![],
        );
        for indicator in indicators {
            total = binary(BinaryOp::Add, total, indicator, vec![]);
        }
        Ok(total)
    }

    /// A `~` target: a variable, a `let`, or an element or slice of one.
    fn assignable(&mut self, target: &syntax::Expr) -> Checked<Expr> {
        let root = match &target.kind {
            syntax::ExprKind::Name(_) => Some(target),
            syntax::ExprKind::Index { base, .. }
                if matches!(base.kind, syntax::ExprKind::Name(_)) =>
            {
                Some(&**base)
            }
            _ => None,
        };
        let Some(root) = root else {
            return Err(self.report(
                Diagnostic::error(
                    codes::NOT_ASSIGNABLE,
                    target.span,
                    "the left of `~` must be a variable, an element or a slice",
                )
                .with_label("not a variable")
                .with_hint(
                    "write `y ~ ...`, `y[n] ~ ...`, or give the expression a name with `let`",
                ),
            ));
        };
        let checked = self.expr(target)?;
        let root = self.expr(root)?;
        match root.kind {
            // A scalar `observed k: int` is also a dimension; as data it can be modelled.
            ExprKind::Variable(_) | ExprKind::Dim(_) => {}
            ExprKind::Let(id) => {
                if self.model.lets[id.0].depends_on_unknowns {
                    let let_span = self.model.lets[id.0].span;
                    self.diagnostics.push(
                        Diagnostic::warning(codes::NO_JACOBIAN, target.span, "`~` on a `let` that depends on unknowns adds no Jacobian")
                            .with_label("a transformed unknown")
                            .with_secondary(let_span, "defined here")
                            .with_hint("this is fine if you meant it; otherwise put the distribution on the unknown itself"),
                    );
                }
            }
            _ => {
                return Err(self.report(
                    Diagnostic::error(
                        codes::NOT_ASSIGNABLE,
                        target.span,
                        "the left of `~` must be a variable or a `let`",
                    )
                    .with_label("not a variable"),
                ));
            }
        }
        Ok(checked)
    }

    fn record_coverage(&mut self, target: &Expr, span: Span) -> Checked<()> {
        let (id, coverage) = match &target.kind {
            ExprKind::Variable(id) => (*id, Coverage::Whole(span)),
            ExprKind::Index { base, indices } => {
                let ExprKind::Variable(id) = base.kind else {
                    return Ok(());
                };
                let constants: Option<Vec<i64>> = indices
                    .iter()
                    .map(|i| match i {
                        IndexExpr::Single(e) => Self::fold(e).map(|v| v as i64),
                        _ => None,
                    })
                    .collect();
                match constants {
                    Some(c) => (id, Coverage::Constant(c, span)),
                    None => (id, Coverage::Partial(span)),
                }
            }
            _ => return Ok(()),
        };
        let existing = self.coverage.entry(id).or_default();
        let clash = existing.iter().find_map(|e| {
            let span_of = |c: &Coverage| match c {
                Coverage::Whole(s) | Coverage::Constant(_, s) | Coverage::Partial(s) => *s,
            };
            match (e, &coverage) {
                (Coverage::Whole(_), _) | (_, Coverage::Whole(_)) => Some(span_of(e)),
                (Coverage::Constant(a, _), Coverage::Constant(b, _)) if a == b => Some(span_of(e)),
                _ => None,
            }
        });
        existing.push(coverage);
        if let Some(previous) = clash {
            let name = self.model.variables[id.0].name.clone();
            return Err(self.report(
                Diagnostic::error(
                    codes::DOUBLE_DISTRIBUTION,
                    span,
                    format!("`{name}` gets a second distribution"),
                )
                .with_label("second `~` on the same elements")
                .with_secondary(previous, "first distribution here")
                .with_hint(
                    "each element may have one distribution; use `factor` to add further terms",
                ),
            ));
        }
        Ok(())
    }

    /// Resolves `Dist(args)` against the catalogue for the given variate, checking argument names,
    /// counts, types and shapes.
    pub(super) fn distribution(
        &mut self,
        call: &syntax::Call,
        variate: &Expr,
    ) -> Checked<(DistKind, Vec<Expr>)> {
        let name = call.func.name.as_str();
        let Some(family) = ppl_dist::family(name) else {
            let mut names: Vec<&str> = ppl_dist::families().iter().map(|f| f.name).collect();
            names.extend(crate::library::names());
            names.push("Implicit");
            let mut diagnostic = Diagnostic::error(
                codes::UNKNOWN_DISTRIBUTION,
                call.func.span,
                format!("there is no distribution `{name}`"),
            )
            .with_label("unknown distribution");
            diagnostic = match ppl_syntax::diagnostic::closest(name, names) {
                Some(s) => diagnostic.with_hint(format!("did you mean `{s}`?")),
                None => diagnostic.with_hint("see LANGUAGE.md §4 for the distributions"),
            };
            return Err(self.report(diagnostic));
        };
        let parameterisation = self.choose_parameterisation(family, call)?;
        let positional: Vec<&syntax::Arg> = call.args.iter().filter(|a| a.name.is_none()).collect();
        let mut args: Vec<Option<Expr>> = vec![None; parameterisation.params.len()];
        for (slot, arg) in positional.iter().enumerate() {
            args[slot] = Some(self.expr(&arg.value)?);
        }
        for arg in call.args.iter().filter(|a| a.name.is_some()) {
            let key = arg.name.as_ref().expect("filtered");
            let slot = parameterisation
                .params
                .iter()
                .position(|p| p.answers_to(&key.name))
                .expect("parameterisation chosen to contain every keyword");
            if args[slot].is_some() {
                return Err(self.report(
                    Diagnostic::error(
                        codes::WRONG_ARGUMENTS,
                        key.span,
                        format!("`{}` is given twice", parameterisation.params[slot].name),
                    )
                    .with_label("given again here")
                    .with_hint(family.signature()),
                ));
            }
            args[slot] = Some(self.expr(&arg.value)?);
        }
        if args.iter().any(Option::is_none) {
            return Err(self.report(
                Diagnostic::error(
                    codes::WRONG_ARGUMENTS,
                    call.span,
                    format!(
                        "`{name}` takes {} argument{}, given {}",
                        parameterisation.params.len(),
                        if parameterisation.params.len() == 1 {
                            ""
                        } else {
                            "s"
                        },
                        call.args.len()
                    ),
                )
                .with_label("missing arguments")
                .with_hint(family.signature()),
            ));
        }
        let args: Vec<Expr> = args
            .into_iter()
            .map(|a| a.expect("checked above"))
            .collect();
        self.check_variate(family, variate, call)?;
        self.warn_unconstrained_scales(family, parameterisation, &args);
        self.check_distribution_shapes(family, parameterisation, variate, &args, call)?;
        Ok((parameterisation.kind, args))
    }

    fn choose_parameterisation(
        &mut self,
        family: &'static Family,
        call: &syntax::Call,
    ) -> Checked<&'static ppl_dist::Parameterisation> {
        let keywords: Vec<&syntax::Ident> =
            call.args.iter().filter_map(|a| a.name.as_ref()).collect();
        let positional = call.args.iter().filter(|a| a.name.is_none()).count();
        let candidates: Vec<&'static ppl_dist::Parameterisation> = family
            .parameterisations
            .iter()
            .filter(|p| {
                keywords.iter().all(|k| {
                    p.params
                        .iter()
                        .enumerate()
                        .any(|(i, spec)| i >= positional && spec.answers_to(&k.name))
                })
            })
            .collect();
        if let Some(first) = candidates.first() {
            if positional + keywords.len() > first.params.len() {
                return Err(self.report(
                    Diagnostic::error(
                        codes::WRONG_ARGUMENTS,
                        call.span,
                        format!(
                            "`{}` takes {} argument{}, given {}",
                            family.name,
                            first.params.len(),
                            if first.params.len() == 1 { "" } else { "s" },
                            positional + keywords.len()
                        ),
                    )
                    .with_label("too many arguments")
                    .with_hint(family.signature()),
                ));
            }
            return Ok(first);
        }
        let bad = keywords
            .iter()
            .find(|k| {
                !family
                    .parameterisations
                    .iter()
                    .any(|p| p.params.iter().any(|s| s.answers_to(&k.name)))
            })
            .or(keywords.first())
            .expect("no candidate means some keyword failed");
        let all_names: Vec<&str> = family
            .parameterisations
            .iter()
            .flat_map(|p| {
                p.params
                    .iter()
                    .flat_map(|s| std::iter::once(s.name).chain(s.aliases.iter().copied()))
            })
            .collect();
        let mut diagnostic = Diagnostic::error(
            codes::BAD_KEYWORD,
            bad.span,
            format!("`{}` has no parameter `{}`", family.name, bad.name),
        )
        .with_label("unknown parameter name");
        diagnostic = match ppl_syntax::diagnostic::closest(&bad.name, all_names) {
            Some(s) => diagnostic.with_hint(format!("did you mean `{s}`? {}", family.signature())),
            None => diagnostic.with_hint(family.signature()),
        };
        Err(self.report(diagnostic))
    }

    /// A scale, rate or shape given directly by an unconstrained real unknown will wander below
    /// zero during sampling or optimisation, where the density is -inf: say so, as a statistician
    /// would want to hear before a run full of divergences.
    fn warn_unconstrained_scales(
        &mut self,
        family: &Family,
        parameterisation: &ppl_dist::Parameterisation,
        args: &[Expr],
    ) {
        const POSITIVE: &[&str] = &[
            "sigma", "rate", "shape", "scale", "nu", "lambda", "phi", "eta",
        ];
        for (spec, arg) in parameterisation.params.iter().zip(args) {
            let must_be_positive = POSITIVE.contains(&spec.name)
                || (matches!(family.name, "Beta" | "Dirichlet")
                    && matches!(spec.name, "alpha" | "beta"))
                || (family.name == "NegBinomial" && spec.name == "mu");
            let root = match &arg.kind {
                ExprKind::Variable(id) => Some(*id),
                ExprKind::Index { base, .. } => match base.kind {
                    ExprKind::Variable(id) => Some(id),
                    _ => None,
                },
                _ => None,
            };
            let Some(id) = root else { continue };
            let variable = &self.model.variables[id.0];
            if must_be_positive
                && variable.role != Role::Observed
                && variable.ty.elem == ElemType::Real
                && variable.constraint == Constraint::None
            {
                self.diagnostics.push(
                    Diagnostic::warning(
                        codes::UNCONSTRAINED_SCALE,
                        arg.span,
                        format!(
                            "`{}` of `{}` must be positive, but `{}` is an unconstrained real",
                            spec.name, family.name, variable.name
                        ),
                    )
                    .with_label("can be negative")
                    .with_secondary(variable.name_span, "declared here")
                    .with_hint(format!(
                        "declare it `positive` (e.g. `{}: positive`)",
                        variable.name
                    )),
                );
            }
        }
    }

    fn check_variate(
        &mut self,
        family: &Family,
        variate: &Expr,
        call: &syntax::Call,
    ) -> Checked<()> {
        let discrete = family.support.is_discrete();
        if discrete && variate.ty.elem == ElemType::Real {
            let found = self.describe_type(&variate.ty);
            return Err(self.report(
                Diagnostic::error(
                    codes::DISCRETE_VARIATE,
                    variate.span,
                    format!(
                        "`{}` is a discrete distribution but this is {found}",
                        family.name
                    ),
                )
                .with_label("expected int or bool values")
                .with_secondary(call.func.span, "discrete distribution")
                .with_hint("declare the variable as `int` (or `bool`)"),
            ));
        }
        if !discrete && variate.ty.elem != ElemType::Real {
            let root_is_unknown = match &variate.kind {
                ExprKind::Variable(id) => self.model.variables[id.0].role != Role::Observed,
                ExprKind::Index { base, .. } => {
                    matches!(base.kind, ExprKind::Variable(id) if self.model.variables[id.0].role != Role::Observed)
                }
                _ => false,
            };
            if root_is_unknown {
                return Err(self.report(
                    Diagnostic::error(
                        codes::DISCRETE_VARIATE,
                        variate.span,
                        format!(
                            "`{}` is a continuous distribution but this unknown is an int",
                            family.name
                        ),
                    )
                    .with_label("int unknown")
                    .with_secondary(call.func.span, "continuous distribution")
                    .with_hint("declare it `real` (or a constrained real type such as `positive`)"),
                ));
            }
        }
        Ok(())
    }

    /// Variate = batch shape + event shape; each argument = its own batch shape + its event rank;
    /// argument batch shapes must broadcast to the variate's batch shape.
    fn check_distribution_shapes(
        &mut self,
        family: &Family,
        parameterisation: &ppl_dist::Parameterisation,
        variate: &Expr,
        args: &[Expr],
        call: &syntax::Call,
    ) -> Checked<()> {
        let variate_rank = family.variate_rank;
        if variate.ty.shape.len() < variate_rank {
            let found = self.describe_type(&variate.ty);
            return Err(self.report(
                Diagnostic::error(
                    codes::SHAPE_MISMATCH,
                    variate.span,
                    format!(
                        "`{}` is a distribution over {}",
                        family.name,
                        if variate_rank == 1 {
                            "vectors"
                        } else {
                            "matrices"
                        }
                    ),
                )
                .with_label(format!("this is {found}")),
            ));
        }
        let batch = &variate.ty.shape[..variate.ty.shape.len() - variate_rank];
        let event = &variate.ty.shape[variate.ty.shape.len() - variate_rank..];
        for (spec, arg) in parameterisation.params.iter().zip(args) {
            if arg.ty.shape.len() < spec.rank {
                let found = self.describe_type(&arg.ty);
                return Err(self.report(
                    Diagnostic::error(
                        codes::SHAPE_MISMATCH,
                        arg.span,
                        format!(
                            "`{}` of `{}` must be a {}",
                            spec.name,
                            family.name,
                            if spec.rank == 1 { "vector" } else { "matrix" }
                        ),
                    )
                    .with_label(format!("this is {found}"))
                    .with_hint(family.signature()),
                ));
            }
            if spec.integer && arg.ty.elem == ElemType::Real {
                return Err(self.report(
                    Diagnostic::error(
                        codes::TYPE_MISMATCH,
                        arg.span,
                        format!("`{}` of `{}` must be an int", spec.name, family.name),
                    )
                    .with_label("this is real"),
                ));
            }
            let arg_batch = &arg.ty.shape[..arg.ty.shape.len() - spec.rank];
            let arg_event = &arg.ty.shape[arg.ty.shape.len() - spec.rank..];
            // The event sizes of vector parameters must match the variate's event (MvNormal's mu
            // and cov against x); Categorical's probability vector has its own length K.
            if variate_rank >= 1 && spec.rank >= 1 {
                let expected: Vec<Size> =
                    std::iter::repeat_n(event[0].clone(), spec.rank).collect();
                if arg_event != expected.as_slice() && family.name != "LKJCholesky" {
                    let shapes = [(event, variate.span), (arg_event, arg.span)];
                    return Err(self.shape_mismatch(&shapes, call.span));
                }
            }
            let shapes = [(batch, variate.span), (arg_batch, arg.span)];
            let broadcast = self.broadcast(&shapes, call.span)?;
            if broadcast.len() > batch.len() || broadcast.as_slice() != batch {
                let message = format!(
                    "the argument `{}` has batch shape {} but the variable has {}",
                    spec.name,
                    display_shape(arg_batch, &self.model.dims),
                    display_shape(batch, &self.model.dims)
                );
                return Err(self.report(
                    Diagnostic::error(codes::SHAPE_MISMATCH, arg.span, message)
                        .with_label("more or larger axes than the variable")
                        .with_secondary(variate.span, "the variable")
                        .with_hint("each argument must broadcast to the variable's shape"),
                ));
            }
        }
        Ok(())
    }
}

/// The deepest nesting later passes meet when they evaluate an expression with every `let`
/// inlined. The parser bounds one statement's nesting; this bounds chains of `let`s.
pub const MAX_EXPANDED_DEPTH: usize = 1000;

/// The nesting depth of `expr` with each `let` counted at its own expanded depth (`let_depths`,
/// by `LetId`). Recursion here is bounded by the parser's nesting limit.
fn expanded_depth(expr: &Expr, let_depths: &[usize]) -> usize {
    let mut deepest = 0;
    let mut child = |e: &Expr| deepest = deepest.max(expanded_depth(e, let_depths));
    match &expr.kind {
        ExprKind::Let(id) => return 1 + let_depths.get(id.0).copied().unwrap_or(0),
        ExprKind::Literal(_) | ExprKind::Variable(_) | ExprKind::Dim(_) | ExprKind::LoopVar(_) => {}
        ExprKind::Vector(items) => items.iter().for_each(&mut child),
        ExprKind::Comprehension { body, .. } | ExprKind::Neg(body) => child(body),
        ExprKind::Binary { lhs, rhs, .. } => {
            child(lhs);
            child(rhs);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            child(cond);
            child(then);
            child(otherwise);
        }
        ExprKind::Range { low, high } => {
            child(low);
            child(high);
        }
        ExprKind::Index { base, indices } => {
            child(base);
            for index in indices {
                match index {
                    IndexExpr::Single(e) | IndexExpr::Gather(e) => child(e),
                    IndexExpr::Slice { low, high } => {
                        child(low);
                        child(high);
                    }
                    IndexExpr::All => {}
                }
            }
        }
        ExprKind::Call { args, .. } | ExprKind::NetCall { args, .. } => {
            args.iter().for_each(&mut child)
        }
        ExprKind::DistFunction { args, variate, .. } => {
            args.iter().for_each(&mut child);
            child(variate);
        }
        ExprKind::Recurrence { pieces, .. } => {
            for piece in pieces {
                child(&piece.index);
                child(&piece.value);
            }
        }
        ExprKind::Element { index, .. } => child(index),
    }
    1 + deepest
}

/// Calls `f` on `expr` and every subexpression.
pub fn visit(expr: &Expr, f: &mut dyn FnMut(&Expr)) {
    f(expr);
    match &expr.kind {
        ExprKind::Literal(_)
        | ExprKind::Variable(_)
        | ExprKind::Let(_)
        | ExprKind::Dim(_)
        | ExprKind::LoopVar(_) => {}
        ExprKind::Vector(items) => items.iter().for_each(|e| visit(e, f)),
        ExprKind::Comprehension { body, .. } => visit(body, f),
        ExprKind::Neg(inner) => visit(inner, f),
        ExprKind::Binary { lhs, rhs, .. } => {
            visit(lhs, f);
            visit(rhs, f);
        }
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => {
            visit(cond, f);
            visit(then, f);
            visit(otherwise, f);
        }
        ExprKind::Range { low, high } => {
            visit(low, f);
            visit(high, f);
        }
        ExprKind::Index { base, indices } => {
            visit(base, f);
            for index in indices {
                match index {
                    IndexExpr::Single(e) | IndexExpr::Gather(e) => visit(e, f),
                    IndexExpr::Slice { low, high } => {
                        visit(low, f);
                        visit(high, f);
                    }
                    IndexExpr::All => {}
                }
            }
        }
        ExprKind::Call { args, .. } | ExprKind::NetCall { args, .. } => {
            args.iter().for_each(|e| visit(e, f))
        }
        ExprKind::DistFunction { args, variate, .. } => {
            args.iter().for_each(|e| visit(e, f));
            visit(variate, f);
        }
        ExprKind::Recurrence { pieces, .. } => {
            for piece in pieces {
                visit(&piece.index, f);
                visit(&piece.value, f);
            }
        }
        ExprKind::Element { index, .. } => visit(index, f),
    }
}

/// One end of a real bound as the checker found it.
enum BoundEnd {
    Number(f64, Span),
    Expression(Expr),
}

impl BoundEnd {
    /// The end as an expression bound keeps it: a finite number as a literal, an infinite
    /// one as no end.
    fn into_expr(self) -> Option<Expr> {
        match self {
            BoundEnd::Number(value, _) if value.is_infinite() => None,
            BoundEnd::Number(value, span) => Some(Expr {
                kind: ExprKind::Literal(value),
                ty: ValueType {
                    elem: ElemType::Real,
                    shape: Vec::new(),
                },
                span,
            }),
            BoundEnd::Expression(expr) => Some(expr),
        }
    }
}

/// The language names of the distributions with a cdf, for messages.
pub(super) fn kinds_with_cdf() -> String {
    let mut names: Vec<&str> = ppl_dist::KINDS_WITH_CDF
        .iter()
        .map(|k| k.family().name)
        .collect();
    names.dedup();
    names.join(", ")
}
