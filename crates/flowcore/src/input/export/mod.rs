//! Flow exports: NetFlow v5, NetFlow v9 (RFC 3954), IPFIX (RFC 7011/7012, with RFC 5103
//! biflow reverse fields) and sFlow v5, from UDP datagrams inside captures or from raw files
//! of concatenated messages (RFC 5655 IPFIX files and collector dumps).
//!
//! The decoder keeps a collector's state across the inputs of one run: templates scoped by
//! exporter address and port (the transport session), version and observation domain /
//! source id, and data that arrived
//! before its template (bounded). It yields unidirectional [`ExportRecord`]s and, for sFlow,
//! [`SampledPacket`]s whose headers go through the same packet decoder as captures.

mod netflow;
mod sflow;

use std::net::{IpAddr, Ipv4Addr};

pub use netflow::TemplateLimits;

use crate::time::TimestampNs;

/// Export protocol of a datagram.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum ExportKind {
    /// NetFlow v5.
    NetflowV5,
    /// NetFlow v9.
    NetflowV9,
    /// IPFIX (NetFlow v10).
    Ipfix,
    /// sFlow v5.
    Sflow,
    /// An nfdump CSV flow log.
    Nfdump,
    /// A Zeek conn.log.
    Zeek,
    /// Suricata eve flow events.
    Suricata,
    /// A delimited text or Parquet table read with a column map.
    Table,
}

/// A record of nothing (unspecified addresses, no counts, unsampled): what a decoder's
/// batch slots hold before their first record, and the base of records built field by
/// field.
pub(crate) const BLANK: ExportRecord = ExportRecord {
    kind: ExportKind::Ipfix,
    exporter: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    domain: 0,
    src: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    dst: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
    src_port: 0,
    dst_port: 0,
    proto: 0,
    tcp_flags: None,
    packets: 0,
    bytes: 0,
    reverse: None,
    initiator_known: false,
    start: 0,
    end: 0,
    in_if: 0,
    out_if: 0,
    vlan: None,
    src_mac: None,
    dst_mac: None,
    sampling: 1,
    datagram_index: 0,
    datagram_offset: 0,
};

/// One unidirectional flow record from an exporter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportRecord {
    /// Export protocol.
    pub kind: ExportKind,
    /// Exporter address (the datagram's source; unspecified for raw files).
    pub exporter: IpAddr,
    /// IPFIX observation domain / NetFlow v9 source id / v5 engine type and id.
    pub domain: u32,
    /// Source address.
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// Source port (ICMP: type).
    pub src_port: u16,
    /// Destination port (ICMP: code).
    pub dst_port: u16,
    /// IP protocol.
    pub proto: u8,
    /// OR of TCP flags, if exported.
    pub tcp_flags: Option<u8>,
    /// Packets.
    pub packets: u64,
    /// Bytes.
    pub bytes: u64,
    /// Reverse direction counters (RFC 5103 biflow, or NSEL responder counters):
    /// packets, bytes, TCP flags.
    pub reverse: Option<(u64, u64, u8)>,
    /// The exporter says the source initiated (Cisco NSEL initiator/responder counters).
    /// RFC 5103 biflows say so too in theory, but exporters such as softflowd orient them
    /// by address, so they do not count.
    pub initiator_known: bool,
    /// Flow start, UTC ns.
    pub start: TimestampNs,
    /// Flow end, UTC ns.
    pub end: TimestampNs,
    /// Input interface index.
    pub in_if: u32,
    /// Output interface index.
    pub out_if: u32,
    /// VLAN id, if exported.
    pub vlan: Option<u16>,
    /// Source MAC, if exported.
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC, if exported.
    pub dst_mac: Option<[u8; 6]>,
    /// Sampling interval the exporter declared (1 = unsampled; counts are as exported).
    pub sampling: u32,
    /// Datagram number in its input (packet index for captures, 1-based).
    pub datagram_index: u64,
    /// Byte offset of the datagram (its packet record in a capture) in its input.
    pub datagram_offset: u64,
}

