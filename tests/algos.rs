//! The learning algorithms of issue 15 against PyTorch: dropout and BatchNorm1d training steps,
//! NAdam / Adamax / Rprop / LBFGS (with and without strong-Wolfe) trajectories and the new
//! losses' values, all from `golden/torch_algos.py` (float64; regenerate with
//! `/work/bench-venv/bin/python tests/golden/torch_algos.py > tests/golden/torch_algos.json`).

use mlp::backend::{Backend, Cpu};
use mlp::data::{Dataset, Targets};
use mlp::nn::{LayerKind, Net};
use mlp::optim::{OptimizerConfig, UpdateRule, update_slice};
use mlp::train::{FitConfig, Next, Session, TrainingData};
use mlp::{Activation, Loss, Matrix, Model, ModelConfig};
use serde_json::Value;

fn golden() -> Value {
    serde_json::from_str(include_str!("golden/torch_algos.json")).unwrap()
}

fn floats(v: &Value) -> Vec<f64> {
    match v {
        Value::Array(a) => a.iter().flat_map(floats).collect(),
        Value::Number(n) => vec![n.as_f64().unwrap()],
        Value::Bool(b) => vec![f64::from(u8::from(*b))],
        other => panic!("not numbers: {other}"),
    }
}

fn matrix(v: &Value) -> Matrix {
    let rows = v.as_array().unwrap();
    let cols = rows[0].as_array().unwrap().len();
    Matrix::new(rows.len(), cols, floats(v).iter().map(|&x| x as f32).collect())
}

/// `max_i |got − want| / max(|want|, floor)`.
fn worst(got: &[f64], want: &[f64], floor: f64) -> f64 {
    assert_eq!(got.len(), want.len(), "lengths differ");
    got.iter().zip(want).map(|(g, w)| (g - w).abs() / w.abs().max(floor)).fold(0.0, f64::max)
}

/// Every parameter of `model` in storage order (the golden's flat layout).
fn flat(model: &Model) -> Vec<f64> {
    model.params.iter().flat_map(|l| &l.tensors).flat_map(|t| t.data.iter().map(|&v| v as f64)).collect()
}

/// `cfg` with its parameters set from the flat vector `values`.
fn with_params(cfg: &ModelConfig, values: &[f64]) -> Model {
    let mut model = cfg.init(0).unwrap();
    let mut at = 0;
    for t in model.params.iter_mut().flat_map(|l| l.tensors.iter_mut()) {
        for v in &mut t.data {
            *v = values[at] as f32;
            at += 1;
        }
    }
    assert_eq!(at, values.len(), "the golden has as many parameters as the model");
    model
}

/// One train-mode forward, loss, backward and SGD step on the whole of `x`; returns the loss
/// and the network (still in train mode).
fn sgd_step(model: &Model, x: &Matrix, t: &Matrix, lr: f32, keep: Option<(usize, Vec<bool>)>) -> (f64, Net<Cpu<f32>>) {
    let be = Cpu::<f32>::new(1).unwrap();
    let mut net = Net::new(&be, model, x.rows);
    let opt = OptimizerConfig::sgd(lr);
    net.init_optimizer(&opt);
    if let Some((layer, keep)) = keep {
        net.set_dropout_mask(layer, Some(&keep));
    }
    net.set_training(true);
    net.set_input(x);
    net.forward(x.rows);
    let tb = be.upload(&t.data);
    let loss = net.loss(Loss::CategoricalCrossEntropy, x.rows, &tb, None, Some(1.0 / x.rows as f64)) / x.rows as f64;
    net.backward(x.rows);
    net.step(&opt);
    (loss, net)
}

#[test]
fn dropout_step_with_torchs_mask_matches_torch() {
    let g = golden();
    let d = &g["dropout"];
    let (x, t) = (matrix(&g["x"]), matrix(&g["t"]));
    let cfg = ModelConfig::parse(4, "6:tanh,dropout(0.3),3:softmax").unwrap();
    assert_eq!(cfg.layers[1].kind, LayerKind::Dropout { rate: 0.3 });
    let model = with_params(&cfg, &floats(&d["start"]));
    let keep: Vec<bool> = floats(&d["keep"]).iter().map(|&k| k != 0.0).collect();
    assert!(keep.iter().any(|k| !k), "the golden mask drops something");
    let (loss, net) = sgd_step(&model, &x, &t, d["lr"].as_f64().unwrap() as f32, Some((1, keep)));
    let loss_err = (loss - d["loss"].as_f64().unwrap()).abs();
    let w = worst(&flat(&net.to_model()), &floats(&d["after"]), 1e-2);
    println!("dropout: loss error {loss_err:.2e}, worst weight error {w:.2e}");
    assert!(loss_err < 1e-5 && w < 1e-5, "dropout step differs from torch: loss {loss_err:e}, weights {w:e}");

    // The drawn mask (no injection) differs from torch's, so the same check fails: the test can fail.
    let (_, drawn) = sgd_step(&model, &x, &t, d["lr"].as_f64().unwrap() as f32, None);
    assert!(worst(&flat(&drawn.to_model()), &floats(&d["after"]), 1e-2) > 1e-3);
}

