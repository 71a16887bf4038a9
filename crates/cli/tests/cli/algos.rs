//! Dropout, batch normalization, the full-batch optimizers and the new losses through the command line.

use crate::util::Dir;

#[test]
fn dropout_batchnorm_lbfgs_train_summarize_predict_and_export() {
    let d = Dir::new("algos");
    let run = d.mlp(&[
        "train",
        "--data",
        "builtin:circles",
        "--layers",
        "16:linear,batchnorm:relu,dropout(0.1),2:softmax",
        "--optimizer",
        "adam",
        "--lr",
        "0.01",
        "--epochs",
        "30",
        "--quiet",
        "--out",
        "m.safetensors",
    ]);
    run.ok();
    let summary = d.mlp(&["summary", "m.safetensors"]).ok().to_string();
    assert!(
        summary.contains("batchnorm_2 (BatchNorm, relu)") && summary.contains("dropout_3 (Dropout, linear)"),
        "{summary}"
    );
    assert!(summary.contains("Non-trainable params: 32"), "{summary}");
    let json = d.mlp(&["evaluate", "m.safetensors", "--data", "builtin:circles", "--json"]).ok().to_string();
    let acc = crate::util::metric(&json, "accuracy");
    assert!(acc > 0.9, "dropout and batchnorm on circles: accuracy {acc}");
    d.mlp(&["export", "m.safetensors", "--onnx", "m.onnx"]).ok();
    assert!(d.join("m.onnx").exists());

    // L-BFGS: full batch, one torch step per epoch, stopping when it converges.
    let run = d.mlp(&[
        "train",
        "--data",
        "builtin:circles",
        "--layers",
        "16:relu,2:softmax",
        "--optimizer",
        "lbfgs(history_size=10,max_iter=10)",
        "--epochs",
        "20",
        "--out",
        "l.safetensors",
    ]);
    assert!(run.ok().contains("converged in epoch") || run.stderr.contains("converged in epoch"), "{}", run.stderr);
    let json = d.mlp(&["evaluate", "l.safetensors", "--data", "builtin:circles", "--json"]).ok().to_string();
    let acc = crate::util::metric(&json, "accuracy");
    assert!(acc > 0.95, "L-BFGS on circles: accuracy {acc}");
}

#[test]
fn new_optimizers_and_losses_are_accepted_and_checked() {
    let d = Dir::new("algos-flags");
    for opt in ["nadam", "adamax", "rprop"] {
        d.mlp(&[
            "train",
            "--data",
            "builtin:xor",
            "--layers",
            "4:tanh,1:sigmoid",
            "--loss",
            "mse",
            "--optimizer",
            opt,
            "--epochs",
            "3",
            "--quiet",
            "--out",
            "m.safetensors",
        ])
        .ok();
    }
    d.mlp(&[
        "train",
        "--data",
        "builtin:linear",
        "--layers",
        "1:linear",
        "--loss",
        "huber(0.5)",
        "--optimizer",
        "nadam",
        "--beta2",
        "0.99",
        "--epochs",
        "3",
        "--quiet",
        "--out",
        "h.safetensors",
    ])
    .ok();
    d.mlp(&[
        "train",
        "--data",
        "builtin:xor",
        "--layers",
        "4:tanh,1:sigmoid",
        "--optimizer",
        "rprop",
        "--beta1",
        "0.9",
        "--out",
        "x.safetensors",
    ])
    .fails_with(&["--beta1", "rprop"]);
    d.mlp(&[
        "train",
        "--data",
        "builtin:xor",
        "--layers",
        "4:tanh,1:sigmoid",
        "--optimizer",
        "lbfgs(history=3)",
        "--out",
        "x.safetensors",
    ])
    .fails_with(&["history"]);
    d.mlp(&["summary", "--layers", "8:relu,dropout(2),1:sigmoid", "--inputs", "3"]).fails_with(&["dropout rate"]);
}
