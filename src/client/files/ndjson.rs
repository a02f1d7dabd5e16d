//! The NDJSON reader: one JSON object a line; blank lines are skipped.
use super::{FileRow, Records};
use std::io::BufRead;

/// Reads the records of an NDJSON file.
pub(super) fn records<T: FileRow, R: BufRead + 'static>(reader: R) -> Records<T::Proto> {
    let mut lines = reader.lines().enumerate();
    Box::new(std::iter::from_fn(move || {
        loop {
            let (index, line) = lines.next()?;
            let line_no = index as u64 + 1;
            match line {
                Err(e) => return Some((line_no, Err(e.to_string()))),
                Ok(text) if text.trim().is_empty() => continue,
                Ok(text) => {
                    let row = serde_json::from_str::<T>(&text)
                        .map_err(|e| e.to_string())
                        .and_then(FileRow::into_proto);
                    return Some((line_no, row));
                }
            }
        }
    }))
}