#[test]
fn batchnorm_train_step_and_eval_match_torch_batchnorm1d() {
    let g = golden();
    let b = &g["batchnorm"];
    let (x, t) = (matrix(&g["x"]), matrix(&g["t"]));
    let cfg = ModelConfig::parse(4, "6:linear,batchnorm:tanh,3:softmax").unwrap();
    assert_eq!(cfg.layers[1].kind, LayerKind::BatchNorm { momentum: 0.1, eps: 1e-5 });
    assert_eq!(cfg.layers[1].activation, Activation::Tanh);
    let model = with_params(&cfg, &floats(&b["start"]));

    // Train mode: the outputs of the batch statistics.
    let be = Cpu::<f32>::new(1).unwrap();
    let mut net = Net::new(&be, &model, x.rows);
    net.set_training(true);
    let train_out: Vec<f64> = {
        let out = net.predict(&x);
        out.data.iter().map(|&v| v as f64).collect()
    };
    let wt = worst(&train_out, &floats(&b["train_output"]), 1e-2);

    let (loss, mut net) = sgd_step(&model, &x, &t, b["lr"].as_f64().unwrap() as f32, None);
    let after = net.to_model();
    let loss_err = (loss - b["loss"].as_f64().unwrap()).abs();
    // Weights, biases, γ, β and the running mean and (unbiased) variance after one step.
    let w = worst(&flat(&after), &floats(&b["after"]), 1e-2);
    net.set_training(false);
    let eval_out: Vec<f64> = net.predict(&x).data.iter().map(|&v| v as f64).collect();
    let we = worst(&eval_out, &floats(&b["eval_output"]), 1e-2);
    // The model's own predict is eval mode too.
    let model_eval: Vec<f64> = after.predict(&x).unwrap().data.iter().map(|&v| v as f64).collect();
    println!("batchnorm: train outputs {wt:.2e}, loss {loss_err:.2e}, params after {w:.2e}, eval outputs {we:.2e}");
    assert!(wt < 1e-5 && loss_err < 1e-5 && w < 1e-5 && we < 1e-5, "{wt:e} {loss_err:e} {w:e} {we:e}");
    assert_eq!(model_eval, eval_out);
    // Eval mode differs from train mode here, so mixing them up fails the check above.
    assert!(worst(&train_out, &floats(&b["eval_output"]), 1e-2) > 1e-3);
}

fn optim_config(name: &str, h: &Value) -> OptimizerConfig {
    let f = |k: &str| h[k].as_f64().unwrap() as f32;
    let pair = |k: &str| {
        let v = floats(&h[k]);
        (v[0] as f32, v[1] as f32)
    };
    let wd = h.get("weight_decay").and_then(Value::as_f64).unwrap_or(0.0) as f32;
    match name {
        "nadam" | "nadam_wd" => {
            let (beta1, beta2) = pair("betas");
            OptimizerConfig::Nadam {
                lr: f("lr"),
                beta1,
                beta2,
                eps: f("eps"),
                momentum_decay: f("momentum_decay"),
                weight_decay: wd,
            }
        }
        "adamax" | "adamax_wd" => {
            let (beta1, beta2) = pair("betas");
            OptimizerConfig::Adamax { lr: f("lr"), beta1, beta2, eps: f("eps"), weight_decay: wd }
        }
        "rprop" | "rprop_tight" => {
            let ((eta_minus, eta_plus), (step_min, step_max)) = (pair("etas"), pair("step_sizes"));
            OptimizerConfig::Rprop { lr: f("lr"), eta_minus, eta_plus, step_min, step_max }
        }
        other => panic!("no mapping for {other}"),
    }
}

