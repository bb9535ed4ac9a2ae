//! Policy models: the guideline's rules as data (`rulesets/policies/*.toml`). The engine
//! knows rule kinds; which segments a rule covers, its severity, clause and messages are
//! data.

use serde::Deserialize;

use super::Severity;

/// What a rule does.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RuleKind {
    /// Flows between `from` and `to` are violations unless permitted.
    Deny,
    /// Flows between `from` and `to` are allowed (stops evaluation).
    Allow,
    /// A flow with an endpoint in no segment or zone (`unknown`) is a finding.
    UnknownEndpoint,
    /// A MAC address sourcing addresses of two segments is a finding.
    DualHomed,
}

/// Which initiators a rule's `from`/`to` cover.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// Initiated by either side.
    #[default]
    Either,
    /// Only flows whose initiator is in `from` and responder in `to`.
    Initiated,
}

/// What may permit a flow a `deny` rule matches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permit {
    /// A site `[[exception]]` matching hosts, service and direction exactly.
    Exception,
    /// A site `[[gateway]]` used as declared.
    Gateway,
}

/// One rule of a policy model.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleDef {
    /// Stable identifier, e.g. `MN-01`.
    pub id: String,
    /// What the rule does.
    pub kind: RuleKind,
    /// Classes (segment, zone, `public`, `unknown`) on one side.
    #[serde(default)]
    pub from: Vec<String>,
    /// Classes on the other side.
    #[serde(default)]
    pub to: Vec<String>,
    /// Direction the rule applies to.
    #[serde(default)]
    pub direction: Direction,
    /// Severity of its findings.
    #[serde(default = "default_severity")]
    pub severity: Severity,
    /// The policy clause it enforces, e.g. "基本方針 6(3)ア".
    #[serde(default)]
    pub clause: String,
    /// What may permit a matching flow.
    #[serde(default)]
    pub permit: Vec<Permit>,
    /// English message.
    #[serde(default)]
    pub message_en: String,
    /// Japanese message.
    #[serde(default)]
    pub message_ja: String,
}

fn default_severity() -> Severity {
    Severity::High
}

/// The `[model]` table.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelInfo {
    /// Identifier a site's `policy` names.
    pub id: String,
    /// English name.
    pub name_en: String,
    /// Japanese name.
    pub name_ja: String,
    /// What distinguishes the model.
    #[serde(default)]
    pub description: String,
}

/// A policy model file.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PolicyModel {
    /// Identity.
    pub model: ModelInfo,
    /// Rules, evaluated in order: the first `deny`/`allow` rule that matches decides.
    pub rule: Vec<RuleDef>,
}

/// The models shipped in `rulesets/policies/`, compiled in so the binary works anywhere.
/// A site can point `policy_file` at its own model instead.
pub const BUILTIN: [(&str, &str); 4] = [
    (
        "mic-alpha",
        include_str!("../../../../rulesets/policies/mic-alpha.toml"),
    ),
    (
        "mic-alpha-prime",
        include_str!("../../../../rulesets/policies/mic-alpha-prime.toml"),
    ),
    (
        "mic-beta",
        include_str!("../../../../rulesets/policies/mic-beta.toml"),
    ),
    (
        "mic-beta-prime",
        include_str!("../../../../rulesets/policies/mic-beta-prime.toml"),
    ),
];
