//! The CSV layout through the public API: shapes, tolerance of bad cells, locations, and every
//! structural error with its message.

use std::path::Path;

use ppl_data::{CellProblem, DataError, DataSet, Location};

fn load(text: &str) -> DataSet {
    DataSet::from_csv_str(text, Path::new("d.csv")).unwrap_or_else(|error| panic!("{error}"))
}

fn error(text: &str) -> DataError {
    match DataSet::from_csv_str(text, Path::new("d.csv")) {
        Ok(data) => panic!("expected an error, loaded {data:?}"),
        Err(error) => error,
    }
}

#[test]
fn plain_columns_have_shape_rows() {
    let data = load("x,y\n1,2.5\n3,4\n-5,6e-1\n");
    assert_eq!(data.rows(), Some(3));
    assert_eq!(data.names().collect::<Vec<_>>(), vec!["x", "y"]);
    let x = data.get("x").unwrap();
    assert_eq!(x.shape, vec![3]);
    assert_eq!(x.values, vec![1.0, 3.0, -5.0]);
    assert_eq!(x.first_non_integer(), None);
    assert_eq!(x.first_non_finite(), None);
    let y = data.get("y").unwrap();
    assert_eq!(y.values, vec![2.5, 4.0, 0.6]);
    assert_eq!(y.first_non_integer(), Some(0));
    assert!(data.get("z").is_none());
}

