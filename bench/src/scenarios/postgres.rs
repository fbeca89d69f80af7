//! The PostgreSQL rows (`--postgres`): publish throughput and end-to-end delivery with the
//! service on PostgreSQL, through one process and through three processes sharing one
//! database (they split the delivery work through lane leases).
//!
//! Each scenario gets a fresh database `aw_bench_<pid>_<random>` on the given server,
//! dropped `WITH (FORCE)` afterwards, also when the scenario failed. The first process
//! creates the schema; the others start once it listens. The load generator spreads its
//! connections round-robin over the processes' addresses.

use std::hash::{BuildHasher, Hasher};
use std::time::Duration;

use anyhow::{Context, bail};
use tokio_postgres::NoTls;

use super::{Bench, plural, publish_target};
use crate::clock;
use crate::load::{self, Target};
use crate::receiver::Receiver;
use crate::service::{self, Service};
use crate::table::thousands;

/// One PostgreSQL scenario.
#[derive(Clone, Copy)]
enum Pg {
    Publish {
        procs: usize,
    },
    Delivery {
        endpoints: usize,
        events: u64,
        procs: usize,
    },
}

impl Bench {
    /// Every PostgreSQL row, each scenario on a fresh database of the server at `server`.
    pub(super) async fn postgres_rows(&mut self, server: &str) -> anyhow::Result<()> {
        let (one, many) = (
            self.plan.pg_delivery_one_events,
            self.plan.pg_delivery_many_events,
        );
        let many_endpoints = self.plan.many_endpoints;
        let mut scenarios = vec![Pg::Publish { procs: 1 }, Pg::Publish { procs: 3 }];
        for procs in [1, 3] {
            scenarios.push(Pg::Delivery {
                endpoints: 1,
                events: one,
                procs,
            });
        }
        for procs in [1, 3] {
            scenarios.push(Pg::Delivery {
                endpoints: many_endpoints,
                events: many,
                procs,
            });
        }
        for scenario in scenarios {
            let db = TempDb::create(server).await?;
            let outcome = match scenario {
                Pg::Publish { procs } => self.pg_publish(&db.url, procs).await,
                Pg::Delivery {
                    endpoints,
                    events,
                    procs,
                } => self.pg_delivery(&db.url, endpoints, events, procs).await,
            };
            // The services are gone by now (dropped in the scenario); FORCE ends any
            // connection that lingers.
            let dropped = db.drop_db().await;
            outcome?;
            dropped?;
        }
        Ok(())
    }

    async fn pg_publish(&mut self, url: &str, procs: usize) -> anyhow::Result<()> {
        eprintln!("PostgreSQL: publish throughput, 1 endpoint, {procs} process(es)");
        let receiver = Receiver::start().await?;
        let services = start_services(url, "pg-publish", procs)?;
        services[0].create_endpoints(receiver.addr, 1).await?;
        let cpu = Cpu::start(&services)?;
        let timed = load::closed_timed_spread(
            targets(&services),
            self.plan.connections,
            self.plan.pg_warmup,
            self.plan.pg_measure,
        )
        .await;
        let delivered_in_window = receiver.total();
        let cpu = cpu.summary(&services)?;
        self.table.throughput(
            &format!(
                "PostgreSQL: publish (202s), 1 endpoint subscribed, {}",
                processes(procs)
            ),
            timed.rate(),
            "events/s",
        );
        self.table.note(format!(
            "PostgreSQL publish, {}: {} events accepted in the {:.1} s window; by its end the \
             receiver had {} deliveries (warm-up included); {cpu}",
            processes(procs),
            thousands(timed.ok as f64),
            timed.window.as_secs_f64(),
            thousands(delivered_in_window as f64),
        ));
        let name = format!("PostgreSQL publish, {}", processes(procs));
        self.errors(&name, timed.errors, &timed.error_kinds);
        for service in &services {
            self.service_log(service, &name);
        }
        Ok(())
    }

