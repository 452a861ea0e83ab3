//! The compact JWS: parsing a token into header, claims and signature, strictly (canonical
//! base64url, JSON objects without duplicate members), and the RFC 9068 `typ` rule.

use base64::Engine as _;

use crate::verifier::{
    VerifyError,
    json::{Json, Object, Refusal},
};

/// The three parts of a compact JWS: header and claims decoded but not yet parsed, the
/// signature checked for form.
///
/// The header and the claims are parsed strictly ([`Object::parse_str`]) by
/// [`header`](Self::header) and [`claims`](Self::claims). The JWT verifier parses both before
/// the signature is checked, and until it holds reads only what picks the key (`iss`, `iat`)
/// from the claims; it checks them against the claim rules once it holds, or when no key can
/// decide now (the `503` path), so that a token its own claims refute is still a `401`. A DPoP
/// proof's claims are parsed after its signature is checked.
pub(crate) struct ParsedToken<'a> {
    /// The decoded header (unless it was [known](Self::parse_with_known_header)), then the
    /// decoded claims (JSON, not yet parsed), in one text: one allocation for both. Each part
    /// is UTF-8 on its own, or the token is malformed.
    decoded: String,
    /// Where the header ends and the claims start in `decoded` (a character boundary).
    header_len: usize,
    /// Whether the header was left out of `decoded`, known to the caller.
    header_known: bool,
    /// The header as the token has it (base64url).
    pub(crate) encoded_header: &'a str,
    pub(crate) signing_input: &'a str,
    pub(crate) signature: &'a str,
}

impl<'a> ParsedToken<'a> {
    pub(crate) fn parse(token: &'a str) -> Result<Self, VerifyError> {
        Self::parse_parts(token, false)
    }

    /// [`parse`](Self::parse) for a token whose header the caller has read before, from
    /// exactly the same text ([`encoded_header`](Self::encoded_header)): the header is not
    /// decoded again, and [`header`](Self::header) refuses it as malformed.
    pub(crate) fn parse_with_known_header(token: &'a str) -> Result<Self, VerifyError> {
        Self::parse_parts(token, true)
    }

    fn parse_parts(token: &'a str, header_known: bool) -> Result<Self, VerifyError> {
        let malformed = || VerifyError::invalid_token("token is malformed");
        // Split at the first two dots: a third one is in `signature`, whose form is checked
        // below (no dot is in the alphabet), so it is not searched for here.
        let mut parts = token.splitn(3, '.');
        let (Some(header_b64), Some(claims_b64), Some(signature)) =
            (parts.next(), parts.next(), parts.next())
        else {
            return Err(malformed());
        };
        let signing_input = &token[..header_b64.len() + 1 + claims_b64.len()];
        // One allocation for both parts: room for what each can decode to.
        let header_room = if header_known {
            0
        } else {
            decoded_room(header_b64)
        };
        let mut decoded = Vec::with_capacity(header_room + decoded_room(claims_b64));
        let header_len = if header_known {
            0
        } else {
            b64_decode_into(header_b64, &mut decoded).ok_or_else(malformed)?
        };
        b64_decode_into(claims_b64, &mut decoded).ok_or_else(malformed)?;
        // Both parts UTF-8, each on its own: the whole, and the boundary between them.
        let decoded = String::from_utf8(decoded)
            .ok()
            .filter(|decoded| decoded.is_char_boundary(header_len))
            .ok_or_else(malformed)?;
        // The signature is decoded again by the crypto backend; check its form here so that
        // only canonical encodings are accepted.
        if signature.is_empty() || !is_canonical_b64(signature) {
            return Err(malformed());
        }
        Ok(Self {
            decoded,
            header_len,
            header_known,
            encoded_header: header_b64,
            signing_input,
            signature,
        })
    }

    /// The header, parsed strictly.
    pub(crate) fn header(&self) -> Result<Object<'_>, VerifyError> {
        debug_assert!(
            !self.header_known,
            "a header known to the caller was not decoded"
        );
        // `parse` checked the boundary; `get` says so without a panic (an empty header is
        // malformed).
        let header = self.decoded.get(..self.header_len).unwrap_or_default();
        Object::parse_str(header).map_err(refused)
    }

    /// The decoded claims: JSON, not yet parsed.
    pub(crate) fn payload(&self) -> &str {
        self.decoded.get(self.header_len..).unwrap_or_default()
    }

    /// The claims, parsed strictly.
    pub(crate) fn claims(&self) -> Result<Object<'_>, VerifyError> {
        Object::parse_str(self.payload()).map_err(refused)
    }
}

/// The refusal of a header or claims that [`Object::parse_str`] refused.
fn refused(refusal: Refusal) -> VerifyError {
    match refusal {
        Refusal::Duplicate => VerifyError::invalid_token("token has a duplicate member"),
        Refusal::Malformed => VerifyError::invalid_token("token is malformed"),
    }
}

