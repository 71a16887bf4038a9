//! `mlp tune`: a search over `mlp train` settings. Trials come from `--grid` axes (every
//! combination) or `--random` ranges (seeded draws); each is cross-validated by the library's
//! runner, optionally under a successive-halving schedule; the results go to a CSV and a JSON
//! table (best first) and a plot, and the best setting is retrained on all the data through
//! `mlp train`'s own path, with the search recorded in the model file.

use crate::cmd::cv::{check_interrupted, describe_resampling, metric_names, plan_for, refuse_outputs, resampling};
use crate::cmd::train::{Prepared, fit_and_save, headline, load_data, prepare};
use crate::flags::{LogFormat, TrainSettings, TuneArgs};
use crate::plan::{TrainPlan, check_output, check_output_dir, merge};
use crate::plots::{ScoreAxis, ScorePanel, search_scores};
use crate::signals::{self, INTERRUPT};
use crate::source::TrainData;
use crate::term;
use anyhow::{Context, Result, bail};
use clap::{CommandFactory, Parser};
use mlp::Error;
use mlp::select::{Candidate, CvOptions, CvReport, FoldScore, Resampling, Rung, Values, cross_validate_all};
use mlp::train::FitConfig;
use mlp::{ModelConfig, fsio};
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

/// The files `mlp tune` writes into `--results`.
const RESULT_FILES: [&str; 3] = ["results.csv", "results.json", "scores.png"];

/// The searched settings may be any train flag but these: where it writes, what it starts
/// from, and how it runs (which never changes a score).
const NOT_SEARCHED: [&str; 10] = [
    "out",
    "history",
    "plots",
    "checkpoint",
    "checkpoint-every",
    "init-from",
    "test",
    "threads",
    "device",
    "log-format",
];

/// `mlp train`'s settings flags alone, to parse one trial's values exactly as `mlp train` does.
#[derive(Parser)]
#[command(no_binary_name = true, allow_negative_numbers = true)]
struct SettingFlags {
    #[command(flatten)]
    settings: TrainSettings,
}

/// One axis of the search: `--grid KEY=V1;V2` or `--random KEY=LO..HI[:log]`.
fn parse_axis(arg: &str, random: bool) -> Result<(String, Values)> {
    let flag = if random { "--random" } else { "--grid" };
    let bad = |msg: String| Error::config(format!("{flag} `{arg}`"), msg);
    let (key, spec) = arg.split_once('=').ok_or_else(|| bad("expected KEY=VALUES, e.g. lr=1e-3;1e-2".into()))?;
    let key = key.trim().trim_start_matches("--").replace('_', "-").to_ascii_lowercase();
    let cmd = SettingFlags::command();
    if !cmd.get_arguments().any(|a| a.get_long() == Some(key.as_str())) {
        return Err(bad(format!("`{key}` is not a flag of mlp train (see mlp train --help)")).into());
    }
    if NOT_SEARCHED.contains(&key.as_str()) {
        return Err(bad(format!("--{key} cannot be searched: it does not change what a trial learns")).into());
    }
    if random
        && !spec.contains(';')
        && let Some((lo, hi)) = spec.split_once("..")
    {
        let (hi, log) = match hi.strip_suffix(":log") {
            Some(h) => (h, true),
            None => (hi, false),
        };
        let num = |s: &str| s.trim().parse::<f64>().map_err(|_| bad(format!("`{s}` is not a number")));
        let integer = lo.trim().parse::<i64>().is_ok() && hi.trim().parse::<i64>().is_ok();
        let values = Values::Range { lo: num(lo)?, hi: num(hi)?, log, integer };
        values.validate(&format!("{flag} {key}"))?;
        return Ok((key, values));
    }
    let list: Vec<String> = spec.split(';').map(|v| v.trim().to_string()).collect();
    if list.iter().any(String::is_empty) {
        return Err(bad(
            "a value is empty; separate values with `;`, e.g. layers=8:relu,1:sigmoid;16:relu,1:sigmoid".into()
        )
        .into());
    }
    Ok((key, Values::List(list)))
}

