//! Test support: mock verifiers, signing keys, a dev issuer. Not for production.

mod encoding;
mod issuer;
mod keys;
mod mock;
mod token;

pub use self::{
    issuer::{DevIssuer, DevIssuerBuilder, Endpoint, Fault, IntrospectionRequest},
    keys::{KeyAlgorithm, SigningKey},
    mock::{FnVerifier, StaticVerifier},
    token::{TokenBuilder, decode_unverified},
};
