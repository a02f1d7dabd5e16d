//! Conversions and checks shared by every service: dates, times, pages, masks, etags.
use super::error::{ApiError, Problems};
use crate::proto::google::r#type::Date;
use crate::storage::{Page, PageRequest};
use base64::Engine;
use chrono::{DateTime, Datelike, NaiveDate, Utc};
use sha2::{Digest, Sha256};

/// Default page size (AIP-158).
pub const DEFAULT_PAGE_SIZE: i32 = 50;
/// Largest page size; larger requests are lowered to it.
pub const MAX_PAGE_SIZE: i32 = 1000;

/// A protobuf Timestamp of a time.
pub fn timestamp(time: DateTime<Utc>) -> Option<prost_types::Timestamp> {
    Some(prost_types::Timestamp {
        seconds: time.timestamp(),
        nanos: time.timestamp_subsec_nanos() as i32,
    })
}

/// The protobuf Date of a date.
pub fn date(date: NaiveDate) -> Option<Date> {
    Some(Date {
        year: date.year(),
        month: date.month() as i32,
        day: date.day() as i32,
    })
}

/// A required protobuf Date as a calendar date, or a violation of `field`.
pub fn parse_date(value: Option<&Date>, field: &str) -> Result<NaiveDate, ApiError> {
    let Some(d) = value else {
        return Err(ApiError::invalid(field, "is required"));
    };
    if !(1..=9999).contains(&d.year) {
        return Err(ApiError::invalid(
            field,
            format!("year {} is out of range 1 to 9999", d.year),
        ));
    }
    u32::try_from(d.month)
        .ok()
        .zip(u32::try_from(d.day).ok())
        .and_then(|(m, day)| NaiveDate::from_ymd_opt(d.year, m, day))
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                format!(
                    "{:04}-{:02}-{:02} is not a calendar date",
                    d.year, d.month, d.day
                ),
            )
        })
}

/// Checks an optional AIP-155 request_id.
pub fn request_id(value: &str) -> Result<Option<&str>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    if value.len() > 64 || !value.chars().all(|c| c.is_ascii_graphic()) {
        return Err(ApiError::invalid(
            "request_id",
            "must be 1 to 64 printable ASCII characters without spaces, such as a UUID",
        ));
    }
    Ok(Some(value))
}

/// Checks an optional etag and returns the revision it names.
pub fn etag(value: &str, field: &str) -> Result<Option<i64>, ApiError> {
    if value.is_empty() {
        return Ok(None);
    }
    value
        .strip_prefix('"')
        .and_then(|v| v.strip_suffix('"'))
        .and_then(|v| v.parse::<i64>().ok())
        .map(Some)
        .ok_or_else(|| {
            ApiError::invalid(
                field,
                "is not an etag this service issued; send back the etag of a read",
            )
        })
}

/// Pagination of a List call: validates page_size and page_token.
///
/// The token carries the last id returned and a digest of the other request parameters,
/// so a token cannot be replayed against a different query.
pub struct Pager {
    fingerprint: String,
    request: PageRequest,
}

impl Pager {
    /// Reads `page_size` and `page_token`; `params` are the other request parameters.
    pub fn new(page_size: i32, page_token: &str, params: &[&str]) -> Result<Pager, ApiError> {
        if page_size < 0 {
            return Err(ApiError::invalid(
                "page_size",
                format!("is {page_size}; it must not be negative"),
            ));
        }
        let limit = match page_size {
            0 => DEFAULT_PAGE_SIZE,
            n => n.min(MAX_PAGE_SIZE),
        } as u64;
        let digest = Sha256::digest(params.join("\u{0}").as_bytes());
        let fingerprint: String = digest.iter().take(6).map(|b| format!("{b:02x}")).collect();
        let after = if page_token.is_empty() {
            None
        } else {
            let invalid = || {
                ApiError::invalid(
                    "page_token",
                    "is not a token from a previous response of this same request",
                )
            };
            let raw = base64::engine::general_purpose::URL_SAFE_NO_PAD
                .decode(page_token)
                .map_err(|_| invalid())?;
            let text = String::from_utf8(raw).map_err(|_| invalid())?;
            let (fp, after) = text.split_once(':').ok_or_else(invalid)?;
            if fp != fingerprint || after.is_empty() {
                return Err(invalid());
            }
            Some(after.to_string())
        };
        Ok(Pager {
            fingerprint,
            request: PageRequest { after, limit },
        })
    }

    /// The storage request.
    pub fn request(&self) -> &PageRequest {
        &self.request
    }

    /// The next_page_token after a page whose last item has id `last`.
    pub fn next_token<T>(&self, page: &Page<T>, last: Option<&str>) -> String {
        match (page.more, last) {
            (true, Some(last)) => base64::engine::general_purpose::URL_SAFE_NO_PAD
                .encode(format!("{}:{last}", self.fingerprint)),
            _ => String::new(),
        }
    }
}

/// The fields an Update call changes.
pub enum Mask {
    /// Every updatable field (`*`).
    All,
    /// The named fields.
    Fields(Vec<String>),
}

