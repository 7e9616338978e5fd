//! Inlining a library model (LANGUAGE.md §5). `x ~ VAE(latent = 2, hidden = [128])` reads the
//! library file, binds its one `observed` variable to the target `x` (the library's dimension names
//! take the target's sizes), binds the signature's arguments (by position or name, with defaults),
//! and checks the file's declarations and statements as if the user had written them, each name
//! under a prefix (`vae.z`, `vae.encoder`; a second use is `vae2`). The IR is then exactly the
//! expanded form the engines recognise.
//!
//! The rewrite happens on the syntax tree, before checking: arguments become literals, constant
//! integer arithmetic is folded (`latent + 1` is `3`, as a user would write it), and every span of
//! the library text becomes the span of the user's `~` statement, so any diagnostic points at the
//! call; its message names the library line it came from.

use std::collections::HashMap;

use ppl_syntax::{self as syntax, Diagnostic, Span, StatementKind, codes};

use super::{Checked, Checker};
use crate::library::{self, LibraryFile};
use crate::model::*;

/// A library file read into the parts inlining needs.
struct LibraryParts {
    file: &'static LibraryFile,
    params: Vec<syntax::SignatureParam>,
    observed_name: String,
    observed_type: syntax::TypeExpr,
    observed_elem: ElemType,
    /// Every other statement, in file order (no `data`, `infer`, signature or dimension
    /// declarations: those belong to the user's model).
    body: Vec<syntax::Statement>,
    /// Names the library declares (constants, variables, `let`s, nets, loop variables), which
    /// get the prefix.
    declared: Vec<String>,
}

/// The kind of value a signature argument takes.
#[derive(Clone, Copy, Debug, PartialEq)]
enum ArgumentKind {
    Int,
    Real,
    IntList,
}

impl ArgumentKind {
    fn of(ty: &syntax::TypeExpr) -> Option<ArgumentKind> {
        match (ty.base.name.as_str(), ty.sizes.as_deref(), &ty.bound) {
            ("int", None, None) => Some(ArgumentKind::Int),
            ("real", None, None) => Some(ArgumentKind::Real),
            ("int", Some([]), None) => Some(ArgumentKind::IntList),
            _ => None,
        }
    }
    fn describe(self) -> &'static str {
        match self {
            ArgumentKind::Int => "an int",
            ArgumentKind::Real => "a real",
            ArgumentKind::IntList => "an int list such as `[64, 64]`",
        }
    }
}

