//! `tally ingest`: streams an observation file to a running server over gRPC in batches,
//! with a bounded number of batches in memory, retries of idempotent batches when the
//! server is unavailable, progress, and a summary with the line of every rejected row.
use crate::files::{self, FileRow, Format, Kind};
use crate::proto;
use crate::proto::ingest_service_client::IngestServiceClient;
use indicatif::{ProgressBar, ProgressStyle};
use std::io::{BufReader, Read};
use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tonic::transport::Channel;
use tonic::{Code, Request, Status};

/// Rejections listed in the summary; the rest are counted.
const LISTED_REJECTIONS: usize = 20;

/// Errors that stop an upload.
#[derive(Debug, thiserror::Error)]
pub enum UploadError {
    /// The file cannot be opened.
    #[error("cannot read {path}: {source}")]
    File {
        /// The file.
        path: String,
        /// Why.
        source: std::io::Error,
    },
    /// The server refused a batch as a whole or stayed unavailable.
    #[error("server: {0}")]
    Server(#[from] Status),
}

/// What an upload did.
#[derive(Debug, Default)]
pub struct Summary {
    /// Records read.
    pub read: u64,
    /// Rows the server stored.
    pub accepted: u64,
    /// Rows not stored: unreadable here or rejected by the server.
    pub rejected: u64,
    /// The first rejections: (line, reason).
    pub rejections: Vec<(u64, String)>,
    /// Time taken.
    pub elapsed: Duration,
}

impl Summary {
    fn reject(&mut self, line: u64, reason: String) {
        self.rejected += 1;
        if self.rejections.len() < LISTED_REJECTIONS {
            self.rejections.push((line, reason));
        }
    }
}

impl std::fmt::Display for Summary {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let secs = self.elapsed.as_secs_f64().max(1e-9);
        writeln!(
            f,
            "read {} rows in {:.1} s ({:.0} rows/s): {} accepted, {} rejected",
            self.read,
            secs,
            self.read as f64 / secs,
            self.accepted,
            self.rejected
        )?;
        for (line, reason) in &self.rejections {
            writeln!(f, "  line {line}: {reason}")?;
        }
        if self.rejected as usize > self.rejections.len() {
            writeln!(
                f,
                "  ... and {} more",
                self.rejected as usize - self.rejections.len()
            )?;
        }
        Ok(())
    }
}

/// A protobuf row type and the RPC that ingests it.
pub trait Ingest: Sized + Clone + Send + 'static {
    /// Sends one batch.
    fn send(
        client: &mut IngestServiceClient<Channel>,
        request: Request<Vec<Self>>,
    ) -> impl Future<Output = Result<proto::IngestResponse, Status>> + Send;
}

macro_rules! ingest {
    ($row:ty, $request:ident, $method:ident) => {
        impl Ingest for $row {
            async fn send(
                client: &mut IngestServiceClient<Channel>,
                request: Request<Vec<Self>>,
            ) -> Result<proto::IngestResponse, Status> {
                let (metadata, extensions, rows) = request.into_parts();
                let request = Request::from_parts(
                    metadata,
                    extensions,
                    proto::$request {
                        rows,
                        all_or_nothing: false,
                    },
                );
                client.$method(request).await.map(|r| r.into_inner())
            }
        }
    };
}

ingest!(proto::Order, IngestOrdersRequest, ingest_orders);
ingest!(
    proto::ChannelDayStats,
    IngestChannelStatsRequest,
    ingest_channel_stats
);
ingest!(
    proto::WebTrafficRow,
    IngestWebTrafficRequest,
    ingest_web_traffic
);
ingest!(
    proto::AudienceMember,
    IngestAudienceMembersRequest,
    ingest_audience_members
);
ingest!(
    proto::Interaction,
    IngestInteractionsRequest,
    ingest_interactions
);
ingest!(
    proto::GiveawayEntry,
    IngestGiveawayEntriesRequest,
    ingest_giveaway_entries
);
ingest!(
    proto::MetricPoint,
    IngestMetricPointsRequest,
    ingest_metric_points
);

/// Counts the bytes read, for progress.
struct Counting<R> {
    inner: R,
    read: Arc<AtomicU64>,
}

impl<R: Read> Read for Counting<R> {
    fn read(&mut self, buf: &mut [u8]) -> std::io::Result<usize> {
        let n = self.inner.read(buf)?;
        self.read.fetch_add(n as u64, Ordering::Relaxed);
        Ok(n)
    }
}

/// One batch read from the file: rows with their lines, and local rejections.
struct Batch<P> {
    rows: Vec<P>,
    lines: Vec<u64>,
    unreadable: Vec<(u64, String)>,
}

