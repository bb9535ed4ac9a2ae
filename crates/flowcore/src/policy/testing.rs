//! Policy tests: expected verdicts for given flows, written next to a site file
//! (`<site>.tests.toml`) and run with `flowcli ruleset test`, like OPA's policy tests.

use std::net::{IpAddr, SocketAddr};
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

use super::site::{Locator, RulesetError};
use super::{Ruleset, Service, Verdict};
use crate::flow::FlowRecord;
use crate::time::NS_PER_SEC;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestFile {
    test: Vec<TestDecl>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct TestDecl {
    name: String,
    src: Spanned<String>,
    dst: Spanned<String>,
    #[serde(default)]
    proto: Option<Spanned<String>>,
    #[serde(default)]
    vlan: Option<u16>,
    #[serde(default)]
    at: Option<Spanned<toml::value::Datetime>>,
    expect: Spanned<String>,
}

/// One test's outcome.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestOutcome {
    /// The test's name.
    pub name: String,
    /// Whether the verdict was the expected one.
    pub passed: bool,
    /// What was expected.
    pub expected: String,
    /// What the ruleset said (`allow` or `deny <rule>`), with the permit or considerations.
    pub got: String,
}

fn parse_endpoint(s: &str) -> Option<(IpAddr, u16)> {
    if let Ok(sa) = s.parse::<SocketAddr>() {
        return Some((sa.ip(), sa.port()));
    }
    s.parse::<IpAddr>().ok().map(|ip| (ip, 0))
}

fn datetime_ns(d: &toml::value::Datetime) -> Option<i64> {
    let date = d.date?;
    let time = d.time?;
    let days = super::days_from_civil(
        i64::from(date.year),
        u32::from(date.month),
        u32::from(date.day),
    );
    let secs = days * 86_400
        + i64::from(time.hour) * 3600
        + i64::from(time.minute) * 60
        + i64::from(time.second.unwrap_or(0));
    let offset = match d.offset? {
        toml::value::Offset::Z => 0,
        toml::value::Offset::Custom { minutes } => i64::from(minutes) * 60,
    };
    Some((secs - offset) * NS_PER_SEC + i64::from(time.nanosecond.unwrap_or(0)))
}

/// Runs the tests in `path` against `rs`. Errors (file:line:col) if the test file is invalid.
pub fn run_tests(rs: &Ruleset, path: &Path) -> Result<Vec<TestOutcome>, Vec<RulesetError>> {
    let text = super::site::read(path).map_err(|e| vec![e])?;
    let name = crate::text::path_text(path);
    let loc = Locator {
        path: &name,
        text: &text,
    };
    let file: TestFile = toml::from_str(&text).map_err(|e| vec![loc.toml(&e)])?;
    let mut errs = Vec::new();
    let mut out = Vec::new();
    for (i, t) in file.test.iter().enumerate() {
        let key = format!("test[{i}]");
        let src = parse_endpoint(t.src.get_ref());
        let dst = parse_endpoint(t.dst.get_ref());
        if src.is_none() {
            errs.push(loc.at(
                t.src.span().start,
                &format!("{key}.src"),
                "expected IP or IP:PORT",
            ));
        }
        if dst.is_none() {
            errs.push(loc.at(
                t.dst.span().start,
                &format!("{key}.dst"),
                "expected IP or IP:PORT ([v6]:PORT)",
            ));
        }
        let proto = match &t.proto {
            None => Some(6),
            Some(p) => match Service::parse(p.get_ref()).map(|s| s.proto) {
                Ok(Some(p)) => Some(p),
                _ => {
                    errs.push(loc.at(
                        p.span().start,
                        &format!("{key}.proto"),
                        "expected tcp, udp, icmp, icmp6 or a protocol number",
                    ));
                    None
                }
            },
        };
        let at = match &t.at {
            None => Some(0),
            Some(d) => datetime_ns(d.get_ref()).or_else(|| {
                errs.push(loc.at(
                    d.span().start,
                    &format!("{key}.at"),
                    "expected a date-time with offset, e.g. 2026-11-25T09:00:00+09:00",
                ));
                None
            }),
        };
        let expect = t.expect.get_ref().clone();
        if expect != "allow" && expect != "deny" && !rs.rules.iter().any(|r| r.def.id == expect) {
            errs.push(loc.at(
                t.expect.span().start,
                &format!("{key}.expect"),
                format!("expected allow, deny or a rule id of {}", rs.policy_id),
            ));
            continue;
        }
        let (Some((sip, sport)), Some((dip, dport)), Some(proto), Some(at)) = (src, dst, proto, at)
        else {
            continue;
        };
        let mut f = FlowRecord::new(
            sip,
            if sport == 0 { 49152 } else { sport },
            dip,
            dport,
            proto,
            at,
        );
        f.vlan = t.vlan;
        let v = rs.evaluate(&f).verdict;
        let (passed, got) = match &v {
            Verdict::Allowed { permit, rule } => (
                expect == "allow",
                match (permit, rule) {
                    (Some(p), _) => format!("allow (permitted by {})", rs.permit_text(p)),
                    (None, Some(r)) => format!("allow (rule {})", rs.rules[*r].def.id),
                    (None, None) => "allow (no rule covers this pair)".to_string(),
                },
            ),
            Verdict::Violation { rule, considered } => {
                let id = &rs.rules[*rule].def.id;
                let mut g = format!("deny {id}");
                if !considered.is_empty() {
                    g.push_str(&format!(" ({})", considered.join("; ")));
                }
                (expect == "deny" || expect == *id, g)
            }
        };
        out.push(TestOutcome {
            name: t.name.clone(),
            passed,
            expected: expect,
            got,
        });
    }
    if errs.is_empty() {
        Ok(out)
    } else {
        Err(errs)
    }
}