#[test]
fn bracket_columns_make_a_matrix_in_any_order() {
    let data = load("x[2],id,x[1],x[3]\n12,1,11,13\n22,2,21,23\n");
    assert_eq!(data.names().collect::<Vec<_>>(), vec!["x", "id"]);
    let x = data.get("x").unwrap();
    assert_eq!(x.shape, vec![2, 3]);
    assert_eq!(x.values, vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    assert_eq!(x.locate(4).to_string(), "row 2 (line 3), column `x[2]`");
}

#[test]
fn dotted_columns_make_a_matrix() {
    let data = load("x.1,x.2\n1,2\n3,4\n");
    let x = data.get("x").unwrap();
    assert_eq!(x.shape, vec![2, 2]);
    assert_eq!(x.values, vec![1.0, 2.0, 3.0, 4.0]);
    assert_eq!(x.locate(1).to_string(), "row 1 (line 2), column `x.2`");
}

#[test]
fn two_index_columns_make_a_three_dimensional_value() {
    // Columns deliberately shuffled; both spellings and spaces inside brackets.
    let data = load("\"x[2,1]\",x.1.2,\"x[1, 1]\",x.2.2,x.1.3,\"x[2,3]\"\n21,12,11,22,13,23\n");
    let x = data.get("x").unwrap();
    assert_eq!(x.shape, vec![1, 2, 3]);
    assert_eq!(x.values, vec![11.0, 12.0, 13.0, 21.0, 22.0, 23.0]);
    assert_eq!(x.locate(3).to_string(), "row 1 (line 2), column `x[2,1]`");
}

#[test]
fn header_only_gives_zero_rows() {
    let data = load("x,y[1],y[2]\n");
    assert_eq!(data.rows(), Some(0));
    assert_eq!(data.get("x").unwrap().shape, vec![0]);
    assert_eq!(data.get("y").unwrap().shape, vec![0, 2]);
    assert!(data.get("y").unwrap().values.is_empty());
}

#[test]
fn crlf_quotes_bom_and_spaces() {
    let data = load("\u{FEFF}\"a\", b \r\n\" 1.5 \",2\r\n3 ,\"4\"\r\n");
    assert_eq!(data.names().collect::<Vec<_>>(), vec!["a", "b"]);
    assert_eq!(data.get("a").unwrap().values, vec![1.5, 3.0]);
    assert_eq!(data.get("b").unwrap().values, vec![2.0, 4.0]);
    assert_eq!(data.get("b").unwrap().first_non_integer(), None);
    let data = load("a,b\r\n1,2\r\n3,x\r\n");
    assert_eq!(
        data.get("b").unwrap().locate(1).to_string(),
        "row 2 (line 3), column `b`"
    );
    assert_eq!(
        error("a,b\r\n1,2\r\n\r\n3\r\n").to_string(),
        "data file `d.csv`, line 4: this row has 1 field, but the header has 2"
    );
}

#[test]
fn lines_stay_right_after_multiline_quotes_and_blank_lines() {
    let data = load("note,x\n\"two\nlines\",1\n\nthree,2.5\n");
    let x = data.get("x").unwrap();
    assert_eq!(x.values, vec![1.0, 2.5]);
    assert_eq!(x.first_non_integer(), Some(1));
    // The second row starts on line 5: lines 2-3 are the first row, line 4 is blank.
    assert_eq!(x.locate(1).to_string(), "row 2 (line 5), column `x`");
    assert_eq!(x.locate(0).to_string(), "row 1 (line 2), column `x`");
}

#[test]
fn blank_lines_are_empty_cells_in_a_single_column_file() {
    let data = load("x\n1\n\n3\r\n\r\n5\n");
    let x = data.get("x").unwrap();
    assert_eq!(data.rows(), Some(5));
    assert_eq!(x.first_non_finite(), Some((1, CellProblem::Empty)));
    assert_eq!(x.non_finite_count(), 2);
    assert_eq!(x.locate(1).to_string(), "row 2 (line 3), column `x`");
    assert_eq!(x.locate(3).to_string(), "row 4 (line 5), column `x`");
    assert_eq!(x.locate(4).to_string(), "row 5 (line 6), column `x`");
    // A trailing blank line is only the end of the file.
    assert_eq!(load("x\n1\n2\n\n").rows(), Some(2));
}

#[test]
fn bad_cells_do_not_fail_the_load_and_are_located() {
    let data = load("good,bad,note\n1,2,hello\n2,,x\n3,NA,y\n4,inf,z\n");
    assert_eq!(data.get("good").unwrap().first_non_finite(), None);
    let note = data.get("note").unwrap();
    assert_eq!(
        note.first_non_finite(),
        Some((0, CellProblem::NotANumber("hello".into())))
    );
    assert_eq!(note.non_finite_count(), 4);
    let bad = data.get("bad").unwrap();
    assert_eq!(bad.values[0], 2.0);
    assert!(bad.values[1].is_nan());
    assert_eq!(bad.first_non_finite(), Some((1, CellProblem::Empty)));
    assert_eq!(bad.non_finite_count(), 3);
    assert_eq!(
        bad.locate(1),
        Location::CsvCell {
            row: 2,
            line: 3,
            column: "bad".into()
        }
    );
    assert_eq!(
        format!("`bad` has {} at {}", CellProblem::Empty, bad.locate(1)),
        "`bad` has an empty cell at row 2 (line 3), column `bad`"
    );
}

#[test]
fn first_problem_in_a_matrix_is_the_lowest_flat_index() {
    // Row 2 has problems in x[2] (flat 3) and x[1] (flat 2); x[2] comes first in the file.
    let data = load("x[2],x[1]\n1,2\nnan,abc\n");
    let x = data.get("x").unwrap();
    assert_eq!(
        x.first_non_finite(),
        Some((2, CellProblem::NotANumber("abc".into())))
    );
    assert_eq!(x.locate(2).to_string(), "row 2 (line 3), column `x[1]`");
}

#[test]
fn whole_reals_are_not_integers_as_in_stan() {
    let data = load("k\n1\n2.0\n3\n");
    let k = data.get("k").unwrap();
    assert_eq!(k.first_non_integer(), Some(1));
    assert_eq!(k.locate(1).to_string(), "row 2 (line 3), column `k`");
}

#[test]
fn wrong_field_count_is_malformed_with_its_line() {
    let error = error("a,b\n1,2\n3\n");
    assert!(matches!(error, DataError::MalformedCsv { line: 3, .. }));
    assert_eq!(
        error.to_string(),
        "data file `d.csv`, line 3: this row has 1 field, but the header has 2"
    );
    let error = self::error("a,b\n1,2,3\n");
    assert_eq!(
        error.to_string(),
        "data file `d.csv`, line 2: this row has 3 fields, but the header has 2"
    );
}

#[test]
fn empty_file_is_an_error() {
    for text in ["", "\n\n", "\u{FEFF}"] {
        assert_eq!(
            error(text).to_string(),
            "data file `d.csv`, line 1: the file is empty: expected a header row of column names"
        );
    }
}

#[test]
fn duplicate_columns_are_errors() {
    assert_eq!(
        error("x,y,x\n1,2,3\n").to_string(),
        "data file `d.csv`: column `x` (column 3) repeats column `x` (column 1)"
    );
    assert_eq!(
        error("x[1],x.1\n1,2\n").to_string(),
        "data file `d.csv`: column `x.1` (column 2) repeats column `x[1]` (column 1)"
    );
}

#[test]
fn a_gap_in_matrix_columns_names_the_missing_column() {
    assert_eq!(
        error("x[1],x[3]\n1,2\n").to_string(),
        "data file `d.csv`: the columns of `x` are incomplete: column `x[2]` is missing"
    );
    assert_eq!(
        error("x.2\n1\n").to_string(),
        "data file `d.csv`: the columns of `x` are incomplete: column `x.1` is missing"
    );
    assert_eq!(
        error("\"x[1,1]\",\"x[1,2]\",\"x[2,2]\"\n1,2,3\n").to_string(),
        "data file `d.csv`: the columns of `x` are incomplete: column `x[2,1]` is missing"
    );
}

#[test]
fn inconsistent_column_names_are_errors() {
    assert_eq!(
        error("x,x[1]\n1,2\n").to_string(),
        "data file `d.csv`: column `x[1]`: `x` is both a plain column and indexed columns (see column `x`)"
    );
    assert_eq!(
        error("x[1],\"x[1,2]\"\n1,2\n").to_string(),
        "data file `d.csv`: column `x[1,2]`: has 2 indices, but column `x[1]` has 1"
    );
    assert_eq!(
        error("x[0],x[1]\n1,2\n").to_string(),
        "data file `d.csv`: column `x[0]`: column indices start at 1"
    );
}

#[test]
fn an_unquoted_comma_inside_brackets_is_explained() {
    assert_eq!(
        error("x[1,2],y\n1,2\n").to_string(),
        "data file `d.csv`: column `x[1`: the bracket is not closed; if a comma split `x[i,j]` in \
         two, quote the name (\"x[i,j]\") or write `x.i.j`"
    );
}

#[test]
fn names_that_only_look_indexed_are_plain_columns() {
    let data = load("sepal.length,x[a]\n1,2\n");
    assert_eq!(
        data.names().collect::<Vec<_>>(),
        vec!["sepal.length", "x[a]"]
    );
}

#[test]
fn invalid_utf8_is_a_clear_error() {
    let bytes = b"x,y\n1,2\n3,\xff\n";
    let error =
        DataSet::from_bytes(bytes, Path::new("d.csv"), ppl_data::DataFormat::Csv).unwrap_err();
    assert_eq!(
        error.to_string(),
        "data file `d.csv` is not valid UTF-8: invalid byte at line 3, column 3"
    );
}
