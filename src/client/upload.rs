//! `tally ingest`: streams an observation file to a running server over gRPC in batches,
//! with a bounded number of batches in memory, progress, and a summary with the line of
//! every rejected row.
//!
//! Batches go one at a time, and the next only once the server has answered the last, so
//! when the server goes away the upload resumes from the first batch it did not
//! acknowledge. Resending that batch is safe: every observation has a natural key and is
//! upserted (KPIS.md, "Ingest is idempotent"), so a batch stored before its answer was
//! lost is stored again unchanged. Only failures where the server gave no verdict on the
//! rows are retried (see [`retry_after`]); a refusal such as INVALID_ARGUMENT never is.
use super::files::{self, FileRow, Format, Kind};
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
use tonic_types::StatusExt;

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
    /// The server refused a batch as a whole or stayed unavailable; the rows before
    /// `line` were stored.
    #[error(
        "server: {status}; rows from line {line} on were not stored (sending the file again is safe)"
    )]
    Server {
        /// The answer that ended the upload.
        status: Status,
        /// The first line of the batch that was not stored.
        line: u64,
    },
}

/// How a batch the server did not answer is sent again.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts per batch, the first included; 1 turns retries off.
    pub max_attempts: u32,
    /// Longest time one batch may spend waiting between attempts.
    pub max_wait: Duration,
    /// Wait before the first retry; it doubles with every attempt.
    pub first_delay: Duration,
    /// Longest wait between two attempts.
    pub max_delay: Duration,
}

impl Default for RetryPolicy {
    fn default() -> Self {
        RetryPolicy {
            max_attempts: 10,
            max_wait: Duration::from_secs(120),
            first_delay: Duration::from_millis(200),
            max_delay: Duration::from_secs(15),
        }
    }
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
    /// Attempts that were sent again after the server did not answer.
    pub retries: u64,
    /// Order ids of a deletion file that were not stored (removed before, or never sent).
    pub not_stored: u64,
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
        if self.not_stored > 0 {
            writeln!(
                f,
                "  {} order ids were not stored: nothing to remove",
                self.not_stored
            )?;
        }
        if self.retries > 0 {
            writeln!(
                f,
                "  {} batch attempts were sent again after the server did not answer",
                self.retries
            )?;
        }
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

/// The server's answer to one batch.
#[derive(Debug, Default)]
pub struct Answer {
    /// Rows stored (or orders removed).
    pub accepted: u64,
    /// Rows not taken, with their index in the batch.
    pub rejected: Vec<proto::RejectedRow>,
    /// Order ids of a deletion that were not stored: nothing to remove, not an error.
    pub not_stored: u64,
}

impl From<proto::IngestResponse> for Answer {
    fn from(response: proto::IngestResponse) -> Answer {
        Answer {
            accepted: response.accepted_count.max(0) as u64,
            rejected: response.rejected,
            not_stored: 0,
        }
    }
}

/// A protobuf row type and the RPC that ingests it.
pub trait Ingest: Sized + Clone + Send + 'static {
    /// Sends one batch.
    fn send(
        client: &mut IngestServiceClient<Channel>,
        request: Request<Vec<Self>>,
    ) -> impl Future<Output = Result<Answer, Status>> + Send;
}

impl Ingest for files::OrderDeletion {
    async fn send(
        client: &mut IngestServiceClient<Channel>,
        request: Request<Vec<Self>>,
    ) -> Result<Answer, Status> {
        let (metadata, extensions, ids) = request.into_parts();
        let request = Request::from_parts(
            metadata,
            extensions,
            proto::DeleteOrdersRequest {
                order_ids: ids.into_iter().map(|id| id.0).collect(),
                all_or_nothing: false,
            },
        );
        let response = client.delete_orders(request).await?.into_inner();
        Ok(Answer {
            accepted: response.deleted_count.max(0) as u64,
            // Named as the file's column, like the fields of the other kinds.
            rejected: response
                .rejected
                .into_iter()
                .map(|r| proto::RejectedRow {
                    field: format!("order_ids[{}].order_id", r.index),
                    ..r
                })
                .collect(),
            not_stored: response.not_stored_order_ids.len() as u64,
        })
    }
}

