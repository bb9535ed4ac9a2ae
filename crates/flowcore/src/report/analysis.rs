//! Writers for `flowcli analyze`: a JSON document (`flowcore.analysis/1`: summary with
//! inputs, hashes, counts and the segment matrix, then findings), NDJSON (one finding per
//! line) and a table for people.

use std::io::{self, Write};
use std::net::IpAddr;

use ipnet::IpNet;

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
        "format": s.format.name(),
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
    serde_json::to_value(FindingDoc {
        finding: f,
        analysis: None,
    })
    .unwrap_or(Value::Null)
}

/// A finding as JSON, written straight to a serializer: the one definition of the finding
/// document ([`finding_json`] and [`finding_json_in`] are its `Value` form). Streaming it
/// without building a [`Value`] first saved a sixth of `analyze` on a night with many
/// findings.
pub struct FindingDoc<'a> {
    /// The finding.
    pub finding: &'a Finding,
    /// The analysis it belongs to, for its baseline status (`None`: no `baseline` key).
    pub analysis: Option<&'a Analysis>,
}

impl serde::Serialize for FindingDoc<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        /// Serializes through `Display` (addresses, prefixes) without a `String`.
        struct Shown<T>(T);
        impl<T: std::fmt::Display> serde::Serialize for Shown<T> {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                s.collect_str(&self.0)
            }
        }
        let f = self.finding;
        let baseline = self.baseline();
        let mut m = s.serialize_map(Some(28 + usize::from(baseline.is_some())))?;
        m.serialize_entry("id", &f.id)?;
        m.serialize_entry("rule_id", &f.rule_id)?;
        m.serialize_entry("severity", f.severity.as_str())?;
        m.serialize_entry("clause", &f.clause)?;
        m.serialize_entry("message_en", &f.message_en)?;
        m.serialize_entry("message_ja", &f.message_ja)?;
        m.serialize_entry("src_ip", &Shown(f.src.ip))?;
        m.serialize_entry("src_port", &f.src.port)?;
        m.serialize_entry("src_class", &f.src.class)?;
        m.serialize_entry("src_prefix", &f.src.prefix.map(Shown))?;
        m.serialize_entry("dst_ip", &Shown(f.dst.ip))?;
        m.serialize_entry("dst_port", &f.dst.port)?;
        m.serialize_entry("dst_class", &f.dst.class)?;
        m.serialize_entry("dst_prefix", &f.dst.prefix.map(Shown))?;
        m.serialize_entry("service", &f.service)?;
        m.serialize_entry("proto", &f.proto)?;
        m.serialize_entry(
            "initiator",
            if f.initiator_known { "src" } else { "unknown" },
        )?;
        m.serialize_entry("mac", &f.mac)?;
        m.serialize_entry("first_ts", &format_rfc3339(f.first_ts))?;
        m.serialize_entry("last_ts", &format_rfc3339(f.last_ts))?;
        m.serialize_entry("flows", &f.flows)?;
        m.serialize_entry("packets", &f.packets)?;
        m.serialize_entry("bytes", &f.bytes)?;
        m.serialize_entry("community_id", &f.community_id)?;
        m.serialize_entry("file", &f.evidence.file)?;
        m.serialize_entry("first_packet_index", &f.evidence.first_packet_index)?;
        m.serialize_entry("first_packet_offset", &f.evidence.first_packet_offset)?;
        m.serialize_entry("considered", &f.considered)?;
        if let Some(b) = baseline {
            m.serialize_entry("baseline", b)?;
        }
        m.end()
    }
}

