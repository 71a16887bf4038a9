//! `mlp cv`: the data and training settings of `mlp train`, cross-validated by the library's
//! runner ([`mlp::select`]); per-fold and mean ± std scores on stdout (text or JSON), one line
//! per finished fold on stderr. Also the pieces `mlp tune` shares: the plan from the flags, the
//! folds, the options of the runner.

use crate::Interrupted;
use crate::cmd::train::{Prepared, load_data, prepare};
use crate::flags::{CvArgs, FoldFlags, LogFormat, TrainArgs, TrainSettings};
use crate::plan::{Device, TrainPlan};
use crate::signals::{self, INTERRUPT};
use crate::source::TrainData;
use crate::term;
use anyhow::{Result, bail};
use mlp::Error;
use mlp::select::{Candidate, CvOptions, CvReport, FoldScore, Resampling, cross_validate_all};
use std::sync::atomic::Ordering;

/// The train flags that only say where `mlp train` writes, or what it starts from: refused by
/// `mlp cv` (which writes nothing) and as searched settings of `mlp tune`.
pub(crate) fn refuse_outputs(s: &TrainSettings, command: &str, allowed_out: bool) -> Result<()> {
    let given = [
        (s.out.is_some() && !allowed_out, "--out"),
        (s.history.is_some() && !allowed_out, "--history"),
        (s.plots.is_some() && !allowed_out, "--plots"),
        (s.checkpoint.is_some(), "--checkpoint"),
        (s.checkpoint_every.is_some(), "--checkpoint-every"),
        (s.init_from.is_some(), "--init-from"),
    ];
    if let Some((_, flag)) = given.iter().find(|(g, _)| *g) {
        return Err(Error::config(
            flag.to_string(),
            format!("does not apply to mlp {command}; it is a flag of mlp train"),
        )
        .into());
    }
    Ok(())
}

/// The validated plan of `settings` (flags over `--config`), as `mlp train` would run it, for
/// `mlp {command}`: never the demo (it needs `--data`, here or in the config file).
pub(crate) fn plan_for(
    command: &str,
    config: Option<&std::path::Path>,
    quiet: bool,
    settings: TrainSettings,
) -> Result<TrainPlan> {
    let no_data =
        settings.data.is_none() && config.map(crate::plan::read_config).transpose()?.is_none_or(|c| c.data.is_none());
    if no_data {
        return Err(Error::config(
            "--data",
            format!("mlp {command} needs training data: a CSV file, an MNIST directory or builtin:NAME"),
        )
        .into());
    }
    let plan = TrainPlan::new(TrainArgs { config: config.map(Into::into), resume: None, quiet, settings })?;
    if plan.device != Device::Cpu {
        bail!("mlp cv and mlp tune train on the CPU (its folds side by side); --device cuda is for mlp train");
    }
    Ok(plan)
}

/// The folds asked for.
pub(crate) fn resampling(f: &FoldFlags, holdout: Option<f32>) -> Result<Resampling> {
    if f.jobs == Some(0) {
        return Err(Error::config("--jobs", "must be at least 1").into());
    }
    crate::plan::check_threads(f.jobs)?;
    Ok(match holdout {
        Some(fraction) => Resampling::Holdout { fraction, stratify: !f.no_stratify },
        None => Resampling::KFold { folds: f.folds, repeats: f.repeats, stratify: !f.no_stratify },
    })
}

/// `5-fold (stratified), 2 repeats`.
pub(crate) fn describe_resampling(r: &Resampling) -> String {
    match *r {
        Resampling::KFold { folds, repeats, stratify } => format!(
            "{folds}-fold{}{}",
            if stratify { " (stratified)" } else { "" },
            if repeats > 1 { format!(", {repeats} repeats") } else { String::new() }
        ),
        Resampling::Holdout { fraction, stratify } => {
            format!("a {fraction} holdout{}", if stratify { " (stratified)" } else { "" })
        }
    }
}

/// The metric names of a report in display order: loss first, then the rest alphabetically.
pub(crate) fn metric_names(report: &CvReport) -> Vec<String> {
    let mut keys: Vec<String> = report.mean.keys().cloned().collect();
    keys.sort_by_key(|k| (k != "loss", k.clone()));
    keys
}

/// `fold 2/5` or `repeat 1 fold 2/5`.
fn fold_label(f: &FoldScore, r: &Resampling) -> String {
    match *r {
        Resampling::KFold { folds, repeats, .. } if repeats > 1 => {
            format!("repeat {} fold {}/{folds}", f.repeat + 1, f.fold + 1)
        }
        Resampling::KFold { folds, .. } => format!("fold {}/{folds}", f.fold + 1),
        Resampling::Holdout { .. } => "holdout".into(),
    }
}

/// Fails with the `Interrupted` message when Ctrl-C (or a signal) stopped the run.
pub(crate) fn check_interrupted(what: &str) -> Result<()> {
    if INTERRUPT.load(Ordering::SeqCst) {
        return Err(Interrupted(format!("interrupted ({}); {what}", signals::name())).into());
    }
    Ok(())
}

