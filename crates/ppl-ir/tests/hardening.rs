//! The checker on hostile input: sizes that would overflow, allocations beyond the limit, chains
//! of `let`s too deep to evaluate, and no follow-on errors about a name whose declaration failed.

use ppl_ir::{CheckOptions, MAX_ELEMENTS, Size, check, element_count};
use ppl_syntax::{Diagnostic, codes};

fn codes_of(source: &str) -> Vec<&'static str> {
    let (program, mut diagnostics) = ppl_syntax::parse(source);
    let (_, checked) = check(&program, source, &CheckOptions::default());
    diagnostics.extend(checked);
    diagnostics.iter().map(|d: &Diagnostic| d.code).collect()
}

#[test]
fn size_arithmetic_saturates_instead_of_wrapping() {
    let big = Size::constant(4_611_686_018_427_387_904);
    assert_eq!(big.scale(2).as_constant(), Some(i64::MAX));
    assert_eq!(big.scale(-4).as_constant(), Some(i64::MIN));
    assert_eq!(big.add(&big, 1).add(&big, 1).as_constant(), Some(i64::MAX));
    assert_eq!(element_count([i64::MAX, 2]), i64::MAX);
    assert_eq!(element_count([3, -1]), 0);
}

#[test]
fn sizes_beyond_the_limit_are_refused_where_they_are_written() {
    assert_eq!(
        codes_of("param x: real[4611686018427387904 * 2]"),
        [codes::TOO_LARGE]
    );
    assert_eq!(
        codes_of("const N = 10000000000\nlatent x: real[N]"),
        [codes::TOO_LARGE]
    );
    assert_eq!(
        codes_of("param m: real\nlet z = fill(10000000000, 1.5)"),
        [codes::TOO_LARGE]
    );
    assert_eq!(
        codes_of("param m: real\nlet z = 1..100000000000"),
        [codes::TOO_LARGE]
    );
    let at_the_limit = format!("param x: real[{MAX_ELEMENTS}]\nx ~ Normal(0, 1)");
    assert!(codes_of(&at_the_limit).is_empty());
}

#[test]
fn a_too_deep_chain_of_lets_is_one_error_and_its_followers_are_silent() {
    let mut source = String::from("param mu: real\nmu ~ Normal(0, 1)\nlet a0 = mu\n");
    for i in 1..3000 {
        source.push_str(&format!("let a{i} = a{} + 1\n", i - 1));
    }
    assert_eq!(codes_of(&source), [codes::TOO_LONG_A_CHAIN]);
}

#[test]
fn no_follow_on_diagnostics_after_a_failed_declaration_or_distribution() {
    assert_eq!(
        codes_of("param s: real in 5..1\nobserved x: real = 1.0\nx ~ Normal(0, s)"),
        [codes::BAD_BOUND]
    );
    assert_eq!(
        codes_of(
            "latent sigma: positive\nobserved y: real = 1.0\nsigma ~ Gama(2, 2)\ny ~ Normal(0, sigma)"
        ),
        [codes::UNKNOWN_DISTRIBUTION]
    );
    // A name never declared at all is still reported.
    assert_eq!(
        codes_of("observed x: real = 1.0\nx ~ Normal(0, s)"),
        [codes::UNKNOWN_NAME]
    );
}
