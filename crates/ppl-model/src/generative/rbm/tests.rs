//! The RBM recogniser on the canonical form, its variants, and forms it refuses with a reason.

use std::path::Path;

use super::*;

fn model_and_data(source: &str, data_json: &str) -> (Model, BoundData) {
    let (program, diagnostics) = ppl_syntax::parse(source);
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{diagnostics:#?}"
    );
    let (model, diagnostics) = ppl_ir::check(&program, source, &Default::default());
    assert!(
        diagnostics.iter().all(|d| !d.is_error()),
        "{diagnostics:#?}"
    );
    let data = ppl_data::DataSet::from_json_str(data_json, Path::new("test.json"))
        .expect("test data parses");
    let bound = crate::bind(&model, Some(&data), &[]).expect("test data binds");
    (model, bound)
}

const DATA: &str = r#"{"pixel": [[0, 9, 16], [12, 3, 8]]}"#;

fn with_energy(energy: &str) -> String {
    format!(
        "observed pixel: int[N, 3]\nlet v = pixel > 7\nlatent h: bool[N, 2]\nparam W: real[3, 2]\nparam b: real[3]\nparam c: real[2]\n{energy}\n"
    )
}

#[test]
fn the_canonical_form_is_recognised() {
    let source = with_energy("energy -(sum(v @ W * h) + sum(v @ b) + sum(h @ c))");
    let (model, bound) = model_and_data(&source, DATA);
    let spec = recognise(&model, &bound).expect("an RBM");
    assert_eq!((spec.rows, spec.visible, spec.hidden), (2, 3, 2));
    assert_eq!(spec.data, vec![0.0, 1.0, 1.0, 1.0, 0.0, 1.0]);
    assert_eq!(spec.columns, vec!["pixel.1", "pixel.2", "pixel.3"]);
    assert_eq!(spec.visible_name, "v");
    assert_eq!(spec.signs, [1.0, 1.0, 1.0]);
    assert!(!spec.weights_transposed);
}

#[test]
fn variants_by_structure_keep_their_signs() {
    let source = with_energy("energy -sum(h * (v @ W)) + sum(v * b) - sum(c * h)");
    let (model, bound) = model_and_data(&source, DATA);
    let spec = recognise(&model, &bound).expect("an RBM");
    assert_eq!(spec.signs, [1.0, -1.0, 1.0]);
    let transposed = with_energy("energy -(sum(h @ W * v) + sum(v @ b) + sum(h @ c))")
        .replace("W: real[3, 2]", "W: real[2, 3]");
    let (model, bound) = model_and_data(&transposed, DATA);
    let spec = recognise(&model, &bound).expect("an RBM");
    assert!(spec.weights_transposed);
    // Estimates map back with the signs: the visible bias enters negated here.
    let flipped = with_energy("energy -sum(v @ W * h) + sum(v @ b) - sum(h @ c)");
    let (model, bound) = model_and_data(&flipped, DATA);
    let spec = recognise(&model, &bound).expect("an RBM");
    let estimates = estimates(&model, &spec, &[0.0; 6], &[1.0, 2.0, 3.0], &[4.0, 5.0]);
    assert_eq!(estimates[6], ("b[1]".to_string(), -1.0));
    assert_eq!(estimates[9], ("c[1]".to_string(), 4.0));
}

fn refusal(source: &str, data: &str) -> NotAnRbm {
    let (model, bound) = model_and_data(source, data);
    recognise(&model, &bound).expect_err("not an RBM")
}

#[test]
fn other_energies_are_refused_with_a_reason_and_a_span() {
    let quadratic = refusal(
        &with_energy("energy -(sum(v @ W * h) + sum(v @ b) + sum(h @ c)) + sum(exp(c))"),
        DATA,
    );
    assert!(
        quadratic.reason.contains("bilinear"),
        "{}",
        quadratic.reason
    );
    assert!(quadratic.span.is_some());
    let no_bias = refusal(&with_energy("energy -(sum(v @ W * h) + sum(v @ b))"), DATA);
    assert!(no_bias.reason.contains("hidden bias"), "{}", no_bias.reason);
    let not_binary = refusal(
        &with_energy("energy -(sum(v @ W * h) + sum(v @ b) + sum(h @ c))")
            .replace("let v = pixel > 7", "let v = pixel / 8"),
        DATA,
    );
    assert!(
        not_binary.reason.contains("0 or 1"),
        "{}",
        not_binary.reason
    );
}
