//! What a connector keeps of a platform's answer for [`super::Connector::derive`]: the
//! body without the secret, or the platform's refusal in a small body of its own.
use super::Secret;
use super::http::scrub;
use serde_json::{Value, json};

/// `body` as it may be kept: without the paging links (the Graph API writes the request
/// URL, access token included, into them; derive never follows them) and with every
/// spelling of `secret` replaced.
pub(crate) fn keep(mut body: Value, secret: &Secret) -> Value {
    if let Some(object) = body.as_object_mut() {
        object.remove("paging");
    }
    let text = body.to_string();
    let clean = scrub(&text, secret.expose());
    if clean == text {
        return body;
    }
    // The secret sat inside a JSON string and `***` took its place, so this parses; should
    // it not, the scrubbed text is kept as text rather than the secret as JSON.
    serde_json::from_str(&clean).unwrap_or(Value::String(clean))
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
    fn connectors_keep_answers_without_the_secret_or_paging() {
        let secret = Secret::new("tok/en+1");
        let body = json!({
            "data": [{"name": "reach", "note": "echo tok%2Fen%2B1 and tok/en+1"}],
            "paging": {"next": "https://graph.facebook.com/v24.0/1/insights?access_token=tok%2Fen%2B1"},
        });
        let kept = keep(body, &secret);
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
