//! The scenarios of issue 4, each on a fresh service and store, filling one [`Table`].
//!
//! Every scenario is bounded in count and time: loads are fixed windows or fixed counts,
//! and every wait for the receiver has a deadline; a scenario that runs out of time says
//! so in its row and notes rather than hanging. All traffic stays on 127.0.0.1.

use std::fmt::Write;
use std::net::{SocketAddr, TcpListener};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use hyper::StatusCode;

use crate::clock;
use crate::load::{self, Target};
use crate::profile::{Profiler, Recording};
use crate::receiver::Receiver;
use crate::service::{self, Service};
use crate::table::{Table, mb_of_kib, ms, thousands};

mod cost;
mod postgres;

#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Scenario {
    Baseline,
    Publish,
    Delivery,
    Latency,
    Backlog,
    /// Statements and rows per published event and per delivered attempt, counted by the
    /// store (SQLite; PostgreSQL too with `--postgres`).
    Cost,
    /// The PostgreSQL rows (implies `--postgres`).
    Postgres,
}

/// Sizes and durations of one run.
pub struct Plan {
    pub connections: usize,
    pub warmup: Duration,
    pub measure: Duration,
    /// Events published in the 1-endpoint delivery scenario.
    pub delivery_one_events: u64,
    /// Events published in the many-endpoint delivery scenario (each to every endpoint).
    pub delivery_many_events: u64,
    pub many_endpoints: usize,
    pub delivery_timeout: Duration,
    pub latency_rate: u64,
    pub latency_duration: Duration,
    /// Deliveries piled up in the backlog scenario, spread over `backlog_endpoints`.
    pub backlog: u64,
    pub backlog_endpoints: usize,
    pub drain_timeout: Duration,
    /// PostgreSQL rows: the publish windows, the events of the 1- and 50-endpoint
    /// delivery scenarios, and their deadline.
    pub pg_warmup: Duration,
    pub pg_measure: Duration,
    pub pg_delivery_one_events: u64,
    pub pg_delivery_many_events: u64,
    pub pg_delivery_timeout: Duration,
}

impl Plan {
    pub fn full(connections: usize) -> Plan {
        Plan {
            connections,
            warmup: Duration::from_secs(2),
            measure: Duration::from_secs(10),
            delivery_one_events: 100_000,
            delivery_many_events: 10_000,
            many_endpoints: 50,
            delivery_timeout: Duration::from_secs(90),
            latency_rate: 1_000,
            latency_duration: Duration::from_secs(10),
            backlog: 1_000_000,
            backlog_endpoints: 1,
            drain_timeout: Duration::from_secs(240),
            pg_warmup: Duration::from_secs(1),
            pg_measure: Duration::from_secs(5),
            pg_delivery_one_events: 40_000,
            pg_delivery_many_events: 2_000,
            pg_delivery_timeout: Duration::from_secs(40),
        }
    }

    /// The whole run in under a minute.
    pub fn quick(connections: usize) -> Plan {
        Plan {
            connections,
            warmup: Duration::from_millis(500),
            measure: Duration::from_secs(3),
            delivery_one_events: 20_000,
            delivery_many_events: 1_000,
            many_endpoints: 50,
            delivery_timeout: Duration::from_secs(15),
            latency_rate: 1_000,
            latency_duration: Duration::from_secs(3),
            backlog: 50_000,
            backlog_endpoints: 1,
            drain_timeout: Duration::from_secs(20),
            pg_warmup: Duration::from_millis(500),
            pg_measure: Duration::from_secs(3),
            pg_delivery_one_events: 10_000,
            pg_delivery_many_events: 1_000,
            pg_delivery_timeout: Duration::from_secs(20),
        }
    }
}

pub struct Bench {
    plan: Plan,
    only: Vec<Scenario>,
    profiler: Option<Profiler>,
    /// The server URL (any database on it) for the PostgreSQL rows; `None`: not run.
    pub postgres: Option<String>,
    pub table: Table,
}

impl Bench {
    pub fn new(
        plan: Plan,
        only: Vec<Scenario>,
        perf_dir: Option<PathBuf>,
    ) -> anyhow::Result<Bench> {
        Ok(Bench {
            plan,
            only,
            profiler: perf_dir.map(Profiler::new).transpose()?,
            postgres: None,
            table: Table::default(),
        })
    }

    fn wants(&self, scenario: Scenario) -> bool {
        self.only.is_empty() || self.only.contains(&scenario)
    }

