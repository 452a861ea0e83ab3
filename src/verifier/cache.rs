//! The token cache of the network verifiers: a token seen before costs a keyed hash and a
//! lookup, not a signature check or a call to the authorization server.
//!
//! Entries are keyed by a 128-bit SipHash-1-3 of the token under a random key of the cache
//! ([`TokenKey`]), never by the token itself. Accepted tokens live until their `exp` and no
//! longer than a maximum (so that a revoked token, or a key removed from the issuer's set,
//! stops being honoured within that time); refusals live for a short negative TTL. "Cannot
//! decide now" is never cached. Concurrent requests with the same new token can share one
//! verification.
//!
//! The cache is this crate's own rather than a general-purpose one (moka, which the crate used
//! before), because it sits on every request: a hit is one read lock on one of 16 shards, one
//! lookup in a compact index ([`Index`]) and one clock read (the monotonic clock, for the TTL;
//! the wall clock, for `exp`, is read at most once a millisecond: [`WallClock`]), with no
//! bookkeeping queue to feed, and a new entry is one write lock. When the cache is full, a new
//! entry takes the place of an expired one or of one not used since the clock hand last
//! passed it (CLOCK, an approximation of least recently used): a token in use stays, one seen
//! once goes first.
//!
//! When the entry the hand stops at is still live, a token seen for the first time is
//! verified but not kept, and the hand stays where it is ([`Shard::admit`]). The token is
//! remembered by a 16-bit fingerprint in a slot of its own (per shard, a power of two of
//! slots at least the shard's share of the capacity: 32 KiB in all for the default 10,000
//! entries), and is kept the next time it is verified, in the place of an entry not used
//! since the hand last passed it; if a token turned away in between took its slot, it waits
//! for one more. As with moka's TinyLFU admission, tokens used once (a "one-hit wonder", a
//! flood of them) do not push out live entries, and cost their verification and no more:
//! writing a new entry over one that no request touched for a long time costs more than the
//! rest of the cache together (about 0.8 µs here), because every line of both is out of the
//! CPU's caches. The price: while the hand rests on a live entry, a token in use is verified
//! twice (more under a flood that takes its slot) before it is kept.

use std::{
    collections::{HashMap, hash_map::RandomState},
    fmt,
    future::Future,
    hash::{BuildHasher, Hash, Hasher},
    mem,
    sync::{
        Arc, Mutex, PoisonError, RwLock,
        atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering, fence},
    },
    time::{Duration, Instant, SystemTime},
};

use siphasher::sip128::{Hasher128, SipHasher13};
use tokio::sync::OnceCell;

use super::VerifyError;
use crate::AuthInfo;

/// What a verifier concluded about a token, as far as it can be remembered.
#[derive(Clone, Debug)]
pub(crate) enum Verdict {
    /// The token is valid, and this is what it says.
    Accepted(AuthInfo),
    /// The token is not acceptable.
    Refused(VerifyError),
    /// A verdict learnt from another replica, to be forgotten at `until` (when the replica
    /// that asked forgets it), however long it would be kept by itself.
    Until(Box<Self>, SystemTime),
}

impl Verdict {
    /// Sorts a verification result: an invalid token is a verdict, "cannot decide" is not.
    pub(crate) fn from_result(result: Result<AuthInfo, VerifyError>) -> Result<Self, VerifyError> {
        match result {
            Ok(info) => Ok(Self::Accepted(info)),
            Err(err) if err.is_invalid_token() => Ok(Self::Refused(err)),
            Err(err) => Err(err),
        }
    }

    /// This verdict, to be forgotten at `until` at the latest.
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn until(self, until: SystemTime) -> Self {
        Self::Until(Box::new(self), until)
    }

    fn into_result(self) -> Result<AuthInfo, VerifyError> {
        match self {
            Self::Accepted(info) => Ok(info),
            Self::Refused(err) => Err(err),
            Self::Until(verdict, _) => verdict.into_result(),
        }
    }
}

/// A bounded cache of verdicts. Cheap to clone.
#[derive(Clone)]
pub(crate) struct TokenCache {
    store: Option<Arc<Store>>,
    max_ttl: Duration,
    negative_ttl: Duration,
    /// The verifier it serves, for metrics.
    verifier: &'static str,
    /// Whether concurrent misses on one token share one verification.
    single_flight: bool,
}

impl TokenCache {
    /// A cache of at most `capacity` entries: accepted tokens kept at most `max_ttl`, refusals
    /// `negative_ttl`. A zero capacity or `max_ttl` turns caching (and the sharing of
    /// concurrent verifications) off.
    pub(crate) fn new(
        verifier: &'static str,
        capacity: u64,
        max_ttl: Duration,
        negative_ttl: Duration,
    ) -> Self {
        let store = (capacity > 0 && !max_ttl.is_zero())
            .then(|| Arc::new(Store::new(usize::try_from(capacity).unwrap_or(usize::MAX))));
        Self {
            store,
            max_ttl: max_ttl.min(LONGEST_TTL),
            negative_ttl: negative_ttl.min(LONGEST_TTL),
            verifier,
            single_flight: true,
        }
    }

    /// Concurrent misses on one token each verify it, instead of waiting for one
    /// verification: for a verifier that works locally, sharing costs more than it saves.
    #[cfg_attr(not(feature = "jwt"), allow(dead_code))]
    pub(crate) fn without_single_flight(mut self) -> Self {
        self.single_flight = false;
        self
    }

    /// The cached verdict on `token`, or the one `verify` reaches. Concurrent callers with the
    /// same token share one `verify` (unless turned off); its `Err` ("cannot decide") is
    /// handed to each of them and not kept.
    ///
    /// A hit is answered without waiting. The verification's state is part of this future:
    /// a caller whose verification is large (an introspection call) boxes it, so that only a
    /// miss allocates it.
    pub(crate) async fn get_or_verify<F>(
        &self,
        token: &str,
        verify: impl FnOnce() -> F,
    ) -> Result<AuthInfo, VerifyError>
    where
        F: Future<Output = Result<Verdict, VerifyError>>,
    {
        match self.lookup(token) {
            Ok(cached) => cached,
            Err(miss) => self.verify_missed(miss, verify).await,
        }
    }

    /// The cached acceptance of `token`, if there is one: what
    /// [`get_or_verify`](Self::get_or_verify) would answer now without calling `verify`.
    /// Only a hit is counted: for anything else the caller goes on to `get_or_verify`, which
    /// counts its own lookup.
    pub(crate) fn cached(&self, token: &str) -> Option<AuthInfo> {
        let store = self.store.as_ref()?;
        let info = store.get(store.key(token))?.into_result().ok()?;
        crate::observe::token_cache(self.verifier, true);
        Some(info)
    }

    /// [`get_or_verify`](Self::get_or_verify) for a verification that does not wait: the
    /// cached verdict on `token`, or the one `verify` reaches in place, kept as
    /// [`insert`](Self::insert) says. `None` when there is none and `verify` cannot tell
    /// without waiting (it returns `None`): then the miss is not counted, since the
    /// `get_or_verify` that follows counts its own.
    ///
    /// Concurrent callers with the same token each verify it: sharing is for verifications
    /// that wait, which this never runs.
    pub(crate) fn get_or_verify_now(
        &self,
        token: &str,
        verify: impl FnOnce() -> Option<Result<Verdict, VerifyError>>,
    ) -> Option<Result<AuthInfo, VerifyError>> {
        let miss = match self.lookup(token) {
            Ok(cached) => return Some(cached),
            Err(miss) => miss,
        };
        let verified = verify()?;
        if let (Some(store), Miss(Some(key))) = (&self.store, miss) {
            self.count_miss(&verified);
            if let Ok(verdict) = &verified {
                self.insert(store, key, verdict);
            }
        }
        Some(verified.and_then(Verdict::into_result))
    }

