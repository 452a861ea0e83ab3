//! Reading what servers answer: `WWW-Authenticate` (RFC 9110 §11.6.1) and scope strings
//! (RFC 6749 §3.3).
//!
//! The parser is strict where the grammar is: parameter values are a token or a quoted-string
//! (an unquoted URL is an error), each parameter occurs once per challenge, and a challenge
//! with a token68 has no parameters.

use std::fmt;

/// One challenge of a `WWW-Authenticate` field.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Challenge {
    pub(crate) scheme: String,
    pub(crate) token68: Option<String>,
    /// Names as sent; compare them case-insensitively.
    pub(crate) params: Vec<(String, String)>,
}

impl Challenge {
    /// Whether the scheme is `Bearer` (case-insensitive, RFC 9110 §11.1).
    pub(crate) fn is_bearer(&self) -> bool {
        self.scheme.eq_ignore_ascii_case("bearer")
    }

    /// A parameter's value (names are case-insensitive).
    pub(crate) fn param(&self, name: &str) -> Option<&str> {
        self.params
            .iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(name))
            .map(|(_, value)| value.as_str())
    }
}

impl fmt::Display for Challenge {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.scheme)?;
        if let Some(token68) = &self.token68 {
            write!(f, " {token68}")?;
        }
        for (index, (name, value)) in self.params.iter().enumerate() {
            let sep = if index == 0 { " " } else { ", " };
            write!(f, "{sep}{name}={value:?}")?;
        }
        Ok(())
    }
}

/// Parses a `WWW-Authenticate` field value (repeated fields joined with `, `).
pub(crate) fn parse(value: &str) -> Result<Vec<Challenge>, String> {
    let mut parser = Parser {
        input: value.as_bytes(),
        pos: 0,
    };
    let mut challenges = Vec::new();
    loop {
        parser.skip_list_separators();
        if parser.at_end() {
            break;
        }
        challenges.push(parser.challenge()?);
    }
    if challenges.is_empty() {
        return Err("no challenge".to_owned());
    }
    Ok(challenges)
}

/// The Bearer challenge of a response's `WWW-Authenticate`, or why there is none.
pub(crate) fn bearer(value: Option<&str>) -> Result<Challenge, String> {
    let value = value.ok_or("no WWW-Authenticate header")?;
    let challenges = parse(value).map_err(|err| format!("{err} in {value:?}"))?;
    challenges
        .into_iter()
        .find(Challenge::is_bearer)
        .ok_or_else(|| format!("no Bearer challenge in {value:?}"))
}

/// Checks `scope` against RFC 6749 §3.3: `scope-token *( SP scope-token )`, each token
/// `1*( %x21 / %x23-5B / %x5D-7E )`.
pub(crate) fn check_scope_syntax(scope: &str) -> Result<(), String> {
    if scope.is_empty() {
        return Err("the scope is empty".to_owned());
    }
    for token in scope.split(' ') {
        if token.is_empty() {
            return Err(format!(
                "{scope:?}: scope tokens are separated by exactly one space"
            ));
        }
        if let Some(bad) = token
            .chars()
            .find(|&c| !matches!(c, '\x21' | '\x23'..='\x5b' | '\x5d'..='\x7e'))
        {
            return Err(format!(
                "{scope:?}: {bad:?} is not allowed in a scope token"
            ));
        }
    }
    Ok(())
}

struct Parser<'a> {
    input: &'a [u8],
    pos: usize,
}

