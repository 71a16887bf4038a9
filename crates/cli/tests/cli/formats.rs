//! Issue 10, classes 7 and 8 as the command line sees them: numbers beyond `f32` and non-finite
//! results are errors naming file, line and column in train, evaluate and predict alike (never a
//! `NaN` with exit 0); every error is one line, argument errors included; empty paths name their
//! flag; other delimiters, gzip files and unclosed quotes are recognized.

use crate::util::{Dir, OK, no_temporaries, snapshot, trained};

#[test]
fn numbers_beyond_f32_name_file_line_and_column_everywhere() {
    let d = trained("fmt-f32");
    d.write("big.csv", "a,b,y\n1,2,0\n3,1e39,1\n5,6,0\n");
    d.write("bigx.csv", "a,b\n1,2\n-4e40,1\n");
    let before = snapshot(&d.path);
    d.mlp(&["train", "--data", "big.csv", "--epochs", "1", "--out", "n.safetensors", "-q"]).fails_with(&[
        "big.csv:3:2",
        "`1e39`",
        "beyond the range of 32-bit floats",
    ]);
    d.mlp(&["evaluate", "m.safetensors", "--data", "big.csv"]).fails_with(&["big.csv:3:2", "32-bit floats"]);
    d.mlp(&["predict", "m.safetensors", "--input", "bigx.csv", "--output", "p.csv"]).fails_with(&[
        "bigx.csv:3:1",
        "`-4e40`",
        "32-bit floats",
    ]);
    d.mlp_stdin(&["predict", "m.safetensors"], Some("a,b\n1,2\n3,1e300\n")).fails_with(&["<stdin>:3:2"]);
    d.mlp(&["train", "--data", "d.csv", "--test", "big.csv", "--epochs", "1", "--out", "n.safetensors", "-q"])
        .fails_with(&["big.csv:3:2"]);
    assert!(snapshot(&d.path) == before, "nothing written, nothing changed");
}

#[test]
fn predict_and_evaluate_never_print_nan() {
    let d = Dir::new("fmt-nan");
    d.write("r.csv", "a,y\n1,2\n2,4\n3,6\n4,8\n");
    d.mlp(&[
        "train",
        "--data",
        "r.csv",
        "--layers",
        "8:relu,1:linear",
        "--loss",
        "mse",
        "--epochs",
        "3",
        "--out",
        "r.safetensors",
        "-q",
    ])
    .ok();
    // In f32's range, but far enough out that the network's sums overflow.
    d.write("huge.csv", "a\n1\n3e38\n");
    d.write("huge_y.csv", "a,y\n1,2\n3e38,1\n");
    let run = d.mlp(&["predict", "r.safetensors", "--input", "huge.csv"]);
    if run.code == Some(0) {
        assert!(!run.stdout.to_lowercase().contains("nan") && !run.stdout.contains("inf"), "{}", run.stdout);
    } else {
        run.fails_with(&["huge.csv:3", "the prediction for this row is"]);
        assert!(!run.stdout.contains("NaN"));
    }
    let run = d.mlp(&["evaluate", "r.safetensors", "--data", "huge_y.csv", "--json"]);
    if run.code == Some(0) {
        let v: serde_json::Value = serde_json::from_str(&run.stdout).unwrap();
        let metrics = v["metrics"].as_object().unwrap();
        assert!(metrics.values().all(|m| m.as_f64().is_some_and(f64::is_finite)), "{}", run.stdout);
    } else {
        run.fails_with(&["r.safetensors", "came out"]);
    }
    assert!(!d.join("p.csv").exists());
}

#[test]
fn argument_errors_are_one_line_with_the_help_to_read() {
    let d = Dir::new("fmt-clap");
    let cases: &[(&[&str], &[&str])] = &[
        (
            &["train", "--epochs", "many"],
            &["mlp: error: invalid value 'many' for '--epochs <N>'", "; see mlp train --help"],
        ),
        (&["train", "--bogus"], &["unexpected argument '--bogus'", "see mlp train --help"]),
        (&["predict"], &["required arguments were not provided: <MODEL>", "see mlp predict --help"]),
        (&["evaluate", "m.safetensors"], &["--data <SOURCE>", "see mlp evaluate --help"]),
        (&["trian"], &["unrecognized subcommand 'trian'", "see mlp --help"]),
        (&[], &["no subcommand given", "see mlp --help"]),
        (&["train", "--log-format", "xml"], &["invalid value 'xml'", "see mlp train --help"]),
        (&["predict", "m.safetensors", "--delimiter", "ab"], &["invalid value 'ab' for '--delimiter <CHAR>'"]),
        (&["summary", "--layers", "4:relu"], &["--inputs", "see mlp summary --help"]),
    ];
    for (args, needles) in cases {
        d.mlp(args).fails_with(needles);
    }
    assert!(d.files().is_empty());
}

#[test]
fn empty_paths_name_their_flag() {
    let d = trained("fmt-empty");
    let before = snapshot(&d.path);
    d.mlp(&["train", "--data", "", "--epochs", "1"]).fails_with(&["invalid --data: is empty"]);
    d.mlp(&["train", "--data", "d.csv", "--test", "", "--epochs", "1"]).fails_with(&["invalid --test: is empty"]);
    // File flags are refused empty by the argument parser, on one line naming the flag.
    d.mlp(&["train", "--data", "d.csv", "--out", "", "--epochs", "1"])
        .fails_with(&["'--out <FILE>'", "none was supplied"]);
    d.mlp(&["train", "--data", "d.csv", "--history", "", "--epochs", "1"]).fails_with(&["'--history <FILE.jsonl>'"]);
    d.mlp(&["train", "--config", ""]).fails_with(&["'--config <FILE>'"]);
    d.mlp(&["evaluate", "m.safetensors", "--data", ""]).fails_with(&["invalid --data: is empty"]);
    d.mlp(&["predict", "m.safetensors", "--input", ""]).fails_with(&["'--input <FILE.csv>'"]);
    d.mlp(&["predict", "m.safetensors", "--input", "d.csv", "--output", ""]).fails_with(&["'--output <FILE.csv>'"]);
    d.mlp(&["plot", "--history", "h.jsonl", "--model", "m.safetensors", "--data", "", "--out", "f"])
        .fails_with(&["invalid --data: is empty"]);
    assert!(snapshot(&d.path) == before);
}

