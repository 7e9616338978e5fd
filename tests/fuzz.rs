//! A fuzz harness on stable Rust: a hand-rolled mutator over the example models and data files
//! (byte flips, token insertions, deletions, duplications, splices between files, invalid UTF-8)
//! plus a small grammar-aware generator, fed to the parser, the checker, the data loaders, `bind`
//! and the tape builder. Any panic is a failure. The seed is fixed and the budget small, so that
//! CI runs it in a few seconds; `FUZZING.md` says how to run it longer (`PPL_FUZZ_ITERATIONS`,
//! `PPL_FUZZ_SEED`).

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::path::{Path, PathBuf};

/// A SplitMix64 generator: tiny, deterministic and good enough to choose mutations.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A number in `0..bound` (`bound > 0`).
    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }

    fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.below(items.len())]
    }
}

/// Fragments the mutator inserts: keywords, punctuation, numbers at the edges of their ranges,
/// names and distributions of the language, and bytes that are not UTF-8.
const TOKENS: &[&[u8]] = &[
    b"param ",
    b"latent ",
    b"observed ",
    b"const ",
    b"let ",
    b"for ",
    b" in ",
    b"data ",
    b"infer ",
    b"~",
    b"=",
    b"..",
    b"(",
    b")",
    b"[",
    b"]",
    b"{",
    b"}",
    b",",
    b":",
    b"@",
    b"^",
    b"+",
    b"-",
    b"*",
    b"/",
    b"<",
    b"==",
    b"\n",
    b" ",
    b"\"",
    b"\\",
    b"#",
    b"0",
    b"1",
    b"-1",
    b"1e308",
    b"1e999",
    b"9223372036854775807",
    b"4611686018427387904 * 2",
    b"10000000000",
    b"0.5",
    b"nan",
    b"inf",
    b"N",
    b"K",
    b"x",
    b"mu",
    b"sigma",
    b"real",
    b"int",
    b"positive",
    b"simplex",
    b"Normal(0, 1)",
    b"Poisson(",
    b"Categorical(",
    b"fill(",
    b"sum(",
    b"if ",
    b"else ",
    b"then ",
    b"\xe9",
    b"\xff",
    b"\xc3",
    b"\xe2\x82",
    b"\x00",
    b"\t",
    b"\r\n",
];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn corpus(dir: &Path, extensions: &[&str]) -> Vec<(PathBuf, Vec<u8>)> {
    let mut files: Vec<(PathBuf, Vec<u8>)> = std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .map(|entry| entry.path())
                .filter(|path| {
                    path.extension()
                        .is_some_and(|e| extensions.iter().any(|x| e == *x))
                })
                .filter_map(|path| std::fs::read(&path).ok().map(|bytes| (path, bytes)))
                .collect()
        })
        .unwrap_or_default();
    files.sort();
    files
}

/// One to four random edits of `input`, with `other` as a source of splices.
fn mutate(random: &mut Random, input: &[u8], other: &[u8]) -> Vec<u8> {
    let mut bytes = input.to_vec();
    for _ in 0..1 + random.below(4) {
        let at = random.below(bytes.len() + 1);
        match random.below(7) {
            0 if !bytes.is_empty() => {
                let i = random.below(bytes.len());
                bytes[i] ^= 1 << random.below(8);
            }
            1 | 2 => {
                let token = random.pick(TOKENS);
                bytes.splice(at..at, token.iter().copied());
            }
            3 if !bytes.is_empty() => {
                let end = (at + 1 + random.below(16)).min(bytes.len());
                bytes.drain(at.min(end)..end);
            }
            4 if !bytes.is_empty() => {
                let start = random.below(bytes.len());
                let end = (start + 1 + random.below(64)).min(bytes.len());
                let copy: Vec<u8> = bytes[start..end].to_vec();
                let times = 1 + random.below(8);
                for _ in 0..times {
                    bytes.splice(at..at, copy.iter().copied());
                }
            }
            5 if !other.is_empty() => {
                let start = random.below(other.len());
                let end = (start + 1 + random.below(80)).min(other.len());
                bytes.splice(at..at, other[start..end].iter().copied());
            }
            _ => {
                let byte = random.next() as u8;
                bytes.insert(at, byte);
            }
        }
    }
    bytes
}

