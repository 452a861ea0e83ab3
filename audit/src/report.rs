//! The findings of a run ([`Report`]) and their two renderings: a table for people and JSON
//! for CI. Both come from [`CHECKS`] and the findings, nothing else.

use std::io::{self, Write};

use anstyle::{AnsiColor, Style};
use serde::Serialize;
use serde_json::{Value, json};

use crate::checks::{CHECKS, Check, Level, Mode};

/// What happened to one check.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
#[non_exhaustive]
pub enum Outcome {
    /// The server does what the check asks.
    Pass,
    /// The server does not.
    Fail,
    /// The check could not run; the detail says why.
    Skip,
}

/// The result of one check.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Finding {
    /// The check.
    pub check: &'static Check,
    /// Its outcome.
    pub outcome: Outcome,
    /// What was sent and seen, or why the check was skipped.
    pub detail: String,
}

impl Finding {
    /// The table's word for it: `PASS`, `FAIL` (a MUST), `WARN` (a SHOULD or MAY), `NOTE` (an
    /// INFO check not met) or `SKIP`.
    #[must_use]
    pub fn label(&self) -> &'static str {
        match (self.outcome, self.check.level) {
            (Outcome::Pass, _) => "PASS",
            (Outcome::Skip, _) => "SKIP",
            (Outcome::Fail, Level::Must) => "FAIL",
            (Outcome::Fail, Level::Should | Level::May) => "WARN",
            (Outcome::Fail, Level::Info) => "NOTE",
        }
    }

    fn style(&self) -> Style {
        let color = match self.label() {
            "PASS" => AnsiColor::Green,
            "FAIL" => AnsiColor::Red,
            "WARN" => AnsiColor::Yellow,
            "NOTE" => AnsiColor::Cyan,
            _ => return Style::new().dimmed(),
        };
        Style::new().fg_color(Some(color.into())).bold()
    }
}

/// Everything a run found, one finding per check of [`CHECKS`], in that order.
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Report {
    /// The server URL audited.
    pub url: String,
    /// The issuer the server was asked to trust, in trusted-issuer mode.
    pub issuer: Option<String>,
    /// How many requests the audit sent (to the server and its authorization server).
    pub requests: u32,
    /// The findings.
    pub findings: Vec<Finding>,
}

/// Counts of a report.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize)]
#[non_exhaustive]
pub struct Summary {
    /// Checks passed.
    pub passed: usize,
    /// MUST checks failed.
    pub failed: usize,
    /// SHOULD and MAY checks failed.
    pub warnings: usize,
    /// INFO checks not met.
    pub notes: usize,
    /// Checks skipped.
    pub skipped: usize,
}

impl Report {
    /// The finding of check `id`.
    #[must_use]
    pub fn finding(&self, id: &str) -> Option<&Finding> {
        self.findings.iter().find(|finding| finding.check.id == id)
    }

    /// The outcome of check `id`.
    #[must_use]
    pub fn outcome(&self, id: &str) -> Option<Outcome> {
        self.finding(id).map(|finding| finding.outcome)
    }

    /// The counts.
    #[must_use]
    pub fn summary(&self) -> Summary {
        let mut summary = Summary::default();
        for finding in &self.findings {
            match finding.label() {
                "PASS" => summary.passed += 1,
                "FAIL" => summary.failed += 1,
                "WARN" => summary.warnings += 1,
                "NOTE" => summary.notes += 1,
                _ => summary.skipped += 1,
            }
        }
        summary
    }

    /// Whether every MUST check that ran passed.
    #[must_use]
    pub fn conforms(&self) -> bool {
        self.summary().failed == 0
    }

    /// `trusted` when an issuer was trusted, else `black-box`.
    #[must_use]
    pub fn mode(&self) -> &'static str {
        if self.issuer.is_some() {
            Mode::Trusted.as_str()
        } else {
            Mode::BlackBox.as_str()
        }
    }

    /// The report as JSON (the `--json` output).
    #[must_use]
    pub fn to_json(&self) -> Value {
        let checks: Vec<Value> = self
            .findings
            .iter()
            .map(|finding| {
                json!({
                    "id": finding.check.id,
                    "level": finding.check.level,
                    "mode": finding.check.mode,
                    "clause": finding.check.clause,
                    "description": finding.check.description,
                    "outcome": finding.outcome,
                    "detail": finding.detail,
                })
            })
            .collect();
        json!({
            "tool": "mcp-auth-audit",
            "version": env!("CARGO_PKG_VERSION"),
            "url": self.url,
            "mode": self.mode(),
            "issuer": self.issuer,
            "requests": self.requests,
            "conforms": self.conforms(),
            "summary": self.summary(),
            "checks": checks,
        })
    }

    /// Writes the table, with ANSI styles (wrap `out` in `anstream` to drop them where colours
    /// are off). Clauses are shown for checks that did not pass, or for all with `clauses`.
    ///
    /// # Errors
    ///
    /// When `out` fails.
    pub fn write_table(&self, out: &mut dyn Write, clauses: bool) -> io::Result<()> {
        let bold = Style::new().bold();
        let dim = Style::new().dimmed();
        let width = CHECKS.iter().map(|check| check.id.len()).max().unwrap_or(0);
        writeln!(
            out,
            "{bold}mcp-auth-audit {}{bold:#}: {} ({} mode, {} requests)",
            env!("CARGO_PKG_VERSION"),
            self.url,
            self.mode(),
            self.requests
        )?;
        if let Some(issuer) = &self.issuer {
            writeln!(out, "trusted issuer: {issuer}")?;
        }
        writeln!(out)?;
        writeln!(
            out,
            "{bold}{:<6}  {:<6}  {:<width$}  CHECK{bold:#}",
            "RESULT", "LEVEL", "ID"
        )?;
        for finding in &self.findings {
            let style = finding.style();
            writeln!(
                out,
                "{style}{:<6}{style:#}  {:<6}  {:<width$}  {}",
                finding.label(),
                finding.check.level.as_str(),
                finding.check.id,
                finding.check.description,
            )?;
            let indent = 6 + 2 + 6 + 2 + width + 2;
            if !finding.detail.is_empty() {
                let detail = printable(&finding.detail);
                writeln!(out, "{:indent$}{dim}→ {detail}{dim:#}", "")?;
            }
            if clauses || finding.label() != "PASS" {
                writeln!(out, "{:indent$}{dim}§ {}{dim:#}", "", finding.check.clause)?;
            }
        }
        let summary = self.summary();
        writeln!(out)?;
        let verdict = if self.conforms() {
            Style::new().fg_color(Some(AnsiColor::Green.into())).bold()
        } else {
            Style::new().fg_color(Some(AnsiColor::Red.into())).bold()
        };
        writeln!(
            out,
            "{verdict}{}{verdict:#}: {} passed, {} MUST failed, {} SHOULD/MAY warnings, {} INFO notes, {} skipped",
            if self.conforms() {
                "no MUST failed"
            } else {
                "MUST failures"
            },
            summary.passed,
            summary.failed,
            summary.warnings,
            summary.notes,
            summary.skipped,
        )
    }
}

