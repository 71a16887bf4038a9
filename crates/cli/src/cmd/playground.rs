//! `mlp playground`: serves the built browser playground (`web/dist`, from `scripts/web`) on loopback and prints its address; the first SIGINT/SIGTERM stops it.

use crate::flags::PlaygroundArgs;
use crate::signals::{self, INTERRUPT};
use anyhow::{Result, bail};
use std::io::Write;
use std::net::{Ipv4Addr, SocketAddr};

/// The files `scripts/web` writes that the page cannot start without.
const NEEDED: [&str; 4] = ["index.html", "main.js", "mlp_wasm.js", "mlp_wasm_bg.wasm"];

/// `mlp playground`.
pub fn run(args: PlaygroundArgs) -> Result<()> {
    let dir = &args.dir;
    if let Some(missing) = NEEDED.iter().find(|f| !dir.join(f).is_file()) {
        bail!(
            "{}: the built playground is not there ({missing} is missing); run scripts/web in the repository to build it, or give --dir DIR",
            dir.display()
        );
    }
    signals::graceful();
    mlp_serve::serve_dir(dir, SocketAddr::new(Ipv4Addr::LOCALHOST.into(), args.port), &INTERRUPT, |addr| {
        // On stdout, flushed, so that a script (or the browser test) can read the address.
        println!("mlp playground: open http://{addr}/ (Ctrl-C stops it)");
        let _ = std::io::stdout().flush();
    })
}