/// `mlp cv`.
pub fn run(args: CvArgs) -> Result<()> {
    let CvArgs { config, quiet, fold_file, folds, settings } = args;
    refuse_outputs(&settings, "cv", false)?;
    if settings.test.is_some() {
        return Err(
            Error::config("--test", "does not apply to mlp cv: every fold is scored on its held-out rows").into()
        );
    }
    let plan = plan_for("cv", config.as_deref(), quiet, settings)?;
    // The config file's settings too.
    refuse_outputs(&plan.settings, "cv", false)?;
    let resampling = resampling(&folds, None)?;
    if let Some(path) = &fold_file {
        crate::plan::check_output(path, "--fold-file")?;
        let mut files = crate::paths::Files::default();
        files.source("--data", &plan.data)?;
        files.output("--fold-file", path)?;
        files.check(&[])?;
    }
    signals::graceful();
    let data = load_data(&plan, None)?;
    let Prepared { fit, config: model, .. } = prepare(&plan, &data, None, false)?;
    let fold_list = resampling.folds(&data.train.y, plan.fit.seed)?;
    if let Some(path) = &fold_file {
        let mut text = String::from("repeat,row,fold\n");
        let mut rows: Vec<(usize, usize, usize)> =
            fold_list.iter().flat_map(|f| f.test.iter().map(move |&r| (f.repeat, r, f.index))).collect();
        rows.sort_unstable();
        for (repeat, row, fold) in rows {
            text.push_str(&format!("{},{row},{}\n", repeat + 1, fold + 1));
        }
        mlp::fsio::write_atomic(path, text.as_bytes())?;
    }
    let opts = CvOptions { threads: plan.fit.threads, jobs: folds.jobs, interrupt: Some(&INTERRUPT) };
    let (jobs, per_job) = match opts.jobs {
        Some(j) => {
            let j = j.clamp(1, fold_list.len());
            let total = match plan.fit.threads {
                0 => std::thread::available_parallelism().map_or(1, |n| n.get()),
                t => t,
            };
            (j, (total / j).max(1))
        }
        None => mlp::select::plan_jobs(fold_list.len(), plan.fit.threads),
    };
    if !quiet && plan.log_format == LogFormat::Text {
        term::errln(&format!(
            "{} cross-validation of {} on {} rows; {jobs} fold{} at a time, {per_job} thread{} each",
            describe_resampling(&resampling),
            plan.settings.layers.as_deref().unwrap_or("the default layers"),
            data.train.len(),
            if jobs == 1 { "" } else { "s" },
            if per_job == 1 { "" } else { "s" },
        ));
    }
    let on_fold = |f: &FoldScore| {
        if quiet {
            return;
        }
        match plan.log_format {
            LogFormat::Text => {
                let scores = match &f.failed {
                    Some(why) => format!("failed: {why}"),
                    None => f.metrics.iter().map(|(k, v)| format!("{k} {v:.4}")).collect::<Vec<_>>().join("  "),
                };
                term::errln(&format!("{}: {scores} ({:.1}s)", fold_label(f, &resampling), f.seconds));
            }
            LogFormat::Json => {
                let mut j = serde_json::to_value(f).unwrap_or_default();
                j["event"] = "fold".into();
                term::errln(&j.to_string());
            }
        }
    };
    let candidate = Candidate { model: &model, fit: &fit, data: &data.train, folds: &fold_list };
    let report = cross_validate_all(&[candidate], &opts, &on_fold)?.remove(0);
    check_interrupted("no result")?;
    if let Some(why) = report.failure() {
        bail!("a fold's training failed: {why}");
    }
    print_report(&plan, &resampling, &data, &report)
}

/// The folds and the mean ± std on stdout.
fn print_report(plan: &TrainPlan, r: &Resampling, data: &TrainData, report: &CvReport) -> Result<()> {
    let names = metric_names(report);
    if plan.log_format == LogFormat::Json {
        let j = serde_json::json!({
            "resampling": r,
            "rows": data.train.len(),
            "folds": report.folds.iter().map(|f| serde_json::json!({
                "repeat": f.repeat, "fold": f.fold, "train_rows": f.train_rows, "test_rows": f.test_rows,
                "epochs": f.epochs, "metrics": f.metrics,
            })).collect::<Vec<_>>(),
            "mean": report.mean,
            "std": report.std,
        });
        term::outln(&j.to_string())?;
        return Ok(());
    }
    let mut text = String::new();
    let repeats = matches!(r, Resampling::KFold { repeats, .. } if *repeats > 1);
    text.push_str(if repeats { "repeat  fold  " } else { "fold  " });
    text.push_str("rows  epochs");
    for n in &names {
        text.push_str(&format!("  {n:>10}"));
    }
    text.push('\n');
    for f in &report.folds {
        if repeats {
            text.push_str(&format!("{:<8}", f.repeat + 1));
        }
        text.push_str(&format!("{:<6}{:<6}{:<6}", f.fold + 1, f.test_rows, f.epochs));
        for n in &names {
            text.push_str(&format!("  {:>10.4}", f.metrics.get(n).copied().unwrap_or(f64::NAN)));
        }
        text.push('\n');
    }
    let summary: Vec<String> =
        names.iter().map(|n| format!("{n} {:.4} ± {:.4}", report.mean[n], report.std[n])).collect();
    text.push_str(&format!("mean ± std over {} folds: {}\n", report.folds.len(), summary.join("  ")));
    term::out(&text)?;
    Ok(())
}
