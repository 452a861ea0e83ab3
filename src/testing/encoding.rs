//! The small encodings the test keys, tokens and dev issuer share: base64url, JSON segments,
//! random ids and Unix times.

use std::time::{SystemTime, UNIX_EPOCH};

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use serde_json::{Map, Value};

/// base64url without padding (RFC 7515 §2).
pub(super) fn b64url(bytes: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(bytes)
}

/// The bytes of unpadded base64url `text`, or `None`.
pub(super) fn b64url_decode(text: &str) -> Option<Vec<u8>> {
    URL_SAFE_NO_PAD.decode(text).ok()
}

/// The JSON object in a base64url segment of a compact JWS, or `None`.
pub(super) fn decode_json(part: &str) -> Option<Map<String, Value>> {
    match serde_json::from_slice(&b64url_decode(part)?).ok()? {
        Value::Object(map) => Some(map),
        _ => None,
    }
}

/// `bytes` random bytes, base64url.
///
/// # Panics
///
/// If the system's random generator fails; tests cannot run without one.
pub(super) fn random_id(bytes: usize) -> String {
    let mut buf = vec![0; bytes];
    aws_lc_rs::rand::fill(&mut buf).expect("system random generator unavailable");
    b64url(&buf)
}

/// Seconds since the Unix epoch (0 before it).
pub(super) fn unix(at: SystemTime) -> u64 {
    at.duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[test]
    fn base64url_round_trips_without_padding() {
        let encoded = b64url(&[0xfb, 0xff, 0x00]);
        assert_eq!(encoded, "-_8A");
        assert_eq!(b64url_decode(&encoded), Some(vec![0xfb, 0xff, 0x00]));
        assert_eq!(b64url_decode("-_8A="), None, "padding is refused");
        assert_eq!(b64url_decode("+/8A"), None, "standard alphabet is refused");
    }

    #[test]
    fn json_segments_must_be_objects() {
        assert_eq!(
            decode_json(&b64url(br#"{"a":1}"#)).map(|m| m["a"].clone()),
            Some(1.into())
        );
        for bad in [&b"[1]"[..], b"null", b"{", b""] {
            assert_eq!(decode_json(&b64url(bad)), None, "{bad:?}");
        }
        assert_eq!(decode_json("!!"), None);
    }

    #[test]
    fn random_ids_are_fresh_and_unix_times_clamp() {
        assert_eq!(random_id(16).len(), 22);
        assert_ne!(random_id(16), random_id(16));
        assert_eq!(unix(UNIX_EPOCH + Duration::from_secs(42)), 42);
        assert_eq!(unix(UNIX_EPOCH - Duration::from_secs(1)), 0);
    }
}
