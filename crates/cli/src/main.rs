//! The `mlp` command line: parse the flags, run one subcommand, and turn its outcome into an exit
//! code (0 done or broken pipe, 2 error, 130 interrupted) with a one-line message on stderr.

mod cmd;
mod flags;
mod output;
mod plan;
#[allow(dead_code)] // A few helpers (e.g. the GIF frame size check) are used only by its tests.
mod plots;
mod progress;
mod source;

use clap::Parser;
use flags::{Cli, Command};
use std::process::ExitCode;
use std::sync::atomic::Ordering;

/// Training stopped on Ctrl-C after writing its checkpoint; the message says how to resume.
#[derive(Debug)]
pub struct Interrupted(pub String);

impl std::fmt::Display for Interrupted {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Interrupted {}

fn run(cli: Cli) -> anyhow::Result<()> {
    match cli.command {
        Command::Train(args) => cmd::train::run(*args),
        Command::Evaluate(args) => cmd::evaluate::run(args),
        Command::Predict(args) => cmd::predict::run(args),
        Command::Summary(args) => cmd::summary::run(args),
        Command::Gradcheck(args) => cmd::gradcheck::run(args),
        Command::Data(args) => cmd::data::run(args),
        Command::Plot(args) => cmd::plot::run(args),
        Command::Export(args) => cmd::export::run(args),
    }
}

fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain()
        .any(|e| e.downcast_ref::<std::io::Error>().is_some_and(|io| io.kind() == std::io::ErrorKind::BrokenPipe))
}

/// The error and its causes on one line, `a: b: c`, leaving out a cause whose text the message
/// already shows (the library's I/O errors print their source themselves).
fn one_line(err: &anyhow::Error) -> String {
    let mut msg = String::new();
    for cause in err.chain() {
        let text = cause.to_string();
        if msg.contains(&text) {
            continue;
        }
        if !msg.is_empty() {
            msg.push_str(": ");
        }
        msg.push_str(&text);
    }
    msg.replace('\n', " ")
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // The first Ctrl-C asks training to stop after the current batch and checkpoint; a second one
    // means "now", for when that is not soon enough.
    let _ = ctrlc::set_handler(|| {
        if cmd::train::INTERRUPT.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<Interrupted>().is_some() => {
            eprintln!("mlp: {}", one_line(&err));
            ExitCode::from(130)
        }
        Err(err) => {
            eprintln!("mlp: {}", one_line(&err));
            ExitCode::from(2)
        }
    }
}