impl FindingDoc<'_> {
    /// The baseline status written as `baseline`: none without a baseline.
    fn baseline(&self) -> Option<&'static str> {
        let d = self.analysis.and_then(|a| a.baseline.as_ref())?;
        Some(if d.is_new(&self.finding.id) {
            "new"
        } else {
            "recurring"
        })
    }

    /// Appends the finding as compact JSON (an NDJSON line without its newline): byte for
    /// byte what serde_json writes for this document, without going through serde (a
    /// night's tens of thousands of findings made serde's per-field calls and escaping a
    /// serial tail of `analyze`). A test compares the two on hostile strings.
    pub fn push_compact(&self, out: &mut String) {
        self.push(out, &COMPACT_KEYS, "", "");
    }

    /// Appends the finding pretty-printed as an element of the analysis document's
    /// `findings` list (two levels deep), as `serde_json::to_writer_pretty` writes it.
    fn push_pretty_element(&self, out: &mut String) {
        self.push(out, &PRETTY_KEYS, "\n      ", "\n    ");
    }

    /// Writes the fields in [`FindingDoc`]'s order; `keys` are what precedes each value,
    /// `field` starts each member (a newline and indent when pretty), `close` precedes the
    /// closing brace.
    fn push(&self, out: &mut String, keys: &[&str; 29], field: &str, close: &str) {
        use super::{json_str, push_ip, push_u64};
        let f = self.finding;
        let mut next = 0;
        let mut key = |out: &mut String, k: &str| {
            debug_assert_eq!(FINDING_COLUMNS.get(next), Some(&k), "keys out of order");
            out.push_str(keys.get(next).copied().unwrap_or_default());
            next += 1;
        };
        let ip = |out: &mut String, a: IpAddr| {
            out.push('"');
            push_ip(out, a);
            out.push('"');
        };
        let prefix = |out: &mut String, p: Option<IpNet>| match p {
            None => out.push_str("null"),
            Some(IpNet::V4(n)) => {
                out.push('"');
                push_ip(out, IpAddr::V4(n.addr()));
                out.push('/');
                push_u64(out, u64::from(n.prefix_len()));
                out.push('"');
            }
            Some(n) => {
                use std::fmt::Write;
                let _ = write!(out, "\"{n}\"");
            }
        };
        let ts = |out: &mut String, t: i64| {
            out.push('"');
            crate::time::push_rfc3339(out, t);
            out.push('"');
        };
        out.push('{');
        key(out, "id");
        json_str(out, &f.id);
        key(out, "rule_id");
        json_str(out, &f.rule_id);
        key(out, "severity");
        json_str(out, f.severity.as_str());
        key(out, "clause");
        json_str(out, &f.clause);
        key(out, "message_en");
        json_str(out, &f.message_en);
        key(out, "message_ja");
        json_str(out, &f.message_ja);
        for (side, e) in [("src", &f.src), ("dst", &f.dst)] {
            let [k_ip, k_port, k_class, k_prefix] = if side == "src" {
                ["src_ip", "src_port", "src_class", "src_prefix"]
            } else {
                ["dst_ip", "dst_port", "dst_class", "dst_prefix"]
            };
            key(out, k_ip);
            ip(out, e.ip);
            key(out, k_port);
            push_u64(out, u64::from(e.port));
            key(out, k_class);
            json_str(out, &e.class);
            key(out, k_prefix);
            prefix(out, e.prefix);
        }
        key(out, "service");
        json_str(out, &f.service);
        key(out, "proto");
        push_u64(out, u64::from(f.proto));
        key(out, "initiator");
        out.push_str(if f.initiator_known {
            "\"src\""
        } else {
            "\"unknown\""
        });
        key(out, "mac");
        match &f.mac {
            Some(m) => json_str(out, m),
            None => out.push_str("null"),
        }
        key(out, "first_ts");
        ts(out, f.first_ts);
        key(out, "last_ts");
        ts(out, f.last_ts);
        key(out, "flows");
        push_u64(out, f.flows);
        key(out, "packets");
        push_u64(out, f.packets);
        key(out, "bytes");
        push_u64(out, f.bytes);
        key(out, "community_id");
        json_str(out, &f.community_id);
        key(out, "file");
        json_str(out, &f.evidence.file);
        key(out, "first_packet_index");
        push_u64(out, f.evidence.first_packet_index);
        key(out, "first_packet_offset");
        push_u64(out, f.evidence.first_packet_offset);
        key(out, "considered");
        out.push('[');
        for (i, c) in f.considered.iter().enumerate() {
            if i > 0 {
                out.push(',');
            }
            if !field.is_empty() {
                out.push_str(field);
                out.push_str("  ");
            }
            json_str(out, c);
        }
        if !f.considered.is_empty() {
            out.push_str(field);
        }
        out.push(']');
        if let Some(b) = self.baseline() {
            key(out, "baseline");
            json_str(out, b);
        }
        out.push_str(close);
        out.push('}');
    }
}

/// The finding document's keys, in order, once: the table's column names and what the
/// JSON writers put before each value.
macro_rules! finding_keys {
    ($first:literal $(, $k:literal)* $(,)?) => {
        /// Column names of the finding table, in order.
        pub const FINDING_COLUMNS: [&str; 29] = [$first $(, $k)*];
        /// Each key as compact JSON writes it, with the comma before it.
        const COMPACT_KEYS: [&str; 29] = [concat!("\"", $first, "\":") $(, concat!(",\"", $k, "\":"))*];
        /// Each key as a pretty-printed element of the document's `findings` list.
        const PRETTY_KEYS: [&str; 29] =
            [concat!("\n      \"", $first, "\": ") $(, concat!(",\n      \"", $k, "\": "))*];
    };
}

finding_keys!(
    "id",
    "rule_id",
    "severity",
    "clause",
    "message_en",
    "message_ja",
    "src_ip",
    "src_port",
    "src_class",
    "src_prefix",
    "dst_ip",
    "dst_port",
    "dst_class",
    "dst_prefix",
    "service",
    "proto",
    "initiator",
    "mac",
    "first_ts",
    "last_ts",
    "flows",
    "packets",
    "bytes",
    "community_id",
    "file",
    "first_packet_index",
    "first_packet_offset",
    "considered",
    "baseline",
);

