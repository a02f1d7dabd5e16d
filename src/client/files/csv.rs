//! The CSV reader: a header row names the columns; a record may span lines (quoted
//! breaks) and is reported at the line it starts on.
use super::{FileRow, Records};
use std::io::BufRead;

/// Reads the records of a CSV file with a header row.
pub(super) fn records<T: FileRow, R: BufRead + 'static>(reader: R) -> Records<T::Proto> {
    // Trimming waits until a record's line is known: it would drop the line breaks
    // at the edges of quoted fields that the line count needs.
    let mut csv = csv::ReaderBuilder::new()
        .trim(csv::Trim::None)
        .from_reader(LineFeeds::new(reader));
    let mut record = csv::StringRecord::new();
    let headers = csv.headers().cloned().map(|mut h| {
        h.trim();
        h
    });
    let mut header_reported = false;
    Box::new(std::iter::from_fn(move || {
        let headers = match &headers {
            Ok(h) => h,
            // Without a header no row can be read: report it once, then stop.
            Err(_) if header_reported => return None,
            Err(e) => {
                header_reported = true;
                return Some((1, Err(format!("cannot read the header row: {e}"))));
            }
        };
        match csv.read_record(&mut record) {
            Ok(false) => None,
            Ok(true) => {
                // The record's own start position lies before any line break the
                // reader skipped to reach it (blank lines, the LF of a CRLF), so
                // the line is counted back from the end: every record ends with
                // the LF that LineFeeds guarantees, after the breaks it holds.
                let breaks: u64 = record
                    .iter()
                    .map(|field| field.bytes().filter(|&b| b == b'\n').count() as u64)
                    .sum();
                let line = csv.position().line().saturating_sub(1 + breaks).max(1);
                record.trim();
                let row = record
                    .deserialize::<T>(Some(headers))
                    .map_err(|e| describe(&e, headers))
                    .and_then(FileRow::into_proto);
                Some((line, row))
            }
            Err(e) => {
                let line = e.position().map(|p| p.line()).unwrap_or_default();
                // A broken record is reported and reading goes on with the next.
                Some((line, Err(e.to_string())))
            }
        }
    }))
}

/// A CSV reading error, naming the column when the value of one is wrong.
fn describe(error: &csv::Error, headers: &csv::StringRecord) -> String {
    if let csv::ErrorKind::Deserialize { err, .. } = error.kind()
        && let Some(column) = err.field().and_then(|i| headers.get(i as usize))
    {
        return format!("{column}: {}", err.kind());
    }
    error.to_string()
}

/// A CSV text with every CRLF turned into LF and an LF added after a last line without
/// one, so that each record the csv reader returns has consumed its own line break.
pub(super) struct LineFeeds<R> {
    inner: R,
    /// A CR read but not yet written: dropped if an LF follows.
    cr: bool,
    /// A byte to write before reading more.
    held: Option<u8>,
    /// The last byte written.
    last: Option<u8>,
    /// Whether the end of the input was handled.
    ended: bool,
}

impl<R: BufRead> LineFeeds<R> {
    pub(super) fn new(inner: R) -> Self {
        LineFeeds {
            inner,
            cr: false,
            held: None,
            last: None,
            ended: false,
        }
    }
}

impl<R: BufRead> std::io::Read for LineFeeds<R> {
    fn read(&mut self, out: &mut [u8]) -> std::io::Result<usize> {
        let mut n = 0;
        while n < out.len() {
            if let Some(b) = self.held.take() {
                out[n] = b;
                n += 1;
                self.last = Some(b);
                continue;
            }
            let input = self.inner.fill_buf()?;
            if input.is_empty() {
                if std::mem::take(&mut self.cr) {
                    self.held = Some(b'\r');
                } else if !std::mem::replace(&mut self.ended, true)
                    && self.last.is_some_and(|b| b != b'\n')
                {
                    self.held = Some(b'\n');
                } else {
                    break;
                }
                continue;
            }
            let mut used = 0;
            for &b in input {
                if n == out.len() {
                    break;
                }
                if std::mem::take(&mut self.cr) && b != b'\n' {
                    out[n] = b'\r';
                    n += 1;
                    self.last = Some(b'\r');
                    if n == out.len() {
                        break;
                    }
                }
                used += 1;
                if b == b'\r' {
                    self.cr = true;
                } else {
                    out[n] = b;
                    n += 1;
                    self.last = Some(b);
                }
            }
            self.inner.consume(used);
        }
        Ok(n)
    }
}
