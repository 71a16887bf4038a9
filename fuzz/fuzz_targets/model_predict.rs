//! A model file loaded AND used: any bytes that load must predict without a panic, and every
//! prediction that succeeds must be finite (a NaN is only ever reported as an error).
#![no_main]

use libfuzzer_sys::fuzz_target;
use mlp::Matrix;
use mlp::data::csv::Table;
use mlp::model_file::{self, InputSpec};

/// Cells that probe the input pipeline: ordinary numbers, extremes, text, missing.
const CELLS: &[&str] = &["0", "1", "-2.5", "1e30", "-3e38", "1e-40", "", "NA", "red", "x"];

fuzz_target!(|data: &[u8]| {
    let Ok(saved) = model_file::load_bytes(data, "fuzz.safetensors") else { return };
    let n = saved.model.config.input_dim;
    // Encoded features directly: zeros, ones, large values.
    for v in [0.0f32, 1.0, -1e4, 1e30] {
        let x = Matrix::new(2, n, vec![v; 2 * n]);
        if let Ok(p) = saved.predict_features(&x) {
            assert!(p.data.iter().all(|v| v.is_finite()), "a successful prediction holds a non-finite value");
        }
    }
    // Raw rows through the fitted pipeline, the columns the model names.
    let columns: Vec<String> = match &saved.meta.input {
        InputSpec::Table { preprocessor } => preprocessor.input_columns().iter().map(|c| c.to_string()).collect(),
        InputSpec::Standardized { features, .. } => features.clone(),
        InputSpec::Pixels { .. } => (0..n).map(|i| format!("p{i}")).collect(),
    };
    let seed = data.iter().fold(0usize, |a, &b| a.wrapping_mul(31).wrapping_add(b as usize));
    let rows: Vec<Vec<String>> = (0..3)
        .map(|r| (0..columns.len()).map(|c| CELLS[(seed + r * 7 + c) % CELLS.len()].to_string()).collect())
        .collect();
    let table = Table::from_rows("fuzz.csv", columns, rows);
    if let Ok(p) = saved.predict_table(&table) {
        assert!(p.data.iter().all(|v| v.is_finite()), "a successful prediction holds a non-finite value");
    }
});
