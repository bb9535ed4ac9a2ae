//! Writers for `flowcli analyze`: a JSON document (`flowcore.analysis/1`: summary with
//! inputs, hashes, counts and the segment matrix, then findings), NDJSON (one finding per
//! line) and a table for people.

use std::io::{self, Write};

use serde_json::{json, Value};

use crate::input::InputDigest;
use crate::pipeline::InputSummary;
use crate::policy::{Analysis, Finding, GoneFinding, Ruleset, Severity};
use crate::report::RunContext;
use crate::time::{format_rfc3339, NS_PER_SEC};

/// Identifier of the analysis document's schema.
pub const ANALYSIS_SCHEMA: &str = "flowcore.analysis/1";

/// One analysed input: its accounting and, when hashed, its size and SHA-256.
#[derive(Debug, Clone)]
pub struct AnalysedInput {
    /// Packet accounting.
    pub summary: InputSummary,
    /// Size and SHA-256 as stored.
    pub digest: Option<InputDigest>,
}

fn opt_ts(t: Option<i64>) -> Value {
    t.map_or(Value::Null, |t| Value::String(format_rfc3339(t)))
}

fn input_json(i: &AnalysedInput) -> Value {
    let s = &i.summary;
    let skipped: serde_json::Map<String, Value> = s
        .skipped
        .iter()
        .map(|(r, n)| (r.as_str().to_string(), json!(n)))
        .collect();
    let digest = i.digest.as_ref().or(s.digest.as_ref());
    json!({
        "file": s.name,
        "size": digest.map(|d| d.size),
        "sha256": digest.map(|d| d.sha256.clone()),
        "format": match s.format { crate::input::CaptureFormat::Pcap => "pcap", crate::input::CaptureFormat::Pcapng => "pcapng", crate::input::CaptureFormat::Export => "export" },
        "packets_read": s.packets_read,
        "packets_decoded": s.packets_decoded,
        "packets_skipped": skipped,
        "first_ts": opt_ts(s.first_ts),
        "last_ts": opt_ts(s.last_ts),
        "flows": s.flows.records,
        "export_datagrams": s.export_datagrams,
        "export_records": s.export_records,
        "export_records_filtered": s.export_records_filtered,
        "flow_table": s.flows,
        "fragments": s.fragments,
        "damage": s.damage.as_ref().map(|d| json!({"offset": d.offset, "what": d.what})),
    })
}

/// A finding as a flat JSON object (the NDJSON line, and an element of `findings`).
pub fn finding_json(f: &Finding) -> Value {
    json!({
        "id": f.id,
        "rule_id": f.rule_id,
        "severity": f.severity.as_str(),
        "clause": f.clause,
        "message_en": f.message_en,
        "message_ja": f.message_ja,
        "src_ip": f.src.ip.to_string(),
        "src_port": f.src.port,
        "src_class": f.src.class,
        "src_prefix": f.src.prefix.map(|p| p.to_string()),
        "dst_ip": f.dst.ip.to_string(),
        "dst_port": f.dst.port,
        "dst_class": f.dst.class,
        "dst_prefix": f.dst.prefix.map(|p| p.to_string()),
        "service": f.service,
        "proto": f.proto,
        "initiator": if f.initiator_known { "src" } else { "unknown" },
        "mac": f.mac,
        "first_ts": format_rfc3339(f.first_ts),
        "last_ts": format_rfc3339(f.last_ts),
        "flows": f.flows,
        "packets": f.packets,
        "bytes": f.bytes,
        "community_id": f.community_id,
        "file": f.evidence.file,
        "first_packet_index": f.evidence.first_packet_index,
        "first_packet_offset": f.evidence.first_packet_offset,
        "considered": f.considered,
    })
}

/// A finding with its baseline status (`"baseline": "new"` or `"recurring"`) when the
/// analysis was compared with an earlier report.
pub fn finding_json_in(f: &Finding, a: &Analysis) -> Value {
    let mut v = finding_json(f);
    if let (Some(d), Some(o)) = (&a.baseline, v.as_object_mut()) {
        let status = if d.is_new(&f.id) { "new" } else { "recurring" };
        o.insert("baseline".into(), json!(status));
    }
    v
}

/// A finding of the earlier report that disappeared (`"baseline": "disappeared"`).
pub fn gone_json(g: &GoneFinding) -> Value {
    json!({
        "id": g.id, "rule_id": g.rule_id, "severity": g.severity, "src_ip": g.src_ip,
        "dst_ip": g.dst_ip, "service": g.service, "baseline": "disappeared",
    })
}

