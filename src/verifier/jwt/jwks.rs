//! The remote key cache of one issuer: a JWK set fetched from the authorization server and
//! kept current, and its refresh policy.
//!
//! The cache fetches lazily, refreshes on the schedule the server's `Cache-Control` asks for
//! (clamped), refreshes early on an unknown `kid` at most once per minimum interval with one
//! request in flight shared by every waiting caller, and keeps the last good set (for a
//! bounded time) when a refresh fails.

use std::{
    fmt,
    sync::{Arc, RwLock},
    time::{Duration, Instant, SystemTime},
};

use serde_json::Value;
use tokio::sync::OwnedMutexGuard;
use url::Url;

use super::{
    algorithm::Algorithm,
    keys::{Key, KeySet, Selection},
};
use crate::{
    resource::redacted_url,
    verifier::{
        VerifyError,
        discovery::{self, AuthorizationServerMetadata},
        http::{FetchError, HttpClient, cache_max_age},
    },
};

/// How often a remote key set is refreshed.
#[derive(Clone, Copy, Debug)]
pub(crate) struct RefreshPolicy {
    /// Used when the response has no usable `Cache-Control: max-age`.
    pub(crate) default_interval: Duration,
    /// Lower bound for `max-age`, and the minimum time between two fetches.
    pub(crate) min_interval: Duration,
    /// Upper bound for `max-age`.
    pub(crate) max_interval: Duration,
    /// How long past its refresh time a set is still used while refreshes fail.
    pub(crate) max_staleness: Duration,
}

impl RefreshPolicy {
    /// The policy with every duration at most [`LONGEST`](crate::verifier::LONGEST): a
    /// setting of `Duration::MAX` ("never") then means 100 years, and a refresh time or a
    /// staleness limit computed from it cannot overflow the clock.
    pub(crate) fn bounded(self) -> Self {
        let bound = |d: Duration| d.min(crate::verifier::LONGEST);
        Self {
            default_interval: bound(self.default_interval),
            min_interval: bound(self.min_interval),
            max_interval: bound(self.max_interval),
            max_staleness: bound(self.max_staleness),
        }
    }
}

impl Default for RefreshPolicy {
    /// Five minutes without `max-age`, `max-age` clamped to 30 s – 24 h, one fetch per 30 s
    /// at most, and a set kept for an hour past its refresh time while refreshes fail.
    fn default() -> Self {
        Self {
            default_interval: Duration::from_secs(5 * 60),
            min_interval: Duration::from_secs(30),
            max_interval: Duration::from_secs(24 * 60 * 60),
            max_staleness: Duration::from_secs(60 * 60),
        }
    }
}

/// Where an issuer's keys come from.
pub(crate) enum KeySource {
    Static(Arc<Snapshot>),
    Remote(Arc<RemoteKeys>),
}

impl KeySource {
    /// The key for a token when the set at hand decides without waiting: static keys always,
    /// and a remote set that is usable, not due for a refresh, and has the key or refuses the
    /// token's choice of it. `None` when [`select`](Self::select) must run (no set yet, a
    /// refresh due, or an unknown `kid`): it may fetch.
    ///
    /// Every token whose key is at hand is decided here, so the verifier's future does not
    /// carry `select`'s state (the refresh lock, the fetch task) unless it must wait.
    pub(crate) fn select_now(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Option<Result<SelectedKey, VerifyError>> {
        match self {
            Self::Static(snapshot) => Some(snapshot.pick_fixed(kid, alg)),
            Self::Remote(remote) => remote.select_now(kid, alg),
        }
    }

    /// Picks the key for a token, fetching or refreshing the set when needed.
    ///
    /// `signed_by` is the latest time the token can have been signed (its `iat` plus the
    /// leeway), if it says.
    pub(crate) async fn select(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
        signed_by: Option<SystemTime>,
    ) -> Result<SelectedKey, VerifyError> {
        match self {
            Self::Static(snapshot) => snapshot.pick_fixed(kid, alg),
            Self::Remote(remote) => RemoteKeys::select(remote, kid, alg, signed_by).await,
        }
    }
}

impl fmt::Debug for KeySource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Static(snapshot) => f.debug_tuple("Static").field(&snapshot.keys.len()).finish(),
            Self::Remote(remote) => f.debug_tuple("Remote").field(remote).finish(),
        }
    }
}

