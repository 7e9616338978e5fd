//! The typed model graph that every later layer consumes: variables (observed / latent / param),
//! dimensions, constants, `let`s and log-density terms, each expression carrying its element type and
//! symbolic shape. Constants are already substituted; loops are kept as loop contexts of terms.

use ppl_dist::DistKind;
use ppl_syntax::Span;

/// Index of a dimension name (`N`, `D`) in `Model::dims`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DimId(pub usize);
/// Index of a variable in `Model::variables`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct VarId(pub usize);
/// Index of a `let` in `Model::lets`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LetId(pub usize);
/// Index of a loop or comprehension variable in `Model::loop_vars`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LoopId(pub usize);

/// An integer-affine size `constant + Σ coefficient · dim`, in normal form (terms sorted by dim,
/// no zero coefficients), so two sizes are equal exactly when their normal forms are.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Default)]
pub struct Size {
    pub constant: i64,
    pub terms: Vec<(DimId, i64)>,
}

/// The most elements one value (a declared variable, a `fill`, a range) may have: 10^8 reals are
/// 800 MB. Larger sizes are refused with `TOO_LARGE` before anything is allocated.
pub const MAX_ELEMENTS: i64 = 100_000_000;

/// The number of elements of a shape whose sizes are known, saturating at `i64::MAX`; negative
/// sizes count as 0.
pub fn element_count(sizes: impl IntoIterator<Item = i64>) -> i64 {
    sizes
        .into_iter()
        .fold(1i64, |count, size| count.saturating_mul(size.max(0)))
}

impl Size {
    pub fn constant(value: i64) -> Size {
        Size {
            constant: value,
            terms: Vec::new(),
        }
    }
    pub fn dim(dim: DimId) -> Size {
        Size {
            constant: 0,
            terms: vec![(dim, 1)],
        }
    }
    pub fn as_constant(&self) -> Option<i64> {
        self.terms.is_empty().then_some(self.constant)
    }
    /// The value once the dimensions are bound.
    ///
    /// Arithmetic saturates at the ends of `i64` instead of wrapping, so that an enormous size
    /// stays enormous (and is refused by the caller's limit) rather than turning small or negative.
    pub fn evaluate(&self, dims: &[usize]) -> i64 {
        self.terms.iter().fold(self.constant, |acc, (d, c)| {
            let dim = dims
                .get(d.0)
                .map_or(0, |&n| i64::try_from(n).unwrap_or(i64::MAX));
            acc.saturating_add(c.saturating_mul(dim))
        })
    }

    /// The least value this size can take once dimensions are bound (dimensions are 0 or more;
    /// a dimension's coefficient is ignored unless the size is a constant). Used to refuse sizes
    /// that are too large before anything is allocated.
    pub fn least_value(&self) -> i64 {
        if self.terms.iter().all(|(_, c)| *c >= 0) {
            self.constant
        } else {
            i64::MIN
        }
    }
    pub fn add(&self, other: &Size, sign: i64) -> Size {
        let mut terms = self.terms.clone();
        for (d, c) in &other.terms {
            match terms.iter_mut().find(|(e, _)| e == d) {
                Some((_, existing)) => *existing = existing.saturating_add(sign.saturating_mul(*c)),
                None => terms.push((*d, sign.saturating_mul(*c))),
            }
        }
        terms.retain(|(_, c)| *c != 0);
        terms.sort();
        Size {
            constant: self
                .constant
                .saturating_add(sign.saturating_mul(other.constant)),
            terms,
        }
    }
    pub fn scale(&self, factor: i64) -> Size {
        let mut terms: Vec<(DimId, i64)> = self
            .terms
            .iter()
            .map(|(d, c)| (*d, c.saturating_mul(factor)))
            .collect();
        terms.retain(|(_, c)| *c != 0);
        Size {
            constant: self.constant.saturating_mul(factor),
            terms,
        }
    }
}

/// The scalar kind of every element of a value.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum ElemType {
    Bool,
    Int,
    Real,
}

/// Element type plus symbolic shape (empty shape = scalar). Row-major, 0-based internally.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct ValueType {
    pub elem: ElemType,
    pub shape: Vec<Size>,
}

