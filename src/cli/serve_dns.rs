//! `spfsleuth serve-dns` (hidden): serve zone files over UDP and TCP on a local address,
//! for benchmark scripts and end-to-end tests of `--nameserver`.

use std::io::Write;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::Args;

use crate::dns::server::{DnsServer, ServerOptions};

#[derive(Debug, Args)]
pub struct ServeDnsArgs {
    /// Zone (master) file to serve; repeatable.
    #[arg(long = "zone", value_name = "FILE", required = true)]
    pub zones: Vec<PathBuf>,
    /// Address to listen on, UDP and TCP (port 0 picks a free port).
    #[arg(long, value_name = "IP:PORT", default_value = "127.0.0.1:5353")]
    pub listen: SocketAddr,
    /// Wait this many milliseconds before each answer.
    #[arg(long = "delay-ms", value_name = "MS", default_value_t = 0)]
    pub delay_ms: u64,
    /// Largest UDP answer in bytes (larger ones are truncated, so clients use TCP).
    #[arg(long = "max-udp", value_name = "BYTES")]
    pub max_udp: Option<u16>,
    /// Keep FILE up to date with the query counters (`queries N`, `distinct N`, `tcp N`,
    /// `truncated N`, `dropped N`, then `COUNT NAME TYPE` per pair), rewritten whenever they
    /// change (checked every 100 ms).
    #[arg(long = "stats-file", value_name = "FILE")]
    pub stats_file: Option<PathBuf>,
}

/// Print the bound address on stdout (one line), then serve until killed.
pub fn run(args: ServeDnsArgs) -> anyhow::Result<ExitCode> {
    let zone = crate::dns::zonefile::load(&args.zones)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("cannot start the async runtime")?;
    runtime.block_on(async move {
        let options = ServerOptions {
            delay: Duration::from_millis(args.delay_ms),
            max_udp_payload: args.max_udp,
        };
        let server = DnsServer::start_with(zone, args.listen, options)
            .await
            .with_context(|| format!("cannot listen on {}", args.listen))?;
        let mut stdout = std::io::stdout();
        writeln!(stdout, "{}", server.local_addr())?;
        stdout.flush()?;
        let mut written = None;
        loop {
            tokio::time::sleep(Duration::from_millis(100)).await;
            let Some(path) = &args.stats_file else {
                continue;
            };
            let stats = server.stats();
            if written == Some(stats) {
                continue;
            }
            let mut text = format!(
                "queries {}\ndistinct {}\ntcp {}\ntruncated {}\ndropped {}\n",
                stats.queries, stats.distinct, stats.tcp_queries, stats.truncated, stats.dropped
            );
            for ((name, rtype), count) in server.query_counts() {
                text.push_str(&format!("{count} {name} {rtype}\n"));
            }
            let temporary = path.with_extension("tmp");
            std::fs::write(&temporary, text)
                .and_then(|()| std::fs::rename(&temporary, path))
                .with_context(|| format!("cannot write {}", path.display()))?;
            written = Some(stats);
        }
    })
}
