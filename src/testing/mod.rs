//! Test support: mock verifiers, signing keys, a dev issuer. Not for production.

mod dpop;
mod issuer;
mod keys;
mod mock;
mod token;

pub use self::{
    dpop::{DpopProof, key_thumbprint},
    issuer::{DevIssuer, DevIssuerBuilder},
    keys::{KeyAlgorithm, SigningKey},
    mock::{FnVerifier, StaticVerifier},
    token::{TokenBuilder, decode_unverified},
};
