//! The verified principal: [`AuthInfo`].

use std::{
    fmt, mem,
    sync::{
        Arc, OnceLock,
        atomic::{AtomicU64, Ordering},
    },
    time::SystemTime,
};

use serde_json::{Map, Value};

/// What a [`TokenVerifier`] learned about a valid access token.
///
/// The layer inserts it into the request extensions after the token passed verification, the
/// audience check and the scope check. Handlers read it from there (with the `axum` feature it is
/// also an extractor). The token itself is never kept.
///
/// `AuthInfo` is cheap to clone: its data sits behind an [`Arc`].
///
/// # Example
///
/// ```
/// use mcp_auth::AuthInfo;
///
/// let info = AuthInfo::builder()
///     .issuer("https://auth.example.com")
///     .subject("alice")
///     .scopes(["mcp:read", "notes:write"])
///     .audience("https://mcp.example.com/mcp")
///     .build();
/// assert!(info.has_scope("mcp:read"));
/// assert_eq!(info.scopes(), ["mcp:read", "notes:write"]);
/// assert_eq!(info.subject(), Some("alice"));
/// assert_eq!(info.principal_key(), Some(r#"["https://auth.example.com","alice"]"#));
/// ```
///
/// [`TokenVerifier`]: crate::TokenVerifier
#[derive(Clone)]
pub struct AuthInfo {
    inner: Arc<Inner>,
}

/// A layer's number for [`AuthInfo::checked_by`]: unique in the process, never 0.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct CheckedBy(u64);

impl CheckedBy {
    /// A number no layer had before.
    pub(crate) fn new() -> Self {
        static NEXT: AtomicU64 = AtomicU64::new(1);
        // 2^64 layers are not built in a process's life.
        Self(NEXT.fetch_add(1, Ordering::Relaxed))
    }
}

/// The fields of an [`AuthInfo`], made by its builder.
///
/// Every string sits in one text, found by its [`Span`]: an `AuthInfo` is four allocations
/// (this, the text, the list of audiences and scopes, and the claims' JSON text if any),
/// whatever the token carries. A verified token stays in a cache for a while, and is freed
/// long after it was made, when its memory is no longer in the CPU's caches: each allocation
/// then costs a cache miss or two.
///
/// In declaration order (`repr(C)`): the fields the layer reads on every request come first,
/// next to the `Arc`'s counts, so that a cached token touches as few cache lines as it can.
#[repr(C)]
struct Inner {
    /// The layer whose audience and global scope checks this token passed last, by its
    /// [`CheckedBy`] number (0: none yet); see [`AuthInfo::checked_by`].
    checked_by: AtomicU64,
    /// Which of `fields` are set, a bit each. The layer asks on every request whether the
    /// token is bound to a key or a certificate; for most it is not, and that is answered
    /// here, beside the `Arc`'s counts, without reading `fields`.
    set: u8,
    text: Box<str>,
    /// The audiences (the first `audiences`), then the scopes.
    lists: Box<[Span]>,
    audiences: usize,
    expires_at: Option<SystemTime>,
    /// `key_thumbprint`, `certificate_thumbprint` (read on every request), `subject`,
    /// `client_id`, `issuer`, `token_id`, in the order of [`Field`].
    fields: [Option<Span>; FIELDS],
    claims: Claims,
    /// Written on first use: most requests never ask for it.
    principal_key: OnceLock<Option<String>>,
}

/// Where one string of an [`AuthInfo`] sits in its text: whole `str`s are appended, so both
/// ends are on character boundaries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Span {
    start: usize,
    end: usize,
}

impl Span {
    fn of(self, text: &str) -> &str {
        let s = text.get(self.start..self.end);
        debug_assert!(
            s.is_some(),
            "a span is within its text, on character boundaries"
        );
        s.unwrap_or_default()
    }
}

/// The single-valued string fields, as indexes into [`Inner::fields`].
#[derive(Clone, Copy)]
pub(crate) enum Field {
    KeyThumbprint,
    CertificateThumbprint,
    Subject,
    ClientId,
    Issuer,
    TokenId,
}

const FIELDS: usize = Field::TokenId as usize + 1;

/// How many scopes an [`AuthInfoBuilder`] compares each new one with (see
/// [`add_scopes`](AuthInfoBuilder::add_scopes)).
const FEW_SCOPES: usize = 16;

const _: () = assert!(FIELDS <= u8::BITS as usize, "a bit of `Inner::set` a field");