    pub async fn run(&mut self) -> anyhow::Result<()> {
        if self.wants(Scenario::Baseline) {
            self.baseline().await?;
        }
        if self.wants(Scenario::Publish) {
            self.publish(1).await?;
            self.publish(10).await?;
            self.publish(50).await?;
            self.publish_batches(BATCH).await?;
        }
        if self.wants(Scenario::Delivery) {
            let (one, many) = (
                self.plan.delivery_one_events,
                self.plan.delivery_many_events,
            );
            self.delivery(1, one).await?;
            self.delivery(self.plan.many_endpoints, many).await?;
        }
        if self.wants(Scenario::Latency) {
            self.latency().await?;
        }
        if self.wants(Scenario::Backlog) {
            self.backlog().await?;
        }
        if self.wants(Scenario::Cost) {
            self.cost_rows().await?;
        }
        match self.postgres.clone() {
            Some(url) if self.wants(Scenario::Postgres) => self.postgres_rows(&url).await?,
            Some(_) => {}
            None => self.table.plain(
                "PostgreSQL backend",
                "not run (pass --postgres)".to_owned(),
                "—",
            ),
        }
        Ok(())
    }

    fn profile(&self, service: &Service, name: &str) -> anyhow::Result<Option<Recording>> {
        self.profiler
            .as_ref()
            .map(|p| p.start(service.pid(), name))
            .transpose()
    }

    /// Row 1: the load generator straight against the receiver.
    async fn baseline(&mut self) -> anyhow::Result<()> {
        eprintln!("raw baseline: POST straight to the receiver");
        let receiver = Receiver::start().await?;
        let target = Target::new(receiver.addr, "/raw", StatusCode::OK);
        let timed = load::closed_timed(
            target,
            self.plan.connections,
            self.plan.warmup,
            self.plan.measure,
        )
        .await;
        self.table.baseline(
            &format!(
                "raw baseline: POST straight to the receiver, {} connections",
                self.plan.connections
            ),
            timed.rate(),
        );
        self.errors("raw baseline", timed.errors, &timed.error_kinds);

        // One connection, one request at a time: what strict per-endpoint order (one
        // attempt in flight) could reach at best on this machine.
        let target = Target::new(receiver.addr, "/raw", StatusCode::OK);
        let single = load::closed_timed(target, 1, self.plan.warmup, self.plan.measure / 2).await;
        self.table.throughput(
            "raw baseline, 1 connection, one request at a time (the ceiling of strict order)",
            single.rate(),
            "req/s",
        );
        self.errors(
            "raw baseline, 1 connection",
            single.errors,
            &single.error_kinds,
        );
        Ok(())
    }

    /// Row 2: events accepted with 202 per second, with `endpoints` subscribed.
    async fn publish(&mut self, endpoints: usize) -> anyhow::Result<()> {
        eprintln!("publish throughput, {endpoints} endpoint(s)");
        let name = format!("publish-{endpoints}");
        let window = self
            .publish_window(&name, endpoints, publish_target)
            .await?;
        let timed = &window.timed;
        self.table.throughput(
            &format!(
                "publish (202s), {endpoints} endpoint{} subscribed; delivery to the receiver runs concurrently",
                plural(endpoints)
            ),
            timed.rate(),
            "events/s",
        );
        let memory = window.service.memory()?;
        self.table.note(format!(
            "publish, {endpoints} endpoint{}: {} events accepted in the {:.1} s window; by its end the \
             receiver had {} deliveries (warm-up included); service peak RSS {} MB; {}",
            plural(endpoints),
            thousands(timed.ok as f64),
            timed.window.as_secs_f64(),
            thousands(window.delivered as f64),
            mb_of_kib(memory.peak_kib),
            window.cpu,
        ));
        self.window_errors(&window, &format!("publish, {endpoints} endpoints"));
        Ok(())
    }

    /// Row 2b: events accepted per second when each request is a batch of `size` events,
    /// 1 endpoint subscribed.
    async fn publish_batches(&mut self, size: u64) -> anyhow::Result<()> {
        eprintln!("batch publish throughput, {size} events per request, 1 endpoint");
        let window = self
            .publish_window("publish-batch", 1, |service| {
                Target::new(service.addr, "/v1/events/batch", StatusCode::OK)
                    .with_bearer(service::KEY)
                    .with_batches_of(size)
            })
            .await?;
        let timed = &window.timed;
        self.table.throughput(
            &format!(
                "batch publish ({size} events per request, each answered), 1 endpoint subscribed; delivery runs concurrently"
            ),
            timed.rate() * size as f64,
            "events/s",
        );
        self.table.note(format!(
            "batch publish: {} requests ({} events) answered in the {:.1} s window ({} requests/s); \
             by its end the receiver had {} deliveries (warm-up included); {}",
            thousands(timed.ok as f64),
            thousands((timed.ok * size) as f64),
            timed.window.as_secs_f64(),
            thousands(timed.rate()),
            thousands(window.delivered as f64),
            window.cpu,
        ));
        self.window_errors(&window, "batch publish");
        Ok(())
    }

