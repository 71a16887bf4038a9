//! Training progress on stderr: a live bar per epoch when stderr is a terminal, one line (text or
//! JSON) per finished epoch, nothing with `--quiet`. Also the callback that keeps weights for the
//! decision-boundary animation.

use crate::flags::LogFormat;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use mlp::Model;
use mlp::train::{Callback, Control, EpochRecord, Event};
use std::io::IsTerminal;

/// Reports training as it goes.
pub struct Progress {
    format: LogFormat,
    quiet: bool,
    bar: Option<ProgressBar>,
    epochs: usize,
    batches: usize,
    use_bar: bool,
}

impl Progress {
    /// A reporter; the bar is drawn only when stderr is a terminal and not quiet.
    pub fn new(format: LogFormat, quiet: bool) -> Self {
        let use_bar = !quiet && format == LogFormat::Text && std::io::stderr().is_terminal();
        // The bar's own writes ignore errors; every line goes through the checked writer.
        Self { format, quiet, bar: None, epochs: 0, batches: 0, use_bar }
    }

    fn line(&self, text: &str) {
        match &self.bar {
            Some(bar) => bar.suspend(|| crate::term::errln(text)),
            None => crate::term::errln(text),
        }
    }
}

/// `loss 0.1234  accuracy 0.9500  val_loss …` in a stable order: training metrics, then validation.
pub fn format_metrics(record: &EpochRecord) -> String {
    let mut keys: Vec<&String> = record.metrics.keys().collect();
    // The dead-unit fractions after the scores, in layer order.
    keys.sort_by_key(|k| (k.starts_with("dead_units_"), k.starts_with("val_"), !k.ends_with("loss"), k.to_string()));
    keys.iter().map(|k| format!("{k} {:.4}", record.metrics[*k])).collect::<Vec<_>>().join("  ")
}

impl Callback for Progress {
    fn on_event(&mut self, event: &Event<'_>) -> Control {
        if self.quiet {
            return Control::Continue;
        }
        match event {
            Event::TrainBegin { epochs, first_epoch, batches, samples, valid_samples } => {
                self.epochs = *epochs;
                self.batches = *batches;
                if *first_epoch > 1 {
                    self.line(&format!("resuming at epoch {first_epoch}"));
                }
                if self.format == LogFormat::Json {
                    let j = serde_json::json!({"event": "train_begin", "epochs": epochs, "first_epoch": first_epoch,
                        "samples": samples, "valid_samples": valid_samples});
                    self.line(&j.to_string());
                }
            }
            Event::EpochBegin { epoch } if self.use_bar && !crate::term::stderr_closed() => {
                let bar = ProgressBar::with_draw_target(Some(self.batches as u64), ProgressDrawTarget::stderr());
                bar.set_prefix(format!("{epoch}/{}", self.epochs));
                if let Ok(style) =
                    ProgressStyle::with_template("epoch {prefix} [{bar:30}] {pos}/{len} batches, ETA {eta}  {msg}")
                {
                    bar.set_style(style.progress_chars("=> "));
                }
                self.bar = Some(bar);
            }
            Event::BatchEnd { batch, batches, loss, accuracy, .. } => {
                if let Some(bar) = &self.bar {
                    bar.set_length(*batches as u64);
                    bar.set_position(*batch as u64);
                    let acc = accuracy.map(|a| format!("  accuracy {a:.4}")).unwrap_or_default();
                    bar.set_message(format!("loss {loss:.4}{acc}"));
                }
            }
            Event::EpochEnd { record } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
                let text = match self.format {
                    LogFormat::Text => format!(
                        "epoch {}/{}  {}  ({:.2} s)",
                        record.epoch,
                        self.epochs,
                        format_metrics(record),
                        record.seconds
                    ),
                    LogFormat::Json => {
                        let mut j = serde_json::json!({"event": "epoch", "epoch": record.epoch, "epochs": self.epochs,
                            "lr": record.lr, "seconds": record.seconds});
                        for (k, v) in &record.metrics {
                            j[k] = serde_json::json!(v);
                        }
                        j.to_string()
                    }
                };
                self.line(&text);
            }
            Event::TrainEnd { .. } => {
                if let Some(bar) = self.bar.take() {
                    bar.finish_and_clear();
                }
            }
            _ => {}
        }
        Control::Continue
    }

    fn name(&self) -> &str {
        "progress"
    }
}

/// Keeps a copy of the weights every `every` epochs (and after the first), for the animation.
pub struct Snapshots {
    /// Epochs between frames.
    pub every: usize,
    /// `(epoch, weights)` in order.
    pub frames: Vec<(usize, Model)>,
}

impl Callback for Snapshots {
    fn on_event(&mut self, _event: &Event<'_>) -> Control {
        Control::Continue
    }

    fn wants_weights(&self, epoch: usize) -> bool {
        epoch == 1 || epoch.is_multiple_of(self.every)
    }

    fn on_weights(&mut self, epoch: usize, model: &Model) {
        self.frames.push((epoch, model.clone()));
    }
}
