//! Issue 5's catalogue of bad input, as far as the command line sees it: each case exits with 2
//! and one line that names the file, line and column (or flag, or tensor) and says what to do,
//! and leaves no output file behind.

use crate::util::{Dir, OK};

/// Trains on `data` (written as `d.csv`) with `flags`, expecting failure with `needles`, and no model.
fn train_fails(name: &str, data: &str, flags: &[&str], needles: &[&str]) {
    let d = Dir::new(name);
    d.write("d.csv", data);
    d.write("ok.csv", OK);
    let mut args = vec!["train", "--data", "d.csv"];
    if !flags.contains(&"--epochs") {
        args.extend(["--epochs", "1"]);
    }
    if !flags.contains(&"--out") {
        args.extend(["--out", "m.safetensors"]);
    }
    args.extend_from_slice(flags);
    d.mlp(&args).fails_with(needles);
    assert!(!d.join("m.safetensors").exists(), "{name}: a failed run must not leave a model");
    assert!(d.files().iter().all(|f| !f.ends_with(".tmp")), "{name}: temporary files left: {:?}", d.files());
}

#[test]
fn bad_csv_files() {
    train_fails("empty", "", &[], &["d.csv: the file is empty", "header row"]);
    train_fails("header-only", "a,b,y\n", &[], &["d.csv: has a header but no data rows"]);
    train_fails("ragged", "a,b,y\n1,2,0\n3,4\n", &[], &["d.csv:3:3", "has 2 fields, but the header has 3"]);
    train_fails(
        "missing-cell",
        "a,b,y\n1,,0\n3,4,1\n",
        &[],
        &["d.csv:2:2", "column `b` has a missing value", "--impute"],
    );
    train_fails("nan-cell", "a,b,y\n1,NaN,0\n3,4,1\n", &[], &["d.csv:2:2", "missing value", "--impute"]);
    train_fails("inf-cell", "a,b,y\n1,2,0\n3,inf,1\n", &[], &["d.csv:3:2", "--impute"]);
    train_fails("missing-target", OK, &["--target", "label"], &["d.csv: has no target column `label`", "a, b, y"]);
    train_fails("single-class", "a,b,y\n1,2,0\n3,4,0\n", &[], &["target column `y` has a single class `0`"]);
    train_fails(
        "string-target-regression",
        "a,b,y\n1,2,cat\n3,4,dog\n",
        &["--loss", "mse"],
        &["d.csv:2:3", "must hold numbers for a regression", "`cat`"],
    );
    train_fails("missing-file", OK, &["--test", "nope.csv"], &["nope.csv: No such file or directory"]);
}

#[test]
fn bad_test_data() {
    let d = Dir::new("bad-test");
    d.write("d.csv", OK);
    d.write("unseen.csv", "a,b,y\n1,2,0\n3,4,7\n");
    d.write("text.csv", "a,b,y\n1,x,0\n");
    let base = ["train", "--data", "d.csv", "--epochs", "1", "--layers", "4:relu,2:softmax"];
    let with = |extra: &[&str]| {
        let mut a = base.to_vec();
        a.extend_from_slice(extra);
        d.mlp(&a)
    };
    with(&["--test", "unseen.csv"]).fails_with(&["unseen.csv:3:3", "class `7`", "not seen in training", "0, 1"]);
    with(&["--test", "text.csv"]).fails_with(&["text.csv:2:2", "column `b` was numeric in training", "`x`"]);
    assert!(!d.join("model.safetensors").exists());
}

#[test]
fn bad_layers_and_losses() {
    train_fails(
        "unknown-activation",
        OK,
        &["--layers", "4:relux,2:softmax"],
        &["activation 'relux'", "expected one of"],
    );
    train_fails("zero-units", OK, &["--layers", "0:relu,2:softmax"], &["layer '0:relu'", "at least 1 unit"]);
    train_fails("bad-units", OK, &["--layers", "x:relu"], &["'x' is not a number of units"]);
    train_fails(
        "loss-vs-output",
        OK,
        &["--layers", "4:relu,2:sigmoid", "--loss", "categorical_crossentropy"],
        &["loss categorical_crossentropy", "needs a softmax output layer", "2:sigmoid"],
    );
    train_fails(
        "bce-vs-softmax",
        OK,
        &["--layers", "2:softmax", "--loss", "binary_crossentropy"],
        &["needs a sigmoid output layer"],
    );
    // (hinge was the example here until it became a loss, issue 15.)
    train_fails("unknown-loss", OK, &["--loss", "focal"], &["loss 'focal'", "expected one of"]);
    train_fails(
        "too-few-outputs",
        "a,y\n1,a\n2,b\n3,c\n",
        &["--layers", "4:relu,2:softmax"],
        &["3 classes", "2 units", "3:softmax"],
    );
}