#[test]
fn nadam_adamax_rprop_follow_torch_for_eight_steps() {
    let g = golden();
    let o = &g["optim"];
    let (p0, c, d) = (floats(&o["p0"]), floats(&o["c"]), floats(&o["d"]));
    let cases = o["steps"].as_object().unwrap();
    assert_eq!(cases.len(), 6);
    for (name, case) in cases {
        let opt = optim_config(name, &case["hyper"]);
        opt.validate().unwrap();
        let mut p = p0.clone();
        let mut state: Vec<Vec<f64>> = opt.state_init().iter().map(|&v| vec![v as f64; p.len()]).collect();
        let mut w = 0.0f64;
        for (step, want) in case["trajectory"].as_array().unwrap().iter().enumerate() {
            let grad: Vec<f64> = p.iter().zip(&c).zip(&d).map(|((p, c), d)| c * p + d).collect();
            let rule = UpdateRule { opt: opt.clone(), step: step as u64 + 1, l1: 0.0, l2: 0.0 };
            let mut st: Vec<&mut [f64]> = state.iter_mut().map(Vec::as_mut_slice).collect();
            update_slice(&rule, &mut p, &grad, &mut st);
            w = w.max(worst(&p, &floats(want), 1e-3));
        }
        println!("{name}: worst relative difference from torch over 8 steps {w:.2e}");
        // Hyperparameters are f32 (0.1f32 ≠ 0.1): agreement is to about 1e-7.
        assert!(w < 1e-5, "{name}: {w:e}");
    }
}

fn lbfgs_config(h: &Value) -> OptimizerConfig {
    let spec = format!(
        "lbfgs(lr={},max_iter={},history_size={},line_search={})",
        h["lr"],
        h["max_iter"],
        h["history_size"],
        h.get("line_search_fn").is_some()
    );
    OptimizerConfig::parse(&spec).unwrap()
}

/// Trains `model` with `opt` for `epochs` full-batch epochs; the flat parameters after each.
fn lbfgs_trajectory(
    model: &Model,
    opt: OptimizerConfig,
    x: &Matrix,
    labels: &[usize],
    epochs: usize,
    threads: usize,
) -> Vec<Vec<f64>> {
    let data = Dataset::new(x.clone(), Targets::Classes { labels: labels.to_vec(), n_classes: 3 });
    let cfg = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: opt,
        epochs,
        batch_size: 5, // ignored: L-BFGS takes the full batch
        shuffle: false,
        threads,
        ..Default::default()
    };
    let mut s = Session::prepare(&Cpu::<f32>::new(threads).unwrap(), &cfg, model, TrainingData::new(&data)).unwrap();
    s.set_clock(|| 0.0);
    let mut out = Vec::new();
    loop {
        match s.next() {
            Next::Batch => {
                s.train_batch().unwrap();
            }
            Next::EndEpoch => {
                s.end_epoch().unwrap();
                out.push(flat(&s.model()));
            }
            Next::Finish => break,
        }
    }
    out
}

/// The golden's objective in f64: mean cross-entropy of a 4 → 5 tanh → 3 softmax net, with the
/// flat parameters in mlp's order (W1 (4, 5), b1, W2 (5, 3), b2); returns the loss, fills the gradient.
fn mlp_objective(x: &[f64], t: &[f64], p: &[f64], g: &mut [f64]) -> f64 {
    let (i, h, o) = (4, 5, 3);
    let n = x.len() / i;
    let (w1, rest) = p.split_at(i * h);
    let (b1, rest) = rest.split_at(h);
    let (w2, b2) = rest.split_at(h * o);
    g.iter_mut().for_each(|v| *v = 0.0);
    let mut loss = 0.0;
    for r in 0..n {
        let (xr, tr) = (&x[r * i..(r + 1) * i], &t[r * o..(r + 1) * o]);
        let hid: Vec<f64> =
            (0..h).map(|j| (b1[j] + (0..i).map(|k| xr[k] * w1[k * h + j]).sum::<f64>()).tanh()).collect();
        let z: Vec<f64> = (0..o).map(|j| b2[j] + (0..h).map(|k| hid[k] * w2[k * o + j]).sum::<f64>()).collect();
        let m = z.iter().cloned().fold(f64::MIN, f64::max);
        let lse = m + z.iter().map(|v| (v - m).exp()).sum::<f64>().ln();
        loss += (0..o).map(|j| tr[j] * (lse - z[j])).sum::<f64>() / n as f64;
        let dz: Vec<f64> = (0..o).map(|j| ((z[j] - lse).exp() - tr[j]) / n as f64).collect();
        let (gw1, grest) = g.split_at_mut(i * h);
        let (gb1, grest) = grest.split_at_mut(h);
        let (gw2, gb2) = grest.split_at_mut(h * o);
        for j in 0..o {
            gb2[j] += dz[j];
            for k in 0..h {
                gw2[k * o + j] += hid[k] * dz[j];
            }
        }
        for k in 0..h {
            let dh: f64 = (0..o).map(|j| dz[j] * w2[k * o + j]).sum::<f64>() * (1.0 - hid[k] * hid[k]);
            gb1[k] += dh;
            for q in 0..i {
                gw1[q * h + k] += xr[q] * dh;
            }
        }
    }
    loss
}

