//! Numbers and tables for people: thousands separators, units, aligned columns, and the
//! CSV and JSON forms that scripts read instead.
use comfy_table::{CellAlignment, Table};

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

/// At most `max` characters of `text`, with `…` when cut.
pub fn truncate(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        text.to_string()
    } else {
        let mut cut: String = text.chars().take(max.saturating_sub(1)).collect();
        cut.push('…');
        cut
    }
}

/// An aligned text table; columns in `right` are right-aligned (numbers).
pub fn table(headers: &[&str], rows: &[Vec<String>], right: &[usize]) -> String {
    let mut table = Table::new();
    table.load_preset(comfy_table::presets::NOTHING);
    table.set_header(headers.iter().map(|h| h.to_uppercase()));
    for row in rows {
        table.add_row(row.clone());
    }
    for &i in right {
        if let Some(column) = table.column_mut(i) {
            column.set_cell_alignment(CellAlignment::Right);
        }
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

pub(super) fn num(v: Option<f64>) -> serde_json::Value {
    v.and_then(serde_json::Number::from_f64)
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
    fn truncation_and_tables() {
        assert_eq!(truncate("abcdef", 4), "abc…");
        assert_eq!(truncate("abc", 4), "abc");
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
