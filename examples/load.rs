//! Load benchmark (not a test): drives Tally's gRPC API on loopback at fixed rates and
//! compares it with the RPC floor, a minimal tonic server answering a fixed message.
//!
//! ```text
//! cargo build --release --bin tally --example load
//! target/release/examples/load                         # benchmark, SQLite
//! target/release/examples/load --db postgres://postgres@127.0.0.1:5432/tally_load
//! target/release/examples/load --soak 600              # 10-minute mixed soak
//! ```
//!
//! Set-up: a fresh SQLite file (or the database of `--db`), a tenant made with
//! `tally admin create-tenant`, then the release `tally serve` as a child process (so its
//! memory is read from /proc/<pid>/status) with the per-key rate limit raised through
//! `TALLY_RATE_LIMIT_PER_SECOND` and `TALLY_RATE_LIMIT_BURST`, the scheduler off and
//! connectors `none`. Over gRPC: 4 influencers with 3 channels each, a year (2025) of daily
//! channel stats, and ComputeKpis over the year, so the QuerySnapshots of the load (one KPI
//! on one channel, DAY granularity) answers 365 stored values.
//!
//! The generator is open-loop: a pacing thread per RPC issues calls on a fixed schedule
//! whether or not earlier calls have answered, and latency runs from the scheduled time,
//! so queueing anywhere (generator, connection, server) counts. Calls are spread
//! round-robin over `--connections` HTTP/2 connections. Closed-loop runs (`--concurrency`
//! calls in flight, each issued when the previous answers) give maximum throughput.
//!
//! The floor is this example in a child mode (`--floor-server FILE`): a tonic server with
//! only KpiService, whose QuerySnapshots answers Tally's own response, read from FILE, on
//! every call. Both servers run as child processes with tokio's default runtime, so both
//! share the machine with the generator the same way.
//!
//! `--soak SECS` runs only the soak: the three RPCs at once (`--mix`) for SECS seconds,
//! server RSS every 10 s, latency percentiles per minute.
//!
//! The output ends with Markdown tables for BENCHMARKS.md.
use clap::Parser;
use hdrhistogram::Histogram;
use prost::Message;
use std::collections::BTreeMap;
use std::error::Error;
use std::io::{BufRead, BufReader, Write};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use tally::proto;
use tally::proto::channel_service_client::ChannelServiceClient;
use tally::proto::google::r#type::Date;
use tally::proto::influencer_service_client::InfluencerServiceClient;
use tally::proto::ingest_service_client::IngestServiceClient;
use tally::proto::kpi_service_client::KpiServiceClient;
use tally::proto::kpi_service_server::{KpiService, KpiServiceServer};
use tonic::metadata::AsciiMetadataValue;
use tonic::transport::{Channel, Endpoint};
use tonic::{Request, Response, Status};

type BoxResult<T> = Result<T, Box<dyn Error + Send + Sync>>;

const YEAR: i32 = 2025;
const DAYS: usize = 365;
const INFLUENCERS: usize = 4;
const PLATFORMS: [(proto::Platform, &str); 3] = [
    (proto::Platform::Instagram, "instagram"),
    (proto::Platform::Tiktok, "tiktok"),
    (proto::Platform::Youtube, "youtube"),
];
/// The KPIs of BatchGetLatest; with 4 scopes, 20 pairs per call.
const BATCH_KPIS: [&str; 5] = ["followers", "likes", "comments", "views", "engagement_rate"];
/// Rows per Ingest call of the load: one channel, ten consecutive days.
const INGEST_ROWS: usize = 10;

/// Command line.
#[derive(Parser, Debug)]
#[command(about = "Load benchmark of Tally's gRPC API against a minimal tonic server")]
struct Args {
    /// Database URL; default a fresh SQLite file in a temporary directory.
    #[arg(long)]
    db: Option<String>,
    /// The tally binary; default `tally` in the directory above this example's.
    #[arg(long)]
    tally: Option<PathBuf>,
    /// HTTP/2 connections each run spreads its calls over.
    #[arg(long, default_value_t = 4)]
    connections: usize,
    /// Seconds of each open-loop run.
    #[arg(long, default_value_t = 20)]
    duration: u64,
    /// QuerySnapshots rates (calls/s), each run against the floor and against Tally.
    #[arg(long, value_delimiter = ',', default_value = "500,1000,2000")]
    query_rates: Vec<f64>,
    /// BatchGetLatest rate (calls/s) of its open-loop run.
    #[arg(long, default_value_t = 1000.0)]
    batch_rate: f64,
    /// Ingest rate (calls/s) of its open-loop run.
    #[arg(long, default_value_t = 200.0)]
    ingest_rate: f64,
    /// Calls in flight in the closed-loop (maximum throughput) runs.
    #[arg(long, default_value_t = 32)]
    concurrency: usize,
    /// Seconds of each closed-loop run.
    #[arg(long, default_value_t = 15)]
    closed_duration: u64,
    /// Run only the soak: the mixed load of `--mix` for this many seconds.
    #[arg(long)]
    soak: Option<u64>,
    /// Rates of the soak: QuerySnapshots,BatchGetLatest,Ingest calls/s.
    #[arg(long, value_delimiter = ',', default_value = "1000,200,50")]
    mix: Vec<f64>,
    /// Child mode: serve the floor with the encoded QuerySnapshotsResponse in this file.
    #[arg(long, hide = true)]
    floor_server: Option<PathBuf>,
}

fn main() -> BoxResult<()> {
    let args = Args::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match &args.floor_server {
        Some(file) => runtime.block_on(serve_floor(file)),
        None => runtime.block_on(run(&args)),
    }
}

// ---------------------------------------------------------------------------------------
// The floor