/// The algorithm alone, in f64 on the golden's objective: torch's LBFGS trajectory to rounding.
#[test]
fn lbfgs_steps_match_torch_with_and_without_strong_wolfe() {
    use mlp::math::lbfgs::{Lbfgs, LbfgsConfig};
    let g = golden();
    // The inputs in f64, as torch had them.
    let (x, t) = (floats(&g["x"]), floats(&g["t"]));
    for case in ["plain", "strong_wolfe"] {
        let c = &g["lbfgs"][case];
        let cfg = LbfgsConfig::from_optimizer(&lbfgs_config(&c["hyper"])).unwrap();
        let mut opt = Lbfgs::new(cfg, &floats(&c["start"]));
        let mut report = Vec::new();
        for (step, (want, want_loss)) in
            c["trajectory"].as_array().unwrap().iter().zip(floats(&c["losses"])).enumerate()
        {
            let r = opt.step(&mut |p: &[f64], grad: &mut [f64]| mlp_objective(&x, &t, p, grad));
            let w = worst(opt.params(), &floats(want), 1e-3);
            report.push(format!("{w:.1e}"));
            assert!(w < 1e-5, "{case}: step {} differs from torch by {w:e}", step + 1);
            assert!((r.loss - want_loss).abs() < 1e-9, "{case}: step {} loss {} vs {want_loss}", step + 1, r.loss);
        }
        println!("lbfgs {case} (f64): worst relative difference per step {}", report.join(" "));
    }
}

/// Through a training session on the f32 network: the same trajectory to float32 accuracy. (L-BFGS
/// amplifies rounding: torch's own float32 run of this case strays from its float64 one by
/// 2e-5 after the first step and 1.4e-4 with strong Wolfe, so f32 cannot meet 1e-5 here; the
/// f64 test above holds the algorithm to it.)
#[test]
fn lbfgs_sessions_follow_torch_to_float32_accuracy() {
    let g = golden();
    let x = matrix(&g["x"]);
    let t = matrix(&g["t"]);
    let labels: Vec<usize> = t.data.chunks(3).map(|r| r.iter().position(|&v| v == 1.0).unwrap()).collect();
    let cfg = ModelConfig::parse(4, "5:tanh,3:softmax").unwrap();
    for case in ["plain", "strong_wolfe"] {
        let c = &g["lbfgs"][case];
        let model = with_params(&cfg, &floats(&c["start"]));
        let traj = lbfgs_trajectory(&model, lbfgs_config(&c["hyper"]), &x, &labels, 3, 1);
        let want = c["trajectory"].as_array().unwrap();
        let mut report = Vec::new();
        for (step, (got, want)) in traj.iter().zip(want).enumerate() {
            let w = worst(got, &floats(want), 1e-2);
            report.push(format!("{w:.1e}"));
            assert!(w < 2e-3, "{case}: step {} differs from torch by {w:e}", step + 1);
        }
        assert_eq!(traj.len(), 3, "{case}: one epoch per torch step");
        println!("lbfgs {case} (f32 session): worst relative difference per step {}", report.join(" "));
    }
}

#[test]
fn new_losses_match_torch_values() {
    let g = golden();
    for (name, case) in g["losses"].as_object().unwrap() {
        let loss: Loss = name.parse().unwrap();
        let (a, t) = (matrix(&case["a"]), matrix(&case["t"]));
        // Values from the outputs (a linear output layer: z = a).
        let act = Activation::Linear;
        let total: f64 = (0..a.rows).map(|r| loss.row::<f64>(&act, &row(&a, r), &row(&a, r), &row(&t, r), None)).sum();
        let got = total / a.rows as f64;
        let want = case["value"].as_f64().unwrap();
        let err = (got - want).abs();
        println!("{name}: {got} vs torch {want} ({err:.1e})");
        assert!(err < 1e-6, "{name}: {got} vs torch {want}");
        if loss == Loss::KlDivergence {
            // With a softmax output, from the logits z = ln a.
            let sm = Activation::Softmax;
            let total: f64 = (0..a.rows)
                .map(|r| {
                    let z: Vec<f64> = row(&a, r).iter().map(|v| v.ln()).collect();
                    loss.row::<f64>(&sm, &z, &row(&a, r), &row(&t, r), None)
                })
                .sum();
            assert!((total / a.rows as f64 - want).abs() < 1e-6, "kl from logits");
        }
    }
}