#[test]
fn bad_hyperparameters() {
    let cases: &[(&[&str], &[&str])] = &[
        (&["--lr", "0"], &["learning rate (--lr): must be > 0, got 0"]),
        (&["--lr", "-0.5"], &["learning rate (--lr): must be > 0, got -0.5"]),
        (&["--batch-size", "0"], &["batch size (--batch-size): must be at least 1"]),
        (&["--optimizer", "sgd", "--momentum", "1"], &["momentum: must be in [0, 1), got 1"]),
        (&["--optimizer", "sgd", "--momentum", "1.5"], &["momentum: must be in [0, 1), got 1.5"]),
        (
            &["--validation-split", "1.5"],
            &["validation split (--validation-split): must be 0 (none) or in (0, 1), got 1.5"],
        ),
        (
            &["--validation-split", "1"],
            &["validation split (--validation-split): must be 0 (none) or in (0, 1), got 1"],
        ),
        (&["--threads", "0"], &["--threads must be at least 1"]),
        (&["--optimizer", "adam", "--rho", "0.9"], &["--rho", "does not apply to the adam optimizer"]),
        (&["--optimizer", "lion"], &["optimizer 'lion'", "unknown optimizer"]),
        (&["--lr-schedule", "cosine"], &["learning-rate schedule 'cosine'", "step:EVERY:GAMMA"]),
        (&["--early-stopping", "soon"], &["early stopping 'soon'", "PATIENCE[:MIN_DELTA]"]),
        (&["--clip-norm", "0"], &["clip norm (--clip-norm): must be > 0"]),
        (&["--class-weight", "1,x"], &["class weights '1,x'"]),
        (&["--init", "ones"], &["initializer 'ones'"]),
        (&["--device", "cuda"], &["built without CUDA support", "--device cpu"]),
        (&["--checkpoint-every", "0"], &["--checkpoint-every", "at least 1"]),
    ];
    for (i, (flags, needles)) in cases.iter().enumerate() {
        train_fails(&format!("hyper-{i}"), OK, flags, needles);
    }
}

#[test]
fn bad_output_paths() {
    train_fails(
        "missing-dir",
        OK,
        &["--out", "nowhere/m.safetensors"],
        &["output path (--out)", "`nowhere` does not exist"],
    );
    train_fails(
        "file-as-dir",
        OK,
        &["--out", "ok.csv/m.safetensors"],
        &["output path (--out)", "`ok.csv` is not a directory"],
    );
    // sysfs refuses new files even to root, so this holds whoever runs the tests.
    train_fails("unwritable-dir", OK, &["--out", "/sys/m.safetensors"], &["output path (--out)", "Permission denied"]);
    train_fails("history-dir", OK, &["--history", "nowhere/h.jsonl"], &["output path (--history)", "does not exist"]);

    let d = Dir::new("dev-full");
    d.write("d.csv", OK);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--out", "/dev/full", "-q"])
        .fails_with(&["/dev/full", "No space left on device"]);
    d.mlp(&["data", "circles", "--out", "/dev/full"]).fails_with(&["/dev/full", "No space left on device"]);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--out", "m.safetensors", "-q"]).ok();
    d.mlp(&["predict", "m.safetensors", "--input", "d.csv", "--output", "/dev/full"])
        .fails_with(&["No space left on device"]);
    d.mlp(&["predict", "m.safetensors", "--input", "d.csv", "--output", "nowhere/p.csv"])
        .fails_with(&["does not exist"]);
}

