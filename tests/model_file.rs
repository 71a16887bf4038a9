//! Model files written elsewhere: a file made by Python's `safetensors` package (see
//! `fixtures/make_python_model.py`) loads in mlp and predicts what numpy computed.

use mlp::Matrix;
use mlp::model_file::{self, InputSpec};
use std::path::Path;

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