impl Mask {
    /// Reads an update mask against the updatable fields; `prefix` names the mask field.
    /// An empty mask means "the fields the message sets": `set_fields` lists them.
    pub fn read(
        mask: Option<&prost_types::FieldMask>,
        updatable: &[&str],
        set_fields: impl FnOnce() -> Vec<&'static str>,
    ) -> Result<Mask, ApiError> {
        let paths = mask.map(|m| m.paths.as_slice()).unwrap_or_default();
        if paths.is_empty() {
            return Ok(Mask::Fields(
                set_fields().into_iter().map(String::from).collect(),
            ));
        }
        if paths.len() == 1 && paths[0] == "*" {
            return Ok(Mask::All);
        }
        // Counted before any path is read: naming each updatable field once is the most a
        // mask needs, and a list of thousands would cost one search and violation each.
        if paths.len() > updatable.len() {
            return Err(ApiError::invalid(
                "update_mask.paths",
                format!(
                    "has {} paths; at most {} (each updatable field once) are allowed",
                    paths.len(),
                    updatable.len()
                ),
            ));
        }
        let mut violations = Vec::new();
        for (i, path) in paths.iter().enumerate() {
            if !updatable.contains(&path.as_str()) {
                violations.push(crate::domain::Violation::new(
                    format!("update_mask.paths[{i}]"),
                    format!(
                        "`{}` is not an updatable field; use one of {} or *",
                        crate::domain::names::shorten(path),
                        updatable.join(", ")
                    ),
                ));
            }
        }
        if violations.is_empty() {
            Ok(Mask::Fields(paths.to_vec()))
        } else {
            Err(ApiError::Invalid(violations))
        }
    }

    /// Whether the field is to be updated.
    pub fn has(&self, field: &str) -> bool {
        match self {
            Mask::All => true,
            Mask::Fields(fields) => fields.iter().any(|f| f == field),
        }
    }
}

/// The resource id for a Create: the given one, validated, or a new one.
pub fn new_id(
    given: &str,
    field: &str,
    collection: crate::domain::names::Collection,
) -> Result<String, ApiError> {
    if given.is_empty() {
        Ok(crate::domain::names::generate_id(collection))
    } else {
        crate::domain::names::check_id(given)
            .map(|()| given.to_string())
            .map_err(|e| ApiError::invalid(field, e))
    }
}

/// Checks the name, etag and field mask of an Update of `resource` (the request field
/// holding it) together, recording every problem in `problems`. None when any is bad: the
/// resource's own rules need the stored one, and without a name there is none.
pub fn update_target<'a>(
    problems: &mut Problems,
    resource: &str,
    collection: crate::domain::names::Collection,
    (name, etag_text): (&'a str, &str),
    mask: Option<&prost_types::FieldMask>,
    updatable: &[&str],
    set_fields: impl FnOnce() -> Vec<&'static str>,
) -> Option<(&'a str, Option<i64>, Mask)> {
    let id = problems.take(parse_name(name, &format!("{resource}.name"), collection));
    let etag = problems.take(etag(etag_text, &format!("{resource}.etag")));
    let mask = problems.take(Mask::read(mask, updatable, set_fields));
    Some((id?, etag?, mask?))
}

/// The id in a resource name, or a violation of `field`.
pub fn parse_name<'a>(
    name: &'a str,
    field: &str,
    collection: crate::domain::names::Collection,
) -> Result<&'a str, ApiError> {
    collection
        .parse(name)
        .map_err(|e| ApiError::invalid(field, e))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn page_tokens_are_bound_to_their_query() {
        let pager = Pager::new(2, "", &["owner=a"]).unwrap();
        let page = Page {
            items: vec![1, 2],
            more: true,
        };
        let token = pager.next_token(&page, Some("b"));
        let next = Pager::new(2, &token, &["owner=a"]).unwrap();
        assert_eq!(next.request().after.as_deref(), Some("b"));
        assert!(Pager::new(2, &token, &["owner=b"]).is_err());
        assert!(Pager::new(2, "garbage!", &[]).is_err());
    }

    #[test]
    fn page_size_defaults_and_caps() {
        assert_eq!(Pager::new(0, "", &[]).unwrap().request().limit, 50);
        assert_eq!(Pager::new(5000, "", &[]).unwrap().request().limit, 1000);
        assert!(Pager::new(-1, "", &[]).is_err());
    }

    #[test]
    fn dates_are_checked() {
        let d = Date {
            year: 2026,
            month: 2,
            day: 29,
        };
        assert!(parse_date(Some(&d), "start_date").is_err());
        let d = Date {
            year: 2028,
            month: 2,
            day: 29,
        };
        assert_eq!(
            parse_date(Some(&d), "start_date").unwrap(),
            NaiveDate::from_ymd_opt(2028, 2, 29).unwrap()
        );
        assert!(parse_date(None, "start_date").is_err());
    }

    #[test]
    fn etags_round_trip() {
        assert_eq!(etag(&crate::domain::etag_of(7), "etag").unwrap(), Some(7));
        assert_eq!(etag("", "etag").unwrap(), None);
        assert!(etag("7", "etag").is_err());
    }
}