/// A packet header sampled by an sFlow agent.
#[derive(Debug, Clone, Copy)]
pub struct SampledPacket<'a> {
    /// The agent.
    pub exporter: IpAddr,
    /// Header protocol as sFlow numbers it (1 = Ethernet, 11 = IPv4, 12 = IPv6).
    pub header_protocol: u32,
    /// Original frame length.
    pub frame_length: u32,
    /// The sampled header bytes.
    pub header: &'a [u8],
    /// 1 in `sampling_rate` packets was sampled.
    pub sampling_rate: u32,
    /// Input and output interface (sFlow ifIndex).
    pub in_if: u32,
    /// Output interface.
    pub out_if: u32,
    /// VLAN from the extended switch record, if any.
    pub vlan: Option<u16>,
}

/// What a datagram yields.
#[derive(Debug)]
pub enum ExportItem<'a> {
    /// Flow records, in order: those of one data set (or datagram), a few dozen at a
    /// time. Lent: decoders build them in a buffer of their own and the consumer copies
    /// what it keeps; a batch lets it work on several records at once (an
    /// [`Analyzer`](crate::policy::Analyzer) fetches their judgements ahead).
    Records(&'a [ExportRecord]),
    /// An sFlow packet sample.
    Sample(SampledPacket<'a>),
}

/// Counters of the export decoder, kept per run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct ExportStats {
    /// Datagrams decoded.
    pub datagrams: u64,
    /// Flow records produced.
    pub records: u64,
    /// Templates (and options templates) received.
    pub templates: u64,
    /// Template withdrawals honoured.
    pub template_withdrawals: u64,
    /// Options data records read (sampling and the like).
    pub options_records: u64,
    /// Data sets held until their template arrived, then decoded.
    pub pending_decoded: u64,
    /// Data sets whose template never arrived or that overflowed the pending buffer.
    pub undecodable_sets: u64,
    /// Templates refused by the limits (per exporter, fields per template).
    pub templates_refused: u64,
    /// sFlow flow samples.
    pub sflow_samples: u64,
    /// sFlow counter samples skipped.
    pub sflow_counter_samples: u64,
    /// sFlow samples or records of formats not decoded.
    pub sflow_other: u64,
    /// Datagrams or sets that were malformed (a warning names the offset).
    pub malformed: u64,
}

/// A malformed datagram: where and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExportWarning {
    /// Byte offset (of the datagram's record in the input, plus the offset inside it).
    pub offset: u64,
    /// What was wrong.
    pub what: String,
}

/// Recognises an export datagram by content. Strict: header lengths must agree with the
/// datagram, so ordinary UDP traffic is not mistaken for exports.
pub fn detect(d: &[u8]) -> Option<ExportKind> {
    if d.len() < 16 {
        return None;
    }
    let u16_at = |o: usize| u16::from_be_bytes([d[o], d[o + 1]]);
    let u32_at = |o: usize| u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
    match u16_at(0) {
        5 if d.len() >= 24 => {
            let count = usize::from(u16_at(2));
            ((1..=30).contains(&count) && d.len() == 24 + 48 * count)
                .then_some(ExportKind::NetflowV5)
        }
        9 if d.len() >= 24 => {
            // count > 0, the first flowset id is 0, 1 or >= 256 and its length fits.
            let set_id = u16_at(20);
            let set_len = usize::from(u16_at(22));
            (u16_at(2) > 0
                && (set_id <= 1 || set_id >= 256)
                && set_len >= 4
                && 20 + set_len <= d.len())
            .then_some(ExportKind::NetflowV9)
        }
        10 => {
            let len = usize::from(u16_at(2));
            (len == d.len() && (len == 16 || (len >= 20 && matches!(u16_at(16), 2 | 3 | 256..))))
                .then_some(ExportKind::Ipfix)
        }
        0 if u32_at(0) == 5 && d.len() >= 28 => {
            let addr_type = u32_at(4);
            let hdr = match addr_type {
                1 => 28,
                2 => 40,
                _ => return None,
            };
            (d.len() >= hdr && u32_at(hdr - 4) <= 1024).then_some(ExportKind::Sflow)
        }
        _ => None,
    }
}

