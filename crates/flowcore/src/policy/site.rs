//! Site files: a municipality's inventory (segments, zones, gateways, exceptions, routers)
//! naming the policy model it follows. Parsed with positions so every error points at
//! file:line:column.

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use toml::Spanned;

/// A ruleset problem at a position in a file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RulesetError {
    /// The file.
    pub path: String,
    /// 1-based line.
    pub line: usize,
    /// 1-based column (in characters).
    pub col: usize,
    /// The key concerned (dotted path), or empty.
    pub key: String,
    /// What is wrong.
    pub message: String,
}

impl std::fmt::Display for RulesetError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        if self.key.is_empty() {
            write!(
                f,
                "{}:{}:{}: {}",
                self.path, self.line, self.col, self.message
            )
        } else {
            write!(
                f,
                "{}:{}:{}: {}: {}",
                self.path, self.line, self.col, self.key, self.message
            )
        }
    }
}

/// Turns byte offsets into line:column for one source text.
pub(crate) struct Locator<'a> {
    pub path: &'a str,
    pub text: &'a str,
}

impl Locator<'_> {
    pub fn at(&self, offset: usize, key: &str, message: impl Into<String>) -> RulesetError {
        let offset = offset.min(self.text.len());
        let before = &self.text[..offset];
        let line = before.matches('\n').count() + 1;
        let col = before.rsplit('\n').next().map_or(0, |l| l.chars().count()) + 1;
        RulesetError {
            path: self.path.to_string(),
            line,
            col,
            key: key.to_string(),
            message: message.into(),
        }
    }

    pub fn toml(&self, e: &toml::de::Error) -> RulesetError {
        let start = e.span().map_or(0, |s| s.start);
        self.at(start, "", e.message().trim().to_string())
    }
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteFile {
    pub site: SiteSection,
    pub segments: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub zones: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    pub gateway: Vec<GatewayDecl>,
    #[serde(default)]
    pub exception: Vec<ExceptionDecl>,
    #[serde(default)]
    pub devices: Option<Devices>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SiteSection {
    pub name: String,
    pub policy: Spanned<String>,
    #[serde(default)]
    pub policy_file: Option<Spanned<String>>,
    #[serde(default)]
    pub timezone: Option<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct GatewayDecl {
    pub name: Spanned<String>,
    pub role: Spanned<String>,
    pub hosts: Vec<Spanned<String>>,
    #[serde(default)]
    pub to: Vec<Spanned<String>>,
    #[serde(default)]
    pub clients: Vec<Spanned<String>>,
    pub services: Vec<Spanned<String>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ExceptionDecl {
    pub id: Spanned<String>,
    pub from: Vec<Spanned<String>>,
    pub to: Vec<Spanned<String>>,
    pub services: Vec<Spanned<String>>,
    pub reason: String,
    #[serde(default)]
    pub expires: Option<Spanned<toml::value::Datetime>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct Devices {
    #[serde(default)]
    pub routers: Vec<Spanned<String>>,
}

/// Reads a site file's text.
pub(crate) fn read(path: &Path) -> Result<String, RulesetError> {
    std::fs::read_to_string(path).map_err(|e| RulesetError {
        path: crate::text::path_text(path),
        line: 0,
        col: 0,
        key: String::new(),
        message: format!("cannot read: {e}"),
    })
}

/// Parses a MAC address `aa:bb:cc:dd:ee:ff` (or with `-`).
pub(crate) fn parse_mac(s: &str) -> Option<[u8; 6]> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    if parts.len() != 6 {
        return None;
    }
    let mut mac = [0u8; 6];
    for (i, p) in parts.iter().enumerate() {
        if p.len() != 2 {
            return None;
        }
        mac[i] = u8::from_str_radix(p, 16).ok()?;
    }
    Some(mac)
}

/// A fixed UTC offset in seconds for the site's `timezone`: an IANA name of a zone without
/// daylight saving in the built-in list, or `±HH:MM`.
pub(crate) fn parse_timezone(s: &str) -> Option<i32> {
    let known = [
        ("Asia/Tokyo", 9 * 3600),
        ("Japan", 9 * 3600),
        ("UTC", 0),
        ("Etc/UTC", 0),
        ("Z", 0),
    ];
    if let Some((_, off)) = known.iter().find(|(n, _)| *n == s) {
        return Some(*off);
    }
    let (sign, rest) = match s.as_bytes().first()? {
        b'+' => (1, &s[1..]),
        b'-' => (-1, &s[1..]),
        _ => return None,
    };
    let (h, m) = rest.split_once(':')?;
    let (h, m): (i32, i32) = (h.parse().ok()?, m.parse().ok()?);
    (h <= 14 && m < 60).then_some(sign * (h * 3600 + m * 60))
}
