//! `Bearer token → 401 | 403 | inner service`: OAuth 2.1 resource-server middleware for MCP.
//!
//! (crate docs: written with the layer)

#![cfg_attr(docsrs, feature(doc_cfg))]

mod auth_info;
pub mod verifier;

pub use self::{
    auth_info::{AuthInfo, AuthInfoBuilder},
    verifier::{TokenVerifier, VerifyError},
};

/// A boxed error, as backends report them.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;