#[test]
fn damaged_model_files() {
    let d = Dir::new("bad-model");
    d.write("d.csv", OK);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--out", "m.safetensors", "-q"]).ok();
    let good = std::fs::read(d.join("m.safetensors")).unwrap();
    let check = |bytes: &[u8], needles: &[&str]| {
        std::fs::write(d.join("bad.safetensors"), bytes).unwrap();
        d.mlp(&["predict", "bad.safetensors", "--input", "d.csv", "--output", "p.csv"]).fails_with(needles);
        d.mlp(&["evaluate", "bad.safetensors", "--data", "d.csv"]).fails_with(needles);
        assert!(!d.join("p.csv").exists());
    };
    check(&[], &["bad.safetensors: is not a safetensors model file", "only 0 bytes"]);
    check(&good[..good.len() / 2], &["bad.safetensors: is truncated"]);
    check(b"this is not a model file at all, just text", &["bad.safetensors: is truncated or not a safetensors file"]);
    let n = u64::from_le_bytes(good[..8].try_into().unwrap()) as usize;
    let header: serde_json::Value = serde_json::from_slice(&good[8..8 + n]).unwrap();
    let with_header = |h: &serde_json::Value| {
        let mut hs = serde_json::to_vec(h).unwrap();
        while !hs.len().is_multiple_of(8) {
            hs.push(b' ');
        }
        let mut out = (hs.len() as u64).to_le_bytes().to_vec();
        out.extend(hs);
        out.extend(&good[8 + n..]);
        out
    };
    let mut h = header.clone();
    h["__metadata__"]["format_version"] = "9".into();
    check(&with_header(&h), &["written by a newer mlp", "format version 9", "upgrade mlp"]);
    let mut h = header.clone();
    h["__metadata__"]["mlp"] = "{\"architecture\": 3".into();
    check(&with_header(&h), &["garbled `mlp` metadata"]);
    let mut h = header.clone();
    h["layers.0.weight"]["dtype"] = "F64".into();
    check(&with_header(&h), &["tensor `layers.0.weight` has dtype F64", "F32 only"]);
    let mut h = header.clone();
    let shape = h["layers.0.weight"]["shape"].clone();
    h["layers.0.weight"]["shape"] = serde_json::json!([shape[1], shape[0]]);
    check(&with_header(&h), &["tensor `layers.0.weight` has shape", "but the architecture in the metadata says"]);
    let mut h = header.clone();
    h["layers.0.bias"]["data_offsets"][1] = serde_json::json!(1u64 << 50);
    check(&with_header(&h), &["is truncated: tensor `layers.0.bias`"]);
    let mut garbled = good.clone();
    garbled[9] = b'#';
    check(&garbled, &["garbled header"]);
}

#[test]
fn predict_with_wrong_columns() {
    let d = Dir::new("predict-columns");
    d.write("d.csv", OK);
    d.mlp(&["train", "--data", "d.csv", "--epochs", "1", "--out", "m.safetensors", "-q"]).ok();
    let cases: &[(&str, &[&str])] = &[
        ("a,c\n1,2\n", &["x.csv: has a column `c` the model was not trained on", "expected the columns a, b"]),
        ("a\n1\n", &["x.csv: has no column `b`, which the model needs"]),
        ("a,b\n1,2\n3\n", &["x.csv:3"]),
        ("a,b\n1,2\n3,seven\n", &["x.csv:3:2", "`seven`"]),
        ("", &["x.csv: the file is empty"]),
    ];
    for (csv, needles) in cases {
        d.write("x.csv", csv);
        d.mlp(&["predict", "m.safetensors", "--input", "x.csv", "--output", "p.csv"]).fails_with(needles);
        assert!(!d.join("p.csv").exists(), "no partial output for {csv:?}");
        assert!(d.files().iter().all(|f| !f.ends_with(".tmp")), "temporary file left: {:?}", d.files());
    }
    // A built-in model is checked by column name too.
    d.mlp(&["train", "--data", "builtin:circles", "--epochs", "1", "--out", "c.safetensors", "-q"]).ok();
    d.write("y.csv", "x2,x3\n1,2\n");
    d.mlp(&["predict", "c.safetensors", "--input", "y.csv"]).fails_with(&["column `x3` the model was not trained on"]);
}

#[test]
fn bad_sources_and_usage() {
    let d = Dir::new("usage");
    d.mlp(&["train", "--data", "builtin:moons", "--epochs", "1"])
        .fails_with(&["builtin dataset `moons`", "unknown name"]);
    d.mlp(&["train", "--data", "builtin:circles?n=abc", "--epochs", "1"]).fails_with(&["builtin dataset"]);
    std::fs::create_dir(d.join("imgs")).unwrap();
    d.mlp(&["train", "--data", "imgs", "--epochs", "1"]).fails_with(&["imgs: no IDX images file found"]);
    std::fs::write(d.join("imgs/train-images-idx3-ubyte"), [0u8, 0, 8, 1, 0, 0, 0, 0]).unwrap();
    std::fs::write(d.join("imgs/train-labels-idx1-ubyte"), [0u8, 0, 8, 1, 0, 0, 0, 0]).unwrap();
    d.mlp(&["train", "--data", "imgs", "--epochs", "1"]).fails_with(&["train-images-idx3-ubyte"]);
    // clap's own usage errors exit with 2 as well.
    let run = d.mlp(&["train", "--epochs", "many"]);
    assert_eq!(run.code, Some(2), "{}", run.stderr);
    assert!(run.stderr.contains("invalid value 'many'"), "{}", run.stderr);
    d.mlp(&["summary", "--layers", "4:relu", "--inputs", "0"]).fails_with(&["input width"]);
}