fn baseline_json(a: &Analysis) -> Value {
    match &a.baseline {
        None => Value::Null,
        Some(d) => json!({
            "path": d.path,
            "sha256": d.sha256,
            "new": d.new.len(),
            "recurring": a.findings.iter().filter(|f| !d.is_new(&f.id)).count(),
            "disappeared": d.disappeared.iter().map(gone_json).collect::<Vec<_>>(),
        }),
    }
}

fn severity_counts(a: &Analysis) -> Value {
    let mut m = serde_json::Map::new();
    for s in [
        Severity::Critical,
        Severity::High,
        Severity::Medium,
        Severity::Low,
        Severity::Info,
    ] {
        m.insert(
            s.as_str().into(),
            json!(a.findings.iter().filter(|f| f.severity == s).count()),
        );
    }
    Value::Object(m)
}

fn offset_str(secs: i32) -> String {
    let sign = if secs < 0 { '-' } else { '+' };
    let a = secs.unsigned_abs();
    format!("{sign}{:02}:{:02}", a / 3600, (a % 3600) / 60)
}

/// The whole analysis as one JSON document.
pub fn analysis_json(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    ctx: &RunContext,
) -> Value {
    let mut v = json!({
        "schema": ANALYSIS_SCHEMA,
        "summary": {
            "tool": "flowcore",
            "version": env!("CARGO_PKG_VERSION"),
            "command_line": ctx.command_line,
            "ruleset": {
                "path": rs.path.display().to_string(),
                "sha256": rs.sha256,
                "site": rs.site_name,
                "policy": rs.policy_id,
                "policy_name_en": rs.policy_names.0,
                "policy_name_ja": rs.policy_names.1,
                "utc_offset": offset_str(rs.utc_offset),
            },
            "inputs": inputs.iter().map(input_json).collect::<Vec<_>>(),
            "errors": errors,
            "exports": ctx.exports,
            "flows": a.flows,
            "violating_flows": a.violating_flows,
            "findings_overflowed": a.findings_overflowed,
            "macs_untracked": a.macs_untracked,
            "findings": a.findings.len(),
            "findings_by_severity": severity_counts(a),
            "matrix": a.matrix.iter().map(|(s, d, c)| json!({
                "src_class": s, "dst_class": d, "flows": c.flows, "bytes": c.bytes,
                "violations": c.violations, "permitted": c.permitted,
            })).collect::<Vec<_>>(),
        },
        "findings": a.findings.iter().map(|f| finding_json_in(f, a)).collect::<Vec<_>>(),
    });
    if let (Some(_), Some(s)) = (&a.baseline, v["summary"].as_object_mut()) {
        s.insert("baseline".into(), baseline_json(a));
    }
    if let (Some(t), Some(s)) = (ctx.generated_at, v["summary"].as_object_mut()) {
        s.insert("generated_at".into(), json!(format_rfc3339(t)));
    }
    v
}

/// Writes the document [`analysis_json`] makes, pretty-printed, without holding it in memory
/// at once: each finding is turned into JSON only as it is written (a flood's 100 000
/// findings would otherwise take hundreds of MiB as one JSON tree).
pub fn write_analysis_json(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    ctx: &RunContext,
    out: &mut impl Write,
) -> io::Result<()> {
    struct Findings<'a>(&'a Analysis);
    impl serde::Serialize for Findings<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            s.collect_seq(self.0.findings.iter().map(|f| finding_json_in(f, self.0)))
        }
    }
    struct Doc<'a> {
        summary: Value,
        findings: Findings<'a>,
    }
    impl serde::Serialize for Doc<'_> {
        fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
            use serde::ser::SerializeMap;
            let mut m = s.serialize_map(Some(3))?;
            m.serialize_entry("schema", ANALYSIS_SCHEMA)?;
            m.serialize_entry("summary", &self.summary)?;
            m.serialize_entry("findings", &self.findings)?;
            m.end()
        }
    }
    let empty = a.clone_counts();
    let mut summary = analysis_json(rs, inputs, errors, &empty, ctx);
    // The summary counts every finding, not the empty list it was built from.
    summary["summary"]["findings"] = json!(a.findings.len());
    summary["summary"]["findings_by_severity"] = severity_counts(a);
    if a.baseline.is_some() {
        summary["summary"]["baseline"] = baseline_json(a);
    }
    let doc = Doc {
        summary: summary["summary"].take(),
        findings: Findings(a),
    };
    serde_json::to_writer_pretty(&mut *out, &doc)?;
    out.write_all(b"\n")
}

