//! The JSON layout through the public API: scalars, nested arrays, Stan's special strings, laziness
//! about unusable elements, and structural errors with their key and index path.

use std::path::Path;

use ppl_data::{CellProblem, DataError, DataSet, Location};

fn load(text: &str) -> DataSet {
    DataSet::from_json_str(text, Path::new("d.json")).unwrap_or_else(|error| panic!("{error}"))
}

fn error(text: &str) -> DataError {
    match DataSet::from_json_str(text, Path::new("d.json")) {
        Ok(data) => panic!("expected an error, loaded {data:?}"),
        Err(error) => error,
    }
}

#[test]
fn scalars_vectors_and_nested_arrays_keep_file_order() {
    let data = load(r#"{"N": 3, "y": [1.5, 2, -3], "m": [[1, 2, 3], [4, 5, 6]], "e": []}"#);
    assert_eq!(data.names().collect::<Vec<_>>(), vec!["N", "y", "m", "e"]);
    assert_eq!(data.rows(), None);
    let n = data.get("N").unwrap();
    assert!(n.is_scalar());
    assert_eq!(n.values, vec![3.0]);
    assert_eq!(n.first_non_integer(), None);
    assert_eq!(n.locate(0).to_string(), "`N`");
    let y = data.get("y").unwrap();
    assert_eq!(y.shape, vec![3]);
    assert_eq!(y.first_non_integer(), Some(0));
    let m = data.get("m").unwrap();
    assert_eq!(m.shape, vec![2, 3]);
    assert_eq!(m.values, vec![1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    assert_eq!(m.locate(5).to_string(), "`m[2, 3]`");
    assert_eq!(data.get("e").unwrap().shape, vec![0]);
}

#[test]
fn three_levels_and_empty_inner_arrays() {
    let data = load(r#"{"a": [[[1], [2]], [[3], [4]]], "b": [[], []]}"#);
    let a = data.get("a").unwrap();
    assert_eq!(a.shape, vec![2, 2, 1]);
    assert_eq!(
        a.locate(2),
        Location::JsonElement {
            key: "a".into(),
            index: vec![2, 1, 1]
        }
    );
    assert_eq!(data.get("b").unwrap().shape, vec![2, 0]);
}

#[test]
fn integers_are_numbers_without_fraction_or_exponent() {
    let data = load(r#"{"a": [1, 2, 3], "b": [1, 2.0], "c": [1, 1e2], "t": [true, false]}"#);
    assert_eq!(data.get("a").unwrap().first_non_integer(), None);
    assert_eq!(data.get("b").unwrap().first_non_integer(), Some(1));
    assert_eq!(data.get("c").unwrap().first_non_integer(), Some(1));
    let t = data.get("t").unwrap();
    assert_eq!(t.values, vec![1.0, 0.0]);
    assert_eq!(t.first_non_integer(), None);
}

#[test]
fn stan_non_finite_strings_and_other_scalars_are_recorded_lazily() {
    let data =
        load(r#"{"x": [1, "NaN", "Inf"], "z": "-Inf", "s": "hello", "n": null, "q": ["3.5"]}"#);
    let x = data.get("x").unwrap();
    assert_eq!(x.values[0], 1.0);
    assert_eq!(
        x.first_non_finite(),
        Some((1, CellProblem::NaN("NaN".into())))
    );
    assert_eq!(x.non_finite_count(), 2);
    assert_eq!(x.locate(1).to_string(), "`x[2]`");
    let z = data.get("z").unwrap();
    // Every non-finite element is stored as NaN; the problem says what it was.
    assert!(z.values[0].is_nan());
    assert_eq!(
        z.first_non_finite(),
        Some((0, CellProblem::Infinite("-Inf".into())))
    );
    assert_eq!(
        data.get("s").unwrap().first_non_finite(),
        Some((0, CellProblem::NotANumber("\"hello\"".into())))
    );
    assert_eq!(
        data.get("n").unwrap().first_non_finite(),
        Some((0, CellProblem::Missing("null".into())))
    );
    // A number in quotes is text, as in Stan.
    assert_eq!(
        data.get("q").unwrap().first_non_finite(),
        Some((0, CellProblem::NotANumber("\"3.5\"".into())))
    );
}

#[test]
fn ragged_arrays_name_the_key_and_index_path() {
    let cases = [
        (
            r#"{"y": [[1, 2], [3]]}"#,
            vec![2],
            "data file `d.json`: `y` is not a rectangular array: `y[2]` has 1 element, but `y[1]` has 2",
        ),
        (
            r#"{"y": [1, [2]]}"#,
            vec![2],
            "data file `d.json`: `y` is not a rectangular array: `y[2]` is an array, but `y[1]` is a number",
        ),
        (
            r#"{"y": [[1, 2], 3]}"#,
            vec![2],
            "data file `d.json`: `y` is not a rectangular array: `y[2]` is a number, but `y[1]` is an array of 2",
        ),
        (
            r#"{"y": [[[1], [2]], [[3], [4, 5]]]}"#,
            vec![2, 2],
            "data file `d.json`: `y` is not a rectangular array: `y[2, 2]` has 2 elements, but `y[1, 1]` has 1",
        ),
        (
            r#"{"y": [[], [1]]}"#,
            vec![2],
            "data file `d.json`: `y` is not a rectangular array: `y[2]` has 1 element, but `y[1]` has 0",
        ),
    ];
    for (text, expected_index, message) in cases {
        let error = error(text);
        assert_eq!(error.to_string(), message, "for {text}");
        match error {
            DataError::Ragged { key, index, .. } => {
                assert_eq!(key, "y");
                assert_eq!(index, expected_index, "for {text}");
            }
            other => panic!("expected Ragged, got {other:?}"),
        }
    }
}

#[test]
fn objects_are_errors_naming_the_key() {
    assert_eq!(
        error(r#"{"meta": {"a": 1}}"#).to_string(),
        "data file `d.json`: `meta` is an object, but data values must be numbers or arrays of numbers"
    );
    assert_eq!(
        error(r#"{"y": [1, {"a": 1}]}"#).to_string(),
        "data file `d.json`: `y[2]` is an object, but data values must be numbers or arrays of numbers"
    );
}

#[test]
fn malformed_json_has_line_and_column() {
    let error = error("{\n  \"a\": [1, 2,\n  \"b\": 3\n}");
    match &error {
        DataError::MalformedJson { line, column, .. } => {
            // The parser took `"b"` as an array element and stops at the colon.
            assert_eq!((*line, *column), (3, 6));
        }
        other => panic!("expected MalformedJson, got {other:?}"),
    }
    assert!(
        error
            .to_string()
            .starts_with("data file `d.json`, line 3, column 6: "),
        "{error}"
    );
    assert!(!error.to_string().contains(" at line "), "{error}");
}

#[test]
fn top_level_must_be_one_object() {
    let error = error("[1, 2]");
    assert!(matches!(error, DataError::MalformedJson { line: 1, .. }));
    assert!(
        error
            .to_string()
            .contains("expected one JSON object mapping names to numbers or arrays"),
        "{error}"
    );
    assert!(matches!(
        self::error(r#"{"a": 1} {"b": 2}"#),
        DataError::MalformedJson { .. }
    ));
}

#[test]
fn duplicate_keys_are_errors() {
    let error = error("{\"a\": 1,\n \"a\": 2}");
    match &error {
        DataError::MalformedJson { line, message, .. } => {
            assert_eq!(*line, 2);
            assert_eq!(message, "duplicate key `a`");
        }
        other => panic!("expected MalformedJson, got {other:?}"),
    }
}

#[test]
fn empty_object_is_an_empty_data_set() {
    let data = load("{}");
    assert!(data.is_empty());
}

#[test]
fn very_deep_nesting_is_an_error_not_a_crash() {
    let text = format!("{{\"a\": {}1{}}}", "[".repeat(10_000), "]".repeat(10_000));
    assert!(matches!(error(&text), DataError::MalformedJson { .. }));
    // Within the limit, deep nesting is fine.
    let text = format!("{{\"a\": {}1{}}}", "[".repeat(100), "]".repeat(100));
    assert_eq!(load(&text).get("a").unwrap().shape, vec![1; 100]);
}
