//! What operators see: `tracing` events and a span per request decision (feature `tracing`,
//! target `mcp_auth`), and counters and histograms through the `metrics` facade (feature
//! `metrics`). Every function here is a no-op without its feature.
//!
//! Nothing here ever records a token, a proof, a secret or a session id: the fields are the
//! decision, its reason (an RFC 6750 or layer error code), and the issuer, subject and client
//! of a verified token.
//!
//! | Metric | Kind | Labels |
//! |---|---|---|
//! | `mcp_auth_requests_total` | counter | `outcome` (`allowed`, `rejected`, `unavailable`), `reason` |
//! | `mcp_auth_verify_seconds` | histogram | `result` (`valid`, `invalid`, `unavailable`) |
//! | `mcp_auth_token_cache_total` | counter | `verifier` (`jwt`, `introspection`), `result` (`hit`, `miss`) |
//! | `mcp_auth_jwks_fetches_total` | counter | `result` (`ok`, `error`) |
//! | `mcp_auth_introspection_requests_total` | counter | `result` (`answered`, `refused`, `error`) |
//! | `mcp_auth_store_errors_total` | counter | `use` (`session`, `dpop`, `introspection`) |

use std::{future::Future, time::Duration};

use crate::{AuthInfo, challenge::AuthError};

/// `metrics::$kind!($name, {fixed labels}, $label => $value)` with `$value` one of the
/// `$choice` literals, so that the key is static. `metrics` keeps a static key only when
/// every label value is a literal; for any other value it builds the key (a `Vec` of labels,
/// hashed) on every call, recorder or not. A value outside the list still counts, through a
/// built key.
#[cfg(feature = "metrics")]
macro_rules! static_key {
    (
        $kind:ident, $name:literal, {},
        $label:literal => $value:expr, [$($choice:literal),+ $(,)?]
    ) => {
        match $value {
            $($choice => metrics::$kind!($name, $label => $choice),)+
            other => metrics::$kind!($name, $label => other),
        }
    };
    (
        $kind:ident, $name:literal, {$fixed:literal => $fixed_value:literal},
        $label:literal => $value:expr, [$($choice:literal),+ $(,)?]
    ) => {
        match $value {
            $($choice => metrics::$kind!($name, $fixed => $fixed_value, $label => $choice),)+
            other => metrics::$kind!($name, $fixed => $fixed_value, $label => other),
        }
    };
}

/// The RFC 6750 and layer error codes a refusal is counted under (`AuthErrorKind::error_code`).
#[cfg(feature = "metrics")]
macro_rules! refusals {
    ($outcome:literal, $reason:expr) => {
        static_key!(
            counter, "mcp_auth_requests_total", {"outcome" => $outcome},
            "reason" => $reason,
            [
                "invalid_request", "invalid_token", "insufficient_scope", "invalid_dpop_proof",
                "use_dpop_nonce", "header_mismatch", "unauthorized", "forbidden_origin",
                "request_too_large", "request_timeout", "session_not_found",
                "unsupported_media_type", "temporarily_unavailable",
            ]
        )
    };
}

/// The span of one request's decision (`mcp_auth` `authorize`); its fields are recorded when
/// the decision is made.
#[cfg(feature = "tracing")]
fn request_span() -> tracing::Span {
    tracing::debug_span!(
        target: "mcp_auth",
        "authorize",
        outcome = tracing::field::Empty,
        reason = tracing::field::Empty,
        issuer = tracing::field::Empty,
        subject = tracing::field::Empty,
        client_id = tracing::field::Empty,
    )
}

/// Runs a request's authorization inside its span, so that verifier events (a JWKS fetch, an
/// introspection call) are attributed to it.
pub(crate) fn in_request_span<F: Future>(authorize: F) -> impl Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    {
        use tracing::Instrument as _;
        authorize.instrument(request_span())
    }
    #[cfg(not(feature = "tracing"))]
    authorize
}

/// Keeps a future that is spawned on behalf of a request (a detached JWKS fetch) in that
/// request's span.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn in_current_span<F: Future>(fut: F) -> impl Future<Output = F::Output> {
    #[cfg(feature = "tracing")]
    {
        use tracing::Instrument as _;
        fut.instrument(tracing::Span::current())
    }
    #[cfg(not(feature = "tracing"))]
    fut
}

/// Runs a decision made from the request line and headers alone inside its span.
pub(crate) fn in_request_span_now<R>(decide: impl FnOnce() -> R) -> R {
    #[cfg(feature = "tracing")]
    return request_span().in_scope(decide);
    #[cfg(not(feature = "tracing"))]
    decide()
}