/// `YYYY-MM-DD HH:MM:SS+HH:MM` in the site's time.
pub fn local_time(ts: i64, utc_offset: i32) -> String {
    let s = format_rfc3339(ts + i64::from(utc_offset) * NS_PER_SEC);
    format!("{} {}{}", &s[..10], &s[11..19], offset_str(utc_offset))
}

/// The analysis for people: summary, segment matrix, findings grouped by rule.
pub fn analysis_table(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    out: &mut impl Write,
) -> io::Result<()> {
    writeln!(
        out,
        "Site: {} — policy {} ({})",
        rs.site_name, rs.policy_id, rs.policy_names.0
    )?;
    writeln!(out, "Ruleset: {} (sha256 {})", rs.path.display(), rs.sha256)?;
    for i in inputs {
        let s = &i.summary;
        write!(
            out,
            "Input: {}: {} packets read, {} decoded, {} skipped, {} flows",
            s.name,
            s.packets_read,
            s.packets_decoded,
            s.packets_skipped(),
            s.flows.records
        )?;
        if let Some(d) = &i.digest {
            write!(out, ", {} bytes, sha256 {}", d.size, d.sha256)?;
        }
        writeln!(out)?;
        if let Some(d) = &s.damage {
            writeln!(out, "  damaged {d}")?;
        }
    }
    for e in errors {
        writeln!(out, "Error: {e}")?;
    }
    let sev = |s: Severity| a.findings.iter().filter(|f| f.severity == s).count();
    writeln!(
        out,
        "Flows: {} judged, {} in violation. Findings: {} ({} critical, {} high, {} medium, {} low)\n",
        a.flows,
        a.violating_flows,
        a.findings.len(),
        sev(Severity::Critical),
        sev(Severity::High),
        sev(Severity::Medium),
        sev(Severity::Low)
    )?;
    writeln!(out, "Segment matrix (initiator -> responder):")?;
    let w = a
        .matrix
        .iter()
        .map(|(s, d, _)| s.len() + d.len() + 4)
        .max()
        .unwrap_or(10)
        .max(10);
    writeln!(
        out,
        "  {:<w$}  {:>7}  {:>12}  {:>10}  {:>9}",
        "pair", "flows", "bytes", "violations", "permitted"
    )?;
    for (s, d, c) in &a.matrix {
        writeln!(
            out,
            "  {:<w$}  {:>7}  {:>12}  {:>10}  {:>9}",
            format!("{s} -> {d}"),
            c.flows,
            c.bytes,
            c.violations,
            c.permitted
        )?;
    }
    writeln!(out)?;
    if a.findings.is_empty() {
        writeln!(out, "No findings.")?;
    }
    let mut last_rule = "";
    for f in &a.findings {
        if f.rule_id != last_rule {
            last_rule = &f.rule_id;
            writeln!(
                out,
                "[{}] {} {} — {}",
                f.severity.as_str().to_uppercase(),
                f.rule_id,
                f.clause,
                f.message_en
            )?;
            writeln!(out, "    {}", f.message_ja)?;
        }
        let who = match &f.mac {
            Some(mac) => format!(
                "MAC {mac}: {} ({}) and {} ({})",
                f.src.ip, f.src.class, f.dst.ip, f.dst.class
            ),
            None => format!(
                "{} ({}) -> {}:{} ({}) {}",
                f.src.ip, f.src.class, f.dst.ip, f.dst.port, f.dst.class, f.service
            ),
        };
        let mark = match &a.baseline {
            Some(d) if d.is_new(&f.id) => "NEW ",
            Some(_) => "    ",
            None => "",
        };
        writeln!(out, "  {mark}{who}  [{}]", f.id)?;
        writeln!(
            out,
            "      {} .. {}, {} flows, {} packets, {} bytes; {} packet {} at byte {}",
            local_time(f.first_ts, rs.utc_offset),
            local_time(f.last_ts, rs.utc_offset),
            f.flows,
            f.packets,
            f.bytes,
            f.evidence.file,
            f.evidence.first_packet_index,
            f.evidence.first_packet_offset
        )?;
        for c in &f.considered {
            writeln!(out, "      considered: {c}")?;
        }
    }
    if let Some(d) = &a.baseline {
        writeln!(
            out,
            "\nCompared with {}: {} new, {} recurring, {} disappeared",
            d.path,
            d.new.len(),
            a.findings.iter().filter(|f| !d.is_new(&f.id)).count(),
            d.disappeared.len()
        )?;
        for g in &d.disappeared {
            writeln!(
                out,
                "  GONE {} {} {} -> {} {}  [{}]",
                g.severity.to_uppercase(),
                g.rule_id,
                g.src_ip,
                g.dst_ip,
                g.service,
                g.id
            )?;
        }
    }
    Ok(())
}