/// The search space: the `--grid` axes (repeated keys add values), then the `--random` ones.
fn parse_space(grid: &[String], random: &[String]) -> Result<Vec<(String, Values)>> {
    let mut space: Vec<(String, Values)> = Vec::new();
    for (args, is_random) in [(grid, false), (random, true)] {
        for arg in args {
            let (key, values) = parse_axis(arg, is_random)?;
            match space.iter_mut().find(|(k, _)| *k == key) {
                Some((_, Values::List(have))) if !is_random => {
                    if let Values::List(more) = values {
                        have.extend(more);
                    }
                }
                Some(_) => bail!("`{key}` is searched twice; give it to one --grid or --random"),
                None => space.push((key, values)),
            }
        }
    }
    if space.is_empty() {
        bail!("nothing to search: give --grid KEY=V1;V2 or --random KEY=LO..HI (see mlp tune --help)");
    }
    Ok(space)
}

/// A trial's values as `mlp train` settings (only the searched ones set).
fn trial_settings(trial: &[(String, String)]) -> Result<TrainSettings> {
    let cmd = SettingFlags::command();
    let mut argv = Vec::new();
    for (k, v) in trial {
        let takes_value = cmd.get_arguments().find(|a| a.get_long() == Some(k.as_str())).is_some_and(|a| {
            a.get_num_args().is_none_or(|n| n.takes_values()) && !matches!(a.get_action(), clap::ArgAction::SetTrue)
        });
        if takes_value {
            argv.push(format!("--{k}={v}"));
        } else {
            match v.to_ascii_lowercase().as_str() {
                "true" | "yes" | "on" | "1" => argv.push(format!("--{k}")),
                "false" | "no" | "off" | "0" => {}
                _ => bail!("--{k} is a switch: search it with true;false, not `{v}`"),
            }
        }
    }
    SettingFlags::try_parse_from(&argv).map(|f| f.settings).map_err(|e| {
        let text = e.render().to_string();
        let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("invalid value").trim();
        anyhow::anyhow!("trial {}: {}", show(trial), first.strip_prefix("error: ").unwrap_or(first))
    })
}

/// `layers=8:relu,1:sigmoid lr=0.01`.
fn show(trial: &[(String, String)]) -> String {
    trial.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>().join(" ")
}

/// Whether larger values of `metric` are better.
fn higher_is_better(metric: &str) -> bool {
    matches!(metric, "accuracy" | "top_5_accuracy" | "r2")
}

/// What became of one trial.
struct Outcome {
    /// The searched values.
    values: Vec<(String, String)>,
    /// The last rung it trained in (0-based) and that rung's epochs.
    rung: usize,
    epochs: usize,
    /// Its cross-validation in that rung.
    report: CvReport,
    /// The mean of the metric (NaN when a fold failed).
    score: f64,
    /// Wall-clock seconds over all its rungs (its folds' training and scoring).
    seconds: f64,
}

/// The searched setting's mean and standard deviation of `metric`.
fn score_of(report: &CvReport, metric: &str) -> (f64, f64) {
    if report.failure().is_some() || report.folds.is_empty() {
        return (f64::NAN, f64::NAN);
    }
    (report.mean.get(metric).copied().unwrap_or(f64::NAN), report.std.get(metric).copied().unwrap_or(f64::NAN))
}

/// `1:05`.
fn clock(seconds: f64) -> String {
    let s = seconds.max(0.0).round() as u64;
    format!("{}:{:02}", s / 60, s % 60)
}

/// The data a trial trains on: read once per distinct set of the settings that decide it.
fn data_key(s: &TrainSettings) -> String {
    serde_json::json!([s.data, s.target, s.drop, s.delimiter, s.impute, s.loss]).to_string()
}

/// Progress shared by the workers: trials done, best so far, time left.
struct Tracker {
    start: Instant,
    folds_per_trial: usize,
    /// Epoch-folds done and in all (the unit of work, for the time left).
    units_done: usize,
    units_total: usize,
    /// Folds finished per trial of the current rung.
    done: Vec<usize>,
    folds: Vec<Vec<FoldScore>>,
    trials_done: usize,
    trials_total: usize,
    best: Option<(f64, usize)>,
}