/// The constraint on each element or object of an unknown or observed variable.
#[derive(Clone, Debug, PartialEq)]
pub enum Constraint {
    None,
    /// `in a..b` (closed), `in (a, b)` (open), `positive` (open lower 0), `unit` (open 0..1).
    /// Bounds are compile-time numbers after constant substitution; `inf` is allowed.
    Bounded {
        low: f64,
        high: f64,
        open: bool,
    },
    /// The last axis is a simplex.
    Simplex,
    Ordered,
    PositiveOrdered,
    /// The last two axes form a Cholesky factor of a correlation matrix.
    CorrCholesky,
    /// The last two axes form a covariance matrix.
    Cov,
}

impl Constraint {
    /// How many trailing axes one constrained object spans (0 for elementwise constraints).
    pub fn object_rank(&self) -> usize {
        match self {
            Constraint::None | Constraint::Bounded { .. } => 0,
            Constraint::Simplex | Constraint::Ordered | Constraint::PositiveOrdered => 1,
            Constraint::CorrCholesky | Constraint::Cov => 2,
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Role {
    /// Known: from the data file or inline.
    Observed,
    /// Unknown, posterior inferred.
    Latent,
    /// Unknown, point-estimated.
    Param,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Variable {
    pub id: VarId,
    pub name: String,
    pub role: Role,
    /// Full shape: for `cov[K, D]` it is `[K, D, D]`, for `simplex[K]` `[K]`.
    pub ty: ValueType,
    pub constraint: Constraint,
    /// The type as written, for messages (`positive[K]`).
    pub declared_as: String,
    /// `= expr`: an inline value for an observed variable, an initial value for an unknown.
    pub init: Option<Expr>,
    pub span: Span,
    pub name_span: Span,
    /// An int bound that uses data (`int in 1..N`), resolved when data is bound; the
    /// `constraint` is then unbounded.
    pub data_bound: Option<(Size, Size)>,
    /// A real bound that uses data or earlier unknowns (`latent b: real in (0, 1 - a)`):
    /// evaluated per draw, the `constraint` then `None`.
    pub expression_bound: Option<ExpressionBound>,
}

/// The ends of a real bound that is not a number when the model is read: each end an
/// expression of data and unknowns declared earlier (a constant end is a literal), `None` for
/// an infinite end. Each end is a scalar or has the variable's shape.
#[derive(Clone, Debug, PartialEq)]
pub struct ExpressionBound {
    pub low: Option<Expr>,
    pub high: Option<Expr>,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Dim {
    pub id: DimId,
    pub name: String,
    /// Where the name was first used (or declared with `observed N: int`).
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Constant {
    pub name: String,
    pub value: f64,
    pub elem: ElemType,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct Let {
    pub id: LetId,
    pub name: String,
    pub value: Expr,
    /// False when it depends only on data: computed once at load and not output.
    pub depends_on_unknowns: bool,
    /// `local let`: computed and used like any `let`, never written to the outputs.
    pub local: bool,
    /// Loops enclosing the `let` (a `let` inside a `for` body is indexed by the loop variables,
    /// its shape being the loop ranges followed by the expression's shape).
    pub loops: Vec<LoopId>,
    pub span: Span,
}

impl Let {
    /// Written to the draws and summaries: it depends on an unknown and is not `local`.
    pub fn is_output(&self) -> bool {
        self.depends_on_unknowns && !self.local
    }
}

#[derive(Clone, Debug, PartialEq)]
pub struct LoopVar {
    pub id: LoopId,
    pub name: String,
    /// Inclusive 1-based bounds, int-valued expressions of data and constants.
    pub low: Expr,
    pub high: Expr,
    pub span: Span,
}

/// A network declared with `net f = mlp(...)`: its weights are params.
#[derive(Clone, Debug, PartialEq)]
pub struct Net {
    pub name: String,
    pub sizes: Vec<Size>,
    pub activation: String,
    /// The slope of `act = leaky_relu(0.2)`; `None` when the activation is named alone.
    pub activation_slope: Option<f64>,
    pub span: Span,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum UnaryOp {
    Neg,
}

pub use ppl_syntax::BinaryOp;

#[derive(Clone, Debug, PartialEq)]
pub struct Expr {
    pub kind: ExprKind,
    pub ty: ValueType,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub enum ExprKind {
    /// A number or bool literal, or a substituted constant (`pi`, `inf`, `const K`).
    Literal(f64),
    Variable(VarId),
    Let(LetId),
    Dim(DimId),
    LoopVar(LoopId),
    /// `[a, b, c]`: stacks equal-shaped elements along a new leading axis.
    Vector(Vec<Expr>),
    /// `[body for var in low..high]`
    Comprehension {
        body: Box<Expr>,
        var: LoopId,
    },
    Neg(Box<Expr>),
    /// Elementwise with NumPy broadcasting, except `MatMul`. Comparisons give Int 0/1.
    Binary {
        op: BinaryOp,
        lhs: Box<Expr>,
        rhs: Box<Expr>,
    },
    /// Elementwise when `cond` is an array.
    If {
        cond: Box<Expr>,
        then: Box<Expr>,
        otherwise: Box<Expr>,
    },
    /// `a..b` as a value: the int vector a, a+1, ..., b.
    Range {
        low: Box<Expr>,
        high: Box<Expr>,
    },
    Index {
        base: Box<Expr>,
        indices: Vec<IndexExpr>,
    },
    Call {
        function: crate::Builtin,
        args: Vec<Expr>,
    },
    /// A call of a declared `net`.
    NetCall {
        net: usize,
        args: Vec<Expr>,
    },
    /// The value of a `let` defined element by element (`let e[1] = ...` then `for t in 2..T {
    /// let e[t] = ... e[t - 1] ... }`): the pieces in the order written, which together define
    /// elements 1..n (the type's leading axis) once each, in increasing order. Only the `value`
    /// of `Let` `of` has this kind.
    Recurrence {
        of: LetId,
        pieces: Vec<RecurrencePiece>,
    },
    /// Element `index` (1-based) of the recursive `let` `of`, read inside one of its own pieces;
    /// the checker has made sure the element is defined earlier where it can tell.
    Element {
        of: LetId,
        index: Box<Expr>,
    },
    /// `logpdf(D(args), x)`, `logcdf(...)`, `logccdf(...)` of a scalar distribution: elementwise
    /// over the broadcast of `variate` and `args` (parameters in catalogue order).
    DistFunction {
        function: DistFunction,
        distribution: ppl_dist::DistKind,
        args: Vec<Expr>,
        variate: Box<Expr>,
    },
}

/// One `let e[i] = value` of a recursive `let`: inside the loop `loop_var` (if any), `index` is
/// the element defined at each iteration.
#[derive(Clone, Debug, PartialEq)]
pub struct RecurrencePiece {
    pub loop_var: Option<LoopId>,
    pub index: Expr,
    pub value: Expr,
    pub span: Span,
}

/// What a distribution-valued call computes at its variate.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum DistFunction {
    /// log p(x) (the log mass for a discrete kind).
    LogPdf,
    /// log P(X ≤ x).
    LogCdf,
    /// log P(X > x).
    LogCcdf,
}

impl DistFunction {
    pub fn name(self) -> &'static str {
        match self {
            DistFunction::LogPdf => "logpdf",
            DistFunction::LogCdf => "logcdf",
            DistFunction::LogCcdf => "logccdf",
        }
    }
    pub fn from_name(name: &str) -> Option<DistFunction> {
        match name {
            "logpdf" => Some(DistFunction::LogPdf),
            "logcdf" => Some(DistFunction::LogCdf),
            "logccdf" => Some(DistFunction::LogCcdf),
            _ => None,
        }
    }
}

/// One position of an index, 1-based as written.
#[derive(Clone, Debug, PartialEq)]
pub enum IndexExpr {
    /// A scalar int: picks one element, the axis disappears.
    Single(Expr),
    /// An int array (or a range): gathers; the axis is replaced by the index's shape.
    Gather(Expr),
    /// `i:j` inclusive: keeps the axis with length j - i + 1.
    Slice { low: Expr, high: Expr },
    /// `..`: the whole axis.
    All,
}

#[derive(Clone, Debug, PartialEq)]
pub enum TermKind {
    /// `target ~ Dist(args)`; args are in the parameterisation's order.
    Tilde {
        target: Expr,
        distribution: DistKind,
        args: Vec<Expr>,
    },
    /// `factor expr`: adds `expr` (summed if an array).
    Factor(Expr),
    /// `energy expr`: adds `-expr`.
    Energy(Expr),
}

/// One contribution to the log density, inside the loops that enclose it (outermost first).
#[derive(Clone, Debug, PartialEq)]
pub struct Term {
    pub kind: TermKind,
    pub loops: Vec<LoopId>,
    pub span: Span,
}

/// A `guide v ~ Dist(args)` statement (variational family), kept for the VI engines.
#[derive(Clone, Debug, PartialEq)]
pub struct Guide {
    pub target: Expr,
    pub distribution: DistKind,
    pub args: Vec<Expr>,
    pub span: Span,
}

/// An `x ~ Implicit(expr)` statement: `x` is a push-forward of latents with no density, kept
/// for the adversarial engine, which recognises its structure (`ppl_model::generative::gan`).
#[derive(Clone, Debug, PartialEq)]
pub struct Implicit {
    pub target: Expr,
    /// The arguments as written: one push-forward such as `generator(z)` is the form the
    /// adversarial engine recognises.
    pub arguments: Vec<Expr>,
    pub span: Span,
}

/// A `critic NET` statement: the net (an index into `Model::nets`) that scores real against
/// generated data.
#[derive(Clone, Debug, PartialEq)]
pub struct Critic {
    pub net: usize,
    pub span: Span,
}

#[derive(Clone, Debug, PartialEq)]
pub struct InferRequest {
    pub method: crate::Method,
    pub settings: Vec<InferSetting>,
    pub span: Span,
}

/// One `key = value` of an `infer` statement; the planner checks the key and the value against
/// its settings table.
#[derive(Clone, Debug, PartialEq)]
pub struct InferSetting {
    pub key: String,
    pub key_span: Span,
    pub value: f64,
    pub value_span: Span,
}

/// A form that parses and checks but that the planner may have no engine for; which form it is
/// decides which rule of LANGUAGE.md §6 it concerns.
#[derive(Clone, Debug, PartialEq)]
pub struct Unsupported {
    pub feature: Feature,
    /// For messages: "the neural network `enc`".
    pub description: String,
    pub span: Span,
}

/// The forms kept for the later engines.
#[derive(Copy, Clone, Debug, PartialEq, Eq)]
pub enum Feature {
    /// `critic NET` (GAN).
    Critic,
    /// `x ~ Implicit(...)` (GAN generator).
    Implicit,
    /// `net f = mlp(...)`.
    Net,
}

/// The whole checked model.
#[derive(Clone, Debug, PartialEq, Default)]
pub struct Model {
    /// `data "file"` as written, with its span.
    pub data_file: Option<(String, Span)>,
    pub dims: Vec<Dim>,
    pub constants: Vec<Constant>,
    pub variables: Vec<Variable>,
    pub lets: Vec<Let>,
    pub loop_vars: Vec<LoopVar>,
    pub nets: Vec<Net>,
    pub terms: Vec<Term>,
    pub guides: Vec<Guide>,
    /// `x ~ Implicit(...)` statements (also listed in `unsupported`, for the rules that do not
    /// run them).
    pub implicits: Vec<Implicit>,
    /// `critic NET` statements (also listed in `unsupported`).
    pub critics: Vec<Critic>,
    /// Statements that parse and check but that no engine here runs yet (`Implicit`, `critic`,
    /// library models), with a description, so `run` can say so precisely.
    pub unsupported: Vec<Unsupported>,
    pub infer: Option<InferRequest>,
}

impl Model {
    pub fn variable(&self, name: &str) -> Option<&Variable> {
        self.variables.iter().find(|v| v.name == name)
    }
    pub fn unknowns(&self) -> impl Iterator<Item = &Variable> {
        self.variables.iter().filter(|v| v.role != Role::Observed)
    }
}
