//! Packets → packet summaries. Link layers (Ethernet with 802.1Q/802.1ad tag stacks, MPLS,
//! PPPoE, Linux SLL/SLL2, raw IP, BSD loopback), IP via etherparse (IPv4, IPv6 with extension
//! headers), transport ports and flags, and tunnels (GRE, VXLAN, IP-in-IP), whose inner packet
//! becomes the summary with the outer one recorded as [`Tunnel`].
//!
//! Nothing above this layer touches packet bytes.

mod frag;
mod ip;
mod link;

use std::net::IpAddr;

pub use frag::{FragConfig, FragStats, FragTracker};

use crate::input::RawPacket;
use crate::time::TimestampNs;

/// IANA protocol numbers used by the decoder.
pub mod proto {
    /// ICMP for IPv4.
    pub const ICMP: u8 = 1;
    /// IPv4 encapsulated in IP.
    pub const IPIP: u8 = 4;
    /// TCP.
    pub const TCP: u8 = 6;
    /// UDP.
    pub const UDP: u8 = 17;
    /// IPv6 encapsulated in IP.
    pub const IPV6_IN_IP: u8 = 41;
    /// Generic Routing Encapsulation.
    pub const GRE: u8 = 47;
    /// ICMP for IPv6.
    pub const ICMPV6: u8 = 58;
}

/// Kind of tunnel a packet arrived in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TunnelKind {
    /// GRE (RFC 2784/2890, and PPTP's enhanced GRE).
    Gre,
    /// VXLAN (RFC 7348), UDP port 4789.
    Vxlan,
    /// IPv4 or IPv6 directly in IP (protocols 4 and 41).
    Ipip,
}

/// The outermost tunnel around a packet: the endpoints the wire saw.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct Tunnel {
    /// Tunnel type.
    pub kind: TunnelKind,
    /// Outer source address.
    pub src: IpAddr,
    /// Outer destination address.
    pub dst: IpAddr,
    /// VXLAN network identifier or GRE key, when present.
    pub id: Option<u32>,
}

/// IP fragmentation facts of a packet.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Fragment {
    /// IPv4 identification or IPv6 fragment identification.
    pub id: u32,
    /// Fragment offset in 8-byte units.
    pub offset: u16,
    /// More fragments follow.
    pub more: bool,
}

/// What the flow layer needs of one packet: small and `Copy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PacketSummary {
    /// Capture time, UTC nanoseconds.
    pub ts: TimestampNs,
    /// Length on the wire (the capture's original length).
    pub wire_len: u32,
    /// 1-based packet number in its file.
    pub index: u64,
    /// Byte offset of the packet's record in its file.
    pub offset: u64,
    /// Source address (of the innermost IP header).
    pub src: IpAddr,
    /// Destination address.
    pub dst: IpAddr,
    /// IP protocol number of the innermost payload.
    pub proto: u8,
    /// TCP/UDP source port; ICMP type. 0 when unknown.
    pub src_port: u16,
    /// TCP/UDP destination port; ICMP code. 0 when unknown.
    pub dst_port: u16,
    /// ICMP echo-style identifier (0 otherwise).
    pub icmp_id: u16,
    /// Whether the ports are known (false for a non-first fragment until reassembly
    /// attributes it, and for orphaned fragments).
    pub ports_known: bool,
    /// TCP flags byte (FIN 0x01, SYN 0x02, RST 0x04, PSH 0x08, ACK 0x10, URG 0x20, ECE, CWR).
    pub tcp_flags: u8,
    /// Outermost 802.1Q/802.1ad VLAN id.
    pub vlan: Option<u16>,
    /// Second VLAN id of a tag stack (QinQ customer tag).
    pub inner_vlan: Option<u16>,
    /// Source MAC of the Ethernet header next to the IP header.
    pub src_mac: Option<[u8; 6]>,
    /// Destination MAC of that Ethernet header.
    pub dst_mac: Option<[u8; 6]>,
    /// Outermost tunnel, if the packet was encapsulated.
    pub tunnel: Option<Tunnel>,
    /// Fragmentation, if the IP packet is a fragment.
    pub frag: Option<Fragment>,
    /// For UDP (not fragmented): (offset, length) of the UDP payload in the captured bytes,
    /// for the flow-export decoder.
    pub udp_payload: Option<(usize, usize)>,
}