/// `mlp tune`.
pub fn run(args: TuneArgs) -> Result<()> {
    let TuneArgs {
        config,
        quiet,
        grid,
        random,
        trials: n_random,
        holdout,
        metric,
        halving,
        eta,
        min_epochs,
        results,
        folds,
        settings,
    } = args;
    refuse_outputs(&settings, "tune", true)?;
    let base = plan_for("tune", config.as_deref(), quiet, settings.clone())?;
    refuse_outputs(&base.settings, "tune", true)?;
    let resampling = resampling(&folds, holdout)?;
    let space = parse_space(&grid, &random)?;
    if halving && space.iter().any(|(k, _)| k == "epochs") {
        bail!("--halving chooses the epochs of each rung; do not search --epochs with it");
    }
    if !random.is_empty() && n_random == 0 {
        return Err(Error::config("--trials", "must be at least 1").into());
    }
    let trials = if random.is_empty() {
        mlp::select::grid(&space)?
    } else {
        mlp::select::sample(&space, n_random, base.fit.seed)?
    };
    let searched: Vec<String> = space.iter().map(|(k, _)| k.clone()).collect();

    // Outputs: checked before anything trains.
    let out = base.settings.out.clone().unwrap_or_else(|| results.join("best.safetensors"));
    check_output_dir(&results, "--results")?;
    let mut paths = crate::paths::Files::default();
    paths.source("--data", &base.data)?;
    if let Some(t) = &base.test {
        paths.source("--test", t)?;
    }
    for name in RESULT_FILES {
        paths.output("--results", &results.join(name))?;
    }
    paths.output("--out", &out)?;
    paths.check(&[])?;
    if results.is_dir() {
        for name in RESULT_FILES {
            check_output(&results.join(name), "--results")?;
        }
    }
    // Every trial's plan, so that a bad value fails now rather than after hours.
    let trial_base = TrainSettings {
        out: None,
        history: None,
        plots: None,
        test: None,
        checkpoint: None,
        checkpoint_every: None,
        ..settings.clone()
    };
    let plans: Vec<TrainPlan> = trials
        .iter()
        .map(|t| plan_for("tune", config.as_deref(), true, merge(trial_settings(t)?, trial_base.clone())))
        .collect::<Result<_>>()?;
    let final_settings = |t: &[(String, String)]| -> Result<TrainSettings> {
        Ok(merge(trial_settings(t)?, TrainSettings { out: Some(out.clone()), ..settings.clone() }))
    };
    // The best setting's final run must be possible too (its --out against its inputs…); the
    // default --out lies in --results, which is created only once there are results.
    let out_dir_exists = out.parent().is_none_or(|p| p.as_os_str().is_empty() || p.is_dir());
    let probe = if out_dir_exists {
        final_settings(&trials[0])?
    } else {
        TrainSettings { out: Some(PathBuf::from("model.safetensors")), ..final_settings(&trials[0])? }
    };
    plan_for("tune", config.as_deref(), true, probe)?;
    signals::graceful();

    // Data, folds and each trial's model and training configuration.
    let mut datasets: Vec<(String, TrainData, Vec<mlp::select::Fold>)> = Vec::new();
    let mut trial_data = Vec::with_capacity(plans.len());
    let mut prepared: Vec<(ModelConfig, FitConfig)> = Vec::with_capacity(plans.len());
    for plan in &plans {
        let key = data_key(&plan.settings);
        let i = match datasets.iter().position(|(k, _, _)| *k == key) {
            Some(i) => i,
            None => {
                let data = load_data(plan, None)?;
                let folds = resampling.folds(&data.train.y, base.fit.seed)?;
                datasets.push((key, data, folds));
                datasets.len() - 1
            }
        };
        let Prepared { fit, config, .. } = prepare(plan, &datasets[i].1, None, false)?;
        trial_data.push(i);
        prepared.push((config, fit));
    }
    let classes = datasets[0].1.classes.is_some();
    let metric = metric.unwrap_or_else(|| if classes { "accuracy" } else { "mse" }.to_string());
    let known: &[&str] = if classes { &["accuracy", "loss", "top_5_accuracy"] } else { &["mse", "loss", "mae", "r2"] };
    if !known.contains(&metric.as_str()) {
        return Err(Error::config(format!("--metric {metric}"), format!("expected one of {}", known.join(", "))).into());
    }
    let higher = higher_is_better(&metric);

    let max_epochs = base.fit.epochs;
    let rungs = if halving {
        mlp::select::halving_rungs(trials.len(), max_epochs, eta, min_epochs)?
    } else {
        vec![Rung { trials: trials.len(), epochs: max_epochs }]
    };
    let folds_per_trial = datasets[0].2.len();
    let units_total: usize = if halving {
        rungs.iter().map(|r| r.trials * r.epochs * folds_per_trial).sum()
    } else {
        prepared.iter().map(|(_, f)| f.epochs * folds_per_trial).sum()
    };
    let say = |text: &str| {
        if !quiet {
            term::errln(text);
        }
    };
    say(&format!(
        "{} trials of {} over {}, each scored by {} on {} rows ({metric}){}",
        trials.len(),
        searched.join(", "),
        if random.is_empty() { "a grid" } else { "random draws" },
        describe_resampling(&resampling),
        datasets[0].1.train.len(),
        if halving {
            format!(
                "; successive halving: {}",
                rungs.iter().map(|r| format!("{} × {} epochs", r.trials, r.epochs)).collect::<Vec<_>>().join(" → ")
            )
        } else {
            String::new()
        }
    ));

    let mut outcomes: Vec<Option<Outcome>> = (0..trials.len()).map(|_| None).collect();
    let mut alive: Vec<usize> = (0..trials.len()).collect();
    let tracker = Mutex::new(Tracker {
        start: Instant::now(),
        folds_per_trial,
        units_done: 0,
        units_total,
        done: Vec::new(),
        folds: Vec::new(),
        trials_done: 0,
        trials_total: rungs.iter().map(|r| r.trials).sum(),
        best: None,
    });
    let opts = CvOptions { threads: base.fit.threads, jobs: folds.jobs, interrupt: Some(&INTERRUPT) };
    for (r, rung) in rungs.iter().enumerate() {
        let fits: Vec<FitConfig> = alive
            .iter()
            .map(|&t| {
                let fit = &prepared[t].1;
                if halving { FitConfig { epochs: rung.epochs, ..fit.clone() } } else { fit.clone() }
            })
            .collect();
        let candidates: Vec<Candidate<'_>> = alive
            .iter()
            .zip(&fits)
            .map(|(&t, fit)| {
                let (_, data, folds) = &datasets[trial_data[t]];
                Candidate { model: &prepared[t].0, fit, data: &data.train, folds }
            })
            .collect();
        {
            let mut tr = tracker.lock().unwrap_or_else(|e| e.into_inner());
            tr.done = vec![0; alive.len()];
            tr.folds = vec![Vec::new(); alive.len()];
        }
        let on_fold = |f: &FoldScore| {
            let mut tr = tracker.lock().unwrap_or_else(|e| e.into_inner());
            tr.units_done += fits[f.candidate].epochs;
            tr.done[f.candidate] += 1;
            tr.folds[f.candidate].push(f.clone());
            if tr.done[f.candidate] < tr.folds_per_trial {
                return;
            }
            tr.trials_done += 1;
            let t = alive[f.candidate];
            let mut fs = tr.folds[f.candidate].clone();
            fs.sort_by_key(|f| (f.repeat, f.fold));
            let (score, sd) = score_of(&summarize(fs), &metric);
            let better = |a: f64, b: f64| if higher { a > b } else { a < b };
            // Only a full-budget trial counts as the best so far under halving.
            if score.is_finite() && r + 1 == rungs.len() && tr.best.is_none_or(|(b, _)| better(score, b)) {
                tr.best = Some((score, t));
            }
            if quiet {
                return;
            }
            let elapsed = tr.start.elapsed().as_secs_f64();
            let left = elapsed / tr.units_done.max(1) as f64 * (tr.units_total.saturating_sub(tr.units_done)) as f64;
            let best = tr.best.map_or("-".to_string(), |(b, i)| format!("{b:.4} (trial {})", i + 1));
            match base.log_format {
                LogFormat::Text => term::errln(&format!(
                    "trial {}/{} [{} done]: {}  {metric} {score:.4} ± {sd:.4}{}  | best {best} | {} elapsed, ~{} left",
                    t + 1,
                    trials.len(),
                    tr.trials_done,
                    show(&trials[t]),
                    if halving { format!(" ({} epochs)", rung.epochs) } else { String::new() },
                    clock(elapsed),
                    clock(left),
                )),
                LogFormat::Json => term::errln(
                    &serde_json::json!({
                        "event": "trial", "trial": t + 1, "settings": trials[t].iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                        "epochs": fits[f.candidate].epochs, "score": score, "score_std": sd,
                        "trials_done": tr.trials_done, "trials_total": tr.trials_total,
                        "best": tr.best.map(|b| b.0), "best_trial": tr.best.map(|b| b.1 + 1),
                        "elapsed_s": elapsed, "left_s": left,
                    })
                    .to_string(),
                ),
            }
        };
        let reports = cross_validate_all(&candidates, &opts, &on_fold)?;
        check_interrupted("no results were written")?;
        for ((&t, report), fit) in alive.iter().zip(reports).zip(&fits) {
            let (score, _) = score_of(&report, &metric);
            let seconds = report.folds.iter().map(|f| f.seconds).sum::<f64>()
                + outcomes[t].as_ref().map_or(0.0, |o: &Outcome| o.seconds);
            outcomes[t] =
                Some(Outcome { values: trials[t].clone(), rung: r, epochs: fit.epochs, report, score, seconds });
        }
        if let Some(next) = rungs.get(r + 1) {
            let scores: Vec<f64> = alive.iter().map(|&t| outcomes[t].as_ref().map_or(f64::NAN, |o| o.score)).collect();
            alive = mlp::select::rank(&scores, higher).into_iter().take(next.trials).map(|i| alive[i]).collect();
            alive.sort_unstable();
        }
    }
    let outcomes: Vec<Outcome> = outcomes.into_iter().flatten().collect();

    // Best first: the trials of the last rung by score, then those stopped earlier.
    let mut order: Vec<usize> = (0..outcomes.len()).collect();
    let key = |o: &Outcome| {
        if o.score.is_nan() {
            f64::INFINITY
        } else if higher {
            -o.score
        } else {
            o.score
        }
    };
    order.sort_by(|&a, &b| {
        outcomes[b].rung.cmp(&outcomes[a].rung).then(key(&outcomes[a]).total_cmp(&key(&outcomes[b]))).then(a.cmp(&b))
    });
    let best = order[0];
    if outcomes[best].score.is_nan() {
        bail!("every trial failed; the first: {}", outcomes[best].report.failure().unwrap_or("no folds finished"));
    }
    let written = write_results(&results, &metric, higher, &resampling, &searched, &space, &outcomes, &order, &rungs)?;

    // The best setting, retrained on all the data by `mlp train`'s path.
    let b = &outcomes[best];
    let (score, sd) = score_of(&b.report, &metric);
    let final_plan = plan_for("tune", config.as_deref(), true, final_settings(&b.values)?)?;
    say(&format!(
        "best: trial {} ({}), {metric} {score:.4} ± {sd:.4}; retraining it on all the data",
        best + 1,
        show(&b.values)
    ));
    let tuning = serde_json::json!({
        "trial": best + 1,
        "trials": outcomes.len(),
        "searched": b.values.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
        "metric": metric,
        "score": score,
        "score_std": sd,
        "resampling": resampling,
        "results": results.join("results.json").display().to_string(),
    });
    let trained = fit_and_save(&final_plan, Some(tuning), &mut crate::world::World::detect()?)?;
    let loss = trained.saved.meta.loss;
    let threads = final_plan.fit.threads;
    let train_scores = headline(&trained.saved.model, &trained.data.train, loss, threads)?;
    let test_scores =
        trained.data.test.as_ref().map(|t| headline(&trained.saved.model, t, loss, threads)).transpose()?;
    let mut files = written;
    files.extend(trained.written);
    if base.log_format == LogFormat::Json {
        let obj = |m: &[(String, f64)]| {
            m.iter().map(|(k, v)| (k.clone(), serde_json::json!(v))).collect::<serde_json::Map<_, _>>()
        };
        term::outln(
            &serde_json::json!({
                "best": {"trial": best + 1, "settings": b.values.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                         "metric": metric, "score": score, "score_std": sd},
                "trials": outcomes.len(),
                "final": {"train": obj(&train_scores), "test": test_scores.as_deref().map(obj)},
                "files": files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>(),
            })
            .to_string(),
        )?;
        return Ok(());
    }
    let fmt = |m: &[(String, f64)]| m.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join("  ");
    let mut text = format!(
        "best of {} trials: {} ({metric} {score:.4} ± {sd:.4} by {})\nfinal model, trained on all {} rows:\ntrain: {}\n",
        outcomes.len(),
        show(&b.values),
        describe_resampling(&resampling),
        trained.data.train.len(),
        fmt(&train_scores)
    );
    if let Some(t) = &test_scores {
        text.push_str(&format!("test:  {}\n", fmt(t)));
    }
    text.push_str(&format!("wrote {}\n", files.iter().map(|p| p.display().to_string()).collect::<Vec<_>>().join(", ")));
    term::out(&text)?;
    Ok(())
}