impl Checker<'_> {
    /// `target ~ NAME(args)` where `NAME` is a library model: inlines it (see the module doc).
    pub(super) fn library_model(
        &mut self,
        target: &syntax::Expr,
        target_expr: &Expr,
        call: &syntax::Call,
        loops: &[LoopId],
        span: Span,
    ) -> Checked<()> {
        let name = call.func.name.as_str();
        if !loops.is_empty() {
            return Err(self.report(
                Diagnostic::error(
                    codes::SYNTAX,
                    span,
                    format!("the library model `{name}` cannot be used inside a `for` loop"),
                )
                .with_label("move it before the loop")
                .with_hint("a library model covers its whole target; it is vectorised over rows"),
            ));
        }
        let target_text = self.text(target.span).to_string();
        if let Some((_, previous)) = self
            .library_uses
            .iter()
            .find(|(text, _)| *text == target_text)
        {
            let previous = *previous;
            return Err(self.report(
                Diagnostic::error(
                    codes::LIBRARY_TARGET_TWICE,
                    target.span,
                    format!("`{target_text}` is already given a library model"),
                )
                .with_label("second library model on the same data")
                .with_secondary(previous, "first given here")
                .with_hint("each target takes one library model; name another target with `let`"),
            ));
        }
        let parts = self.pick_library_file(name, target_expr, call)?;
        let arguments = self.bind_arguments(&parts, call, span)?;
        let dims = self.unify_observed(&parts, target_expr, &arguments, call, span)?;

        let uses = self
            .library_uses_by_name
            .entry(name.to_string())
            .or_insert(0);
        *uses += 1;
        let prefix = match *uses {
            1 => name.to_lowercase(),
            n => format!("{}{n}", name.to_lowercase()),
        };
        self.library_uses.push((target_text, target.span));

        let mut substitutions: HashMap<String, syntax::ExprKind> = HashMap::new();
        for (param, value) in &arguments {
            substitutions.insert(param.clone(), value.clone());
        }
        for (dim, size) in &dims {
            substitutions.insert(dim.clone(), self.size_to_syntax(size, span).kind);
        }
        for declared in &parts.declared {
            substitutions.insert(
                declared.clone(),
                syntax::ExprKind::Name(format!("{prefix}.{declared}")),
            );
        }
        // Dimension names of the library that the target does not fix are its own, prefixed too.
        for statement in &parts.body {
            for free in free_size_names(statement) {
                substitutions
                    .entry(free.clone())
                    .or_insert_with(|| syntax::ExprKind::Name(format!("{prefix}.{free}")));
            }
        }
        let rewriter = Rewriter {
            substitutions,
            observed: Some((parts.observed_name.clone(), target.clone())),
            span,
        };
        for statement in &parts.body {
            let (line, line_text) = parts.file.line_at(statement.span.start);
            let declared_as = match &statement.kind {
                StatementKind::Declare { ty, .. } => Some(
                    parts
                        .file
                        .source
                        .get(ty.span.range())
                        .unwrap_or("")
                        .to_string(),
                ),
                _ => None,
            };
            let rewritten = rewriter.statement(statement);
            let diagnostics_before = self.diagnostics.len();
            let variables_before = self.model.variables.len();
            self.statement(&rewritten, loops);
            for diagnostic in &mut self.diagnostics[diagnostics_before..] {
                diagnostic.message = format!(
                    "{} (in the library model `{name}`, {} line {line}: `{line_text}`)",
                    diagnostic.message, parts.file.path
                );
            }
            if let Some(declared_as) = declared_as {
                for variable in &mut self.model.variables[variables_before..] {
                    variable.declared_as = declared_as.clone();
                }
            }
        }
        Ok(())
    }

    /// The library file for `name` whose observed variable takes the target's element type.
    fn pick_library_file(
        &mut self,
        name: &str,
        target_expr: &Expr,
        call: &syntax::Call,
    ) -> Checked<LibraryParts> {
        let mut accepted = Vec::new();
        for file in library::files(name) {
            let parts = match read_library_file(file) {
                Ok(parts) => parts,
                Err(reason) => {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::LIBRARY_MODEL_INVALID,
                            call.func.span,
                            format!("the library file {} is not usable: {reason}", file.path),
                        )
                        .with_label("this library model"),
                    ));
                }
            };
            if target_expr.ty.elem <= parts.observed_elem {
                return Ok(parts);
            }
            accepted.push(format!(
                "{} data ({})",
                parts.observed_type.base.name, file.path
            ));
        }
        let found = self.describe_type(&target_expr.ty);
        Err(self.report(
            Diagnostic::error(
                codes::LIBRARY_TARGET_MISMATCH,
                target_expr.span,
                format!("the library model `{name}` does not take {found}"),
            )
            .with_label("the target of the library model")
            .with_hint(format!("`{name}` takes {}", accepted.join(" or "))),
        ))
    }

    /// Each signature argument's value, as the literal that replaces its name: given by position
    /// or by name in the call, or its default.
    fn bind_arguments(
        &mut self,
        parts: &LibraryParts,
        call: &syntax::Call,
        span: Span,
    ) -> Checked<Vec<(String, syntax::ExprKind)>> {
        let name = &call.func.name;
        let signature = parts.file.signature();
        let mut given: Vec<Option<&syntax::Arg>> = vec![None; parts.params.len()];
        let mut position = 0;
        for arg in &call.args {
            let slot = match &arg.name {
                None => {
                    position += 1;
                    if position > parts.params.len() {
                        return Err(self.report(
                            Diagnostic::error(
                                codes::UNKNOWN_LIBRARY_ARGUMENT,
                                arg.span,
                                format!(
                                    "`{name}` takes {} argument{}, given more",
                                    parts.params.len(),
                                    if parts.params.len() == 1 { "" } else { "s" }
                                ),
                            )
                            .with_label("one argument too many")
                            .with_hint(signature),
                        ));
                    }
                    position - 1
                }
                Some(key) => {
                    let Some(slot) = parts.params.iter().position(|p| p.name.name == key.name)
                    else {
                        let names = parts.params.iter().map(|p| p.name.name.as_str());
                        let mut diagnostic = Diagnostic::error(
                            codes::UNKNOWN_LIBRARY_ARGUMENT,
                            key.span,
                            format!("the library model `{name}` has no argument `{}`", key.name),
                        )
                        .with_label("unknown argument");
                        diagnostic = match ppl_syntax::diagnostic::closest(&key.name, names) {
                            Some(s) => {
                                diagnostic.with_hint(format!("did you mean `{s}`? {signature}"))
                            }
                            None => diagnostic.with_hint(signature),
                        };
                        return Err(self.report(diagnostic));
                    };
                    slot
                }
            };
            if let Some(previous) = given[slot] {
                let previous = previous.span;
                return Err(self.report(
                    Diagnostic::error(
                        codes::UNKNOWN_LIBRARY_ARGUMENT,
                        arg.span,
                        format!(
                            "the argument `{}` of `{name}` is given twice",
                            parts.params[slot].name.name
                        ),
                    )
                    .with_label("given again here")
                    .with_secondary(previous, "first given here"),
                ));
            }
            given[slot] = Some(arg);
        }
        let mut values = Vec::with_capacity(parts.params.len());
        for (param, arg) in parts.params.iter().zip(given) {
            let Some(kind) = ArgumentKind::of(&param.ty) else {
                return Err(self.report(
                    Diagnostic::error(
                        codes::LIBRARY_MODEL_INVALID,
                        call.func.span,
                        format!(
                            "the argument `{}` of the library file {} is neither an int, a real nor an int list",
                            param.name.name, parts.file.path
                        ),
                    )
                    .with_label("this library model"),
                ));
            };
            let value = match (arg, &param.default) {
                (Some(arg), _) => arg.value.clone(),
                (None, Some(default)) => respan_expr(default, span),
                (None, None) => {
                    return Err(self.report(
                        Diagnostic::error(
                            codes::UNKNOWN_LIBRARY_ARGUMENT,
                            call.span,
                            format!(
                                "the library model `{name}` needs the argument `{}`",
                                param.name.name
                            ),
                        )
                        .with_label("argument missing")
                        .with_hint(signature),
                    ));
                }
            };
            let literal = self.argument_value(&param.name.name, kind, &value, name, signature)?;
            values.push((param.name.name.clone(), literal));
        }
        Ok(values)
    }

    /// Reads an argument's value, in the user's scope, as a literal of its kind.
    fn argument_value(
        &mut self,
        param: &str,
        kind: ArgumentKind,
        value: &syntax::Expr,
        model: &str,
        signature: &str,
    ) -> Checked<syntax::ExprKind> {
        let wrong = |checker: &mut Self, found: String| {
            let written = checker.text(value.span).to_string();
            let mut diagnostic = Diagnostic::error(
                codes::LIBRARY_ARGUMENT_KIND,
                value.span,
                format!(
                    "the argument `{param}` of `{model}` is {}, given `{written}`",
                    kind.describe()
                ),
            )
            .with_label(format!("this is {found}"));
            diagnostic = if kind == ArgumentKind::IntList {
                diagnostic.with_hint(format!(
                    "write a list, e.g. `{param} = [{written}]`; {signature}"
                ))
            } else {
                diagnostic.with_hint(signature.to_string())
            };
            checker.report(diagnostic)
        };
        if kind == ArgumentKind::IntList {
            let syntax::ExprKind::Vector(items) = &value.kind else {
                let checked = self.expr(value)?;
                let found = self.describe_type(&checked.ty);
                return Err(wrong(self, found));
            };
            let mut sizes = Vec::with_capacity(items.len());
            for item in items {
                match self.integer_constant(item)? {
                    Ok(size) => sizes.push(syntax::Expr {
                        kind: syntax::ExprKind::Int(size),
                        span: item.span,
                    }),
                    Err(found) => return Err(wrong(self, format!("a list holding {found}"))),
                }
            }
            return Ok(syntax::ExprKind::Vector(sizes));
        }
        if kind == ArgumentKind::Int {
            return match self.integer_constant(value)? {
                Ok(number) => Ok(syntax::ExprKind::Int(number)),
                Err(found) => Err(wrong(self, found)),
            };
        }
        let checked = self.expr(value)?;
        match Self::fold(&checked) {
            Some(number) if checked.ty.shape.is_empty() => Ok(syntax::ExprKind::Real(number)),
            _ => {
                let found = self.describe_value(&checked);
                Err(wrong(self, found))
            }
        }
    }

    /// An int known when the model is read, or a description of what was found instead.
    fn integer_constant(&mut self, value: &syntax::Expr) -> Checked<Result<i64, String>> {
        let checked = self.expr(value)?;
        Ok(match Self::fold(&checked) {
            Some(number)
                if checked.ty.shape.is_empty()
                    && checked.ty.elem != ElemType::Real
                    && number.fract() == 0.0
                    && number.abs() < 1e15 =>
            {
                Ok(number as i64)
            }
            _ => Err(self.describe_value(&checked)),
        })
    }

    fn describe_value(&self, checked: &Expr) -> String {
        if checked.ty.shape.is_empty() && Self::fold(checked).is_none() {
            return "a value not known when the model is read".into();
        }
        self.describe_type(&checked.ty)
    }

    /// Matches the library's observed type against the target's shape: each dimension name of
    /// the library takes the target's size on its axis; every other size must be equal.
    fn unify_observed(
        &mut self,
        parts: &LibraryParts,
        target_expr: &Expr,
        arguments: &[(String, syntax::ExprKind)],
        call: &syntax::Call,
        span: Span,
    ) -> Checked<Vec<(String, Size)>> {
        let name = &call.func.name;
        let library_sizes = parts.observed_type.sizes.clone().unwrap_or_default();
        let target_shape = &target_expr.ty.shape;
        let declared = parts
            .file
            .source
            .get(parts.observed_type.span.range())
            .unwrap_or("");
        let (line, line_text) = parts.file.line_at(parts.observed_type.span.start);
        let mismatch = |checker: &mut Self, detail: String| {
            let found = checker.describe_type(&target_expr.ty);
            checker.report(
                Diagnostic::error(
                    codes::LIBRARY_TARGET_MISMATCH,
                    target_expr.span,
                    format!(
                        "`{name}` models `{}: {declared}` but the target is {found}",
                        parts.observed_name
                    ),
                )
                .with_label(detail)
                .with_secondary(
                    span,
                    format!("{} line {line}: `{line_text}`", parts.file.path),
                ),
            )
        };
        if library_sizes.len() != target_shape.len() {
            return Err(mismatch(
                self,
                format!(
                    "{} axes where `{name}` needs {}",
                    target_shape.len(),
                    library_sizes.len()
                ),
            ));
        }
        let mut dims: Vec<(String, Size)> = Vec::new();
        for (axis, (size_expr, target_size)) in library_sizes.iter().zip(target_shape).enumerate() {
            let is_argument = |n: &str| arguments.iter().any(|(a, _)| a == n);
            if let syntax::ExprKind::Name(dim) = &size_expr.kind
                && !is_argument(dim)
                && !parts.declared.contains(dim)
                && !dims.iter().any(|(d, _)| d == dim)
            {
                dims.push((dim.clone(), target_size.clone()));
                continue;
            }
            let expected = affine_size(size_expr, arguments, &dims);
            if expected.as_ref() != Some(target_size) {
                let wanted = match &expected {
                    Some(size) => crate::check::display_size(size, &self.model.dims),
                    None => self.text(size_expr.span).to_string(),
                };
                let got = crate::check::display_size(target_size, &self.model.dims);
                return Err(mismatch(
                    self,
                    format!("axis {} has size {got}, `{name}` needs {wanted}", axis + 1),
                ));
            }
        }
        Ok(dims)
    }

    /// A size as the syntax a user would write for it (`N`, `64`, `2 * N + 1`).
    fn size_to_syntax(&self, size: &Size, span: Span) -> syntax::Expr {
        let node = |kind| syntax::Expr { kind, span };
        let mut expr: Option<syntax::Expr> = None;
        for (dim, coefficient) in &size.terms {
            let name = self
                .model
                .dims
                .get(dim.0)
                .map(|d| d.name.clone())
                .unwrap_or_default();
            let term = match coefficient {
                1 => node(syntax::ExprKind::Name(name)),
                c => node(syntax::ExprKind::Binary {
                    op: syntax::BinaryOp::Mul,
                    lhs: Box::new(node(syntax::ExprKind::Int(*c))),
                    rhs: Box::new(node(syntax::ExprKind::Name(name))),
                }),
            };
            expr = Some(match expr {
                None => term,
                Some(sum) => node(syntax::ExprKind::Binary {
                    op: syntax::BinaryOp::Add,
                    lhs: Box::new(sum),
                    rhs: Box::new(term),
                }),
            });
        }
        match expr {
            None => node(syntax::ExprKind::Int(size.constant)),
            Some(sum) if size.constant == 0 => sum,
            Some(sum) => node(syntax::ExprKind::Binary {
                op: syntax::BinaryOp::Add,
                lhs: Box::new(sum),
                rhs: Box::new(node(syntax::ExprKind::Int(size.constant))),
            }),
        }
    }
}

