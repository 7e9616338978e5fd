//! The built-in functions of the language (LANGUAGE.md §3), their names and arities. Shape and
//! type rules live in the checker; numerical semantics in the model layer.

macro_rules! builtins {
    ($($variant:ident = $name:literal, $min:literal..=$max:literal, $doc:literal;)*) => {
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
        }
    };
}

builtins! {
    Exp = "exp", 1..=1, "elementwise e^x";
    Log = "log", 1..=1, "elementwise natural log";
    Log10 = "log10", 1..=1, "elementwise base-10 log";
    Log1p = "log1p", 1..=1, "elementwise log(1 + x)";
    Expm1 = "expm1", 1..=1, "elementwise e^x - 1";
    Sqrt = "sqrt", 1..=1, "elementwise square root";
    Square = "square", 1..=1, "elementwise x^2";
    Abs = "abs", 1..=1, "elementwise |x|";
    Pow = "pow", 2..=2, "elementwise x^y, broadcasting";
    Sin = "sin", 1..=1, "elementwise sine";
    Cos = "cos", 1..=1, "elementwise cosine";
    Tanh = "tanh", 1..=1, "elementwise tanh";
    Sigmoid = "sigmoid", 1..=1, "elementwise 1 / (1 + e^-x)";
    Logit = "logit", 1..=1, "elementwise log(x / (1 - x))";
    Softplus = "softplus", 1..=1, "elementwise log(1 + e^x)";
    Relu = "relu", 1..=1, "elementwise max(x, 0)";
    LeakyRelu = "leaky_relu", 1..=2, "elementwise x if x > 0 else slope * x (slope 0.01 by default)";
    Lgamma = "lgamma", 1..=1, "elementwise log Γ(x)";
    Digamma = "digamma", 1..=1, "elementwise ψ(x)";
    Sum = "sum", 1..=1, "sum of all elements (a scalar)";
    Mean = "mean", 1..=1, "mean of all elements";
    Sd = "sd", 1..=1, "sample standard deviation of all elements (n - 1)";
    Prod = "prod", 1..=1, "product of all elements";
    Dot = "dot", 2..=2, "dot product of two vectors";
    Softmax = "softmax", 1..=1, "softmax over the last axis";
    LogSoftmax = "log_softmax", 1..=1, "log softmax over the last axis";
    LogSumExp = "log_sum_exp", 1..=2, "log Σ e^x over all elements, or elementwise log(e^a + e^b) of two";
    Min = "min", 1..=2, "min of all elements, or elementwise min of two";
    Max = "max", 1..=2, "max of all elements, or elementwise max of two";
    Ones = "ones", 1..=2, "ones(n) or ones(n, m)";
    Zeros = "zeros", 1..=2, "zeros(n) or zeros(n, m)";
    Fill = "fill", 2..=2, "fill(n, value): a vector of n copies";
    Rows = "rows", 1..=1, "number of rows (first axis length)";
    Cols = "cols", 1..=1, "number of columns (second axis length)";
    Transpose = "transpose", 1..=1, "matrix transpose";
    Rowsum = "rowsum", 1..=1, "sum over the last axis of a matrix: one value per row";
    Colsum = "colsum", 1..=1, "sum over the first axis of a matrix: one value per column";
    Colmean = "colmean", 1..=1, "mean over the first axis of a matrix";
    Cbind = "cbind", 1..=64, "columns side by side (vectors become columns)";
    Rbind = "rbind", 1..=64, "rows stacked (vectors become rows)";
    Reverse = "reverse", 1..=1, "a vector reversed";
    Diag = "diag", 1..=1, "a diagonal matrix from a vector";
    Cholesky = "cholesky", 1..=1, "lower Cholesky factor of a symmetric positive-definite matrix";
    GpExpQuadCov = "gp_exp_quad_cov", 3..=3, "gp_exp_quad_cov(x, alpha, rho): alpha^2 exp(-d^2 / (2 rho^2)) for a vector x";
    Quantile = "quantile", 2..=2, "quantile(x, p) of all elements (linear interpolation)";
}

impl Builtin {
    /// Whether the function applies to each element independently (so it keeps its argument's
    /// shape and its local derivative is scalar).
    pub fn is_elementwise(self) -> bool {
        use Builtin::*;
        matches!(
            self,
            Exp | Log
                | Log10
                | Log1p
                | Expm1
                | Sqrt
                | Square
                | Abs
                | Pow
                | Sin
                | Cos
                | Tanh
                | Sigmoid
                | Logit
                | Softplus
                | Relu
                | LeakyRelu
                | Lgamma
                | Digamma
        )
    }
}