impl Parser<'_> {
    fn at_end(&self) -> bool {
        self.pos >= self.input.len()
    }

    fn peek(&self) -> Option<u8> {
        self.input.get(self.pos).copied()
    }

    fn skip_ows(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t')) {
            self.pos += 1;
        }
    }

    /// Empty list elements and the whitespace around them (RFC 9110 §5.6.1).
    fn skip_list_separators(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\t' | b',')) {
            self.pos += 1;
        }
    }

    fn token(&mut self) -> &str {
        let start = self.pos;
        while self.peek().is_some_and(is_tchar) {
            self.pos += 1;
        }
        // tchars are ASCII.
        std::str::from_utf8(&self.input[start..self.pos]).unwrap_or_default()
    }

    fn error(&self, what: &str) -> String {
        format!("{what} at byte {}", self.pos)
    }

    fn challenge(&mut self) -> Result<Challenge, String> {
        let scheme = self.token().to_owned();
        if scheme.is_empty() {
            return Err(self.error("expected an auth-scheme"));
        }
        let mut challenge = Challenge {
            scheme,
            token68: None,
            params: Vec::new(),
        };
        if self.at_end() || self.peek() == Some(b',') {
            return Ok(challenge);
        }
        if self.peek() != Some(b' ') {
            return Err(self.error("expected a space after the auth-scheme"));
        }
        self.skip_ows();
        if self.at_end() || self.peek() == Some(b',') {
            return Ok(challenge);
        }
        if !self.param_ahead() {
            let token68 = self.token68()?;
            challenge.token68 = Some(token68);
            self.skip_ows();
            return match self.peek() {
                None | Some(b',') => Ok(challenge),
                Some(_) => Err(self.error("unexpected text after a token68")),
            };
        }
        loop {
            let (name, value) = self.param()?;
            // A bound on the parameters (a challenge has a handful), so that a hostile header
            // cannot make the duplicate check below quadratic in its size.
            if challenge.params.len() == MAX_PARAMS {
                return Err(format!(
                    "more than {MAX_PARAMS} parameters in one challenge"
                ));
            }
            if challenge.param(&name).is_some() {
                return Err(format!("parameter {name:?} occurs twice in one challenge"));
            }
            challenge.params.push((name, value));
            self.skip_ows();
            match self.peek() {
                None => return Ok(challenge),
                Some(b',') => {
                    self.skip_list_separators();
                    if self.at_end() || !self.param_ahead() {
                        // The next challenge (or the end).
                        return Ok(challenge);
                    }
                }
                Some(_) => return Err(self.error("expected a comma between parameters")),
            }
        }
    }

    /// Whether an `auth-param` (`token BWS "="`, not a token68's padding) starts here.
    fn param_ahead(&self) -> bool {
        let mut pos = self.pos;
        let start = pos;
        while self.input.get(pos).copied().is_some_and(is_tchar) {
            pos += 1;
        }
        if pos == start {
            return false;
        }
        while matches!(self.input.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        if self.input.get(pos) != Some(&b'=') {
            return false;
        }
        pos += 1;
        // `abc==` or `abc=` then the end or a comma: token68 padding.
        while matches!(self.input.get(pos), Some(b' ' | b'\t')) {
            pos += 1;
        }
        !matches!(self.input.get(pos), None | Some(b',' | b'='))
    }

    fn param(&mut self) -> Result<(String, String), String> {
        let name = self.token().to_owned();
        self.skip_ows();
        if self.peek() != Some(b'=') {
            return Err(self.error("expected '='"));
        }
        self.pos += 1;
        self.skip_ows();
        let value = if self.peek() == Some(b'"') {
            self.quoted_string()?
        } else {
            let value = self.token().to_owned();
            if value.is_empty() {
                return Err(self.error(&format!(
                    "the value of {name:?} is neither a token nor a quoted-string"
                )));
            }
            value
        };
        Ok((name, value))
    }

    fn quoted_string(&mut self) -> Result<String, String> {
        self.pos += 1;
        let mut out = Vec::new();
        loop {
            match self.peek() {
                None => return Err(self.error("unterminated quoted-string")),
                Some(b'"') => {
                    self.pos += 1;
                    return String::from_utf8(out).map_err(|_| self.error("not UTF-8"));
                }
                Some(b'\\') => {
                    self.pos += 1;
                    match self.peek() {
                        Some(c) if c == b'\t' || c >= 0x20 && c != 0x7f => {
                            out.push(c);
                            self.pos += 1;
                        }
                        _ => return Err(self.error("bad quoted-pair")),
                    }
                }
                Some(c) if c == b'\t' || c >= 0x20 && c != 0x7f => {
                    out.push(c);
                    self.pos += 1;
                }
                Some(_) => return Err(self.error("control character in a quoted-string")),
            }
        }
    }

    fn token68(&mut self) -> Result<String, String> {
        let start = self.pos;
        while self
            .peek()
            .is_some_and(|c| c.is_ascii_alphanumeric() || b"-._~+/".contains(&c))
        {
            self.pos += 1;
        }
        if self.pos == start {
            return Err(self.error("expected a token68 or an auth-param"));
        }
        while self.peek() == Some(b'=') {
            self.pos += 1;
        }
        Ok(String::from_utf8_lossy(&self.input[start..self.pos]).into_owned())
    }
}

