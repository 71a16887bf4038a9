//! The engine as the browser runs it: built for wasm32-unknown-unknown and run by wasm-bindgen-test in Node and in headless Chromium (see DEVELOPERS notes in README, "Playground").
#![cfg(target_arch = "wasm32")]

use mlp_wasm::{Playground, builtin_rows};
use wasm_bindgen::{JsError, JsValue};
use wasm_bindgen_test::wasm_bindgen_test;

/// The value, or a panic with the JavaScript error's text.
fn ok<T>(r: Result<T, JsError>) -> T {
    r.unwrap_or_else(|e| panic!("{:?}", JsValue::from(e)))
}

/// Rows `[x1, x2, target]` split into the page's `x` and `y`.
fn rows(spec: &str) -> (Vec<f32>, Vec<f32>) {
    let flat = ok(builtin_rows(spec));
    (flat.chunks(3).flat_map(|r| [r[0], r[1]]).collect(), flat.chunks(3).map(|r| r[2]).collect())
}

fn setup(layers: &str, loss: &str, optimizer: &str, batch: usize, extra: &str) -> String {
    format!(
        r#"{{"layers":"{layers}","loss":"{loss}","optimizer":"{optimizer}","batch_size":{batch},"columns":["x1","x2"],"features":["x1","x2"],"classes":2,"test_fraction":0.2,"seed":0{extra}}}"#
    )
}

fn metric(status: &str, name: &str) -> f64 {
    let v: serde_json::Value = serde_json::from_str(status).unwrap();
    v["metrics"][name].as_f64().unwrap_or_else(|| panic!("no {name} in {status}"))
}

#[wasm_bindgen_test]
fn the_seed_spirals_train_to_99_percent_until_the_plateau_stopper_ends_them() {
    let (x, y) = rows("spirals?n=1000&cycles=1.2&sd=0.03&seed=0");
    let s = setup(
        "10:relu,2:softmax",
        "categorical_crossentropy",
        "momentum(lr=0.1,momentum=0.9)",
        32,
        r#","init":"he_uniform","plateau":true"#,
    );
    let mut pg = ok(Playground::new(&s, x, y));
    let mut status = String::new();
    for _ in 0..600 {
        status = ok(pg.train_for(1e9, 10));
        if status.contains(r#""finished":true"#) {
            break;
        }
    }
    assert!(status.contains("plateau stopper"), "{status}");
    assert!(metric(&status, "accuracy") >= 0.99, "{status}");
    assert_eq!(pg.test_mask().iter().filter(|&&m| m == 1).count(), 200);
    // The model file opens again and draws the same boundary.
    let bytes = ok(pg.model_file());
    let opened = ok(Playground::open(&bytes, "playground.safetensors"));
    let a = ok(pg.output_grid(16, -1.5, 1.5, -1.5, 1.5));
    assert_eq!(a.len(), 16 * 16 * 2);
    assert_eq!(a, ok(opened.output_grid(16, -1.5, 1.5, -1.5, 1.5)));
    // Both classes are drawn: the boundary crosses the plane.
    let class1 = a.chunks(2).filter(|p| p[1] > p[0]).count();
    assert!(class1 > 40 && class1 < 216, "{class1} of 256 points are class 1");
}

#[wasm_bindgen_test]
fn tf_playground_default_network_learns_the_circle_and_shows_every_unit() {
    let (x, y) = rows("circles?n=500&noise=0.05&factor=0.4&seed=1");
    let s = setup("4:tanh,2:tanh,1:tanh", "mse", "sgd(lr=0.03)", 10, "");
    let mut pg = ok(Playground::new(&s, x, y));
    let first = metric(&ok(pg.train_for(0.0, 1)), "loss");
    let later = ok(pg.train_for(1e9, 300));
    assert!(metric(&later, "loss") < first * 0.8, "{first} → {later}");
    assert!(metric(&later, "val_loss").is_finite());
    // Thumbnails: 2 features + 4 + 2 + 1 units, 8×8 points each.
    assert_eq!(ok(pg.neuron_grids(8, -1.0, 1.0, -1.0, 1.0)).len(), 9 * 64);
    assert_eq!(ok(pg.dead_fractions()), vec![0.0, 0.0]);
    let w: serde_json::Value = serde_json::from_str(&ok(pg.weights())).unwrap();
    assert_eq!(w[0]["fan_in"], 2);
    assert_eq!(w[0]["weight"].as_array().unwrap().len(), 8);
}

#[wasm_bindgen_test]
fn derived_features_and_regression_train() {
    let (x, _) = rows("circles?n=200&seed=2");
    let y: Vec<f32> = x.chunks(2).map(|p| p[0] * p[1]).collect();
    let s = r#"{"layers":"8:relu,1:linear","loss":"mse","optimizer":"adam(lr=0.01)","batch_size":16,"columns":["x1","x2"],"features":["x1","x2","x1^2","x2^2","x1*x2","sin(x1)","sin(x2)"],"test_fraction":0.5,"seed":3,"early_stopping":5}"#;
    let mut pg = ok(Playground::new(s, x, y));
    let status = ok(pg.train_for(1e9, 200));
    assert!(metric(&status, "loss").is_finite(), "{status}");
    let d: serde_json::Value = serde_json::from_str(&ok(pg.describe())).unwrap();
    assert_eq!(d["features"].as_array().unwrap().len(), 7);
    assert!(d["classes"].is_null());
}

#[wasm_bindgen_test]
fn bad_setups_are_refused() {
    let (x, y) = rows("spirals?n=20");
    let good = setup("2:softmax", "categorical_crossentropy", "sgd", 4, "");
    let bad_layers = setup("10:nope,2:softmax", "categorical_crossentropy", "sgd", 4, "");
    let bad_label: Vec<f32> = y.iter().map(|v| v + 5.0).collect();
    assert!(Playground::new(&bad_layers, x.clone(), y.clone()).is_err());
    assert!(Playground::new(&good, x.clone(), bad_label).is_err());
    assert!(Playground::new(&good, x[1..].to_vec(), y.clone()).is_err());
    assert!(Playground::new("{", x.clone(), y.clone()).is_err());
    assert!(Playground::open(b"not a model", "x.safetensors").is_err());
    assert!(Playground::new(&good, x, y).is_ok());
}

#[wasm_bindgen_test]
fn a_long_run_keeps_its_epoch_count_across_history_compaction() {
    // 8 rows in one batch: 20 000 epochs (where the history is trimmed) take a moment.
    let (x, y) = rows("spirals?n=8&seed=4");
    let s = setup("2:softmax", "categorical_crossentropy", "adam(lr=0.01)", 8, r#","plateau":false"#)
        .replace(r#""test_fraction":0.2"#, r#""test_fraction":0"#);
    let mut pg = ok(Playground::new(&s, x, y));
    let mut status = String::new();
    while !status.contains(r#""epoch":20050,"#) {
        status = ok(pg.train_for(1e9, 1000.min(20_050 - epoch(&status))));
    }
    assert!(metric(&status, "loss").is_finite(), "{status}");
    let saved = mlp::model_file::load_bytes(&ok(pg.model_file()), "p").unwrap();
    assert_eq!(saved.meta.history.unwrap().epochs, 20_050);
}

fn epoch(status: &str) -> u32 {
    if status.is_empty() {
        return 0;
    }
    let v: serde_json::Value = serde_json::from_str(status).unwrap();
    v["epoch"].as_u64().unwrap() as u32
}