/// Issue 5: a diverging run stops at the bad batch, says where, and keeps only finite weights.
#[test]
fn divergence_keeps_the_last_good_weights() {
    let d = Dir::new("diverge");
    d.mlp(&[
        "train",
        "--data",
        "builtin:linear",
        "--layers",
        "8:relu,1:linear",
        "--loss",
        "mse",
        "--optimizer",
        "sgd",
        "--lr",
        "100",
        "--epochs",
        "50",
        "--out",
        "m.safetensors",
        "-q",
    ])
    .fails_with(&[
        "the loss became",
        "at epoch 1, batch",
        "--clip-norm",
        "last good weights are in m.safetensors",
    ]);
    let saved = mlp::model_file::load(&d.join("m.safetensors")).expect("the kept weights load");
    assert!(saved.model.check().is_ok());
}

/// Issue 5: training says up front how much memory the data takes, and refuses a run that does not
/// fit (forced here with `MLP_MEMORY_LIMIT_BYTES`) before anything is written.
#[test]
fn memory_check_reports_and_refuses() {
    let d = Dir::new("memory");
    d.write("d.csv", OK);
    let args = ["train", "--data", "d.csv", "--epochs", "1", "--out", "m.safetensors"];
    let run = d.mlp(&args);
    run.ok();
    assert!(run.stderr.contains("data needs ~1 MiB"), "{}", run.stderr);
    std::fs::remove_file(d.join("m.safetensors")).unwrap();
    let quiet = [&args[..], &["-q"]].concat();
    d.mlp_env(&quiet, &[("MLP_MEMORY_LIMIT_BYTES", "1000")]).fails_with(&[
        "training needs about 0 MiB",
        "but only 0 MiB is available",
        "use fewer rows, a smaller model or a smaller --batch-size",
    ]);
    assert!(!d.join("m.safetensors").exists());
    d.mlp_env(&quiet, &[("MLP_MEMORY_LIMIT_BYTES", "lots")])
        .fails_with(&["MLP_MEMORY_LIMIT_BYTES must be a number of bytes, got `lots`"]);
    // Quiet runs say nothing about it.
    let run = d.mlp(&quiet);
    run.ok();
    assert!(!run.stderr.contains("data needs"), "{}", run.stderr);
}

/// Issue 5: a run that diverges only after some epochs (here at epoch 9, batch 1, right after the
/// last step of epoch 8 overflowed the weights) still keeps finite weights, in the model file and
/// in its checkpoints.
#[test]
fn late_divergence_keeps_finite_weights() {
    let d = Dir::new("diverge-late");
    let mut rng = 0x9e37_79b9_u32;
    let mut uniform = || {
        rng ^= rng << 13;
        rng ^= rng >> 17;
        rng ^= rng << 5;
        rng as f32 / u32::MAX as f32 * 2.0 - 1.0
    };
    let mut csv = String::from("a,b,y\n");
    for _ in 0..200 {
        let (a, b) = (uniform(), uniform());
        csv += &format!("{a:.4},{b:.4},{:.4}\n", 50.0 * a - 30.0 * b + 10.0);
    }
    d.write("lin.csv", &csv);
    let args = |extra: &[&'static str]| -> Vec<&str> {
        let mut a = vec!["train", "--data", "lin.csv", "--layers", "16:tanh,1:linear", "--loss", "mse"];
        a.extend(["--optimizer", "sgd", "--epochs", "60", "--seed", "1", "--out", "m.safetensors", "-q"]);
        a.extend(["--checkpoint-every", "1", "--checkpoint", "ck.safetensors"]);
        // Raw targets, every row trained on: the run that diverges late.
        a.extend(["--no-target-scaling", "--validation-split", "0"]);
        a.extend_from_slice(extra);
        a
    };
    d.mlp(&args(&["--lr", "0.2"])).fails_with(&[
        "training diverged; the last good weights are in m.safetensors",
        "the loss became",
        "at epoch ",
        ", batch ",
        "Try a smaller learning rate (--lr), gradient clipping (--clip-norm) or standardized inputs",
    ]);
    let saved = mlp::model_file::load(&d.join("m.safetensors")).expect("the kept weights load");
    assert!(saved.model.check().is_ok());
    let (ck, _) = mlp::model_file::load_checkpoint(&d.join("ck.safetensors")).expect("the checkpoint loads");
    assert!(ck.model.check().is_ok());

    // Clipping the gradient norm tames the same run: it converges.
    std::fs::remove_file(d.join("m.safetensors")).unwrap();
    d.mlp(&args(&["--lr", "0.2", "--clip-norm", "10"])).ok();
    let out = d.mlp(&["evaluate", "m.safetensors", "--data", "lin.csv", "--json"]);
    let r2 = crate::util::metric(out.ok(), "r2");
    assert!(r2 > 0.98, "with --clip-norm 10, r2 = {r2}");
}