    /// Counts a lookup that found nothing, once the verification says whose the token is: one
    /// foreign to this verifier (another verifier's, in a chain) is not a miss of its cache.
    fn count_miss(&self, verified: &Result<Verdict, VerifyError>) {
        if !verified.as_ref().is_err_and(VerifyError::is_foreign_token) {
            crate::observe::token_cache(self.verifier, false);
        }
    }

    /// The cached verdict on `token`, without waiting; or the [`Miss`], with the key to keep
    /// the verdict under (for [`verify_missed`](Self::verify_missed) and
    /// [`get_or_verify_now`](Self::get_or_verify_now)).
    fn lookup(&self, token: &str) -> Result<Result<AuthInfo, VerifyError>, Miss> {
        let Some(store) = &self.store else {
            return Err(Miss(None));
        };
        let key = store.key(token);
        if let Some(verdict) = store.get(key) {
            crate::observe::token_cache(self.verifier, true);
            return Ok(verdict.into_result());
        }
        // A miss is counted by the caller, once the verification says whose the token is.
        Err(Miss(Some(key)))
    }

    /// The verdict `verify` reaches on the token [`lookup`](Self::lookup) missed, kept as
    /// [`insert`](Self::insert) says. Concurrent callers with the same token share one `verify`
    /// (unless turned off); its `Err` ("cannot decide") is handed to each of them and not
    /// kept.
    async fn verify_missed<F>(
        &self,
        miss: Miss,
        verify: impl FnOnce() -> F,
    ) -> Result<AuthInfo, VerifyError>
    where
        F: Future<Output = Result<Verdict, VerifyError>>,
    {
        let (Some(store), Miss(Some(key))) = (&self.store, miss) else {
            return verify().await?.into_result();
        };
        let verified = if self.single_flight {
            let flight = Flight::join(store, key);
            let shared = flight
                .cell()
                .get_or_init(|| async {
                    // The flight before this one may have just landed.
                    if let Some(verdict) = store.get(key) {
                        return Ok(verdict);
                    }
                    let verified = verify().await;
                    if let Ok(verdict) = &verified {
                        self.insert(store, key, verdict);
                    }
                    verified
                })
                .await
                .clone();
            drop(flight);
            shared
        } else {
            let verified = verify().await;
            if let Ok(verdict) = &verified {
                self.insert(store, key, verdict);
            }
            verified
        };
        self.count_miss(&verified);
        verified?.into_result()
    }

    /// Keeps `verdict`, if at all: for the cache's own TTL ([`own_ttl`](Self::own_ttl)) on
    /// the monotonic clock, and until its wall-clock limit (`exp`), which every hit checks.
    /// A verdict whose limit has passed already (accepted within the verifier's leeway) is
    /// not kept.
    fn insert(&self, store: &Store, key: TokenKey, verdict: &Verdict) {
        let ttl = self.own_ttl(verdict);
        if ttl.is_zero() {
            return;
        }
        let now = store.now();
        let deadline = Deadline {
            // `ttl` is at most `LONGEST_TTL`: no overflow.
            at: now.mono.saturating_add(nanos(ttl)),
            wall: wall_limit(verdict).map_or(NO_WALL_LIMIT, since_unix_epoch),
        };
        if !deadline.passed(now) {
            store.insert(key, Stored::from(verdict), deadline, now);
        }
    }

    /// The TTL this cache gives `verdict`, whatever its wall-clock limit: `max_ttl` for an
    /// accepted token, `negative_ttl` for a refusal.
    fn own_ttl(&self, verdict: &Verdict) -> Duration {
        match verdict {
            Verdict::Accepted(_) => self.max_ttl,
            Verdict::Refused(_) => self.negative_ttl,
            Verdict::Until(verdict, _) => self.own_ttl(verdict),
        }
    }

    /// How long `verdict` is kept: accepted tokens until `exp` and at most `max_ttl`,
    /// refusals `negative_ttl`, a verdict from another replica no longer than it says. (What
    /// an answer shared with other replicas is kept for.)
    #[cfg_attr(not(feature = "introspection"), allow(dead_code))]
    pub(crate) fn ttl(&self, verdict: &Verdict) -> Duration {
        let now = SystemTime::now();
        match verdict {
            Verdict::Accepted(info) => match info.expires_at() {
                Some(exp) => exp
                    .duration_since(now)
                    .unwrap_or(Duration::ZERO)
                    .min(self.max_ttl),
                None => self.max_ttl,
            },
            Verdict::Refused(_) => self.negative_ttl,
            Verdict::Until(verdict, until) => self
                .ttl(verdict)
                .min(until.duration_since(now).unwrap_or(Duration::ZERO)),
        }
    }

    /// The number of entries that have not expired (for tests).
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.store.as_ref().map_or(0, |store| store.live())
    }
}

impl fmt::Debug for TokenCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TokenCache")
            .field("capacity", &self.store.as_ref().map(|store| store.capacity))
            .field("max_ttl", &self.max_ttl)
            .field("negative_ttl", &self.negative_ttl)
            .finish()
    }
}

/// A token [`TokenCache::lookup`] did not find, and the key its verdict is to be kept under
/// (none when the cache is off).
struct Miss(Option<TokenKey>);

/// The longest an entry is kept, whatever the settings say (so that no deadline overflows).
const LONGEST_TTL: Duration = super::LONGEST;

/// The latest wall-clock time `verdict` may be used: the token's `exp`, and the time another
/// replica forgets it.
fn wall_limit(verdict: &Verdict) -> Option<SystemTime> {
    match verdict {
        Verdict::Accepted(info) => info.expires_at(),
        Verdict::Refused(_) => None,
        Verdict::Until(verdict, until) => {
            Some(wall_limit(verdict).map_or(*until, |limit| limit.min(*until)))
        }
    }
}

/// When an entry stops being used: a TTL on the monotonic clock (`max_ttl`, `negative_ttl`:
/// a step of the system clock neither shortens nor stretches them), and the wall-clock times
/// the token itself names (`exp`, checked against the clock that `exp` is read against).
///
/// Both in nanoseconds, so that an [`Entry`] fits in a cache line: the monotonic one since
/// the store was made ([`Store::now`]), the wall-clock one since the Unix epoch
/// ([`NO_WALL_LIMIT`] for none; a time before the epoch counts as the epoch, long passed).
/// 2^64 ns is 584 years: more than [`LONGEST_TTL`] and than any `exp` of this millennium.
#[derive(Clone, Copy)]
struct Deadline {
    at: u64,
    wall: u64,
}

/// [`Deadline::wall`] when the entry has no wall-clock limit.
const NO_WALL_LIMIT: u64 = u64::MAX;

impl Deadline {
    fn passed(&self, now: Now) -> bool {
        // `now.wall` is never `NO_WALL_LIMIT`.
        self.at <= now.mono || self.wall <= now.wall
    }
}

/// A moment on both clocks, as [`Store::now`] reads them: nanoseconds on the monotonic clock
/// since the store was made, and since the Unix epoch on the wall clock (never
/// [`NO_WALL_LIMIT`]).
#[derive(Clone, Copy)]
struct Now {
    mono: u64,
    wall: u64,
}

/// The wall clock as a store reads it: the monotonic clock is read each time, the wall clock
/// at most once every [`WALL_READ_EVERY`] (a millisecond of the monotonic clock). The two
/// advance together (a frequency correction slews both) but for a step of the wall clock, so
/// in between, the wall clock's time is the monotonic one plus the difference last read: a
/// hit judges `exp` by the wall clock as it was at most a millisecond ago. (The monotonic
/// clock stops while the machine sleeps: for the first millisecond after a resume, that is
/// the wall clock from before the sleep.)
///
/// The difference and the monotonic time it was read at are one pair, published under a
/// sequence number (a seqlock): a reader takes both from one read, or reads the wall clock
/// itself; one writer at a time publishes a pair it read after it won the right to.
struct WallClock {
    /// Odd while a pair is written.
    seq: AtomicU64,
    /// The wall clock's nanoseconds since the Unix epoch less the monotonic clock's.
    offset: AtomicU64,
    /// The monotonic time `offset` was read at.
    read_at: AtomicU64,
}

