//! The `mlp` binary end to end: one integration test binary, one module per concern (in `cli/`),
//! each test in its own temporary directory.

#[path = "cli/util.rs"]
mod util;

#[path = "cli/algos.rs"]
mod algos;
#[path = "cli/aliasing.rs"]
mod aliasing;
#[path = "cli/compat.rs"]
mod compat;
#[path = "cli/crafted.rs"]
mod crafted;
#[path = "cli/defaults.rs"]
mod defaults;
#[path = "cli/errors.rs"]
mod errors;
#[path = "cli/failures.rs"]
mod failures;
#[path = "cli/files.rs"]
mod files;
/// The `--config` schema and parser, for `errors::config_parser_never_panics`.
#[allow(dead_code)]
#[path = "../src/flags.rs"]
mod flags;
#[path = "cli/formats.rs"]
mod formats;
#[path = "cli/limits.rs"]
mod limits;
#[path = "cli/pipes.rs"]
mod pipes;
#[path = "cli/plots.rs"]
mod plots;
#[path = "cli/resume.rs"]
mod resume;
#[path = "cli/seeds.rs"]
mod seeds;
#[path = "cli/select.rs"]
mod select;
#[path = "cli/signals.rs"]
mod signals;
#[path = "cli/train.rs"]
mod train;
