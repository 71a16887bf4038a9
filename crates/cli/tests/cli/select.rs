//! Model selection end to end: `mlp cv` folds (disjoint, every row once, stratified within one
//! row, the same for any thread count) and `mlp tune` (its best setting at least as good as each
//! grid point cross-validated alone, its saved model reproducing the reported scores, its table,
//! plot and metadata). See: issue 15.

use crate::plots::check_png;
use crate::util::{Dir, metric};
use serde_json::Value;

/// An unbalanced three-class CSV: 37, 11 and 52 rows of classes a, b, c (interleaved).
fn three_classes() -> (String, Vec<usize>) {
    let mut labels: Vec<usize> = [(0, 37), (1, 11), (2, 52)].iter().flat_map(|&(c, n)| vec![c; n]).collect();
    // A fixed interleaving, so that the file is not sorted by class.
    labels.sort_by_key(|&c| c);
    let n = labels.len();
    let order: Vec<usize> = (0..n).map(|i| (i * 37) % n).collect();
    let labels: Vec<usize> = order.iter().map(|&i| labels[i]).collect();
    let mut csv = String::from("x1,x2,y\n");
    for (i, &c) in labels.iter().enumerate() {
        csv.push_str(&format!("{},{},{}\n", (i % 7) as f32 + c as f32, (i % 3) as f32 - c as f32, ["a", "b", "c"][c]));
    }
    (csv, labels)
}

#[test]
fn cv_folds_are_disjoint_cover_every_row_and_keep_class_proportions() {
    let d = Dir::new("cv-folds");
    let (csv, labels) = three_classes();
    d.write("d.csv", &csv);
    let out = d.mlp(&[
        "cv",
        "--data",
        "d.csv",
        "--layers",
        "4:relu,3:softmax",
        "--epochs",
        "2",
        "--folds",
        "5",
        "--repeats",
        "2",
        "--fold-file",
        "folds.csv",
        "-q",
    ]);
    let text = out.ok();
    assert!(text.contains("mean ± std over 10 folds: loss"), "{text}");
    let folds = std::fs::read_to_string(d.join("folds.csv")).unwrap();
    let mut lines = folds.lines();
    assert_eq!(lines.next(), Some("repeat,row,fold"));
    // (repeat, row) → fold: each row exactly once per repeat, so the folds are disjoint and cover all.
    let mut fold_of = vec![vec![None; labels.len()]; 2];
    for line in lines {
        let v: Vec<usize> = line.split(',').map(|f| f.parse().unwrap()).collect();
        assert!(fold_of[v[0] - 1][v[1]].replace(v[2]).is_none(), "row {} scored twice in repeat {}", v[1], v[0]);
    }
    for (r, folds) in fold_of.iter().enumerate() {
        assert!(folds.iter().all(Option::is_some), "repeat {}: a row is in no fold", r + 1);
        for k in 1..=5 {
            let rows: Vec<usize> = (0..labels.len()).filter(|&i| folds[i] == Some(k)).collect();
            for (c, n) in [(0, 37.0), (1, 11.0), (2, 52.0)] {
                let got = rows.iter().filter(|&&i| labels[i] == c).count() as f64;
                assert!((got - n / 5.0).abs() < 1.0, "repeat {} fold {k}: class {c} has {got} rows of {n}", r + 1);
            }
        }
    }
    assert_ne!(fold_of[0], fold_of[1], "the second repeat reshuffles");
}

#[test]
fn cv_results_are_identical_for_one_and_two_threads() {
    let d = Dir::new("cv-threads");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "cv",
            "--data",
            "builtin:circles?n=150&noise=0.15",
            "--layers",
            "8:tanh,2:softmax",
            "--epochs",
            "15",
            "--folds",
            "3",
            "--seed",
            "4",
            "--log-format",
            "json",
            "-q",
        ];
        args.extend_from_slice(extra);
        d.mlp(&args).ok().to_string()
    };
    let one = run(&["--threads", "1"]);
    let v: Value = serde_json::from_str(&one).unwrap();
    assert_eq!(v["folds"].as_array().unwrap().len(), 3);
    assert!(v["mean"]["accuracy"].as_f64().unwrap() > 0.5, "{one}");
    assert_eq!(one, run(&["--threads", "2"]), "threads 1 and 2 differ");
    assert_eq!(one, run(&["--threads", "2", "--jobs", "1"]), "one fold at a time on two threads differs");
}

const CIRCLES: &str = "builtin:circles?n=240&noise=0.2&factor=0.5";
const CIRCLES_TEST: &str = "builtin:circles?n=200&noise=0.2&factor=0.5&seed=9";
const LAYERS: [&str; 3] = ["2:relu,1:sigmoid", "8:relu,1:sigmoid", "32:relu,1:sigmoid"];
const LRS: [&str; 2] = ["0.003", "0.03"];
const COMMON: [&str; 8] = ["--loss", "binary_crossentropy", "--epochs", "40", "--folds", "4", "--seed", "1"];