/// A small model from the grammar: declarations, `let`s, `~` statements and loops with random
/// names, sizes and distributions, often slightly wrong.
fn generate(random: &mut Random) -> Vec<u8> {
    const NAMES: &[&str] = &["x", "y", "mu", "sigma", "N", "K", "z", "theta"];
    const TYPES: &[&str] = &[
        "real",
        "int",
        "positive",
        "simplex",
        "real[N]",
        "int[N]",
        "real[K, N]",
        "real[N - 1]",
        "real[2 * K]",
    ];
    const EXPRESSIONS: &[&str] = &[
        "0",
        "1",
        "mu",
        "x",
        "sigma",
        "mu + 1",
        "x[1]",
        "sum(x)",
        "fill(N, 1.5)",
        "1..N",
        "[1, 2, 3]",
        "exp(mu)",
        "-1",
        "1e308 * 10",
    ];
    const DISTRIBUTIONS: &[&str] = &[
        "Normal",
        "Poisson",
        "Beta",
        "Gamma",
        "Categorical",
        "Bernoulli",
        "Dirichlet",
        "Nromal",
    ];
    let mut text = String::new();
    for _ in 0..1 + random.below(8) {
        let name = random.pick(NAMES);
        match random.below(6) {
            0 => text.push_str(&format!(
                "{} {name}: {}\n",
                random.pick(&["param", "latent", "observed"]),
                random.pick(TYPES)
            )),
            1 => text.push_str(&format!("let {name} = {}\n", random.pick(EXPRESSIONS))),
            2 => text.push_str(&format!("const {name} = {}\n", random.pick(EXPRESSIONS))),
            3 => text.push_str(&format!(
                "for i in 1..{} {{\n  {name}[i] ~ {}({}, {})\n}}\n",
                random.pick(EXPRESSIONS),
                random.pick(DISTRIBUTIONS),
                random.pick(EXPRESSIONS),
                random.pick(EXPRESSIONS)
            )),
            _ => text.push_str(&format!(
                "{name} ~ {}({}, {})\n",
                random.pick(DISTRIBUTIONS),
                random.pick(EXPRESSIONS),
                random.pick(EXPRESSIONS)
            )),
        }
    }
    text.into_bytes()
}

/// Parses, checks, binds to `data` and builds the tape; only panics matter here.
fn run_model(bytes: &[u8], data: Option<&ppl_data::DataSet>) {
    let (program, _) = ppl_syntax::parse_bytes(bytes);
    let source = ppl_syntax::display_source(bytes);
    let (model, diagnostics) = ppl_ir::check(&program, &source, &ppl_ir::CheckOptions::default());
    if diagnostics.iter().any(ppl_syntax::Diagnostic::is_error) {
        return;
    }
    let _ = ppl_ir::printer::print(&model);
    if let Ok(bound) = ppl_model::bind(&model, data, &[]) {
        let _ = ppl_model::posterior::Posterior::new(&model, &bound, &source);
    }
}

fn run_data(bytes: &[u8]) -> Option<ppl_data::DataSet> {
    let path = Path::new("fuzz-input");
    let mut loaded = None;
    for format in [ppl_data::DataFormat::Csv, ppl_data::DataFormat::Json] {
        if let Ok(data) = ppl_data::DataSet::from_bytes(bytes, path, format) {
            loaded = Some(data);
        }
    }
    loaded
}

fn iterations() -> usize {
    std::env::var("PPL_FUZZ_ITERATIONS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(3000)
}

fn seed() -> u64 {
    std::env::var("PPL_FUZZ_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(20261127)
}

/// Writes a crashing input where it can be turned into a `tests/errors/` case.
fn keep(kind: &str, iteration: usize, bytes: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("ppl-fuzz-{kind}-{iteration}"));
    let _ = std::fs::write(&path, bytes);
    path.display().to_string()
}

#[test]
fn mutated_and_generated_inputs_never_panic() {
    let models = corpus(&root().join("examples"), &["model"]);
    let mut data_files = corpus(&root().join("examples/data"), &["csv", "json"]);
    data_files.extend(corpus(&root().join("tests/errors/data"), &["csv", "json"]));
    assert!(!models.is_empty() && !data_files.is_empty(), "no corpus");
    // Quiet: the default hook would print every caught panic.
    let hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(|_| {}));
    let mut random = Random(seed());
    let mut crashes = Vec::new();
    let started = std::time::Instant::now();
    for iteration in 0..iterations() {
        // Long runs are stopped by hand; a progress line keeps the count of what was covered.
        if iteration > 0 && iteration % 100_000 == 0 {
            eprintln!(
                "fuzz: {iteration} inputs, {} panics, {:.0} s",
                crashes.len(),
                started.elapsed().as_secs_f64()
            );
        }
        let data_bytes = {
            let (_, base) = random.pick(&data_files);
            let (_, other) = random.pick(&data_files);
            if random.below(4) == 0 {
                base.clone()
            } else {
                mutate(&mut random, base, other)
            }
        };
        let model_bytes = if random.below(5) == 0 {
            generate(&mut random)
        } else {
            let (_, base) = random.pick(&models);
            let (_, other) = random.pick(&models);
            mutate(&mut random, base, other)
        };
        let outcome = catch_unwind(AssertUnwindSafe(|| {
            let data = run_data(&data_bytes);
            run_model(&model_bytes, data.as_ref());
        }));
        if outcome.is_err() {
            crashes.push(format!(
                "iteration {iteration}: model {} data {}",
                keep("model", iteration, &model_bytes),
                keep("data", iteration, &data_bytes)
            ));
        }
    }
    std::panic::set_hook(hook);
    assert!(
        crashes.is_empty(),
        "{} panics:\n{}",
        crashes.len(),
        crashes.join("\n")
    );
}