    /// A fresh service (named `name`) with `endpoints` subscribed, loaded closed-loop at
    /// the target `target` makes of it for the measured window, while delivery to the
    /// receiver runs concurrently (profiled with `--perf`).
    async fn publish_window(
        &mut self,
        name: &str,
        endpoints: usize,
        target: impl FnOnce(&Service) -> Target,
    ) -> anyhow::Result<PublishWindow> {
        let receiver = Receiver::start().await?;
        let service = Service::start(name, &[])?;
        service.create_endpoints(receiver.addr, endpoints).await?;
        let recording = self.profile(&service, name)?;
        let cpu = CpuWatch::start(&service)?;
        let timed = load::closed_timed(
            target(&service),
            self.plan.connections,
            self.plan.warmup,
            self.plan.measure,
        )
        .await;
        let delivered = receiver.total();
        let cpu = cpu.summary(&service)?;
        drop(recording);
        Ok(PublishWindow {
            timed,
            delivered,
            cpu,
            service,
            _receiver: receiver,
        })
    }

    /// The errors and the service's log lines of a publish window, as notes.
    fn window_errors(&mut self, window: &PublishWindow, scenario: &str) {
        self.errors(scenario, window.timed.errors, &window.timed.error_kinds);
        self.service_log(&window.service, scenario);
    }

    /// Row 3: publish `events` as fast as possible; deliveries per second from the first
    /// publish until the receiver has every one.
    async fn delivery(&mut self, endpoints: usize, events: u64) -> anyhow::Result<()> {
        eprintln!("end-to-end delivery, {endpoints} endpoint(s), {events} events");
        let receiver = Receiver::start().await?;
        let service = Service::start(&format!("delivery-{endpoints}"), &[])?;
        service.create_endpoints(receiver.addr, endpoints).await?;
        let cpu = CpuWatch::start(&service)?;
        let published =
            load::closed_count(publish_target(&service), self.plan.connections, events).await;
        let recording = if endpoints == 1 {
            // Publishing is over: what is recorded now is the delivery path alone.
            self.profile(&service, "delivery-1")?
        } else {
            None
        };
        let expected = published.ok * endpoints as u64;
        let complete = receiver
            .wait_total(expected, self.plan.delivery_timeout)
            .await;
        drop(recording);
        let cpu = cpu.summary(&service)?;
        let end_ns = if complete {
            receiver.last_arrival_ns()
        } else {
            clock::now_ns()
        };
        let delivered = receiver.total().min(expected);
        let elapsed = clock::between(published.started_ns, end_ns);
        let per_endpoint = (0..endpoints).map(|i| receiver.endpoint_count(i));
        let (fewest, most) = per_endpoint.fold((u64::MAX, 0), |(lo, hi), n| (lo.min(n), hi.max(n)));
        let rate = delivered as f64 / elapsed.as_secs_f64();
        let label = if endpoints == 1 {
            "delivered end to end, 1 endpoint (strict order, one attempt in flight)".to_owned()
        } else {
            format!("delivered end to end, {endpoints} endpoints ({events} events to each)")
        };
        let label = if complete {
            label
        } else {
            format!(
                "{label} — INCOMPLETE: {delivered} of {expected} within {:.0} s",
                elapsed.as_secs_f64()
            )
        };
        self.table.throughput(&label, rate, "deliveries/s");
        self.table.note(format!(
            "delivery, {endpoints} endpoint{}: {} events published in {:.2} s ({} events/s), \
             {} deliveries received {:.2} s after the first publish (per endpoint {fewest}..{most}); \
             order violations {}, duplicates {}; {cpu}",
            plural(endpoints),
            thousands(published.ok as f64),
            clock::between(published.started_ns, published.finished_ns).as_secs_f64(),
            thousands(published.rate()),
            thousands(delivered as f64),
            elapsed.as_secs_f64(),
            receiver.out_of_order(),
            receiver.duplicates(),
        ));
        self.errors(
            &format!("delivery, {endpoints} endpoints"),
            published.errors,
            &published.error_kinds,
        );
        self.service_log(&service, &format!("delivery, {endpoints} endpoints"));
        Ok(())
    }

