//! Crate-private logging shims: no-ops unless the `tracing` feature is on.

/// Logs a verifier failure with its source chain (never the token).
macro_rules! log_verify_error {
    ($err:expr) => {{
        #[cfg(feature = "tracing")]
        ::tracing::debug!(
            target: "mcp_auth",
            kind = ?$err.kind(),
            error = &$err as &dyn ::std::error::Error,
            "token verification failed"
        );
        #[cfg(not(feature = "tracing"))]
        let _ = &$err;
    }};
}

/// Logs a warning from a verifier backend.
#[allow(unused_macros)]
macro_rules! log_warn {
    ($($arg:tt)+) => {{
        #[cfg(feature = "tracing")]
        ::tracing::warn!(target: "mcp_auth", $($arg)+);
    }};
}