/// How old the difference between the two clocks that [`WallClock`] uses may be: how late a
/// store may notice a step of the wall clock.
const WALL_READ_EVERY: u64 = 1_000_000;

impl WallClock {
    /// The pair read now (the monotonic clock at 0: when the store was made).
    fn new() -> Self {
        Self {
            seq: AtomicU64::new(0),
            offset: AtomicU64::new(since_unix_epoch(SystemTime::now())),
            read_at: AtomicU64::new(0),
        }
    }

    /// The wall clock at monotonic `mono`, in nanoseconds since the Unix epoch.
    fn at(&self, mono: u64) -> u64 {
        let (seq, pair) = self.pair();
        match pair {
            Some((offset, read_at)) if mono.saturating_sub(read_at) < WALL_READ_EVERY => {
                offset.saturating_add(mono)
            }
            _ => self.read(mono, seq),
        }
    }

    /// The sequence number, and the pair published under it (`offset`, `read_at`): none while
    /// one is written, or if one was published as it was read.
    fn pair(&self) -> (u64, Option<(u64, u64)>) {
        let seq = self.seq.load(Ordering::Acquire);
        if !seq.is_multiple_of(2) {
            return (seq, None);
        }
        let offset = self.offset.load(Ordering::Relaxed);
        let read_at = self.read_at.load(Ordering::Relaxed);
        // The pair is read before the sequence number is read again.
        fence(Ordering::Acquire);
        let same = self.seq.load(Ordering::Relaxed) == seq;
        (seq, same.then_some((offset, read_at)))
    }

    /// Reads the wall clock, and publishes the pair if the sequence number is still `seq`
    /// (even): no other writer came first.
    fn read(&self, mono: u64, seq: u64) -> u64 {
        if seq.is_multiple_of(2)
            && self
                .seq
                .compare_exchange(seq, seq + 1, Ordering::Acquire, Ordering::Relaxed)
                .is_ok()
        {
            // Read after the right to write was won: a pair never older than the writer's.
            // `mono` was read before it: the offset errs high, so the estimate runs ahead and
            // an entry expires early, never late.
            let wall = since_unix_epoch(SystemTime::now());
            self.offset
                .store(wall.saturating_sub(mono), Ordering::Relaxed);
            self.read_at.store(mono, Ordering::Relaxed);
            self.seq.store(seq + 2, Ordering::Release);
            return wall;
        }
        since_unix_epoch(SystemTime::now())
    }
}

/// A duration in nanoseconds, saturating.
fn nanos(duration: Duration) -> u64 {
    u64::try_from(duration.as_nanos()).unwrap_or(u64::MAX)
}

/// A wall-clock time in nanoseconds since the Unix epoch: 0 before it, and never
/// [`NO_WALL_LIMIT`] (an `exp` after 2554 is still a limit, if one the monotonic TTL reaches
/// first).
fn since_unix_epoch(time: SystemTime) -> u64 {
    time.duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |since| nanos(since).min(NO_WALL_LIMIT - 1))
}

/// A verdict as an entry keeps it: an accepted token's [`AuthInfo`] as it is (one pointer),
/// anything else boxed, so that an [`Entry`] fits in a cache line. The wall-clock limit of a
/// [`Verdict::Until`] is in the entry's [`Deadline`] already.
enum Stored {
    Accepted(AuthInfo),
    Other(Box<Verdict>),
}

impl Stored {
    fn from(verdict: &Verdict) -> Self {
        match verdict {
            Verdict::Accepted(info) => Self::Accepted(info.clone()),
            Verdict::Until(inner, _) => Self::from(inner),
            other => Self::Other(Box::new(other.clone())),
        }
    }

    fn verdict(&self) -> Verdict {
        match self {
            Self::Accepted(info) => Verdict::Accepted(info.clone()),
            Self::Other(verdict) => (**verdict).clone(),
        }
    }
}

/// What a token is cached under: its 128-bit SipHash-1-3 under the cache's random key.
///
/// What the key must do: a token that is not byte for byte a cached one must not find that
/// entry. To exploit a collision, an attacker would need a token whose key equals the key of
/// a cached token they do not have (had they the token, they would use it), under a hash key
/// that never leaves the process, with no output to learn from but "hit or miss" on their own
/// tokens: a blind guess at a 128-bit value, which any keyed pseudorandom function makes as
/// hard as 2^128 tries over the cache's size. SipHash is such a function (its 1-3 variant is
/// the one the standard library keys its hash maps with), and costs ~0.13 µs for an
/// 800-byte token here, against ~0.43 µs for SHA-256, on every request. A collision between
/// two of the attacker's own tokens gains nothing: the entry found is the identity of the
/// token that made it. Where a key is shared between replicas (in Redis) and so cannot be
/// keyed per process, the SHA-256 of the token is used instead.
#[derive(Clone, Copy, PartialEq, Eq)]
struct TokenKey(u128);

/// Only the low 64 bits pick a bucket: they are uniformly distributed and secret already;
/// equality still compares all 128.
impl Hash for TokenKey {
    fn hash<H: Hasher>(&self, state: &mut H) {
        #[allow(clippy::cast_possible_truncation)] // the low half, on purpose
        state.write_u64(self.0 as u64);
    }
}

/// The [`BuildHasher`] of maps keyed by [`TokenKey`]: its word, as it is.
#[derive(Clone, Copy, Default)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedWord;

    fn build_hasher(&self) -> PrehashedWord {
        PrehashedWord(0)
    }
}

/// The [`Hasher`] of [`Prehashed`].
struct PrehashedWord(u64);

