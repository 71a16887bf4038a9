//! The cross-validation runner: every (setting, fold) pair trained from its own initial weights
//! and scored on the fold's held-out rows, the pairs spread over parallel jobs.

use super::folds::Fold;
use crate::data::Dataset;
use crate::error::{Error, Result};
use crate::nn::ModelConfig;
use crate::train::{FitConfig, StopReason, Trainer, evaluate};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Instant;

/// One setting to cross-validate: an architecture, its training configuration, the data and
/// the folds over that data.
#[derive(Clone, Copy, Debug)]
pub struct Candidate<'a> {
    /// The architecture; every fold starts from `model.init(fit.seed)`.
    pub model: &'a ModelConfig,
    /// How each fold trains (its `threads` is ignored: [`CvOptions`] decides).
    pub fit: &'a FitConfig,
    /// All the rows the folds index.
    pub data: &'a Dataset,
    /// The folds (see [`super::Resampling::folds`]).
    pub folds: &'a [Fold],
}

/// How the runner spends the machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct CvOptions<'a> {
    /// CPU threads in all (0: one per core).
    pub threads: usize,
    /// Folds trained at once (`None`: [`plan_jobs`] decides).
    pub jobs: Option<usize>,
    /// Once set, no further fold starts and running ones stop at their next batch; the reports
    /// then hold only the folds that finished.
    pub interrupt: Option<&'a AtomicBool>,
}

/// One trained and scored fold.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct FoldScore {
    /// Index of the candidate in the list given to [`cross_validate_all`].
    pub candidate: usize,
    /// 0-based repeat.
    pub repeat: usize,
    /// 0-based fold within the repeat.
    pub fold: usize,
    /// Rows trained on.
    pub train_rows: usize,
    /// Rows scored.
    pub test_rows: usize,
    /// Epochs trained (fewer than asked with early stopping).
    pub epochs: usize,
    /// The held-out rows' scores, as [`crate::train::evaluate`] names them (`loss`, `accuracy`
    /// or `mse`, `mae`, `r2`…); empty when the fold failed.
    pub metrics: BTreeMap<String, f64>,
    /// Why the fold has no scores: training diverged (a NaN or infinite loss).
    pub failed: Option<String>,
    /// Wall-clock seconds of training and scoring.
    pub seconds: f64,
}

/// A candidate's folds with the mean and standard deviation of every metric.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
pub struct CvReport {
    /// Every finished fold, in (repeat, fold) order.
    pub folds: Vec<FoldScore>,
    /// The mean over the folds that did not fail.
    pub mean: BTreeMap<String, f64>,
    /// The population standard deviation (numpy's `std`, `ddof=0`) over the same folds.
    pub std: BTreeMap<String, f64>,
}

impl CvReport {
    fn of(folds: Vec<FoldScore>) -> Self {
        let ok: Vec<&FoldScore> = folds.iter().filter(|f| f.failed.is_none()).collect();
        let (mut mean, mut std) = (BTreeMap::new(), BTreeMap::new());
        if let Some(first) = ok.first() {
            for key in first.metrics.keys() {
                let v: Vec<f64> = ok.iter().filter_map(|f| f.metrics.get(key).copied()).collect();
                let m = v.iter().sum::<f64>() / v.len() as f64;
                let var = v.iter().map(|x| (x - m) * (x - m)).sum::<f64>() / v.len() as f64;
                mean.insert(key.clone(), m);
                std.insert(key.clone(), var.sqrt());
            }
        }
        Self { folds, mean, std }
    }

    /// The first failed fold's reason, when any failed.
    pub fn failure(&self) -> Option<&str> {
        self.folds.iter().find_map(|f| f.failed.as_deref())
    }
}

/// How many folds to train at once and with how many threads each, for `tasks` folds on
/// `threads` threads (0: one per core).
///
/// Folds in parallel, one thread each, as long as there are folds for every thread; leftover
/// threads go to the jobs evenly. Measured on a quiet 2-core machine (BENCHMARKS.md,
/// "Cross-validation"; `bench/cv_parallel.sh 5 2`): 1.95× faster than one fold at a time on all
/// threads for a small net (whose products are too small for the backend to split, so one fold
/// on two threads runs on one anyway) and 2.24× for a net of 256-unit layers. Independent folds
/// never wait for each other; one fold's threads meet at every product.
pub fn plan_jobs(tasks: usize, threads: usize) -> (usize, usize) {
    let threads = if threads == 0 { std::thread::available_parallelism().map_or(1, |n| n.get()) } else { threads };
    let jobs = tasks.clamp(1, threads);
    (jobs, (threads / jobs).max(1))
}

/// Cross-validates one setting (see [`cross_validate_all`]).
pub fn cross_validate(candidate: Candidate<'_>, opts: &CvOptions<'_>) -> Result<CvReport> {
    Ok(cross_validate_all(&[candidate], opts, &|_| {})?.remove(0))
}