/// A key set as loaded at one point in time.
#[derive(Debug)]
pub(crate) struct Snapshot {
    keys: KeySet,
    generation: u64,
    /// When the set was fetched, by the wall clock (to compare with a token's `iat`).
    fetched_at: SystemTime,
    refresh_at: Instant,
    usable_until: Option<Instant>,
}

impl Snapshot {
    /// A set that never expires (static keys).
    pub(crate) fn fixed(keys: KeySet) -> Self {
        let now = Instant::now();
        Self {
            keys,
            generation: 0,
            fetched_at: SystemTime::UNIX_EPOCH,
            refresh_at: now,
            usable_until: None,
        }
    }

    fn usable(&self, now: Instant) -> bool {
        self.usable_until.is_none_or(|until| now < until)
    }

    /// The key in this set for `kid` and `alg`: `Ok(None)` when the set has none that fits
    /// (it may be out of date), an error when the token's choice is refused.
    fn pick(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<Option<SelectedKey>, VerifyError> {
        match self.keys.select(kid, alg) {
            Selection::Found(index) => Ok(Some(SelectedKey {
                snapshot: Arc::clone(self),
                index,
            })),
            Selection::Unknown => Ok(None),
            other => Err(selection_error(&other)),
        }
    }

    /// [`pick`](Self::pick) in a set that is never refreshed (static keys): a key it does not
    /// have is unknown.
    fn pick_fixed(
        self: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Result<SelectedKey, VerifyError> {
        self.pick(kid, alg)?
            .ok_or_else(|| selection_error(&Selection::Unknown))
    }
}

/// A key picked for a token; holds its key set alive.
#[derive(Debug)]
pub(crate) struct SelectedKey {
    snapshot: Arc<Snapshot>,
    index: usize,
}

impl SelectedKey {
    pub(crate) fn key(&self) -> &Key {
        // The index came from `select` on this very snapshot, which is immutable.
        self.snapshot.keys.key_at(self.index)
    }
}

/// A JWK set fetched from the authorization server and kept current.
pub(crate) struct RemoteKeys {
    issuer: String,
    issuer_url: Url,
    jwks_uri: Option<Url>,
    client: HttpClient,
    policy: RefreshPolicy,
    current: RwLock<Option<Arc<Snapshot>>>,
    /// Held for the whole of a fetch, by the task that runs it (see `fetch_detached`).
    refresh: Arc<tokio::sync::Mutex<RefreshState>>,
}

#[derive(Default)]
struct RefreshState {
    generation: u64,
    last_attempt: Option<Instant>,
    last_error: Option<VerifyError>,
    metadata: Option<Arc<AuthorizationServerMetadata>>,
}

impl RemoteKeys {
    /// Keys from `jwks_uri`, or from the `jwks_uri` that discovery on `issuer` finds.
    pub(crate) fn new(
        issuer: String,
        issuer_url: Url,
        jwks_uri: Option<Url>,
        client: HttpClient,
        policy: RefreshPolicy,
    ) -> Self {
        Self {
            issuer,
            issuer_url,
            jwks_uri,
            client,
            policy,
            current: RwLock::new(None),
            refresh: Arc::new(tokio::sync::Mutex::new(RefreshState::default())),
        }
    }

    fn current(&self) -> Option<Arc<Snapshot>> {
        // A poisoned lock only means a panic elsewhere while holding it; the value (an `Arc`
        // swap) is always consistent, so keep using it.
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    fn store(&self, snapshot: Arc<Snapshot>) {
        match self.current.write() {
            Ok(mut guard) => *guard = Some(snapshot),
            Err(poisoned) => *poisoned.into_inner() = Some(snapshot),
        }
    }

    /// What [`select`](Self::select) decides from the current set without waiting, when it
    /// does: the set is usable and not due for a refresh, and has the key or refuses the
    /// token's choice. `None` otherwise (an unknown key may call for a fetch).
    fn select_now(
        &self,
        kid: Option<&str>,
        alg: Algorithm,
    ) -> Option<Result<SelectedKey, VerifyError>> {
        let snapshot = self.current()?;
        let now = Instant::now();
        if !snapshot.usable(now) || now >= snapshot.refresh_at {
            return None;
        }
        snapshot.pick(kid, alg).transpose()
    }

    async fn select(
        this: &Arc<Self>,
        kid: Option<&str>,
        alg: Algorithm,
        signed_by: Option<SystemTime>,
    ) -> Result<SelectedKey, VerifyError> {
        // When this request came, for the rule at the end, read before anything is fetched
        // for it: here when a refresh is due, otherwise when the key was not found (a key
        // found costs no clock read).
        let mut started = None;
        let mut seen_generation = None;
        if let Some(snapshot) = this.current() {
            let now = Instant::now();
            if snapshot.usable(now) {
                let snapshot = if now >= snapshot.refresh_at {
                    started = Some(SystemTime::now());
                    Self::refresh_if_idle(this).await;
                    this.current().unwrap_or(snapshot)
                } else {
                    snapshot
                };
                match snapshot.pick(kid, alg)? {
                    Some(found) => return Ok(found),
                    None => seen_generation = Some(snapshot.generation),
                }
            }
        }

        // No usable set, or the key is unknown: fetch, unless a fetch happened since we looked
        // or one happened too recently. One fetch at a time; the others wait for its result.
        // Nothing was fetched for this request unless `started` was read; a set another
        // request fetched since we looked is newer than the one seen, and is used.
        let started = started.unwrap_or_else(SystemTime::now);
        let mut state = Arc::clone(&this.refresh).lock_owned().await;
        let now = Instant::now();
        let fresh = this
            .current()
            .filter(|s| s.usable(now) && Some(s.generation) != seen_generation);
        let mut held_back = false;
        let snapshot = match fresh {
            Some(snapshot) => Some(snapshot),
            None if this.may_fetch(&state, now) => {
                Self::fetch_detached(this, state).await;
                state = Arc::clone(&this.refresh).lock_owned().await;
                this.current().filter(|s| s.usable(Instant::now()))
            }
            None => {
                held_back = true;
                this.current().filter(|s| s.usable(now))
            }
        };
        let Some(snapshot) = snapshot else {
            return Err(this.unavailable(&state));
        };
        match snapshot.keys.select(kid, alg) {
            Selection::Found(index) => Ok(SelectedKey { snapshot, index }),
            // The newest set does not have the key. If the last fetch failed, the key may be
            // in the set we could not get: that is not the token's fault.
            Selection::Unknown if state.last_error.is_some() => Err(this.unavailable(&state)),
            // A fetch is held back by the rate limit, the set is older than this request, and
            // the token may have been signed with a key published after that set was fetched:
            // undecidable until the next fetch, not invalid. (Keys are published before use: a
            // token signed before the fetch, or a set fetched since the request came, would
            // have the key.)
            Selection::Unknown
                if held_back
                    && snapshot.fetched_at < started
                    && signed_by.is_some_and(|t| t >= snapshot.fetched_at) =>
            {
                Err(this.unavailable(&state))
            }
            other => Err(selection_error(&other)),
        }
    }

    /// Refreshes a set that is due, unless a refresh is already running (then the caller goes
    /// on with the current set) or the last attempt was too recent.
    async fn refresh_if_idle(this: &Arc<Self>) {
        let Ok(state) = Arc::clone(&this.refresh).try_lock_owned() else {
            return;
        };
        let due = this
            .current()
            .is_none_or(|snapshot| Instant::now() >= snapshot.refresh_at);
        if due && this.may_fetch(&state, Instant::now()) {
            Self::fetch_detached(this, state).await;
        }
    }

    /// Runs a fetch in its own task, which holds the refresh lock until the fetch is done.
    ///
    /// The request that started it may be dropped (the client went away, the layer's timeout
    /// fired) without aborting the fetch: otherwise a cancelled fetch would leave no key set and
    /// a recent `last_attempt`, and every request would get `503` until the next allowed fetch.
    async fn fetch_detached(this: &Arc<Self>, mut state: OwnedMutexGuard<RefreshState>) {
        let task_this = Arc::clone(this);
        let task = tokio::spawn(crate::observe::in_current_span(async move {
            // Errors are kept in `state`.
            let _ = task_this.fetch(&mut state).await;
        }));
        // A failed join means the fetch task panicked; the caller reads the state as it is.
        let _ = task.await;
    }

    fn may_fetch(&self, state: &RefreshState, now: Instant) -> bool {
        state
            .last_attempt
            .is_none_or(|last| now.saturating_duration_since(last) >= self.policy.min_interval)
    }

    fn unavailable(&self, state: &RefreshState) -> VerifyError {
        let wait = state.last_attempt.map_or(Duration::ZERO, |last| {
            self.policy.min_interval.saturating_sub(last.elapsed())
        });
        let err = state
            .last_error
            .clone()
            .unwrap_or_else(|| VerifyError::unavailable("signing keys are unavailable"));
        err.with_retry_after(wait.max(Duration::from_secs(1)))
    }

    /// Fetches the key set (discovering the JWKS URL first if needed) and stores it.
    async fn fetch(&self, state: &mut RefreshState) -> Result<(), VerifyError> {
        state.last_attempt = Some(Instant::now());
        let result = self.fetch_inner(state).await;
        crate::observe::jwks_fetch(result.is_ok());
        match &result {
            Ok(snapshot) => {
                state.last_error = None;
                self.store(Arc::clone(snapshot));
            }
            Err(err) => {
                log_warn!(issuer = %self.issuer, error = %err, "JWKS refresh failed");
                state.last_error = Some(err.clone());
            }
        }
        result.map(|_| ())
    }

    /// [`fetch_keys`](Self::fetch_keys); when it fails on a key set found by discovery, the
    /// metadata is dropped too, so that the next attempt (under the same rate limit)
    /// discovers again: a key set moved to another URL, or metadata fixed after naming none
    /// or a bad one, heals without a restart.
    async fn fetch_inner(&self, state: &mut RefreshState) -> Result<Arc<Snapshot>, VerifyError> {
        let fetched = self.fetch_keys(state).await;
        if fetched.is_err() && self.jwks_uri.is_none() {
            state.metadata = None;
        }
        fetched
    }

    async fn fetch_keys(&self, state: &mut RefreshState) -> Result<Arc<Snapshot>, VerifyError> {
        let jwks_uri = match &self.jwks_uri {
            Some(uri) => uri.clone(),
            None => {
                let metadata = self.metadata_locked(state).await?;
                metadata.jwks_url().cloned().ok_or_else(|| {
                    VerifyError::unavailable("signing keys are unavailable")
                        .with_source("authorization server metadata has no jwks_uri")
                })?
            }
        };
        let (document, headers) = self
            .client
            .get_json::<Value>(&jwks_uri)
            .await
            .map_err(fetch_unavailable)?;
        let keys = KeySet::from_jwks(&document).map_err(|reason| {
            VerifyError::unavailable("signing keys are unavailable").with_source(reason)
        })?;
        let policy = self.policy;
        let interval = cache_max_age(&headers)
            .unwrap_or(policy.default_interval)
            .clamp(
                policy.min_interval,
                policy.max_interval.max(policy.min_interval),
            );
        let now = Instant::now();
        state.generation += 1;
        Ok(Arc::new(Snapshot {
            keys,
            generation: state.generation,
            fetched_at: SystemTime::now(),
            refresh_at: now + interval,
            usable_until: Some(now + interval + policy.max_staleness),
        }))
    }

    async fn metadata_locked(
        &self,
        state: &mut RefreshState,
    ) -> Result<Arc<AuthorizationServerMetadata>, VerifyError> {
        if let Some(metadata) = &state.metadata {
            return Ok(Arc::clone(metadata));
        }
        let metadata = discovery::discover(&self.client, &self.issuer, &self.issuer_url)
            .await
            .map(Arc::new)
            .map_err(|err| {
                VerifyError::unavailable("authorization server metadata is unavailable")
                    .with_source(err)
            })?;
        state.metadata = Some(Arc::clone(&metadata));
        Ok(metadata)
    }

    /// The authorization server's metadata: discovered on first use, kept until a fetch of the
    /// key set it names fails.
    pub(crate) async fn metadata(&self) -> Result<Arc<AuthorizationServerMetadata>, VerifyError> {
        let mut state = self.refresh.lock().await;
        self.metadata_locked(&mut state).await
    }
}

impl fmt::Debug for RemoteKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RemoteKeys")
            .field("issuer", &self.issuer)
            .field(
                "jwks_uri",
                &self.jwks_uri.as_ref().map(|uri| redacted_url(uri.as_str())),
            )
            .field("policy", &self.policy)
            .finish_non_exhaustive()
    }
}

fn fetch_unavailable(err: FetchError) -> VerifyError {
    VerifyError::unavailable("signing keys are unavailable").with_source(err)
}

fn selection_error(selection: &Selection) -> VerifyError {
    VerifyError::invalid_token(match selection {
        Selection::Ambiguous => "token signing key is ambiguous",
        Selection::Mismatch => "token algorithm does not match its signing key",
        Selection::Found(_) | Selection::Unknown => "token signing key is unknown",
    })
}
