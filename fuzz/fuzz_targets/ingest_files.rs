//! The CSV and NDJSON observation-file readers on arbitrary bytes, for every kind of file:
//! each record is a row or a reason, and reading always ends.
#![no_main]

use libfuzzer_sys::fuzz_target;
use std::io::Cursor;
use tally::client::files::{self, FileRow, Format};

fn read<T: FileRow>(data: &[u8], format: Format) {
    let mut last_line = 0;
    for (line, row) in files::records::<T, _>(Cursor::new(data.to_vec()), format) {
        // Line numbers name a place in the file and never go back.
        assert!(line >= last_line, "line {line} after {last_line}");
        last_line = line;
        if let Err(reason) = row {
            assert!(!reason.is_empty());
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&selector, data)) = data.split_first() else {
        return;
    };
    let format = if selector & 1 == 0 {
        Format::Csv
    } else {
        Format::Ndjson
    };
    match (selector >> 1) % 7 {
        0 => read::<files::OrderRow>(data, format),
        1 => read::<files::ChannelStatsRow>(data, format),
        2 => read::<files::WebTrafficFileRow>(data, format),
        3 => read::<files::AudienceMemberRow>(data, format),
        4 => read::<files::InteractionRow>(data, format),
        5 => read::<files::GiveawayEntryRow>(data, format),
        _ => read::<files::MetricPointRow>(data, format),
    }
});
