//! Observation files (CSV with a header row, or NDJSON) read as ingest rows, one record at
//! a time so that a file of any size is read in bounded memory.
//!
//! Columns are the fields of the matching protobuf row, flattened: money in major units
//! (`12.34`, converted with the currency's ISO 4217 exponent), dates as `YYYY-MM-DD`,
//! times as RFC 3339, lists (discount codes) separated by `;`, resource names either in
//! full (`channels/anna-ig`) or as the bare id.
//!
//! - `csv`, `ndjson`: the two readers, each yielding `(line, row or reason)`.
//! - `rows`: one row type a kind of file, with its columns and conversion.
//! - `values`: the column values (money, dates, times, resource names).
mod csv;
mod ndjson;
mod rows;
mod values;

pub use rows::{
    AudienceMemberRow, ChannelStatsRow, GiveawayEntryRow, InteractionRow, MetricPointRow,
    OrderDeletion, OrderDeletionRow, OrderRow, WebTrafficFileRow,
};
pub use values::minor_units;

use serde::de::DeserializeOwned;
use std::io::BufRead;

/// The kinds of observation a file can hold.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Kind {
    /// Shop orders.
    Orders,
    /// Channel statistics per day.
    ChannelStats,
    /// Web traffic per day.
    WebTraffic,
    /// Audience members.
    AudienceMembers,
    /// Interactions.
    Interactions,
    /// Giveaway entries.
    GiveawayEntries,
    /// Pushed metric points.
    MetricPoints,
    /// Ids of orders to remove (cancelled after they were sent): one `order_id` column.
    OrderDeletions,
}

/// File formats.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum Format {
    /// Comma-separated values with a header row.
    Csv,
    /// One JSON object per line.
    Ndjson,
}

impl Format {
    /// The format a file name suggests.
    pub fn from_path(path: &std::path::Path) -> Option<Format> {
        match path.extension()?.to_str()?.to_ascii_lowercase().as_str() {
            "csv" => Some(Format::Csv),
            "ndjson" | "jsonl" => Some(Format::Ndjson),
            _ => None,
        }
    }
}

/// A row of a file, convertible into its protobuf row.
pub trait FileRow: DeserializeOwned {
    /// The protobuf row.
    type Proto;
    /// Converts, or says which column is wrong and why.
    fn into_proto(self) -> Result<Self::Proto, String>;
}

/// Records of a file: `(line number, row or the reason it cannot be read)`.
pub type Records<P> = Box<dyn Iterator<Item = (u64, Result<P, String>)>>;
/// Reads the records of a file.
pub fn records<T: FileRow, R: BufRead + 'static>(reader: R, format: Format) -> Records<T::Proto> {
    match format {
        Format::Csv => csv::records::<T, R>(reader),
        Format::Ndjson => ndjson::records::<T, R>(reader),
    }
}

#[cfg(test)]
mod props;
#[cfg(test)]
mod tests;
