//! Model files written elsewhere: a file made by Python's `safetensors` package (see
//! `fixtures/make_python_model.py`) loads in mlp and predicts what numpy computed.

use mlp::Matrix;
use mlp::model_file::{self, InputSpec};
use std::path::Path;

/// A change to a model file's metadata and the words its refusal must contain.
type Case = (Box<dyn FnOnce(&mut Value)>, &'static [&'static str]);
#[test]
fn python_written_model_loads_and_predicts_like_numpy() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let saved = model_file::load(&dir.join("python_model.safetensors")).expect("the Python-written file loads");
    assert_eq!(saved.meta.classes.as_deref(), Some(&["cat".to_string(), "dog".into(), "mouse".into()][..]));
    assert!(matches!(saved.meta.input, InputSpec::Standardized { .. }));
    let expected: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("python_model_expected.json")).unwrap()).unwrap();
    let rows: Vec<Vec<f32>> = serde_json::from_value(expected["inputs"].clone()).unwrap();
    let want: Vec<Vec<f64>> = serde_json::from_value(expected["probabilities"].clone()).unwrap();
    let mut x = Matrix::from_rows(&rows);
    saved.meta.input.scale_numeric(&mut x).unwrap();
    let p = saved.model.predict(&x).unwrap();
    let mut worst = 0.0f64;
    for (r, w) in want.iter().enumerate() {
        for (j, &v) in w.iter().enumerate() {
            worst = worst.max((f64::from(p.row(r)[j]) - v).abs());
        }
    }
    assert!(worst < 1e-6, "NOT OK: max abs difference to numpy {worst:e}");
}

// ---------------------------------------------------------------------------------------------
// Crafted metadata: every field checked against the others and the tensors (issue 10, class 4)
// ---------------------------------------------------------------------------------------------

use mlp::data::csv::Table;
use mlp::model_file::{ModelMeta, SavedModel};
use mlp::preprocess::{PreprocessConfig, Preprocessor, TargetKind};
use mlp::{Loss, ModelConfig};
use serde_json::{Value, json};

fn standardized_model() -> SavedModel {
    SavedModel {
        model: ModelConfig::parse(3, "4:relu,3:softmax").unwrap().init(7).unwrap(),
        meta: ModelMeta {
            loss: Loss::CategoricalCrossEntropy,
            input: InputSpec::Standardized {
                features: vec!["a".into(), "b".into(), "c".into()],
                target: "label".into(),
                mean: vec![0.5, -1.0, 2.0],
                std: vec![2.0, 0.5, 1.5],
            },
            classes: Some(vec!["cat".into(), "dog".into(), "mouse".into()]),
            training: None,
            history: None,
            created_by: model_file::created_by(),
        },
    }
}

fn table_model() -> SavedModel {
    let text = "color,size,id,label\nred,1,1,yes\nblue,3,2,no\nred,5,3,yes\ngreen,7,4,no\n";
    let table = Table::from_reader(std::io::Cursor::new(text.as_bytes().to_vec()), "t.csv").unwrap();
    let cfg =
        PreprocessConfig { target: Some("label".into()), drop: vec!["id".into()], impute: true, ..Default::default() };
    let (pre, _) = Preprocessor::fit(&table, &cfg, TargetKind::Classes).unwrap();
    let classes = pre.class_labels().map(<[String]>::to_vec);
    SavedModel {
        model: ModelConfig::parse(4, "3:relu,2:softmax").unwrap().init(1).unwrap(),
        meta: ModelMeta {
            loss: Loss::CategoricalCrossEntropy,
            input: InputSpec::Table { preprocessor: pre },
            classes,
            training: None,
            history: None,
            created_by: model_file::created_by(),
        },
    }
}

/// The file of `saved` with its `mlp` metadata JSON edited by `edit`.
fn crafted(saved: &SavedModel, edit: impl FnOnce(&mut Value)) -> Vec<u8> {
    let good = model_file::to_bytes(saved).unwrap();
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let mut header: Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let mut mlp: Value = serde_json::from_str(header["__metadata__"]["mlp"].as_str().unwrap()).unwrap();
    edit(&mut mlp);
    header["__metadata__"]["mlp"] = Value::String(mlp.to_string());
    let mut hs = serde_json::to_vec(&header).unwrap();
    while !hs.len().is_multiple_of(8) {
        hs.push(b' ');
    }
    let mut out = (hs.len() as u64).to_le_bytes().to_vec();
    out.extend(hs);
    out.extend(&good[8 + n..]);
    out
}