impl Field {
    /// This field's bit in [`Inner::set`].
    const fn bit(self) -> u8 {
        field_bit(self as usize)
    }
}

/// The bit in [`Inner::set`] of the field at `index` of [`Inner::fields`].
const fn field_bit(index: usize) -> u8 {
    1 << index
}

/// The claims without a dedicated accessor. `Debug` shows their names only: their values may
/// carry personal data.
///
/// A verifier may hand them over as the token's JSON text: they are then read on first use,
/// so a request that never asks for them does not pay for building a map.
#[derive(Default)]
struct Claims {
    /// The claims: set by the builder, or read from `json` on first use.
    map: OnceLock<Map<String, Value>>,
    /// Where the JSON text of a verified token's claims (checked strictly already) sits in
    /// the [`AuthInfo`]'s text, and the names to leave out of them.
    json: Option<(Span, Arc<[String]>)>,
}

impl Claims {
    /// The claims, `text` being the text of the [`AuthInfo`] (or builder) they belong to.
    fn get(&self, text: &str) -> &Map<String, Value> {
        self.map.get_or_init(|| self.read(text))
    }

    fn into_map(self, text: &str) -> Map<String, Value> {
        if self.map.get().is_some() {
            self.map.into_inner().unwrap_or_default()
        } else {
            self.read(text)
        }
    }

    /// The claims in the JSON text, without those left out. The verifier parsed the text
    /// strictly before (an object without duplicate names), so `serde_json` reads it the
    /// same way and does not fail.
    fn read(&self, text: &str) -> Map<String, Value> {
        let Some((json, left_out)) = &self.json else {
            return Map::new();
        };
        let mut claims: Map<String, Value> =
            serde_json::from_str(json.of(text)).unwrap_or_default();
        claims.retain(|name, _| !left_out.contains(name));
        claims
    }
}

/// The names of [`Claims`], for `Debug`: their values may carry personal data.
struct ClaimNames<'a>(&'a Claims, &'a str);

impl fmt::Debug for ClaimNames<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.0.get(self.1).keys()).finish()
    }
}

impl From<Map<String, Value>> for Claims {
    fn from(map: Map<String, Value>) -> Self {
        Self {
            map: OnceLock::from(map),
            json: None,
        }
    }
}

impl Inner {
    fn field(&self, field: Field) -> Option<&str> {
        if self.set & field.bit() == 0 {
            return None;
        }
        self.fields[field as usize].map(|span| span.of(&self.text))
    }

    fn audiences(&self) -> Strings<'_> {
        Strings {
            text: &self.text,
            spans: self.lists.get(..self.audiences).unwrap_or_default(),
        }
    }

    fn scopes(&self) -> Strings<'_> {
        Strings {
            text: &self.text,
            spans: self.lists.get(self.audiences..).unwrap_or_default(),
        }
    }
}

impl AuthInfo {
    /// Starts an [`AuthInfo`]; verifiers call this once a token has been verified.
    pub fn builder() -> AuthInfoBuilder {
        AuthInfoBuilder::default()
    }

    /// Whether the layer `by` is the last one whose audience and global scope checks this
    /// token passed. Both checks depend on nothing but the token's `AuthInfo`, which never
    /// changes once built, and the layer's settings, which never change either: a cached
    /// token (whose `AuthInfo` is shared by every request that brings it) is checked once,
    /// and a request after that reads one word next to the `Arc`'s counts, not its audiences,
    /// scopes and their text (cache misses when many tokens are in use). One word remembers
    /// one layer: two layers that take turns with one token both check it every time.
    pub(crate) fn checked_by(&self, by: CheckedBy) -> bool {
        self.inner.checked_by.load(Ordering::Relaxed) == by.0
    }

    /// Notes that this token passed the audience and global scope checks of the layer `by`.
    pub(crate) fn set_checked_by(&self, by: CheckedBy) {
        // Written only when it changes: requests with a token in use leave its line alone.
        if !self.checked_by(by) {
            self.inner.checked_by.store(by.0, Ordering::Relaxed);
        }
    }

    /// The `sub` claim: whom the token was issued for.
    #[must_use]
    pub fn subject(&self) -> Option<&str> {
        self.inner.field(Field::Subject)
    }

    /// The `client_id` claim: the OAuth client the token was issued to.
    #[must_use]
    pub fn client_id(&self) -> Option<&str> {
        self.inner.field(Field::ClientId)
    }

    /// The `iss` claim: the authorization server that issued the token.
    #[must_use]
    pub fn issuer(&self) -> Option<&str> {
        self.inner.field(Field::Issuer)
    }

