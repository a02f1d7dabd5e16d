//! Numbers and tables for people: thousands separators, units, aligned columns, and the
//! CSV and JSON forms that scripts read instead.
use comfy_table::{CellAlignment, ColumnConstraint, Table, Width};

/// How a listing is printed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    /// An aligned table with numbers formatted for people.
    #[default]
    Table,
    /// CSV with a header and raw numbers, for spreadsheets and scripts.
    Csv,
    /// A JSON array of objects with raw numbers, for scripts.
    Json,
}

/// Groups the digits of an integer string by three with commas: `12345` → `12,345`.
fn group_digits(digits: &str) -> String {
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `value` with `decimals` decimals and thousands separators: `12345.6` → `12,345.60`.
pub fn grouped(value: f64, decimals: usize) -> String {
    if !value.is_finite() {
        return value.to_string();
    }
    let text = format!("{:.*}", decimals, value.abs());
    let (int, frac) = match text.split_once('.') {
        Some((int, frac)) => (int, Some(frac)),
        None => (text.as_str(), None),
    };
    // Rounding can turn a tiny negative into zero; no "-0" for people.
    let negative = value < 0.0 && text.bytes().any(|b| b.is_ascii_digit() && b != b'0');
    let mut out = String::new();
    if negative {
        out.push('-');
    }
    out.push_str(&group_digits(int));
    if let Some(frac) = frac {
        out.push('.');
        out.push_str(frac);
    }
    out
}

/// A plain number: whole numbers without decimals, others with two.
pub fn plain(value: f64) -> String {
    if value.fract() == 0.0 && value.abs() < 1e15 {
        grouped(value, 0)
    } else {
        grouped(value, 2)
    }
}

/// A KPI value in its unit for people. Money is in the tenant's currency, which no RPC
/// tells, so it carries `currency` when the user named it and the unit name otherwise.
pub fn value(value: f64, unit: &str, currency: Option<&str>) -> String {
    match unit {
        "percent" => format!("{}%", grouped(value, 2)),
        "per_mille" => format!("{}‰", grouped(value, 2)),
        "money" => format!("{} {}", grouped(value, 2), currency.unwrap_or("money")),
        "money_per_user" => match currency {
            Some(c) => format!("{} {c}/user", grouped(value, 2)),
            None => format!("{} money_per_user", grouped(value, 2)),
        },
        _ => plain(value),
    }
}

/// A KPI value, or the reason it is undefined (never a made-up 0).
pub fn value_or_reason(v: Option<f64>, reason: &str, unit: &str, currency: Option<&str>) -> String {
    match v {
        Some(v) => value(v, unit, currency),
        None if reason.is_empty() => "undefined".into(),
        None => reason.into(),
    }
}

/// A percentage of progress, one decimal: `45.0%`.
pub fn percent(v: f64) -> String {
    format!("{}%", grouped(v, 1))
}

/// Widest a table column grows before its cells wrap onto more lines: long text (a
/// description, a goal's reason, a run's error) is wrapped whole, never cut.
const WRAP_WIDTH: u16 = 60;

/// `text` with every number in it formatted as the tables format numbers: thousands
/// separators, and at most two decimals (`forecasts 27073.4 by 2026-12-31` →
/// `forecasts 27,073.40 by 2026-12-31`). Dates, times, ids and words with digits in them
/// (`2026-12-31`, `10:30`, `q4-2026`, `ANNA10`) are left as they are.
pub fn numbers_in(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    let mut out = String::with_capacity(text.len() + 8);
    let mut i = 0;
    while i < chars.len() {
        if !chars[i].is_ascii_digit() {
            out.push(chars[i]);
            i += 1;
            continue;
        }
        let start = i;
        while i < chars.len() && chars[i].is_ascii_digit() {
            i += 1;
        }
        let mut end = i;
        if i + 1 < chars.len() && chars[i] == '.' && chars[i + 1].is_ascii_digit() {
            end = i + 1;
            while end < chars.len() && chars[end].is_ascii_digit() {
                end += 1;
            }
        }
        let token: String = chars[start..end].iter().collect();
        let before = start.checked_sub(1).map(|b| chars[b]);
        let before2 = start.checked_sub(2).map(|b| chars[b]);
        let after = chars.get(end).copied();
        let after2 = chars.get(end + 1).copied();
        let wordy = |c: Option<char>| c.is_some_and(|c| c.is_alphanumeric() || c == '_');
        // A part of a date, a time, a version or an id: `-`, `:`, `/` or `.` joining it to
        // more digits or letters.
        let joined = |sep: Option<char>, next: Option<char>| {
            matches!(sep, Some('-' | ':' | '/' | '.')) && wordy(next)
        };
        let part = wordy(before)
            || wordy(after)
            || joined(before, before2)
            || joined(after, after2)
            || matches!(before, Some('/' | '.' | ','))
            || matches!(after, Some(',')) && after2.is_some_and(|c| c.is_ascii_digit());
        match token.parse::<f64>() {
            Ok(v) if !part => {
                let decimals = token.split_once('.').map_or(0, |(_, f)| f.len().min(2));
                // A minus sign before the number is its own: formatted with it, so that a
                // value rounding to zero reads 0, never -0.
                let negative = before == Some('-');
                if negative {
                    out.pop();
                }
                out.push_str(&grouped(if negative { -v } else { v }, decimals));
            }
            _ => out.push_str(&token),
        }
        i = end;
    }
    out
}

/// An aligned text table; columns in `right` are right-aligned (numbers).
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let headers: Vec<String> = headers.iter().map(|h| h.to_uppercase()).collect();
    table_as_is(&headers, rows, right)
}