#[test]
fn tune_on_circles_beats_every_grid_point_and_its_model_reproduces_its_scores() {
    let d = Dir::new("tune-circles");
    let grid_layers = format!("layers={}", LAYERS.join(";"));
    let mut args = vec!["tune", "--data", CIRCLES, "--test", CIRCLES_TEST, "--grid", &grid_layers];
    // Repeated --grid for one key adds values.
    args.extend(["--grid", "lr=0.003", "--grid", "lr=0.03", "--results", "res", "--log-format", "json", "-q"]);
    args.extend(COMMON);
    let out = d.mlp(&args);
    let report: Value = serde_json::from_str(out.ok()).unwrap();
    let best = report["best"]["score"].as_f64().unwrap();
    assert_eq!(report["trials"], 6);

    // Each grid point alone, cross-validated by `mlp cv` with the same flags.
    let mut alone = Vec::new();
    for layers in LAYERS {
        for lr in LRS {
            let mut a = vec!["cv", "--data", CIRCLES, "--layers", layers, "--lr", lr, "--log-format", "json", "-q"];
            a.extend(COMMON);
            let v: Value = serde_json::from_str(d.mlp(&a).ok()).unwrap();
            alone.push(((layers, lr), v["mean"]["accuracy"].as_f64().unwrap()));
        }
    }
    for ((layers, lr), acc) in &alone {
        assert!(best >= *acc, "tune's best {best} is worse than layers={layers} lr={lr} alone ({acc})");
    }
    let top = alone.iter().map(|(_, a)| *a).fold(f64::MIN, f64::max);
    assert_eq!(best, top, "tune's score of its best setting is that setting's cv score");
    assert!(best > 0.8, "circles should be learnt by some setting: {best}");

    // The saved model: the best settings in its metadata, and the scores reported.
    let model = d.join("res/best.safetensors");
    let saved = mlp::model_file::load(&model).unwrap();
    let training = saved.meta.training.clone().unwrap();
    let settings = &report["best"]["settings"];
    assert_eq!(training["settings"]["layers"], settings["layers"]);
    assert_eq!(
        training["settings"]["lr"].as_f64().unwrap() as f32,
        settings["lr"].as_str().unwrap().parse::<f32>().unwrap()
    );
    assert_eq!(training["tuning"]["score"].as_f64().unwrap(), best);
    let m = model.to_str().unwrap();
    let train_acc = metric(d.mlp(&["evaluate", m, "--data", CIRCLES, "--json"]).ok(), "accuracy");
    assert_eq!(train_acc, report["final"]["train"]["accuracy"].as_f64().unwrap());
    let test_acc = metric(d.mlp(&["evaluate", m, "--data", CIRCLES_TEST, "--json"]).ok(), "accuracy");
    assert_eq!(test_acc, report["final"]["test"]["accuracy"].as_f64().unwrap());

    // The table, best first, with the layer specs (which hold commas) quoted.
    let csv = std::fs::read_to_string(d.join("res/results.csv")).unwrap();
    let rows: Vec<&str> = csv.lines().collect();
    assert_eq!(rows.len(), 7, "{csv}");
    assert!(rows[0].starts_with("rank,trial,layers,lr,epochs,score,score_std"), "{csv}");
    assert!(rows[1].starts_with(&format!(
        "1,{},\"{}\"",
        report["best"]["trial"],
        settings["layers"].as_str().unwrap()
    )));
    let json: Value = serde_json::from_str(&std::fs::read_to_string(d.join("res/results.json")).unwrap()).unwrap();
    let scores: Vec<f64> = json["trials"].as_array().unwrap().iter().map(|t| t["score"].as_f64().unwrap()).collect();
    assert!(scores.windows(2).all(|w| w[0] >= w[1]), "sorted best first: {scores:?}");
    check_png(&d.join("res/scores.png"));
}