fn row(m: &Matrix, r: usize) -> Vec<f64> {
    m.row(r).iter().map(|&v| v as f64).collect()
}

#[test]
fn spec_strings_round_trip() {
    for s in ["huber", "huber(0.5)", "log_cosh", "hinge", "squared_hinge", "kl_divergence", "poisson"] {
        let l: Loss = s.parse().unwrap();
        assert_eq!(l.to_string(), s);
    }
    assert!("huber(-1)".parse::<Loss>().is_err());
    for (spec, name) in
        [("nadam", "nadam"), ("adamax(beta2=0.99)", "adamax"), ("rprop(eta_plus=1.1)", "rprop"), ("lbfgs", "lbfgs")]
    {
        assert_eq!(OptimizerConfig::parse(spec).unwrap().name(), name);
    }
    assert!(OptimizerConfig::parse("rprop(eta_plus=0.9)").is_err(), "eta_plus must exceed 1");
    assert!(OptimizerConfig::parse("rprop(beta1=0.9)").is_err(), "rprop has no beta1");
    let cfg = ModelConfig::parse(8, "16:relu,dropout(0.25),batchnorm(momentum=0.2,eps=1e-3):relu,2:softmax").unwrap();
    assert_eq!(cfg.layers[1].units, 16);
    assert_eq!(cfg.layers[2].kind, LayerKind::BatchNorm { momentum: 0.2, eps: 1e-3 });
    assert_eq!(cfg.param_count(), 8 * 16 + 16 + 4 * 16 + 16 * 2 + 2);
    let summary = cfg.summary();
    assert!(
        summary.contains("dropout_2 (Dropout, linear)") && summary.contains("Non-trainable params: 32"),
        "{summary}"
    );
    assert!(ModelConfig::parse(8, "16:relu,dropout(1.5),2:softmax").is_err());
    assert!(ModelConfig::parse(8, "16:relu,dropout(0.5)").is_err(), "dropout cannot end the model");
}

#[test]
fn dropout_and_batchnorm_models_save_and_reload_with_identical_predictions() {
    use mlp::model_file::{self, InputSpec, ModelMeta, SavedModel};
    let data = mlp::data::synth::blobs(90, &[[0.0, 0.0], [3.0, 0.0], [0.0, 3.0]], 0.6, 1);
    let cfg = ModelConfig::parse(2, "8:relu,dropout(0.2),8:linear,batchnorm:relu,3:softmax").unwrap();
    let mut model = cfg.init(2).unwrap();
    let fit = FitConfig {
        loss: Loss::CategoricalCrossEntropy,
        optimizer: OptimizerConfig::nadam(0.02),
        epochs: 5,
        batch_size: 16,
        ..Default::default()
    };
    let history = model.fit(&data, &fit).unwrap();
    assert!(history.last().unwrap().metrics["accuracy"] > 0.8);
    assert!(model.params[3].values("running_var").iter().any(|v| (v - 1.0).abs() > 1e-3), "running variance moved");
    let meta = ModelMeta {
        loss: fit.loss,
        input: InputSpec::standardize(&data.x, vec!["x1".into(), "x2".into()], "class"),
        classes: Some(vec!["a".into(), "b".into(), "c".into()]),
        training: None,
        history: None,
        created_by: model_file::created_by(),
    };
    let dir = std::env::temp_dir().join(format!("mlp-algos-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("m.safetensors");
    model_file::save(&path, &SavedModel { model: model.clone(), meta }).unwrap();
    let back = model_file::load(&path).unwrap();
    std::fs::remove_dir_all(&dir).unwrap();
    assert_eq!(model_file::format_version_for(&model), 2);
    assert_eq!(back.model, model);
    let (p, q) = (model.predict(&data.x).unwrap(), back.model.predict(&data.x).unwrap());
    assert!(p.data.iter().zip(&q.data).all(|(a, b)| a.to_bits() == b.to_bits()));
    // Predictions are eval mode: deterministic, and with dropout off.
    assert_eq!(model.predict(&data.x).unwrap(), p);
}