impl Hasher for PrehashedWord {
    fn write_u64(&mut self, word: u64) {
        self.0 = word;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used by `TokenKey`; correct for anything else, if not keyed.
        for &b in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(b);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

/// The shards of one cache. A token's shard is picked by the high bits of its key.
struct Store {
    shards: Box<[RwLock<Shard>]>,
    /// When the store was made: [`Deadline::at`] counts from here.
    epoch: Instant,
    wall: WallClock,
    /// The SipHash key.
    key: (u64, u64),
    /// The entries of every shard together, against `capacity`.
    len: AtomicUsize,
    capacity: usize,
    /// Verifications under way, for the callers that share them.
    flights: Mutex<HashMap<TokenKey, Arc<OnceCell<Shared>>, Prehashed>>,
}

/// The outcome of a verification that concurrent callers share.
type Shared = Result<Verdict, VerifyError>;

/// One shard: the entries in a ring the clock hand walks, their index, and the tokens turned
/// away once ([`admit`](Self::admit)).
#[derive(Default)]
struct Shard {
    index: Index,
    entries: Vec<Entry>,
    hand: usize,
    /// 16-bit fingerprints of the tokens not admitted, one slot each by their key: a later
    /// token with the same slot overwrites it. Allocated the first time the shard is full: a
    /// power of two of slots, at least the shard's share of the capacity and 32 (2 KiB a
    /// shard for the default 10,000 entries).
    turned_away: Box<[u16]>,
}

/// Where each entry of a shard sits in its ring: an open-addressing table (linear probing) of
/// 8-byte words, a 32-bit tag of the key and the entry's place in the ring. A lookup reads the
/// word, then the entry, whose full key decides; a tag that matches another key (2^-32 a
/// word) costs one more entry read, never a wrong answer.
///
/// Why not a `HashMap<TokenKey, usize>`: its buckets (the 16-byte key and the place, 32
/// bytes) came to 512 KiB for the default 10,000 entries, against 256 KiB of words here
/// (2,048 a shard); with 10,000 tokens in rotation, the bucket a lookup read was a miss of the
/// CPU's caches on most requests, before the entry's own.
#[derive(Default)]
struct Index {
    /// A power of two of words, at least twice the entries (so a probe stops soon at an empty
    /// word); empty until the first entry.
    words: Box<[u64]>,
}

/// An empty word of an [`Index`]: a word in use holds the entry's place plus one.
const EMPTY: u64 = 0;

impl Index {
    /// The tag of `key`: its low 32 bits, whose low bits also pick the word a probe starts at.
    fn tag(key: TokenKey) -> u32 {
        #[allow(clippy::cast_possible_truncation)] // the low bits, on purpose
        let tag = key.0 as u32;
        tag
    }

    fn word(tag: u32, slot: usize) -> u64 {
        // `slot` < `MAX_ENTRIES`: `slot + 1` fits in the low half.
        (u64::from(tag) << 32) | (slot as u64 + 1)
    }

    fn mask(&self) -> usize {
        self.words.len().wrapping_sub(1)
    }

    /// Where a probe for `tag` starts.
    fn home(&self, tag: u32) -> usize {
        tag as usize & self.mask()
    }

    /// The place in `entries` of the entry under `key`.
    fn find(&self, key: TokenKey, entries: &[Entry]) -> Option<usize> {
        if self.words.is_empty() {
            return None;
        }
        let tag = Self::tag(key);
        let mut at = self.home(tag);
        loop {
            let word = self.words[at];
            if word == EMPTY {
                return None;
            }
            #[allow(clippy::cast_possible_truncation)] // the two halves of the word
            if (word >> 32) as u32 == tag {
                let slot = (word as u32 - 1) as usize;
                if entries.get(slot).is_some_and(|entry| entry.key == key) {
                    return Some(slot);
                }
            }
            at = (at + 1) & self.mask();
        }
    }

    /// Notes that the entry under `key` is at `slot` of `entries`, where it is already.
    fn insert(&mut self, key: TokenKey, slot: usize, entries: &[Entry]) {
        if entries.len() * 2 > self.words.len() {
            self.grow(entries);
        } else {
            self.put(Self::word(Self::tag(key), slot));
        }
    }

    fn put(&mut self, word: u64) {
        #[allow(clippy::cast_possible_truncation)] // the tag half
        let mut at = self.home((word >> 32) as u32);
        while self.words[at] != EMPTY {
            at = (at + 1) & self.mask();
        }
        self.words[at] = word;
    }

    /// Twice the words, or more, for `entries`, each noted again.
    fn grow(&mut self, entries: &[Entry]) {
        let words = (entries.len() * 2).max(16).next_power_of_two();
        self.words = vec![EMPTY; words].into();
        for (slot, entry) in entries.iter().enumerate() {
            self.put(Self::word(Self::tag(entry.key), slot));
        }
    }

    /// Forgets that the entry under `key` is at `slot`. The words after it that a probe
    /// could no longer reach move back into the gap, so that no probe stops short of its
    /// entry (deletion by backward shift: no tombstones to sweep).
    fn remove(&mut self, key: TokenKey, slot: usize) {
        if self.words.is_empty() {
            return;
        }
        let word = Self::word(Self::tag(key), slot);
        let mask = self.mask();
        let mut gap = self.home(Self::tag(key));
        loop {
            match self.words[gap] {
                EMPTY => return,
                found if found == word => break,
                _ => gap = (gap + 1) & mask,
            }
        }
        let mut next = (gap + 1) & mask;
        loop {
            let word = self.words[next];
            if word == EMPTY {
                break;
            }
            #[allow(clippy::cast_possible_truncation)] // the tag half
            let home = self.home((word >> 32) as u32);
            // The word may fill the gap if its probe passes the gap on its way: its home is
            // no nearer to it than the gap is.
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(gap) & mask {
                self.words[gap] = word;
                gap = next;
            }
            next = (next + 1) & mask;
        }
        self.words[gap] = EMPTY;
    }
}

/// One cache line: what a hit reads is never split across two.
#[repr(align(64))]
struct Entry {
    key: TokenKey,
    verdict: Stored,
    /// When the entry stops being used.
    deadline: Deadline,
    /// Set by each hit; cleared by the clock hand passing: an entry the hand finds clear has
    /// not been used for a whole turn, and is the next to give way.
    referenced: AtomicBool,
}

const _: () = assert!(size_of::<Entry>() == 64, "an entry is one cache line");

/// Caches up to this size have one shard: their capacity is exact.
const SHARDED_FROM: usize = 1_024;
const SHARDS: usize = 16;
/// The most entries a shard holds: an [`Index`] word keeps an entry's place in 32 bits.
const MAX_ENTRIES: usize = (u32::MAX - 1) as usize;
/// The most slots of [`Shard::turned_away`]: 128 KiB a shard.
const MAX_TURNED_AWAY: usize = 1 << 16;

impl Store {
    fn new(capacity: usize) -> Self {
        let shards = if capacity >= SHARDED_FROM { SHARDS } else { 1 };
        // The standard library's per-process random keys, without another dependency.
        let random = RandomState::new();
        Self {
            shards: (0..shards).map(|_| RwLock::default()).collect(),
            epoch: Instant::now(),
            wall: WallClock::new(),
            key: (random.hash_one(0_u8), random.hash_one(1_u8)),
            len: AtomicUsize::new(0),
            capacity,
            flights: Mutex::new(HashMap::default()),
        }
    }

    fn key(&self, token: &str) -> TokenKey {
        let mut hasher = SipHasher13::new_with_keys(self.key.0, self.key.1);
        hasher.write(token.as_bytes());
        TokenKey(hasher.finish128().as_u128())
    }

    /// Now, on both clocks: a hit reads one clock ([`WallClock`]).
    fn now(&self) -> Now {
        self.at(nanos(self.epoch.elapsed()))
    }

    /// [`now`](Self::now), with the monotonic clock read already.
    fn at(&self, mono: u64) -> Now {
        Now {
            mono,
            wall: self.wall.at(mono).min(NO_WALL_LIMIT - 1),
        }
    }

    fn shard(&self, key: TokenKey) -> &RwLock<Shard> {
        #[allow(clippy::cast_possible_truncation)] // the top bits, on purpose
        let high = (key.0 >> 64) as usize;
        &self.shards[high % self.shards.len()]
    }

    /// The verdict kept under `key`, unless it expired.
    fn get(&self, key: TokenKey) -> Option<Verdict> {
        let shard = self
            .shard(key)
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let entry = &shard.entries[shard.index.find(key, &shard.entries)?];
        // The clock is read only for an entry found: a miss (every new token) needs no time.
        if entry.deadline.passed(self.now()) {
            return None;
        }
        // Written only when it changes: hits on a hot entry leave its cache line alone.
        if !entry.referenced.load(Ordering::Relaxed) {
            entry.referenced.store(true, Ordering::Relaxed);
        }
        Some(entry.verdict.verdict())
    }

    /// Keeps `verdict` under `key` until `deadline`. When the cache is full it takes the place
    /// of an entry of the same shard that has expired, or of one not used for a turn of the
    /// clock hand if [`Shard::admit`] lets it in; otherwise it is not kept.
    /// `now` is [`now`](Self::now), read by the caller.
    fn insert(&self, key: TokenKey, verdict: Stored, deadline: Deadline, now: Now) {
        let mut guard = self
            .shard(key)
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        let replaced = self.insert_locked(&mut guard, key, verdict, deadline, now);
        // What a replaced entry holds is freed after the lock is released.
        drop(guard);
        drop(replaced);
    }

    /// [`insert`](Self::insert) under the shard's lock; returns the verdict it replaced.
    fn insert_locked(
        &self,
        shard: &mut Shard,
        key: TokenKey,
        verdict: Stored,
        deadline: Deadline,
        now: Now,
    ) -> Option<Stored> {
        if let Some(slot) = shard.index.find(key, &shard.entries) {
            let entry = &mut shard.entries[slot];
            entry.deadline = deadline;
            return Some(mem::replace(&mut entry.verdict, verdict));
        }
        let entry = Entry {
            key,
            verdict,
            deadline,
            referenced: AtomicBool::new(false),
        };
        let full = self
            .len
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |len| {
                (len < self.capacity).then_some(len + 1)
            })
            .is_err();
        if !full && shard.entries.len() < MAX_ENTRIES {
            shard.entries.push(entry);
            shard
                .index
                .insert(key, shard.entries.len() - 1, &shard.entries);
            return None;
        }
        if !full {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        // Full (or this shard holds all an index can), and nothing in this shard to replace
        // (the other shards hold the capacity): the verdict is not kept.
        let slot = shard.victim(now)?;
        let per_shard = self.capacity / self.shards.len();
        if !shard.entries[slot].deadline.passed(now) && !shard.admit(key, per_shard) {
            // The hand stays: the next new token finds the same place without a walk.
            shard.hand = slot;
            return None;
        }
        shard.index.remove(shard.entries[slot].key, slot);
        let old = mem::replace(&mut shard.entries[slot], entry);
        shard.index.insert(key, slot, &shard.entries);
        Some(old.verdict)
    }

    #[cfg(test)]
    fn live(&self) -> usize {
        let now = self.now();
        self.shards
            .iter()
            .map(|shard| {
                let shard = shard.read().unwrap_or_else(PoisonError::into_inner);
                shard
                    .entries
                    .iter()
                    .filter(|e| !e.deadline.passed(now))
                    .count()
            })
            .sum()
    }
}

impl Shard {
    /// Whether the token under `key` may take the place of a live entry: only if it was turned
    /// away before. Otherwise it is remembered as turned away, and is admitted the next time
    /// (unless another token took its slot in between: then it waits for one more).
    ///
    /// A fingerprint shared by another token only lets that token in on its first sight.
    /// `capacity` is the shard's share of the cache's, for the size of the list.
    fn admit(&mut self, key: TokenKey, capacity: usize) -> bool {
        if self.turned_away.is_empty() {
            let slots = capacity.clamp(32, MAX_TURNED_AWAY).next_power_of_two();
            self.turned_away = vec![0; slots].into();
        }
        let (slot, fingerprint) = self.turned_away_slot(key);
        let slot = &mut self.turned_away[slot];
        if *slot == fingerprint {
            *slot = 0;
            true
        } else {
            *slot = fingerprint;
            false
        }
    }

    /// Where [`turned_away`](Self::turned_away) (allocated) keeps the token under `key`, and
    /// its fingerprint there: the slot is picked by bits 32 and up of the key, the
    /// fingerprint is its low 16 bits (never 0, which marks a free slot). The shard is picked
    /// by the high 64 bits, the [`Index`] word by the low 32: the slot's bits are
    /// independent of both.
    fn turned_away_slot(&self, key: TokenKey) -> (usize, u16) {
        #[allow(clippy::cast_possible_truncation)] // parts of the key, on purpose
        let (slot, fingerprint) = ((key.0 >> 32) as usize, (key.0 as u16) | 1);
        (slot & (self.turned_away.len() - 1), fingerprint)
    }

    /// The slot the clock hand picks: the first expired entry or entry without its reference
    /// bit, clearing the bits it passes. Two turns at most: after one, every bit is clear.
    fn victim(&mut self, now: Now) -> Option<usize> {
        let len = self.entries.len();
        for _ in 0..2 * len {
            let slot = self.hand % len;
            self.hand = slot + 1;
            let entry = &mut self.entries[slot];
            let referenced = mem::take(entry.referenced.get_mut());
            if !referenced || entry.deadline.passed(now) {
                return Some(slot);
            }
        }
        None
    }
}

/// A caller's part in the shared verification of one token.
///
/// A verification that has ended is never joined: a caller that finds one listed starts a
/// new one (its answer may be an error, which is not kept, or older than the cache entry it
/// made, since gone). The last participant to leave (with its answer, or cancelled) takes the
/// verification off the list, so the list holds only verifications someone waits for.
struct Flight<'a> {
    store: &'a Store,
    key: TokenKey,
    /// Ours until we leave; given back under the list's lock.
    result: Option<Arc<OnceCell<Shared>>>,
}

impl<'a> Flight<'a> {
    fn join(store: &'a Store, key: TokenKey) -> Self {
        let mut flights = store.flights.lock().unwrap_or_else(PoisonError::into_inner);
        let listed = flights.entry(key).or_default();
        if listed.initialized() {
            *listed = Arc::default();
        }
        let result = Some(Arc::clone(listed));
        Flight { store, key, result }
    }

