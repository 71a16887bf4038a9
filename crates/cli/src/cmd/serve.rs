//! `mlp serve`: checks the flags (a listener beyond loopback needs a token or an explicit
//! `--no-auth`), then runs the server of the `mlp-serve` crate until the first SIGINT/SIGTERM,
//! which drains the requests in flight and exits 0 (a second signal exits at once).

use crate::flags::ServeArgs;
use crate::signals::{self, INTERRUPT};
use crate::term;
use anyhow::{Context, Result, bail};
use mlp_serve::{BatchConfig, Config};
use std::net::{IpAddr, Ipv4Addr, SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

/// `mlp serve`.
pub fn run(args: ServeArgs) -> Result<()> {
    signals::graceful();
    let ip: IpAddr = match args.host.parse() {
        Ok(ip) => ip,
        Err(_) if args.host == "localhost" => IpAddr::V4(Ipv4Addr::LOCALHOST),
        Err(_) => (args.host.as_str(), args.port)
            .to_socket_addrs()
            .ok()
            .and_then(|mut a| a.next())
            .map(|a| a.ip())
            .with_context(|| format!("--host {}: not an address or a known host name", args.host))?,
    };
    let token = match &args.token_file {
        Some(p) => {
            let text = std::fs::read_to_string(p).with_context(|| format!("--token-file {}", p.display()))?;
            let token = text.trim().to_string();
            if token.is_empty() {
                bail!("--token-file {}: the file is empty; put the token in it", p.display());
            }
            Some(token)
        }
        None => None,
    };
    if !ip.is_loopback() && token.is_none() && !args.no_auth {
        bail!(
            "--host {}: listening beyond this machine needs --token-file FILE (clients send Authorization: \
             Bearer <token>) or, to accept anyone, --no-auth",
            args.host
        );
    }
    let seconds = |flag: &str, v: f64| -> Result<Duration> {
        if !(v.is_finite() && v > 0.0) {
            bail!("{flag} {v}: give a positive number of seconds");
        }
        Ok(Duration::from_secs_f64(v))
    };
    if args.max_body_mib == 0 {
        bail!("--max-body-mib 0: give at least 1");
    }
    let batch = match args.batching.as_str() {
        "on" => {
            if args.max_batch == 0 {
                bail!("--max-batch 0: give at least 1");
            }
            Some(BatchConfig { max_batch: args.max_batch, max_delay: Duration::from_micros(args.max_queue_delay_us) })
        }
        _ => None,
    };
    let config = Config {
        paths: args.paths,
        addr: SocketAddr::new(ip, args.port),
        token,
        cors: args.cors,
        max_body: args.max_body_mib.saturating_mul(1 << 20),
        read_timeout: seconds("--read-timeout", args.read_timeout)?,
        request_timeout: seconds("--timeout", args.timeout)?,
        drain_timeout: seconds("--drain-timeout", args.drain_timeout)?,
        batch,
        threads: args.threads,
        watch: !args.no_watch,
        log: Arc::new(|line: &str| term::errln(&format!("mlp serve: {line}"))),
    };
    mlp_serve::run(config, &INTERRUPT, |addr, names| {
        term::errln(&format!("mlp serve: listening on http://{addr} ({} models: {})", names.len(), names.join(", ")));
    })
}
