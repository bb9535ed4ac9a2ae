//! Packet summaries → bidirectional flow records: the key, the table with its timeouts,
//! the initiator decision, TCP connection state and Community ID.

mod community_id;
mod export;
mod index;
pub(crate) mod table;
mod tcp;

use std::net::IpAddr;

pub use community_id::{community_id_v1, icmp_counterpart};
pub(crate) use export::initiator_known as export_initiator_known;
pub use export::{from_export, ExportMeta, ExportPairer};
pub use table::{FlowConfig, FlowTable, FlowTableStats, Timeouts};
pub use tcp::ConnState;

use crate::decode::Tunnel;
use crate::input::export::ExportRecord;
use crate::time::TimestampNs;

/// TCP flag bits.
pub mod tcp_flags {
    /// FIN.
    pub const FIN: u8 = 0x01;
    /// SYN.
    pub const SYN: u8 = 0x02;
    /// RST.
    pub const RST: u8 = 0x04;
    /// PSH.
    pub const PSH: u8 = 0x08;
    /// ACK.
    pub const ACK: u8 = 0x10;
    /// URG.
    pub const URG: u8 = 0x20;
    /// ECE.
    pub const ECE: u8 = 0x40;
    /// CWR.
    pub const CWR: u8 = 0x80;

    /// Flags as letters in the order C E U A P R S F, `.` for unset (nfdump style).
    pub fn to_letters(f: u8) -> String {
        const L: [(u8, char); 8] = [
            (CWR, 'C'),
            (ECE, 'E'),
            (URG, 'U'),
            (ACK, 'A'),
            (PSH, 'P'),
            (RST, 'R'),
            (SYN, 'S'),
            (FIN, 'F'),
        ];
        L.iter()
            .map(|&(b, c)| if f & b != 0 { c } else { '.' })
            .collect()
    }
}

/// Counters of one direction of a flow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct DirStats {
    /// Packets.
    pub packets: u64,
    /// Bytes on the wire (frame lengths).
    pub bytes: u64,
    /// OR of the TCP flags seen.
    pub tcp_flags: u8,
    /// Time of the first packet (meaningless when `packets` is 0).
    pub first_ts: TimestampNs,
    /// Time of the last packet.
    pub last_ts: TimestampNs,
}

/// Why a flow record was emitted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EndReason {
    /// No packet for the idle timeout.
    Idle,
    /// The active timeout cut a long flow; a record with `continued` follows if it goes on.
    Active,
    /// TCP FIN from both sides or a RST, then the close linger passed.
    TcpClose,
    /// A new SYN reused the 5-tuple of a closed connection.
    NewConnection,
    /// The flow table was full; the flow closest to expiry was emitted early.
    Capacity,
    /// The input ended.
    EndOfInput,
    /// An exporter ended it (the record came from NetFlow/IPFIX).
    Exported,
}

impl EndReason {
    /// Stable snake_case name.
    pub fn as_str(self) -> &'static str {
        match self {
            EndReason::Idle => "idle",
            EndReason::Active => "active",
            EndReason::TcpClose => "tcp_close",
            EndReason::NewConnection => "new_connection",
            EndReason::Capacity => "capacity",
            EndReason::EndOfInput => "end_of_input",
            EndReason::Exported => "exported",
        }
    }
}

/// A bidirectional flow, oriented from its initiator (`src`) to its responder (`dst`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FlowRecord {
    /// Initiator address.
    pub src_ip: IpAddr,
    /// Responder address.
    pub dst_ip: IpAddr,
    /// Initiator port; for ICMP the initiator's message type.
    pub src_port: u16,
    /// Responder port; for ICMP the counterpart type (echo-like) or the code (one-way).
    pub dst_port: u16,
    /// IP protocol number.
    pub proto: u8,
    /// ICMP echo-style identifier, part of the key for ICMP request/reply types.
    pub icmp_id: Option<u16>,
    /// Outer VLAN id of the first packet (part of the key only with `vlan_in_key`).
    pub vlan: Option<u16>,
    /// Inner (QinQ) VLAN id of the first packet.
    pub inner_vlan: Option<u16>,
    /// First packet time, either direction.
    pub first_ts: TimestampNs,
    /// Last packet time, either direction.
    pub last_ts: TimestampNs,
    /// Initiator → responder counters.
    pub fwd: DirStats,
    /// Responder → initiator counters.
    pub rev: DirStats,
    /// Zeek-style connection state.
    pub state: ConnState,
    /// The first packet seen was not sent by the initiator (SYN-ACK first, reply to a
    /// well-known port, ICMP reply, or a later SYN from the other side).
    pub flipped: bool,
    /// This record continues one cut by the active timeout.
    pub continued: bool,
    /// Why the record was emitted.
    pub end_reason: EndReason,
    /// Outermost tunnel of the first packet, if encapsulated.
    pub tunnel: Option<Tunnel>,
    /// MAC address the initiator's packets came from.
    pub src_mac: Option<[u8; 6]>,
    /// MAC address the responder's packets came from.
    pub dst_mac: Option<[u8; 6]>,
    /// False when the ports are unknown (IP fragments whose first fragment was never seen).
    pub ports_known: bool,
    /// Whether `src` is known to be the initiator. Always true for packet captures; for
    /// unidirectional export records only when the evidence says so (see
    /// [`from_export`]), otherwise `src` is merely the record's direction.
    pub initiator_known: bool,
    /// Where an exported record came from (`None` for flows assembled from packets).
    pub export: Option<ExportMeta>,
    /// Index of the input (in the caller's list of inputs) of the first packet.
    pub input: u32,
    /// 1-based packet number of the first packet in its input.
    pub first_packet_index: u64,
    /// Byte offset of the first packet's record in its input.
    pub first_packet_offset: u64,
    /// 1-based numbers of every packet of this record in its input, in the order they were
    /// added, when the flow table tracks packets ([`FlowConfig::track_packets`], for
    /// extracting evidence); empty otherwise.
    pub packet_indices: Vec<u64>,
}