    fn cell(&self) -> &OnceCell<Shared> {
        // Taken only by `drop`.
        self.result
            .as_deref()
            .expect("a flight's cell lives until it is dropped")
    }
}

impl Drop for Flight<'_> {
    fn drop(&mut self) {
        let mut flights = self
            .store
            .flights
            .lock()
            .unwrap_or_else(PoisonError::into_inner);
        let Some(ours) = self.result.take() else {
            return;
        };
        let listed = flights.get(&self.key);
        let ours_listed = listed.is_some_and(|listed| Arc::ptr_eq(listed, &ours));
        // Every clone is taken and given back under this lock, so once ours is gone the count
        // says exactly whether anyone else still takes part.
        drop(ours);
        if ours_listed && listed.is_some_and(|listed| Arc::strong_count(listed) == 1) {
            flights.remove(&self.key);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[test]
    fn wall_clock_limits_in_nanoseconds_never_read_as_none() {
        let epoch = SystemTime::UNIX_EPOCH;
        assert_eq!(
            since_unix_epoch(epoch + Duration::from_secs(2)),
            2_000_000_000
        );
        // Before the epoch: long passed.
        assert_eq!(since_unix_epoch(epoch - Duration::from_secs(1)), 0);
        // After 2554, where nanoseconds overflow: the latest limit there is, still a limit.
        let far = epoch + Duration::from_secs(1 << 40);
        assert_eq!(since_unix_epoch(far), NO_WALL_LIMIT - 1);
        let deadline = Deadline {
            at: u64::MAX,
            wall: since_unix_epoch(far),
        };
        assert!(!deadline.passed(at(0)));
        let passed = Deadline {
            at: u64::MAX,
            wall: since_unix_epoch(SystemTime::now() - Duration::from_secs(1)),
        };
        assert!(
            passed.passed(at(0)),
            "a wall-clock limit passed ends the entry"
        );
        assert!(
            Deadline {
                at: 5,
                wall: NO_WALL_LIMIT
            }
            .passed(at(5))
        );
        assert!(
            !Deadline {
                at: 6,
                wall: NO_WALL_LIMIT
            }
            .passed(at(5))
        );
    }

    /// Monotonic `mono`, with the wall clock as it is.
    fn at(mono: u64) -> Now {
        Now {
            mono,
            wall: since_unix_epoch(SystemTime::now()),
        }
    }

    #[test]
    fn a_step_of_the_wall_clock_is_seen_within_a_millisecond() {
        let store = Store::new(8);
        let wall = || since_unix_epoch(SystemTime::now());
        // Ten seconds for a test thread that waits its turn; a step here is an hour.
        let near = |estimate: u64, wall: u64| estimate.abs_diff(wall) < 10_000_000_000;
        let hour = 3_600_000_000_000;
        let now = store.now();
        assert!(near(now.wall, wall()), "{} against {}", now.wall, wall());

        // As if the wall clock had been stepped back an hour since the difference was read:
        // an hour ahead, until it is read again.
        store.wall.offset.fetch_add(hour, Ordering::Relaxed);
        store.wall.read_at.store(now.mono, Ordering::Relaxed);
        let within = now.mono + WALL_READ_EVERY - 1;
        assert!(near(store.at(within).wall, wall() + hour));
        let after = now.mono + WALL_READ_EVERY;
        assert!(near(store.at(after).wall, wall()), "read again");
        assert!(near(store.at(after + 1).wall, wall()));

        // Stepped forward: an entry whose `exp` has passed on the wall clock is seen as such
        // once the difference is read again.
        let read = store.wall.read_at.load(Ordering::Relaxed);
        store.wall.offset.fetch_sub(hour, Ordering::Relaxed);
        let deadline = Deadline {
            at: u64::MAX,
            wall: wall() - hour / 2,
        };
        assert!(!deadline.passed(store.at(read + 1)));
        assert!(deadline.passed(store.at(read + WALL_READ_EVERY)));
    }

    #[test]
    fn the_wall_clock_pair_is_never_read_half_old_half_new() {
        // Writers publish pairs read at monotonic times far apart (0, 2^50, ...): an offset
        // read with the `read_at` of another pair would be off by days. Each pair published
        // sums to the wall clock when it was read.
        let clock = Arc::new(WallClock::new());
        let stop = Arc::new(AtomicBool::new(false));
        let writers: Vec<_> = (0..2_u64)
            .map(|w| {
                let (clock, stop) = (Arc::clone(&clock), Arc::clone(&stop));
                std::thread::spawn(move || {
                    let mut i = 0_u64;
                    while !stop.load(Ordering::Relaxed) {
                        i += 1;
                        let mono = ((i + w) % 3) << 50;
                        let (seq, _) = clock.pair();
                        clock.read(mono, seq);
                    }
                })
            })
            .collect();
        let started = Instant::now();
        let (mut pairs, mut busy) = (0, 0);
        while started.elapsed() < Duration::from_millis(300) {
            match clock.pair() {
                (_, Some((offset, read_at))) => {
                    pairs += 1;
                    let wall = since_unix_epoch(SystemTime::now());
                    let sum = offset.wrapping_add(read_at);
                    assert!(
                        sum <= wall && wall - sum < 10_000_000_000,
                        "torn: {offset} {read_at}"
                    );
                }
                (_, None) => busy += 1,
            }
        }
        stop.store(true, Ordering::Relaxed);
        for writer in writers {
            writer.join().unwrap();
        }
        assert!(pairs > 0, "{pairs} pairs read, {busy} while written");
        assert!(clock.seq.load(Ordering::Relaxed).is_multiple_of(2));
    }

    /// Every entry is found at its place through the index, and the index notes nothing else.
    fn assert_indexed(index: &Index, entries: &[Entry]) {
        for (slot, entry) in entries.iter().enumerate() {
            assert_eq!(index.find(entry.key, entries), Some(slot), "entry {slot}");
        }
        let used = index.words.iter().filter(|&&word| word != EMPTY).count();
        assert_eq!(used, entries.len());
    }

    #[test]
    fn the_index_finds_every_entry_through_collisions_and_removals() {
        // Keys whose low bits (tag and home) repeat, so that probes run long and share tags
        // (with 2 low bits, every home is at the start of the table), wrap around its end
        // (with 8, homes near the end) and close gaps; and a ring of entries replaced at
        // random, as the clock hand does.
        let mut seed = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = || {
            seed ^= seed << 13;
            seed ^= seed >> 7;
            seed ^= seed << 17;
            seed
        };
        let verdict = accepted_until(None);
        let entry = |key: TokenKey| Entry {
            key,
            verdict: Stored::from(&verdict),
            deadline: Deadline { at: 0, wall: 0 },
            referenced: AtomicBool::new(false),
        };
        for low_bits in [3_u64, 0xff, 0xffff_ffff] {
            let key =
                |random: u64| TokenKey((u128::from(random) << 64) | u128::from(random & low_bits));
            let mut index = Index::default();
            let mut entries: Vec<Entry> = Vec::new();
            for round in 0..3_000 {
                if entries.len() < 200 && round % 3 != 2 {
                    entries.push(entry(key(next())));
                    let slot = entries.len() - 1;
                    index.insert(entries[slot].key, slot, &entries);
                } else {
                    #[allow(clippy::cast_possible_truncation)]
                    let slot = next() as usize % entries.len();
                    index.remove(entries[slot].key, slot);
                    let new = key(next());
                    entries[slot] = entry(new);
                    index.insert(new, slot, &entries);
                }
                assert_indexed(&index, &entries);
                let absent = key(next());
                assert!(!entries.iter().any(|entry| entry.key == absent));
                assert_eq!(index.find(absent, &entries), None);
            }
            assert!(index.words.len() >= 2 * entries.len());
        }
    }

    fn accepted_until(exp: Option<SystemTime>) -> Verdict {
        let mut info = AuthInfo::builder().subject("alice");
        if let Some(exp) = exp {
            info = info.expires_at(exp);
        }
        Verdict::Accepted(info.build())
    }

    fn cache(capacity: u64) -> TokenCache {
        TokenCache::new(
            "test",
            capacity,
            Duration::from_secs(60),
            Duration::from_secs(5),
        )
    }

    #[test]
    fn keys_are_keyed_per_cache_and_never_the_token() {
        let (one, two) = (Store::new(10), Store::new(10));
        let key = one.key("secret-token");
        assert!(key == one.key("secret-token"));
        assert!(key != one.key("secret-tokeN"), "every byte counts");
        assert!(key != two.key("secret-token"), "another cache, another key");
        assert!(!key.0.to_le_bytes().windows(6).any(|w| w == b"secret"));
    }

    #[tokio::test]
    async fn a_hit_does_not_verify_and_a_refusal_is_kept_for_the_negative_ttl() {
        let cache = cache(10);
        let calls = AtomicUsize::new(0);
        let alice = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(None))
        };
        let refuse = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Verdict::Refused(VerifyError::invalid_token("no")))
        };
        for _ in 0..3 {
            let info = cache.get_or_verify("a", alice).await.unwrap();
            assert_eq!(info.subject(), Some("alice"));
            assert!(cache.get_or_verify("b", refuse).await.is_err());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2, "one verification a token");
        assert_eq!(cache.len(), 2);
        // `cached` answers the acceptance only: a kept refusal, or a token never seen, is
        // left to `get_or_verify`.
        assert_eq!(
            cache.cached("a").as_ref().and_then(AuthInfo::subject),
            Some("alice")
        );
        assert!(cache.cached("b").is_none(), "a refusal");
        assert!(cache.cached("c").is_none(), "never seen");
        let off = TokenCache::new("test", 0, Duration::from_secs(60), Duration::ZERO);
        assert!(off.get_or_verify("a", alice).await.is_ok());
        assert!(off.cached("a").is_none(), "a cache of no entries");
    }

    #[test]
    fn entries_live_until_exp_capped_by_max_ttl() {
        let policy = cache(10);
        let now = SystemTime::now();
        // Before the cap: until `exp` (less the few instants since `now`).
        let until_exp = policy.ttl(&accepted_until(Some(now + Duration::from_secs(20))));
        assert!(until_exp <= Duration::from_secs(20), "{until_exp:?}");
        assert!(until_exp > Duration::from_secs(19), "{until_exp:?}");
        // Beyond the cap, or without `exp`: the cap.
        assert_eq!(
            policy.ttl(&accepted_until(Some(now + Duration::from_secs(3600)))),
            policy.max_ttl
        );
        assert_eq!(policy.ttl(&accepted_until(None)), policy.max_ttl);
        // Already expired (or a clock step past it): gone at once.
        assert_eq!(
            policy.ttl(&accepted_until(Some(now - Duration::from_secs(1)))),
            Duration::ZERO
        );
        // Refusals: the negative TTL, whatever else.
        let refused = Verdict::Refused(VerifyError::invalid_token("token is not active"));
        assert_eq!(policy.ttl(&refused), policy.negative_ttl);
        // Another replica's verdict: no longer than that replica keeps it.
        let shared = accepted_until(None).until(now + Duration::from_secs(7));
        let ttl = policy.ttl(&shared);
        assert!(
            ttl <= Duration::from_secs(7) && ttl > Duration::from_secs(6),
            "{ttl:?}"
        );
    }

    #[tokio::test]
    async fn entries_are_dropped_at_exp() {
        let cache = TokenCache::new("test", 100, Duration::from_secs(3600), Duration::ZERO);
        let calls = AtomicUsize::new(0);
        let exp = SystemTime::now() + Duration::from_secs(1);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(Some(exp)))
        };
        assert!(cache.get_or_verify("token-a", verify).await.is_ok());
        assert!(cache.get_or_verify("token-a", verify).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1, "the second call is a hit");
        tokio::time::sleep(Duration::from_millis(1_200)).await;
        assert!(cache.get_or_verify("token-a", verify).await.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            2,
            "gone at exp, verified again"
        );
    }

    #[tokio::test]
    async fn refusals_live_for_the_negative_ttl_and_errors_not_at_all() {
        let cache = cache(100);
        let calls = AtomicUsize::new(0);
        let unavailable = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Err(VerifyError::unavailable("down"))
        };
        for _ in 0..3 {
            let err = cache
                .get_or_verify("unknown", unavailable)
                .await
                .expect_err("unavailable");
            assert!(err.is_unavailable());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3, "errors are not cached");
        assert_eq!(cache.len(), 0);
        let off = TokenCache::new("test", 100, Duration::from_secs(60), Duration::ZERO);
        let refuse = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(Verdict::Refused(VerifyError::invalid_token("no")))
        };
        assert!(off.get_or_verify("bad", refuse).await.is_err());
        assert!(off.get_or_verify("bad", refuse).await.is_err());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            5,
            "no negative TTL: no refusal kept"
        );
        assert_eq!(off.len(), 0);
    }

    #[tokio::test]
    async fn caching_off_verifies_every_time() {
        let off = TokenCache::new("test", 0, Duration::from_secs(60), Duration::ZERO);
        let calls = AtomicUsize::new(0);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(None))
        };
        for _ in 0..2 {
            assert!(off.get_or_verify("y", verify).await.is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn the_capacity_holds_and_a_token_in_use_outlives_one_off_tokens() {
        for capacity in [8_u64, 2_000] {
            let cache = cache(capacity).without_single_flight();
            let calls = AtomicUsize::new(0);
            let verify = || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(accepted_until(None))
            };
            assert!(cache.get_or_verify("hot", verify).await.is_ok());
            for i in 0..capacity * 5 {
                assert!(
                    cache
                        .get_or_verify(&format!("once-{i}"), verify)
                        .await
                        .is_ok()
                );
                // The hot token is used between every two new ones (a hit each time).
                assert!(cache.get_or_verify("hot", verify).await.is_ok());
            }
            let capacity = usize::try_from(capacity).unwrap();
            assert_eq!(calls.load(Ordering::SeqCst), 1 + capacity * 5, "{capacity}");
            assert!(cache.len() <= capacity, "{} > {capacity}", cache.len());
            assert!(
                cache.len() >= capacity.saturating_sub(SHARDS),
                "{} of {capacity}",
                cache.len()
            );
        }
    }

    #[tokio::test]
    async fn a_full_cache_keeps_a_new_token_the_second_time_it_is_verified() {
        let cache = cache(8).without_single_flight();
        let store = cache.store.as_ref().unwrap();
        let kept = |token: &str| store.get(store.key(token)).is_some();
        let calls = AtomicUsize::new(0);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(None))
        };
        let old: Vec<String> = (0..8).map(|i| format!("old-{i}")).collect();
        for token in &old {
            assert!(cache.get_or_verify(token, verify).await.is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 8);

        // Full of live entries, none used since: tokens seen once are verified, not kept, and
        // push nothing out. `b` is a token whose fingerprint has a slot of its own (a token
        // sharing `a`'s would make `a` wait for one more sight).
        assert!(cache.get_or_verify("a", verify).await.is_ok());
        let slot = |token: &str| {
            let shard = store.shard(store.key(token)).read().unwrap();
            shard.turned_away_slot(store.key(token)).0
        };
        let b = (0..)
            .map(|i| format!("b-{i}"))
            .find(|b| slot(b) != slot("a"))
            .unwrap();
        assert!(cache.get_or_verify(&b, verify).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 10);
        assert!(!kept("a") && !kept(&b), "a token seen once is not kept");
        assert_eq!(cache.len(), 8);

        // The hand stays where it stopped, at `old-0`. Used now, `old-0` stays: seen again,
        // `a` is kept in the place of the next entry not used, `old-1` (a hand that had moved
        // on with each token turned away would have passed `old-1` and `old-2`).
        assert!(cache.get_or_verify("old-0", verify).await.is_ok());
        assert!(cache.get_or_verify("a", verify).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 11);
        assert!(cache.get_or_verify("a", verify).await.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 11, "a hit");
        assert!(!kept("old-1"));
        assert!(old.iter().filter(|t| *t != "old-1").all(|t| kept(t)));
        assert!(kept("a") && !kept(&b));
        assert_eq!(cache.len(), 8);

        // A token seen once is not let in by another one's fingerprint in its slot: `c` comes
        // after `d` took the slot `c` shares with it.
        let fingerprint = |token: &str| {
            let shard = store.shard(store.key(token)).read().unwrap();
            shard.turned_away_slot(store.key(token))
        };
        let c = (0..)
            .map(|i| format!("c-{i}"))
            .find(|c| {
                let (c_slot, c_print) = fingerprint(c);
                let (d_slot, d_print) = fingerprint("d");
                c_slot == d_slot && c_print != d_print
            })
            .unwrap();
        assert!(cache.get_or_verify("d", verify).await.is_ok());
        assert!(cache.get_or_verify(&c, verify).await.is_ok());
        assert!(!kept("d") && !kept(&c));

        // Control: with no live entry left to push out (all expired), a new token is kept at
        // once.
        let cache = TokenCache::new("test", 8, Duration::from_secs(1), Duration::ZERO)
            .without_single_flight();
        for token in &old {
            assert!(cache.get_or_verify(token, verify).await.is_ok());
        }
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        let calls_before = calls.load(Ordering::SeqCst);
        assert!(cache.get_or_verify("new", verify).await.is_ok());
        assert!(cache.get_or_verify("new", verify).await.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            calls_before + 1,
            "kept at once"
        );
    }

    #[tokio::test]
    async fn a_verdict_already_past_its_exp_is_not_kept() {
        // Accepted within the verifier's leeway after `exp`: verified each time, never kept.
        let cache = cache(8).without_single_flight();
        let calls = AtomicUsize::new(0);
        let past = SystemTime::now() - Duration::from_secs(1);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(Some(past)))
        };
        for _ in 0..3 {
            assert!(cache.get_or_verify("late", verify).await.is_ok());
        }
        assert_eq!(calls.load(Ordering::SeqCst), 3);
        let store = cache.store.as_ref().unwrap();
        let entries: usize = store
            .shards
            .iter()
            .map(|shard| shard.read().unwrap().entries.len())
            .sum();
        assert_eq!(entries, 0);
    }

    #[tokio::test]
    async fn a_working_set_that_fits_stays_whatever_the_shards_hold() {
        // 2,000 tokens in a cache of 2,000 spread unevenly over 16 shards: all stay.
        let cache = cache(2_000).without_single_flight();
        let calls = AtomicUsize::new(0);
        let verify = || async {
            calls.fetch_add(1, Ordering::SeqCst);
            Ok(accepted_until(None))
        };
        for _round in 0..3 {
            for i in 0..2_000 {
                assert!(cache.get_or_verify(&format!("t-{i}"), verify).await.is_ok());
            }
        }
        assert_eq!(calls.load(Ordering::SeqCst), 2_000);
    }

    #[tokio::test]
    async fn an_expired_entry_gives_way_first() {
        let cache = TokenCache::new("test", 2, Duration::from_secs(60), Duration::ZERO)
            .without_single_flight();
        let soon = SystemTime::now() + Duration::from_millis(200);
        let short = || async { Ok(accepted_until(Some(soon))) };
        let long = || async { Ok(accepted_until(None)) };
        assert!(cache.get_or_verify("short", short).await.is_ok());
        assert!(cache.get_or_verify("long", long).await.is_ok());
        // Both used since they came in: neither would give way but for expiry.
        assert!(cache.get_or_verify("short", short).await.is_ok());
        assert!(cache.get_or_verify("long", long).await.is_ok());
        tokio::time::sleep(Duration::from_millis(300)).await;
        assert!(cache.get_or_verify("new", long).await.is_ok());
        let kept = |token| {
            cache
                .store
                .as_ref()
                .unwrap()
                .get(cache.store.as_ref().unwrap().key(token))
                .is_some()
        };
        assert!(kept("long") && kept("new") && !kept("short"));
    }

    #[tokio::test]
    async fn concurrent_misses_share_one_verification_and_its_error() {
        let cache = cache(100);
        let calls = AtomicUsize::new(0);
        let gate = tokio::sync::Notify::new();
        let slow = |answer: Result<Verdict, VerifyError>| {
            let (calls, gate) = (&calls, &gate);
            move || async move {
                calls.fetch_add(1, Ordering::SeqCst);
                gate.notified().await;
                answer
            }
        };
        // Ten callers, one verification, the same "cannot decide" for each.
        let waiting =
            (0..10).map(|_| cache.get_or_verify("t", slow(Err(VerifyError::unavailable("down")))));
        let all = futures_join(waiting, &gate).await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        assert!(
            all.iter()
                .all(|r| r.as_ref().is_err_and(VerifyError::is_unavailable))
        );
        // Not kept, and the flight is off the list: the next caller verifies afresh.
        assert_eq!(flights_listed(&cache), 0);
        let ok = cache
            .get_or_verify("t", || async { Ok(accepted_until(None)) })
            .await;
        assert!(ok.is_ok());
        assert_eq!(
            calls.load(Ordering::SeqCst),
            1,
            "the control is not the slow verifier"
        );
    }

    #[tokio::test]
    async fn a_cancelled_verification_leaves_nothing_behind() {
        let cache = cache(100);
        let never = || std::future::pending::<Result<Verdict, VerifyError>>();
        let cancelled =
            tokio::time::timeout(Duration::from_millis(20), cache.get_or_verify("t", never)).await;
        assert!(cancelled.is_err());
        assert_eq!(flights_listed(&cache), 0);
        let ok = cache
            .get_or_verify("t", || async { Ok(accepted_until(None)) })
            .await;
        assert!(ok.is_ok());
    }

    #[tokio::test]
    async fn an_ended_verification_is_not_joined() {
        // The flight ends with "cannot decide"; its woken waiter has not run yet when a new
        // caller comes: the new caller verifies afresh (the error is not kept).
        let cache = cache(100);
        let gate = tokio::sync::Notify::new();
        let mut leader = Box::pin(cache.get_or_verify("t", || async {
            gate.notified().await;
            Err(VerifyError::unavailable("down"))
        }));
        let mut waiter = Box::pin(cache.get_or_verify("t", || async { unreachable!() }));
        both_wait(leader.as_mut(), waiter.as_mut()).await;
        gate.notify_waiters();
        assert!(leader.await.unwrap_err().is_unavailable());
        let calls = AtomicUsize::new(0);
        let later = cache
            .get_or_verify("t", || async {
                calls.fetch_add(1, Ordering::SeqCst);
                Ok(accepted_until(None))
            })
            .await;
        assert!(later.is_ok());
        assert_eq!(calls.load(Ordering::SeqCst), 1);
        // The waiter still gets the answer of the flight it joined.
        assert!(waiter.await.unwrap_err().is_unavailable());
        assert_eq!(flights_listed(&cache), 0);
    }

    #[tokio::test]
    async fn an_ended_verifications_acceptance_does_not_outlive_exp() {
        let cache = cache(100);
        let exp = SystemTime::now() + Duration::from_millis(100);
        let mut leader = Box::pin(cache.get_or_verify("t", || async {
            tokio::task::yield_now().await;
            Ok(accepted_until(Some(exp)))
        }));
        let mut waiter = Box::pin(cache.get_or_verify("t", || async { unreachable!() }));
        both_wait(leader.as_mut(), waiter.as_mut()).await;
        assert!(leader.await.is_ok());
        tokio::time::sleep(Duration::from_millis(200)).await;
        // Past `exp`, with the waiter not yet run: the token is verified again, and refused.
        let later = cache
            .get_or_verify("t", || async {
                Ok(Verdict::Refused(VerifyError::invalid_token(
                    "token has expired",
                )))
            })
            .await;
        assert!(later.is_err(), "{later:?}");
        drop(waiter);
    }

    #[test]
    fn the_last_participant_to_leave_takes_the_verification_off_the_list() {
        let store = Store::new(100);
        let key = store.key("t");
        let (a, b) = (Flight::join(&store, key), Flight::join(&store, key));
        let _ = a.cell().set(Ok(accepted_until(None)));
        drop(a);
        assert_eq!(store.flights.lock().unwrap().len(), 1, "b still takes part");
        // A caller coming now does not join the ended verification: it starts a new one.
        let c = Flight::join(&store, key);
        assert!(!c.cell().initialized());
        drop(b);
        assert_eq!(store.flights.lock().unwrap().len(), 1, "c still takes part");
        drop(c);
        assert!(store.flights.lock().unwrap().is_empty());
    }

    #[tokio::test]
    async fn settings_beyond_any_clock_are_kept_for_a_long_time_not_a_panic() {
        let cache = TokenCache::new("test", 10, Duration::MAX, Duration::MAX);
        let refuse = || async { Ok(Verdict::Refused(VerifyError::invalid_token("no"))) };
        assert!(cache.get_or_verify("bad", refuse).await.is_err());
        let accept = || async { Ok(accepted_until(None)) };
        assert!(cache.get_or_verify("good", accept).await.is_ok());
        assert_eq!(cache.len(), 2, "both kept");
        assert_eq!(cache.ttl(&accepted_until(None)), LONGEST_TTL);
    }

    /// Verifications under way, listed for callers to join.
    fn flights_listed(cache: &TokenCache) -> usize {
        cache
            .store
            .as_ref()
            .map_or(0, |store| store.flights.lock().unwrap().len())
    }

    /// Polls a leader and a waiter of one flight once each: both must wait.
    async fn both_wait<A: Future, B: Future>(
        mut leader: std::pin::Pin<&mut A>,
        mut waiter: std::pin::Pin<&mut B>,
    ) {
        std::future::poll_fn(|cx| {
            assert!(leader.as_mut().poll(cx).is_pending());
            assert!(waiter.as_mut().poll(cx).is_pending());
            std::task::Poll::Ready(())
        })
        .await;
    }

    /// Polls every future until each waits on `gate`, then opens it and collects the results.
    async fn futures_join<F: Future>(
        futures: impl Iterator<Item = F>,
        gate: &tokio::sync::Notify,
    ) -> Vec<F::Output> {
        let mut set: Vec<_> = futures.map(Box::pin).collect();
        let mut results: Vec<Option<F::Output>> = set.iter().map(|_| None).collect();
        // One round of polls: every caller joins the flight (the first one waits on the gate).
        std::future::poll_fn(|cx| {
            for (fut, result) in set.iter_mut().zip(&mut results) {
                if let std::task::Poll::Ready(out) = fut.as_mut().poll(cx) {
                    *result = Some(out);
                }
            }
            std::task::Poll::Ready(())
        })
        .await;
        gate.notify_waiters();
        std::future::poll_fn(|cx| {
            let mut pending = false;
            for (fut, result) in set.iter_mut().zip(&mut results) {
                if result.is_none() {
                    match fut.as_mut().poll(cx) {
                        std::task::Poll::Ready(out) => *result = Some(out),
                        std::task::Poll::Pending => pending = true,
                    }
                }
            }
            if pending {
                std::task::Poll::Pending
            } else {
                std::task::Poll::Ready(())
            }
        })
        .await;
        results.into_iter().flatten().collect()
    }
}
