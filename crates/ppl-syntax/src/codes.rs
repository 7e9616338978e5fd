//! Every diagnostic code ppl emits, with a one-line meaning. Codes are stable: tests and users match
//! on them. Ranges: E01xx text and syntax, E02xx names, E03xx types, E04xx shapes and sizes, E05xx
//! distributions and calls, E06xx data, E07xx inference and settings, E08xx library models; W0xxx
//! warnings; N0xxx notes.
//! distributions and calls, E06xx data, E07xx inference and settings, E08xx library models, E09xx
//! pictures and outputs; W0xxx warnings.

macro_rules! codes {
    ($($name:ident = $code:literal : $meaning:literal;)*) => {
        $(#[doc = $meaning] pub const $name: &str = $code;)*
        /// `(code, meaning)` for every code, for `ppl explain` and the docs.
        pub const ALL: &[(&str, &str)] = &[$(($code, $meaning)),*];
    };
}

codes! {
    INVALID_UTF8 = "E0100": "the model file is not valid UTF-8";
    UNEXPECTED_CHARACTER = "E0101": "a character that cannot start any token";
    SYNTAX = "E0102": "a statement that does not parse";
    UNCLOSED_BRACKET = "E0103": "a bracket still open at the end of the file";
    UNMATCHED_BRACKET = "E0104": "a closing bracket with no opening one, or of the wrong kind";
    BAD_NUMBER = "E0105": "a malformed number (`1.`, `.5`, out of range)";
    UNTERMINATED_STRING = "E0106": "a string not closed on its line";
    TOO_DEEP = "E0107": "nesting too deep to parse";
    BAD_ESCAPE = "E0108": "an escape in a string other than `\\\"` and `\\\\`";
    POSITIONAL_AFTER_KEYWORD = "E0109": "a positional argument after a keyword argument";
    MISSING_FOR_BODY = "E0110": "a `for` without its `{ }` body on the same line";
    MODEL_UNREADABLE = "E0111": "a model file that cannot be read (missing, a directory, no permission)";
    TOO_LONG_A_CHAIN = "E0112": "`let`s that build on each other too deeply to evaluate";
    LOCAL_DISAGREES = "E0113": "pieces of one element-wise `let` of which some are `local let` and some not";
    UNKNOWN_NAME = "E0201": "a name that is not declared";
    DUPLICATE_NAME = "E0202": "a name declared twice";
    UNKNOWN_FUNCTION = "E0203": "a call to a function that does not exist";
    UNKNOWN_DISTRIBUTION = "E0204": "a distribution that does not exist";
    USED_BEFORE_DECLARED = "E0205": "a name used before its declaration";
    RESERVED_NAME = "E0206": "a declaration that reuses a built-in name";
    UNKNOWN_TYPE = "E0301": "a type name that does not exist";
    TYPE_MISMATCH = "E0302": "a value of the wrong type (real where int is needed, ...)";
    NOT_ASSIGNABLE = "E0303": "a `~` target that is not a variable, an element or a slice";
    DISCRETE_VARIATE = "E0304": "a discrete distribution on a real variable, or the reverse";
    BAD_BOUND = "E0305": "a bound that is not a number or whose low end exceeds its high end";
    NOT_CONSTANT = "E0306": "a value that must be known at compile time and is not";
    SHAPE_MISMATCH = "E0401": "shapes that do not agree (or broadcast)";
    WRONG_INDEX_COUNT = "E0402": "more indices than axes";
    BAD_SIZE = "E0403": "a size that is not an integer-affine expression of constants and dimensions";
    NEGATIVE_SIZE = "E0404": "a size that is negative after substituting constants";
    MISSING_SIZE = "E0405": "a constrained type with no size";
    DOUBLE_DISTRIBUTION = "E0406": "two distributions on one element";
    TOO_LARGE = "E0407": "a size, or a total number of elements, beyond what ppl can allocate";
    ELEMENT_DEFINITION = "E0408": "an element of `let e[i]` defined twice, left undefined (a gap), or outside the array";
    ELEMENT_INDEX_FORM = "E0409": "a `let e[i]` whose index is not a constant or its loop variable plus a constant";
    ELEMENT_USED_EARLY = "E0410": "an element of `let e[i]` read before it is defined, or more elements defined after `e` was used";
    NO_CDF_DERIVATIVE = "E0411": "a `logcdf`/`logccdf` or `truncated` whose shape parameter (Gamma's shape, Beta's, StudentT's `nu`, NegBinomial's `phi`) depends on an unknown: that derivative is not available";
    WRONG_ARGUMENTS = "E0501": "a call with the wrong number or names of arguments";
    BAD_KEYWORD = "E0502": "a keyword argument the function does not take";
    SUPPORT_MISMATCH = "E0503": "a variable whose declared type does not fit the distribution's support";
    DATA_UNREADABLE = "E0601": "a data file that cannot be read (missing, a directory, no permission)";
    DATA_MALFORMED = "E0602": "a data file that is not valid CSV, JSON, Parquet or Arrow";
    DATA_MISSING = "E0603": "an observed variable absent from the data";
    DATA_LENGTH = "E0604": "lengths that disagree for one dimension";
    DATA_NOT_FINITE = "E0605": "NaN, infinity or an empty cell in the data";
    DATA_NOT_INT = "E0606": "a real where an int belongs";
    DATA_OUT_OF_BOUNDS = "E0607": "a value outside its declared bound";
    DATA_OUT_OF_SUPPORT = "E0608": "a value outside its distribution's support";
    DATA_CONST_DISAGREES = "E0609": "a data value that disagrees with a const or dimension";
    NO_DATA_FILE = "E0610": "observed variables but no data file";
    DATA_COMPRESSION = "E0611": "a Parquet or Arrow data file compressed with a codec ppl does not read (ZSTD, gzip, Brotli)";
    DATA_COLUMN_TYPE = "E0612": "a Parquet or Arrow column of a type that holds no numbers (a date, a struct, categories)";
    SAVE_NO_MATCH = "E0613": "a `--save` pattern that matches no unknown or `let` of the model";
    USAGE = "E0700": "a command line that does not parse (unknown flag, missing value)";
    METHOD_NOT_APPLICABLE = "E0701": "a forced method that cannot fit this model";
    BAD_SETTING = "E0702": "an impossible setting (`--chains 0`, an unknown `infer` key, ...)";
    BAD_SET = "E0703": "a `--set NAME=VALUE` that names nothing or does not parse";
    NO_START = "E0704": "no initial value with a finite log density";
    UNSUPPORTED = "E0705": "a form that parses and checks but that no engine here runs yet";
    NO_RULE_APPLIES = "E0706": "no rule of LANGUAGE.md §6 fits the model: the closest rule and why it fails";
    OUTPUT_UNWRITABLE = "E0707": "an output file or directory (`--out`) that cannot be written";
    DRAWS_FILE_MALFORMED = "E0708": "a draws file given to `ppl summary` that is not a CmdStan-layout CSV";
    SUMMARY_FILE_MALFORMED = "E0725": "a run directory whose `summary.json` is not JSON or not a ppl summary";
    BAD_RELABEL = "E0715": "a `--relabel` that names no real vector unknown of two or more components";
    SIMULATE_SIZE_CONFLICT = "E0730": "`ppl simulate` sizes that disagree: `--n`, `--set N=` and the length of the `--data` covariates";
    SIMULATE_IMPROPER_PRIOR = "E0731": "an unknown with a flat (improper) prior and no `--set` value, which `ppl simulate` cannot draw";
    SIMULATE_MISSING_COVARIATE = "E0732": "an observed variable with no distribution (a covariate) that `ppl simulate` needs from `--data`";
    SIMULATE_DRAWS_MISMATCH = "E0733": "a fitted run whose draws do not hold an unknown of the model (`ppl simulate DIR`)";
    LOG_DENSITY_NEG_INFINITE = "E0740": "a statement whose log density is −∞ at every initial point tried (a value outside its support)";
    LOG_DENSITY_NAN = "E0741": "a statement whose log density is NaN at every initial point tried (log of a negative number, 0/0, ∞ − ∞)";
    EXP_OVERFLOW = "E0742": "an `exp` whose argument is above 709.78 at every initial point tried, so it overflows to +∞";
    UNKNOWN_LIBRARY_MODEL = "E0801": "a library model that does not exist";
    LIBRARY_MODEL_INVALID = "E0802": "a library model file without its signature or observed variable";
    UNKNOWN_LIBRARY_ARGUMENT = "E0803": "a library model argument its signature does not have, one too many, given twice or missing";
    LIBRARY_ARGUMENT_KIND = "E0804": "a library model argument of the wrong kind (a real for an int, a number for an int list)";
    LIBRARY_TARGET_MISMATCH = "E0805": "a library model's target whose type or shape does not fit the library's observed variable";
    LIBRARY_TARGET_TWICE = "E0806": "one target given two library models";
    NO_DRAWS = "E0901": "a run directory with no readable draws (no chain CSV files, or chains of different models)";
    UNKNOWN_PLOT_VARIABLE = "E0902": "a `--var` that names no column of the draws";
    PLOT_VARIABLE_COUNT = "E0903": "a plot given the wrong number of variables (a pair plot needs two)";
    PLOT_INPUT_MISSING = "E0904": "a plot whose input the run does not have (no objective trace, no predictive draws)";
    OUTPUT_FORMAT = "E0905": "an output file whose extension names no supported format";
    BAD_PICTURE_SIZE = "E0907": "a picture size too small for its panels or too large";
    DRAWING_FAILED = "E0908": "a picture that could not be drawn";
    GENERATOR_MALFORMED = "E0909": "a run directory whose `generator.json` is missing or does not describe a trained generative model";
    IMPROPER_PRIOR = "W0001": "an unknown with an improper flat prior";
    NO_JACOBIAN = "W0002": "a `~` on a transformed unknown: no Jacobian is added";
    UNUSED_DATA = "W0003": "a data key the model does not use";
    UNCONSTRAINED_SCALE = "W0004": "a positive parameter given by an unconstrained real unknown";
    SETTING_IGNORED = "W0010": "an `infer` setting that the named method does not read";
    EM_COMPONENT_COLLAPSED = "W0020": "an EM mixture component that collapsed onto a point or two (variance at the regularisation floor)";
    EM_SINGULAR_COVARIANCE = "W0021": "an EM mixture component whose covariance is singular (its points lie in a lower-dimensional subspace)";
    LABEL_SWITCHING = "W0014": "a mixture's chains that disagree on the labels of its components (`--relabel` or `ordered`)";
    CHAIN_RESTARTED = "W0018": "a NUTS chain whose log density at the end of warmup lay far below another chain's, warmed up again from that chain's position";
    SHADOWED_BUILTIN = "N0001": "a declared name that shadows a built-in function (calls still reach the function)";
    LARGE_SAVED_LET = "N0002": "a saved `let` that writes many columns per draw (`local let` or `--save` keeps it out)";
}