/// [`table`] with the headers as given, for headers that are names (an influencer's
/// display name in a column of its own) rather than field names.
pub fn table_as_is(headers: &[String], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(headers);
    for row in rows {
        table.add_row(row.clone());
    }
    for &i in right {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
    }
    // Without a table width comfy-table still honours a column's upper bound, wrapping the
    // cells that pass it at spaces.
    for column in table.column_iter_mut() {
        column.set_constraint(ColumnConstraint::UpperBoundary(Width::Fixed(WRAP_WIDTH)));
    }
    // The preset pads every cell with a space on both sides; trim each line's edges so
    // output lines start at the margin and have no trailing blanks.
    let mut out = String::new();
    for line in table.to_string().lines() {
        out.push_str(line.trim_end());
        out.push('\n');
    }
    let indent = out
        .lines()
        .filter(|l| !l.is_empty())
        .map(|l| l.len() - l.trim_start().len())
        .min()
        .unwrap_or(0);
    out.lines()
        .map(|l| format!("{}\n", l.get(indent..).unwrap_or("")))
        .collect()
}

/// CSV text with a header row.
pub fn csv(headers: &[&str], rows: &[Vec<String>]) -> String {
    let mut writer = csv::Writer::from_writer(Vec::new());
    // Writing to memory cannot fail.
    let _ = writer.write_record(headers);
    for row in rows {
        let _ = writer.write_record(row);
    }
    let bytes = writer.into_inner().unwrap_or_default();
    String::from_utf8(bytes).unwrap_or_default()
}

/// Prints rows as a table, CSV or JSON. Tables get `human` cells, the others `raw` ones.
pub(super) fn print_rows(
    format: OutputFormat,
    headers: &[&str],
    human: &[Vec<String>],
    raw: &[Vec<serde_json::Value>],
    right: &[usize],
) {
    match format {
        OutputFormat::Table => print!("{}", table(headers, human, right)),
        OutputFormat::Csv => {
            let rows: Vec<Vec<String>> = raw
                .iter()
                .map(|r| {
                    r.iter()
                        .map(|v| match v {
                            serde_json::Value::Null => String::new(),
                            serde_json::Value::String(s) => s.clone(),
                            other => other.to_string(),
                        })
                        .collect()
                })
                .collect();
            print!("{}", csv(headers, &rows));
        }
        OutputFormat::Json => {
            let objects: Vec<serde_json::Value> = raw
                .iter()
                .map(|r| {
                    serde_json::Value::Object(
                        headers
                            .iter()
                            .map(|h| h.to_string())
                            .zip(r.iter().cloned())
                            .collect(),
                    )
                })
                .collect();
            println!(
                "{}",
                serde_json::to_string_pretty(&objects).unwrap_or_default()
            );
        }
    }
}

/// A raw number for CSV and JSON; negative zero (a refund that cancels a fee exactly) is
/// written as `0.0`, never `-0.0`.
pub(super) fn num(v: Option<f64>) -> serde_json::Value {
    v.map(|v| if v == 0.0 { 0.0 } else { v })
        .and_then(serde_json::Number::from_f64)
        .map(serde_json::Value::Number)
        .unwrap_or(serde_json::Value::Null)
}