#[test]
fn tune_random_search_with_halving_stops_weak_trials() {
    let d = Dir::new("tune-halving");
    let out = d.mlp(&[
        "tune",
        "--data",
        "builtin:circles?n=120&noise=0.1",
        "--layers",
        "8:relu,2:softmax",
        "--random",
        "lr=1e-4..1e-1:log",
        "--random",
        "batch-size=8..64",
        "--trials",
        "9",
        "--halving",
        "--epochs",
        "9",
        "--folds",
        "3",
        "--results",
        "r",
        "-q",
    ]);
    let text = out.ok();
    assert!(text.starts_with("best of 9 trials: lr="), "{text}");
    let json: Value = serde_json::from_str(&std::fs::read_to_string(d.join("r/results.json")).unwrap()).unwrap();
    let rungs: Vec<(u64, u64)> = json["rungs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| (r["trials"].as_u64().unwrap(), r["epochs"].as_u64().unwrap()))
        .collect();
    assert_eq!(rungs, [(9, 1), (3, 3), (1, 9)]);
    let trials = json["trials"].as_array().unwrap();
    assert_eq!(trials[0]["epochs"], 9);
    assert_eq!(trials.iter().filter(|t| t["status"] == "ok").count(), 1);
    for t in trials {
        let lr: f64 = t["settings"]["lr"].as_str().unwrap().parse().unwrap();
        assert!((1e-4..=1e-1).contains(&lr), "{lr}");
    }
    check_png(&d.join("r/scores.png"));
}

#[test]
fn bad_search_and_cv_flags_fail_on_one_line() {
    let d = Dir::new("select-errors");
    let data = ["--data", "builtin:circles?n=60"];
    let cases: &[(&[&str], &[&str])] = &[
        (&["tune", "--grid", "layers"], &["--grid `layers`", "KEY=VALUES"]),
        (&["tune", "--grid", "units=3;4"], &["`units` is not a flag of mlp train"]),
        (&["tune", "--grid", "out=a;b"], &["--out cannot be searched"]),
        (&["tune", "--grid", "lr=0.1;"], &["a value is empty"]),
        (&["tune", "--grid", "lr=0.1;x"], &["trial lr=x"]),
        (&["tune", "--random", "lr=0..1:log"], &["log range must be above 0"]),
        (&["tune", "--grid", "lr=1e-3..1e-1"], &["trial lr=1e-3..1e-1"]),
        (&["tune", "--grid", "nesterov=maybe", "--optimizer", "sgd"], &["--nesterov is a switch"]),
        (&["tune", "--grid", "epochs=2;4", "--halving"], &["do not search --epochs"]),
        (&["tune"], &["nothing to search"]),
        (&["cv", "--out", "m.safetensors"], &["--out", "does not apply to mlp cv"]),
        (&["cv", "--folds", "1"], &["folds (--folds)", "at least 2"]),
        (&["cv", "--folds", "100"], &["100 folds need at least 100 rows"]),
    ];
    for (args, needles) in cases {
        let mut a: Vec<&str> = args.to_vec();
        a.extend(data);
        a.extend(["--epochs", "1"]);
        d.mlp(&a).fails_with(needles);
    }
    let no_data = d.mlp(&["cv", "--layers", "4:relu,2:softmax"]);
    no_data.fails_with(&["mlp cv needs training data"]);
    assert_eq!(d.files(), Vec::<String>::new(), "a refused run writes nothing");
}

#[test]
fn cv_reads_data_from_the_config_file_and_refuses_its_outputs() {
    let d = Dir::new("cv-config");
    d.write("ok.toml", "data = \"builtin:circles?n=60\"\nlayers = \"4:relu,2:softmax\"\nepochs = 1\n");
    let text = d.mlp(&["cv", "--config", "ok.toml", "--folds", "3", "-q"]).ok().to_string();
    assert!(text.contains("mean ± std over 3 folds"), "{text}");
    d.write("plots.toml", "data = \"builtin:circles?n=60\"\nplots = \"p\"\n");
    d.mlp(&["cv", "--config", "plots.toml"]).fails_with(&["--plots", "does not apply to mlp cv"]);
    assert!(!d.join("p").exists());
}

#[test]
fn tune_scores_on_a_holdout_and_records_it() {
    let d = Dir::new("tune-holdout");
    let out = d.mlp(&[
        "tune",
        "--data",
        "builtin:circles?n=100&noise=0.1",
        "--layers",
        "8:relu,2:softmax",
        "--grid",
        "lr=0.001;0.01",
        "--holdout",
        "0.25",
        "--epochs",
        "5",
        "--out",
        "best.safetensors",
        "-q",
    ]);
    assert!(out.ok().contains("by a 0.25 holdout (stratified)"), "{}", out.stdout);
    let json: Value = serde_json::from_str(&std::fs::read_to_string(d.join("tune/results.json")).unwrap()).unwrap();
    assert_eq!(json["resampling"]["kind"], "holdout");
    for t in json["trials"].as_array().unwrap() {
        assert_eq!(t["folds"].as_array().unwrap().len(), 1);
    }
    let saved = mlp::model_file::load(&d.join("best.safetensors")).unwrap();
    assert_eq!(saved.meta.training.unwrap()["tuning"]["resampling"]["kind"], "holdout");
}