/// Issue 5: damaged MNIST files, end to end: exit 2, the file named, what to do, no model left.
#[test]
fn damaged_idx_files() {
    fn idx(magic: u32, dims: &[u32], data: &[u8]) -> Vec<u8> {
        let mut v = magic.to_be_bytes().to_vec();
        dims.iter().for_each(|d| v.extend(d.to_be_bytes()));
        v.extend_from_slice(data);
        v
    }
    fn gzip(bytes: &[u8]) -> Vec<u8> {
        use std::io::Write;
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
        e.write_all(bytes).unwrap();
        e.finish().unwrap()
    }
    let images = idx(0x803, &[2, 2, 2], &[0, 255, 1, 2, 3, 4, 5, 6]);
    let labels = idx(0x801, &[2], &[0, 1]);
    let d = Dir::new("idx");
    let case = |name: &str, img: &[u8], lab: &[u8], needles: &[&str]| {
        let dir = d.join(name);
        std::fs::create_dir(&dir).unwrap();
        std::fs::write(dir.join("train-images-idx3-ubyte.gz"), img).unwrap();
        std::fs::write(dir.join("train-labels-idx1-ubyte.gz"), lab).unwrap();
        d.mlp(&["train", "--data", name, "--epochs", "1", "--out", "m.safetensors", "-q"]).fails_with(needles);
        assert!(!d.join("m.safetensors").exists(), "{name}: a failed run must not leave a model");
    };
    let mut corrupt = gzip(&images);
    let mid = corrupt.len() / 2;
    corrupt[mid] ^= 0x5a;
    case("corrupt", &corrupt, &gzip(&labels), &["train-images-idx3-ubyte.gz: is not a valid gzip file", "re-download"]);
    case(
        "count",
        &gzip(&images),
        &gzip(&idx(0x801, &[3], &[0, 1, 2])),
        &["train-images-idx3-ubyte.gz: has 2 images but", "has 3 labels"],
    );
    case("magic", &gzip(&labels), &gzip(&labels), &["magic number is 0x00000801, expected 0x00000803"]);
    case("truncated", &gzip(&images[..images.len() - 3]), &gzip(&labels), &["expected 8 data bytes", "but found 5"]);
}

/// The `--config` parser, with mutations of the fuzz seed corpus (a short pass of `fuzz/`'s
/// `config` target, see FUZZING.md): `Ok` or `Err`, never a panic.
#[test]
fn config_parser_never_panics() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/config");
    let mut seeds: Vec<Vec<u8>> =
        std::fs::read_dir(&dir).unwrap().map(|e| std::fs::read(e.unwrap().path()).unwrap()).collect();
    seeds.sort();
    let mut x = 0x5eed_u64;
    let mut below = |n: usize| {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        (x % n.max(1) as u64) as usize
    };
    const TELLING: &[u8] = b"\x00\xff=\"'[]{}.\n#,-0123456789e ";
    for i in 0..3000 {
        let mut v = seeds[i % seeds.len()].clone();
        for _ in 0..1 + below(4) {
            let at = below(v.len() + 1);
            match below(3) {
                0 if at < v.len() => v[at] = TELLING[below(TELLING.len())],
                1 => v.insert(at, TELLING[below(TELLING.len())]),
                _ if at < v.len() => {
                    let end = (at + 1 + below(12)).min(v.len());
                    v.drain(at..end);
                }
                _ => v.push(b'='),
            }
        }
        if let Ok(text) = std::str::from_utf8(&v) {
            let _ = crate::flags::parse_config(text, "m.toml");
        }
    }
}