fn refused(bytes: &[u8], needles: &[&str]) {
    let e = match model_file::from_bytes(bytes, "crafted.safetensors") {
        Ok(_) => panic!("NOT OK: a crafted file loaded; expected an error with {needles:?}"),
        Err(e) => e.to_string(),
    };
    assert!(!e.contains('\n'), "one line: {e}");
    assert!(e.starts_with("crafted.safetensors: "), "names the file: {e}");
    for n in needles {
        assert!(e.contains(n), "expected `{n}` in: {e}");
    }
}

fn set(path: &str, v: Value) -> impl FnOnce(&mut Value) + use<> {
    let path = path.to_string();
    move |m: &mut Value| *m.pointer_mut(&path).unwrap_or_else(|| panic!("no {path}")) = v
}

#[test]
fn crafted_standardized_input_fields_are_refused_by_name() {
    let m = standardized_model();
    model_file::from_bytes(&crafted(&m, |_| {}), "x").expect("the unedited file loads");
    let cases: Vec<Case> = vec![
        (
            Box::new(set("/input/features", json!(["a", "b"]))),
            &["`input.mean` has 3 values but `input.features` names 2"],
        ),
        (Box::new(set("/input/features", json!(["a", "b", "c", "d"]))), &["`input.mean` has 3 values"]),
        (Box::new(set("/input/features", json!([]))), &["`input.features` is empty"]),
        (Box::new(set("/input/features/2", json!("a"))), &["`input.features[2]` (`a`) names a feature twice"]),
        (Box::new(set("/input/features/1", json!("label"))), &["`input.features[1]` (`label`) is also the target"]),
        (Box::new(set("/input/mean", json!([0.5, 1.0]))), &["`input.mean` has 2 values"]),
        (Box::new(set("/input/std", json!([1.0, 1.0, 1.0, 1.0]))), &["`input.std` has 4 values"]),
        (Box::new(set("/input/mean/1", json!(1e39))), &["`input.mean[1]` is inf"]),
        (Box::new(set("/input/std/0", json!(0.0))), &["`input.std[0]` is 0", "finite and positive"]),
        (Box::new(set("/input/std/2", json!(-1.5))), &["`input.std[2]` is -1.5"]),
        (Box::new(set("/input/std/1", json!(1e39))), &["`input.std[1]` is inf"]),
        (
            Box::new(set("/input", json!({"kind": "pixels", "rows": 1u64 << 40, "cols": 1u64 << 40, "target": "y"}))),
            &["`input.rows` × `input.cols`"],
        ),
        (
            Box::new(set("/input", json!({"kind": "pixels", "rows": 0, "cols": 5, "target": "y"}))),
            &["`input.rows` × `input.cols` (0 × 5)"],
        ),
        (
            Box::new(set("/input", json!({"kind": "pixels", "rows": 2, "cols": 2, "target": "y"}))),
            &["produces 4 features but the architecture takes 3"],
        ),
        (Box::new(set("/classes", json!([]))), &["lists 0 classes"]),
        (Box::new(set("/classes", json!(["a", "b", "c", "d"]))), &["lists 4 classes but the output layer has 3 units"]),
        (Box::new(set("/classes", json!(["a", "b", "a"]))), &["`classes` has the class `a` twice"]),
        (Box::new(set("/classes", json!(["1", "2", "1.0"]))), &["`classes` has the class `1.0` twice (at 0 as `1`"]),
        (Box::new(set("/classes", json!(["a", " ", "c"]))), &["`classes` has an empty label at index 1"]),
        (Box::new(set("/classes", Value::Null)), &["`classes` is absent"]),
        (Box::new(set("/loss", json!("no_such_loss"))), &["garbled `mlp` metadata"]),
        (
            Box::new(|m: &mut Value| {
                m["history"] =
                    json!({"epochs": 3, "final_metrics": {}, "stop": {"reason": "completed"}, "restored_epoch": 9})
            }),
            &["`history.restored_epoch`"],
        ),
        (Box::new(set("/architecture/input_dim", json!(4))), &["tensor `layers.0.weight` has shape [4, 3]"]),
        (
            Box::new(set("/architecture/layers/0/units", json!(5))),
            &["tensor `layers.0.weight` has shape [4, 3] but the architecture in the metadata says [5, 3]"],
        ),
    ];
    for (edit, needles) in cases {
        refused(&crafted(&m, edit), needles);
    }
}

