//! `mcp-auth-audit`: the command line of [`mcp_auth_audit`].

use std::{
    io::{self, IsTerminal, Write},
    net::{Ipv4Addr, SocketAddr},
    process::ExitCode,
    time::Duration,
};

use anstream::ColorChoice;
use clap::{ArgAction, Parser, ValueEnum};
use mcp_auth_audit::{Config, TrustedIssuer, key_algorithm};
use tokio::io::AsyncBufReadExt;

/// Checks an MCP server's authorization (OAuth 2.1 resource server) from the outside.
///
/// Every check names its clause (MCP Authorization 2026-07-28 and 2025-11-25, RFC 6750, 8707,
/// 9068, 9728) and its level. Exit code: 0 when no MUST failed, 1 when one did, 2 on a usage
/// error.
#[derive(Debug, Parser)]
#[command(name = "mcp-auth-audit", version, about, long_about)]
struct Cli {
    /// The MCP endpoint, as clients reach it (e.g. https://mcp.example.com/mcp).
    #[arg(required_unless_present = "list_checks")]
    url: Option<String>,

    /// Print the report as JSON (for CI) instead of a table.
    #[arg(long)]
    json: bool,

    /// When to use colours in the table.
    #[arg(long, value_enum, default_value_t = Color::Auto)]
    color: Color,

    /// Show the clause of every check, not only of those that did not pass.
    #[arg(short, long)]
    verbose: bool,

    /// List the checks (id, level, mode, clause) and exit.
    #[arg(long)]
    list_checks: bool,

    /// Start an issuer of the audit's own, ask you to make the server trust it, and run the
    /// checks that need tokens the server accepts.
    #[arg(long, help_heading = "Trusted-issuer mode")]
    trusted_issuer: bool,

    /// The issuer's port on 127.0.0.1 (0: a free one).
    #[arg(
        long,
        default_value_t = 0,
        requires = "trusted_issuer",
        help_heading = "Trusted-issuer mode"
    )]
    issuer_port: u16,

    /// The issuer's signing algorithm: RS256, ES256 or EdDSA.
    #[arg(
        long,
        default_value = "RS256",
        requires = "trusted_issuer",
        help_heading = "Trusted-issuer mode"
    )]
    issuer_alg: String,

    /// Wait for Enter before the checks (the default when stdin is a terminal).
    #[arg(
        long,
        conflicts_with_all = ["wait_seconds", "no_wait"],
        requires = "trusted_issuer",
        help_heading = "Trusted-issuer mode"
    )]
    wait: bool,

    /// Wait this many seconds before the checks, instead of for Enter.
    #[arg(
        long,
        value_name = "N",
        conflicts_with = "no_wait",
        requires = "trusted_issuer",
        help_heading = "Trusted-issuer mode"
    )]
    wait_seconds: Option<u64>,

    /// Start the checks at once (the server already trusts the issuer's fixed port).
    #[arg(
        long,
        requires = "trusted_issuer",
        help_heading = "Trusted-issuer mode"
    )]
    no_wait: bool,

    /// A scope of the good token (repeatable). Default: the 401's scope, else
    /// scopes_supported.
    #[arg(
        long = "scope",
        value_name = "SCOPE",
        action = ArgAction::Append,
        help_heading = "Trusted-issuer mode"
    )]
    scopes: Vec<String>,

    /// A tool to test step-up with: called by a token without --tool-scope (403 expected),
    /// then with it.
    #[arg(long, value_name = "NAME", help_heading = "Trusted-issuer mode")]
    tool: Option<String>,

    /// A scope the --tool needs beyond the good token's (repeatable; default: learnt from the
    /// 403).
    #[arg(
        long,
        value_name = "SCOPE",
        action = ArgAction::Append,
        requires = "tool",
        help_heading = "Trusted-issuer mode"
    )]
    tool_scope: Vec<String>,

    /// The arguments of the --tool call, as JSON.
    #[arg(
        long,
        value_name = "JSON",
        default_value = "{}",
        requires = "tool",
        help_heading = "Trusted-issuer mode"
    )]
    tool_args: String,

    /// A tool that returns the request headers it received, to check that the token does not
    /// reach the tools.
    #[arg(long, value_name = "NAME", help_heading = "Trusted-issuer mode")]
    echo_tool: Option<String>,

    /// The most requests per second.
    #[arg(
        long,
        value_name = "N",
        default_value_t = 10.0,
        help_heading = "Limits"
    )]
    rate: f64,

    /// The most requests in all.
    #[arg(long, value_name = "N", default_value_t = 200, help_heading = "Limits")]
    max_requests: u32,

    /// The timeout of each request, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 10,
        help_heading = "Limits"
    )]
    timeout: u64,

    /// How long to wait in all for 503 answers with Retry-After, in seconds.
    #[arg(
        long,
        value_name = "SECS",
        default_value_t = 60,
        help_heading = "Limits"
    )]
    max_retry_wait: u64,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Color {
    Auto,
    Always,
    Never,
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.color {
        Color::Auto => {}
        Color::Always => ColorChoice::Always.write_global(),
        Color::Never => ColorChoice::Never.write_global(),
    }
    match audit(cli).await {
        Ok(code) => code,
        Err(err) => {
            let _ = writeln!(anstream::stderr(), "mcp-auth-audit: {err}");
            ExitCode::from(2)
        }
    }
}

