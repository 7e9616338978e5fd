//! The syntax tree of a model file. Every node carries the byte span of the text it came from, so
//! that any later phase can point a diagnostic at it.

/// A half-open byte range `start..end` into the model text.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub struct Span {
    pub start: usize,
    pub end: usize,
}

impl Span {
    pub fn new(start: usize, end: usize) -> Self {
        Span { start, end }
    }
    /// The smallest span covering both.
    pub fn to(self, other: Span) -> Span {
        Span::new(self.start.min(other.start), self.end.max(other.end))
    }
    pub fn range(self) -> std::ops::Range<usize> {
        self.start..self.end
    }
}

/// A name as written, with where it was written.
#[derive(Clone, Debug, PartialEq)]
pub struct Ident {
    pub name: String,
    pub span: Span,
}

/// A whole model file: its statements in source order.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Program {
    pub statements: Vec<Statement>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Statement {
    pub kind: StatementKind,
    pub span: Span,
}

/// Which of the three kinds of unknown-or-known variable a declaration makes.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DeclKind {
    Observed,
    Latent,
    Param,
}

#[derive(Clone, Debug, PartialEq)]
#[allow(clippy::large_enum_variant)] // a syntax tree is built once; boxing would only add noise
pub enum StatementKind {
    /// `data "file.csv"`
    Data { path: String, path_span: Span },
    /// `const K = 2`
    Const { name: Ident, value: Expr },
    /// `observed x: real[N]`, `latent v: TYPE = init`, `param p: TYPE`
    Declare {
        kind: DeclKind,
        name: Ident,
        ty: TypeExpr,
        init: Option<Expr>,
    },
    /// `let y = expr`; `local let y = expr` when `local` (used as a `let`, never output).
    Let {
        name: Ident,
        value: Expr,
        local: bool,
    },
    /// `let e[t] = expr`: element `index` (1-based) of the array `name`, whose elements are
    /// defined across statements and loop iterations.
    LetElement {
        name: Ident,
        index: Expr,
        value: Expr,
        /// Written `local let e[t] = ...`: every piece of one array must agree.
        local: bool,
    },
    /// `net f = mlp(2, 64, 1, act = relu)`: `value` is the call.
    Net { name: Ident, value: Expr },
    /// `target ~ Dist(args)`; `target` is a name, an indexed element or slice. `Implicit(expr)` and
    /// library models (`VAE(...)`) also arrive here as the call.
    Tilde {
        target: Expr,
        dist: Call,
        /// `truncated(lo, hi)` after the distribution.
        truncation: Option<Truncation>,
    },
    /// `for n in 1..N { ... }`: `range` is the `a..b` expression.
    For {
        var: Ident,
        range: Expr,
        body: Vec<Statement>,
    },
    /// `factor expr`
    Factor { value: Expr },
    /// `guide v ~ Dist(args)`
    Guide { target: Expr, dist: Call },
    /// `energy expr`
    Energy { value: Expr },
    /// `critic disc`
    Critic { net: Ident },
    /// `infer nuts(chains = 4)`: the method and its keyword settings.
    Infer { method: Ident, args: Vec<Arg> },
    /// `model VAE(latent: int = 2, hidden: int[] = [128])`: the signature of a library model file.
    ModelSignature {
        name: Ident,
        params: Vec<SignatureParam>,
    },
}

/// One argument of a library model signature: `hidden: int[] = [128]`.
#[derive(Clone, Debug, PartialEq)]
pub struct SignatureParam {
    pub name: Ident,
    pub ty: TypeExpr,
    pub default: Option<Expr>,
}

/// The base of a type, before sizes and bounds.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BaseType {
    Real,
    Int,
    Bool,
    Positive,
    Unit,
    Simplex,
    Ordered,
    PositiveOrdered,
    CorrCholesky,
    Cov,
}

impl BaseType {
    pub fn from_name(name: &str) -> Option<BaseType> {
        Some(match name {
            "real" => BaseType::Real,
            "int" => BaseType::Int,
            "bool" => BaseType::Bool,
            "positive" => BaseType::Positive,
            "unit" => BaseType::Unit,
            "simplex" => BaseType::Simplex,
            "ordered" => BaseType::Ordered,
            "positive_ordered" => BaseType::PositiveOrdered,
            "corr_cholesky" => BaseType::CorrCholesky,
            "cov" => BaseType::Cov,
            _ => return None,
        })
    }
    pub fn name(self) -> &'static str {
        match self {
            BaseType::Real => "real",
            BaseType::Int => "int",
            BaseType::Bool => "bool",
            BaseType::Positive => "positive",
            BaseType::Unit => "unit",
            BaseType::Simplex => "simplex",
            BaseType::Ordered => "ordered",
            BaseType::PositiveOrdered => "positive_ordered",
            BaseType::CorrCholesky => "corr_cholesky",
            BaseType::Cov => "cov",
        }
    }
    /// The constrained types name a whole object with their last size and need at least one size.
    pub fn is_constrained_object(self) -> bool {
        matches!(
            self,
            BaseType::Simplex
                | BaseType::Ordered
                | BaseType::PositiveOrdered
                | BaseType::CorrCholesky
                | BaseType::Cov
        )
    }
    pub const ALL_NAMES: [&'static str; 10] = [
        "real",
        "int",
        "bool",
        "positive",
        "unit",
        "simplex",
        "ordered",
        "positive_ordered",
        "corr_cholesky",
        "cov",
    ];
}