#[test]
fn crafted_table_preprocessor_fields_are_refused_by_name() {
    let m = table_model();
    let pre = "/input/preprocessor";
    model_file::from_bytes(&crafted(&m, |_| {}), "x").expect("the unedited file loads");
    let p = |s: &str| format!("{pre}{s}");
    let cases: Vec<Case> = vec![
        (Box::new(set(&p("/columns"), json!([]))), &["`preprocessor.columns` is empty"]),
        (
            Box::new(set(&p("/columns/1/name"), json!("color"))),
            &["`preprocessor.columns[1]` (`color`) names a column twice"],
        ),
        (
            Box::new(set(&p("/columns/1/name"), json!("label"))),
            &["`preprocessor.columns[1]` (`label`) is also the target"],
        ),
        (Box::new(set(&p("/columns/1/name"), json!("id"))), &["(`id`) is also listed in `preprocessor.dropped`"]),
        (
            Box::new(set(&p("/columns/0/categories"), json!([]))),
            &["`preprocessor.columns[0]` (`color`) has no `categories`"],
        ),
        (
            Box::new(set(&p("/columns/0/categories"), json!(["red", "blue", "green"]))),
            &["out of order or repeated (`red` before `blue`)"],
        ),
        (
            Box::new(set(&p("/columns/0/categories"), json!(["blue", "blue", "red"]))),
            &["out of order or repeated (`blue` before `blue`)"],
        ),
        (
            Box::new(set(&p("/columns/0/fill"), json!("purple"))),
            &["has a `fill` `purple` that is not one of its categories"],
        ),
        (
            Box::new(set(&p("/columns/1/fill"), json!(1e300))),
            &["(`size`) has a `fill` 1e300 that is not a finite number"],
        ),
        (
            Box::new(set(&p("/means"), json!([0.0, 0.0, 0.0]))),
            &["`preprocessor.means` has 3 values but the columns expand to 4 features"],
        ),
        (Box::new(set(&p("/stds"), json!([1.0, 1.0, 1.0, 1.0, 1.0]))), &["`preprocessor.stds` has 5 values"]),
        (Box::new(set(&p("/means/3"), json!(1e300))), &["`preprocessor.means[3]` is 1e300"]),
        (Box::new(set(&p("/stds/2"), json!(0.0))), &["`preprocessor.stds[2]` is 0"]),
        (Box::new(set(&p("/stds/0"), json!(-2.0))), &["`preprocessor.stds[0]` is -2"]),
        (
            Box::new(set(&p("/target/labels"), json!(["no", "no"]))),
            &["`preprocessor.target.labels` has the class `no` twice"],
        ),
        (
            Box::new(set(&p("/target/labels"), json!(["yes", "no"]))),
            &["`classes` differs from the class labels of `preprocessor.target`"],
        ),
        (Box::new(set("/classes", json!(["n", "y"]))), &["`classes` differs"]),
        (Box::new(set(&p("/target"), json!({"kind": "values", "name": "label"}))), &["`classes` differs"]),
        (
            Box::new(set(&p("/columns/0"), json!({"kind": "numeric", "name": "color", "fill": 0.0}))),
            &["`preprocessor.means` has 4 values but the columns expand to 2 features"],
        ),
    ];
    for (edit, needles) in cases {
        refused(&crafted(&m, edit), needles);
    }
}