/// A collector's decoding state: templates, pending data, counters.
#[derive(Debug, Default)]
pub struct ExportDecoder {
    nf: netflow::TemplateCache,
    stats: ExportStats,
}

/// Where a datagram came from and when.
#[derive(Debug, Clone, Copy)]
pub struct DatagramContext {
    /// Exporter address.
    pub exporter: IpAddr,
    /// Exporter UDP source port (0 for raw files). With the address it names the transport
    /// session templates belong to (RFC 7011 section 8): an exporter that restarts on a new
    /// port must send its templates again.
    pub port: u16,
    /// Capture time of the datagram (0 for raw files).
    pub capture_ts: TimestampNs,
    /// Datagram number in its input.
    pub index: u64,
    /// Byte offset of the datagram (or its packet record) in its input.
    pub offset: u64,
}

impl ExportDecoder {
    /// A decoder with the given template limits.
    pub fn new(limits: TemplateLimits) -> Self {
        ExportDecoder {
            nf: netflow::TemplateCache::new(limits),
            stats: ExportStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> ExportStats {
        self.stats
    }

    /// Decodes one datagram of `kind`. Malformed parts are skipped and returned as warnings;
    /// everything decodable is delivered.
    pub fn decode(
        &mut self,
        kind: ExportKind,
        ctx: DatagramContext,
        d: &[u8],
        out: &mut dyn FnMut(ExportItem<'_>),
    ) -> Vec<ExportWarning> {
        self.stats.datagrams += 1;
        let mut warnings = Vec::new();
        match kind {
            ExportKind::NetflowV5 => netflow::decode_v5(
                ctx,
                d,
                &mut self.stats,
                &mut warnings,
                &mut self.nf.records,
                out,
            ),
            ExportKind::NetflowV9 | ExportKind::Ipfix => {
                self.nf
                    .decode(kind, ctx, d, &mut self.stats, &mut warnings, out)
            }
            ExportKind::Sflow => sflow::decode(ctx, d, &mut self.stats, &mut warnings, out),
            // Flow logs are read by lines, never as datagrams.
            ExportKind::Nfdump | ExportKind::Zeek | ExportKind::Suricata | ExportKind::Table => {
                self.stats.datagrams -= 1;
            }
        }
        self.stats.malformed += warnings.len() as u64;
        warnings
    }

    /// Ends the run: data still waiting for a template is counted as undecodable.
    pub fn finish(&mut self) {
        self.stats.undecodable_sets += self.nf.drop_pending();
    }

    /// Length of the datagram at the start of `d` in a raw file of concatenated messages,
    /// or `None` if it is not a recognisable export message.
    pub fn datagram_len(d: &[u8]) -> Option<(ExportKind, usize)> {
        if d.len() < 16 {
            return None;
        }
        let u16_at = |o: usize| u16::from_be_bytes([d[o], d[o + 1]]);
        let u32_at = |o: usize| u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]]);
        match u16_at(0) {
            5 => {
                let count = usize::from(u16_at(2));
                let len = 24 + 48 * count;
                // A corrupt count still names a datagram: take what the file has.
                Some((ExportKind::NetflowV5, len.min(d.len())))
            }
            10 => {
                let len = usize::from(u16_at(2));
                (len >= 16 && len <= d.len()).then_some((ExportKind::Ipfix, len))
            }
            9 => netflow::v9_len(d).map(|l| (ExportKind::NetflowV9, l)),
            0 if u32_at(0) == 5 => sflow::datagram_len(d).map(|l| (ExportKind::Sflow, l)),
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