    /// The granted scopes, in the order the token listed them, without duplicates.
    #[must_use]
    pub fn scopes(&self) -> Strings<'_> {
        self.inner.scopes()
    }

    /// Whether `scope` was granted literally.
    ///
    /// This ignores scope hierarchies; the layer applies those when it checks requirements.
    #[must_use]
    pub fn has_scope(&self, scope: &str) -> bool {
        self.inner.scopes().contains(scope)
    }

    /// The audiences (`aud`) the token is meant for.
    #[must_use]
    pub fn audiences(&self) -> Strings<'_> {
        self.inner.audiences()
    }

    /// When the token expires (`exp`).
    #[must_use]
    pub fn expires_at(&self) -> Option<SystemTime> {
        self.inner.expires_at
    }

    /// The token identifier (`jti`).
    #[must_use]
    pub fn token_id(&self) -> Option<&str> {
        self.inner.field(Field::TokenId)
    }

    /// The RFC 7638 thumbprint of the key the token is bound to (`cnf.jkt`, RFC 9449): the
    /// layer accepts the token only with a DPoP proof signed by that key. Bind state to it to
    /// bind it to the client's key rather than to the user.
    #[must_use]
    pub fn key_thumbprint(&self) -> Option<&str> {
        self.inner.field(Field::KeyThumbprint)
    }

    /// The SHA-256 thumbprint of the client certificate the token is bound to
    /// (`cnf.x5t#S256`, RFC 8705).
    #[must_use]
    pub fn certificate_thumbprint(&self) -> Option<&str> {
        self.inner.field(Field::CertificateThumbprint)
    }

    /// The claims not exposed by a dedicated accessor.
    #[must_use]
    pub fn claims(&self) -> &Map<String, Value> {
        self.inner.claims.get(&self.inner.text)
    }

    /// One claim by name, from [`claims`](Self::claims).
    #[must_use]
    pub fn claim(&self, name: &str) -> Option<&Value> {
        self.inner.claims.get(&self.inner.text).get(name)
    }

    /// A stable key for the principal, made of the issuer and the subject.
    ///
    /// Bind server-side state (sessions, state handles) to this key, never to the token: the MCP
    /// security best practices require that possession of a session or state handle is not
    /// taken as authentication. The key is the JSON array `["<iss>","<sub>"]`, so it is
    /// unambiguous whatever characters the two values hold.
    ///
    /// `None` when the token has no subject (RFC 7662 lets an introspection answer omit it,
    /// and machine-to-machine tokens may carry only a client). Then bind to the issuer and
    /// [`client_id`](Self::client_id) if the token names a client, and otherwise refuse the
    /// request: never put callers without a principal into one shared bucket, or they read
    /// each other's data. (The layer's session binding does the same, and falls back to the
    /// token itself.)
    #[must_use]
    pub fn principal_key(&self) -> Option<&str> {
        self.inner
            .principal_key
            .get_or_init(|| {
                let sub = self.subject()?;
                let iss = self.issuer().unwrap_or("");
                Some(Value::Array(vec![Value::from(iss), Value::from(sub)]).to_string())
            })
            .as_deref()
    }
}

impl fmt::Debug for AuthInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // `principal_key` is left out: it is made of the issuer and subject shown here.
        f.debug_struct("AuthInfo")
            .field("subject", &self.subject())
            .field("client_id", &self.client_id())
            .field("issuer", &self.issuer())
            .field("scopes", &self.scopes())
            .field("audiences", &self.audiences())
            .field("expires_at", &self.expires_at())
            .field("token_id", &self.token_id())
            .field("key_thumbprint", &self.key_thumbprint())
            .field("certificate_thumbprint", &self.certificate_thumbprint())
            .field("claims", &ClaimNames(&self.inner.claims, &self.inner.text))
            .finish()
    }
}

/// A list of strings of an [`AuthInfo`]: its [`scopes`](AuthInfo::scopes) or
/// [`audiences`](AuthInfo::audiences), in order. Iterate over it for the `&str`s, or compare
/// it with a list.
///
/// # Example
///
/// ```
/// use mcp_auth::AuthInfo;
///
/// let info = AuthInfo::builder().scopes(["mcp:read", "notes:write"]).build();
/// let scopes = info.scopes();
/// assert_eq!(scopes.len(), 2);
/// assert!(scopes.contains("notes:write"));
/// assert_eq!(scopes.iter().last(), Some("notes:write"));
/// assert_eq!(scopes, ["mcp:read", "notes:write"]);
/// assert_eq!(scopes.join(" "), "mcp:read notes:write");
/// assert_eq!(scopes.to_vec(), vec!["mcp:read".to_owned(), "notes:write".to_owned()]);
/// ```
#[derive(Clone, Copy)]
pub struct Strings<'a> {
    text: &'a str,
    spans: &'a [Span],
}

