//! The `mlp` command line: parse the flags, run one subcommand, and turn its outcome into an exit
//! code (0 done or broken pipe, 2 error, 128 + the signal when stopped by SIGINT, SIGTERM or
//! SIGHUP) with a one-line message on stderr.

mod cmd;
mod flags;
#[cfg(feature = "mpi")]
mod mpi_world;
mod output;
mod paths;
mod plan;
#[allow(dead_code)] // A few helpers (e.g. the GIF frame size check) are used only by its tests.
mod plots;
mod progress;
mod scaling;
mod signals;
mod source;
mod term;
mod world;

use clap::Parser;
use flags::{Cli, Command};
use std::process::ExitCode;

/// A run stopped by a signal after saving what it could; the message says what was kept.
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
        Command::Cv(args) => cmd::cv::run(*args),
        Command::Tune(args) => cmd::tune::run(*args),
        Command::Serve(args) => cmd::serve::run(args),
        Command::Playground(args) => cmd::playground::run(args),
    }
}

/// Whether the run ended because stdout's reader went away (`mlp predict … | head`): not an
/// error. A broken pipe on an output *file* (a FIFO whose reader quit) still is one.
fn is_broken_pipe(err: &anyhow::Error) -> bool {
    err.chain().any(|e| {
        matches!(e.downcast_ref::<mlp::Error>(), Some(mlp::Error::Io { path, source })
            if path == "<stdout>" && source.kind() == std::io::ErrorKind::BrokenPipe)
    })
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

/// clap's error as one line: its first line (the what), then where the help is, instead of
/// several lines of usage.
fn clap_one_line(err: &clap::Error) -> String {
    if err.kind() == clap::error::ErrorKind::DisplayHelpOnMissingArgumentOrSubcommand {
        return "mlp: error: no subcommand given (train, evaluate, predict, summary, gradcheck, data, plot, export, cv, tune or serve); \
                see mlp --help"
            .to_string();
    }
    let rendered = err.render().to_string();
    // The what is the first paragraph (a list of missing arguments continues it, indented); the
    // usage and tips after the blank line are left to --help.
    let what: Vec<&str> =
        rendered.lines().map(str::trim).skip_while(|l| l.is_empty()).take_while(|l| !l.is_empty()).collect();
    let what = what.join(" ");
    let what = what.strip_prefix("error: ").unwrap_or(&what);
    let what = if what.is_empty() { "invalid arguments" } else { what };
    // The subcommand whose help to point at: the first argument that names one.
    let sub = std::env::args().skip(1).find(|a| {
        ["train", "evaluate", "predict", "summary", "gradcheck", "data", "plot", "export", "cv", "tune", "serve"]
            .contains(&a.as_str())
    });
    let help = match sub {
        Some(s) => format!("mlp {s} --help"),
        None => "mlp --help".to_string(),
    };
    format!("mlp: error: {what}; see {help}")
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) if matches!(e.kind(), clap::error::ErrorKind::DisplayHelp | clap::error::ErrorKind::DisplayVersion) => {
            // A closed stdout (`mlp --help | head -1`) is not an error.
            let _ = term::out(&e.render().to_string());
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            term::errln(&clap_one_line(&e));
            return ExitCode::from(2);
        }
    };
    if let Err(e) = world::check_launch(matches!(cli.command, Command::Train(_))) {
        term::errln(&format!("mlp: error: {}", one_line(&e)));
        return ExitCode::from(2);
    }
    signals::install();
    match run(cli) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) if err.downcast_ref::<Interrupted>().is_some() => {
            term::errln(&format!("mlp: {}", one_line(&err)));
            ExitCode::from(signals::exit_code())
        }
        Err(err) if is_broken_pipe(&err) => ExitCode::SUCCESS,
        Err(err) => {
            term::errln(&format!("mlp: {}", one_line(&err)));
            ExitCode::from(2)
        }
    }
}
