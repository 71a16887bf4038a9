//! The `mlp` command line.

#[allow(dead_code)] // Used once the subcommands land; until then only its tests call it.
mod plots;

fn main() {}