/// Uploads `path` as `kind` rows in batches of `batch_size` to the server of `channel`.
pub async fn upload(
    channel: Channel,
    api_key: &str,
    kind: Kind,
    path: &Path,
    format: Format,
    batch_size: usize,
) -> Result<Summary, UploadError> {
    match kind {
        Kind::Orders => run::<files::OrderRow>(channel, api_key, path, format, batch_size).await,
        Kind::ChannelStats => {
            run::<files::ChannelStatsRow>(channel, api_key, path, format, batch_size).await
        }
        Kind::WebTraffic => {
            run::<files::WebTrafficFileRow>(channel, api_key, path, format, batch_size).await
        }
        Kind::AudienceMembers => {
            run::<files::AudienceMemberRow>(channel, api_key, path, format, batch_size).await
        }
        Kind::Interactions => {
            run::<files::InteractionRow>(channel, api_key, path, format, batch_size).await
        }
        Kind::GiveawayEntries => {
            run::<files::GiveawayEntryRow>(channel, api_key, path, format, batch_size).await
        }
        Kind::MetricPoints => {
            run::<files::MetricPointRow>(channel, api_key, path, format, batch_size).await
        }
    }
}

async fn run<T>(
    channel: Channel,
    api_key: &str,
    path: &Path,
    format: Format,
    batch_size: usize,
) -> Result<Summary, UploadError>
where
    T: FileRow + 'static,
    T::Proto: Ingest,
{
    let started = Instant::now();
    let file = std::fs::File::open(path).map_err(|source| UploadError::File {
        path: path.display().to_string(),
        source,
    })?;
    let total = file.metadata().map(|m| m.len()).unwrap_or(0);
    let read = Arc::new(AtomicU64::new(0));
    let reader = BufReader::with_capacity(
        1 << 16,
        Counting {
            inner: file,
            read: read.clone(),
        },
    );

    // Reading and converting run on a blocking thread while the previous batch is in
    // flight; the channel's capacity bounds the batches held in memory.
    let (tx, mut rx) = tokio::sync::mpsc::channel::<Batch<T::Proto>>(2);
    let reader_task = tokio::task::spawn_blocking(move || {
        let mut batch = Batch {
            rows: Vec::with_capacity(batch_size),
            lines: Vec::new(),
            unreadable: Vec::new(),
        };
        for (line, row) in files::records::<T, _>(reader, format) {
            match row {
                Ok(row) => {
                    batch.rows.push(row);
                    batch.lines.push(line);
                }
                Err(reason) => batch.unreadable.push((line, reason)),
            }
            if batch.rows.len() + batch.unreadable.len() >= batch_size {
                let full = std::mem::replace(
                    &mut batch,
                    Batch {
                        rows: Vec::with_capacity(batch_size),
                        lines: Vec::new(),
                        unreadable: Vec::new(),
                    },
                );
                if tx.blocking_send(full).is_err() {
                    return;
                }
            }
        }
        let _ = tx.blocking_send(batch);
    });

    let progress = ProgressBar::new(total);
    progress.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {msg} ({eta})")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let terminal = !progress.is_hidden();
    let mut client = IngestServiceClient::new(channel)
        .max_encoding_message_size(crate::api::ingest::MAX_MESSAGE_BYTES);
    let mut summary = Summary::default();
    let mut batches = 0u64;
    while let Some(batch) = rx.recv().await {
        summary.read += (batch.rows.len() + batch.unreadable.len()) as u64;
        for (line, reason) in batch.unreadable {
            summary.reject(line, reason);
        }
        if !batch.rows.is_empty() {
            let response = send_with_retry(&mut client, api_key, batch.rows).await?;
            summary.accepted += response.accepted_count as u64;
            for rejected in response.rejected {
                let line = batch
                    .lines
                    .get(rejected.index as usize)
                    .copied()
                    .unwrap_or_default();
                let field = rejected
                    .field
                    .split_once('.')
                    .map(|(_, f)| f)
                    .unwrap_or(&rejected.field);
                summary.reject(line, format!("{field}: {}", rejected.reason));
            }
        }
        batches += 1;
        progress.set_position(read.load(Ordering::Relaxed));
        progress.set_message(format!(
            "{} rows, {} rejected",
            summary.read, summary.rejected
        ));
        if !terminal && batches.is_multiple_of(20) {
            eprintln!("{} rows sent, {} rejected", summary.read, summary.rejected);
        }
    }
    progress.finish_and_clear();
    let _ = reader_task.await;
    summary.elapsed = started.elapsed();
    Ok(summary)
}

/// Sends a batch, retrying while the server is unavailable; batches are idempotent
/// upserts, so a retry after a lost answer stores nothing twice.
async fn send_with_retry<P: Ingest>(
    client: &mut IngestServiceClient<Channel>,
    api_key: &str,
    rows: Vec<P>,
) -> Result<proto::IngestResponse, Status> {
    let mut delay = Duration::from_millis(200);
    let mut attempt = 0;
    loop {
        let mut request = Request::new(rows.clone());
        let header = format!("Bearer {api_key}").parse().map_err(|_| {
            Status::invalid_argument("the API key contains characters a header cannot carry")
        })?;
        request.metadata_mut().insert("authorization", header);
        match P::send(client, request).await {
            Err(status) if status.code() == Code::Unavailable && attempt < 5 => {
                attempt += 1;
                tracing::warn!(
                    attempt,
                    "server unavailable; retrying the batch in {delay:?}"
                );
                tokio::time::sleep(delay).await;
                delay *= 2;
            }
            other => return other,
        }
    }
}
