//! `admin-webhooks-bench`: the benchmark harness of Admin Webhooks (issue 4, DESIGN.md
//! "Benchmarks").
//!
//! ```sh
//! cargo run --release -p admin-webhooks-bench -- [--quick] [--postgres [--database-url URL]]
//! ```
//!
//! It starts the service as a separate process (this binary re-executed with a hidden
//! subcommand, see [`service`]) on a fresh store per scenario, a fast local receiver
//! ([`receiver`]) and a load generator ([`load`]) in this process, runs the scenarios
//! ([`scenarios`]) and prints one markdown table ([`table`]) on stdout; progress goes to
//! stderr. Everything is on 127.0.0.1, bounded in count and time, and the service is
//! killed when the run ends, also on an error or a panic.

mod clock;
mod load;
mod profile;
mod receiver;
mod scenarios;
mod service;
mod table;

use std::path::PathBuf;
use std::time::Instant;

use clap::Parser;

use scenarios::{Bench, Plan, Scenario};

#[derive(Debug, Parser)]
#[command(
    name = "admin-webhooks-bench",
    about = "Benchmarks Admin Webhooks on this machine and prints one table."
)]
struct Cli {
    /// Shorter windows and a 50,000-delivery backlog: the whole run in under a minute.
    #[arg(long)]
    quick: bool,

    /// Concurrent connections (workers) of the load generator.
    #[arg(long, default_value_t = 64)]
    connections: usize,

    /// Run only these scenarios (comma-separated).
    #[arg(long, value_enum, value_delimiter = ',')]
    only: Vec<Scenario>,

    /// Deliveries in the backlog scenario [default: 1,000,000; 50,000 with --quick].
    #[arg(long)]
    backlog: Option<u64>,

    /// Spread the backlog over this many endpoints (each drains in its own order).
    #[arg(long, default_value_t = 1)]
    backlog_endpoints: usize,

    /// Record `perf record` profiles of the service (publish with 1 and 10 endpoints,
    /// delivery to 1 endpoint) into this folder.
    #[arg(long)]
    perf: Option<PathBuf>,

    /// Also measure on PostgreSQL (a fresh database per scenario, one and three
    /// processes) at --database-url.
    #[arg(long)]
    postgres: bool,

    /// The PostgreSQL server for --postgres: the bench creates and drops its own
    /// `aw_bench_*` databases there (implies --postgres).
    #[arg(long, value_name = "URL")]
    database_url: Option<String>,
}

const DEFAULT_DATABASE_URL: &str = "postgres://postgres@127.0.0.1:5432/test";

fn main() -> anyhow::Result<()> {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == service::SUBCOMMAND)
    {
        return service::child_main();
    }
    let cli = Cli::parse();
    anyhow::ensure!(cli.connections > 0, "--connections must be at least 1");
    anyhow::ensure!(
        (1..=50).contains(&cli.backlog_endpoints),
        "--backlog-endpoints must be 1 to 50 (the workspace's endpoint limit)"
    );
    clock::now_ns(); // Starts the shared clock.

    let mut plan = if cli.quick {
        Plan::quick(cli.connections)
    } else {
        Plan::full(cli.connections)
    };
    if let Some(backlog) = cli.backlog {
        plan.backlog = backlog;
    }
    plan.backlog_endpoints = cli.backlog_endpoints;

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    let started = Instant::now();
    let postgres =
        cli.postgres || cli.database_url.is_some() || cli.only.contains(&Scenario::Postgres);
    let mut bench = Bench::new(plan, cli.only, cli.perf)?;
    if postgres {
        bench.postgres = Some(
            cli.database_url
                .unwrap_or_else(|| DEFAULT_DATABASE_URL.to_owned()),
        );
    }
    let outcome = runtime.block_on(bench.run());
    // The table of what did run is printed even when a later scenario failed.
    println!("{}", bench.table.render());
    eprintln!(
        "run took {:.0} s ({} mode)",
        started.elapsed().as_secs_f64(),
        if cli.quick { "quick" } else { "full" }
    );
    outcome
}
