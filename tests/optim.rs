//! Optimizer steps against torch.optim: three steps of each optimizer on a tiny quadratic,
//! golden values from `fixtures/optim_golden.py` (float64), plus hand-worked penalty steps.

use mlp::backend::{Backend, Cpu};
use mlp::optim::{OptimizerConfig, UpdateRule, update_slice};
use serde_json::Value;

fn f(v: &Value, k: &str, default: f32) -> f32 {
    v.get(k).and_then(Value::as_f64).map_or(default, |x| x as f32)
}

/// The mlp optimizer matching a torch.optim case of the fixture.
fn config(name: &str, h: &Value) -> OptimizerConfig {
    let lr = f(h, "lr", 0.0);
    let betas = |h: &Value| {
        let b = h["betas"].as_array().expect("betas");
        (b[0].as_f64().unwrap() as f32, b[1].as_f64().unwrap() as f32)
    };
    match name {
        "sgd" | "sgd_wd" | "momentum" | "momentum_dampening" | "nesterov" => OptimizerConfig::Sgd {
            lr,
            momentum: f(h, "momentum", 0.0),
            nesterov: h.get("nesterov").and_then(Value::as_bool).unwrap_or(false),
            dampening: f(h, "dampening", 0.0),
            weight_decay: f(h, "weight_decay", 0.0),
        },
        "adagrad" => OptimizerConfig::Adagrad {
            lr,
            initial_accumulator: f(h, "initial_accumulator_value", 0.0),
            eps: f(h, "eps", 1e-10),
            lr_decay: f(h, "lr_decay", 0.0),
            weight_decay: 0.0,
        },
        "rmsprop" | "rmsprop_centered_momentum" => OptimizerConfig::RmsProp {
            lr,
            rho: f(h, "alpha", 0.99),
            eps: f(h, "eps", 1e-8),
            momentum: f(h, "momentum", 0.0),
            centered: h.get("centered").and_then(Value::as_bool).unwrap_or(false),
            weight_decay: 0.0,
        },
        "adam" | "adam_l2" | "amsgrad" => {
            let (beta1, beta2) = betas(h);
            OptimizerConfig::Adam {
                lr,
                beta1,
                beta2,
                eps: f(h, "eps", 1e-8),
                amsgrad: h.get("amsgrad").and_then(Value::as_bool).unwrap_or(false),
                weight_decay: f(h, "weight_decay", 0.0),
            }
        }
        "adamw" => {
            let (beta1, beta2) = betas(h);
            OptimizerConfig::AdamW {
                lr,
                beta1,
                beta2,
                eps: f(h, "eps", 1e-8),
                amsgrad: false,
                weight_decay: f(h, "weight_decay", 0.0),
            }
        }
        other => panic!("no mapping for fixture case {other}"),
    }
}

#[test]
fn three_steps_match_torch_optim() {
    let golden: Value = serde_json::from_str(include_str!("fixtures/optim_golden.json")).unwrap();
    let floats = |v: &Value| v.as_array().unwrap().iter().map(|x| x.as_f64().unwrap()).collect::<Vec<f64>>();
    let (p0, c, d) = (floats(&golden["p0"]), floats(&golden["c"]), floats(&golden["d"]));
    let cases = golden["steps"].as_object().unwrap();
    assert_eq!(cases.len(), 12, "every optimizer variant is covered");
    let mut report = Vec::new();
    for (name, case) in cases {
        let opt = config(name, &case["hyper"]);
        opt.validate().unwrap();
        let mut p = p0.clone();
        let mut state: Vec<Vec<f64>> = opt.state_init().iter().map(|&v| vec![v as f64; p.len()]).collect();
        let mut worst = 0.0f64;
        for (t, want) in case["trajectory"].as_array().unwrap().iter().enumerate() {
            let g: Vec<f64> = p.iter().zip(&c).zip(&d).map(|((p, c), d)| c * p + d).collect();
            let rule = UpdateRule { opt: opt.clone(), step: t as u64 + 1, l1: 0.0, l2: 0.0 };
            let mut st: Vec<&mut [f64]> = state.iter_mut().map(|s| s.as_mut_slice()).collect();
            update_slice(&rule, &mut p, &g, &mut st);
            for (got, want) in p.iter().zip(floats(want)) {
                // Hyperparameters are f32 (0.1f32 ≠ 0.1), so agreement is to about 1e-7.
                worst = worst.max((got - want).abs() / want.abs().max(1e-3));
            }
        }
        report.push(format!("{name}: {}", if worst < 1e-6 { "OK" } else { "NOT OK" }));
        assert!(worst < 1e-6, "{name}: worst relative difference from torch {worst:e}");
    }
    println!("{}", report.join("\n"));
}

#[test]
fn keras_penalties_worked_by_hand() {
    // SGD lr 0.1, L2 λ 0.5, p = 1, g = 0: g' = 2·0.5·1 = 1, p' = 0.9; penalty λp² = 0.5.
    let rule = UpdateRule { opt: OptimizerConfig::sgd(0.1), step: 1, l1: 0.0, l2: 0.5 };
    let mut p = [1.0f64];
    let pen = update_slice(&rule, &mut p, &[0.0], &mut []);
    assert!((p[0] - 0.9).abs() < 1e-7 && (pen - 0.5).abs() < 1e-7, "{p:?} {pen}");
    // L1 λ 0.2, p = −2, g = 0.1: g' = 0.1 + 0.2·(−1) = −0.1, p' = −2 + 0.01 = −1.99; penalty 0.4.
    let rule = UpdateRule { opt: OptimizerConfig::sgd(0.1), step: 1, l1: 0.2, l2: 0.0 };
    let mut p = [-2.0f64];
    let pen = update_slice(&rule, &mut p, &[0.1], &mut []);
    assert!((p[0] + 1.99).abs() < 1e-7 && (pen - 0.4).abs() < 1e-7, "{p:?} {pen}");
}

#[test]
fn parallel_update_equals_sequential_bit_for_bit() {
    // A tensor big enough for the chunked parallel path, against one sequential call.
    let n = 300_001;
    let p0: Vec<f32> = (0..n).map(|i| ((i * 7919) % 1000) as f32 / 500.0 - 1.0).collect();
    let g: Vec<f32> = (0..n).map(|i| ((i * 104_729) % 1000) as f32 / 1000.0 - 0.5).collect();
    for opt in [OptimizerConfig::adam(0.01), OptimizerConfig::rmsprop(0.01), OptimizerConfig::momentum(0.1, 0.9)] {
        let rule = UpdateRule { opt: opt.clone(), step: 2, l1: 1e-4, l2: 1e-3 };
        let init = opt.state_init();
        let mut seq = p0.clone();
        let mut seq_state: Vec<Vec<f32>> = init.iter().map(|&v| vec![v; n]).collect();
        let mut st: Vec<&mut [f32]> = seq_state.iter_mut().map(|s| s.as_mut_slice()).collect();
        update_slice(&rule, &mut seq, &g, &mut st);
        for threads in [1, 2] {
            let be = Cpu::<f32>::new(threads).unwrap();
            let mut p = be.upload(&p0);
            let gb = be.upload(&g);
            let mut state: Vec<Vec<f32>> = init.iter().map(|&v| vec![v; n]).collect();
            be.install(|| be.update(&rule, n, &mut p, &gb, &mut state));
            assert!(p.iter().zip(&seq).all(|(a, b)| a.to_bits() == b.to_bits()), "{} threads {threads}", opt.name());
        }
    }
}
