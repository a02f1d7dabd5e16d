//! Column values: money in major units, dates, times and resource names as a file
//! holds them, converted to their protobuf form.
use crate::proto;

/// Minor units of a decimal amount in major units, such as `12.34` EUR → 1234.
pub fn minor_units(amount: &str, currency: &str) -> Result<i64, String> {
    let exponent = iso_currency::Currency::from_code(&currency.trim().to_ascii_uppercase())
        .ok_or_else(|| format!("`{currency}` is not an ISO 4217 currency code"))?
        .exponent()
        .unwrap_or(0) as usize;
    let amount = amount.trim();
    let (negative, digits) = match amount.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, amount),
    };
    let (whole, fraction) = digits.split_once('.').unwrap_or((digits, ""));
    let valid = !whole.is_empty()
        && whole.chars().all(|c| c.is_ascii_digit())
        && fraction.chars().all(|c| c.is_ascii_digit());
    if !valid {
        return Err(format!("`{amount}` is not a decimal amount such as 12.34"));
    }
    if fraction.len() > exponent {
        return Err(format!(
            "`{amount}` has more decimals than {currency} has ({exponent})"
        ));
    }
    let padded = format!("{whole}{fraction:0<exponent$}");
    let value: i64 = padded
        .parse()
        .map_err(|_| format!("`{amount}` is too large"))?;
    Ok(if negative { -value } else { value })
}

/// A `YYYY-MM-DD` date of `column`; empty is none.
pub(super) fn date(
    column: &str,
    value: &str,
) -> Result<Option<proto::google::r#type::Date>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let d = chrono::NaiveDate::parse_from_str(value.trim(), "%Y-%m-%d")
        .map_err(|_| format!("{column}: `{value}` is not a date YYYY-MM-DD"))?;
    Ok(Some(crate::client::connection::date(d)))
}

/// An RFC 3339 time of `column`; empty is none.
pub(super) fn time(column: &str, value: &str) -> Result<Option<prost_types::Timestamp>, String> {
    if value.trim().is_empty() {
        return Ok(None);
    }
    let t = chrono::DateTime::parse_from_rfc3339(value.trim()).map_err(|_| {
        format!("{column}: `{value}` is not an RFC 3339 time such as 2026-03-01T12:00:00+01:00")
    })?;
    Ok(Some(prost_types::Timestamp {
        seconds: t.timestamp(),
        nanos: t.timestamp_subsec_nanos() as i32,
    }))
}

/// A resource name, in full or as the bare id of `collection`.
pub(super) fn name(collection: &str, value: &str) -> String {
    let value = value.trim();
    if value.is_empty() || value.contains('/') || value == "tenant" {
        value.to_string()
    } else {
        format!("{collection}/{value}")
    }
}