    /// Row 4: publish→receipt latency at a fixed offered rate, open loop, 1 endpoint.
    async fn latency(&mut self) -> anyhow::Result<()> {
        let rate = self.plan.latency_rate;
        let duration = self.plan.latency_duration;
        eprintln!(
            "latency at {rate} events/s for {} s",
            duration.as_secs_f64()
        );
        let receiver = Receiver::start().await?;
        let service = Service::start("latency", &[])?;
        service.create_endpoints(receiver.addr, 1).await?;
        // The same load first, unmeasured, as the other rows warm up: a fresh service's
        // first publishes fill its caches (API key, payload schemas, statements) and open
        // the connections, which belongs to a start, not to the steady rate measured here.
        let warm = load::open_loop(publish_target(&service), rate, self.plan.warmup, 256).await;
        receiver.wait_total(warm.ok, Duration::from_secs(10)).await;
        receiver.record_latency();
        let cpu = CpuWatch::start(&service)?;
        let open = load::open_loop(publish_target(&service), rate, duration, 256).await;
        let complete = receiver
            .wait_total(warm.ok + open.ok, Duration::from_secs(10))
            .await;
        let cpu = cpu.summary(&service)?;
        let mut latencies = receiver.take_latencies();
        latencies.sort_unstable();
        let mut answers = open.answer_ns;
        answers.sort_unstable();
        let label = format!(
            "publish→receipt latency at {} events/s offered (open loop, {:.0} s), 1 endpoint",
            thousands(rate as f64),
            duration.as_secs_f64()
        );
        for p in [50.0, 95.0, 99.0] {
            self.table.plain(
                &format!("{label}: p{p:.0}"),
                ms(load::percentile(&latencies, p)),
                "ms",
            );
        }
        self.table.note(format!(
            "latency: {} scheduled, {} accepted, {} received{}; max {} ms; publish→202 p50 {} ms, \
             p99 {} ms; the generator used {} connections; order violations {}; {cpu}",
            thousands(open.scheduled as f64),
            thousands(open.ok as f64),
            thousands(latencies.len() as f64),
            if complete {
                ""
            } else {
                " (some never arrived within 10 s)"
            },
            ms(latencies.last().copied().unwrap_or(0)),
            ms(load::percentile(&answers, 50.0)),
            ms(load::percentile(&answers, 99.0)),
            open.connections,
            receiver.out_of_order(),
        ));
        self.errors("latency", open.errors, &open.error_kinds);
        self.service_log(&service, "latency");
        Ok(())
    }

    /// Row 5: memory with a backlog of pending deliveries, then the time to drain it.
    async fn backlog(&mut self) -> anyhow::Result<()> {
        let endpoints = self.plan.backlog_endpoints;
        let events = self.plan.backlog / endpoints as u64;
        eprintln!(
            "backlog of {} deliveries over {endpoints} endpoint(s)",
            events * endpoints as u64
        );
        let down = closed_port()?;
        // Retries every second, so the drain starts within a second of the endpoint's return.
        let service = Service::start("backlog", &["--retry-base", "1s", "--retry-cap", "1s"])?;
        service.create_endpoints(down, endpoints).await?;
        let published =
            load::closed_count(publish_target(&service), self.plan.connections, events).await;
        // Let every lane find its endpoint down and settle into its backoff.
        tokio::time::sleep(Duration::from_secs(3)).await;
        let pending = published.ok * endpoints as u64;
        let at_rest = service.memory()?;
        let store_bytes = service.store_bytes();

        let receiver = Receiver::start_on(down).await?;
        let back_ns = clock::now_ns();
        let cpu = CpuWatch::start(&service)?;
        let complete = receiver.wait_total(pending, self.plan.drain_timeout).await;
        let cpu = cpu.summary(&service)?;
        let end_ns = if complete {
            receiver.last_arrival_ns()
        } else {
            clock::now_ns()
        };
        let drained = receiver.total().min(pending);
        let drain = clock::between(back_ns, end_ns);
        let after = service.memory()?;

        let n = thousands(pending as f64);
        let spread = if endpoints == 1 {
            "1 endpoint down".to_owned()
        } else {
            format!("{endpoints} endpoints down")
        };
        self.table.plain(
            &format!("peak RSS of the service with {n} pending deliveries ({spread}; VmHWM incl. publishing them)"),
            mb_of_kib(at_rest.peak_kib),
            "MB",
        );
        self.table.plain(
            &format!("RSS of the service at rest with {n} pending deliveries (VmRSS)"),
            mb_of_kib(at_rest.now_kib),
            "MB",
        );
        let drain_label = if complete {
            format!("time to drain {n} deliveries once the receiver answers")
        } else {
            format!(
                "time to drain {n} deliveries once the receiver answers — INCOMPLETE: {} drained",
                thousands(drained as f64)
            )
        };
        self.table
            .plain(&drain_label, format!("{:.1}", drain.as_secs_f64()), "s");
        self.table.throughput(
            &format!("drain rate of that backlog ({spread}, strict order)"),
            drained as f64 / drain.as_secs_f64(),
            "deliveries/s",
        );
        self.table.plain(
            "peak RSS of the service through the drain (VmHWM)",
            mb_of_kib(after.peak_kib),
            "MB",
        );
        let mut note = format!(
            "backlog: {} events published in {:.1} s ({} events/s) with the endpoint down; store on disk {} MB; \
             order violations in the drain {}, duplicates {}; drain {cpu}",
            thousands(published.ok as f64),
            clock::between(published.started_ns, published.finished_ns).as_secs_f64(),
            thousands(published.rate()),
            format_args!("{:.0}", store_bytes as f64 / 1e6),
            receiver.out_of_order(),
            receiver.duplicates(),
        );
        if !complete && drained > 0 {
            let rest = (pending - drained) as f64 / (drained as f64 / drain.as_secs_f64());
            let _ = write!(
                note,
                "; at the measured rate the remaining deliveries would take another {rest:.0} s"
            );
        }
        self.table.note(note);
        self.errors("backlog", published.errors, &published.error_kinds);
        self.service_log(&service, "backlog");
        Ok(())
    }

