//! What a connector keeps of a platform's answer for [`super::Connector::derive`]: the
//! body without the secret, or the platform's refusal in a small body of its own.
use super::http::{bad, scrub};
use super::{ConnectorError, RawResponse, Secret};
use serde_json::{Value, json};

/// `body` as it may be kept: without the paging links (the Graph API writes the request
/// URL, access token included, into them; derive never follows them) and with every
/// spelling of `secret` replaced.
pub(crate) fn clean(mut body: Value, secret: &Secret) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.remove("paging");
    }
    scrub_json(body, secret)
}

/// `body` with every spelling of `secret` scrubbed (see [`scrub`]) from each of its strings
/// and keys, so that a response kept for [`super::Connector::derive`] holds no secret even
/// where the platform echoes the request.
pub(crate) fn scrub_json(body: Value, secret: &Secret) -> Value {
    let secret = secret.expose();
    fn walk(value: Value, secret: &str) -> Value {
        match value {
            Value::String(text) => Value::String(scrub(&text, secret)),
            Value::Array(items) => {
                Value::Array(items.into_iter().map(|v| walk(v, secret)).collect())
            }
            Value::Object(map) => Value::Object(
                map.into_iter()
                    .map(|(k, v)| (scrub(&k, secret), walk(v, secret)))
                    .collect(),
            ),
            other => other,
        }
    }
    walk(body, secret)
}

/// A successful response kept under `label`, scrubbed of `secret`.
pub(crate) fn keep(label: &str, body: Value, secret: &Secret) -> RawResponse {
    RawResponse {
        label: label.to_string(),
        body: clean(body, secret),
    }
}

/// The kept response labelled `label`, or an error naming it: `derive` was handed the
/// responses of another connector or of a past day, which has none.
pub(crate) fn kept<'a>(
    platform: &'static str,
    raw: &'a [RawResponse],
    label: &str,
) -> Result<&'a Value, ConnectorError> {
    raw.iter()
        .find(|r| r.label == label)
        .map(|r| &r.body)
        .ok_or_else(|| {
            bad(
                platform,
                format!("no `{label}` response among the kept ones"),
            )
        })
}

/// The kept stand-in for an answer the platform refused: the reason, already scrubbed.
pub(crate) fn refusal(reason: &str) -> Value {
    json!({ "refused": reason })
}

/// The reason of a kept refusal; None for a real answer.
pub(crate) fn refused(body: &Value) -> Option<&str> {
    let object = body.as_object()?;
    if object.len() != 1 {
        return None;
    }
    object.get("refused")?.as_str()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connectors_keep_responses_without_the_secret() {
        let secret = Secret::new("k+y/Ab=c==");
        let body = json!({
            "error": {"message": "bad key=k%2By%2FAb%3Dc%3D%3D", "code": 400},
            "echo": [r"k+y\/Ab=c=="],
            "k+y/Ab=c==": true,
            "count": 12,
        });
        let kept = keep("channels", body, &secret);
        assert_eq!(kept.label, "channels");
        assert_eq!(
            kept.body,
            json!({
                "error": {"message": "bad key=***", "code": 400},
                "echo": ["***"],
                "***": true,
                "count": 12,
            })
        );
    }

    #[test]
    fn connectors_keep_answers_without_the_secret_or_paging() {
        let secret = Secret::new("tok/en+1");
        let body = json!({
            "data": [{"name": "reach", "note": "echo tok%2Fen%2B1 and tok/en+1"}],
            "paging": {"next": "https://graph.facebook.com/v24.0/1/insights?access_token=tok%2Fen%2B1"},
        });
        let kept = clean(body, &secret);
        assert_eq!(
            kept,
            json!({"data": [{"name": "reach", "note": "echo *** and ***"}]})
        );
        assert_eq!(
            refused(&refusal("Graph API error 100: no")),
            Some("Graph API error 100: no")
        );
        assert_eq!(refused(&kept), None);
        assert_eq!(refused(&json!({"refused": "x", "data": []})), None);
    }
}
