//! Crate-private macros: the logging shims (no-ops unless the `tracing` feature is on), and
//! `setters!` for the builders.

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

/// Builder setters that only store their argument, written once. Each entry is the setter's
/// docs and attributes, its name and parameter, and the assignment it makes:
///
/// ```text
/// setters! {
///     /// Sets the metadata's `resource_name`. Defaults to none.
///     resource_name(name: impl Into<String>) => resource_name = Some(name.into());
/// }
/// ```
///
/// Each becomes `pub fn resource_name(mut self, name: impl Into<String>) -> Self`, in the place
/// of the invocation, so the docs keep their order. Setters that do more (add to a list, check,
/// normalise) and generic ones (`<I: IntoIterator>`) are written out beside them.
macro_rules! setters {
    ($(
        $(#[$attr:meta])*
        $name:ident($arg:ident: $ty:ty) => $($field:ident).+ = $value:expr;
    )*) => {
        $(
            $(#[$attr])*
            pub fn $name(mut self, $arg: $ty) -> Self {
                self.$($field).+ = $value;
                self
            }
        )*
    };
}
