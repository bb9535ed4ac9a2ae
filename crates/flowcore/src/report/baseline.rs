//! Comparing a run with an earlier `flowcore.analysis/1` report: which findings are new,
//! which recur, which disappeared. Findings are matched by their stable id
//! ([`crate::policy::finding_id`]); reports written before ids existed are matched by the id
//! computed from their rule, addresses and service.

use std::collections::BTreeSet;
use std::path::Path;

use serde_json::Value;

use crate::policy::{finding_id, Analysis, BaselineDiff, GoneFinding};
use crate::report::analysis::ANALYSIS_SCHEMA;

/// The findings of an earlier report.
#[derive(Debug, Clone)]
pub struct Baseline {
    path: String,
    sha256: String,
    findings: Vec<GoneFinding>,
}

impl Baseline {
    /// Reads an earlier report (`flowcli analyze --format json`). Errors name the file and
    /// what is wrong with it.
    pub fn load(path: &Path) -> Result<Baseline, String> {
        let name = crate::text::path_text(path);
        let bytes = std::fs::read(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        Self::from_slice(&name, &bytes)
    }

    /// Parses an earlier report held in memory; `name` is used in messages.
    pub fn from_slice(name: &str, bytes: &[u8]) -> Result<Baseline, String> {
        use sha2::{Digest, Sha256};
        let v: Value = serde_json::from_slice(bytes).map_err(|e| {
            format!("{name}: not a JSON report (flowcli analyze --format json): {e}")
        })?;
        if v["schema"] != ANALYSIS_SCHEMA {
            return Err(format!(
                "{name}: not a {ANALYSIS_SCHEMA} report (schema {})",
                v["schema"]
            ));
        }
        let list = v["findings"]
            .as_array()
            .ok_or_else(|| format!("{name}: the report has no findings list"))?;
        let mut findings = Vec::with_capacity(list.len());
        for (i, f) in list.iter().enumerate() {
            let s = |k: &str| f[k].as_str().unwrap_or_default().to_string();
            let (rule_id, src_ip, dst_ip, service) =
                (s("rule_id"), s("src_ip"), s("dst_ip"), s("service"));
            let id = match f["id"].as_str() {
                Some(id) => id.to_string(),
                None => {
                    let bad = || format!("{name}: finding {i} has no id and no addresses");
                    let src = src_ip.parse().map_err(|_| bad())?;
                    let dst = dst_ip.parse().map_err(|_| bad())?;
                    let svc = f["mac"].as_str().unwrap_or(&service);
                    finding_id(&rule_id, src, dst, svc)
                }
            };
            findings.push(GoneFinding {
                id,
                rule_id,
                severity: s("severity"),
                src_ip,
                dst_ip,
                service,
            });
        }
        Ok(Baseline {
            path: name.to_string(),
            sha256: crate::text::hex(&Sha256::digest(bytes)),
            findings,
        })
    }

    /// Compares `a`'s findings with the earlier report's.
    pub fn compare(&self, a: &Analysis) -> BaselineDiff {
        let before: BTreeSet<&str> = self.findings.iter().map(|f| f.id.as_str()).collect();
        let now: BTreeSet<&str> = a.findings.iter().map(|f| f.id.as_str()).collect();
        BaselineDiff {
            path: self.path.clone(),
            sha256: self.sha256.clone(),
            new: now
                .iter()
                .filter(|id| !before.contains(*id))
                .map(|id| id.to_string())
                .collect(),
            disappeared: self
                .findings
                .iter()
                .filter(|f| !now.contains(f.id.as_str()))
                .cloned()
                .collect(),
        }
    }
}