/// Canonical, unpadded base64url (RFC 7515 §2): no padding, no whitespace, no stray bits.
/// Appends the decoded bytes to `out` and returns how many there are.
fn b64_decode_into(part: &str, out: &mut Vec<u8>) -> Option<usize> {
    let start = out.len();
    base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode_vec(part, out)
        .ok()?;
    Some(out.len() - start)
}

/// The room decoding `part` takes in a buffer: at least what it decodes to (a whole number of
/// 3-byte groups), as the decoder asks for it.
fn decoded_room(part: &str) -> usize {
    part.len().div_ceil(4) * 3
}

/// Whether `part` is canonical, unpadded base64url, without decoding it (the crypto backend
/// decodes the signature once, when it checks it): every character in the alphabet, a length
/// that is not 1 modulo 4, and the unused low bits of the last character zero.
fn is_canonical_b64(part: &str) -> bool {
    let bytes = part.as_bytes();
    let Some(&last) = bytes.last() else {
        return true;
    };
    // Comparisons folded without an early exit, so the compiler checks many bytes at a time.
    let alphabet = bytes
        .iter()
        .fold(true, |ok, &b| ok & b64url_value(b).is_some());
    let unused_bits = match bytes.len() % 4 {
        0 => 0,
        2 => 0b1111,
        3 => 0b11,
        _ => return false,
    };
    alphabet && b64url_value(last).is_some_and(|value| value & unused_bits == 0)
}

/// The 6-bit value of a base64url character.
fn b64url_value(b: u8) -> Option<u8> {
    match b {
        b'A'..=b'Z' => Some(b - b'A'),
        b'a'..=b'z' => Some(b - b'a' + 26),
        b'0'..=b'9' => Some(b - b'0' + 52),
        b'-' => Some(62),
        b'_' => Some(63),
        _ => None,
    }
}