/// KpiService answering one fixed QuerySnapshots response; every other method is
/// UNIMPLEMENTED.
struct Floor {
    response: proto::QuerySnapshotsResponse,
}

fn unimplemented<T>() -> Result<Response<T>, Status> {
    Err(Status::unimplemented(
        "the floor answers only QuerySnapshots",
    ))
}

#[tonic::async_trait]
impl KpiService for Floor {
    type WatchSnapshotsStream = tokio_stream::Empty<Result<proto::KpiValue, Status>>;

    async fn query_snapshots(
        &self,
        _: Request<proto::QuerySnapshotsRequest>,
    ) -> Result<Response<proto::QuerySnapshotsResponse>, Status> {
        Ok(Response::new(self.response.clone()))
    }

    async fn list_kpi_definitions(
        &self,
        _: Request<proto::ListKpiDefinitionsRequest>,
    ) -> Result<Response<proto::ListKpiDefinitionsResponse>, Status> {
        unimplemented()
    }

    async fn get_kpi_definition(
        &self,
        _: Request<proto::GetKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        unimplemented()
    }

    async fn create_kpi_definition(
        &self,
        _: Request<proto::CreateKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        unimplemented()
    }

    async fn update_kpi_definition(
        &self,
        _: Request<proto::UpdateKpiDefinitionRequest>,
    ) -> Result<Response<proto::KpiDefinition>, Status> {
        unimplemented()
    }

    async fn delete_kpi_definition(
        &self,
        _: Request<proto::DeleteKpiDefinitionRequest>,
    ) -> Result<Response<()>, Status> {
        unimplemented()
    }

    async fn suggest_kpis(
        &self,
        _: Request<proto::SuggestKpisRequest>,
    ) -> Result<Response<proto::SuggestKpisResponse>, Status> {
        unimplemented()
    }

    async fn compute_kpis(
        &self,
        _: Request<proto::ComputeKpisRequest>,
    ) -> Result<Response<proto::ComputeKpisResponse>, Status> {
        unimplemented()
    }

    async fn batch_get_latest(
        &self,
        _: Request<proto::BatchGetLatestRequest>,
    ) -> Result<Response<proto::BatchGetLatestResponse>, Status> {
        unimplemented()
    }

    async fn watch_snapshots(
        &self,
        _: Request<proto::WatchSnapshotsRequest>,
    ) -> Result<Response<Self::WatchSnapshotsStream>, Status> {
        unimplemented()
    }

    async fn list_follower_flags(
        &self,
        _: Request<proto::ListFollowerFlagsRequest>,
    ) -> Result<Response<proto::ListFollowerFlagsResponse>, Status> {
        unimplemented()
    }
}

/// The floor's child mode: prints its address on stdout, then serves until killed.
async fn serve_floor(file: &Path) -> BoxResult<()> {
    use tokio_stream::StreamExt;
    let response = proto::QuerySnapshotsResponse::decode(std::fs::read(file)?.as_slice())?;
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    println!("{}", listener.local_addr()?);
    std::io::stdout().flush()?;
    tonic::transport::Server::builder()
        .add_service(KpiServiceServer::new(Floor { response }))
        // As Tally's server: Nagle off on accepted connections (see src/server.rs).
        .serve_with_incoming(
            tokio_stream::wrappers::TcpListenerStream::new(listener).map(|conn| {
                if let Ok(stream) = &conn {
                    let _ = stream.set_nodelay(true);
                }
                conn
            }),
        )
        .await?;
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Processes and the machine

/// A child process killed when dropped, so no server outlives the run.
struct ChildGuard(Child);

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// A field of /proc/<pid>/status in kB, such as `VmRSS`.
fn proc_status_kb(pid: u32, field: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))?
        .split_whitespace()
        .next()?
        .parse()
        .ok()
}

/// User plus system CPU time of a process.
fn proc_cpu(pid: u32) -> Option<Duration> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces); utime and stime are the
    // 14th and 15th fields of the line, the 12th and 13th after it.
    let rest = &stat[stat.rfind(')')? + 1..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = fields.get(11)?.parse::<u64>().ok()? + fields.get(12)?.parse::<u64>().ok()?;
    // USER_HZ is 100 on every mainstream Linux architecture.
    Some(Duration::from_millis(ticks * 10))
}

/// The 1, 5 and 15 minute load averages.
fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

fn mb(kb: Option<u64>) -> String {
    kb.map(|kb| format!("{:.1}", kb as f64 / 1024.0))
        .unwrap_or_else(|| "?".into())
}

// ---------------------------------------------------------------------------------------
// Clients and calls

/// Connections to one server.
#[derive(Clone)]
struct Target {
    name: &'static str,
    pid: u32,
    kpi: Vec<KpiServiceClient<Channel>>,
    ingest: Vec<IngestServiceClient<Channel>>,
    auth: AsciiMetadataValue,
}

impl Target {
    async fn connect(
        name: &'static str,
        pid: u32,
        addr: SocketAddr,
        connections: usize,
        key: &str,
    ) -> BoxResult<Target> {
        let mut kpi = Vec::new();
        let mut ingest = Vec::new();
        for _ in 0..connections.max(1) {
            // One Endpoint::connect is one HTTP/2 connection.
            let channel = Endpoint::from_shared(format!("http://{addr}"))?
                .tcp_nodelay(true)
                .connect()
                .await?;
            kpi.push(KpiServiceClient::new(channel.clone()));
            ingest.push(IngestServiceClient::new(channel));
        }
        Ok(Target {
            name,
            pid,
            kpi,
            ingest,
            auth: format!("Bearer {key}").parse()?,
        })
    }

    fn request<T>(&self, message: T) -> Request<T> {
        let mut request = Request::new(message);
        request
            .metadata_mut()
            .insert("authorization", self.auth.clone());
        request
    }
}

