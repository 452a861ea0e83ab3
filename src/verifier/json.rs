//! Strict JSON for what a verifier reads: a JWS header, a token's claims, an introspection
//! answer.
//!
//! [`Object::parse`] refuses a duplicate member name at every level (`serde_json` keeps the
//! last one silently, which lets a token show one `scope` to one parser and another to the
//! next), anything but an object at the top, and trailing data. It borrows every string
//! that has no escape from the input, and keeps an object's members sorted by name, so that
//! reading a claim is a binary search and a token's claims cost one allocation per object or
//! array rather than one per member. [`Object::into_map`] gives the `serde_json` map that
//! would have been parsed directly.

use std::{borrow::Cow, cmp::Ordering};

use serde_json::{Map, Number, Value};

/// A JSON value whose strings borrow from the input where they can.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json<'a> {
    Null,
    Bool(bool),
    Number(Number),
    String(Cow<'a, str>),
    Array(Vec<Self>),
    Object(Object<'a>),
}

/// A JSON object: its members sorted by name ([`by_name`]), no name twice.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct Object<'a>(Vec<(Cow<'a, str>, Json<'a>)>);

/// The order of an object's members: by length, then by bytes. Any total order serves the
/// binary search; this one settles most comparisons of claim names by their lengths, and
/// compares short names (most claim names are three letters) in line rather than through
/// `memcmp`, whose call costs more than the comparison.
fn by_name(a: &str, b: &str) -> Ordering {
    a.len().cmp(&b.len()).then_with(|| {
        if a.len() <= 16 {
            let differ = a.bytes().zip(b.bytes()).find(|(x, y)| x != y);
            differ.map_or(Ordering::Equal, |(x, y)| x.cmp(&y))
        } else {
            a.cmp(b)
        }
    })
}

/// Why [`Object::parse`] refused its input.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refusal {
    /// An object names a member twice (after unescaping).
    Duplicate,
    /// Not JSON, not an object, or trailing data.
    Malformed,
}

/// The nesting level, counting the outermost object, at which input is refused: 128, the
/// recursion limit of `serde_json`, so that both read the same documents.
const DEPTH_LIMIT: u8 = 128;

impl<'a> Object<'a> {
    /// Parses `json`, which must be one object (see the [module docs](self)). (The JWT
    /// verifier holds text already checked for UTF-8, and calls [`parse_str`](Self::parse_str);
    /// introspection reads an answer's bytes with this.)
    #[cfg_attr(
        not(any(test, feature = "fuzzing", feature = "introspection")),
        allow(dead_code)
    )]
    pub(crate) fn parse(json: &'a [u8]) -> Result<Self, Refusal> {
        // Valid UTF-8 throughout: `serde_json` refuses invalid UTF-8 in a string, and outside
        // one it breaks the grammar; checked once here, every slice below is a `str`.
        let text = std::str::from_utf8(json).map_err(|_| Refusal::Malformed)?;
        Self::parse_str(text)
    }

    /// [`parse`](Self::parse), for a text known to be UTF-8.
    pub(crate) fn parse_str(text: &'a str) -> Result<Self, Refusal> {
        let mut parser = Parser {
            text,
            at: 0,
            depth: DEPTH_LIMIT,
        };
        parser.skip_whitespace();
        if parser.peek() != Some(b'{') {
            return Err(Refusal::Malformed);
        }
        let object = parser.object()?;
        parser.skip_whitespace();
        if parser.at != text.len() {
            return Err(Refusal::Malformed);
        }
        Ok(object)
    }

    /// A view of a `serde_json` map (an introspection answer), borrowing its strings.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn from_map(map: &'a Map<String, Value>) -> Self {
        // A map's keys are unique already.
        let mut members: Vec<_> = map
            .iter()
            .map(|(name, value)| (Cow::Borrowed(name.as_str()), Json::from_value(value)))
            .collect();
        members.sort_unstable_by(|(a, _), (b, _)| by_name(a, b));
        Self(members)
    }

    /// The member `name`.
    pub(crate) fn get(&self, name: &str) -> Option<&Json<'a>> {
        let at = self.0.binary_search_by(|(n, _)| by_name(n, name)).ok()?;
        Some(&self.0[at].1)
    }

    /// Whether there is a member `name`.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn contains(&self, name: &str) -> bool {
        self.get(name).is_some()
    }

    /// The members, in [`by_name`] order.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (&str, &Json<'a>)> {
        self.0.iter().map(|(name, value)| (&**name, value))
    }

    /// The members as a `serde_json` map, keeping those `keep` says yes to.
    pub(crate) fn into_map_filtered(self, keep: impl Fn(&str) -> bool) -> Map<String, Value> {
        self.0
            .into_iter()
            .filter(|(name, _)| keep(name))
            .map(|(name, value)| (name.into_owned(), value.into_value()))
            .collect()
    }

    /// The object as a `serde_json` map.
    pub(crate) fn into_map(self) -> Map<String, Value> {
        self.into_map_filtered(|_| true)
    }
}