/// A candidate's folds as a report (mean and std), for progress before the runner returns.
fn summarize(folds: Vec<FoldScore>) -> CvReport {
    let ok: Vec<&FoldScore> = folds.iter().filter(|f| f.failed.is_none()).collect();
    let mut report = CvReport { folds: folds.clone(), ..Default::default() };
    if let Some(first) = ok.first() {
        for k in first.metrics.keys() {
            let v: Vec<f64> = ok.iter().filter_map(|f| f.metrics.get(k).copied()).collect();
            let m = v.iter().sum::<f64>() / v.len() as f64;
            report.mean.insert(k.clone(), m);
            report.std.insert(k.clone(), (v.iter().map(|x| (x - m).powi(2)).sum::<f64>() / v.len() as f64).sqrt());
        }
    }
    report
}

/// A CSV field, quoted when it holds a comma, a quote or a line break (RFC 4180).
fn csv_field(s: &str) -> String {
    if s.contains([',', '"', '\n', '\r']) { format!("\"{}\"", s.replace('"', "\"\"")) } else { s.to_string() }
}

/// Writes `results.csv`, `results.json` and `scores.png` into `dir`, each whole or not at all.
#[allow(clippy::too_many_arguments)]
fn write_results(
    dir: &Path,
    metric: &str,
    higher: bool,
    resampling: &Resampling,
    searched: &[String],
    space: &[(String, Values)],
    outcomes: &[Outcome],
    order: &[usize],
    rungs: &[Rung],
) -> Result<Vec<PathBuf>> {
    std::fs::create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
    let names =
        outcomes.iter().find(|o| !o.report.mean.is_empty()).map(|o| metric_names(&o.report)).unwrap_or_default();
    let status = |o: &Outcome| match o.report.failure() {
        Some(why) => format!("failed: {why}"),
        None if o.rung + 1 < rungs.len() => format!("stopped after rung {}", o.rung + 1),
        None => "ok".into(),
    };
    // CSV: one row per trial, best first.
    let mut head: Vec<String> = vec!["rank".into(), "trial".into()];
    head.extend(searched.iter().cloned());
    head.extend(["epochs".into(), "score".into(), "score_std".into()]);
    for n in &names {
        head.push(format!("{n}_mean"));
        head.push(format!("{n}_std"));
    }
    head.extend(["seconds".into(), "status".into()]);
    let mut csv = head.iter().map(|h| csv_field(h)).collect::<Vec<_>>().join(",") + "\n";
    let num = |v: Option<&f64>| v.filter(|v| v.is_finite()).map_or(String::new(), |v| format!("{v}"));
    for (rank, &i) in order.iter().enumerate() {
        let o = &outcomes[i];
        let (score, sd) = score_of(&o.report, metric);
        let mut row = vec![(rank + 1).to_string(), (i + 1).to_string()];
        row.extend(o.values.iter().map(|(_, v)| v.clone()));
        row.extend([o.epochs.to_string(), num(Some(&score)), num(Some(&sd))]);
        for n in &names {
            row.push(num(o.report.mean.get(n)));
            row.push(num(o.report.std.get(n)));
        }
        row.extend([format!("{:.3}", o.seconds), status(o)]);
        csv.push_str(&(row.iter().map(|f| csv_field(f)).collect::<Vec<_>>().join(",") + "\n"));
    }
    let csv_path = dir.join("results.csv");
    let json_path = dir.join("results.json");
    let png_path = dir.join("scores.png");
    let finite = |v: f64| if v.is_finite() { serde_json::json!(v) } else { serde_json::Value::Null };
    let trials: Vec<serde_json::Value> = order
        .iter()
        .enumerate()
        .map(|(rank, &i)| {
            let o = &outcomes[i];
            let (score, sd) = score_of(&o.report, metric);
            serde_json::json!({
                "rank": rank + 1,
                "trial": i + 1,
                "settings": o.values.iter().cloned().collect::<std::collections::BTreeMap<_, _>>(),
                "epochs": o.epochs,
                "rung": o.rung + 1,
                "score": finite(score),
                "score_std": finite(sd),
                "mean": o.report.mean,
                "std": o.report.std,
                "folds": o.report.folds.iter().map(|f| serde_json::json!({
                    "repeat": f.repeat, "fold": f.fold, "epochs": f.epochs, "metrics": f.metrics, "failed": f.failed,
                })).collect::<Vec<_>>(),
                "seconds": o.seconds,
                "status": status(o),
            })
        })
        .collect();
    let json = serde_json::json!({
        "metric": metric,
        "higher_is_better": higher,
        "resampling": resampling,
        "searched": space.iter().map(|(k, v)| serde_json::json!({"name": k, "values": v})).collect::<Vec<_>>(),
        "rungs": rungs,
        "trials": trials,
    });
    let json_text = serde_json::to_string_pretty(&json).context("cannot write the results as JSON")?;

    // The plot: every trial at its last rung, one panel per searched setting.
    let panels: Vec<ScorePanel> = space
        .iter()
        .enumerate()
        .map(|(k, (name, values))| {
            let nums: Option<Vec<f64>> = outcomes.iter().map(|o| o.values[k].1.parse::<f64>().ok()).collect();
            let (axis, xs): (ScoreAxis, Vec<f64>) = match (nums, values) {
                (Some(xs), v) => {
                    let log = match v {
                        Values::Range { log, .. } => *log,
                        Values::List(_) => {
                            let (lo, hi) = xs.iter().fold((f64::INFINITY, 0f64), |(l, h), &x| (l.min(x), h.max(x)));
                            lo > 0.0 && hi / lo >= 9.99
                        }
                    };
                    (ScoreAxis::Numeric { log }, xs)
                }
                (None, _) => {
                    let mut cats: Vec<String> = Vec::new();
                    if let Values::List(l) = values {
                        for v in l {
                            if !cats.contains(v) {
                                cats.push(v.clone());
                            }
                        }
                    }
                    let xs = outcomes
                        .iter()
                        .map(|o| cats.iter().position(|c| *c == o.values[k].1).unwrap_or(0) as f64)
                        .collect();
                    (ScoreAxis::Categories(cats), xs)
                }
            };
            let points = outcomes
                .iter()
                .zip(xs)
                .map(|(o, x)| {
                    let (s, sd) = score_of(&o.report, metric);
                    (x, s, sd, o.epochs)
                })
                .collect();
            ScorePanel { name: name.clone(), axis, points }
        })
        .collect();
    let stage = crate::cmd::plot::staged(dir, |stage| {
        let png = stage.join("scores.png");
        search_scores(&png, metric, &panels)?;
        Ok(vec![png])
    })?;
    fsio::write_atomic(&csv_path, csv.as_bytes())?;
    fsio::write_atomic(&json_path, json_text.as_bytes())?;
    let _ = &png_path;
    let mut files = vec![csv_path, json_path];
    files.extend(stage);
    Ok(files)
}
