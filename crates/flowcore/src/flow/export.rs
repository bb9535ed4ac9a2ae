//! Exported (unidirectional) flow records as flow records, and pairing the two directions
//! of a conversation into one bidirectional flow.

use std::collections::BTreeMap;
use std::net::IpAddr;

use hashbrown::HashMap;

use super::tcp_flags::{ACK, SYN};
use super::{ConnState, DirStats, EndReason, FlowRecord};
use crate::input::export::{ExportKind, ExportRecord};
use crate::time::{TimestampNs, NS_PER_SEC};

/// Where an exported flow came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ExportMeta {
    /// Export protocol.
    pub kind: ExportKind,
    /// Exporter (or sFlow agent) address.
    pub exporter: IpAddr,
    /// Observation domain / source id.
    pub domain: u32,
    /// Input interface.
    pub in_if: u32,
    /// Output interface.
    pub out_if: u32,
    /// Sampling interval (1 = unsampled). sFlow counts are already multiplied by it;
    /// NetFlow/IPFIX counts are as exported.
    pub sampling: u32,
}

fn dir(packets: u64, bytes: u64, flags: u8, start: TimestampNs, end: TimestampNs) -> DirStats {
    DirStats {
        packets,
        bytes,
        tcp_flags: flags,
        first_ts: start,
        last_ts: end,
    }
}

/// One export record as a flow record. The record's source is the initiator when that is
/// known: the exporter says so (NSEL initiator/responder counters), or TCP flags show SYN
/// without ACK. Otherwise `initiator_known` is false and `src` is only the record's
/// direction (RFC 5103 biflows included: exporters such as softflowd orient them by address).
pub fn from_export(r: &ExportRecord, input: u32) -> FlowRecord {
    let flags = r.tcp_flags.unwrap_or(0);
    let fwd = dir(r.packets, r.bytes, flags, r.start, r.end);
    let rev = r.reverse.map_or(DirStats::default(), |(p, b, f)| {
        dir(p, b, f, r.start, r.end)
    });
    FlowRecord {
        src_ip: r.src,
        dst_ip: r.dst,
        src_port: r.src_port,
        dst_port: r.dst_port,
        proto: r.proto,
        icmp_id: None,
        vlan: r.vlan,
        inner_vlan: None,
        first_ts: r.start,
        last_ts: r.end,
        fwd,
        rev,
        state: ConnState::derive(
            r.proto,
            fwd.tcp_flags,
            rev.tcp_flags,
            fwd.packets,
            rev.packets,
        ),
        flipped: false,
        continued: false,
        end_reason: EndReason::Exported,
        tunnel: None,
        src_mac: r.src_mac,
        dst_mac: r.dst_mac,
        ports_known: true,
        initiator_known: initiator_known(r),
        export: Some(ExportMeta {
            kind: r.kind,
            exporter: r.exporter,
            domain: r.domain,
            in_if: r.in_if,
            out_if: r.out_if,
            sampling: r.sampling,
        }),
        input,
        first_packet_index: r.datagram_index,
        first_packet_offset: r.datagram_offset,
        packet_indices: Vec::new(),
    }
}

/// Whether record `r`'s source is known to be the initiator: the exporter says so, or the
/// TCP flags show SYN without ACK. [`from_export`]'s `initiator_known`.
pub(crate) fn initiator_known(r: &ExportRecord) -> bool {
    r.initiator_known || r.proto == 6 && r.tcp_flags.is_some_and(|f| f & SYN != 0 && f & ACK == 0)
}

type PairKey = (IpAddr, u16, IpAddr, u16, u8);

fn key(f: &FlowRecord) -> (PairKey, bool) {
    let a = (f.src_ip, f.src_port);
    let b = (f.dst_ip, f.dst_port);
    if a <= b {
        ((a.0, a.1, b.0, b.1, f.proto), false)
    } else {
        ((b.0, b.1, a.0, a.1, f.proto), true)
    }
}

/// Pairs the two unidirectional records of a conversation (same 5-tuple reversed,
/// overlapping in time) into one bidirectional flow. Records wait at most `window` on the
/// export clock and at most `capacity` at once; unpaired ones go out as they are.
pub struct ExportPairer {
    window: TimestampNs,
    capacity: usize,
    waiting: BTreeMap<u64, FlowRecord>,
    index: HashMap<PairKey, u64>,
    seq: u64,
    clock: TimestampNs,
    /// Records merged into pairs.
    pub paired: u64,
}