impl<'a> Json<'a> {
    /// A view of a `serde_json` value, borrowing its strings.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn from_value(value: &'a Value) -> Self {
        match value {
            Value::Null => Self::Null,
            Value::Bool(b) => Self::Bool(*b),
            Value::Number(n) => Self::Number(n.clone()),
            Value::String(s) => Self::String(Cow::Borrowed(s)),
            Value::Array(items) => Self::Array(items.iter().map(Self::from_value).collect()),
            Value::Object(map) => Self::Object(Object::from_map(map)),
        }
    }

    /// The `serde_json` value.
    pub(crate) fn into_value(self) -> Value {
        match self {
            Self::Null => Value::Null,
            Self::Bool(b) => Value::Bool(b),
            Self::Number(n) => Value::Number(n),
            Self::String(s) => Value::String(s.into_owned()),
            Self::Array(items) => Value::Array(items.into_iter().map(Self::into_value).collect()),
            Self::Object(object) => Value::Object(object.into_map()),
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match self {
            Self::String(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn as_f64(&self) -> Option<f64> {
        match self {
            Self::Number(n) => n.as_f64(),
            _ => None,
        }
    }

    pub(crate) fn is_null(&self) -> bool {
        matches!(self, Self::Null)
    }

    pub(crate) fn is_string(&self) -> bool {
        matches!(self, Self::String(_))
    }

    /// Whether this is the same JSON value as `value` (numbers compare as `serde_json`
    /// compares them).
    pub(crate) fn eq_value(&self, value: &Value) -> bool {
        match (self, value) {
            (Self::Null, Value::Null) => true,
            (Self::Bool(a), Value::Bool(b)) => a == b,
            (Self::Number(a), Value::Number(b)) => a == b,
            (Self::String(a), Value::String(b)) => a == b,
            (Self::Array(a), Value::Array(b)) => {
                a.len() == b.len() && a.iter().zip(b).all(|(a, b)| a.eq_value(b))
            }
            (Self::Object(a), Value::Object(b)) => {
                a.0.len() == b.len()
                    && a.iter()
                        .all(|(name, a)| b.get(name).is_some_and(|b| a.eq_value(b)))
            }
            _ => false,
        }
    }
}

/// The reader behind [`Object::parse`]: RFC 8259 JSON, read exactly as `serde_json` reads
/// it (the same documents accepted, the same values), written out by hand because this is
/// the path every new token takes: no visitor, and no second pass to sort out what is
/// borrowed. Member names are checked for duplicates as each object ends.
struct Parser<'a> {
    /// The whole input, valid UTF-8.
    text: &'a str,
    /// The next byte to read.
    at: usize,
    /// Nesting levels left (see [`DEPTH_LIMIT`]).
    depth: u8,
}

impl<'a> Parser<'a> {
    fn peek(&self) -> Option<u8> {
        self.text.as_bytes().get(self.at).copied()
    }

    /// The next byte, consumed.
    fn next(&mut self) -> Option<u8> {
        let byte = self.peek()?;
        self.at += 1;
        Some(byte)
    }

    fn skip_whitespace(&mut self) {
        while let Some(b' ' | b'\t' | b'\n' | b'\r') = self.peek() {
            self.at += 1;
        }
    }

    /// The text from `start` to the current position. Both ends sit next to ASCII bytes
    /// of valid UTF-8, so on character boundaries; `get` says so without a panic.
    fn since(&self, start: usize) -> Result<&'a str, Refusal> {
        self.text.get(start..self.at).ok_or(Refusal::Malformed)
    }

    /// A value, after optional whitespace, written over `out` (a [`Json::Null`] just pushed).
    ///
    /// Written where it is kept, not returned and then pushed: a 32-byte value returned on
    /// the stack, then copied into the member pushed, was read back before its bytes had
    /// landed (a store-forwarding stall), twice a member.
    fn value_into(&mut self, out: &mut Json<'a>) -> Result<(), Refusal> {
        self.skip_whitespace();
        match self.peek().ok_or(Refusal::Malformed)? {
            b'{' => *out = Json::Object(self.object()?),
            b'[' => *out = self.array()?,
            b'"' => *out = Json::String(self.string()?),
            b't' => self.literal("true", out, Json::Bool(true))?,
            b'f' => self.literal("false", out, Json::Bool(false))?,
            b'n' => self.literal("null", out, Json::Null)?,
            b'-' | b'0'..=b'9' => *out = self.number()?,
            _ => return Err(Refusal::Malformed),
        }
        Ok(())
    }

    fn literal(&mut self, word: &str, out: &mut Json<'a>, value: Json<'a>) -> Result<(), Refusal> {
        let rest = self.text.as_bytes().get(self.at..).unwrap_or_default();
        if rest.starts_with(word.as_bytes()) {
            self.at += word.len();
            *out = value;
            Ok(())
        } else {
            Err(Refusal::Malformed)
        }
    }

    /// One level deeper, refused at the limit.
    fn enter(&mut self) -> Result<(), Refusal> {
        self.depth -= 1;
        if self.depth == 0 {
            return Err(Refusal::Malformed);
        }
        Ok(())
    }

    /// The items of an object or an array, at its opening bracket, up to `close`: `item`
    /// reads each one, and commas separate them. One level deeper while they are read.
    fn items(
        &mut self,
        close: u8,
        mut item: impl FnMut(&mut Self) -> Result<(), Refusal>,
    ) -> Result<(), Refusal> {
        self.enter()?;
        self.at += 1;
        self.skip_whitespace();
        if self.peek() == Some(close) {
            self.at += 1;
        } else {
            loop {
                item(self)?;
                self.skip_whitespace();
                match self.next() {
                    Some(b',') => {}
                    Some(byte) if byte == close => break,
                    _ => return Err(Refusal::Malformed),
                }
            }
        }
        self.depth += 1;
        Ok(())
    }

    /// An object, at its `{`.
    fn object(&mut self) -> Result<Object<'a>, Refusal> {
        // The outermost object (a token's claims) is sized from its length, about one member
        // in 24 bytes, so that it is rarely grown; nested ones grow as they fill, so that an
        // input of many small objects cannot ask for more than it holds.
        let mut members = if self.depth == DEPTH_LIMIT {
            Vec::with_capacity((self.text.len() / 24).clamp(4, 16))
        } else {
            Vec::new()
        };
        self.items(b'}', |parser| {
            parser.skip_whitespace();
            if parser.peek() != Some(b'"') {
                return Err(Refusal::Malformed);
            }
            let name = parser.string()?;
            parser.skip_whitespace();
            if parser.next() != Some(b':') {
                return Err(Refusal::Malformed);
            }
            members.push((name, Json::Null));
            let Some((_, slot)) = members.last_mut() else {
                return Err(Refusal::Malformed);
            };
            parser.value_into(slot)
        })?;
        members.sort_unstable_by(|(a, _), (b, _)| by_name(a, b));
        if members
            .windows(2)
            .any(|pair| by_name(&pair[0].0, &pair[1].0).is_eq())
        {
            return Err(Refusal::Duplicate);
        }
        Ok(Object(members))
    }

    /// An array, at its `[`.
    fn array(&mut self) -> Result<Json<'a>, Refusal> {
        let mut items = Vec::new();
        self.items(b']', |parser| {
            items.push(Json::Null);
            let Some(slot) = items.last_mut() else {
                return Err(Refusal::Malformed);
            };
            parser.value_into(slot)
        })?;
        Ok(Json::Array(items))
    }

    /// A string, at its opening quote: borrowed unless it has escapes.
    #[inline(always)]
    fn string(&mut self) -> Result<Cow<'a, str>, Refusal> {
        self.at += 1;
        let start = self.at;
        self.skip_plain();
        match self.next() {
            Some(b'"') => {
                let text = self.text.get(start..self.at - 1);
                return text.map(Cow::Borrowed).ok_or(Refusal::Malformed);
            }
            Some(b'\\') => self.at -= 1,
            // A control character (they must be escaped), or the end of the input.
            _ => return Err(Refusal::Malformed),
        }
        let mut owned = String::from(self.since(start)?);
        loop {
            let run = self.at;
            self.skip_plain();
            owned.push_str(self.since(run)?);
            match self.next() {
                Some(b'"') => return Ok(Cow::Owned(owned)),
                Some(b'\\') => owned.push(self.escape()?),
                _ => return Err(Refusal::Malformed),
            }
        }
    }

    /// Moves past string content that needs no attention: anything but a quote, a backslash
    /// or a control character. Eight bytes at a time: strings are most of a token's claims.
    fn skip_plain(&mut self) {
        const ONES: u64 = u64::from_ne_bytes([1; 8]);
        const HIGHS: u64 = ONES << 7;
        // Bytes of `word` below `n` (at most 0x80), flagged in their high bit. Above the first
        // one, a flag may be false (a borrow); the first is always true, and only it is used.
        let below = |word: u64, n: u8| word.wrapping_sub(ONES * u64::from(n)) & !word & HIGHS;
        let rest = self.text.as_bytes().get(self.at..).unwrap_or_default();
        let mut chunks = rest.chunks_exact(8);
        for chunk in &mut chunks {
            let Ok(bytes) = <[u8; 8]>::try_from(chunk) else {
                break;
            };
            let word = u64::from_le_bytes(bytes);
            let quote = below(word ^ (ONES * u64::from(b'"')), 1);
            let backslash = below(word ^ (ONES * u64::from(b'\\')), 1);
            let special = quote | backslash | below(word, 0x20);
            if special != 0 {
                // The lowest flagged byte; `trailing_zeros` is at most 63.
                self.at += (special.trailing_zeros() / 8) as usize;
                return;
            }
            self.at += 8;
        }
        while let Some(b) = self.peek() {
            if matches!(b, b'"' | b'\\' | 0x00..=0x1f) {
                return;
            }
            self.at += 1;
        }
    }

    /// The character an escape stands for, after its backslash.
    fn escape(&mut self) -> Result<char, Refusal> {
        Ok(match self.next().ok_or(Refusal::Malformed)? {
            b'"' => '"',
            b'\\' => '\\',
            b'/' => '/',
            b'b' => '\u{8}',
            b'f' => '\u{c}',
            b'n' => '\n',
            b'r' => '\r',
            b't' => '\t',
            b'u' => {
                let unit = self.hex4()?;
                let code = match unit {
                    // A high surrogate: its low half must follow, escaped.
                    0xd800..=0xdbff => {
                        if self.next() != Some(b'\\') || self.next() != Some(b'u') {
                            return Err(Refusal::Malformed);
                        }
                        let low = self.hex4()?;
                        if !(0xdc00..=0xdfff).contains(&low) {
                            return Err(Refusal::Malformed);
                        }
                        0x1_0000 + ((unit - 0xd800) << 10) + (low - 0xdc00)
                    }
                    // A low surrogate alone is no character.
                    0xdc00..=0xdfff => return Err(Refusal::Malformed),
                    _ => unit,
                };
                char::from_u32(code).ok_or(Refusal::Malformed)?
            }
            _ => return Err(Refusal::Malformed),
        })
    }

    /// Four hexadecimal digits.
    fn hex4(&mut self) -> Result<u32, Refusal> {
        let mut unit = 0;
        for _ in 0..4 {
            let digit = char::from(self.next().ok_or(Refusal::Malformed)?)
                .to_digit(16)
                .ok_or(Refusal::Malformed)?;
            unit = unit << 4 | digit;
        }
        Ok(unit)
    }

    /// A number (RFC 8259 §6). A plain non-negative integer of up to 19 digits (what
    /// NumericDates are) is read here; any other number is handed to `serde_json`, so that it
    /// is the same `Number` (integer or float, rounded alike, refused when out of range).
    fn number(&mut self) -> Result<Json<'a>, Refusal> {
        let start = self.at;
        let negative = self.peek() == Some(b'-');
        if negative {
            self.at += 1;
        }
        match self.next() {
            Some(b'0') => {}
            Some(b'1'..=b'9') => self.digits(),
            _ => return Err(Refusal::Malformed),
        }
        let integer = !negative && self.at - start <= 19;
        let mut plain = true;
        if self.peek() == Some(b'.') {
            self.at += 1;
            self.at_least_one_digit()?;
            plain = false;
        }
        if let Some(b'e' | b'E') = self.peek() {
            self.at += 1;
            if let Some(b'+' | b'-') = self.peek() {
                self.at += 1;
            }
            self.at_least_one_digit()?;
            plain = false;
        }
        let text = self.since(start)?;
        if integer && plain {
            // At most 19 digits: below 10^19, within `u64`.
            let value = text.parse::<u64>().map_err(|_| Refusal::Malformed)?;
            return Ok(Json::Number(value.into()));
        }
        serde_json::from_str::<Number>(text)
            .map(Json::Number)
            .map_err(|_| Refusal::Malformed)
    }

    fn digits(&mut self) {
        while let Some(b'0'..=b'9') = self.peek() {
            self.at += 1;
        }
    }

    fn at_least_one_digit(&mut self) -> Result<(), Refusal> {
        if !matches!(self.peek(), Some(b'0'..=b'9')) {
            return Err(Refusal::Malformed);
        }
        self.digits();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// What `serde_json` parses, as an oracle for inputs without duplicate names.
    fn oracle(json: &str) -> Result<Map<String, Value>, Refusal> {
        match serde_json::from_str(json) {
            Ok(Value::Object(map)) => Ok(map),
            _ => Err(Refusal::Malformed),
        }
    }

    #[test]
    fn parses_what_serde_json_parses_into_the_same_map() {
        for json in [
            r#"{}"#,
            r#"{"b":1,"a":[1,2.5,-3,"x",null,true,{"c":{}}],"é":"\u00e9","e":"a\"b"}"#,
            r#"{"n":18446744073709551615,"m":-9223372036854775808,"f":1e308,"z":0.0}"#,
            r#" {"ws" : [ ] } "#,
            r#"{"nested":{"z":1,"a":{"y":[{"x":null}]}}}"#,
        ] {
            let ours = Object::parse(json.as_bytes()).map(Object::into_map);
            assert_eq!(ours, oracle(json), "{json}");
        }
    }

    #[test]
    fn duplicates_are_refused_at_every_level_after_unescaping() {
        for json in [
            r#"{"scope":"a","scope":"b"}"#,
            r#"{"scope":"a","sc\u006fpe":"b"}"#,
            r#"{"cnf":{"jkt":"a","jkt":"b"}}"#,
            r#"{"a":[{"x":1,"x":2}]}"#,
            r#"{"a":1,"b":2,"c":3,"a":4}"#,
        ] {
            assert_eq!(
                Object::parse(json.as_bytes()),
                Err(Refusal::Duplicate),
                "{json}"
            );
        }
        let many: String = (0..1000).map(|i| format!(r#""m{i}":{i},"#)).collect();
        let unique = format!("{{{many}\"last\":0}}");
        assert_eq!(
            Object::parse(unique.as_bytes()).expect("parses").0.len(),
            1001
        );
        let twice = format!("{{{many}\"m999\":0}}");
        assert_eq!(Object::parse(twice.as_bytes()), Err(Refusal::Duplicate));
    }

    #[test]
    fn anything_but_one_object_is_malformed() {
        let deep = format!("{{\"a\":{}1{}}}", "[".repeat(100_000), "]".repeat(100_000));
        for json in [
            "",
            "[]",
            r#""s""#,
            "1",
            "null",
            r#"{"a":1} {}"#,
            r#"{"a":1"#,
            r#"{"a":"\ud800"}"#,
            r#"{1:2}"#,
            "{\"a\":\"\u{0}\"}",
            deep.as_str(),
        ] {
            assert_eq!(
                Object::parse(json.as_bytes()),
                Err(Refusal::Malformed),
                "{json:.40}"
            );
        }
        assert_eq!(Object::parse(b"{\"a\":\"\xff\"}"), Err(Refusal::Malformed));
    }

    /// Both readers on `json`: the same object, or both refusing (ours as malformed).
    fn agrees(json: &str) {
        let ours = Object::parse(json.as_bytes()).map(Object::into_map);
        assert_eq!(ours, oracle(json), "{json:.80}");
    }

    #[test]
    fn nesting_is_refused_where_serde_json_refuses_it() {
        for depth in 1..=130 {
            let arrays = format!("{{\"a\":{}1{}}}", "[".repeat(depth), "]".repeat(depth));
            let objects = format!(
                "{{{}\"z\":1{}}}",
                "\"a\":{".repeat(depth),
                "}".repeat(depth)
            );
            agrees(&arrays);
            agrees(&objects);
        }
        // The limit itself: 127 levels are read, 128 refused.
        let nested = |arrays: usize| {
            let json = format!("{{\"a\":{}1{}}}", "[".repeat(arrays), "]".repeat(arrays));
            Object::parse(json.as_bytes()).map(|_| ())
        };
        assert_eq!(nested(126), Ok(()));
        assert_eq!(nested(127), Err(Refusal::Malformed));
    }

    #[test]
    fn numbers_are_the_numbers_serde_json_reads() {
        for number in [
            "0",
            "7",
            "-0",
            "-7",
            "1700000000",
            "9999999999999999999",
            "10000000000000000000",
            "18446744073709551615",
            "18446744073709551616",
            "-9223372036854775808",
            "-9223372036854775809",
            "123456789012345678901234567890",
            "0.5",
            "-0.0",
            "1e3",
            "1E+3",
            "1e-3",
            "2.5e10",
            "1.7976931348623157e308",
            "1e309",
            "-1e309",
            "5e-324",
            "1e-400",
            "0.1",
            "3.141592653589793238462643383279",
            "00",
            "01",
            "-",
            "-a",
            "1.",
            ".5",
            "1e",
            "1e+",
            "+1",
            "1.e3",
            "0x10",
            "1_0",
            "١",
        ] {
            agrees(&format!(r#"{{"n":{number}}}"#));
            agrees(&format!(r#"{{"n":[{number}]}}"#));
        }
        let parsed = Object::parse(br#"{"a":1700000000,"b":-1,"c":1.5}"#).expect("parses");
        assert_eq!(
            parsed.get("a"),
            Some(&Json::Number(1_700_000_000_u64.into()))
        );
        assert_eq!(parsed.get("b"), Some(&Json::Number((-1_i64).into())));
        assert_eq!(parsed.get("c").and_then(Json::as_f64), Some(1.5));
    }

    #[test]
    fn strings_escapes_and_literals_read_as_serde_json_reads_them() {
        for json in [
            r#"{"a":"\"\\\/\b\f\n\r\t"}"#,
            r#"{"a":"\u0000\u001f\u00e9\u20AC\uFFFF"}"#,
            r#"{"a":"\ud83d\ude00 and \uD834\uDD1E"}"#,
            r#"{"a":"plain é € 😀 then \n then plain"}"#,
            r#"{"\u0061":1,"b\"":2}"#,
            r#"{"a":"\ud800"}"#,
            r#"{"a":"\ud800x"}"#,
            r#"{"a":"\ud800\n"}"#,
            r#"{"a":"\ud800\u0041"}"#,
            r#"{"a":"\udc00"}"#,
            r#"{"a":"\u12"}"#,
            r#"{"a":"\u12g4"}"#,
            r#"{"a":"\x"}"#,
            r#"{"a":"\"#,
            r#"{"a":"abc"#,
            "{\"a\":\"\t\"}",
            "{\"a\":\"\u{1f}\"}",
            "{\"a\":\"\u{7f}\"}",
            r#"{"a":true,"b":false,"c":null}"#,
            r#"{"a":tru}"#,
            r#"{"a":nul}"#,
            r#"{"a":True}"#,
            r#"{"a":1,}"#,
            r#"{"a":[1,]}"#,
            r#"{"a":[,1]}"#,
            r#"{,"a":1}"#,
            r#"{"a" 1}"#,
            r#"{"a":1 "b":2}"#,
            r#"{a:1}"#,
            r#"{'a':1}"#,
            "\t\n\r {\"a\" :\n[ 1 , 2 ]\t} \r\n",
            "{\"a\":1}\u{c}",
            "{\"a\":1}\u{a0}",
            "\u{feff}{\"a\":1}",
            r#"{}"#,
            r#"{} "#,
            r#"{}}"#,
            r#"{"a":{}}"#,
            r#"{"a":[]}"#,
            r#"{"a":[[],{}]}"#,
        ] {
            agrees(json);
        }
    }

    #[test]
    fn string_content_is_read_alike_wherever_a_special_byte_falls_in_an_eight_byte_step() {
        // `skip_plain` reads eight bytes at a time: a quote, a backslash, a control character
        // or the end of the input at every offset of a step, next to multi-byte characters
        // and bytes just around the special ones (0x1f, 0x20, `!`, `#`, `[`, `]`, 0x7f), in
        // names and in values.
        let specials = [
            "\"", "\\n", "\\\"", "\\u0041", "\u{1}", "\u{1f}", "\t", "", "é", "😀", " ", "!", "#",
            "[", "]", "\u{7f}",
        ];
        for prefix in 0..20 {
            for special in specials {
                for suffix in ["", "abc", "ééé", "\"", "\\"] {
                    let content = format!("{}{special}{suffix}", "x".repeat(prefix));
                    agrees(&format!(r#"{{"{content}":1}}"#));
                    agrees(&format!(r#"{{"k":"{content}"}}"#));
                    agrees(&format!(r#"{{"k":"{content}"#));
                    agrees(&format!(r#"{{"k":["{content}",1]}}"#));
                }
            }
        }
    }

    #[test]
    fn strings_without_escapes_are_borrowed() {
        let object =
            Object::parse(br#"{"plain":"abc","escaped":"a\nb","k\u0031":1}"#).expect("parses");
        assert!(matches!(
            object.get("plain"),
            Some(Json::String(Cow::Borrowed("abc")))
        ));
        assert!(matches!(object.get("escaped"), Some(Json::String(Cow::Owned(s))) if s == "a\nb"));
        assert_eq!(object.get("k1"), Some(&Json::Number(1.into())));
        assert_eq!(object.get("missing"), None);
    }

    #[test]
    fn views_of_serde_json_values_compare_equal_to_them() {
        let value = json!({"a": [1, "x", null, {"b": true}], "c": 2.5, "d": {}});
        let Value::Object(map) = &value else {
            unreachable!()
        };
        let view = Object::from_map(map);
        assert_eq!(view.clone().into_map(), *map);
        assert!(Json::Object(view.clone()).eq_value(&value));
        assert!(
            !Json::Object(view)
                .eq_value(&json!({"a": [1, "x", null, {"b": false}], "c": 2.5, "d": {}}))
        );
        assert!(Json::Number(1.into()).eq_value(&json!(1)));
        assert!(!Json::Number(1.into()).eq_value(&json!(1.0)));
        assert!(!Json::String("1".into()).eq_value(&json!(1)));
    }
}