/// Parses a library file into its signature, observed variable and body.
fn read_library_file(file: &'static LibraryFile) -> Result<LibraryParts, String> {
    let (program, diagnostics) = syntax::parse(file.source);
    if let Some(error) = diagnostics.iter().find(|d| d.is_error()) {
        let line = error.span.map_or(1, |s| file.line_at(s.start).0);
        return Err(format!("line {line}: {}", error.message));
    }
    let mut params = None;
    let mut observed = None;
    let mut body = Vec::new();
    let mut declared = Vec::new();
    for statement in program.statements {
        match &statement.kind {
            StatementKind::ModelSignature { params: p, .. } => {
                if params.is_some() {
                    return Err("two `model` signatures".into());
                }
                params = Some(p.clone());
            }
            // `observed N: int` names a dimension, which the target fixes.
            StatementKind::Declare {
                kind: syntax::DeclKind::Observed,
                ty,
                ..
            } if ty.base.name == "int" && ty.sizes.is_none() && ty.bound.is_none() => {}
            StatementKind::Declare {
                kind: syntax::DeclKind::Observed,
                name,
                ty,
                ..
            } => {
                if observed.is_some() {
                    return Err("more than one `observed` variable".into());
                }
                let elem = match ty.base.name.as_str() {
                    "bool" => ElemType::Bool,
                    "int" => ElemType::Int,
                    _ => ElemType::Real,
                };
                observed = Some((name.name.clone(), ty.clone(), elem));
            }
            StatementKind::Data { .. } | StatementKind::Infer { .. } => {}
            _ => {
                collect_declared(&statement, &mut declared);
                body.push(statement);
            }
        }
    }
    let params = params.ok_or("no `model NAME(...)` signature")?;
    let (observed_name, observed_type, observed_elem) = observed.ok_or("no `observed` variable")?;
    Ok(LibraryParts {
        file,
        params,
        observed_name,
        observed_type,
        observed_elem,
        body,
        declared,
    })
}