/// One field of a finding (as in its JSON) as a table cell: null is no value, lists (the
/// `considered` reasons) are joined by `"; "`.
pub(crate) fn finding_cell(v: &Value) -> Option<String> {
    match v {
        Value::Null => None,
        Value::String(s) => Some(s.clone()),
        Value::Array(items) => Some(
            items
                .iter()
                .map(|i| i.as_str().map_or_else(|| i.to_string(), str::to_string))
                .collect::<Vec<_>>()
                .join("; "),
        ),
        other => Some(other.to_string()),
    }
}

/// The finding table as CSV: a header of [`FINDING_COLUMNS`], then one row per finding
/// (times in RFC 3339 UTC, `considered` joined by `"; "`, nulls empty).
pub fn write_findings_csv(a: &Analysis, out: &mut impl Write) -> io::Result<()> {
    let names: Vec<String> = FINDING_COLUMNS.iter().map(|c| c.to_string()).collect();
    let rows: Vec<Vec<String>> = a
        .findings
        .iter()
        .map(|f| {
            let v = finding_json_in(f, a);
            FINDING_COLUMNS
                .iter()
                .map(|c| v.get(*c).and_then(finding_cell).unwrap_or_default())
                .collect()
        })
        .collect();
    let mut s = String::new();
    super::push_csv_rows(&mut s, &names, &rows);
    out.write_all(s.as_bytes())
}

/// A finding with its baseline status (`"baseline": "new"` or `"recurring"`) when the
/// analysis was compared with an earlier report.
pub fn finding_json_in(f: &Finding, a: &Analysis) -> Value {
    serde_json::to_value(FindingDoc {
        finding: f,
        analysis: Some(a),
    })
    .unwrap_or(Value::Null)
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
                "path": crate::text::path_text(&rs.path),
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
            "violations_by_hour": a.violations_by_hour.iter().map(|(h, n)| json!({
                "hour": format_rfc3339(h * 3600 * NS_PER_SEC), "flows": n,
            })).collect::<Vec<_>>(),
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

/// Writes the document [`analysis_json`] makes, pretty-printed exactly as
/// `serde_json::to_writer_pretty` prints it, without holding it in memory at once: each
/// finding is written only as its turn comes (a flood's 100 000 findings would otherwise
/// take hundreds of MiB as one JSON tree), by [`FindingDoc`]'s own writer rather than
/// through serde (a test compares the whole document with serde_json's).
pub fn write_analysis_json(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    ctx: &RunContext,
    out: &mut impl Write,
) -> io::Result<()> {
    write_analysis_json_on(rs, inputs, errors, a, ctx, 1, out)
}

/// [`write_analysis_json`] with the findings formatted on up to `threads` threads
/// ([`super::write_in_order`]): the same bytes, sooner when cores are idle at the end of
/// a run.
pub fn write_analysis_json_on(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    ctx: &RunContext,
    threads: usize,
    out: &mut impl Write,
) -> io::Result<()> {
    let empty = a.clone_counts();
    let mut summary = analysis_json(rs, inputs, errors, &empty, ctx);
    // The summary counts every finding, not the empty list it was built from.
    summary["summary"]["findings"] = json!(a.findings.len());
    summary["summary"]["findings_by_severity"] = severity_counts(a);
    if a.baseline.is_some() {
        summary["summary"]["baseline"] = baseline_json(a);
    }
    let summary = serde_json::to_string_pretty(&summary["summary"])?;
    let mut buf = String::with_capacity(summary.len() + 64);
    buf.push_str("{\n  \"schema\": ");
    super::json_str(&mut buf, ANALYSIS_SCHEMA);
    buf.push_str(",\n  \"summary\": ");
    // One level deeper than serde_json printed it: JSON strings hold no raw newline, so
    // every newline is followed by indentation.
    for (i, line) in summary.split('\n').enumerate() {
        if i > 0 {
            buf.push_str("\n  ");
        }
        buf.push_str(line);
    }
    buf.push_str(",\n  \"findings\": [");
    out.write_all(buf.as_bytes())?;
    super::write_in_order(&a.findings, threads, out, |i, f, buf| {
        buf.push_str(if i == 0 { "\n    " } else { ",\n    " });
        FindingDoc {
            finding: f,
            analysis: Some(a),
        }
        .push_pretty_element(buf);
    })?;
    out.write_all(if a.findings.is_empty() {
        b"]\n}\n"
    } else {
        b"\n  ]\n}\n"
    })
}

/// The findings as NDJSON, one compact [`FindingDoc`] per line, then (with a baseline)
/// one line per finding that disappeared ([`gone_json`]); the findings are formatted on up
/// to `threads` threads ([`super::write_in_order`]), the bytes the same whatever the count.
pub fn write_findings_ndjson(
    a: &Analysis,
    threads: usize,
    out: &mut (impl Write + ?Sized),
) -> io::Result<()> {
    super::write_in_order(&a.findings, threads, out, |_, f, line| {
        FindingDoc {
            finding: f,
            analysis: Some(a),
        }
        .push_compact(line);
        line.push('\n');
    })?;
    for g in a.baseline.iter().flat_map(|d| &d.disappeared) {
        serde_json::to_writer(&mut *out, &gone_json(g))?;
        out.write_all(b"\n")?;
    }
    Ok(())
}

/// `YYYY-MM-DD HH:MM:SS+HH:MM` in the site's time.
pub fn local_time(ts: i64, utc_offset: i32) -> String {
    let s = format_rfc3339(ts + i64::from(utc_offset) * NS_PER_SEC);
    format!("{} {}{}", &s[..10], &s[11..19], offset_str(utc_offset))
}

/// Language of the texts people read (`--lang`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Lang {
    /// English.
    #[default]
    En,
    /// Japanese.
    Ja,
}

