//! Test support: mock verifiers, signing keys, a token builder and a dev issuer. Not for
//! production.
//!
//! - [`StaticVerifier`] and [`FnVerifier`] stand in for a real [`TokenVerifier`] in unit
//!   tests of your own server (`mock.rs`).
//! - [`SigningKey`] (`keys.rs`) and [`TokenBuilder`] (`token.rs`) make valid and deliberately
//!   broken JWT access tokens; [`decode_unverified`] reads them back for assertions.
//!   [`DpopProof`] (`dpop.rs`) makes RFC 9449 proofs for them, [`key_thumbprint`] their
//!   `cnf.jkt`.
//! - [`DevIssuer`] (`issuer/`) is an OAuth 2.1 authorization server on a loopback port, for
//!   local development and as the one authorization server the crate's own test suites use.
//!   It serves discovery metadata, a JWKS, authorization, token, introspection and
//!   registration endpoints, and lets a test break each [`Endpoint`] on purpose: take it
//!   down, delay it, inject a [`Fault`] (an error status, garbage, an oversized or truncated
//!   body, a redirect, a TCP reset), replace the documents it serves, fix introspection
//!   answers, and [stop](DevIssuer::stop) and [restart](DevIssuer::restart) the whole server
//!   on the same address.
//!
//! The small encodings these share (base64url, JSON segments, random ids, Unix times) are in
//! `encoding.rs`.
//!
//! [`TokenVerifier`]: crate::TokenVerifier

mod dpop;
mod encoding;
mod issuer;
mod keys;
mod mock;
mod token;

pub use self::{
    dpop::{DpopProof, key_thumbprint},
    issuer::{DevIssuer, DevIssuerBuilder, Endpoint, Fault, IntrospectionRequest},
    keys::{KeyAlgorithm, SigningKey},
    mock::{FnVerifier, StaticVerifier},
    token::{TokenBuilder, decode_unverified},
};