/// The names a statement declares, loop variables included.
fn collect_declared(statement: &syntax::Statement, declared: &mut Vec<String>) {
    let mut add = |name: &str| {
        if !declared.iter().any(|d| d == name) {
            declared.push(name.to_string());
        }
    };
    match &statement.kind {
        StatementKind::Const { name, .. }
        | StatementKind::Declare { name, .. }
        | StatementKind::Let { name, .. }
        | StatementKind::Net { name, .. } => add(&name.name),
        StatementKind::For { var, body, .. } => {
            add(&var.name);
            for inner in body {
                collect_declared(inner, declared);
            }
        }
        _ => {}
    }
    let mut comprehension_vars = Vec::new();
    each_expr(statement, &mut |expr| {
        if let syntax::ExprKind::Comprehension { var, .. } = &expr.kind {
            comprehension_vars.push(var.name.clone());
        }
    });
    for var in comprehension_vars {
        if !declared.contains(&var) {
            declared.push(var);
        }
    }
}

/// The bare names used as sizes in a statement's types (candidates for dimension names).
fn free_size_names(statement: &syntax::Statement) -> Vec<String> {
    let mut names = Vec::new();
    if let StatementKind::Declare { ty, .. } = &statement.kind {
        for size in ty.sizes.iter().flatten() {
            each_subexpr(size, &mut |expr| {
                if let syntax::ExprKind::Name(name) = &expr.kind
                    && name != "pi"
                    && name != "inf"
                {
                    names.push(name.clone());
                }
            });
        }
    }
    names
}