/// Words of the table in both languages.
struct Words {
    site: &'static str,
    policy: &'static str,
    ruleset: &'static str,
    input: &'static str,
    read: &'static str,
    decoded: &'static str,
    skipped: &'static str,
    flows: &'static str,
    damaged: &'static str,
    error: &'static str,
    summary: &'static str,
    matrix: &'static str,
    pair: &'static str,
    bytes: &'static str,
    violations: &'static str,
    permitted: &'static str,
    none: &'static str,
    packets: &'static str,
    at_byte: &'static str,
    considered: &'static str,
    compared: &'static str,
}

const EN: Words = Words {
    site: "Site",
    policy: "policy",
    ruleset: "Ruleset",
    input: "Input",
    read: "packets read",
    decoded: "decoded",
    skipped: "skipped",
    flows: "flows",
    damaged: "damaged",
    error: "Error",
    summary: "Flows: {flows} judged, {violating} in violation. Findings: {findings} ({critical} critical, {high} high, {medium} medium, {low} low)",
    matrix: "Segment matrix (initiator -> responder):",
    pair: "pair",
    bytes: "bytes",
    violations: "violations",
    permitted: "permitted",
    none: "No findings.",
    packets: "packets",
    at_byte: "packet {index} at byte {offset}",
    considered: "considered",
    compared: "Compared with {path}: {new} new, {recurring} recurring, {gone} disappeared",
};

const JA: Words = Words {
    site: "団体",
    policy: "モデル",
    ruleset: "ルールセット",
    input: "入力",
    read: "パケット読込",
    decoded: "解析",
    skipped: "除外",
    flows: "フロー",
    damaged: "破損",
    error: "エラー",
    summary: "フロー: 判定 {flows} 件、違反 {violating} 件。検出事項: {findings} 件(重大 {critical}、高 {high}、中 {medium}、低 {low})",
    matrix: "セグメント間の通信(通信開始側 -> 応答側):",
    pair: "組み合わせ",
    bytes: "バイト",
    violations: "違反",
    permitted: "許可",
    none: "検出事項はありません。",
    packets: "パケット",
    at_byte: "パケット番号 {index}(オフセット {offset} バイト)",
    considered: "検討",
    compared: "{path} との比較: 新規 {new} 件、継続 {recurring} 件、解消 {gone} 件",
};

/// A segment or zone as people call it: the three segments and the usual zones by their
/// names in the guideline (マイナンバー利用事務系, ...), others as the site file names them.
pub fn class_label(class: &str, lang: Lang) -> String {
    let (en, ja) = match class {
        "mynumber" => ("My Number segment", "マイナンバー利用事務系"),
        "lgwan" => ("LGWAN segment", "LGWAN接続系"),
        "internet" => ("Internet segment", "インターネット接続系"),
        "lgwan_wan" => ("LGWAN network", "LGWAN(庁外)"),
        "security_cloud" => ("security cloud", "自治体情報セキュリティクラウド"),
        "public" => ("the Internet", "インターネット"),
        "unknown" => ("unknown (not in the inventory)", "不明(台帳に未登録)"),
        "local" => ("local", "ローカル"),
        other => return other.to_string(),
    };
    match lang {
        Lang::En => en.to_string(),
        Lang::Ja => ja.to_string(),
    }
}

fn severity_label(s: Severity, lang: Lang) -> String {
    match lang {
        Lang::En => s.as_str().to_uppercase(),
        Lang::Ja => match s {
            Severity::Critical => "重大",
            Severity::High => "高",
            Severity::Medium => "中",
            Severity::Low => "低",
            Severity::Info => "情報",
        }
        .to_string(),
    }
}