/// The RPCs of the load.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Rpc {
    Query,
    Batch,
    Ingest,
}

impl Rpc {
    fn name(self) -> &'static str {
        match self {
            Rpc::Query => "QuerySnapshots",
            Rpc::Batch => "BatchGetLatest",
            Rpc::Ingest => "IngestChannelStats",
        }
    }
}

/// The requests of the load.
struct Workload {
    query: proto::QuerySnapshotsRequest,
    batch: proto::BatchGetLatestRequest,
    /// Small batches that rewrite the set-up's rows with the same values, so the data
    /// (and the answers of the other RPCs) stay the same however long the load runs.
    ingest: Vec<proto::IngestChannelStatsRequest>,
}

/// One call; an answer of the wrong shape counts as an error.
async fn call(target: &Target, work: &Workload, rpc: Rpc, i: u64) -> Result<(), Status> {
    let conn = (i % target.kpi.len() as u64) as usize;
    match rpc {
        Rpc::Query => {
            let mut client = target.kpi[conn].clone();
            let n = client
                .query_snapshots(target.request(work.query.clone()))
                .await?
                .into_inner()
                .values
                .len();
            if n != DAYS {
                return Err(Status::internal(format!("{n} values, expected {DAYS}")));
            }
        }
        Rpc::Batch => {
            let mut client = target.kpi[conn].clone();
            let n = client
                .batch_get_latest(target.request(work.batch.clone()))
                .await?
                .into_inner()
                .values
                .len();
            if n != work.batch.kpi_scopes.len() {
                return Err(Status::internal(format!("{n} values")));
            }
        }
        Rpc::Ingest => {
            let mut client = target.ingest[conn].clone();
            let batch = &work.ingest[(i % work.ingest.len() as u64) as usize];
            let accepted = client
                .ingest_channel_stats(target.request(batch.clone()))
                .await?
                .into_inner()
                .accepted_count;
            if accepted as usize != batch.rows.len() {
                return Err(Status::internal(format!("{accepted} rows accepted")));
            }
        }
    }
    Ok(())
}

// ---------------------------------------------------------------------------------------
// Statistics

fn histogram() -> Histogram<u64> {
    // Microseconds from 1 µs to 2 minutes, 3 significant digits.
    Histogram::new_with_bounds(1, 120_000_000, 3).expect("valid histogram bounds")
}

/// What one RPC's calls of a run gave.
struct Stats {
    latency: Histogram<u64>,
    /// The current soak minute's latencies.
    window: Histogram<u64>,
    window_errors: u64,
    ok: u64,
    /// Error count and first message by gRPC code.
    errors: BTreeMap<String, (u64, String)>,
    last_done: Option<Instant>,
}

impl Stats {
    fn new() -> Stats {
        Stats {
            latency: histogram(),
            window: histogram(),
            window_errors: 0,
            ok: 0,
            errors: BTreeMap::new(),
            last_done: None,
        }
    }

    fn record(&mut self, latency: Duration, result: Result<(), Status>) {
        let us = latency.as_micros() as u64;
        self.latency.saturating_record(us);
        self.window.saturating_record(us);
        self.last_done = Some(Instant::now());
        match result {
            Ok(()) => self.ok += 1,
            Err(status) => {
                self.window_errors += 1;
                let entry = self
                    .errors
                    .entry(format!("{:?}", status.code()))
                    .or_insert((0, status.message().chars().take(200).collect()));
                entry.0 += 1;
            }
        }
    }

    fn error_count(&self) -> u64 {
        self.errors.values().map(|(n, _)| n).sum()
    }
}

fn ms(us: u64) -> String {
    format!("{:.2}", us as f64 / 1000.0)
}

/// One row of the results.
struct RunRow {
    server: &'static str,
    rpc: Rpc,
    /// `open` with a rate, or `closed` with the calls in flight.
    mode: String,
    target_rate: Option<f64>,
    achieved: f64,
    p50_us: u64,
    p99_us: u64,
    max_us: u64,
    calls: u64,
    errors: u64,
    error_detail: String,
    /// Calls still unanswered 30 s after the schedule ended (counted in errors).
    unfinished: u64,
    /// 99th percentile of how late the generator issued calls.
    lag_p99_us: Option<u64>,
    cpu_us_per_call: f64,
    rss_end_kb: Option<u64>,
    load: String,
}

impl RunRow {
    fn markdown_header() -> &'static str {
        "| server | RPC | mode | target/s | achieved/s | p50 ms | p99 ms | max ms | errors | server CPU µs/call | server RSS MB | load avg |\n|---|---|---|---|---|---|---|---|---|---|---|---|"
    }

    fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.0} | {} | {} | {} | {} | {:.0} | {} | {} |",
            self.server,
            self.rpc.name(),
            self.mode,
            self.target_rate
                .map(|r| format!("{r:.0}"))
                .unwrap_or_else(|| "max".into()),
            self.achieved,
            ms(self.p50_us),
            ms(self.p99_us),
            ms(self.max_us),
            self.errors,
            self.cpu_us_per_call,
            mb(self.rss_end_kb),
            self.load,
        )
    }
}

/// Machine state around a run, for its row.
struct Around {
    cpu: Option<Duration>,
    load: String,
}