/// Trains and scores every fold of every candidate, `opts.jobs` folds at a time, and calls
/// `on_fold` as each finishes (from the worker that ran it, so in completion order). A fold
/// whose training diverges is recorded as failed; any other error stops the run and is returned.
pub fn cross_validate_all(
    candidates: &[Candidate<'_>],
    opts: &CvOptions<'_>,
    on_fold: &(dyn Fn(&FoldScore) + Sync),
) -> Result<Vec<CvReport>> {
    for c in candidates {
        for f in c.folds {
            if let Some(&r) = f.train.iter().chain(&f.test).find(|&&r| r >= c.data.len()) {
                return Err(Error::Data(format!("fold row {r} is beyond the data's {} rows", c.data.len())));
            }
        }
    }
    let tasks: Vec<(usize, &Fold)> =
        candidates.iter().enumerate().flat_map(|(i, c)| c.folds.iter().map(move |f| (i, f))).collect();
    let (jobs, per_job) = match opts.jobs {
        Some(j) => {
            let total = if opts.threads == 0 {
                std::thread::available_parallelism().map_or(1, |n| n.get())
            } else {
                opts.threads
            };
            let j = j.clamp(1, tasks.len().max(1));
            (j, (total / j).max(1))
        }
        None => plan_jobs(tasks.len(), opts.threads),
    };
    let results: Mutex<Vec<Option<FoldScore>>> = Mutex::new(vec![None; tasks.len()]);
    let error: Mutex<Option<Error>> = Mutex::new(None);
    let next = AtomicUsize::new(0);
    let stop = AtomicBool::new(false);
    let work = || {
        loop {
            if stop.load(Ordering::SeqCst) || opts.interrupt.is_some_and(|f| f.load(Ordering::SeqCst)) {
                return;
            }
            let t = next.fetch_add(1, Ordering::SeqCst);
            let Some(&(ci, fold)) = tasks.get(t) else { return };
            match run_fold(ci, &candidates[ci], fold, per_job, opts.interrupt) {
                Ok(Some(score)) => {
                    on_fold(&score);
                    results.lock().unwrap_or_else(|e| e.into_inner())[t] = Some(score);
                }
                Ok(None) => return,
                Err(e) => {
                    stop.store(true, Ordering::SeqCst);
                    error.lock().unwrap_or_else(|e| e.into_inner()).get_or_insert(e);
                    return;
                }
            }
        }
    };
    if jobs == 1 {
        // Inline: no thread is started (so this also runs where there are none, as in WebAssembly).
        work();
    } else {
        std::thread::scope(|s| {
            for _ in 0..jobs {
                s.spawn(work);
            }
        });
    }
    if let Some(e) = error.into_inner().unwrap_or_else(|e| e.into_inner()) {
        return Err(e);
    }
    let mut per: Vec<Vec<FoldScore>> = vec![Vec::new(); candidates.len()];
    for score in results.into_inner().unwrap_or_else(|e| e.into_inner()).into_iter().flatten() {
        per[score.candidate].push(score);
    }
    Ok(per.into_iter().map(CvReport::of).collect())
}

/// Trains one fold from fresh weights and scores its held-out rows; `None` when interrupted.
fn run_fold(
    ci: usize,
    c: &Candidate<'_>,
    fold: &Fold,
    threads: usize,
    interrupt: Option<&AtomicBool>,
) -> Result<Option<FoldScore>> {
    let start = Instant::now();
    let train = c.data.select(&fold.train);
    let test = c.data.select(&fold.test);
    let fit = FitConfig { threads, ..c.fit.clone() };
    let mut model = c.model.init(fit.seed)?;
    let mut trainer = Trainer::new(&fit);
    if let Some(flag) = interrupt {
        trainer = trainer.interrupt(flag);
    }
    let (epochs, metrics, failed) = match trainer.fit(&mut model, &train) {
        Ok(h) if matches!(h.stop, StopReason::Interrupted { .. }) => return Ok(None),
        Ok(h) => (h.epochs.len(), evaluate(&model, &test, fit.loss, threads)?.metrics, None),
        Err(e @ Error::NonFinite { .. }) => (0, BTreeMap::new(), Some(e.to_string())),
        Err(e) => return Err(e),
    };
    Ok(Some(FoldScore {
        candidate: ci,
        repeat: fold.repeat,
        fold: fold.index,
        train_rows: train.len(),
        test_rows: test.len(),
        epochs,
        metrics,
        failed,
        seconds: start.elapsed().as_secs_f64(),
    }))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::select::Resampling;

    #[test]
    fn scores_are_the_same_for_any_number_of_jobs_and_threads() {
        let data = crate::data::synth::circles(120, 0.1, 0.4, 1);
        let model = ModelConfig::parse(2, "6:tanh,2:softmax").unwrap();
        let fit = FitConfig { loss: crate::Loss::CategoricalCrossEntropy, epochs: 3, ..FitConfig::default() };
        let folds = Resampling::KFold { folds: 3, repeats: 1, stratify: true }.folds(&data.y, 0).unwrap();
        let c = Candidate { model: &model, fit: &fit, data: &data, folds: &folds };
        let run = |threads, jobs| {
            let mut r = cross_validate(c, &CvOptions { threads, jobs, interrupt: None }).unwrap();
            r.folds.iter_mut().for_each(|f| f.seconds = 0.0);
            r
        };
        let one = run(1, Some(1));
        assert_eq!(one.folds.len(), 3);
        assert!(one.mean["accuracy"] > 0.0 && one.std.contains_key("loss"));
        assert_eq!(one, run(2, Some(2)));
        assert_eq!(one, run(2, Some(1)));
        assert_eq!(one, run(3, None));
    }

    #[test]
    fn plan_gives_every_thread_a_fold() {
        assert_eq!(plan_jobs(5, 2), (2, 1));
        assert_eq!(plan_jobs(1, 4), (1, 4));
        assert_eq!(plan_jobs(2, 5), (2, 2));
    }
}