async fn audit(cli: Cli) -> Result<ExitCode, String> {
    if cli.list_checks {
        print_checks(cli.json).map_err(|err| err.to_string())?;
        return Ok(ExitCode::SUCCESS);
    }
    let url = cli.url.as_deref().unwrap_or_default();
    if !(cli.rate > 0.0 && cli.rate.is_finite()) {
        return Err("--rate must be a positive number".to_owned());
    }
    let mut config = Config::new(url)
        .map_err(|err| err.to_string())?
        .requests_per_second(cli.rate)
        .max_requests(cli.max_requests)
        .timeout(Duration::from_secs(cli.timeout.max(1)))
        .max_retry_wait(Duration::from_secs(cli.max_retry_wait));
    if !cli.scopes.is_empty() {
        config = config.scopes(cli.scopes.iter().flat_map(|s| s.split_whitespace()));
    }
    if let Some(tool) = &cli.tool {
        let arguments: serde_json::Value = serde_json::from_str(&cli.tool_args)
            .map_err(|err| format!("--tool-args is not JSON: {err}"))?;
        config = config.tool(
            tool,
            cli.tool_scope.iter().flat_map(|s| s.split_whitespace()),
            arguments,
        );
    }
    if let Some(echo) = &cli.echo_tool {
        config = config.echo_tool(echo);
    }

    let issuer = if cli.trusted_issuer {
        let algorithm = key_algorithm(&cli.issuer_alg)
            .ok_or_else(|| format!("--issuer-alg {}: not RS256, ES256 or EdDSA", cli.issuer_alg))?;
        let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, cli.issuer_port));
        let issuer = TrustedIssuer::start(addr, algorithm)
            .await
            .map_err(|err| format!("cannot start the issuer on {addr}: {err}"))?;
        announce(&issuer, &config, &cli).await?;
        Some(issuer)
    } else {
        None
    };

    let report = mcp_auth_audit::run(&config, issuer.as_ref()).await;
    if cli.json {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &report.to_json()).map_err(|e| e.to_string())?;
        writeln!(out).map_err(|err| err.to_string())?;
    } else {
        let mut out = anstream::stdout().lock();
        report
            .write_table(&mut out, cli.verbose)
            .map_err(|err| err.to_string())?;
    }
    if let Some(issuer) = issuer {
        issuer.shutdown().await;
    }
    Ok(if report.conforms() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Prints what the server must trust (on stderr, so that `--json` output stays clean) and
/// waits as asked.
async fn announce(issuer: &TrustedIssuer, config: &Config, cli: &Cli) -> Result<(), String> {
    let audience = config.url().as_str().trim_end_matches('/');
    let mut err = anstream::stderr().lock();
    let text = format!(
        "Configure the server under test to trust this issuer (for the audit only; it is a dev issuer):\n\
         \n    issuer:   {}\n    jwks_uri: {}\n\n\
         and to expect the audience {audience} (the server URL).\n",
        issuer.issuer(),
        issuer.jwks_uri(),
    );
    write!(err, "{text}").map_err(|e| e.to_string())?;
    let wait_for_enter =
        cli.wait || (cli.wait_seconds.is_none() && !cli.no_wait && io::stdin().is_terminal());
    if let Some(seconds) = cli.wait_seconds {
        writeln!(err, "Starting the checks in {seconds} s.").map_err(|e| e.to_string())?;
        drop(err);
        tokio::time::sleep(Duration::from_secs(seconds)).await;
    } else if wait_for_enter {
        write!(err, "Press Enter when the server trusts it. ").map_err(|e| e.to_string())?;
        err.flush().map_err(|e| e.to_string())?;
        drop(err);
        let mut line = String::new();
        tokio::io::BufReader::new(tokio::io::stdin())
            .read_line(&mut line)
            .await
            .map_err(|e| e.to_string())?;
    } else {
        writeln!(err).map_err(|e| e.to_string())?;
    }
    Ok(())
}

fn print_checks(json: bool) -> io::Result<()> {
    if json {
        let mut out = io::stdout().lock();
        serde_json::to_writer_pretty(&mut out, &mcp_auth_audit::checks_json())?;
        writeln!(out)
    } else {
        mcp_auth_audit::write_checks(&mut anstream::stdout().lock())
    }
}