/// The size an expression of arguments and bound dimensions stands for, if it is affine.
fn affine_size(
    expr: &syntax::Expr,
    arguments: &[(String, syntax::ExprKind)],
    dims: &[(String, Size)],
) -> Option<Size> {
    match &expr.kind {
        syntax::ExprKind::Int(value) => Some(Size::constant(*value)),
        syntax::ExprKind::Name(name) => {
            if let Some((_, size)) = dims.iter().find(|(d, _)| d == name) {
                return Some(size.clone());
            }
            match arguments.iter().find(|(a, _)| a == name) {
                Some((_, syntax::ExprKind::Int(value))) => Some(Size::constant(*value)),
                _ => None,
            }
        }
        syntax::ExprKind::Neg(inner) => Some(affine_size(inner, arguments, dims)?.scale(-1)),
        syntax::ExprKind::Binary { op, lhs, rhs } => {
            let left = affine_size(lhs, arguments, dims)?;
            let right = affine_size(rhs, arguments, dims)?;
            match op {
                syntax::BinaryOp::Add => Some(left.add(&right, 1)),
                syntax::BinaryOp::Sub => Some(left.add(&right, -1)),
                syntax::BinaryOp::Mul => match (left.as_constant(), right.as_constant()) {
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

/// Rewrites library statements into the user's model: names substituted, the observed variable
/// replaced by the target, every span moved to the user's `~` statement.
struct Rewriter {
    substitutions: HashMap<String, syntax::ExprKind>,
    /// The library's observed name and the user's target expression (which keeps its own spans).
    observed: Option<(String, syntax::Expr)>,
    span: Span,
}

impl Rewriter {
    fn ident(&self, ident: &syntax::Ident) -> syntax::Ident {
        let name = match self.substitutions.get(&ident.name) {
            Some(syntax::ExprKind::Name(renamed)) => renamed.clone(),
            _ => ident.name.clone(),
        };
        syntax::Ident {
            name,
            span: self.span,
        }
    }

    fn statement(&self, statement: &syntax::Statement) -> syntax::Statement {
        use StatementKind as S;
        let kind = match &statement.kind {
            S::Data { path, .. } => S::Data {
                path: path.clone(),
                path_span: self.span,
            },
            S::Const { name, value } => S::Const {
                name: self.ident(name),
                value: self.expr(value),
            },
            S::Declare {
                kind,
                name,
                ty,
                init,
            } => S::Declare {
                kind: *kind,
                name: self.ident(name),
                ty: self.type_expr(ty),
                init: init.as_ref().map(|e| self.expr(e)),
            },
            S::Let { name, value, local } => S::Let {
                name: self.ident(name),
                value: self.expr(value),
                local: *local,
            },
            S::LetElement {
                name,
                index,
                value,
                local,
            } => S::LetElement {
                name: self.ident(name),
                index: self.expr(index),
                value: self.expr(value),
                local: *local,
            },
            S::Net { name, value } => S::Net {
                name: self.ident(name),
                value: self.expr(value),
            },
            S::Tilde {
                target,
                dist,
                truncation,
            } => S::Tilde {
                target: self.expr(target),
                dist: self.call(dist),
                truncation: truncation.as_ref().map(|t| syntax::Truncation {
                    low: t.low.as_ref().map(|e| self.expr(e)),
                    high: t.high.as_ref().map(|e| self.expr(e)),
                    span: self.span,
                }),
            },
            S::For { var, range, body } => S::For {
                var: self.ident(var),
                range: self.expr(range),
                body: body.iter().map(|s| self.statement(s)).collect(),
            },
            S::Factor { value } => S::Factor {
                value: self.expr(value),
            },
            S::Guide { target, dist } => S::Guide {
                target: self.expr(target),
                dist: self.call(dist),
            },
            S::Energy { value } => S::Energy {
                value: self.expr(value),
            },
            S::Critic { net } => S::Critic {
                net: self.ident(net),
            },
            S::Infer { method, args } => S::Infer {
                method: self.ident(method),
                args: args.iter().map(|a| self.arg(a)).collect(),
            },
            S::ModelSignature { name, params } => S::ModelSignature {
                name: self.ident(name),
                params: params.clone(),
            },
        };
        syntax::Statement {
            kind,
            span: self.span,
        }
    }

    fn type_expr(&self, ty: &syntax::TypeExpr) -> syntax::TypeExpr {
        syntax::TypeExpr {
            base: syntax::Ident {
                name: ty.base.name.clone(),
                span: self.span,
            },
            sizes: ty
                .sizes
                .as_ref()
                .map(|sizes| sizes.iter().map(|s| self.expr(s)).collect()),
            bound: ty.bound.as_ref().map(|bound| match bound {
                syntax::Bound::Closed { low, high, .. } => syntax::Bound::Closed {
                    low: self.expr(low),
                    high: self.expr(high),
                    span: self.span,
                },
                syntax::Bound::Open { low, high, .. } => syntax::Bound::Open {
                    low: self.expr(low),
                    high: self.expr(high),
                    span: self.span,
                },
            }),
            span: self.span,
        }
    }

    fn call(&self, call: &syntax::Call) -> syntax::Call {
        syntax::Call {
            func: self.ident(&call.func),
            args: call.args.iter().map(|a| self.arg(a)).collect(),
            span: self.span,
        }
    }

    fn arg(&self, arg: &syntax::Arg) -> syntax::Arg {
        syntax::Arg {
            // Keyword names (`act`, `logit`) are never renamed.
            name: arg.name.as_ref().map(|n| syntax::Ident {
                name: n.name.clone(),
                span: self.span,
            }),
            value: self.expr(&arg.value),
            span: self.span,
        }
    }

    fn boxed(&self, expr: &syntax::Expr) -> Box<syntax::Expr> {
        Box::new(self.expr(expr))
    }

    fn expr(&self, expr: &syntax::Expr) -> syntax::Expr {
        use syntax::ExprKind as E;
        let kind = match &expr.kind {
            E::Name(name) if self.observed.as_ref().is_some_and(|(o, _)| o == name) => {
                if let Some((_, target)) = &self.observed {
                    return target.clone();
                }
                E::Name(name.clone())
            }
            E::Name(name) => match self.substitutions.get(name) {
                Some(replacement) => respan_kind(replacement, self.span),
                None => E::Name(name.clone()),
            },
            E::Int(_) | E::Real(_) | E::Bool(_) => expr.kind.clone(),
            E::Vector(items) => E::Vector(items.iter().map(|e| self.expr(e)).collect()),
            E::Comprehension { body, var, range } => E::Comprehension {
                body: self.boxed(body),
                var: self.ident(var),
                range: self.boxed(range),
            },
            E::Binary { op, lhs, rhs } => {
                let (lhs, rhs) = (self.expr(lhs), self.expr(rhs));
                match (op, &lhs.kind, &rhs.kind) {
                    (syntax::BinaryOp::Add, E::Int(a), E::Int(b))
                        if a.checked_add(*b).is_some() =>
                    {
                        E::Int(a + b)
                    }
                    (syntax::BinaryOp::Sub, E::Int(a), E::Int(b))
                        if a.checked_sub(*b).is_some() =>
                    {
                        E::Int(a - b)
                    }
                    (syntax::BinaryOp::Mul, E::Int(a), E::Int(b))
                        if a.checked_mul(*b).is_some() =>
                    {
                        E::Int(a * b)
                    }
                    _ => E::Binary {
                        op: *op,
                        lhs: Box::new(lhs),
                        rhs: Box::new(rhs),
                    },
                }
            }
            E::Neg(inner) => match self.expr(inner).kind {
                E::Int(value) if value.checked_neg().is_some() => E::Int(-value),
                other => E::Neg(Box::new(syntax::Expr {
                    kind: other,
                    span: self.span,
                })),
            },
            E::If {
                cond,
                then,
                otherwise,
            } => E::If {
                cond: self.boxed(cond),
                then: self.boxed(then),
                otherwise: self.boxed(otherwise),
            },
            E::Range { low, high } => E::Range {
                low: self.boxed(low),
                high: self.boxed(high),
            },
            E::Index { base, indices } => E::Index {
                base: self.boxed(base),
                indices: indices
                    .iter()
                    .map(|index| match index {
                        syntax::Index::All(_) => syntax::Index::All(self.span),
                        syntax::Index::Slice { low, high, .. } => syntax::Index::Slice {
                            low: self.expr(low),
                            high: self.expr(high),
                            span: self.span,
                        },
                        syntax::Index::Expr(e) => syntax::Index::Expr(self.expr(e)),
                    })
                    .collect(),
            },
            E::Call(call) => E::Call(self.call(call)),
        };
        syntax::Expr {
            kind,
            span: self.span,
        }
    }
}

/// A substituted value with its spans moved to the user's statement.
fn respan_kind(kind: &syntax::ExprKind, span: Span) -> syntax::ExprKind {
    respan_expr(
        &syntax::Expr {
            kind: kind.clone(),
            span,
        },
        span,
    )
    .kind
}

/// A library expression (a default value) with every span moved to `span`.
fn respan_expr(expr: &syntax::Expr, span: Span) -> syntax::Expr {
    let rewriter = Rewriter {
        substitutions: HashMap::new(),
        observed: None,
        span,
    };
    rewriter.expr(expr)
}

/// Calls `f` on every expression of a statement and its subexpressions.
fn each_expr(statement: &syntax::Statement, f: &mut dyn FnMut(&syntax::Expr)) {
    use StatementKind as S;
    let call = |call: &syntax::Call, f: &mut dyn FnMut(&syntax::Expr)| {
        for arg in &call.args {
            each_subexpr(&arg.value, f);
        }
    };
    match &statement.kind {
        S::Const { value, .. } | S::Let { value, .. } | S::Net { value, .. } => {
            each_subexpr(value, f)
        }
        S::Factor { value } | S::Energy { value } => each_subexpr(value, f),
        S::LetElement { index, value, .. } => {
            each_subexpr(index, f);
            each_subexpr(value, f);
        }
        S::Declare { ty, init, .. } => {
            for size in ty.sizes.iter().flatten() {
                each_subexpr(size, f);
            }
            if let Some(init) = init {
                each_subexpr(init, f);
            }
        }
        S::Tilde { target, dist, .. } | S::Guide { target, dist } => {
            each_subexpr(target, f);
            call(dist, f);
        }
        S::For { range, body, .. } => {
            each_subexpr(range, f);
            for inner in body {
                each_expr(inner, f);
            }
        }
        S::Infer { args, .. } => {
            for arg in args {
                each_subexpr(&arg.value, f);
            }
        }
        S::Data { .. } | S::Critic { .. } | S::ModelSignature { .. } => {}
    }
}

/// Calls `f` on `expr` and every subexpression.
fn each_subexpr(expr: &syntax::Expr, f: &mut dyn FnMut(&syntax::Expr)) {
    use syntax::ExprKind as E;
    f(expr);
    match &expr.kind {
        E::Int(_) | E::Real(_) | E::Bool(_) | E::Name(_) => {}
        E::Vector(items) => items.iter().for_each(|e| each_subexpr(e, f)),
        E::Comprehension { body, range, .. } => {
            each_subexpr(body, f);
            each_subexpr(range, f);
        }
        E::Binary { lhs, rhs, .. } => {
            each_subexpr(lhs, f);
            each_subexpr(rhs, f);
        }
        E::Neg(inner) => each_subexpr(inner, f),
        E::If {
            cond,
            then,
            otherwise,
        } => {
            each_subexpr(cond, f);
            each_subexpr(then, f);
            each_subexpr(otherwise, f);
        }
        E::Range { low, high } => {
            each_subexpr(low, f);
            each_subexpr(high, f);
        }
        E::Index { base, indices } => {
            each_subexpr(base, f);
            for index in indices {
                match index {
                    syntax::Index::All(_) => {}
                    syntax::Index::Slice { low, high, .. } => {
                        each_subexpr(low, f);
                        each_subexpr(high, f);
                    }
                    syntax::Index::Expr(e) => each_subexpr(e, f),
                }
            }
        }
        E::Call(call) => call.args.iter().for_each(|a| each_subexpr(&a.value, f)),
    }
}
