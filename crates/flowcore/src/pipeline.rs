//! The packet path wired end to end for one input: read → decode → fragments → flows,
//! with the accounting that proves nothing was lost silently.

use std::collections::BTreeMap;

use crate::decode::{self, FragStats, FragTracker, SkipReason};
use crate::flow::{FlowConfig, FlowRecord, FlowTable, FlowTableStats};
use crate::input::{CaptureFormat, CaptureReader, Compression, Damage};
use crate::time::TimestampNs;

/// What happened to one input: every packet read is either decoded or skipped for a reason,
/// and every decoded packet is in exactly one flow record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSummary {
    /// The input's number in the caller's list.
    pub input: u32,
    /// The input's name (path or `-`).
    pub name: String,
    /// Container format.
    pub format: CaptureFormat,
    /// Compression it was wrapped in.
    pub compression: Compression,
    /// Packet records read.
    pub packets_read: u64,
    /// Packets decoded into flows.
    pub packets_decoded: u64,
    /// Packets skipped, by reason (`packets_read = packets_decoded + Σ skipped`).
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Wire bytes of all packets read.
    pub bytes_read: u64,
    /// Earliest packet time.
    pub first_ts: Option<TimestampNs>,
    /// Latest packet time.
    pub last_ts: Option<TimestampNs>,
    /// pcapng blocks without packets that were skipped (statistics, name resolution, custom).
    pub blocks_skipped: u64,
    /// Packets per link type.
    pub link_types: BTreeMap<u16, u64>,
    /// Fragment tracking counters.
    pub fragments: FragStats,
    /// Flow table counters.
    pub flows: FlowTableStats,
    /// Damage that ended the input early, if any (all packets before it were used).
    pub damage: Option<Damage>,
}

impl InputSummary {
    /// Packets skipped, all reasons.
    pub fn packets_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Reads every packet of `reader`, assembles flows and hands each finished record to `out`
/// as soon as it is final (timeouts are driven by the capture's clock). Damage is recorded
/// in the summary, never a panic; packets before it are all used.
pub fn flows_from_capture(
    reader: &mut CaptureReader,
    input: u32,
    cfg: &FlowConfig,
    out: &mut impl FnMut(FlowRecord),
) -> InputSummary {
    let mut table = FlowTable::new(*cfg, input);
    let mut frags = FragTracker::new(cfg.frag);
    let mut skipped = [0u64; SkipReason::ALL.len()];
    let mut link_types = BTreeMap::new();
    let (mut read, mut decoded, mut bytes) = (0u64, 0u64, 0u64);
    let (mut first_ts, mut last_ts) = (TimestampNs::MAX, TimestampNs::MIN);
    let mut damage = None;
    let mut last_link = (u16::MAX, 0u64);
    loop {
        let raw = match reader.next_packet() {
            Ok(Some(raw)) => raw,
            Ok(None) => break,
            Err(d) => {
                damage = Some(d);
                break;
            }
        };
        read += 1;
        bytes += u64::from(raw.orig_len);
        first_ts = first_ts.min(raw.ts);
        last_ts = last_ts.max(raw.ts);
        if raw.link_type == last_link.0 {
            last_link.1 += 1;
        } else {
            if last_link.1 > 0 {
                *link_types.entry(last_link.0).or_insert(0) += last_link.1;
            }
            last_link = (raw.link_type, 1);
        }
        match decode::decode(&raw) {
            Ok(s) => {
                decoded += 1;
                table.advance(s.ts, out);
                if !frags.is_empty() {
                    frags.expire(s.ts, &mut |p| table.push(&p, out));
                }
                if s.frag.is_some() {
                    frags.push(s, &mut |p| table.push(&p, out));
                } else {
                    table.push(&s, out);
                }
            }
            Err(r) => skipped[r as usize] += 1,
        }
    }
    if last_link.1 > 0 {
        *link_types.entry(last_link.0).or_insert(0) += last_link.1;
    }
    frags.flush(&mut |p| table.push(&p, out));
    table.flush(out);
    InputSummary {
        input,
        name: reader.name().to_string(),
        format: reader.format(),
        compression: reader.compression(),
        packets_read: read,
        packets_decoded: decoded,
        skipped: SkipReason::ALL
            .iter()
            .zip(skipped)
            .filter(|(_, n)| *n > 0)
            .map(|(r, n)| (*r, n))
            .collect(),
        bytes_read: bytes,
        first_ts: (read > 0).then_some(first_ts),
        last_ts: (read > 0).then_some(last_ts),
        blocks_skipped: reader.skipped_blocks(),
        link_types,
        fragments: frags.stats(),
        flows: table.stats(),
        damage,
    }
}