    async fn pg_delivery(
        &mut self,
        url: &str,
        endpoints: usize,
        events: u64,
        procs: usize,
    ) -> anyhow::Result<()> {
        eprintln!(
            "PostgreSQL: end-to-end delivery, {endpoints} endpoint(s), {events} events, {procs} process(es)"
        );
        let receiver = Receiver::start().await?;
        let services = start_services(url, &format!("pg-delivery-{endpoints}"), procs)?;
        services[0]
            .create_endpoints(receiver.addr, endpoints)
            .await?;
        let cpu = Cpu::start(&services)?;
        let published =
            load::closed_count_spread(targets(&services), self.plan.connections, events).await;
        let expected = published.ok * endpoints as u64;
        let complete = receiver
            .wait_total(expected, self.plan.pg_delivery_timeout)
            .await;
        let cpu = cpu.summary(&services)?;
        let end_ns = if complete {
            receiver.last_arrival_ns()
        } else {
            clock::now_ns()
        };
        let delivered = receiver.total().min(expected);
        let elapsed = clock::between(published.started_ns, end_ns);
        let (fewest, most) = (0..endpoints)
            .map(|i| receiver.endpoint_count(i))
            .fold((u64::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
        let label = format!(
            "PostgreSQL: delivered end to end, {endpoints} endpoint{} ({events} events{}), {}",
            plural(endpoints),
            if endpoints == 1 { "" } else { " to each" },
            processes(procs)
        );
        let label = if complete {
            label
        } else {
            format!(
                "{label} — INCOMPLETE: {delivered} of {expected} within {:.0} s",
                elapsed.as_secs_f64()
            )
        };
        self.table.throughput(
            &label,
            delivered as f64 / elapsed.as_secs_f64(),
            "deliveries/s",
        );
        self.table.note(format!(
            "PostgreSQL delivery, {endpoints} endpoint{}, {}: {} events published in {:.2} s \
             ({} events/s), {} deliveries received {:.2} s after the first publish (per endpoint \
             {fewest}..{most}); order violations {}{}, duplicates {}; {cpu}",
            plural(endpoints),
            processes(procs),
            thousands(published.ok as f64),
            clock::between(published.started_ns, published.finished_ns).as_secs_f64(),
            thousands(published.rate()),
            thousands(delivered as f64),
            elapsed.as_secs_f64(),
            receiver.out_of_order(),
            if procs > 1 {
                // The receiver checks webhook-id (event ULID) order; ids made by
                // different processes are not ordered with each other, seqs are.
                " (by event id, which is not ordered across processes; the contract is \
                 per-endpoint seq order)"
            } else {
                ""
            },
            receiver.duplicates(),
        ));
        let name = format!(
            "PostgreSQL delivery, {endpoints} endpoints, {}",
            processes(procs)
        );
        self.errors(&name, published.errors, &published.error_kinds);
        for service in &services {
            self.service_log(service, &name);
        }
        Ok(())
    }
}

fn processes(n: usize) -> String {
    if n == 1 {
        "1 process".to_owned()
    } else {
        format!("{n} processes")
    }
}

/// `procs` service processes on the database at `url`; the first creates the schema, the
/// others start once it listens.
fn start_services(url: &str, name: &str, procs: usize) -> anyhow::Result<Vec<Service>> {
    (0..procs)
        .map(|i| Service::start(&format!("{name}-{i}"), &["--database-url", url]))
        .collect()
}

fn targets(services: &[Service]) -> Vec<Target> {
    services.iter().map(publish_target).collect()
}

/// CPU of all the service processes together and of the bench process, in cores.
struct Cpu {
    services: Duration,
    bench: Duration,
    at: std::time::Instant,
}

impl Cpu {
    fn services(services: &[Service]) -> anyhow::Result<Duration> {
        services.iter().map(Service::cpu).sum()
    }

    fn start(services: &[Service]) -> anyhow::Result<Cpu> {
        Ok(Cpu {
            services: Self::services(services)?,
            bench: service::cpu_of("self")?,
            at: std::time::Instant::now(),
        })
    }

    fn summary(&self, services: &[Service]) -> anyhow::Result<String> {
        let wall = self.at.elapsed().as_secs_f64();
        let used = |now: Duration, then: Duration| (now - then).as_secs_f64() / wall;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Ok(format!(
            "CPU: service processes {:.2} cores together, bench {:.2} cores (of {cores}; \
             PostgreSQL itself not counted)",
            used(Self::services(services)?, self.services),
            used(service::cpu_of("self")?, self.bench),
        ))
    }
}

/// A fresh database on the server, for one scenario.
pub(super) struct TempDb {
    admin: tokio_postgres::Client,
    name: String,
    pub(super) url: String,
}

impl TempDb {
    pub(super) async fn create(server: &str) -> anyhow::Result<TempDb> {
        let (admin, connection) = tokio_postgres::connect(server, NoTls)
            .await
            .with_context(|| format!("cannot connect to PostgreSQL at {server}"))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let random = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        let name = format!("aw_bench_{}_{random:016x}", std::process::id());
        admin
            .batch_execute(&format!("CREATE DATABASE {name}"))
            .await
            .with_context(|| format!("cannot create database {name}"))?;
        let url = with_database(server, &name)?;
        Ok(TempDb { admin, name, url })
    }

    pub(super) async fn drop_db(self) -> anyhow::Result<()> {
        self.admin
            .batch_execute(&format!(
                "DROP DATABASE IF EXISTS {} WITH (FORCE)",
                self.name
            ))
            .await
            .with_context(|| format!("cannot drop database {}", self.name))
    }
}

/// `url` with its database (the path) replaced by `name`; the query string is kept.
fn with_database(url: &str, name: &str) -> anyhow::Result<String> {
    let Some((scheme, rest)) = url.split_once("://") else {
        bail!("not a postgres:// URL: {url}");
    };
    let (rest, query) = match rest.split_once('?') {
        Some((rest, query)) => (rest, Some(query)),
        None => (rest, None),
    };
    let authority = rest
        .split_once('/')
        .map_or(rest, |(authority, _)| authority);
    let mut out = format!("{scheme}://{authority}/{name}");
    if let Some(query) = query {
        out.push('?');
        out.push_str(query);
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::with_database;

    #[test]
    fn replaces_the_database() {
        assert_eq!(
            with_database("postgres://postgres@127.0.0.1:5432/test", "x").unwrap(),
            "postgres://postgres@127.0.0.1:5432/x"
        );
        assert_eq!(
            with_database("postgresql://u:p@h/db?sslmode=disable", "x").unwrap(),
            "postgresql://u:p@h/x?sslmode=disable"
        );
        assert_eq!(
            with_database("postgres://h", "x").unwrap(),
            "postgres://h/x"
        );
    }
}
