//! `server URL → checks → table | JSON`: checks an MCP server's OAuth 2.1 resource-server
//! behaviour from the outside.
//!
//! # Overview
//!
//! The library behind the `mcp-auth-audit` command. [`run`] audits one MCP endpoint and returns
//! a [`Report`] with one [`Finding`] for every check of [`CHECKS`], each check carrying its
//! requirement [`Level`] and the specification clause it comes from (MCP Authorization
//! 2026-07-28 and 2025-11-25, RFC 6750, 8707, 9068, 9728).
//!
//! - **Black-box** (no issuer): the protected-resource metadata (path-inserted and root
//!   well-known URLs, `resource`, `authorization_servers`, `bearer_methods_supported`, CORS,
//!   `HEAD`/`OPTIONS`), the 401 without credentials (`WWW-Authenticate` syntax,
//!   `resource_metadata`, no `error`, `scope`), tokens any server must refuse (garbage,
//!   `alg: none`, expired, forged), tokens in the query or a form body, two `Authorization`
//!   headers, a foreign `Origin`, and the authorization server's metadata for information.
//! - **Trusted issuer** (with a [`TrustedIssuer`] the server trusts): everything above, plus a
//!   good token accepted; wrong audience, no audience, expired, not yet valid, wrong issuer,
//!   HS256 with the public key, `alg: none`, unknown key and bad signature refused with 401;
//!   a good token from a foreign `Origin` refused with 403; a token without scopes refused
//!   with `403 insufficient_scope` naming them; step-up (`403 insufficient_scope`
//!   with the needed scopes) on a tool named in the [`Config`]; no token passthrough (with an
//!   echo tool); key rotation picked up.
//!
//! # Example
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use mcp_auth::testing::KeyAlgorithm;
//! use mcp_auth_audit::{Config, Outcome, TrustedIssuer, run};
//!
//! let issuer = TrustedIssuer::start(([127, 0, 0, 1], 0).into(), KeyAlgorithm::Rs256).await?;
//! // ... configure the server to trust `issuer.issuer()` for audience http://127.0.0.1:3000/mcp ...
//! let config = Config::new("http://127.0.0.1:3000/mcp")?;
//! let report = run(&config, Some(&issuer)).await;
//! assert_eq!(report.outcome("trusted.wrong-audience"), Some(Outcome::Pass));
//! assert!(report.conforms());
//! # Ok(()) }
//! ```
//!
//! # Safety of the audit itself
//!
//! The audit takes no token of yours: it makes its own. A request carrying a token goes to the
//! server URL's origin only. Requests are rate-limited (10 per second by default), their number
//! is bounded (200), each has a timeout (10 s), and no redirect is followed.

mod blackbox;
mod challenge;
mod checks;
mod config;
mod http;
mod mcp;
mod report;
mod runner;
mod trusted;

pub use self::{
    checks::{CHECKS, Check, Level, Mode},
    config::{Config, ConfigError},
    report::{Finding, Outcome, Report, Summary, checks_json, write_checks},
    trusted::{TrustedIssuer, key_algorithm},
};

/// Audits the server of `config`: black-box, or with `issuer` when the server trusts it.
///
/// Never fails: what could not be checked is a skipped finding that says why.
pub async fn run(config: &Config, issuer: Option<&TrustedIssuer>) -> Report {
    let mut run = match runner::Run::new(config) {
        Ok(run) => run,
        Err(err) => return report::unrunnable(config, issuer.map(|i| i.issuer().to_owned()), &err),
    };
    blackbox::discovery(&mut run).await;
    let valid = match issuer {
        Some(issuer) => trusted::valid_token(&mut run, issuer).await,
        None => {
            run.skip_all(
                trusted::TRUSTED_CHECKS,
                "black-box mode: run with --trusted-issuer",
            );
            None
        }
    };
    blackbox::tokens(&mut run).await;
    match &valid {
        Some(token) => {
            blackbox::transport(&mut run, token, "a token the server accepts in the header").await;
        }
        None => {
            let forged = forged_token(&run);
            blackbox::transport(&mut run, &forged, "a forged token").await;
        }
    }
    if let Some(issuer) = issuer {
        trusted::checks(&mut run, issuer, valid.as_deref()).await;
    }
    blackbox::invalid_token_code(&mut run);
    run.into_report(issuer.map(|issuer| issuer.issuer().to_owned()))
}

/// A token with a good token's claims for the metadata's first issuer, signed by a random key.
fn forged_token(run: &runner::Run<'_>) -> String {
    let issuer = run.first_issuer();
    blackbox::plausible(run, &mcp_auth::testing::SigningKey::es256(), &issuer).sign()
}
