//! [`Callback`]: a hook the user supplies (usually a closure), held by a configuration.

use std::{fmt, ops::Deref, sync::Arc};

/// A user's hook (`OnRejection`, `CertificateBinding`, `AnswerMapper`), shared. Hooks have no
/// `Debug` of their own; with this, the configurations holding them can derive theirs, which
/// show only that a hook is there.
pub(crate) struct Callback<T: ?Sized>(Arc<T>);

impl<T: ?Sized> Callback<T> {
    pub(crate) fn new(hook: Arc<T>) -> Self {
        Self(hook)
    }
}

impl<T: ?Sized> Deref for Callback<T> {
    type Target = T;

    fn deref(&self) -> &T {
        &self.0
    }
}

impl<T: ?Sized> Clone for Callback<T> {
    fn clone(&self) -> Self {
        Self(Arc::clone(&self.0))
    }
}

impl<T: ?Sized> fmt::Debug for Callback<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Callback").finish_non_exhaustive()
    }
}