/// `BASE [ "[" size, ... "]" ] [ "in" bound ]`. In a library signature `int[]` has `sizes: Some(vec![])`.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeExpr {
    /// The base as written; the checker maps it with `BaseType::from_name` so that an unknown type
    /// name is a checked error with a hint, not a parse error.
    pub base: Ident,
    /// `None` when no brackets were written, `Some(vec![])` for `[]`.
    pub sizes: Option<Vec<Expr>>,
    pub bound: Option<Bound>,
    pub span: Span,
}

/// The element bound of a type: `in a..b` (closed) or `in (a, b)` (open).
#[derive(Clone, Debug, PartialEq)]
pub enum Bound {
    Closed { low: Expr, high: Expr, span: Span },
    Open { low: Expr, high: Expr, span: Span },
}

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BinaryOp {
    Add,
    Sub,
    Mul,
    Div,
    MatMul,
    Pow,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
}

impl BinaryOp {
    pub fn symbol(self) -> &'static str {
        match self {
            BinaryOp::Add => "+",
            BinaryOp::Sub => "-",
            BinaryOp::Mul => "*",
            BinaryOp::Div => "/",
            BinaryOp::MatMul => "@",
            BinaryOp::Pow => "^",
            BinaryOp::Lt => "<",
            BinaryOp::Le => "<=",
            BinaryOp::Gt => ">",
            BinaryOp::Ge => ">=",
            BinaryOp::Eq => "==",
            BinaryOp::Ne => "!=",
        }
    }
    pub fn is_comparison(self) -> bool {
        matches!(
            self,
            BinaryOp::Lt | BinaryOp::Le | BinaryOp::Gt | BinaryOp::Ge | BinaryOp::Eq | BinaryOp::Ne
        )
    }
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// An integer literal such as `12`.
    Int(i64),
    /// A real literal such as `1.5` or `1e-3`.
    Real(f64),
    Bool(bool),
    /// A name: a variable, a constant, a dimension, `pi`, `inf`, or a loop variable.
    Name(String),
    /// `[a, b, c]`
    Vector(Vec<Expr>),
    /// `[expr for k in a..b]`
    Comprehension {
        body: Box<Expr>,
        var: Ident,
        range: Box<Expr>,
    },
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Unary minus.
    Neg(Box<Expr>),
    /// `if c then a else b`
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `a..b`, inclusive.
    Range {
        low: Box<Expr>,
        high: Box<Expr>,
    },
    /// `a[i, j:k, ..]`
    Index {
        base: Box<Expr>,
        indices: Vec<Index>,
    },
    Call(Call),
}

/// One position of an index list.
#[derive(Clone, Debug, PartialEq)]
pub enum Index {
    /// A lone `..`: the whole axis.
    All(Span),
    /// `i:j`, inclusive.
    Slice { low: Expr, high: Expr, span: Span },
    /// Any expression: an int picks one element (the axis disappears), an int array or a range
    /// gathers.
    Expr(Expr),
}

/// `truncated(lo, hi)` on a `~` statement; a missing bound is unbounded on that side.
#[derive(Clone, Debug, PartialEq)]
pub struct Truncation {
    pub low: Option<Expr>,
    pub high: Option<Expr>,
    pub span: Span,
}

/// `f(a, b, k = v)`: positional arguments first, then keywords.
#[derive(Clone, Debug, PartialEq)]
pub struct Call {
    pub func: Ident,
    pub args: Vec<Arg>,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Arg {
    /// `Some` for `name = value`.
    pub name: Option<Ident>,
    pub value: Expr,
    pub span: Span,
}

impl Call {
    pub fn positional(&self) -> impl Iterator<Item = &Expr> {
        self.args
            .iter()
            .filter(|a| a.name.is_none())
            .map(|a| &a.value)
    }
    pub fn keyword(&self, name: &str) -> Option<&Arg> {
        self.args
            .iter()
            .find(|a| a.name.as_ref().is_some_and(|n| n.name == name))
    }
}
