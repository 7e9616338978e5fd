//! The built-in functions of the language (LANGUAGE.md §3): the one table of them. Each row gives
//! the name, the arity, the shape rule the checker applies and the line `ppl help functions`
//! prints. The numbers are defined once per builtin in the model layer
//! (`ppl_model::tape::builtins`: value, reverse rule and gradient test cases), which reads this
//! same table through [`builtin_table!`], so a row without a numeric definition does not compile.

/// Calls `$callback! { Variant = "name", min..=max, ShapeRule, "doc"; ... }` with every row of the
/// table: `ppl_ir` defines [`Builtin`] from it, and the model layer its numeric dispatch.
#[macro_export]
macro_rules! builtin_table {
    ($callback:ident) => {
        $callback! {
            Exp = "exp", 1..=1, Elementwise, "elementwise e^x";
            Log = "log", 1..=1, Elementwise, "elementwise natural log";
            Log10 = "log10", 1..=1, Elementwise, "elementwise base-10 log";
            Log1p = "log1p", 1..=1, Elementwise, "elementwise log(1 + x)";
            Expm1 = "expm1", 1..=1, Elementwise, "elementwise e^x - 1";
            Sqrt = "sqrt", 1..=1, Elementwise, "elementwise square root";
            Square = "square", 1..=1, ElementwiseKeepsInt, "elementwise x^2";
            Abs = "abs", 1..=1, ElementwiseKeepsInt, "elementwise |x|";
            Pow = "pow", 2..=2, Elementwise, "elementwise x^y, broadcasting";
            Sin = "sin", 1..=1, Elementwise, "elementwise sine";
            Cos = "cos", 1..=1, Elementwise, "elementwise cosine";
            Tanh = "tanh", 1..=1, Elementwise, "elementwise tanh";
            Sigmoid = "sigmoid", 1..=1, Elementwise, "elementwise 1 / (1 + e^-x)";
            Logit = "logit", 1..=1, Elementwise, "elementwise log(x / (1 - x))";
            Softplus = "softplus", 1..=1, Elementwise, "elementwise log(1 + e^x)";
            Relu = "relu", 1..=1, Elementwise, "elementwise max(x, 0)";
            LeakyRelu = "leaky_relu", 1..=2, Elementwise, "elementwise x if x > 0 else slope * x (slope 0.01 by default)";
            Lgamma = "lgamma", 1..=1, Elementwise, "elementwise log Γ(x)";
            Digamma = "digamma", 1..=1, Elementwise, "elementwise ψ(x)";
            Sum = "sum", 1..=1, ReduceKeepsInt, "sum of all elements (a scalar)";
            Mean = "mean", 1..=1, Reduce, "mean of all elements";
            Sd = "sd", 1..=1, Reduce, "sample standard deviation of all elements (n - 1)";
            Prod = "prod", 1..=1, ReduceKeepsInt, "product of all elements";
            Dot = "dot", 2..=2, Dot, "dot product of two vectors";
            Softmax = "softmax", 1..=1, LastAxis, "softmax over the last axis";
            LogSoftmax = "log_softmax", 1..=1, LastAxis, "log softmax over the last axis";
            LogSumExp = "log_sum_exp", 1..=2, ReduceOrPairwise, "log Σ e^x over all elements, or elementwise log(e^a + e^b) of two";
            Min = "min", 1..=2, ReduceOrPairwiseKeepsType, "min of all elements, or elementwise min of two";
            Max = "max", 1..=2, ReduceOrPairwiseKeepsType, "max of all elements, or elementwise max of two";
            Ones = "ones", 1..=2, Sizes, "ones(n) or ones(n, m)";
            Zeros = "zeros", 1..=2, Sizes, "zeros(n) or zeros(n, m)";
            Fill = "fill", 2..=2, Fill, "fill(n, value): a vector of n copies";
            Rows = "rows", 1..=1, RowCount, "number of rows (first axis length)";
            Cols = "cols", 1..=1, ColumnCount, "number of columns (second axis length)";
            Transpose = "transpose", 1..=1, Transpose, "matrix transpose";
            Rowsum = "rowsum", 1..=1, PerRow, "sum over the last axis of a matrix: one value per row";
            Colsum = "colsum", 1..=1, PerColumn, "sum over the first axis of a matrix: one value per column";
            Colmean = "colmean", 1..=1, PerColumnMean, "mean over the first axis of a matrix";
            Cbind = "cbind", 1..=64, Columns, "columns side by side (vectors become columns)";
            Rbind = "rbind", 1..=64, Rows, "rows stacked (vectors become rows)";
            Reverse = "reverse", 1..=1, SameVector, "a vector reversed";
            Diag = "diag", 1..=1, VectorToSquare, "a diagonal matrix from a vector";
            Cholesky = "cholesky", 1..=1, SquareMatrix, "lower Cholesky factor of a symmetric positive-definite matrix";
            GpExpQuadCov = "gp_exp_quad_cov", 3..=3, PointsToSquare, "gp_exp_quad_cov(x, alpha, rho): alpha^2 exp(-d^2 / (2 rho^2)) for a vector x";
            Quantile = "quantile", 2..=2, AtProbabilities, "quantile(x, p) of all elements (linear interpolation)";
        }
    };
}