/// RFC 9068 §2.1 / RFC 8725 §3.11: `at+jwt` always; `JWT` or no `typ` unless strict. Media
/// types compare case-insensitively, and the `application/` prefix may be left out.
pub(crate) fn check_typ(typ: Option<&Json<'_>>, strict: bool) -> Result<(), VerifyError> {
    let rejected = || VerifyError::invalid_token("token type is not accepted");
    let typ = match typ {
        None if strict => return Err(rejected()),
        None => return Ok(()),
        Some(Json::String(typ)) => &**typ,
        Some(_) => return Err(rejected()),
    };
    let bare = match typ.get(..12) {
        Some(prefix) if prefix.eq_ignore_ascii_case("application/") => &typ[12..],
        _ => typ,
    };
    if bare.eq_ignore_ascii_case("at+jwt") || (!strict && bare.eq_ignore_ascii_case("jwt")) {
        Ok(())
    } else {
        Err(rejected())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::Value;

    use super::*;

    #[test]
    fn typ_rules_follow_rfc_9068() {
        let v = |s: &'static str| Some(Json::String(s.into()));
        let cases = [
            (None, false, true),
            (None, true, false),
            (v("at+jwt"), true, true),
            (v("AT+JWT"), true, true),
            (v("application/at+jwt"), true, true),
            (v("Application/At+Jwt"), true, true),
            (v("JWT"), false, true),
            (v("application/jwt"), false, true),
            (v("JWT"), true, false),
            (v("dpop+jwt"), false, false),
            (v("JOSE"), false, false),
            (v("application/"), false, false),
            (Some(Json::Bool(true)), false, false),
            (Some(Json::Null), false, false),
        ];
        for (typ, strict, ok) in cases {
            assert_eq!(
                check_typ(typ.as_ref(), strict).is_ok(),
                ok,
                "{typ:?} strict={strict}"
            );
        }
    }

    fn b64(text: &str) -> String {
        base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(text)
    }

    #[test]
    fn header_and_claims_are_parsed_strictly_with_the_reason_said() {
        let parse = |header: &str, claims: &str| {
            let token = format!("{}.{}.c2ln", b64(header), b64(claims));
            let parsed = ParsedToken::parse(&token).expect("parts");
            let describe = |r: Result<Object<'_>, VerifyError>| {
                r.map(|o| o.into_map())
                    .map_err(|e| e.description().to_owned())
            };
            (describe(parsed.header()), describe(parsed.claims()))
        };
        let (header, claims) = parse(r#"{"alg":"RS256","kid":"k\u0031"}"#, r#"{"a":[1,2.5]}"#);
        let header = header.expect("parses");
        assert_eq!(header["kid"], "k1", "escapes are read");
        assert_eq!(claims.expect("parses")["a"][1], Value::from(2.5));
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        for (json, reason) in [
            (
                r#"{"alg":"RS256","al\u0067":"none"}"#,
                "token has a duplicate member",
            ),
            (
                r#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
                "token has a duplicate member",
            ),
            (r#"["alg"]"#, "token is malformed"),
            (r#"{"alg":"RS256"} {}"#, "token is malformed"),
            ("", "token is malformed"),
            (deep.as_str(), "token is malformed"),
        ] {
            let (header, claims) = parse(json, json);
            assert_eq!(header.unwrap_err(), reason, "{json:.40}");
            assert_eq!(claims.unwrap_err(), reason, "{json:.40}");
        }
    }

    fn b64_decode(part: &str) -> Option<Vec<u8>> {
        let mut out = b"before".to_vec();
        let len = b64_decode_into(part, &mut out)?;
        assert_eq!(out.len(), 6 + len, "appended");
        assert_eq!(&out[..6], b"before", "appended after what was there");
        Some(out.split_off(6))
    }

    #[test]
    fn the_canonical_form_check_agrees_with_decoding() {
        // Every string of up to 3 characters over a few of each kind, and longer ones around
        // the last character: canonical exactly when the strict decoder accepts it.
        let chars = [
            "A", "Q", "B", "g", "w", "_", "-", "9", "=", "+", "/", " ", "é",
        ];
        let mut cases = vec![String::new()];
        for len in 1..=3 {
            let shorter: Vec<String> = cases
                .iter()
                .filter(|c| c.chars().count() == len - 1)
                .cloned()
                .collect();
            for prefix in shorter {
                for c in chars {
                    cases.push(format!("{prefix}{c}"));
                }
            }
        }
        for prefix in ["", "AAAA", "AAAAAAAAA"] {
            for c in chars {
                cases.push(format!("{prefix}A{c}"));
                cases.push(format!("{prefix}AA{c}"));
            }
        }
        for case in cases {
            assert_eq!(
                is_canonical_b64(&case),
                b64_decode(&case).is_some(),
                "{case:?}"
            );
        }
    }

    #[test]
    fn a_compact_jws_has_three_parts_exactly() {
        let (header, claims) = (b64(r#"{"alg":"RS256"}"#), b64("{}"));
        let reason = |token: &str| {
            ParsedToken::parse(token)
                .err()
                .map(|e| e.description().to_owned())
        };
        // The control: three parts.
        assert_eq!(reason(&format!("{header}.{claims}.c2ln")), None);
        for token in [
            format!("{header}.{claims}.c2ln.c2ln"),
            format!("{header}.{claims}.c2ln."),
            format!("{header}.{claims}..c2ln"),
            format!("{header}.{claims}.c2ln.c2ln.c2ln"),
            format!("{header}.{claims}"),
            format!("{header}.{claims}."),
            header,
        ] {
            assert_eq!(
                reason(&token).as_deref(),
                Some("token is malformed"),
                "{token}"
            );
        }
    }

    #[test]
    fn header_and_claims_must_each_be_utf8() {
        let token = |header: &[u8], claims: &[u8]| {
            let b64 = |bytes: &[u8]| base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(bytes);
            format!("{}.{}.c2ln", b64(header), b64(claims))
        };
        let reason = |token: &str| {
            ParsedToken::parse(token)
                .err()
                .map(|e| e.description().to_owned())
        };
        // A character split between the two parts: the whole is UTF-8, neither part is.
        let split = token(b"{\"a\":\"\xc3", b"\xa9\"}");
        assert_eq!(reason(&split).as_deref(), Some("token is malformed"));
        for (header, claims) in [
            (&b"{\"a\":\"\xc3\"}"[..], &b"{}"[..]),
            (b"{}", b"{\"a\":\"\xff\"}"),
        ] {
            assert_eq!(
                reason(&token(header, claims)).as_deref(),
                Some("token is malformed")
            );
        }
        // The control: the character whole, on either side.
        for (header, claims) in [
            (&b"{\"a\":\"\xc3\xa9\"}"[..], &b"{}"[..]),
            (b"{}", b"{\"a\":\"\xc3\xa9\"}"),
        ] {
            let token = token(header, claims);
            let parsed = ParsedToken::parse(&token).expect("UTF-8 parts");
            assert!(parsed.header().is_ok() && parsed.claims().is_ok());
        }
        let token = token(b"{\"alg\":\"RS256\"}", b"{\"sub\":\"\xc3\xa9\"}");
        let parsed = ParsedToken::parse(&token).expect("parts");
        assert_eq!(
            parsed
                .header()
                .expect("header")
                .get("alg")
                .and_then(Json::as_str),
            Some("RS256")
        );
        assert_eq!(parsed.payload(), "{\"sub\":\"\u{e9}\"}");
    }

    #[test]
    fn base64url_must_be_canonical() {
        assert_eq!(b64_decode("YQ"), Some(b"a".to_vec()));
        assert_eq!(b64_decode("YR"), None, "non-zero trailing bits");
        assert_eq!(b64_decode("YQ=="), None, "padding");
        assert_eq!(b64_decode("Y Q"), None, "whitespace");
        assert_eq!(b64_decode("Y+Q/"), None, "standard alphabet");
    }
}
