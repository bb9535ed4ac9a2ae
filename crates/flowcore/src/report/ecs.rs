//! Flows and findings with Elastic Common Schema (ECS 8) field names, one JSON object per
//! line, for SIEMs: `source.ip`, `destination.port`, `network.transport`,
//! `network.community_id`, `event.start`, `rule.id`, ... Fields ECS has no name for sit
//! under `flowcore.*`.

use serde_json::{json, Map, Value};

use super::analysis::finding_json_in;
use super::{mac_str, proto_name, source_name};
use crate::flow::FlowRecord;
use crate::policy::{Analysis, Finding, Severity};
use crate::time::format_rfc3339;

/// ECS writes MAC addresses upper case with dashes.
fn ecs_mac(m: [u8; 6]) -> String {
    mac_str(m).to_ascii_uppercase().replace(':', "-")
}

fn transport(proto: u8) -> String {
    match proto {
        1 => "icmp".into(),
        58 => "ipv6-icmp".into(),
        p => proto_name(p),
    }
}

fn drop_nulls(v: &mut Value) {
    if let Value::Object(m) = v {
        m.retain(|_, x| !x.is_null());
        for x in m.values_mut() {
            drop_nulls(x);
        }
        m.retain(|_, x| !matches!(x, Value::Object(o) if o.is_empty()));
    }
}

/// One flow as an ECS document (`event.kind: event`, `event.category: network`).
pub fn flow_ecs(r: &FlowRecord, file: &str) -> Value {
    let e = r.export.as_ref();
    let mut v = json!({
        "@timestamp": format_rfc3339(r.first_ts),
        "ecs": {"version": "8.11.0"},
        "event": {
            "kind": "event",
            "category": ["network"],
            "type": ["connection"],
            "dataset": "flowcore.flow",
            "start": format_rfc3339(r.first_ts),
            "end": format_rfc3339(r.last_ts),
            "duration": r.last_ts.saturating_sub(r.first_ts),
        },
        "source": {
            "ip": r.src_ip.to_string(),
            "port": r.ports_known.then_some(r.src_port),
            "mac": r.src_mac.map(ecs_mac),
            "packets": r.fwd.packets,
            "bytes": r.fwd.bytes,
        },
        "destination": {
            "ip": r.dst_ip.to_string(),
            "port": r.ports_known.then_some(r.dst_port),
            "mac": r.dst_mac.map(ecs_mac),
            "packets": r.rev.packets,
            "bytes": r.rev.bytes,
        },
        "network": {
            "transport": transport(r.proto),
            "iana_number": r.proto.to_string(),
            "community_id": r.community_id(),
            "packets": r.fwd.packets + r.rev.packets,
            "bytes": r.fwd.bytes + r.rev.bytes,
            "vlan": r.vlan.map(|id| json!({"id": id.to_string()})),
            "inner": r.inner_vlan.map(|id| json!({"vlan": {"id": id.to_string()}})),
        },
        "observer": e.map(|e| json!({"ip": [e.exporter.to_string()], "ingress": {"interface": {"id": e.in_if.to_string()}}, "egress": {"interface": {"id": e.out_if.to_string()}}})),
        "log": {"file": {"path": file}},
        "flowcore": {
            "source": source_name(r),
            "state": r.state.as_str(),
            "end_reason": r.end_reason.as_str(),
            "initiator_known": r.initiator_known,
            "tcp_flags": r.fwd.tcp_flags | r.rev.tcp_flags,
            "first_packet_index": r.first_packet_index,
            "first_packet_offset": r.first_packet_offset,
            "sampling_rate": e.map(|e| e.sampling),
        },
    });
    drop_nulls(&mut v);
    v
}

/// ECS `event.severity` for a finding's severity (the scale of Elastic's detection rules).
pub fn severity_number(s: Severity) -> u8 {
    match s {
        Severity::Critical => 99,
        Severity::High => 73,
        Severity::Medium => 47,
        Severity::Low => 21,
        Severity::Info => 0,
    }
}

/// One finding as an ECS alert (`event.kind: alert`), with its baseline status when the
/// analysis was compared with an earlier report.
pub fn finding_ecs(f: &Finding, a: &Analysis) -> Value {
    let plain = finding_json_in(f, a);
    let mut extra = Map::new();
    for k in [
        "severity",
        "src_class",
        "dst_class",
        "src_prefix",
        "dst_prefix",
        "service",
        "initiator",
        "flows",
        "message_ja",
        "considered",
        "first_packet_index",
        "first_packet_offset",
        "baseline",
    ] {
        if let Some(x) = plain.get(k) {
            extra.insert(k.into(), x.clone());
        }
    }
    let mut v = json!({
        "@timestamp": format_rfc3339(f.first_ts),
        "ecs": {"version": "8.11.0"},
        "message": f.message_en,
        "event": {
            "kind": "alert",
            "category": ["network"],
            "type": ["connection"],
            "dataset": "flowcore.finding",
            "id": f.id,
            "severity": severity_number(f.severity),
            "start": format_rfc3339(f.first_ts),
            "end": format_rfc3339(f.last_ts),
        },
        "rule": {
            "id": f.rule_id,
            "name": f.message_en,
            "reference": f.clause,
            "ruleset": "三層の対策 (three-tier separation)",
        },
        "source": {
            "ip": f.src.ip.to_string(),
            "port": (f.src.port != 0).then_some(f.src.port),
            "mac": f.mac.as_ref().map(|m| m.to_ascii_uppercase().replace(':', "-")),
        },
        "destination": {"ip": f.dst.ip.to_string(), "port": (f.dst.port != 0).then_some(f.dst.port)},
        "network": {
            "transport": (f.proto != 0).then(|| transport(f.proto)),
            "iana_number": (f.proto != 0).then(|| f.proto.to_string()),
            "community_id": (!f.community_id.is_empty()).then_some(&f.community_id),
            "packets": f.packets,
            "bytes": f.bytes,
        },
        "log": {"file": {"path": f.evidence.file}},
        "flowcore": Value::Object(extra),
    });
    drop_nulls(&mut v);
    v
}