impl FlowRecord {
    /// A flow with only its 5-tuple and time set (no packets counted, initiator known):
    /// for policy tests, examples, and flows built by hand from other sources.
    pub fn new(
        src_ip: IpAddr,
        src_port: u16,
        dst_ip: IpAddr,
        dst_port: u16,
        proto: u8,
        ts: TimestampNs,
    ) -> Self {
        FlowRecord {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            proto,
            icmp_id: None,
            vlan: None,
            inner_vlan: None,
            first_ts: ts,
            last_ts: ts,
            fwd: DirStats::default(),
            rev: DirStats::default(),
            state: ConnState::OTH,
            flipped: false,
            continued: false,
            end_reason: EndReason::EndOfInput,
            tunnel: None,
            src_mac: None,
            dst_mac: None,
            ports_known: true,
            initiator_known: true,
            export: None,
            input: 0,
            first_packet_index: 0,
            first_packet_offset: 0,
            packet_indices: Vec::new(),
        }
    }

    /// Community ID v1 (seed 0) of the flow. Computed on demand (SHA-1): writers and
    /// findings call it, the hot path does not.
    pub fn community_id(&self) -> String {
        let mut s = String::with_capacity(30);
        self.push_community_id(&mut s);
        s
    }

    /// Appends [`FlowRecord::community_id`] to `out`.
    pub(crate) fn push_community_id(&self, out: &mut String) {
        community_id::push_community_id_v1(
            out,
            0,
            self.src_ip,
            self.dst_ip,
            self.proto,
            self.src_port,
            self.dst_port,
        );
    }

    /// Total packets, both directions.
    pub fn packets(&self) -> u64 {
        self.fwd.packets.saturating_add(self.rev.packets)
    }

    /// Total bytes, both directions.
    pub fn bytes(&self) -> u64 {
        self.fwd.bytes.saturating_add(self.rev.bytes)
    }
}

/// Where finished flow records go (a [`Pipeline`](crate::pipeline::Pipeline)'s output);
/// every `FnMut(FlowRecord)` closure is one. A sink may also take the export records that
/// go out as they are (no pairing, no filter) as they were decoded, a batch at a time
/// ([`FlowSink::exports`]): an analyzer's sink
/// ([`Analyzer::sink`](crate::policy::Analyzer::sink)) judges them so without building a
/// flow record for each.
pub trait FlowSink {
    /// A finished flow record.
    fn flow(&mut self, f: FlowRecord);

    /// Export records of input number `input`, in order. By default each goes to
    /// [`FlowSink::flow`] as [`from_export`]`(r, input)`; a sink that overrides this must
    /// do what that would do.
    fn exports(&mut self, records: &[ExportRecord], input: u32) {
        for r in records {
            self.flow(from_export(r, input));
        }
    }

    /// Flow records that end together, in order: the flows still held when an input's
    /// packets end, a few thousand at a time. By default each goes to [`FlowSink::flow`];
    /// a sink that overrides this must do what that would do. A sink that writes rows can
    /// format a batch on several threads, where one at a time it could not.
    fn flows(&mut self, records: Vec<FlowRecord>) {
        for f in records {
            self.flow(f);
        }
    }
}

impl<F: FnMut(FlowRecord)> FlowSink for F {
    fn flow(&mut self, f: FlowRecord) {
        self(f);
    }
}

#[cfg(test)]
mod tests;