impl<'a> Strings<'a> {
    /// How many strings there are.
    #[must_use]
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether there are none.
    #[must_use]
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// The string at `index`.
    #[must_use]
    pub fn get(&self, index: usize) -> Option<&'a str> {
        self.spans.get(index).map(|span| span.of(self.text))
    }

    /// Whether `s` is one of them.
    #[must_use]
    pub fn contains(&self, s: &str) -> bool {
        self.iter().any(|own| own == s)
    }

    /// The strings, in order.
    #[must_use]
    pub fn iter(&self) -> StringsIter<'a> {
        StringsIter {
            text: self.text,
            spans: self.spans.iter(),
        }
    }

    /// The strings joined by `separator`, as `[&str]::join` does (`" "` gives an RFC 6749
    /// `scope` string).
    #[must_use]
    pub fn join(&self, separator: &str) -> String {
        let mut joined = String::new();
        for (i, s) in self.iter().enumerate() {
            if i > 0 {
                joined.push_str(separator);
            }
            joined.push_str(s);
        }
        joined
    }

    /// The strings as owned `String`s.
    #[must_use]
    pub fn to_vec(&self) -> Vec<String> {
        self.iter().map(str::to_owned).collect()
    }
}

impl<'a> IntoIterator for Strings<'a> {
    type Item = &'a str;
    type IntoIter = StringsIter<'a>;

    fn into_iter(self) -> StringsIter<'a> {
        self.iter()
    }
}

impl<'a> IntoIterator for &Strings<'a> {
    type Item = &'a str;
    type IntoIter = StringsIter<'a>;

    fn into_iter(self) -> StringsIter<'a> {
        self.iter()
    }
}

impl fmt::Debug for Strings<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.iter()).finish()
    }
}

impl PartialEq for Strings<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Strings<'_> {}

impl<S: AsRef<str>> PartialEq<[S]> for Strings<'_> {
    fn eq(&self, other: &[S]) -> bool {
        self.iter().eq(other.iter().map(AsRef::as_ref))
    }
}

impl<S: AsRef<str>> PartialEq<&[S]> for Strings<'_> {
    fn eq(&self, other: &&[S]) -> bool {
        *self == **other
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<[S; N]> for Strings<'_> {
    fn eq(&self, other: &[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>, const N: usize> PartialEq<&[S; N]> for Strings<'_> {
    fn eq(&self, other: &&[S; N]) -> bool {
        *self == other[..]
    }
}

impl<S: AsRef<str>> PartialEq<Vec<S>> for Strings<'_> {
    fn eq(&self, other: &Vec<S>) -> bool {
        *self == other[..]
    }
}

/// A JSON array of strings.
impl serde::Serialize for Strings<'_> {
    fn serialize<Ser: serde::Serializer>(&self, serializer: Ser) -> Result<Ser::Ok, Ser::Error> {
        serializer.collect_seq(self.iter())
    }
}

/// The iterator of [`Strings`]. `Debug` shows the strings it has left.
#[derive(Clone)]
pub struct StringsIter<'a> {
    text: &'a str,
    spans: std::slice::Iter<'a, Span>,
}

impl<'a> Iterator for StringsIter<'a> {
    type Item = &'a str;

    fn next(&mut self) -> Option<&'a str> {
        self.spans.next().map(|span| span.of(self.text))
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        self.spans.size_hint()
    }
}

impl fmt::Debug for StringsIter<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list().entries(self.clone()).finish()
    }
}

impl DoubleEndedIterator for StringsIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.spans.next_back().map(|span| span.of(self.text))
    }
}

impl ExactSizeIterator for StringsIter<'_> {}

impl std::iter::FusedIterator for StringsIter<'_> {}