/// The checks as JSON, for `--list-checks --json`.
#[must_use]
pub fn checks_json() -> Value {
    Value::Array(
        CHECKS
            .iter()
            .map(|check| {
                json!({
                    "id": check.id,
                    "level": check.level,
                    "mode": check.mode,
                    "clause": check.clause,
                    "description": check.description,
                })
            })
            .collect(),
    )
}

/// The checks as a table, for `--list-checks`.
///
/// # Errors
///
/// When `out` fails.
pub fn write_checks(out: &mut dyn Write) -> io::Result<()> {
    let bold = Style::new().bold();
    let dim = Style::new().dimmed();
    let width = CHECKS.iter().map(|check| check.id.len()).max().unwrap_or(0);
    writeln!(
        out,
        "{bold}{:<width$}  {:<6}  {:<9}  DESCRIPTION{bold:#}",
        "ID", "LEVEL", "MODE"
    )?;
    for check in CHECKS {
        writeln!(
            out,
            "{:<width$}  {:<6}  {:<9}  {}",
            check.id,
            check.level.as_str(),
            check.mode.as_str(),
            check.description
        )?;
        writeln!(
            out,
            "{:indent$}{dim}§ {}{dim:#}",
            "",
            check.clause,
            indent = width + 2 + 6 + 2 + 9 + 2
        )?;
    }
    Ok(())
}

/// The report of a run that could not start: every check skipped with `why`.
pub(crate) fn unrunnable(
    config: &crate::config::Config,
    issuer: Option<String>,
    why: &str,
) -> Report {
    Report {
        url: config.url().to_string(),
        issuer,
        requests: 0,
        findings: CHECKS
            .iter()
            .map(|check| Finding {
                check,
                outcome: Outcome::Skip,
                detail: why.to_owned(),
            })
            .collect(),
    }
}
/// `text` with its control characters escaped (`\u{1b}`): a detail may quote the audited
/// server (a metadata value, an error message), and a terminal would obey an escape
/// sequence in it (rewrite the lines above, set the window title).
fn printable(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return text.into();
    }
    text.chars()
        .map(|c| {
            if c.is_control() {
                c.escape_unicode().to_string()
            } else {
                c.to_string()
            }
        })
        .collect::<String>()
        .into()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A detail that quotes the server is written with its control characters escaped: an
    /// escape sequence from the server cannot rewrite the table on a terminal.
    #[test]
    fn server_text_in_a_detail_cannot_drive_the_terminal() {
        let hostile = "https://as.example/\u{1b}[1A\u{1b}[2KPASS\u{7}\u{1b}]0;title\u{7}";
        let report = Report {
            url: "http://127.0.0.1:3000/mcp".into(),
            issuer: None,
            requests: 1,
            findings: vec![Finding {
                check: &CHECKS[0],
                outcome: Outcome::Fail,
                detail: hostile.into(),
            }],
        };
        let mut out = Vec::new();
        report.write_table(&mut out, false).unwrap();
        let table = String::from_utf8(out).unwrap();
        assert!(table.contains(r"\u{1b}[1A\u{1b}[2KPASS\u{7}"), "{table}");
        // No escape character but those of the tool's own styles (`ESC[` then digits and
        // `;`, ending in `m`).
        for (at, _) in table.match_indices('\u{1b}') {
            let style = &table[at + 1..];
            let end = style.find('m').expect("a style ends in m");
            assert!(
                style.starts_with('[')
                    && style[1..end]
                        .chars()
                        .all(|c| c.is_ascii_digit() || c == ';'),
                "{:?}",
                &style[..end.min(12)]
            );
        }
        assert_eq!(printable("plain text"), "plain text");
    }
}