pub(super) fn text(s: impl Into<String>) -> serde_json::Value {
    serde_json::Value::String(s.into())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thousands_separators() {
        assert_eq!(grouped(0.0, 0), "0");
        assert_eq!(grouped(999.0, 0), "999");
        assert_eq!(grouped(1000.0, 0), "1,000");
        assert_eq!(grouped(12345.0, 0), "12,345");
        assert_eq!(grouped(1234567.0, 0), "1,234,567");
        assert_eq!(grouped(-1234567.891, 2), "-1,234,567.89");
        assert_eq!(grouped(12345.6, 2), "12,345.60");
        assert_eq!(grouped(-0.001, 2), "0.00");
        assert_eq!(plain(12345.0), "12,345");
        assert_eq!(plain(0.5), "0.50");
    }

    #[test]
    fn units() {
        assert_eq!(value(12345.6, "money", None), "12,345.60 money");
        assert_eq!(value(12345.6, "money", Some("EUR")), "12,345.60 EUR");
        assert_eq!(value(1.5, "money_per_user", Some("EUR")), "1.50 EUR/user");
        assert_eq!(value(12.345, "percent", None), "12.35%");
        assert_eq!(value(4.2, "per_mille", None), "4.20‰");
        assert_eq!(value(1200.0, "count", None), "1,200");
        assert_eq!(value(1.25, "ratio", None), "1.25");
        assert_eq!(
            value_or_reason(None, "zero_denominator", "ratio", None),
            "zero_denominator"
        );
        assert_eq!(value_or_reason(Some(0.0), "", "count", None), "0");
    }

    #[test]
    fn numbers_in_prose_are_formatted_like_the_tables() {
        assert_eq!(
            numbers_in(
                "the trend of the last 14 values forecasts 27073.42 by 2026-12-31, short of at least 28000"
            ),
            "the trend of the last 14 values forecasts 27,073.42 by 2026-12-31, short of at least 28,000"
        );
        assert_eq!(
            numbers_in("progress 45.0% is below the 51.25% expected by 2026-11-30"),
            "progress 45.0% is below the 51.25% expected by 2026-11-30"
        );
        // Three decimals become two; a sign stays; grouped numbers stay as they are.
        assert_eq!(
            numbers_in("score 4033.567, -12345 and 3,000"),
            "score 4,033.57, -12,345 and 3,000"
        );
        // Ids, codes, times and versions keep their digits.
        assert_eq!(
            numbers_in("goals/q4-2026 ANNA10 at 10:30 v1.2.3 jobRuns/12345"),
            "goals/q4-2026 ANNA10 at 10:30 v1.2.3 jobRuns/12345"
        );
        // Rounding never leaves "-0".
        assert_eq!(numbers_in("moved by -0.001"), "moved by 0.00");
        assert_eq!(numbers_in(""), "");
    }

    #[test]
    fn raw_numbers_have_no_negative_zero() {
        assert_eq!(num(Some(-0.0)).to_string(), "0.0");
        assert_eq!(num(Some(-0.5)).to_string(), "-0.5");
        assert_eq!(num(None), serde_json::Value::Null);
        assert_eq!(value(-0.0, "money", Some("EUR")), "0.00 EUR");
        assert_eq!(plain(-0.0), "0");
    }

    #[test]
    fn long_cells_wrap_whole() {
        let long = "word ".repeat(30).trim_end().to_string();
        let t = table(&["id", "text"], &[vec!["a".into(), long.clone()]], &[]);
        assert!(t.lines().count() > 2, "{t}");
        assert!(t.lines().all(|l| l.chars().count() <= 3 + 60), "{t}");
        let words: Vec<&str> = t.lines().skip(1).flat_map(str::split_whitespace).collect();
        assert_eq!(words.join(" "), format!("a {long}"));
    }

    #[test]
    fn tables() {
        let t = table(
            &["id", "value"],
            &[
                vec!["a".into(), "1".into()],
                vec!["long".into(), "12,345".into()],
            ],
            &[1],
        );
        assert_eq!(t, "ID     VALUE\na          1\nlong  12,345\n");
        assert_eq!(
            csv(&["a", "b"], &[vec!["x,y".into(), "".into()]]),
            "a,b\n\"x,y\",\n"
        );
    }
}