impl PacketSummary {
    /// A summary with nothing in it, for places a decoder writes into.
    pub(crate) const EMPTY: PacketSummary = PacketSummary {
        ts: 0,
        wire_len: 0,
        index: 0,
        offset: 0,
        src: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        dst: IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED),
        proto: 0,
        src_port: 0,
        dst_port: 0,
        icmp_id: 0,
        ports_known: false,
        tcp_flags: 0,
        vlan: None,
        inner_vlan: None,
        src_mac: None,
        dst_mac: None,
        tunnel: None,
        frag: None,
        udp_payload: None,
    };
}

/// Why a packet produced no summary. Every skipped packet is counted under one reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum SkipReason {
    /// The interface's link type is not decoded.
    UnsupportedLinkType,
    /// Link-layer payload is not IP (ARP, LLDP, STP, IPX, MPLS pseudowires, ...).
    NotIp,
    /// The capture cut the packet inside the link-layer header.
    TruncatedLink,
    /// The capture cut the packet inside the IP header.
    TruncatedIp,
    /// The capture cut the packet before the transport ports (TCP/UDP/ICMP).
    TruncatedTransport,
    /// The IP header is invalid (bad version, header length, extension header chain).
    MalformedIp,
    /// Decoded, but left out by the run's filter (time window, hosts, BPF).
    Filtered,
    /// A flow-log line or table row that is not a usable flow record (a warning names it).
    MalformedRecord,
}

impl SkipReason {
    /// All reasons, in report order.
    pub const ALL: [SkipReason; 8] = [
        SkipReason::UnsupportedLinkType,
        SkipReason::NotIp,
        SkipReason::TruncatedLink,
        SkipReason::TruncatedIp,
        SkipReason::TruncatedTransport,
        SkipReason::MalformedIp,
        SkipReason::Filtered,
        SkipReason::MalformedRecord,
    ];

    /// Stable snake_case name used in reports.
    pub fn as_str(self) -> &'static str {
        match self {
            SkipReason::UnsupportedLinkType => "unsupported_link_type",
            SkipReason::NotIp => "not_ip",
            SkipReason::TruncatedLink => "truncated_link",
            SkipReason::TruncatedIp => "truncated_ip",
            SkipReason::TruncatedTransport => "truncated_transport",
            SkipReason::MalformedIp => "malformed_ip",
            SkipReason::Filtered => "filtered",
            SkipReason::MalformedRecord => "malformed_record",
        }
    }
}

/// Short protocol name for people (`tcp`, `udp`, `icmp`, `icmp6`, `gre`, or the number).
pub fn proto_name(p: u8) -> String {
    match p {
        proto::TCP => "tcp".into(),
        proto::UDP => "udp".into(),
        proto::ICMP => "icmp".into(),
        proto::ICMPV6 => "icmp6".into(),
        proto::GRE => "gre".into(),
        50 => "esp".into(),
        132 => "sctp".into(),
        n => n.to_string(),
    }
}

/// `aa:bb:cc:dd:ee:ff`.
pub fn mac_str(m: [u8; 6]) -> String {
    format!(
        "{:02x}:{:02x}:{:02x}:{:02x}:{:02x}:{:02x}",
        m[0], m[1], m[2], m[3], m[4], m[5]
    )
}

/// Decodes one captured packet into a summary.
pub fn decode(raw: &RawPacket<'_>) -> Result<PacketSummary, SkipReason> {
    let mut s = PacketSummary::EMPTY;
    decode_into(raw, &mut s)?;
    Ok(s)
}

/// [`decode`] into `s`, where the packet path keeps it (the next place of a batch): a
/// summary is not moved through the decoder's returns and copied into the batch again.
/// On an error, `s` holds whatever the decoder had written.
pub(crate) fn decode_into(raw: &RawPacket<'_>, s: &mut PacketSummary) -> Result<(), SkipReason> {
    let mut ctx = ip::Ctx::default();
    let l3 = link::decode_link(raw.link_type, raw.data, &mut ctx)?;
    ip::decode_ip(l3, &mut ctx, 0, s)?;
    s.ts = raw.ts;
    s.wire_len = raw.orig_len.max(raw.data.len() as u32);
    s.index = raw.index;
    s.offset = raw.offset;
    // decode_ip records the payload's address; make it an offset into the packet.
    s.udp_payload = s
        .udp_payload
        .map(|(addr, len)| (addr.wrapping_sub(raw.data.as_ptr() as usize), len))
        .filter(|&(o, len)| o.checked_add(len).is_some_and(|e| e <= raw.data.len()));
    Ok(())
}

#[cfg(test)]
mod tests;