#[test]
fn the_writer_refuses_what_the_reader_would() {
    let mut m = standardized_model();
    if let InputSpec::Standardized { std, .. } = &mut m.meta.input {
        std[1] = 0.0;
    }
    let e = model_file::to_bytes(&m).unwrap_err().to_string();
    assert!(e.starts_with("refusing to save a model file that has inconsistent metadata: `input.std[1]` is 0"), "{e}");
    let mut m = standardized_model();
    if let InputSpec::Standardized { mean, .. } = &mut m.meta.input {
        mean[0] = f32::NAN;
    }
    assert!(model_file::to_bytes(&m).unwrap_err().to_string().contains("`input.mean[0]` is NaN"));
}

// ---------------------------------------------------------------------------------------------
// Named columns from any source go through the same fitted pipeline as a CSV table
// ---------------------------------------------------------------------------------------------

use mlp::rows::{NamedRows, NumericRows, Value as Cell};

fn bits(m: &Matrix) -> Vec<u32> {
    m.data.iter().map(|v| v.to_bits()).collect()
}

#[test]
fn json_like_rows_encode_exactly_like_the_csv_table() {
    let m = table_model();
    let csv = "label,size,color\nno,4.5,green\nyes,1e-3,purple\n,,\n";
    let table = Table::from_reader(std::io::Cursor::new(csv.as_bytes().to_vec()), "t.csv").unwrap();
    // Another column order, numbers as numbers, a missing cell as null, no target.
    let rows = NamedRows::new(
        "request",
        vec!["color".into(), "size".into()],
        vec![
            vec!["green".into(), 4.5.into()],
            vec![" purple ".into(), 1e-3.into()],
            vec![Cell::Missing, Cell::Number(f64::NAN)],
        ],
    )
    .unwrap();
    let (a, b) = (m.meta.input.transform_features(&table).unwrap(), m.meta.input.transform_rows(&rows).unwrap());
    assert_eq!((a.rows, a.cols), (3, 4));
    assert_eq!(bits(&a), bits(&b), "NOT OK: the same rows encode differently from JSON and from CSV");
    assert_eq!(bits(&m.predict_table(&table).unwrap()), bits(&m.predict_rows(&rows).unwrap()));
    // Errors name the source, row and column instead of a file line.
    let bad =
        NamedRows::new("request", vec!["color".into(), "size".into()], vec![vec!["red".into(), "big".into()]]).unwrap();
    let e = m.meta.input.transform_rows(&bad).unwrap_err().to_string();
    assert!(e.starts_with("request: row 1, column `size`: column `size` was numeric in training"), "{e}");
    let e = NamedRows::new("request", vec!["a".into()], vec![vec![]]).unwrap_err().to_string();
    assert!(e.contains("row 1 has 0 cells but there are 1 columns"), "{e}");
    let e = NamedRows::new("request", vec!["a".into(), "a".into()], vec![]).unwrap_err().to_string();
    assert!(e.contains("the column `a` appears twice"), "{e}");
    let missing = NamedRows::new("request", vec!["color".into()], vec![vec!["red".into()]]).unwrap();
    let e = m.meta.input.transform_rows(&missing).unwrap_err().to_string();
    assert!(e.starts_with("request: has no column `size`, which the model needs"), "{e}");
}

#[test]
fn a_numeric_array_with_names_encodes_exactly_like_the_csv_table() {
    let m = standardized_model();
    let csv = "c,a,b\n3,1,2\n0.1,-4,1e-7\n";
    let table = Table::from_reader(std::io::Cursor::new(csv.as_bytes().to_vec()), "t.csv").unwrap();
    let data = [3.0, 1.0, 2.0, 0.1, -4.0, 1e-7];
    let array = NumericRows::new("array", vec!["c".into(), "a".into(), "b".into()], &data).unwrap();
    let (a, b) = (m.meta.input.transform_features(&table).unwrap(), m.meta.input.transform_rows(&array).unwrap());
    assert_eq!(bits(&a), bits(&b));
    assert_eq!(bits(&m.predict_table(&table).unwrap()), bits(&m.predict_rows(&array).unwrap()));
    // And the same for a CSV-table model fed a numeric array (the categorical column left out
    // is an error, not a guess).
    let t = table_model();
    let e = t.meta.input.transform_rows(&array).unwrap_err().to_string();
    assert!(e.starts_with("array: has a column `c` the model was not trained on"), "{e}");
    assert!(NumericRows::new("array", vec!["a".into(), "b".into()], &data[..3]).is_err());
}