    fn errors(
        &mut self,
        scenario: &str,
        errors: u64,
        kinds: &std::collections::BTreeMap<String, u64>,
    ) {
        if errors == 0 && kinds.is_empty() {
            return;
        }
        let kinds = kinds
            .iter()
            .map(|(kind, n)| format!("{n}× {kind}"))
            .collect::<Vec<_>>()
            .join(", ");
        self.table.note(format!(
            "ERRORS in {scenario}: {errors} in the measured part; all kinds: {kinds}"
        ));
    }

    fn service_log(&mut self, service: &Service, scenario: &str) {
        let lines = service.log_lines();
        if lines > 0 {
            self.table.note(format!(
                "the service logged {lines} warning/error lines during {scenario} (first ones echoed on stderr)"
            ));
        }
    }
}

/// What a publish window measured, with the service it ran on (still running).
struct PublishWindow {
    timed: load::Timed,
    /// Deliveries the receiver had by the window's end (warm-up included).
    delivered: u64,
    /// The CPU summary of the window.
    cpu: String,
    service: Service,
    /// Kept answering until the window's notes are written, as the service still delivers.
    _receiver: Receiver,
}

/// CPU used by the service and by the bench process (load generator and receiver) over a
/// phase, in cores: on a 2-core machine the two together cannot exceed 2.
struct CpuWatch {
    service: Duration,
    bench: Duration,
    at: Instant,
}

impl CpuWatch {
    fn start(service: &Service) -> anyhow::Result<CpuWatch> {
        Ok(CpuWatch {
            service: service.cpu()?,
            bench: service::cpu_of("self")?,
            at: Instant::now(),
        })
    }

    fn summary(&self, service: &Service) -> anyhow::Result<String> {
        let wall = self.at.elapsed().as_secs_f64();
        let used = |now: Duration, then: Duration| (now - then).as_secs_f64() / wall;
        let cores = std::thread::available_parallelism().map_or(0, |n| n.get());
        Ok(format!(
            "CPU: service {:.2} cores, bench {:.2} cores (of {cores})",
            used(service.cpu()?, self.service),
            used(service::cpu_of("self")?, self.bench),
        ))
    }
}

/// Events per request in the batch publish row (the API's most).
const BATCH: u64 = 100;

fn publish_target(service: &Service) -> Target {
    Target::new(service.addr, "/v1/events", StatusCode::ACCEPTED).with_bearer(service::KEY)
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

/// A port on 127.0.0.1 with nothing listening, for an endpoint that is down.
///
/// Taken below the kernel's ephemeral range (32768+ by default), so that none of the
/// service's own outgoing connections can be handed this port as its source while we
/// wait to listen on it again.
fn closed_port() -> anyhow::Result<SocketAddr> {
    let offset = std::process::id() % 5_000;
    (0..5_000u32)
        .map(|i| 20_000 + (offset + i) % 5_000)
        .find_map(|port| {
            let addr = SocketAddr::from(([127, 0, 0, 1], u16::try_from(port).ok()?));
            // Bound and dropped at once: free now, and not in the range handed out to
            // outgoing connections.
            TcpListener::bind(addr).ok().map(|_| addr)
        })
        .context("no free port in 20000..25000 on 127.0.0.1")
}
