//! Test support: mock verifiers, signing keys, a dev issuer. Not for production.

mod mock;

pub use self::mock::{FnVerifier, StaticVerifier};