/// Replaces `{name}` placeholders.
fn fill(template: &str, vals: &[(&str, String)]) -> String {
    let mut s = template.to_string();
    for (k, v) in vals {
        s = s.replace(&format!("{{{k}}}"), v);
    }
    s
}

/// The analysis for people, in English: summary, segment matrix, findings grouped by rule.
pub fn analysis_table(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    out: &mut impl Write,
) -> io::Result<()> {
    let style = TableStyle::default();
    analysis_table_in(rs, inputs, errors, a, &RunContext::default(), style, out)
}

/// How the table is written: language and colour.
#[derive(Debug, Clone, Copy, Default)]
pub struct TableStyle {
    /// Language of labels, segment names and messages.
    pub lang: Lang,
    /// Severities in ANSI colour (for a terminal without `NO_COLOR`).
    pub color: bool,
}

/// The analysis for people in `lang`: every label, segment name and rule message in that
/// language, times in the site's timezone with its offset; severities in colour (ANSI) when
/// `color` is set (a terminal, and no `NO_COLOR`). Ends with the tool, its version and the
/// command line of `ctx`.
pub fn analysis_table_in(
    rs: &Ruleset,
    inputs: &[AnalysedInput],
    errors: &[String],
    a: &Analysis,
    ctx: &RunContext,
    style: TableStyle,
    out: &mut impl Write,
) -> io::Result<()> {
    let TableStyle { lang, color } = style;
    let paint = |s: Severity, text: String| {
        if !color {
            return text;
        }
        let code = match s {
            Severity::Critical => "1;37;41",
            Severity::High => "1;31",
            Severity::Medium => "33",
            Severity::Low => "36",
            Severity::Info => "2",
        };
        format!("\x1b[{code}m{text}\x1b[0m")
    };
    let w = match lang {
        Lang::En => &EN,
        Lang::Ja => &JA,
    };
    let policy_name = match lang {
        Lang::En => &rs.policy_names.0,
        Lang::Ja => &rs.policy_names.1,
    };
    writeln!(
        out,
        "{}: {} — {} {} ({policy_name})",
        w.site, rs.site_name, w.policy, rs.policy_id
    )?;
    writeln!(
        out,
        "{}: {} (sha256 {})",
        w.ruleset,
        crate::text::path_text(&rs.path),
        rs.sha256
    )?;
    for i in inputs {
        let s = &i.summary;
        write!(
            out,
            "{}: {}: {} {}, {} {}, {} {}, {} {}",
            w.input,
            s.name,
            w.read,
            s.packets_read,
            w.decoded,
            s.packets_decoded,
            w.skipped,
            s.packets_skipped(),
            w.flows,
            s.flows.records
        )?;
        if let Some(d) = i.digest.as_ref().or(s.digest.as_ref()) {
            write!(out, ", {} {}, sha256 {}", d.size, w.bytes, d.sha256)?;
        }
        if let (Some(f), Some(l)) = (s.first_ts, s.last_ts) {
            write!(
                out,
                ", {} .. {}",
                local_time(f, rs.utc_offset),
                local_time(l, rs.utc_offset)
            )?;
        }
        writeln!(out)?;
        if let Some(d) = &s.damage {
            writeln!(out, "  {} {d}", w.damaged)?;
        }
    }
    for e in errors {
        writeln!(out, "{}: {e}", w.error)?;
    }
    let sev = |s: Severity| {
        a.findings
            .iter()
            .filter(|f| f.severity == s)
            .count()
            .to_string()
    };
    writeln!(
        out,
        "{}\n",
        fill(
            w.summary,
            &[
                ("flows", a.flows.to_string()),
                ("violating", a.violating_flows.to_string()),
                ("findings", a.findings.len().to_string()),
                ("critical", sev(Severity::Critical)),
                ("high", sev(Severity::High)),
                ("medium", sev(Severity::Medium)),
                ("low", sev(Severity::Low)),
            ]
        )
    )?;
    writeln!(out, "{}", w.matrix)?;
    let pairs: Vec<String> = a
        .matrix
        .iter()
        .map(|(s, d, _)| format!("{} -> {}", class_label(s, lang), class_label(d, lang)))
        .collect();
    // Width in characters; CJK characters take two columns on a terminal.
    let cols = |s: &str| {
        s.chars()
            .map(|c| if c.len_utf8() > 1 { 2 } else { 1 })
            .sum::<usize>()
    };
    let width = pairs.iter().map(|p| cols(p)).max().unwrap_or(10).max(10);
    let pad = |s: &str| format!("{s}{}", " ".repeat(width.saturating_sub(cols(s))));
    let right = |s: &str, n: usize| format!("{}{s}", " ".repeat(n.saturating_sub(cols(s))));
    writeln!(
        out,
        "  {}  {}  {}  {}  {}",
        pad(w.pair),
        right(w.flows, 7),
        right(w.bytes, 12),
        right(w.violations, 10),
        right(w.permitted, 9)
    )?;
    for ((_, _, c), p) in a.matrix.iter().zip(&pairs) {
        writeln!(
            out,
            "  {}  {:>7}  {:>12}  {:>10}  {:>9}",
            pad(p),
            c.flows,
            c.bytes,
            c.violations,
            c.permitted
        )?;
    }
    writeln!(out)?;
    if a.findings.is_empty() {
        writeln!(out, "{}", w.none)?;
    }
    let mut last_rule = "";
    for f in &a.findings {
        if f.rule_id != last_rule {
            last_rule = &f.rule_id;
            let (msg, other) = match lang {
                Lang::En => (&f.message_en, &f.message_ja),
                Lang::Ja => (&f.message_ja, &f.message_en),
            };
            writeln!(
                out,
                "[{}] {} {} — {msg}",
                paint(f.severity, severity_label(f.severity, lang)),
                f.rule_id,
                f.clause
            )?;
            writeln!(out, "    {other}")?;
        }
        let who = match &f.mac {
            Some(mac) => format!(
                "MAC {mac}: {} ({}) / {} ({})",
                f.src.ip,
                class_label(&f.src.class, lang),
                f.dst.ip,
                class_label(&f.dst.class, lang)
            ),
            None => format!(
                "{} ({}) -> {}:{} ({}) {}",
                f.src.ip,
                class_label(&f.src.class, lang),
                f.dst.ip,
                f.dst.port,
                class_label(&f.dst.class, lang),
                f.service
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
            "      {} .. {}, {} {}, {} {}, {} {}; {} {}",
            local_time(f.first_ts, rs.utc_offset),
            local_time(f.last_ts, rs.utc_offset),
            f.flows,
            w.flows,
            f.packets,
            w.packets,
            f.bytes,
            w.bytes,
            f.evidence.file,
            fill(
                w.at_byte,
                &[
                    ("index", f.evidence.first_packet_index.to_string()),
                    ("offset", f.evidence.first_packet_offset.to_string()),
                ]
            )
        )?;
        for c in &f.considered {
            writeln!(out, "      {}: {c}", w.considered)?;
        }
    }
    if let Some(d) = &a.baseline {
        writeln!(
            out,
            "\n{}",
            fill(
                w.compared,
                &[
                    ("path", d.path.clone()),
                    ("new", d.new.len().to_string()),
                    (
                        "recurring",
                        a.findings
                            .iter()
                            .filter(|f| !d.is_new(&f.id))
                            .count()
                            .to_string()
                    ),
                    ("gone", d.disappeared.len().to_string()),
                ]
            )
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
    if !ctx.command_line.is_empty() {
        writeln!(
            out,
            "\nflowcore {}: {}",
            env!("CARGO_PKG_VERSION"),
            ctx.command_line.join(" ")
        )?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::flow::{DirStats, FlowRecord};
    use crate::input::{CaptureReader, Damage, InputDigest};
    use crate::policy::{Analyzer, BaselineDiff};

    /// A small deterministic generator (xorshift64*).
    struct Rng(u64);
    impl Rng {
        fn next(&mut self) -> u64 {
            self.0 ^= self.0 >> 12;
            self.0 ^= self.0 << 25;
            self.0 ^= self.0 >> 27;
            self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
        }
        fn below(&mut self, n: usize) -> usize {
            (self.next() % n as u64) as usize
        }
        /// A string of up to 12 pieces: escapes, control characters, DEL, `/`,
        /// non-ASCII of every UTF-8 length, plain text.
        fn hostile(&mut self) -> String {
            const PIECES: [&str; 16] = [
                "\"", "\\", "\u{8}", "\t", "\n", "\u{c}", "\r", "\u{1}", "\u{1f}", "\u{7f}", "/",
                "é", "系", "🛡", "plain", "",
            ];
            (0..self.below(13))
                .map(|_| PIECES[self.below(PIECES.len())])
                .collect()
        }
    }

    #[test]
    fn json_str_escapes_as_serde_json() {
        let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
        let mut cases: Vec<String> = (0u8..=0x7f).map(|b| char::from(b).to_string()).collect();
        cases.extend((0..2000).map(|_| rng.hostile()));
        // Every byte that is escaped, and its neighbours that are not, at every position of
        // the eight-byte words the scan reads and of the tail after them.
        for b in [
            0x00u8, 0x08, 0x1f, 0x20, b'"', b'\\', b'!', b'#', b'[', b']', 0x7f,
        ] {
            for at in 0..20 {
                let mut s = vec![b'a'; 19];
                s.insert(at, b);
                cases.push(String::from_utf8(s).unwrap());
            }
        }
        cases.push("é系🛡".repeat(5));
        for s in cases {
            let mut ours = String::new();
            super::super::json_str(&mut ours, &s);
            assert_eq!(ours, serde_json::to_string(&s).unwrap(), "{s:?}");
        }
    }

    fn ruleset() -> Ruleset {
        Ruleset::from_str(
            "example-site.toml",
            include_str!("../../../../rulesets/example-site.toml"),
            None,
        )
        .unwrap()
    }

    /// Real findings of the example site, then every string, number and option of each
    /// varied at random.
    fn hostile_analysis(rs: &Ruleset, rng: &mut Rng, vary: bool) -> Analysis {
        let mut an = Analyzer::new(rs);
        for (src, dst, dp, mac) in [
            ("10.1.20.7", "8.8.8.8", 53, None),
            ("10.3.20.15", "10.1.20.7", 445, Some([2, 0, 0, 0, 0, 9])),
            ("fd00:3::15", "2001:db8::1", 443, None),
            ("10.2.10.21", "203.0.113.5", 8080, Some([2, 0, 0, 0, 0, 7])),
            ("10.1.20.8", "10.3.20.16", 22, Some([2, 0, 0, 0, 0, 7])),
        ] {
            let mut f =
                FlowRecord::new(src.parse().unwrap(), 40000, dst.parse().unwrap(), dp, 6, 9);
            f.fwd = DirStats {
                packets: 2,
                bytes: 120,
                ..Default::default()
            };
            f.src_mac = mac;
            f.initiator_known = dp != 22;
            an.observe(&f, "a \"quoted\" file.pcap");
        }
        let mut a = an.finish(&["x".into()]);
        assert!(a.findings.len() >= 3, "{:?}", a.findings);
        if !vary {
            return a;
        }
        let template = a.findings.clone();
        a.findings = (0..60)
            .map(|i| {
                let mut f = template[i % template.len()].clone();
                let big = |r: &mut Rng| match r.below(3) {
                    0 => 0,
                    1 => u64::MAX,
                    _ => r.next() >> r.below(64),
                };
                let ip = |r: &mut Rng| -> IpAddr {
                    if r.below(2) == 0 {
                        IpAddr::from((r.next() as u32).to_be_bytes())
                    } else {
                        let v6 =
                            ((u128::from(r.next()) << 64) | u128::from(r.next())) >> r.below(128);
                        IpAddr::from(std::net::Ipv6Addr::from(v6))
                    }
                };
                f.id = rng.hostile();
                f.rule_id = rng.hostile();
                f.clause = rng.hostile();
                f.message_en = rng.hostile();
                f.message_ja = rng.hostile();
                for e in [&mut f.src, &mut f.dst] {
                    e.ip = ip(rng);
                    e.port = rng.next() as u16;
                    e.class = rng.hostile();
                    e.prefix = match rng.below(3) {
                        0 => None,
                        _ => IpNet::new(ip(rng), 0).ok().map(|n| {
                            let max = n.max_prefix_len();
                            IpNet::new(n.addr(), rng.below(usize::from(max) + 1) as u8).unwrap()
                        }),
                    };
                }
                f.service = rng.hostile();
                f.proto = rng.next() as u8;
                f.initiator_known = rng.below(2) == 0;
                f.mac = (rng.below(2) == 0).then(|| rng.hostile());
                f.first_ts = rng.next() as i64 >> rng.below(64);
                f.last_ts = -(rng.next() as i64 >> (rng.below(63) + 1));
                f.flows = big(rng);
                f.packets = big(rng);
                f.bytes = big(rng);
                f.community_id = rng.hostile();
                f.evidence.file = rng.hostile();
                f.evidence.first_packet_index = big(rng);
                f.evidence.first_packet_offset = big(rng);
                f.considered = (0..rng.below(4)).map(|_| rng.hostile()).collect();
                f
            })
            .collect();
        a
    }

    fn with_baseline(a: &Analysis, rng: &mut Rng) -> Analysis {
        let mut b = a.clone_counts();
        b.findings = a.findings.clone();
        b.baseline = Some(BaselineDiff {
            path: rng.hostile(),
            sha256: rng.hostile(),
            new: a.findings.iter().step_by(2).map(|f| f.id.clone()).collect(),
            disappeared: Vec::new(),
        });
        b
    }

    #[test]
    fn finding_lines_are_serde_jsons() {
        let rs = ruleset();
        let mut rng = Rng(7);
        for vary in [false, true] {
            let a = hostile_analysis(&rs, &mut rng, vary);
            let b = with_baseline(&a, &mut rng);
            for an in [&a, &b] {
                for f in &an.findings {
                    for analysis in [None, Some(an)] {
                        let doc = FindingDoc {
                            finding: f,
                            analysis,
                        };
                        let mut ours = String::new();
                        doc.push_compact(&mut ours);
                        let theirs = serde_json::to_string(&doc).unwrap();
                        assert_eq!(ours, theirs);
                        // And the `Value` forms are the same document.
                        let value = match analysis {
                            Some(an) => finding_json_in(f, an),
                            None => finding_json(f),
                        };
                        assert_eq!(theirs, serde_json::to_string(&value).unwrap());
                    }
                }
            }
        }
    }

    #[test]
    fn analysis_document_is_serde_jsons_pretty_print() {
        let rs = ruleset();
        let mut rng = Rng(11);
        let mut reader = CaptureReader::open(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/ome-city-sample.pcap"
        )))
        .unwrap();
        let mut summary = crate::pipeline::flows_from_capture(
            &mut reader,
            0,
            &crate::flow::FlowConfig::default(),
            &mut |_| {},
        );
        assert!(summary.packets_read > 0);
        for vary in [false, true] {
            let a = hostile_analysis(&rs, &mut rng, vary);
            let mut none = a.clone_counts();
            none.findings.clear();
            let mut one = a.clone_counts();
            one.findings = a.findings[..1].to_vec();
            let b = with_baseline(&a, &mut rng);
            summary.name = rng.hostile();
            summary.damage = Some(Damage {
                offset: rng.next(),
                what: rng.hostile(),
            });
            let inputs = [
                AnalysedInput {
                    summary: summary.clone(),
                    digest: None,
                },
                AnalysedInput {
                    summary: summary.clone(),
                    digest: Some(InputDigest {
                        size: rng.next(),
                        sha256: rng.hostile(),
                    }),
                },
            ];
            let errors = [rng.hostile(), rng.hostile()];
            let ctx = RunContext {
                command_line: vec![rng.hostile(), rng.hostile()],
                generated_at: vary.then_some(1_764_000_000_123_456_789),
                ..Default::default()
            };
            for an in [&a, &none, &one, &b] {
                for (inputs, errors) in [(&inputs[..], &errors[..]), (&[][..], &[][..])] {
                    let mut ours = Vec::new();
                    write_analysis_json(&rs, inputs, errors, an, &ctx, &mut ours).unwrap();
                    let doc = analysis_json(&rs, inputs, errors, an, &ctx);
                    let theirs = serde_json::to_string_pretty(&doc).unwrap() + "\n";
                    assert_eq!(String::from_utf8(ours).unwrap(), theirs);
                }
            }
        }
    }

    #[test]
    fn reports_formatted_on_threads_are_serde_jsons() {
        // Enough findings for several pieces per thread, so that pieces interleave.
        let rs = ruleset();
        let mut rng = Rng(13);
        let a = hostile_analysis(&rs, &mut rng, true);
        let mut many = a.clone_counts();
        while many.findings.len() < 2 * 1024 + 77 {
            many.findings.extend(a.findings.iter().cloned());
        }
        let mut b = with_baseline(&many, &mut rng);
        if let Some(d) = &mut b.baseline {
            for _ in 0..3 {
                d.disappeared.push(crate::policy::GoneFinding {
                    id: rng.hostile(),
                    rule_id: rng.hostile(),
                    severity: rng.hostile(),
                    src_ip: rng.hostile(),
                    dst_ip: rng.hostile(),
                    service: rng.hostile(),
                });
            }
        }
        assert!(b
            .baseline
            .as_ref()
            .is_some_and(|d| !d.disappeared.is_empty()));
        let ctx = RunContext::default();
        for an in [&many, &b] {
            let doc = analysis_json(&rs, &[], &[], an, &ctx);
            let theirs = serde_json::to_string_pretty(&doc).unwrap() + "\n";
            let mut lines = String::new();
            for f in &an.findings {
                let doc = FindingDoc {
                    finding: f,
                    analysis: Some(an),
                };
                lines += &(serde_json::to_string(&doc).unwrap() + "\n");
            }
            for g in an.baseline.iter().flat_map(|d| &d.disappeared) {
                lines += &(serde_json::to_string(&gone_json(g)).unwrap() + "\n");
            }
            for threads in [1, 2, 3] {
                let mut ours = Vec::new();
                write_analysis_json_on(&rs, &[], &[], an, &ctx, threads, &mut ours).unwrap();
                assert!(
                    String::from_utf8(ours).unwrap() == theirs,
                    "{threads} threads"
                );
                let mut ours = Vec::new();
                write_findings_ndjson(an, threads, &mut ours).unwrap();
                assert!(
                    String::from_utf8(ours).unwrap() == lines,
                    "{threads} threads"
                );
            }
        }
    }
}
