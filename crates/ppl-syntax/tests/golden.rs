//! Data-driven tests of the parser: every `test_data/ok/*.model` must parse without diagnostics to
//! the tree in its `.ast` file, and every `test_data/err/*.model` must give the diagnostics in its
//! `.err` file. A missing expectation file fails; `UPDATE_EXPECT=1` writes them all.

use std::fmt::Write as _;
use std::fs;
use std::path::{Path, PathBuf};

use ppl_syntax::*;

fn data_dir(kind: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("test_data")
        .join(kind)
}

fn model_files(kind: &str) -> Vec<PathBuf> {
    let mut files: Vec<PathBuf> = fs::read_dir(data_dir(kind))
        .expect("test_data folder exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|e| e == "model"))
        .collect();
    files.sort();
    files
}

/// Compares `actual` with the file, or writes the file when updates are asked for (a missing
/// file is a mismatch). Returns a description of the mismatch, if any.
fn check_expectation(path: &Path, actual: &str) -> Option<String> {
    let update = std::env::var_os("UPDATE_EXPECT").is_some();
    if update {
        fs::write(path, actual).expect("write expectation file");
        return None;
    }
    match fs::read_to_string(path) {
        Ok(expected) => (expected != actual).then(|| {
            format!(
                "{} differs:\n--- expected\n{expected}\n--- actual\n{actual}",
                path.display()
            )
        }),
        Err(error) => Some(format!(
            "{}: {error} (a missing expectation file fails; UPDATE_EXPECT=1 writes it)",
            path.display()
        )),
    }
}

// ---- a compact dump of the tree -------------------------------------------------------------

fn dump_program(program: &Program) -> String {
    let mut out = String::new();
    for statement in &program.statements {
        dump_statement(statement, 0, &mut out);
    }
    out
}

fn dump_statement(statement: &Statement, indent: usize, out: &mut String) {
    let pad = "  ".repeat(indent);
    let span = statement.span;
    let body = match &statement.kind {
        StatementKind::Data { path, .. } => format!("(data {path:?})"),
        StatementKind::Const { name, value } => format!("(const {} {})", name.name, expr(value)),
        StatementKind::Declare {
            kind,
            name,
            ty,
            init,
        } => {
            let kind = match kind {
                DeclKind::Observed => "observed",
                DeclKind::Latent => "latent",
                DeclKind::Param => "param",
            };
            let init = init
                .as_ref()
                .map(|e| format!(" = {}", expr(e)))
                .unwrap_or_default();
            format!("({kind} {} {}{init})", name.name, type_expr(ty))
        }
        StatementKind::Let { name, value, local } => format!(
            "({}let {} {})",
            if *local { "local " } else { "" },
            name.name,
            expr(value)
        ),
        StatementKind::LetElement {
            name,
            index,
            value,
            local,
        } => format!(
            "({}let {}[{}] {})",
            if *local { "local " } else { "" },
            name.name,
            expr(index),
            expr(value)
        ),
        StatementKind::Net { name, value } => format!("(net {} {})", name.name, expr(value)),
        StatementKind::Tilde {
            target,
            dist,
            truncation,
        } => {
            let bound = |b: &Option<Expr>| b.as_ref().map_or("_".to_string(), expr);
            let truncated = truncation.as_ref().map_or(String::new(), |t| {
                format!(" (truncated {} {})", bound(&t.low), bound(&t.high))
            });
            format!("(~ {} {}{truncated})", expr(target), call(dist))
        }
        StatementKind::For { var, range, body } => {
            let _ = writeln!(
                out,
                "{pad}{}..{} (for {} {}",
                span.start,
                span.end,
                var.name,
                expr(range)
            );
            for inner in body {
                dump_statement(inner, indent + 1, out);
            }
            let _ = writeln!(out, "{pad})");
            return;
        }
        StatementKind::Factor { value } => format!("(factor {})", expr(value)),
        StatementKind::Guide { target, dist } => format!("(guide {} {})", expr(target), call(dist)),
        StatementKind::Energy { value } => format!("(energy {})", expr(value)),
        StatementKind::Critic { net } => format!("(critic {})", net.name),
        StatementKind::Infer { method, args } => {
            format!("(infer {}{})", method.name, arguments(args))
        }
        StatementKind::ModelSignature { name, params } => {
            let params: Vec<String> = params
                .iter()
                .map(|p| {
                    let default = p
                        .default
                        .as_ref()
                        .map(|e| format!(" = {}", expr(e)))
                        .unwrap_or_default();
                    format!(" ({} {}{default})", p.name.name, type_expr(&p.ty))
                })
                .collect();
            format!("(model {}{})", name.name, params.concat())
        }
    };
    let _ = writeln!(out, "{pad}{}..{} {body}", span.start, span.end);
}

fn type_expr(ty: &TypeExpr) -> String {
    let sizes = match &ty.sizes {
        None => String::new(),
        Some(sizes) => format!("[{}]", sizes.iter().map(expr).collect::<Vec<_>>().join(" ")),
    };
    let bound = match &ty.bound {
        None => String::new(),
        Some(Bound::Closed { low, high, .. }) => format!(" in {}..{}", expr(low), expr(high)),
        Some(Bound::Open { low, high, .. }) => format!(" in ({}, {})", expr(low), expr(high)),
    };
    format!("{}{sizes}{bound}", ty.base.name)
}

fn expr(e: &Expr) -> String {
    match &e.kind {
        ExprKind::Int(v) => v.to_string(),
        ExprKind::Real(v) => format!("{v:?}"),
        ExprKind::Bool(v) => v.to_string(),
        ExprKind::Name(n) => n.clone(),
        ExprKind::Vector(items) => {
            format!("[{}]", items.iter().map(expr).collect::<Vec<_>>().join(" "))
        }
        ExprKind::Comprehension { body, var, range } => {
            format!("[{} for {} in {}]", expr(body), var.name, expr(range))
        }
        ExprKind::Binary { op, lhs, rhs } => {
            format!("({} {} {})", op.symbol(), expr(lhs), expr(rhs))
        }
        ExprKind::Neg(inner) => format!("(neg {})", expr(inner)),
        ExprKind::If {
            cond,
            then,
            otherwise,
        } => format!("(if {} {} {})", expr(cond), expr(then), expr(otherwise)),
        ExprKind::Range { low, high } => format!("(.. {} {})", expr(low), expr(high)),
        ExprKind::Index { base, indices } => {
            let indices: Vec<String> = indices
                .iter()
                .map(|i| match i {
                    Index::All(_) => "..".to_string(),
                    Index::Slice { low, high, .. } => format!("(: {} {})", expr(low), expr(high)),
                    Index::Expr(e) => expr(e),
                })
                .collect();
            format!("(index {} {})", expr(base), indices.join(" "))
        }
        ExprKind::Call(c) => call(c),
    }
}

fn call(c: &Call) -> String {
    format!("({}{})", c.func.name, arguments(&c.args))
}

fn arguments(args: &[Arg]) -> String {
    args.iter()
        .map(|a| match &a.name {
            Some(name) => format!(" {}={}", name.name, expr(&a.value)),
            None => format!(" {}", expr(&a.value)),
        })
        .collect()
}

// ---- span invariants ---------------------------------------------------------------------------

/// Every leaf's span holds exactly its text, and every node lies inside its statement.
fn check_spans(source: &str, program: &Program) {
    fn walk_expr(source: &str, outer: Span, e: &Expr) {
        assert!(
            outer.start <= e.span.start && e.span.end <= outer.end,
            "{e:?} outside {outer:?}"
        );
        let text = &source[e.span.range()];
        match &e.kind {
            ExprKind::Name(n) => assert_eq!(text, n),
            ExprKind::Int(v) => assert_eq!(text.parse::<i64>().ok(), Some(*v)),
            ExprKind::Real(v) => {
                let parsed: f64 = text.parse().expect("a real's text parses");
                assert_eq!(parsed, *v);
            }
            ExprKind::Bool(v) => assert_eq!(text, v.to_string()),
            ExprKind::Vector(items) => items.iter().for_each(|i| walk_expr(source, e.span, i)),
            ExprKind::Comprehension { body, var, range } => {
                assert_eq!(&source[var.span.range()], var.name);
                walk_expr(source, e.span, body);
                walk_expr(source, e.span, range);
            }
            ExprKind::Binary { op, lhs, rhs } => {
                walk_expr(source, e.span, lhs);
                walk_expr(source, e.span, rhs);
                let between = &source[lhs.span.end..rhs.span.start];
                assert!(
                    between.contains(op.symbol()),
                    "{between:?} lacks {}",
                    op.symbol()
                );
            }
            ExprKind::Neg(inner) => walk_expr(source, e.span, inner),
            ExprKind::If {
                cond,
                then,
                otherwise,
            } => {
                assert!(text.starts_with("if") || text.starts_with('('));
                for part in [cond, then, otherwise] {
                    walk_expr(source, e.span, part);
                }
            }
            ExprKind::Range { low, high } => {
                walk_expr(source, e.span, low);
                walk_expr(source, e.span, high);
            }
            ExprKind::Index { base, indices } => {
                walk_expr(source, e.span, base);
                for index in indices {
                    match index {
                        Index::All(span) => assert_eq!(&source[span.range()], ".."),
                        Index::Slice { low, high, .. } => {
                            walk_expr(source, e.span, low);
                            walk_expr(source, e.span, high);
                        }
                        Index::Expr(inner) => walk_expr(source, e.span, inner),
                    }
                }
            }
            ExprKind::Call(c) => walk_call(source, e.span, c),
        }
    }
    fn walk_call(source: &str, outer: Span, c: &Call) {
        assert!(outer.start <= c.span.start && c.span.end <= outer.end);
        assert_eq!(&source[c.func.span.range()], c.func.name);
        for arg in &c.args {
            if let Some(name) = &arg.name {
                assert_eq!(&source[name.span.range()], name.name);
            }
            walk_expr(source, c.span, &arg.value);
        }
    }
    fn walk_statement(source: &str, s: &Statement) {
        let outer = s.span;
        match &s.kind {
            StatementKind::Data { path_span, .. } => {
                assert!(source[path_span.range()].starts_with('"'))
            }
            StatementKind::Const { name, value }
            | StatementKind::Let { name, value, .. }
            | StatementKind::Net { name, value } => {
                assert_eq!(&source[name.span.range()], name.name);
                walk_expr(source, outer, value);
            }
            StatementKind::LetElement {
                name, index, value, ..
            } => {
                assert_eq!(&source[name.span.range()], name.name);
                walk_expr(source, outer, index);
                walk_expr(source, outer, value);
            }
            StatementKind::Declare { name, ty, init, .. } => {
                assert_eq!(&source[name.span.range()], name.name);
                assert_eq!(&source[ty.base.span.range()], ty.base.name);
                for size in ty.sizes.iter().flatten() {
                    walk_expr(source, ty.span, size);
                }
                if let Some(init) = init {
                    walk_expr(source, outer, init);
                }
            }
            StatementKind::Tilde { target, dist, .. } | StatementKind::Guide { target, dist } => {
                walk_expr(source, outer, target);
                walk_call(source, outer, dist);
            }
            StatementKind::For { var, range, body } => {
                assert_eq!(&source[var.span.range()], var.name);
                walk_expr(source, outer, range);
                for inner in body {
                    assert!(outer.start <= inner.span.start && inner.span.end <= outer.end);
                    walk_statement(source, inner);
                }
            }
            StatementKind::Factor { value } | StatementKind::Energy { value } => {
                walk_expr(source, outer, value)
            }
            StatementKind::Critic { net } => assert_eq!(&source[net.span.range()], net.name),
            StatementKind::Infer { method, args } => {
                assert_eq!(&source[method.span.range()], method.name);
                for arg in args {
                    walk_expr(source, outer, &arg.value);
                }
            }
            StatementKind::ModelSignature { name, params } => {
                assert_eq!(&source[name.span.range()], name.name);
                for p in params {
                    assert_eq!(&source[p.name.span.range()], p.name.name);
                    if let Some(d) = &p.default {
                        walk_expr(source, outer, d);
                    }
                }
            }
        }
    }
    for statement in &program.statements {
        walk_statement(source, statement);
    }
}

// ---- diagnostics ------------------------------------------------------------------------------

fn line_column(bytes: &[u8], offset: usize) -> (usize, usize) {
    let before = &bytes[..offset.min(bytes.len())];
    let line = before.iter().filter(|&&b| b == b'\n').count() + 1;
    let line_start = before
        .iter()
        .rposition(|&b| b == b'\n')
        .map_or(0, |p| p + 1);
    let column = String::from_utf8_lossy(&before[line_start..])
        .chars()
        .count()
        + 1;
    (line, column)
}

fn dump_diagnostics(bytes: &[u8], program: &Program, diagnostics: &[Diagnostic]) -> String {
    let mut out = String::new();
    for d in diagnostics {
        let place = match d.span {
            Some(span) => {
                let (line, column) = line_column(bytes, span.start);
                format!("{line}:{column}")
            }
            None => "-".to_string(),
        };
        let _ = writeln!(out, "{} {place} {}", d.code, d.message);
        if !d.label.is_empty() {
            let _ = writeln!(out, "  label: {}", d.label);
        }
        if let Some(hint) = &d.hint {
            let _ = writeln!(out, "  hint: {hint}");
        }
    }
    let _ = writeln!(out, "parsed statements: {}", program.statements.len());
    out
}

#[test]
fn ok_files_parse_to_their_trees() {
    let files = model_files("ok");
    assert!(files.len() >= 25, "only {} ok files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let source = fs::read_to_string(path).expect("ok files are UTF-8");
        let (program, diagnostics) = parse(&source);
        if !diagnostics.is_empty() {
            failures.push(format!("{}: {diagnostics:#?}", path.display()));
            continue;
        }
        check_spans(&source, &program);
        if let Some(failure) =
            check_expectation(&path.with_extension("ast"), &dump_program(&program))
        {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

#[test]
fn err_files_give_their_diagnostics() {
    let files = model_files("err");
    assert!(files.len() >= 25, "only {} err files", files.len());
    let mut failures = Vec::new();
    for path in &files {
        let bytes = fs::read(path).expect("readable");
        let (program, diagnostics) = parse_bytes(&bytes);
        if diagnostics.is_empty() {
            failures.push(format!("{}: no diagnostics", path.display()));
            continue;
        }
        for d in &diagnostics {
            // Raw grammar rule names must never reach a user.
            assert!(
                !d.message.contains('_') || d.message.contains('`'),
                "{}: {}",
                path.display(),
                d.message
            );
        }
        let actual = dump_diagnostics(&bytes, &program, &diagnostics);
        if let Some(failure) = check_expectation(&path.with_extension("err"), &actual) {
            failures.push(failure);
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n\n"));
}

/// Every prefix of every test file (cut at any char boundary) parses without a panic, and
/// diagnostics stay inside the text.
#[test]
fn every_prefix_parses_without_panicking() {
    for kind in ["ok", "err"] {
        for path in model_files(kind) {
            let bytes = fs::read(&path).expect("readable");
            for end in 0..=bytes.len() {
                let (_, diagnostics) = parse_bytes(&bytes[..end]);
                for d in diagnostics {
                    if let Some(span) = d.span {
                        assert!(
                            span.start <= span.end && span.end <= end,
                            "{}: {d:?}",
                            path.display()
                        );
                    }
                }
            }
        }
    }
}

/// LANGUAGE.md §1's gmm model parses to the expected statements.
#[test]
fn the_gmm_example_parses() {
    let source = r#"# examples/gmm.model — two-component Gaussian mixture, the classic EM example
data "data/gmm.csv"            # default data file, relative to this model file

const K = 2
observed x: real[N]            # N is bound from the data file's length
param w: simplex[K]            # unknown, point-estimated (MLE / MAP)
param mu: real[K]
param sigma: positive[K]
latent z: int[N] in 1..K       # discrete latent assignment

z ~ Categorical(w)
x ~ Normal(mu[z], sigma[z])    # vectorised: mu[z] gathers one mean per point
"#;
    let (program, diagnostics) = parse(source);
    assert!(diagnostics.is_empty(), "{diagnostics:#?}");
    assert_eq!(
        dump_program(&program)
            .lines()
            .map(|l| l.split_once(' ').expect("span then tree").1)
            .collect::<Vec<_>>(),
        vec![
            "(data \"data/gmm.csv\")",
            "(const K 2)",
            "(observed x real[N])",
            "(param w simplex[K])",
            "(param mu real[K])",
            "(param sigma positive[K])",
            "(latent z int[N] in 1..K)",
            "(~ z (Categorical w))",
            "(~ x (Normal (index mu z) (index sigma z)))",
        ]
    );
    let StatementKind::Declare { ty, .. } = &program.statements[6].kind else {
        panic!("a declaration")
    };
    assert_eq!(&source[ty.span.range()], "int[N] in 1..K");
    let StatementKind::Data { path_span, .. } = &program.statements[0].kind else {
        panic!("data")
    };
    assert_eq!(&source[path_span.range()], "\"data/gmm.csv\"");
}