impl ExportPairer {
    /// Pairs within `window_s` seconds, holding at most `capacity` records.
    pub fn new(window_s: i64, capacity: usize) -> Self {
        ExportPairer {
            window: window_s * NS_PER_SEC,
            capacity: capacity.max(1),
            waiting: BTreeMap::new(),
            index: HashMap::new(),
            seq: 0,
            clock: TimestampNs::MIN,
            paired: 0,
        }
    }

    /// Offers a record; pairs and expired records go to `out`.
    pub fn push(&mut self, f: FlowRecord, out: &mut impl FnMut(FlowRecord)) {
        self.clock = self.clock.max(f.last_ts);
        // Biflow records are already bidirectional.
        if f.rev.packets > 0 || f.rev.bytes > 0 {
            out(f);
            return self.expire(out);
        }
        let (k, reversed) = key(&f);
        if let Some(&s) = self.index.get(&k) {
            let other_reversed = key(&self.waiting[&s]).1;
            let overlap = {
                let o = &self.waiting[&s];
                f.first_ts <= o.last_ts + self.window && o.first_ts <= f.last_ts + self.window
            };
            if other_reversed != reversed && overlap {
                self.index.remove(&k);
                if let Some(o) = self.waiting.remove(&s) {
                    self.paired += 2;
                    out(merge(o, f));
                }
                return self.expire(out);
            }
            // Same direction again (or no overlap): the waiting one stays unpaired.
            self.index.remove(&k);
            if let Some(o) = self.waiting.remove(&s) {
                out(o);
            }
        }
        if self.waiting.len() >= self.capacity {
            if let Some((_, o)) = self.waiting.pop_first() {
                self.index.remove(&key(&o).0);
                out(o);
            }
        }
        self.seq += 1;
        self.index.insert(k, self.seq);
        self.waiting.insert(self.seq, f);
        self.expire(out);
    }

    fn expire(&mut self, out: &mut impl FnMut(FlowRecord)) {
        while let Some((_, o)) = self.waiting.first_key_value() {
            if o.last_ts.saturating_add(self.window) >= self.clock {
                break;
            }
            if let Some((_, o)) = self.waiting.pop_first() {
                self.index.remove(&key(&o).0);
                out(o);
            }
        }
    }

    /// Emits every waiting record (end of the run).
    pub fn flush(&mut self, out: &mut impl FnMut(FlowRecord)) {
        self.index.clear();
        while let Some((_, o)) = self.waiting.pop_first() {
            out(o);
        }
    }
}

/// Merges two opposite records: the one that started first is the initiator's (known when
/// the starts differ, or when TCP flags show which side sent the bare SYN).
fn merge(a: FlowRecord, b: FlowRecord) -> FlowRecord {
    let syn_only =
        |f: &FlowRecord| f.proto == 6 && f.fwd.tcp_flags & SYN != 0 && f.fwd.tcp_flags & ACK == 0;
    let (init, resp, known) = if syn_only(&a) && !syn_only(&b) {
        (a, b, true)
    } else if syn_only(&b) && !syn_only(&a) {
        (b, a, true)
    } else if a.first_ts < b.first_ts {
        (a, b, true)
    } else if b.first_ts < a.first_ts {
        (b, a, true)
    } else {
        (a, b, false)
    };
    let mut m = init;
    m.rev = resp.fwd;
    m.first_ts = m.first_ts.min(resp.first_ts);
    m.last_ts = m.last_ts.max(resp.last_ts);
    m.state = ConnState::derive(
        m.proto,
        m.fwd.tcp_flags,
        m.rev.tcp_flags,
        m.fwd.packets,
        m.rev.packets,
    );
    m.initiator_known = known;
    m.dst_mac = m.dst_mac.or(resp.src_mac);
    if (resp.input, resp.first_packet_index) < (m.input, m.first_packet_index) {
        m.input = resp.input;
        m.first_packet_index = resp.first_packet_index;
        m.first_packet_offset = resp.first_packet_offset;
    }
    m
}