/// The builder's setters of single-valued string fields, written once: each entry is the
/// setter's docs, its name and parameter, and the [`Field`] it sets.
macro_rules! field_setters {
    ($(
        $(#[$attr:meta])*
        $name:ident($arg:ident) => $field:ident;
    )*) => {
        $(
            $(#[$attr])*
            pub fn $name(self, $arg: impl AsRef<str>) -> Self {
                self.set(Field::$field, $arg.as_ref())
            }
        )*
    };
}

/// Builder for [`AuthInfo`], used by [`TokenVerifier`] implementations.
///
/// [`TokenVerifier`]: crate::TokenVerifier
#[must_use]
pub struct AuthInfoBuilder {
    /// Every string given, one after another (one replaced stays, unused).
    text: String,
    /// The audiences (the first `audiences`), then the scopes.
    lists: Vec<Span>,
    audiences: usize,
    fields: [Option<Span>; FIELDS],
    expires_at: Option<SystemTime>,
    claims: Claims,
}

impl Default for AuthInfoBuilder {
    fn default() -> Self {
        Self {
            text: String::new(),
            lists: Vec::new(),
            audiences: 0,
            fields: [None; FIELDS],
            expires_at: None,
            claims: Claims::default(),
        }
    }
}

impl fmt::Debug for AuthInfoBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let field = |field: Field| self.fields[field as usize].map(|span| span.of(&self.text));
        let list = |spans: &[Span]| -> Vec<&str> {
            let mut seen = std::collections::HashSet::new();
            // Repeats that `build` would drop are not shown.
            spans
                .iter()
                .map(|span| span.of(&self.text))
                .filter(|s| seen.insert(*s))
                .collect()
        };
        f.debug_struct("AuthInfoBuilder")
            .field("subject", &field(Field::Subject))
            .field("client_id", &field(Field::ClientId))
            .field("issuer", &field(Field::Issuer))
            .field("scopes", &list(&self.lists[self.audiences..]))
            .field("audiences", &list(&self.lists[..self.audiences]))
            .field("expires_at", &self.expires_at)
            .field("token_id", &field(Field::TokenId))
            .field("key_thumbprint", &field(Field::KeyThumbprint))
            .field(
                "certificate_thumbprint",
                &field(Field::CertificateThumbprint),
            )
            .field("claims", &ClaimNames(&self.claims, &self.text))
            .finish()
    }
}

impl AuthInfoBuilder {
    /// Appends `s` to the text.
    fn push(&mut self, s: &str) -> Span {
        let start = self.text.len();
        self.text.push_str(s);
        Span {
            start,
            end: self.text.len(),
        }
    }

    fn set(mut self, field: Field, value: &str) -> Self {
        self.set_field(field, value);
        self
    }

    /// Sets `field`. The builder is large: a verifier filling in many fields calls this and
    /// [`add_scopes`](Self::add_scopes) and [`add_audience`](Self::add_audience) rather than
    /// the setters, which move the whole builder each.
    pub(crate) fn set_field(&mut self, field: Field, value: &str) {
        self.fields[field as usize] = Some(self.push(value));
    }