impl Around {
    fn before(target: &Target) -> Around {
        Around {
            cpu: proc_cpu(target.pid),
            load: load_average(),
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn row(
        self,
        target: &Target,
        rpc: Rpc,
        mode: String,
        target_rate: Option<f64>,
        stats: &Stats,
        elapsed: Duration,
        unfinished: u64,
        lag_p99_us: Option<u64>,
    ) -> RunRow {
        let calls = stats.ok + stats.error_count();
        let cpu = match (self.cpu, proc_cpu(target.pid)) {
            (Some(a), Some(b)) => (b - a).as_micros() as f64 / calls.max(1) as f64,
            _ => f64::NAN,
        };
        RunRow {
            server: target.name,
            rpc,
            mode,
            target_rate,
            achieved: stats.ok as f64 / elapsed.as_secs_f64(),
            p50_us: stats.latency.value_at_quantile(0.5),
            p99_us: stats.latency.value_at_quantile(0.99),
            max_us: stats.latency.max(),
            calls,
            errors: stats.error_count() + unfinished,
            error_detail: stats
                .errors
                .iter()
                .map(|(code, (n, first))| format!("{n} × {code} (first: {first})"))
                .collect::<Vec<_>>()
                .join("; "),
            unfinished,
            lag_p99_us,
            cpu_us_per_call: cpu,
            rss_end_kb: proc_status_kb(target.pid, "VmRSS"),
            load: format!("{} → {}", self.load, load_average()),
        }
    }
}

// ---------------------------------------------------------------------------------------
// Generators

/// Sends (call number, scheduled time) at `rate` per second from `start` until `end`.
/// A thread of its own, so the schedule does not depend on tokio's millisecond timer.
fn pace(
    tx: tokio::sync::mpsc::UnboundedSender<(u64, Instant)>,
    start: Instant,
    end: Instant,
    rate: f64,
) {
    for i in 0u64.. {
        let due = start + Duration::from_secs_f64(i as f64 / rate);
        if due >= end {
            break;
        }
        let now = Instant::now();
        if due > now {
            std::thread::sleep(due - now);
        }
        if tx.send((i, due)).is_err() {
            break;
        }
    }
}

/// One RPC's lane of an open-loop run, and what it gave.
struct Lane {
    rpc: Rpc,
    rate: f64,
    stats: Arc<Mutex<Stats>>,
}

/// Open-loop run of every lane at once for `duration`; returns per lane the calls still
/// unanswered 30 s after the schedule ended and the generator's lag p99.
async fn open_loop(
    target: &Target,
    work: &Arc<Workload>,
    lanes: &[Lane],
    start: Instant,
    duration: Duration,
) -> Vec<(u64, u64)> {
    let end = start + duration;
    let mut drivers = Vec::new();
    for lane in lanes {
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let rate = lane.rate;
        std::thread::spawn(move || pace(tx, start, end, rate));
        let (target, work, stats, rpc) =
            (target.clone(), work.clone(), lane.stats.clone(), lane.rpc);
        drivers.push(tokio::spawn(async move {
            let mut lag = histogram();
            let mut calls = tokio::task::JoinSet::new();
            while let Some((i, due)) = rx.recv().await {
                lag.saturating_record(due.elapsed().as_micros() as u64);
                let (target, work, stats) = (target.clone(), work.clone(), stats.clone());
                calls.spawn(async move {
                    let result = call(&target, &work, rpc, i).await;
                    let latency = due.elapsed();
                    stats.lock().expect("stats lock").record(latency, result);
                });
                while calls.try_join_next().is_some() {}
            }
            let _ = tokio::time::timeout(Duration::from_secs(30), async {
                while calls.join_next().await.is_some() {}
            })
            .await;
            let unfinished = calls.len() as u64;
            calls.abort_all();
            (unfinished, lag.value_at_quantile(0.99))
        }));
    }
    let mut out = Vec::new();
    for driver in drivers {
        out.push(driver.await.unwrap_or((u64::MAX, 0)));
    }
    out
}

/// Open-loop run of one RPC at `rate` for `duration`.
async fn open_run(
    target: &Target,
    work: &Arc<Workload>,
    rpc: Rpc,
    rate: f64,
    duration: Duration,
) -> RunRow {
    let around = Around::before(target);
    let lane = Lane {
        rpc,
        rate,
        stats: Arc::new(Mutex::new(Stats::new())),
    };
    let start = Instant::now() + Duration::from_millis(20);
    let result = open_loop(target, work, std::slice::from_ref(&lane), start, duration).await;
    let (unfinished, lag) = result[0];
    let stats = lane.stats.lock().expect("stats lock");
    let elapsed = stats
        .last_done
        .map(|t| t.saturating_duration_since(start))
        .unwrap_or(duration)
        .max(duration);
    let row = around.row(
        target,
        rpc,
        "open".into(),
        Some(rate),
        &stats,
        elapsed,
        unfinished,
        Some(lag),
    );
    report_progress(&row);
    row
}

/// Closed-loop run: `concurrency` callers, each calling again as soon as it has an answer.
async fn closed_run(
    target: &Target,
    work: &Arc<Workload>,
    rpc: Rpc,
    concurrency: usize,
    duration: Duration,
) -> RunRow {
    let around = Around::before(target);
    let stats = Arc::new(Mutex::new(Stats::new()));
    let counter = Arc::new(AtomicU64::new(0));
    let start = Instant::now();
    let end = start + duration;
    let mut callers = tokio::task::JoinSet::new();
    for _ in 0..concurrency {
        let (target, work, stats, counter) =
            (target.clone(), work.clone(), stats.clone(), counter.clone());
        callers.spawn(async move {
            while Instant::now() < end {
                let i = counter.fetch_add(1, Ordering::Relaxed);
                let sent = Instant::now();
                let result = call(&target, &work, rpc, i).await;
                stats
                    .lock()
                    .expect("stats lock")
                    .record(sent.elapsed(), result);
            }
        });
    }
    while callers.join_next().await.is_some() {}
    let elapsed = start.elapsed();
    let stats = stats.lock().expect("stats lock");
    let row = around.row(
        target,
        rpc,
        format!("closed, {concurrency} in flight"),
        None,
        &stats,
        elapsed,
        0,
        None,
    );
    report_progress(&row);
    row
}

fn report_progress(row: &RunRow) {
    eprintln!(
        "  {:>5} {:<18} {:<22} {:>6} → {:>7.0}/s  p50 {} ms  p99 {} ms  max {} ms  calls {}  errors {}{}  lag p99 {}  CPU {:.0} µs/call  RSS {} MB  load {}",
        row.server,
        row.rpc.name(),
        row.mode,
        row.target_rate
            .map(|r| format!("{r:.0}/s"))
            .unwrap_or_else(|| "max".into()),
        row.achieved,
        ms(row.p50_us),
        ms(row.p99_us),
        ms(row.max_us),
        row.calls,
        row.errors,
        if row.unfinished > 0 {
            format!(" ({} unfinished)", row.unfinished)
        } else {
            String::new()
        },
        row.lag_p99_us
            .map(|l| format!("{} ms", ms(l)))
            .unwrap_or_else(|| "-".into()),
        row.cpu_us_per_call,
        mb(row.rss_end_kb),
        row.load,
    );
    if !row.error_detail.is_empty() {
        eprintln!("        errors: {}", row.error_detail);
    }
}

// ---------------------------------------------------------------------------------------
// Set-up

fn date(day: chrono::NaiveDate) -> Date {
    use chrono::Datelike;
    Date {
        year: day.year(),
        month: day.month() as i32,
        day: day.day() as i32,
    }
}

fn year_days() -> Vec<chrono::NaiveDate> {
    let first = chrono::NaiveDate::from_ymd_opt(YEAR, 1, 1).expect("valid date");
    first.iter_days().take(DAYS).collect()
}

/// A channel's stats of day `d` (0-based), the same on every run.
fn stats_row(channel: &str, c: i64, d: i64, day: chrono::NaiveDate) -> proto::ChannelDayStats {
    proto::ChannelDayStats {
        channel: format!("channels/{channel}"),
        day: Some(date(day)),
        followers: Some(10_000 * (c + 1) + d * (20 + c)),
        posts: Some(i64::from((d + c) % 3 == 0)),
        mentions: Some((d + c) % 4),
        shares: Some(5 + (d + c) % 10),
        comments: Some(20 + (d * 3 + c) % 15),
        likes: Some(300 + (d * 7 + c * 13) % 200),
        link_clicks: Some(30 + (d * 11 + c) % 20),
        views: Some(5_000 + (d * 37 + c * 101) % 3_000),
        reach: Some(4_000 + (d * 29 + c * 53) % 2_000),
    }
}

/// What the set-up leaves running.
struct Setup {
    /// Kept for its drop: kills the server.
    _server: ChildGuard,
    target: Target,
    work: Arc<Workload>,
    /// Tally's QuerySnapshots answer, for the floor.
    query_response: proto::QuerySnapshotsResponse,
}

fn tally_binary(args: &Args) -> BoxResult<PathBuf> {
    if let Some(path) = &args.tally {
        return Ok(path.clone());
    }
    let exe = std::env::current_exe()?;
    let dir = exe
        .parent()
        .and_then(Path::parent)
        .ok_or("cannot find the directory of this example")?;
    let path = dir.join("tally");
    if !path.exists() {
        return Err(format!(
            "{} is missing: build it with `cargo build --release --bin tally`",
            path.display()
        )
        .into());
    }
    Ok(path)
}

async fn setup(args: &Args, tally: &Path, db: &str, logs: &Path) -> BoxResult<Setup> {
    let t0 = Instant::now();
    // A reused PostgreSQL database gets one more tenant, not a clash.
    let tenant_id = format!(
        "load-{}",
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)?
            .as_secs()
    );
    let output = Command::new(tally)
        .args([
            "admin",
            "create-tenant",
            "Load benchmark",
            "--id",
            &tenant_id,
        ])
        .args(["--time-zone", "UTC"])
        .env("TALLY_DATABASE_URL", db)
        .env("TALLY_LOG", "warn")
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "tally admin create-tenant failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let key = String::from_utf8(output.stdout)?.trim().to_string();

    let addr = std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?;
    let log = std::fs::File::create(logs.join("tally-serve.log"))?;
    let server = ChildGuard(
        Command::new(tally)
            .arg("serve")
            .env("TALLY_INSECURE_DEV_CUSTOMER_KEY", "true")
            .env("TALLY_DATABASE_URL", db)
            .env("TALLY_LISTEN_ADDR", addr.to_string())
            .env("TALLY_LOG_FORMAT", "json")
            .env("TALLY_SCHEDULER_ENABLED", "false")
            .env("TALLY_CONNECTORS", "none")
            // The benchmark is one key at thousands of calls per second: the per-key
            // limit (100/s, bursts of 200) is raised through its setting, not removed.
            .env("TALLY_RATE_LIMIT_PER_SECOND", "1000000")
            .env("TALLY_RATE_LIMIT_BURST", "1000000")
            .stdin(Stdio::null())
            .stdout(log.try_clone()?)
            .stderr(log)
            .spawn()?,
    );
    let pid = server.0.id();
    let deadline = Instant::now() + Duration::from_secs(60);
    let target = loop {
        match Target::connect("Tally", pid, addr, args.connections, &key).await {
            Ok(target) => break target,
            Err(e) if Instant::now() > deadline => {
                return Err(format!("tally serve did not start: {e}").into());
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    eprintln!(
        "tally serve (pid {pid}) on {addr}, database {db}, started in {:.1} s",
        t0.elapsed().as_secs_f64()
    );

    let conn = Endpoint::from_shared(format!("http://{addr}"))?
        .connect()
        .await?;
    let mut influencers = InfluencerServiceClient::new(conn.clone());
    let mut channels = ChannelServiceClient::new(conn.clone());
    let mut channel_ids = Vec::new();
    for i in 1..=INFLUENCERS {
        let influencer = format!("inf-{i}");
        influencers
            .create_influencer(target.request(proto::CreateInfluencerRequest {
                influencer: Some(proto::Influencer {
                    display_name: format!("Influencer {i}"),
                    ..Default::default()
                }),
                influencer_id: influencer.clone(),
                ..Default::default()
            }))
            .await?;
        for (platform, label) in PLATFORMS {
            let id = format!("{influencer}-{label}");
            channels
                .create_channel(target.request(proto::CreateChannelRequest {
                    channel: Some(proto::Channel {
                        display_name: id.clone(),
                        platform: platform as i32,
                        owner: format!("influencers/{influencer}"),
                        // A YouTube account is a channel id or an @handle.
                        account_id: if platform == proto::Platform::Youtube {
                            format!("@{id}")
                        } else {
                            id.clone()
                        },
                        ..Default::default()
                    }),
                    channel_id: id.clone(),
                    ..Default::default()
                }))
                .await?;
            channel_ids.push(id);
        }
    }

    let days = year_days();
    let mut rows = Vec::new();
    let mut ingest = Vec::new();
    for (c, channel) in channel_ids.iter().enumerate() {
        let channel_rows: Vec<proto::ChannelDayStats> = days
            .iter()
            .enumerate()
            .map(|(d, day)| stats_row(channel, c as i64, d as i64, *day))
            .collect();
        for chunk in channel_rows.chunks(INGEST_ROWS) {
            ingest.push(proto::IngestChannelStatsRequest {
                rows: chunk.to_vec(),
                all_or_nothing: false,
            });
        }
        rows.extend(channel_rows);
    }
    let t = Instant::now();
    let mut client = target.ingest[0].clone();
    for chunk in rows.chunks(2_000) {
        let response = client
            .ingest_channel_stats(target.request(proto::IngestChannelStatsRequest {
                rows: chunk.to_vec(),
                all_or_nothing: true,
            }))
            .await?
            .into_inner();
        if response.accepted_count as usize != chunk.len() {
            return Err(format!("ingest rejected rows: {:?}", response.rejected).into());
        }
    }
    eprintln!(
        "ingested {} channel-day rows ({} channels × {DAYS} days) in {:.1} s",
        rows.len(),
        channel_ids.len(),
        t.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let (first, last) = (days[0], days[DAYS - 1]);
    let computed = target.kpi[0]
        .clone()
        .compute_kpis(target.request(proto::ComputeKpisRequest {
            first_day: Some(date(first)),
            last_day: Some(date(last)),
        }))
        .await?
        .into_inner();
    eprintln!(
        "ComputeKpis {first}..{last}: {} days, {} snapshots in {:.1} s",
        computed.days,
        computed.snapshots,
        t.elapsed().as_secs_f64()
    );

    let query = proto::QuerySnapshotsRequest {
        kpi_scope: Some(proto::KpiScope {
            kpi: "followers".into(),
            scope: format!("channels/{}", channel_ids[0]),
            segment: String::new(),
        }),
        first_day: Some(date(first)),
        last_day: Some(date(last)),
        granularity: proto::Granularity::Day as i32,
    };
    let scopes = [
        "influencers/inf-1".to_string(),
        "influencers/inf-2".to_string(),
        format!("channels/{}", channel_ids[0]),
        format!("channels/{}", channel_ids[channel_ids.len() - 1]),
    ];
    let batch = proto::BatchGetLatestRequest {
        kpi_scopes: BATCH_KPIS
            .iter()
            .flat_map(|kpi| {
                scopes.iter().map(|scope| proto::KpiScope {
                    kpi: kpi.to_string(),
                    scope: scope.clone(),
                    segment: String::new(),
                })
            })
            .collect(),
    };

    // The load must read stored snapshots, not values computed at query time.
    let query_response = target.kpi[0]
        .clone()
        .query_snapshots(target.request(query.clone()))
        .await?
        .into_inner();
    let stored = query_response
        .values
        .iter()
        .filter(|v| !v.run_id.is_empty())
        .count();
    if query_response.values.len() != DAYS || stored != DAYS {
        return Err(format!(
            "QuerySnapshots answered {} values, {stored} stored; expected {DAYS} stored",
            query_response.values.len()
        )
        .into());
    }
    let latest = target.kpi[0]
        .clone()
        .batch_get_latest(target.request(batch.clone()))
        .await?
        .into_inner();
    let stored = latest
        .values
        .iter()
        .filter(|v| !v.run_id.is_empty())
        .count();
    if stored != batch.kpi_scopes.len() {
        return Err(format!(
            "BatchGetLatest has {stored} stored values of {}",
            batch.kpi_scopes.len()
        )
        .into());
    }
    eprintln!(
        "QuerySnapshots answers {DAYS} stored values ({} bytes encoded); BatchGetLatest {} ({} bytes); Ingest {} rows per call ({} bytes)",
        query_response.encoded_len(),
        batch.kpi_scopes.len(),
        latest.encoded_len(),
        INGEST_ROWS,
        ingest[0].encoded_len(),
    );
    eprintln!(
        "set-up done in {:.1} s; server RSS {} MB",
        t0.elapsed().as_secs_f64(),
        mb(proc_status_kb(pid, "VmRSS"))
    );
    Ok(Setup {
        _server: server,
        target,
        work: Arc::new(Workload {
            query,
            batch,
            ingest,
        }),
        query_response,
    })
}

/// Starts the floor as a child of this example, answering `response`.
async fn start_floor(
    args: &Args,
    response: &proto::QuerySnapshotsResponse,
    dir: &Path,
) -> BoxResult<(ChildGuard, Target)> {
    let file = dir.join("floor-response.bin");
    std::fs::write(&file, response.encode_to_vec())?;
    let mut child = ChildGuard(
        Command::new(std::env::current_exe()?)
            .arg("--floor-server")
            .arg(&file)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .spawn()?,
    );
    let stdout = child.0.stdout.take().ok_or("floor without stdout")?;
    let mut line = String::new();
    BufReader::new(stdout).read_line(&mut line)?;
    let addr: SocketAddr = line.trim().parse()?;
    // The floor checks no key; the header is sent all the same, as to Tally.
    let target = Target::connect("floor", child.0.id(), addr, args.connections, "floor").await?;
    eprintln!("floor (pid {}) on {addr}", child.0.id());
    Ok((child, target))
}

// ---------------------------------------------------------------------------------------
// The runs

async fn run(args: &Args) -> BoxResult<()> {
    let tally = tally_binary(args)?;
    let dir = tempfile::tempdir()?;
    let db = match &args.db {
        Some(db) => db.clone(),
        None => format!("sqlite://{}", dir.path().join("load.db").display()),
    };
    eprintln!("load average at start: {}", load_average());
    let setup = setup(args, &tally, &db, dir.path()).await?;
    match args.soak {
        Some(seconds) => soak(args, &setup, Duration::from_secs(seconds)).await,
        None => benchmark(args, &setup, dir.path()).await,
    }
}

async fn benchmark(args: &Args, setup: &Setup, dir: &Path) -> BoxResult<()> {
    let (_floor_child, floor) = start_floor(args, &setup.query_response, dir).await?;
    let tally = &setup.target;
    let work = &setup.work;
    let duration = Duration::from_secs(args.duration);
    let closed = Duration::from_secs(args.closed_duration);
    let rss_start = proc_status_kb(tally.pid, "VmRSS");

    eprintln!("warm-up (3 s closed loop each)");
    for target in [&floor, tally] {
        closed_run(
            target,
            work,
            Rpc::Query,
            args.concurrency,
            Duration::from_secs(3),
        )
        .await;
    }

    let mut rows = Vec::new();
    eprintln!("QuerySnapshots, open loop, {} s per run", args.duration);
    for &rate in &args.query_rates {
        for target in [&floor, tally] {
            rows.push(open_run(target, work, Rpc::Query, rate, duration).await);
        }
    }
    eprintln!(
        "QuerySnapshots, closed loop, {} s per run",
        args.closed_duration
    );
    let mut max = Vec::new();
    for target in [&floor, tally] {
        let row = closed_run(target, work, Rpc::Query, args.concurrency, closed).await;
        max.push(row.achieved);
        rows.push(row);
    }
    eprintln!("BatchGetLatest and Ingest on Tally");
    rows.push(open_run(tally, work, Rpc::Batch, args.batch_rate, duration).await);
    rows.push(closed_run(tally, work, Rpc::Batch, args.concurrency, closed).await);
    rows.push(open_run(tally, work, Rpc::Ingest, args.ingest_rate, duration).await);
    rows.push(closed_run(tally, work, Rpc::Ingest, args.concurrency, closed).await);

    println!();
    println!(
        "Load benchmark: {} HTTP/2 connections, open-loop runs of {} s, closed-loop runs of {} s with {} calls in flight; latency from the scheduled time (open) or the send (closed).",
        args.connections, args.duration, args.closed_duration, args.concurrency
    );
    println!();
    println!("{}", RunRow::markdown_header());
    for row in &rows {
        println!("{}", row.markdown());
    }
    println!();
    println!(
        "QuerySnapshots maximum throughput: Tally {:.0}/s, floor {:.0}/s: **{:.0}% of the floor**.",
        max[1],
        max[0],
        100.0 * max[1] / max[0]
    );
    println!(
        "Tally's RSS: {} MB after set-up, {} MB at the end, peak (VmHWM) {} MB.",
        mb(rss_start),
        mb(proc_status_kb(tally.pid, "VmRSS")),
        mb(proc_status_kb(tally.pid, "VmHWM"))
    );
    for row in rows.iter().filter(|r| !r.error_detail.is_empty()) {
        println!(
            "Errors of {} {} {}: {}",
            row.server,
            row.rpc.name(),
            row.mode,
            row.error_detail
        );
    }
    Ok(())
}

/// One minute of the soak.
struct Minute {
    minute: u64,
    /// (calls, p50, p99, max) per lane.
    lanes: Vec<(u64, u64, u64, u64)>,
    errors: u64,
    rss_kb: Option<u64>,
    load: String,
}

async fn soak(args: &Args, setup: &Setup, duration: Duration) -> BoxResult<()> {
    let tally = &setup.target;
    let rates = [Rpc::Query, Rpc::Batch, Rpc::Ingest]
        .into_iter()
        .zip(args.mix.iter().copied().chain(std::iter::repeat(0.0)));
    let lanes: Vec<Lane> = rates
        .filter(|(_, rate)| *rate > 0.0)
        .map(|(rpc, rate)| Lane {
            rpc,
            rate,
            stats: Arc::new(Mutex::new(Stats::new())),
        })
        .collect();
    let around = Around::before(tally);
    let rss_start = proc_status_kb(tally.pid, "VmRSS");
    let start = Instant::now() + Duration::from_millis(20);
    eprintln!(
        "soak: {} for {} s; server RSS {} MB",
        lanes
            .iter()
            .map(|l| format!("{} {:.0}/s", l.rpc.name(), l.rate))
            .collect::<Vec<_>>()
            .join(", "),
        duration.as_secs(),
        mb(rss_start)
    );

    // (seconds into the soak, VmRSS in kB)
    type Samples = Vec<(u64, Option<u64>)>;
    let samples: Arc<Mutex<Samples>> = Arc::new(Mutex::new(Vec::new()));
    let minutes: Arc<Mutex<Vec<Minute>>> = Arc::new(Mutex::new(Vec::new()));
    let take_minute = {
        let stats: Vec<Arc<Mutex<Stats>>> = lanes.iter().map(|l| l.stats.clone()).collect();
        let pid = tally.pid;
        move |minute: u64| {
            let mut errors = 0;
            let lanes = stats
                .iter()
                .map(|s| {
                    let mut s = s.lock().expect("stats lock");
                    let w = std::mem::replace(&mut s.window, histogram());
                    errors += std::mem::take(&mut s.window_errors);
                    (
                        w.len(),
                        w.value_at_quantile(0.5),
                        w.value_at_quantile(0.99),
                        w.max(),
                    )
                })
                .collect();
            let row = Minute {
                minute,
                lanes,
                errors,
                rss_kb: proc_status_kb(pid, "VmRSS"),
                load: load_average(),
            };
            eprintln!(
                "  minute {:>2}: {}  errors {}  RSS {} MB  load {}",
                row.minute,
                row.lanes
                    .iter()
                    .map(|(n, p50, p99, _)| format!(
                        "{n} calls p50 {} p99 {} ms",
                        ms(*p50),
                        ms(*p99)
                    ))
                    .collect::<Vec<_>>()
                    .join(" | "),
                row.errors,
                mb(row.rss_kb),
                row.load
            );
            row
        }
    };
    let sampler = {
        let (samples, minutes, take_minute) =
            (samples.clone(), minutes.clone(), take_minute.clone());
        let pid = tally.pid;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::from_std(start + Duration::from_secs(10)),
                Duration::from_secs(10),
            );
            for n in 1u64.. {
                tick.tick().await;
                let rss = proc_status_kb(pid, "VmRSS");
                samples.lock().expect("samples lock").push((n * 10, rss));
                if n.is_multiple_of(6) {
                    let row = take_minute(n / 6);
                    minutes.lock().expect("minutes lock").push(row);
                }
            }
        })
    };
    let results = open_loop(tally, &setup.work, &lanes, start, duration).await;
    sampler.abort();
    let elapsed = start.elapsed();
    // The last (or only partial) minute, when the sampler was stopped before its tick.
    let expected = duration.as_secs().div_ceil(60) as usize;
    if minutes.lock().expect("minutes lock").len() < expected {
        let row = take_minute(expected as u64);
        minutes.lock().expect("minutes lock").push(row);
    }
    let rss_end = proc_status_kb(tally.pid, "VmRSS");
    let cpu_end = proc_cpu(tally.pid);

    println!();
    println!(
        "Soak: {} s of {}; {} HTTP/2 connections; load average {} → {}.",
        duration.as_secs(),
        lanes
            .iter()
            .map(|l| format!("{} {:.0}/s", l.rpc.name(), l.rate))
            .collect::<Vec<_>>()
            .join(" + "),
        args.connections,
        around.load,
        load_average()
    );
    println!();
    println!("| RPC | target/s | achieved/s | calls | p50 ms | p99 ms | max ms | errors |");
    println!("|---|---|---|---|---|---|---|---|");
    let mut total_errors = 0;
    for (lane, (unfinished, _)) in lanes.iter().zip(&results) {
        let s = lane.stats.lock().expect("stats lock");
        let errors = s.error_count() + unfinished;
        total_errors += errors;
        println!(
            "| {} | {:.0} | {:.0} | {} | {} | {} | {} | {} |",
            lane.rpc.name(),
            lane.rate,
            s.ok as f64 / elapsed.as_secs_f64(),
            s.ok + s.error_count(),
            ms(s.latency.value_at_quantile(0.5)),
            ms(s.latency.value_at_quantile(0.99)),
            ms(s.latency.max()),
            errors
        );
        for (code, (n, first)) in &s.errors {
            println!("|  | {n} × {code}: {first} | | | | | | |");
        }
    }
    println!();
    let calls: u64 = lanes
        .iter()
        .map(|l| {
            let s = l.stats.lock().expect("stats lock");
            s.ok + s.error_count()
        })
        .sum();
    if let (Some(a), Some(b)) = (around.cpu, cpu_end) {
        println!(
            "Server CPU: {:.1} s in all, {:.0} µs per call.",
            (b - a).as_secs_f64(),
            (b - a).as_micros() as f64 / calls.max(1) as f64
        );
    }
    println!(
        "Server RSS: {} MB at the start, {} MB at the end, peak (VmHWM) {} MB; errors: {total_errors}.",
        mb(rss_start),
        mb(rss_end),
        mb(proc_status_kb(tally.pid, "VmHWM"))
    );
    let samples = samples.lock().expect("samples lock");
    println!(
        "RSS every 10 s (MB): {}",
        samples
            .iter()
            .map(|(_, kb)| mb(*kb))
            .collect::<Vec<_>>()
            .join(" ")
    );
    println!();
    print!("| minute |");
    for lane in &lanes {
        print!(" {} p50 / p99 ms |", lane.rpc.name());
    }
    println!(" errors | RSS MB | load avg |");
    println!("|---|{}---|---|---|", "---|".repeat(lanes.len()));
    for m in minutes.lock().expect("minutes lock").iter() {
        print!("| {} |", m.minute);
        for (_, p50, p99, _) in &m.lanes {
            print!(" {} / {} |", ms(*p50), ms(*p99));
        }
        println!(" {} | {} | {} |", m.errors, mb(m.rss_kb), m.load);
    }
    Ok(())
}