/// `tchar` of RFC 9110 §5.6.2.
fn is_tchar(c: u8) -> bool {
    c.is_ascii_alphanumeric() || b"!#$%&'*+-.^_`|~".contains(&c)
}

/// The most parameters [`parse`] reads in one challenge.
const MAX_PARAMS: usize = 64;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_challenge_with_too_many_parameters_is_refused_in_linear_time() {
        let params = |n: usize| {
            let params: Vec<String> = (0..n).map(|i| format!("p{i}=\"v\"")).collect();
            format!("Bearer {}", params.join(", "))
        };
        assert_eq!(
            parse(&params(MAX_PARAMS)).unwrap()[0].params.len(),
            MAX_PARAMS
        );
        let err = parse(&params(MAX_PARAMS + 1)).unwrap_err();
        assert!(err.contains("more than 64 parameters"), "{err}");
        // A header of hyper's size, distinct names: refused at the bound, not after n^2 work.
        let err = parse(&params(50_000)).unwrap_err();
        assert!(err.contains("more than 64 parameters"), "{err}");
    }

    #[test]
    fn bearer_with_quoted_parameters_parses() {
        let challenges = parse(
            r#"Bearer resource_metadata="https://h/.well-known/oauth-protected-resource/mcp", scope="a b""#,
        )
        .unwrap();
        assert_eq!(challenges.len(), 1);
        assert!(challenges[0].is_bearer());
        assert_eq!(
            challenges[0].param("RESOURCE_METADATA"),
            Some("https://h/.well-known/oauth-protected-resource/mcp")
        );
        assert_eq!(challenges[0].param("scope"), Some("a b"));
    }

    #[test]
    fn several_challenges_and_token68_parse() {
        let challenges =
            parse(r#"Basic realm="x", bearer error=invalid_token, Negotiate abc==, DPoP"#).unwrap();
        let schemes: Vec<&str> = challenges.iter().map(|c| c.scheme.as_str()).collect();
        assert_eq!(schemes, ["Basic", "bearer", "Negotiate", "DPoP"]);
        assert_eq!(challenges[1].param("error"), Some("invalid_token"));
        assert_eq!(challenges[2].token68.as_deref(), Some("abc=="));
    }

    #[test]
    fn quoted_pairs_are_unescaped() {
        let challenge = bearer(Some(r#"Bearer error_description="say \"hi\"""#)).unwrap();
        assert_eq!(challenge.param("error_description"), Some(r#"say "hi""#));
    }

    #[test]
    fn malformed_values_are_errors() {
        struct Case {
            name: &'static str,
            value: &'static str,
        }
        let cases = [
            Case {
                name: "unquoted URL",
                value: "Bearer resource_metadata=https://h/x",
            },
            Case {
                name: "unterminated",
                value: r#"Bearer scope="a"#,
            },
            Case {
                name: "duplicate parameter",
                value: r#"Bearer scope="a", scope="b""#,
            },
            Case {
                name: "missing comma",
                value: r#"Bearer scope="a" error="b""#,
            },
            Case {
                name: "empty",
                value: " , ",
            },
            Case {
                name: "no scheme",
                value: "=x",
            },
        ];
        for case in cases {
            assert!(parse(case.value).is_err(), "{}", case.name);
        }
    }

    #[test]
    fn missing_or_foreign_challenges_have_no_bearer() {
        assert!(bearer(None).is_err());
        assert!(bearer(Some(r#"Basic realm="x""#)).is_err());
    }

    #[test]
    fn scope_syntax_follows_rfc_6749() {
        assert!(check_scope_syntax("mcp:read notes:write").is_ok());
        assert!(check_scope_syntax("https://api.example/x.read").is_ok());
        for bad in ["", " a", "a  b", "a ", "a\"b", "a\\b", "é"] {
            assert!(check_scope_syntax(bad).is_err(), "{bad:?}");
        }
    }
}