    /// [`scopes`](Self::scopes), in place: each scope once, where it first came.
    ///
    /// While few scopes are kept, each new one is compared with them; past
    /// [`FEW_SCOPES`], repeats are kept and [`build`](Self::build) finds them by sorting
    /// once, so that thousands of scopes cost n log n and not n², however many calls add
    /// them (the claims of a token whose key cannot be had are checked before any signature
    /// is: a `503`, never cached).
    pub(crate) fn add_scopes<I>(&mut self, scopes: I)
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for scope in scopes {
            let scope = scope.as_ref();
            let kept = &self.lists[self.audiences..];
            if scope.is_empty()
                || (kept.len() <= FEW_SCOPES
                    && kept.iter().any(|span| span.of(&self.text) == scope))
            {
                continue;
            }
            let span = self.push(scope);
            self.lists.push(span);
        }
    }

    /// Drops each scope that came before (its later copies), keeping the order. (Their text
    /// stays, unused.)
    fn drop_repeated_scopes(&mut self) {
        let (text, audiences) = (&self.text, self.audiences);
        let scopes = &self.lists[audiences..];
        // By text, the first of equal scopes first.
        let mut order: Vec<usize> = (0..scopes.len()).collect();
        order.sort_unstable_by(|&a, &b| scopes[a].of(text).cmp(scopes[b].of(text)).then(a.cmp(&b)));
        let mut repeated = vec![false; scopes.len()];
        for pair in order.windows(2) {
            if scopes[pair[0]].of(text) == scopes[pair[1]].of(text) {
                repeated[pair[1]] = true;
            }
        }
        // `retain` visits every element once, in order.
        let mut at = 0;
        self.lists.retain(|_| {
            let keep = at < audiences || !repeated[at - audiences];
            at += 1;
            keep
        });
    }

    /// [`audience`](Self::audience), in place.
    pub(crate) fn add_audience(&mut self, audience: &str) {
        let span = self.push(audience);
        self.lists.insert(self.audiences, span);
        self.audiences += 1;
    }

    field_setters! {
        /// Sets the subject (`sub`). Defaults to none.
        subject(subject) => Subject;

        /// Sets the client id (`client_id`). Defaults to none.
        client_id(client_id) => ClientId;

        /// Sets the issuer (`iss`). Defaults to none.
        issuer(issuer) => Issuer;
    }

    /// Adds granted scopes; duplicates and empty strings are dropped. Defaults to none.
    pub fn scopes<I>(mut self, scopes: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        self.add_scopes(scopes);
        self
    }

    /// Adds the scopes of an RFC 6749 space-separated `scope` string. Defaults to none.
    pub fn scope_string(self, scope: &str) -> Self {
        self.scopes(scope.split(' '))
    }

    /// Adds one audience (`aud`). Defaults to none.
    pub fn audience(mut self, audience: impl AsRef<str>) -> Self {
        self.add_audience(audience.as_ref());
        self
    }

    /// Adds audiences (`aud`). Defaults to none.
    pub fn audiences<I>(mut self, audiences: I) -> Self
    where
        I: IntoIterator,
        I::Item: AsRef<str>,
    {
        for audience in audiences {
            self.add_audience(audience.as_ref());
        }
        self
    }

    /// Sets the expiry (`exp`). Defaults to none.
    pub fn expires_at(mut self, expires_at: SystemTime) -> Self {
        self.expires_at = Some(expires_at);
        self
    }

    field_setters! {
        /// Sets the token identifier (`jti`). Defaults to none.
        token_id(token_id) => TokenId;

        /// Sets the thumbprint of the key the token is bound to (`cnf.jkt`). Defaults to none.
        key_thumbprint(jkt) => KeyThumbprint;

        /// Sets the thumbprint of the client certificate the token is bound to
        /// (`cnf.x5t#S256`). Defaults to none.
        certificate_thumbprint(thumbprint) => CertificateThumbprint;
    }

    /// Adds a claim that has no dedicated accessor. Defaults to none.
    pub fn claim(mut self, name: impl Into<String>, value: Value) -> Self {
        let mut claims = mem::take(&mut self.claims).into_map(&self.text);
        claims.insert(name.into(), value);
        self.claims = claims.into();
        self
    }

    /// Sets all other claims at once, replacing those added before. Defaults to none.
    pub fn claims(mut self, claims: Map<String, Value>) -> Self {
        self.claims = claims.into();
        self
    }

    /// Sets all other claims at once as the JSON text of a verified token's claims (an object
    /// without duplicate names), leaving out the names in `left_out`: they are read when
    /// first asked for. The text is kept with the other strings, in one allocation.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn claims_json(&mut self, json: &str, left_out: Arc<[String]>) {
        let span = self.push(json);
        self.claims = Claims {
            map: OnceLock::new(),
            json: Some((span, left_out)),
        };
    }

    /// Reserves room for `bytes` more bytes of strings and `listed` more audiences and scopes:
    /// a verifier that knows what it will add saves regrowing them, and `build` finds them
    /// the right size.
    #[cfg_attr(not(feature = "http-client"), allow(dead_code))]
    pub(crate) fn reserve(&mut self, bytes: usize, listed: usize) {
        self.text.reserve_exact(bytes);
        self.lists.reserve_exact(listed);
    }

    /// Finishes the [`AuthInfo`].
    #[must_use]
    pub fn build(mut self) -> AuthInfo {
        // Past the few compared one by one, scopes may repeat.
        if self.lists.len() - self.audiences > FEW_SCOPES {
            self.drop_repeated_scopes();
        }
        AuthInfo {
            inner: Arc::new(Inner {
                checked_by: AtomicU64::new(0),
                set: self
                    .fields
                    .iter()
                    .enumerate()
                    .filter(|(_, span)| span.is_some())
                    .fold(0, |set, (at, _)| set | field_bit(at)),
                text: self.text.into_boxed_str(),
                lists: self.lists.into_boxed_slice(),
                audiences: self.audiences,
                fields: self.fields,
                expires_at: self.expires_at,
                claims: self.claims,
                principal_key: OnceLock::new(),
            }),
        }
    }
}

#[cfg(feature = "axum")]
mod extract {
    use axum::{
        extract::{FromRequestParts, OptionalFromRequestParts},
        http::{StatusCode, request::Parts},
    };