/// How the checker types a call from its arguments' types (symbolic shapes and element types).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ShapeRule {
    /// Real, the first argument's shape (two arguments broadcast): `exp(x)`, `pow(x, y)`.
    Elementwise,
    /// As [`ShapeRule::Elementwise`], but an int argument gives ints: `abs`, `square`.
    ElementwiseKeepsInt,
    /// A real scalar from any array: `mean`, `sd`.
    Reduce,
    /// A scalar from any array, ints staying ints: `sum`, `prod`.
    ReduceKeepsInt,
    /// A real scalar from one argument, or real elementwise over two broadcast: `log_sum_exp`.
    ReduceOrPairwise,
    /// As [`ShapeRule::ReduceOrPairwise`], keeping the arguments' element type: `min`, `max`.
    ReduceOrPairwiseKeepsType,
    /// Two vectors of one length to a real scalar.
    Dot,
    /// Real, the same non-scalar shape (rows along the last axis).
    LastAxis,
    /// Every argument a size known from the model: a real array of those sizes.
    Sizes,
    /// A size, then a value repeated along a new first axis.
    Fill,
    /// The first axis length of an array, an int.
    RowCount,
    /// The second axis length of a matrix, an int.
    ColumnCount,
    /// A matrix to its transpose, element type kept.
    Transpose,
    /// A matrix to one value per row (ints staying ints).
    PerRow,
    /// A matrix to one value per column (ints staying ints).
    PerColumn,
    /// A matrix to the real mean of each column.
    PerColumnMean,
    /// Vectors and matrices side by side as columns.
    Columns,
    /// Vectors and matrices stacked as rows.
    Rows,
    /// A vector to a vector of the same type.
    SameVector,
    /// A vector of n to a real n × n matrix.
    VectorToSquare,
    /// A vector of n points, then scalars, to a real n × n matrix.
    PointsToSquare,
    /// A square matrix to a real matrix of the same shape.
    SquareMatrix,
    /// Real, the shape of the second argument (the probabilities).
    AtProbabilities,
}

macro_rules! define_builtins {
    ($($variant:ident = $name:literal, $min:literal..=$max:literal, $shape:ident, $doc:literal;)*) => {
        /// A built-in function.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Builtin { $(#[doc = $doc] $variant),* }

        impl Builtin {
            pub const ALL: &[Builtin] = &[$(Builtin::$variant),*];
            pub fn name(self) -> &'static str {
                match self { $(Builtin::$variant => $name),* }
            }
            pub fn from_name(name: &str) -> Option<Builtin> {
                match name { $($name => Some(Builtin::$variant),)* _ => None }
            }
            /// One line on what it computes, for `ppl help functions`.
            pub fn description(self) -> &'static str {
                match self { $(Builtin::$variant => $doc),* }
            }
            /// Inclusive range of positional arguments.
            pub fn arity(self) -> (usize, usize) {
                match self { $(Builtin::$variant => ($min, $max)),* }
            }
            /// How the checker types a call.
            pub fn shape_rule(self) -> ShapeRule {
                match self { $(Builtin::$variant => ShapeRule::$shape),* }
            }
        }
    };
}

builtin_table!(define_builtins);

impl Builtin {
    /// Whether the function applies to each element independently (so it keeps its argument's
    /// shape and its local derivative is scalar).
    pub fn is_elementwise(self) -> bool {
        matches!(
            self.shape_rule(),
            ShapeRule::Elementwise | ShapeRule::ElementwiseKeepsInt
        )
    }
}
