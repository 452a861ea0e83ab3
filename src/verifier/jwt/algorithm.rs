//! JWS algorithms: [`Algorithm`] and the default allow-list.

use std::{fmt, str::FromStr};

/// A JWS signature algorithm.
///
/// `none` is not one: it is never accepted.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::jwt::Algorithm;
///
/// assert_eq!("ES256".parse::<Algorithm>(), Ok(Algorithm::Es256));
/// assert_eq!(Algorithm::Rs256.as_str(), "RS256");
/// assert!("none".parse::<Algorithm>().is_err());
/// assert!(!Algorithm::Hs256.is_asymmetric());
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Algorithm {
    /// Ed25519 (RFC 9864, fully specified).
    Ed25519,
    /// EdDSA with Ed25519 (the polymorphic name RFC 9864 deprecates; Ed448 is not supported).
    EdDsa,
    /// ECDSA with P-256 and SHA-256.
    Es256,
    /// ECDSA with P-384 and SHA-384.
    Es384,
    /// ECDSA with P-256 and SHA-256 (RFC 9864, fully specified).
    Esp256,
    /// ECDSA with P-384 and SHA-384 (RFC 9864, fully specified).
    Esp384,
    /// HMAC with SHA-256 (shared secret).
    Hs256,
    /// HMAC with SHA-384 (shared secret).
    Hs384,
    /// HMAC with SHA-512 (shared secret).
    Hs512,
    /// RSASSA-PSS with SHA-256.
    Ps256,
    /// RSASSA-PSS with SHA-384.
    Ps384,
    /// RSASSA-PSS with SHA-512.
    Ps512,
    /// RSASSA-PKCS1-v1_5 with SHA-256.
    Rs256,
    /// RSASSA-PKCS1-v1_5 with SHA-384.
    Rs384,
    /// RSASSA-PKCS1-v1_5 with SHA-512.
    Rs512,
}

/// The default allow-list: every asymmetric algorithm.
pub(crate) const ASYMMETRIC: [Algorithm; 12] = [
    Algorithm::Ed25519,
    Algorithm::EdDsa,
    Algorithm::Es256,
    Algorithm::Es384,
    Algorithm::Esp256,
    Algorithm::Esp384,
    Algorithm::Ps256,
    Algorithm::Ps384,
    Algorithm::Ps512,
    Algorithm::Rs256,
    Algorithm::Rs384,
    Algorithm::Rs512,
];

impl Algorithm {
    /// The JOSE name (`"RS256"`, `"EdDSA"`, ...).
    #[must_use]
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Ed25519 => "Ed25519",
            Self::EdDsa => "EdDSA",
            Self::Es256 => "ES256",
            Self::Es384 => "ES384",
            Self::Esp256 => "ESP256",
            Self::Esp384 => "ESP384",
            Self::Hs256 => "HS256",
            Self::Hs384 => "HS384",
            Self::Hs512 => "HS512",
            Self::Ps256 => "PS256",
            Self::Ps384 => "PS384",
            Self::Ps512 => "PS512",
            Self::Rs256 => "RS256",
            Self::Rs384 => "RS384",
            Self::Rs512 => "RS512",
        }
    }

    /// Whether the algorithm uses a public key (everything but `HS*`).
    #[must_use]
    pub fn is_asymmetric(self) -> bool {
        !matches!(self, Self::Hs256 | Self::Hs384 | Self::Hs512)
    }

    /// Parses a JOSE name, case-sensitively as RFC 7515 requires.
    pub(crate) fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "Ed25519" => Self::Ed25519,
            "EdDSA" => Self::EdDsa,
            "ES256" => Self::Es256,
            "ES384" => Self::Es384,
            "ESP256" => Self::Esp256,
            "ESP384" => Self::Esp384,
            "HS256" => Self::Hs256,
            "HS384" => Self::Hs384,
            "HS512" => Self::Hs512,
            "PS256" => Self::Ps256,
            "PS384" => Self::Ps384,
            "PS512" => Self::Ps512,
            "RS256" => Self::Rs256,
            "RS384" => Self::Rs384,
            "RS512" => Self::Rs512,
            _ => return None,
        })
    }

    pub(crate) fn to_jsonwebtoken(self) -> jsonwebtoken::Algorithm {
        use jsonwebtoken::Algorithm as A;
        match self {
            Self::Ed25519 | Self::EdDsa => A::EdDSA,
            Self::Es256 | Self::Esp256 => A::ES256,
            Self::Es384 | Self::Esp384 => A::ES384,
            Self::Hs256 => A::HS256,
            Self::Hs384 => A::HS384,
            Self::Hs512 => A::HS512,
            Self::Ps256 => A::PS256,
            Self::Ps384 => A::PS384,
            Self::Ps512 => A::PS512,
            Self::Rs256 => A::RS256,
            Self::Rs384 => A::RS384,
            Self::Rs512 => A::RS512,
        }
    }
}

impl Algorithm {
    /// The fully-specified algorithm this name stands for, for keys with the curve fixed
    /// (RFC 9864 §2: `EdDSA` on an Ed25519 key is `Ed25519`; `ES256` is `ESP256`).
    pub(crate) fn fully_specified(self) -> Self {
        match self {
            Self::EdDsa => Self::Ed25519,
            Self::Es256 => Self::Esp256,
            Self::Es384 => Self::Esp384,
            other => other,
        }
    }
}

impl FromStr for Algorithm {
    type Err = UnknownAlgorithm;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::from_name(s).ok_or(UnknownAlgorithm)
    }
}

impl fmt::Display for Algorithm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(self.as_str())
    }
}

/// The error of parsing an unknown (or forbidden, like `none`) [`Algorithm`] name.
///
/// # Example
///
/// ```
/// use mcp_auth::verifier::jwt::{Algorithm, UnknownAlgorithm};
///
/// assert!(matches!("NONE".parse::<Algorithm>(), Err(UnknownAlgorithm { .. })));
/// ```
#[derive(Clone, Copy, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown or unsupported JWS algorithm")]
#[non_exhaustive]
pub struct UnknownAlgorithm;