    use super::AuthInfo;

    /// Extracts the [`AuthInfo`] the layer inserted.
    ///
    /// Rejects with `500 Internal Server Error` when it is missing, since that means the handler
    /// is not behind [`McpAuth`](crate::McpAuth) (or sits on a public path): a server
    /// misconfiguration, not a client error. Use `Option<AuthInfo>` on routes that may be public.
    impl<S: Send + Sync> FromRequestParts<S> for AuthInfo {
        type Rejection = (StatusCode, &'static str);

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Self, Self::Rejection> {
            parts.extensions.get::<Self>().cloned().ok_or((
                StatusCode::INTERNAL_SERVER_ERROR,
                "missing AuthInfo: is the route behind the McpAuth layer?",
            ))
        }
    }

    impl<S: Send + Sync> OptionalFromRequestParts<S> for AuthInfo {
        type Rejection = std::convert::Infallible;

        async fn from_request_parts(
            parts: &mut Parts,
            _state: &S,
        ) -> Result<Option<Self>, Self::Rejection> {
            Ok(parts.extensions.get::<Self>().cloned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scopes_are_deduplicated_and_empty_ones_dropped() {
        let info = AuthInfo::builder().scope_string("a  b a").build();
        assert_eq!(info.scopes(), ["a", "b"]);
        let info = AuthInfo::builder()
            .scopes(["", "c", "c", "a"])
            .scopes(["b", "a", "", "b"])
            .audiences(["r1"])
            .audiences(vec!["r2".to_owned()])
            .build();
        assert_eq!(info.scopes(), ["c", "a", "b"]);
        assert_eq!(info.audiences(), ["r1", "r2"]);
    }

    #[test]
    fn many_scopes_are_deduplicated_in_first_order() {
        // Past the few compared one by one, and across calls: each scope once, where it
        // first came, whatever the repeats.
        for count in [FEW_SCOPES - 1, FEW_SCOPES, FEW_SCOPES + 1, 3_000] {
            let names: Vec<String> = (0..count).map(|i| format!("s{i}")).collect();
            let repeats = names.iter().rev().step_by(3).chain(names.iter().step_by(2));
            let info = AuthInfo::builder()
                .audience("r1")
                .scopes(names.iter().chain(repeats.clone()))
                .scopes(["", "x"])
                .scopes(repeats.chain(&names).chain([&names[0], &names[0]]))
                .scope_string("y x  y")
                .audience("r2")
                .build();
            let mut expected: Vec<&str> = names.iter().map(String::as_str).collect();
            expected.extend(["x", "y"]);
            assert_eq!(info.scopes(), expected.as_slice(), "{count} scopes");
            assert_eq!(info.audiences(), ["r1", "r2"], "{count} scopes");
            // One scope a call, each twice: the same.
            let mut builder = AuthInfo::builder();
            for name in names.iter().chain(&names) {
                builder = builder.scopes([name]);
            }
            let shown = format!("{builder:?}");
            let info = builder.build();
            assert_eq!(
                info.scopes(),
                &expected[..count],
                "{count} scopes, one a call"
            );
            assert_eq!(shown.matches("\"s0\"").count(), 1, "Debug shows no repeat");
        }
    }

    #[test]
    fn each_field_set_alone_reads_back_alone() {
        type Set = fn(AuthInfoBuilder) -> AuthInfoBuilder;
        let setters: [(&str, Set); FIELDS] = [
            ("key_thumbprint", |b| b.key_thumbprint("v")),
            ("certificate_thumbprint", |b| b.certificate_thumbprint("v")),
            ("subject", |b| b.subject("v")),
            ("client_id", |b| b.client_id("v")),
            ("issuer", |b| b.issuer("v")),
            ("token_id", |b| b.token_id("v")),
        ];
        for (at, (name, set)) in setters.iter().enumerate() {
            let info = set(AuthInfo::builder()).build();
            let read = [
                info.key_thumbprint(),
                info.certificate_thumbprint(),
                info.subject(),
                info.client_id(),
                info.issuer(),
                info.token_id(),
            ];
            for (other, value) in read.iter().enumerate() {
                let expected = (other == at).then_some("v");
                assert_eq!(*value, expected, "{name} set, field {other} read");
            }
        }
        let none = AuthInfo::builder().build();
        assert_eq!(none.key_thumbprint(), None);
        assert_eq!(none.certificate_thumbprint(), None);
    }

    #[test]
    fn every_field_and_list_reads_back_from_the_one_text() {
        let info = AuthInfo::builder()
            .scopes(["s1"])
            .audience("a1")
            .subject("first")
            .subject("second")
            .scopes(["s2", "s1"])
            .audiences(["a2", ""])
            .issuer("")
            .client_id("c")
            .token_id("j")
            .key_thumbprint("k")
            .certificate_thumbprint("x")
            .build();
        assert_eq!(
            info.subject(),
            Some("second"),
            "a field set twice keeps the last"
        );
        assert_eq!(
            info.issuer(),
            Some(""),
            "an empty field is not an absent one"
        );
        assert_eq!(
            [info.client_id(), info.token_id(), info.key_thumbprint()],
            [Some("c"), Some("j"), Some("k")]
        );
        assert_eq!(info.certificate_thumbprint(), Some("x"));
        assert_eq!(info.scopes(), ["s1", "s2"]);
        assert_eq!(info.audiences(), ["a1", "a2", ""]);
        assert_eq!(info.audiences().get(1), Some("a2"));
        assert_eq!(info.audiences().get(3), None);
        assert_eq!(info.scopes().iter().rev().collect::<Vec<_>>(), ["s2", "s1"]);
        assert_eq!(info.scopes().iter().len(), 2);
        assert_eq!(info.scopes().join(" "), "s1 s2");
        assert!(info.has_scope("s2") && !info.has_scope("s") && !info.has_scope("a1"));
        assert_eq!(
            serde_json::to_value(info.scopes()).ok(),
            Some(serde_json::json!(["s1", "s2"]))
        );
        assert_eq!(format!("{:?}", info.scopes()), r#"["s1", "s2"]"#);
        let mut rest = info.audiences().iter();
        rest.next();
        assert_eq!(
            format!("{rest:?}"),
            r#"["a2", ""]"#,
            "only what is left, not the text"
        );
        #[allow(clippy::op_ref)] // what code written for `&[String]` compares with
        let by_ref = info.scopes() == &["s1", "s2"];
        assert!(by_ref);

        let none = AuthInfo::builder().build();
        assert_eq!([none.subject(), none.issuer(), none.client_id()], [None; 3]);
        assert!(none.scopes().is_empty() && none.audiences().is_empty());
        assert_eq!(none.scopes().join(" "), "");
        assert_eq!(none.audiences(), Vec::<String>::new());
    }

    #[test]
    fn principal_key_is_unambiguous() {
        let one = AuthInfo::builder().issuer("a\",\"b").subject("c").build();
        let two = AuthInfo::builder().issuer("a").subject("b\",\"c").build();
        assert_ne!(one.principal_key(), two.principal_key());
        assert_eq!(AuthInfo::builder().build().principal_key(), None);
    }

    #[test]
    fn claims_given_as_json_are_read_on_first_use_without_the_left_out_ones() {
        let json = r#"{"sub":"s","email":"a@example.com","n":1}"#;
        let left_out: Arc<[String]> = Arc::new(["sub".to_owned()]);
        let with_json = || {
            let mut builder = AuthInfo::builder().subject("s").scopes(["a", "b"]);
            builder.claims_json(json, Arc::clone(&left_out));
            builder
        };
        let info = with_json().issuer("i").build();
        assert!(info.inner.claims.map.get().is_none(), "not read yet");
        assert_eq!(info.claim("email"), Some(&Value::from("a@example.com")));
        assert_eq!(info.claims().len(), 2);
        assert_eq!(info.claim("sub"), None);
        // The strings set before and after the JSON text read as they were set.
        assert_eq!(info.subject(), Some("s"));
        assert_eq!(info.issuer(), Some("i"));
        assert_eq!(info.scopes(), ["a", "b"]);
        assert_eq!(format!("{info:?}").matches("email").count(), 1);
        assert!(!format!("{info:?}").contains("a@example.com"));
        // A claim added after them joins them; claims set after them replace them.
        let added = with_json().claim("extra", Value::Bool(true)).build();
        assert_eq!(added.claims().len(), 3);
        let replaced = with_json().claims(Map::new()).build();
        assert!(replaced.claims().is_empty());
    }

    #[test]
    fn debug_shows_claim_names_not_values() {
        let info = AuthInfo::builder()
            .claim("email", Value::from("alice@example.com"))
            .build();
        let debug = format!("{info:?}");
        assert!(debug.contains("email"));
        assert!(!debug.contains("alice@example.com"));
    }
}