#[test]
fn semicolon_and_tab_files_point_at_delimiter_and_read_with_it() {
    let d = trained("fmt-delim");
    let semi = OK.replace(',', ";");
    let tab = OK.replace(',', "\t");
    d.write("semi.csv", &semi);
    d.write("tab.tsv", &tab);
    d.mlp(&["train", "--data", "semi.csv", "--epochs", "1", "--out", "n.safetensors", "-q"])
        .fails_with(&["semi.csv: has a single column, `a;b;y`", "pass --delimiter ';'"]);
    d.mlp(&["train", "--data", "tab.tsv", "--epochs", "1", "--out", "n.safetensors", "-q"]).fails_with(&[
        "tab.tsv: has a single column",
        "separated by tabs",
        "--delimiter tab",
    ]);
    d.mlp(&["evaluate", "m.safetensors", "--data", "semi.csv"]).fails_with(&["--delimiter ';'"]);
    d.mlp(&["predict", "m.safetensors", "--input", "tab.tsv"]).fails_with(&["--delimiter tab"]);
    assert!(!d.join("n.safetensors").exists());
    // With the flag they read as the comma file does, with the same numbers.
    d.mlp(&[
        "train",
        "--data",
        "semi.csv",
        "--delimiter",
        ";",
        "--epochs",
        "2",
        "--layers",
        "4:relu,2:softmax",
        "--out",
        "s.safetensors",
        "-q",
    ])
    .ok();
    assert_eq!(crate::util::weight_bits(&d.join("s.safetensors")), crate::util::weight_bits(&d.join("m.safetensors")));
    let comma = d.mlp(&["evaluate", "m.safetensors", "--data", "d.csv", "--json"]).ok().to_string();
    assert_eq!(d.mlp(&["evaluate", "m.safetensors", "--data", "semi.csv", "--delimiter", ";", "--json"]).ok(), comma);
    let p = d.mlp(&["predict", "m.safetensors", "--input", "d.csv"]).ok().to_string();
    assert_eq!(d.mlp(&["predict", "m.safetensors", "--input", "tab.tsv", "--delimiter", "tab"]).ok(), p);
    // A config file may set it too.
    d.write("semi.toml", "data = \"semi.csv\"\ndelimiter = \";\"\nepochs = 1\nout = \"c.safetensors\"\n");
    d.mlp(&["train", "--config", "semi.toml", "-q"]).ok();
}

#[test]
fn gzip_csv_is_read() {
    use std::io::Write;
    let d = trained("fmt-gzip");
    let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::default());
    e.write_all(OK.as_bytes()).unwrap();
    std::fs::write(d.join("d.csv.gz"), e.finish().unwrap()).unwrap();
    d.mlp(&[
        "train",
        "--data",
        "d.csv.gz",
        "--epochs",
        "2",
        "--layers",
        "4:relu,2:softmax",
        "--out",
        "g.safetensors",
        "-q",
    ])
    .ok();
    assert_eq!(crate::util::weight_bits(&d.join("g.safetensors")), crate::util::weight_bits(&d.join("m.safetensors")));
    let p = d.mlp(&["predict", "m.safetensors", "--input", "d.csv"]).ok().to_string();
    assert_eq!(d.mlp(&["predict", "m.safetensors", "--input", "d.csv.gz"]).ok(), p);
    d.mlp(&["evaluate", "m.safetensors", "--data", "d.csv.gz"]).ok();
    // A damaged one says so, with the file.
    let mut bad = std::fs::read(d.join("d.csv.gz")).unwrap();
    let n = bad.len();
    bad.truncate(n - 12);
    std::fs::write(d.join("bad.csv.gz"), bad).unwrap();
    let run = d.mlp(&["evaluate", "m.safetensors", "--data", "bad.csv.gz"]);
    run.fails_with(&["bad.csv.gz"]);
}

#[test]
fn unclosed_quotes_name_file_and_line() {
    let d = trained("fmt-quote");
    for (name, text, needles) in [
        ("q1.csv", "a,b,y\n1,2,0\n3,\"4,1\n5,6,0\n", &["q1.csv:3:2", "never closed"][..]),
        ("q2.csv", "a,b,y\n1,2,0\n3,4,\"1\n5,6,0\n7,8,1\n", &["q2.csv:3:3", "never closed"]),
    ] {
        d.write(name, text);
        d.mlp(&["train", "--data", name, "--epochs", "1", "--out", "n.safetensors", "-q"]).fails_with(needles);
        d.mlp(&["evaluate", "m.safetensors", "--data", name]).fails_with(needles);
        d.mlp(&["predict", "m.safetensors", "--input", name, "--output", "p.csv"]).fails_with(&["never closed"]);
    }
    // A quoted field with a line break inside, properly closed, is fine.
    d.write("ok.csv", "a,b,y\n1,2,0\n3,4,\"1\"\n5,6,0\n");
    d.mlp(&["evaluate", "m.safetensors", "--data", "ok.csv"]).ok();
    assert!(!d.join("n.safetensors").exists() && !d.join("p.csv").exists());
    no_temporaries(&d.path, "quotes");
}