macro_rules! ingest {
    ($row:ty, $request:ident, $method:ident) => {
        impl Ingest for $row {
            async fn send(
                client: &mut IngestServiceClient<Channel>,
                request: Request<Vec<Self>>,
            ) -> Result<Answer, Status> {
                let (metadata, extensions, rows) = request.into_parts();
                let request = Request::from_parts(
                    metadata,
                    extensions,
                    proto::$request {
                        rows,
                        all_or_nothing: false,
                    },
                );
                client.$method(request).await.map(|r| r.into_inner().into())
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

/// Uploads `path` as `kind` rows in batches of `batch_size` to the server of `channel`,
/// sending a batch again as `retry` says when the server does not answer.
pub async fn upload(
    channel: Channel,
    api_key: &str,
    kind: Kind,
    path: &Path,
    format: Format,
    batch_size: usize,
    retry: RetryPolicy,
) -> Result<Summary, UploadError> {
    let batch_size = batch_size.max(1);
    match kind {
        Kind::Orders => {
            run::<files::OrderRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::ChannelStats => {
            run::<files::ChannelStatsRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::WebTraffic => {
            run::<files::WebTrafficFileRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::AudienceMembers => {
            run::<files::AudienceMemberRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::Interactions => {
            run::<files::InteractionRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::GiveawayEntries => {
            run::<files::GiveawayEntryRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::MetricPoints => {
            run::<files::MetricPointRow>(channel, api_key, path, format, batch_size, retry).await
        }
        Kind::OrderDeletions => {
            run::<files::OrderDeletionRow>(channel, api_key, path, format, batch_size, retry).await
        }
    }
}

async fn run<T>(
    channel: Channel,
    api_key: &str,
    path: &Path,
    format: Format,
    batch_size: usize,
    retry: RetryPolicy,
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
    let mut client =
        IngestServiceClient::new(channel).max_encoding_message_size(proto::MAX_MESSAGE_BYTES);
    let mut summary = Summary::default();
    let mut batches = 0u64;
    while let Some(batch) = rx.recv().await {
        batches += 1;
        summary.read += (batch.rows.len() + batch.unreadable.len()) as u64;
        for (line, reason) in batch.unreadable {
            summary.reject(line, reason);
        }
        if let (Some(&first), Some(&last)) = (batch.lines.first(), batch.lines.last()) {
            let sent = send_with_retry(
                &mut client,
                api_key,
                batch.rows,
                &retry,
                |status, attempt, delay| {
                    summary.retries += 1;
                    // Said on stderr even without a terminal: whoever runs the upload
                    // should see that the server went away and what is being done.
                    progress.suspend(|| {
                        eprintln!(
                            "batch {batches} (lines {first} to {last}) not acknowledged: {}; \
                             sending it again in {} ms (attempt {} of {})",
                            describe(status),
                            delay.as_millis(),
                            attempt + 1,
                            retry.max_attempts
                        )
                    });
                },
            )
            .await;
            let response = sent.map_err(|status| {
                progress.finish_and_clear();
                UploadError::Server {
                    status,
                    line: first,
                }
            })?;
            summary.accepted += response.accepted;
            summary.not_stored += response.not_stored;
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

/// How long to wait before sending a failed batch again, or None when it must not be.
///
/// Retried: UNAVAILABLE (the server is stopping, restarting or unreachable), a call that
/// ended without an answer because the connection broke (tonic reports those as UNKNOWN,
/// CANCELLED or INTERNAL with the transport error as source; a status the server sent has
/// none), and RESOURCE_EXHAUSTED that carries RetryInfo (the rate limit; without it, such
/// as a message too large, waiting changes nothing). Everything else is the server's
/// verdict on the batch and is final.
pub fn retry_after(status: &Status) -> Option<Option<Duration>> {
    match status.code() {
        Code::Unavailable => Some(None),
        Code::Unknown | Code::Cancelled | Code::Internal
            if std::error::Error::source(status).is_some() =>
        {
            Some(None)
        }
        Code::ResourceExhausted => status
            .get_details_retry_info()
            .and_then(|info| info.retry_delay)
            .map(Some),
        _ => None,
    }
}

/// A failed attempt on one line: the code and the message, with the transport's cause.
fn describe(status: &Status) -> String {
    let mut text = format!("{:?}: {}", status.code(), status.message());
    let mut source = std::error::Error::source(status);
    while let Some(cause) = source {
        // tonic's and hyper's errors repeat their kind ("transport error") at each level.
        let cause_text = cause.to_string();
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}

/// Sends a batch, and again with exponential backoff while [`retry_after`] allows and the
/// policy's attempts and wait last; `notify` hears of each retry before its wait.
async fn send_with_retry<P: Ingest>(
    client: &mut IngestServiceClient<Channel>,
    api_key: &str,
    rows: Vec<P>,
    policy: &RetryPolicy,
    mut notify: impl FnMut(&Status, u32, Duration),
) -> Result<Answer, Status> {
    use backon::{ExponentialBuilder, Retryable};
    let header: tonic::metadata::MetadataValue<_> =
        format!("Bearer {api_key}").parse().map_err(|_| {
            Status::invalid_argument("the API key contains characters a header cannot carry")
        })?;
    let max_delay = policy.max_delay.max(policy.first_delay);
    let backoff = ExponentialBuilder::default()
        .with_min_delay(policy.first_delay)
        .with_max_delay(max_delay)
        .with_jitter()
        .with_max_times(policy.max_attempts.max(1) as usize - 1)
        .with_total_delay(Some(policy.max_wait));
    let attempts = std::sync::atomic::AtomicU32::new(0);
    (|| {
        attempts.fetch_add(1, Ordering::Relaxed);
        let mut client = client.clone();
        let mut request = Request::new(rows.clone());
        request
            .metadata_mut()
            .insert("authorization", header.clone());
        async move { P::send(&mut client, request).await }
    })
    .retry(backoff)
    .when(|status| retry_after(status).is_some())
    .adjust(|status, next| {
        // The server's own wait (RetryInfo) wins over the backoff; either is capped.
        let next = next?;
        Some(match retry_after(status) {
            Some(Some(wait)) => wait.min(max_delay),
            _ => next.min(max_delay),
        })
    })
    .notify(|status, delay| notify(status, attempts.load(Ordering::Relaxed), delay))
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_failures_without_a_verdict_are_retried() {
        assert_eq!(retry_after(&Status::unavailable("stopping")), Some(None));
        assert_eq!(retry_after(&Status::invalid_argument("rows")), None);
        assert_eq!(retry_after(&Status::unknown("sent by the server")), None);
        assert_eq!(retry_after(&Status::internal("sent by the server")), None);
        let broken = Status::from_error(Box::new(std::io::Error::from(
            std::io::ErrorKind::BrokenPipe,
        )));
        assert_eq!(broken.code(), Code::Unknown);
        assert_eq!(retry_after(&broken), Some(None));
        assert_eq!(retry_after(&Status::resource_exhausted("too large")), None);
        let limited = Status::with_error_details(
            Code::ResourceExhausted,
            "rate limit",
            tonic_types::ErrorDetails::with_retry_info(Some(Duration::from_millis(1500))),
        );
        assert_eq!(
            retry_after(&limited),
            Some(Some(Duration::from_millis(1500)))
        );
    }
}