/// A request passed: its token is valid, meant for this resource, and carries the scopes.
pub(crate) fn allowed(info: &AuthInfo) {
    #[cfg(feature = "tracing")]
    {
        // Only a subscriber sees the span's fields, and finding the current span costs more
        // than asking (an atomic load), on every request that passes. The event below goes out
        // either way (to `log` too, when tracing's `log` feature is on and no subscriber is).
        if tracing::level_enabled!(tracing::Level::DEBUG) {
            let span = tracing::Span::current();
            span.record("outcome", "allowed");
            span.record("issuer", info.issuer());
            span.record("subject", info.subject());
            span.record("client_id", info.client_id());
        }
        tracing::debug!(
            target: "mcp_auth",
            outcome = "allowed",
            issuer = info.issuer(),
            subject = info.subject(),
            client_id = info.client_id(),
            "request authorized"
        );
    }
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_auth_requests_total", "outcome" => "allowed", "reason" => "ok")
        .increment(1);
    let _ = info;
}

/// A request was refused (or could not be decided).
pub(crate) fn rejected(err: &AuthError) {
    let outcome = match err.kind() {
        crate::challenge::AuthErrorKind::VerifierUnavailable => "unavailable",
        _ => "rejected",
    };
    let reason = err.kind().error_code();
    #[cfg(feature = "tracing")]
    {
        let span = tracing::Span::current();
        span.record("outcome", outcome);
        span.record("reason", reason);
        tracing::debug!(
            target: "mcp_auth",
            outcome,
            reason,
            status = err.kind().status().as_u16(),
            description = %err.description(),
            "request rejected"
        );
    }
    #[cfg(feature = "metrics")]
    match outcome {
        "unavailable" => refusals!("unavailable", reason),
        _ => refusals!("rejected", reason),
    }
    .increment(1);
    let _ = (outcome, reason);
}

/// How a verification ended, and how long it took.
pub(crate) fn verification(result: &'static str, timer: Timer) {
    #[cfg(feature = "metrics")]
    static_key!(
        histogram, "mcp_auth_verify_seconds", {},
        "result" => result, ["valid", "invalid", "unavailable"]
    )
    .record(timer.0.elapsed());
    let _ = (result, timer);
}

/// When a verification started, for the latency histogram; nothing (no clock read) without
/// the `metrics` feature.
pub(crate) struct Timer(#[cfg(feature = "metrics")] std::time::Instant);

impl Timer {
    pub(crate) fn start() -> Self {
        Self(
            #[cfg(feature = "metrics")]
            std::time::Instant::now(),
        )
    }
}

/// A lookup in a verifier's token cache.
#[cfg_attr(not(feature = "http-client"), allow(dead_code))]
pub(crate) fn token_cache(verifier: &'static str, hit: bool) {
    #[cfg(feature = "metrics")]
    {
        let result = if hit { "hit" } else { "miss" };
        match verifier {
            "jwt" => static_key!(
                counter, "mcp_auth_token_cache_total", {"verifier" => "jwt"},
                "result" => result, ["hit", "miss"]
            ),
            "introspection" => static_key!(
                counter, "mcp_auth_token_cache_total", {"verifier" => "introspection"},
                "result" => result, ["hit", "miss"]
            ),
            other => metrics::counter!(
                "mcp_auth_token_cache_total", "verifier" => other, "result" => result
            ),
        }
        .increment(1);
    }
    let _ = (verifier, hit);
}

/// A JWKS fetch and its result.
#[cfg_attr(not(feature = "jwt"), allow(dead_code))]
pub(crate) fn jwks_fetch(ok: bool) {
    #[cfg(feature = "tracing")]
    tracing::debug!(target: "mcp_auth", ok, "JWKS fetched");
    #[cfg(feature = "metrics")]
    metrics::counter!(
        "mcp_auth_jwks_fetches_total",
        "result" => if ok { "ok" } else { "error" }
    )
    .increment(1);
    let _ = ok;
}

/// A call to an introspection endpoint and its result (`answered`, `refused`, `error`).
#[cfg_attr(not(feature = "introspection"), allow(dead_code))]
pub(crate) fn introspection_call(result: &'static str, elapsed: Duration) {
    #[cfg(feature = "tracing")]
    tracing::debug!(
        target: "mcp_auth",
        result,
        elapsed_ms = u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX),
        "introspection request"
    );
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_auth_introspection_requests_total", "result" => result).increment(1);
    let _ = (result, elapsed);
}

/// A store that did not answer, and what it was used for.
pub(crate) fn store_error(usage: &'static str) {
    #[cfg(feature = "tracing")]
    tracing::warn!(target: "mcp_auth", usage, "the store did not answer");
    #[cfg(feature = "metrics")]
    metrics::counter!("mcp_auth_store_errors_total", "use" => usage).increment(1);
    let _ = usage;
}
