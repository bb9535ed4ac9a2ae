//! NetFlow v5, and the template machinery shared by NetFlow v9 and IPFIX.

use std::collections::VecDeque;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use hashbrown::HashMap;

use super::{
    DatagramContext, ExportItem, ExportKind, ExportRecord, ExportStats, ExportWarning, BLANK,
};
use crate::time::{TimestampNs, NS_PER_SEC};

/// Bounds on template state (adversarial exporters).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TemplateLimits {
    /// Templates held per exporter address. Default 4096.
    pub templates_per_exporter: usize,
    /// Fields per template. Default 512.
    pub fields_per_template: usize,
    /// Templates held in all, over every exporter (spoofed exporter addresses must not
    /// exhaust memory). Default 65 536.
    pub templates_total: usize,
    /// Data sets held while waiting for their template. Default 1024.
    pub pending_sets: usize,
    /// Bytes held while waiting for templates. Default 4 MiB.
    pub pending_bytes: usize,
}

impl Default for TemplateLimits {
    fn default() -> Self {
        TemplateLimits {
            templates_per_exporter: 4096,
            fields_per_template: 512,
            templates_total: 65_536,
            pending_sets: 1024,
            pending_bytes: 4 << 20,
        }
    }
}

fn be(b: &[u8]) -> u64 {
    b.iter().take(8).fold(0u64, |a, &x| (a << 8) | u64::from(x))
}

fn u16_at(d: &[u8], o: usize) -> u16 {
    u16::from_be_bytes([d[o], d[o + 1]])
}

fn u32_at(d: &[u8], o: usize) -> u32 {
    u32::from_be_bytes([d[o], d[o + 1], d[o + 2], d[o + 3]])
}

/// Absolute time of a sysUptime-relative timestamp (ms), given the header's uptime and
/// wall clock: the difference is taken modulo 2^32, so uptime wraparound is harmless.
fn uptime_to_ns(at_ms: u32, header_uptime_ms: u32, header_ns: i64) -> TimestampNs {
    let ago = header_uptime_ms.wrapping_sub(at_ms);
    header_ns.saturating_sub(i64::from(ago) * 1_000_000)
}

/// Most records handed out in one [`ExportItem::Records`]: a batch stays in the
/// first-level cache (about 5 kB) and memory stays bounded whatever a template says.
const BATCH: usize = 32;

/// Records gathered for the next [`ExportItem::Records`]. Decoders write each record into
/// its slot (a 170-byte record built elsewhere and copied in cost more than the rest of
/// a fast record's decoding).
#[derive(Debug, Default)]
pub(super) struct Batch {
    slots: Vec<ExportRecord>,
    /// Slots filled.
    n: usize,
}

impl Batch {
    /// The next slot to write a record into; [`Batch::filled`] then counts it.
    #[inline]
    fn slot(&mut self) -> &mut ExportRecord {
        if self.n == self.slots.len() {
            self.slots.push(BLANK);
        }
        &mut self.slots[self.n]
    }

    /// Counts the record just written into [`Batch::slot`], handing the batch out when
    /// [`BATCH`] records are gathered.
    #[inline]
    fn filled(&mut self, out: &mut dyn FnMut(ExportItem<'_>)) {
        self.n += 1;
        if self.n >= BATCH {
            self.emit(out);
        }
    }

    /// Adds record `r`.
    fn push(&mut self, r: ExportRecord, out: &mut dyn FnMut(ExportItem<'_>)) {
        *self.slot() = r;
        self.filled(out);
    }

    /// Hands out the records gathered (if any).
    fn emit(&mut self, out: &mut dyn FnMut(ExportItem<'_>)) {
        if self.n > 0 {
            out(ExportItem::Records(&self.slots[..self.n]));
            self.n = 0;
        }
    }
}

/// NetFlow v5: a 24-byte header and up to 30 fixed 48-byte records.
pub(super) fn decode_v5(
    ctx: DatagramContext,
    d: &[u8],
    stats: &mut ExportStats,
    warnings: &mut Vec<ExportWarning>,
    records: &mut Batch,
    out: &mut dyn FnMut(ExportItem<'_>),
) {
    if d.len() < 24 {
        warnings.push(ExportWarning {
            offset: ctx.offset,
            what: format!("NetFlow v5 header truncated ({} of 24 bytes)", d.len()),
        });
        return;
    }
    let count = usize::from(u16_at(d, 2));
    let uptime = u32_at(d, 4);
    let now = i64::from(u32_at(d, 8)) * NS_PER_SEC + i64::from(u32_at(d, 12)).min(999_999_999);
    let engine = u32::from(d[20]) << 8 | u32::from(d[21]);
    let sampling = u32::from(u16_at(d, 22) & 0x3fff).max(1);
    let fits = (d.len() - 24) / 48;
    if count > fits || count > 30 {
        warnings.push(ExportWarning {
            offset: ctx.offset,
            what: format!(
                "NetFlow v5 header claims {count} records but the datagram holds {fits} ({} bytes); decoding {}",
                d.len(),
                count.min(fits).min(30)
            ),
        });
    }
    for i in 0..count.min(fits).min(30) {
        let r = &d[24 + 48 * i..24 + 48 * (i + 1)];
        stats.records += 1;
        *records.slot() = ExportRecord {
            kind: ExportKind::NetflowV5,
            exporter: ctx.exporter,
            domain: engine,
            src: IpAddr::V4(Ipv4Addr::from(u32_at(r, 0))),
            dst: IpAddr::V4(Ipv4Addr::from(u32_at(r, 4))),
            src_port: u16_at(r, 32),
            dst_port: u16_at(r, 34),
            proto: r[38],
            tcp_flags: Some(r[37]),
            packets: u64::from(u32_at(r, 16)),
            bytes: u64::from(u32_at(r, 20)),
            reverse: None,
            initiator_known: false,
            start: uptime_to_ns(u32_at(r, 24), uptime, now),
            end: uptime_to_ns(u32_at(r, 28), uptime, now),
            in_if: u32::from(u16_at(r, 12)),
            out_if: u32::from(u16_at(r, 14)),
            vlan: None,
            src_mac: None,
            dst_mac: None,
            sampling,
            datagram_index: ctx.index,
            datagram_offset: ctx.offset,
        };
        records.filled(out);
    }
    // At most 30 records: one batch.
    records.emit(out);
}

/// One field of a template.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Field {
    id: u16,
    /// Length; 65535 = variable.
    len: u16,
    /// Private enterprise number (0 = IANA).
    pen: u32,
    /// What [`Values::set`] does with this element (decided once, when the template
    /// arrives, so that decoding a record does not look its number up again).
    act: Act,
}

/// The information elements [`Values::set`] reads, by what it does with them.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Act {
    Skip,
    Bytes,
    Packets,
    RevBytes,
    RevPackets,
    RevFlags,
    Proto,
    Flags,
    SrcPort,
    DstPort,
    Src,
    Dst,
    /// [`Act::Src`] / [`Act::Dst`] of a 4-byte field in a plan: read as an integer.
    Src4,
    Dst4,
    InIf,
    OutIf,
    EndUptime,
    StartUptime,
    Icmp,
    Sampling,
    SrcMac,
    DstMac,
    Vlan,
    StartS,
    EndS,
    StartMs,
    EndMs,
    StartNtp,
    EndNtp,
    InitMs,
    NselBytes,
    NselRevBytes,
    NselPackets,
    NselRevPackets,
    ObservedMs,
}

/// The acts whose values are not integers (a pattern: [`Act::is_int`] and
/// [`Values::set_int`] share it).
macro_rules! not_int {
    () => {
        Act::Skip | Act::Src | Act::Dst | Act::SrcMac | Act::DstMac | Act::StartNtp | Act::EndNtp
    };
}

impl Act {
    /// Whether the element's value is an integer ([`Values::set_int`]).
    fn is_int(self) -> bool {
        !matches!(self, not_int!())
    }
}

/// What [`Values::set`] does with element `id` of enterprise `pen`.
fn act_of(pen: u32, id: u16) -> Act {
    match (pen, id) {
        // RFC 5103: the reverse direction's counterpart of an IANA element.
        (29305, 1 | 85) => Act::RevBytes,
        (29305, 2 | 86) => Act::RevPackets,
        (29305, 6) => Act::RevFlags,
        (0, 1 | 85) => Act::Bytes,
        (0, 2 | 86) => Act::Packets,
        (0, 4) => Act::Proto,
        (0, 6) => Act::Flags,
        (0, 7) => Act::SrcPort,
        (0, 8 | 27) => Act::Src,
        (0, 10) => Act::InIf,
        (0, 11) => Act::DstPort,
        (0, 12 | 28) => Act::Dst,
        (0, 14) => Act::OutIf,
        (0, 21) => Act::EndUptime,
        (0, 22) => Act::StartUptime,
        (0, 32 | 139) => Act::Icmp,
        (0, 34 | 305) => Act::Sampling,
        (0, 56) => Act::SrcMac,
        (0, 80) => Act::DstMac,
        (0, 58) => Act::Vlan,
        (0, 150) => Act::StartS,
        (0, 151) => Act::EndS,
        (0, 152) => Act::StartMs,
        (0, 153) => Act::EndMs,
        (0, 154 | 156) => Act::StartNtp,
        (0, 155 | 157) => Act::EndNtp,
        (0, 160) => Act::InitMs,
        // NSEL (Cisco ASA): initiator/responder counters make a biflow.
        (0, 231) => Act::NselBytes,
        (0, 232) => Act::NselRevBytes,
        (0, 298) => Act::NselPackets,
        (0, 299) => Act::NselRevPackets,
        (0, 323) => Act::ObservedMs,
        _ => Act::Skip,
    }
}

#[derive(Debug, Clone)]
struct Template {
    fields: Vec<Field>,
    /// Scope fields first (options templates).
    scope: usize,
    /// Smallest record length (variable fields count 1 byte).
    min_len: usize,
    /// For a template without variable-length fields (records are `min_len` bytes), the
    /// fields [`Values::set`] uses with their offsets: decoding a record then visits only
    /// those.
    plan: Option<Plan>,
    /// For a data template of the shapes exporters use ([`Fast`]): records go straight
    /// to [`ExportRecord`]s, without [`Values`]. A template with variable-length fields
    /// has one when every field it uses comes before the first of them ([`Template::tail`]).
    fast: Option<Fast>,
    /// With such a plan: the index of the first variable-length field and its offset
    /// (the fixed prefix's length).
    tail: Option<(usize, usize)>,
}

/// An address field of a fast plan, by family, at its offset.
#[derive(Debug, Clone, Copy)]
enum AddrAt {
    V4(u16),
    V6(u16),
}

/// Where a fast plan takes a flow's start or end from: the field [`Values::to_record`]
/// would prefer (an absolute time, else a sysUptime-relative one, else the observation
/// time), at its offset (integers with their shift).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum TimeAt {
    Secs(u16, u32),
    Ms(u16, u32),
    Ntp(u16),
    Uptime(u16, u32),
    Observed(u16, u32),
    Absent,
}

impl TimeAt {
    fn of(abs: Option<TimeAt>, uptime: Option<(u16, u32)>, observed: Option<(u16, u32)>) -> Self {
        match (abs, uptime, observed) {
            (Some(t), _, _) => t,
            (None, Some((o, s)), _) => TimeAt::Uptime(o, s),
            (None, None, Some((o, s))) => TimeAt::Observed(o, s),
            (None, None, None) => TimeAt::Absent,
        }
    }
}

/// A data template compiled for the shapes exporters use: fixed length (or a fixed prefix
/// before fields that are only measured, [`Template::tail`]), no options scope,
/// each value written by one field (an address by one or two, IPv4 and IPv6, where the
/// second wins unless it is unspecified, as [`Values::set`] has it), and none of the
/// elements that need [`Values`] (RFC 5103 reverse counters, NSEL counters). Records go
/// straight to [`ExportRecord`]s; integers are read unconditionally, an absent one as an
/// 8-byte window shifted out (zero).
#[derive(Debug, Clone)]
struct Fast {
    /// Offset and shift of each of the first eight [`STRAIGHT`] values (the integers);
    /// absent values are `(0, 64)`.
    ints: [(u16, u32); 8],
    /// The template exports TCP flags (else the record's are unknown, not zero).
    flags: bool,
    src: (AddrAt, Option<AddrAt>),
    dst: (AddrAt, Option<AddrAt>),
    start: TimeAt,
    end: TimeAt,
    icmp: Option<(u16, u32)>,
    vlan: Option<(u16, u32)>,
    src_mac: Option<u16>,
    dst_mac: Option<u16>,
    /// Every value starts in the record's first 128 bytes, so a record followed by
    /// enough bytes can be read through a [`Window`] without bounds checks.
    narrow: bool,
}

/// Bytes a record's values are read from (a record at the start, its set's next bytes
/// after it).
trait Bytes {
    /// The `N` bytes at offset `o`, if there are that many.
    fn at<const N: usize>(&self, o: u16) -> Option<[u8; N]>;
}

impl Bytes for [u8] {
    #[inline]
    fn at<const N: usize>(&self, o: u16) -> Option<[u8; N]> {
        let o = usize::from(o);
        self.get(o..o + N).and_then(|w| <[u8; N]>::try_from(w).ok())
    }
}

/// A record and the bytes after it, [`WINDOW`] in all, for a [`Fast::narrow`] plan: its
/// offsets are below 128, so masking them changes nothing and proves every read of up to
/// 16 bytes in bounds (no check, no branch).
struct Window<'a>(&'a [u8; WINDOW]);

/// Bytes of a [`Window`]: the last value (up to 16 bytes) may start at offset 127.
const WINDOW: usize = 128 + 16;

impl Bytes for Window<'_> {
    #[inline]
    fn at<const N: usize>(&self, o: u16) -> Option<[u8; N]> {
        self.0[usize::from(o) & 127..].first_chunk::<N>().copied()
    }
}

impl Fast {
    /// Whether the plan has only what the usual IPv4 templates carry: one IPv4 address a
    /// side, times in milliseconds or sysUptime, no ICMP type, VLAN or MACs.
    fn is_simple(&self) -> bool {
        let one_v4 = |a: (AddrAt, Option<AddrAt>)| matches!(a, (AddrAt::V4(_), None));
        let time = |t| matches!(t, TimeAt::Ms(..) | TimeAt::Uptime(..) | TimeAt::Absent);
        one_v4(self.src)
            && one_v4(self.dst)
            && time(self.start)
            && time(self.end)
            && self.icmp.is_none()
            && self.vlan.is_none()
            && self.src_mac.is_none()
            && self.dst_mac.is_none()
    }

    /// The fast plan of a fixed-length template's `fields`, if it has that shape.
    fn new(fields: &[Field], scope: usize) -> Option<Fast> {
        if scope > 0 {
            return None;
        }
        let (mut ints, mut seen) = ([(0u16, 64u32); 8], [false; 8]);
        let (mut src, mut dst): (Vec<AddrAt>, Vec<AddrAt>) = (Vec::new(), Vec::new());
        let (mut start, mut end) = (None, None);
        let (mut start_uptime, mut end_uptime, mut observed) = (None, None, None);
        let (mut icmp, mut vlan, mut src_mac, mut dst_mac) = (None, None, None, None);
        // A second writer of a single value: the order of fields would matter.
        fn once<T>(slot: &mut Option<T>, v: T) -> Option<()> {
            slot.replace(v).is_none().then_some(())
        }
        let (mut off, mut narrow) = (0usize, true);
        for f in fields {
            let o = u16::try_from(off).ok()?;
            narrow &= o < 128;
            let int = (o, 64 - 8 * u32::from(f.len.min(8)));
            off += usize::from(f.len);
            match f.act {
                // Options values (sampling, boot time) mean nothing in a data record.
                Act::Skip | Act::Sampling | Act::InitMs => {}
                Act::Src | Act::Dst => {
                    let a = match f.len {
                        4 => AddrAt::V4(o),
                        16 => AddrAt::V6(o),
                        // Another length sets nothing.
                        _ => continue,
                    };
                    let side = if f.act == Act::Src {
                        &mut src
                    } else {
                        &mut dst
                    };
                    if side.len() == 2 {
                        return None;
                    }
                    side.push(a);
                }
                Act::StartS => once(&mut start, TimeAt::Secs(int.0, int.1))?,
                Act::StartMs => once(&mut start, TimeAt::Ms(int.0, int.1))?,
                Act::EndS => once(&mut end, TimeAt::Secs(int.0, int.1))?,
                Act::EndMs => once(&mut end, TimeAt::Ms(int.0, int.1))?,
                // An NTP time of another length than 8 sets nothing.
                Act::StartNtp if f.len == 8 => once(&mut start, TimeAt::Ntp(o))?,
                Act::EndNtp if f.len == 8 => once(&mut end, TimeAt::Ntp(o))?,
                Act::StartNtp | Act::EndNtp => {}
                Act::StartUptime => once(&mut start_uptime, int)?,
                Act::EndUptime => once(&mut end_uptime, int)?,
                Act::ObservedMs => once(&mut observed, int)?,
                Act::Icmp => once(&mut icmp, int)?,
                Act::Vlan => once(&mut vlan, int)?,
                // A MAC of another length clears the value: order would matter.
                Act::SrcMac if f.len == 6 => once(&mut src_mac, o)?,
                Act::DstMac if f.len == 6 => once(&mut dst_mac, o)?,
                act => {
                    let i = STRAIGHT[..8].iter().position(|&a| a == act)?;
                    if std::mem::replace(&mut seen[i], true) {
                        return None;
                    }
                    ints[i] = int;
                }
            }
        }
        let side = |v: &[AddrAt]| Some((*v.first()?, v.get(1).copied()));
        Some(Fast {
            ints,
            flags: seen[3],
            src: side(&src)?,
            dst: side(&dst)?,
            start: TimeAt::of(start, start_uptime, observed),
            end: TimeAt::of(end, end_uptime, observed),
            icmp,
            vlan,
            src_mac,
            dst_mac,
            narrow,
        })
    }

    /// The record at the start of `b` (which holds it and 8 more bytes), as
    /// [`Template::walked`] and [`Values::to_record`] together make it.
    /// `FULL` false is for a [`Fast::is_simple`] plan: the compiler drops what such a
    /// template cannot have.
    #[cfg(test)]
    fn record<const FULL: bool>(
        &self,
        b: &[u8],
        h: Header,
        ctx: DatagramContext,
        sampling: u32,
        init_ms: Option<i64>,
    ) -> ExportRecord {
        let mut r = BLANK;
        self.fill::<FULL, _>(&mut r, b, h, ctx, sampling, init_ms);
        r
    }

    /// [`Fast::record`] written into `out` (a batch's slot): built in place, not copied.
    #[inline]
    fn fill<const FULL: bool, B: Bytes + ?Sized>(
        &self,
        out: &mut ExportRecord,
        b: &B,
        h: Header,
        ctx: DatagramContext,
        sampling: u32,
        init_ms: Option<i64>,
    ) {
        let rd = |(o, shift): (u16, u32)| {
            b.at::<8>(o)
                .map_or(0, u64::from_be_bytes)
                .checked_shr(shift)
                .unwrap_or(0)
        };
        let addr = |a: AddrAt| match a {
            AddrAt::V6(o) if FULL => IpAddr::V6(Ipv6Addr::from(b.at::<16>(o).unwrap_or([0; 16]))),
            // A simple plan's addresses are IPv4.
            AddrAt::V4(o) | AddrAt::V6(o) => IpAddr::V4(Ipv4Addr::from(rd((o, 32)) as u32)),
        };
        // The second address field wins unless it is unspecified (templates carrying both
        // families fill the other one with zeros).
        let side = |(first, second): (AddrAt, Option<AddrAt>)| {
            let a = addr(first);
            match second.filter(|_| FULL).map(addr) {
                Some(s) if !s.is_unspecified() => s,
                _ => a,
            }
        };
        let time = |t: TimeAt| -> Option<TimestampNs> {
            let ms = |at| (rd(at) as i64).saturating_mul(1_000_000);
            Some(match t {
                TimeAt::Secs(o, s) if FULL => (rd((o, s)) as i64).saturating_mul(NS_PER_SEC),
                TimeAt::Observed(o, s) if FULL => ms((o, s)),
                TimeAt::Ntp(o) if FULL => return b.at::<8>(o).and_then(|v| ntp_ns(&v)),
                TimeAt::Ms(o, s) => ms((o, s)),
                TimeAt::Uptime(o, s) => {
                    let at_ms = rd((o, s)) as u32;
                    match (h.uptime, init_ms) {
                        (Some(up), _) => uptime_to_ns(at_ms, up, h.now),
                        (None, Some(init)) => init
                            .saturating_add(i64::from(at_ms))
                            .saturating_mul(1_000_000),
                        (None, None) => h.now,
                    }
                }
                _ => return None,
            })
        };
        let start = time(self.start).unwrap_or(h.now);
        let end = time(self.end).unwrap_or(start).max(start);
        let [sp, dp, proto, flags, bytes_at, packets, inif, outif] = self.ints;
        let proto = rd(proto) as u8;
        let (mut sp, mut dp) = (rd(sp) as u16, rd(dp) as u16);
        if matches!(proto, 1 | 58) {
            if let Some(at) = self.icmp.filter(|_| FULL) {
                let tc = rd(at) as u16;
                (sp, dp) = (tc >> 8, tc & 0xff);
            } else if sp == 0 && dp > 0 {
                // Many exporters put type*256+code in the destination port.
                sp = dp >> 8;
                dp &= 0xff;
            }
        }
        *out = ExportRecord {
            kind: h.kind,
            exporter: ctx.exporter,
            domain: h.domain,
            src: side(self.src),
            dst: side(self.dst),
            src_port: sp,
            dst_port: dp,
            proto,
            tcp_flags: self.flags.then(|| rd(flags) as u8),
            packets: rd(packets),
            bytes: rd(bytes_at),
            reverse: None,
            initiator_known: false,
            start,
            end,
            in_if: rd(inif) as u32,
            out_if: rd(outif) as u32,
            vlan: self
                .vlan
                .filter(|_| FULL)
                .map(|at| (rd(at) as u16) & 0x0fff),
            src_mac: self.src_mac.filter(|_| FULL).and_then(|o| b.at::<6>(o)),
            dst_mac: self.dst_mac.filter(|_| FULL).and_then(|o| b.at::<6>(o)),
            sampling,
            datagram_index: ctx.index,
            datagram_offset: ctx.offset,
        };
    }
}

/// The values the usual templates carry, each read in straight-line code when exactly one
/// field of the template writes it (so the order of fields cannot matter).
/// The first eight are the integers a [`Fast`] plan reads (`Fast::ints`).
const STRAIGHT: [Act; 14] = [
    Act::SrcPort,
    Act::DstPort,
    Act::Proto,
    Act::Flags,
    Act::Bytes,
    Act::Packets,
    Act::InIf,
    Act::OutIf,
    Act::Src4,
    Act::Dst4,
    Act::StartUptime,
    Act::EndUptime,
    Act::StartMs,
    Act::EndMs,
];

/// Which value of [`Values`] an element writes: the fields of elements of one group write
/// the same value, so their order matters.
fn group(act: Act) -> Act {
    match act {
        Act::Src4 => Act::Src,
        Act::Dst4 => Act::Dst,
        Act::NselBytes => Act::Bytes,
        Act::NselPackets => Act::Packets,
        Act::NselRevBytes => Act::RevBytes,
        Act::NselRevPackets => Act::RevPackets,
        Act::StartS | Act::StartMs | Act::StartNtp => Act::StartS,
        Act::EndS | Act::EndMs | Act::EndNtp => Act::EndS,
        act => act,
    }
}

/// A fixed-length template compiled.
#[derive(Debug, Clone)]
struct Plan {
    /// Offset and shift of each [`STRAIGHT`] value, `None` when no field (or more than
    /// one) writes it.
    straight: [Option<(u16, u32)>; 14],
    /// The other used fields, in template order.
    rest: Vec<Op>,
}

impl Plan {
    fn new(ops: Vec<Op>) -> Plan {
        let mut straight = [None; 14];
        let writers = |g: Act| ops.iter().filter(|o| group(o.act) == group(g)).count();
        let mut rest = Vec::new();
        for op in ops.iter() {
            match STRAIGHT.iter().position(|&a| a == op.act) {
                Some(i) if writers(op.act) == 1 => straight[i] = Some((op.off, op.shift)),
                _ => rest.push(*op),
            }
        }
        Plan { straight, rest }
    }
}

/// One used field of a fixed-length template.
#[derive(Debug, Clone, Copy)]
struct Op {
    off: u16,
    len: u16,
    act: Act,
    /// An integer element: read as an 8-byte big-endian window shifted right by this
    /// many bits (64 for a zero-length field, which reads as 0), the same value [`be`] gives.
    shift: u32,
}

impl Template {
    fn new(fields: Vec<Field>, scope: usize) -> Self {
        let min_len = fields
            .iter()
            .map(|f| {
                if f.len == 65535 {
                    1
                } else {
                    usize::from(f.len)
                }
            })
            .sum();
        let fixed = fields.iter().all(|f| f.len != 65535);
        let plan = fixed.then(|| {
            let mut off = 0usize;
            let mut ops = Vec::new();
            for (i, f) in fields.iter().enumerate() {
                if i >= scope && f.act != Act::Skip {
                    ops.push(Op {
                        // A fixed template's fields sum to at most 65535 × fields; the
                        // plan is used only for records that fit a set (< 65536 bytes).
                        off: u16::try_from(off).unwrap_or(u16::MAX),
                        len: f.len,
                        act: match (f.act, f.len) {
                            (Act::Src, 4) => Act::Src4,
                            (Act::Dst, 4) => Act::Dst4,
                            (act, _) => act,
                        },
                        shift: 64 - 8 * u32::from(f.len.min(8)),
                    });
                }
                off += usize::from(f.len);
            }
            ops
        });
        let plan = plan.filter(|_| min_len < 65536).map(Plan::new);
        // Variable-length fields (application names, URLs) come last in the templates
        // exporters send: the fixed prefix before them can have a fast plan when the
        // rest is only measured (options-only elements mean nothing in a data record).
        let first_var = fields.iter().position(|f| f.len == 65535);
        let tail = first_var
            .filter(|&i| {
                fields[i..]
                    .iter()
                    .all(|f| matches!(f.act, Act::Skip | Act::Sampling | Act::InitMs))
            })
            .map(|i| {
                (
                    i,
                    fields[..i]
                        .iter()
                        .map(|f| usize::from(f.len))
                        .sum::<usize>(),
                )
            });
        let fast = match (&plan, tail) {
            (Some(_), _) => Fast::new(&fields, scope),
            (None, Some((i, _))) => Fast::new(&fields[..i], scope),
            (None, None) => None,
        };
        Template {
            tail: tail.filter(|_| fast.is_some()),
            fast,
            fields,
            scope,
            min_len,
            plan,
        }
    }

    /// The values of the record at the start of `b` by the plan; `b` must hold the record
    /// and 8 more bytes (integers are read as 8-byte windows).
    fn planned(plan: &Plan, b: &[u8], rec: &mut Values) {
        *rec = Values::default();
        let rd = |(o, shift): (u16, u32)| {
            b.get(usize::from(o)..)
                .and_then(<[u8]>::first_chunk::<8>)
                .map_or(0, |w| u64::from_be_bytes(*w))
                .checked_shr(shift)
                .unwrap_or(0)
        };
        // What `Values::set_int` does for each of these on a fresh record.
        let [sp, dp, proto, flags, bytes, packets, inif, outif, src, dst, sup, eup, sms, ems] =
            plan.straight;
        let v4 = |n: u64| IpAddr::V4(Ipv4Addr::from(n as u32));
        let ms = |n: u64| (n as i64).saturating_mul(1_000_000);
        rec.src = src.map(|r| v4(rd(r)));
        rec.dst = dst.map(|r| v4(rd(r)));
        rec.src_port = sp.map(|r| rd(r) as u16);
        rec.dst_port = dp.map(|r| rd(r) as u16);
        rec.proto = proto.map(|r| rd(r) as u8);
        rec.flags = flags.map(|r| rd(r) as u8);
        rec.bytes = bytes.map(rd);
        rec.packets = packets.map(rd);
        rec.start_uptime = sup.map(|r| rd(r) as u32);
        rec.end_uptime = eup.map(|r| rd(r) as u32);
        rec.in_if = inif.map_or(0, |r| rd(r) as u32);
        rec.out_if = outif.map_or(0, |r| rd(r) as u32);
        rec.start = sms.map(|r| ms(rd(r)));
        rec.end = ems.map(|r| ms(rd(r)));
        for op in &plan.rest {
            let o = usize::from(op.off);
            if op.act.is_int() {
                rec.set_int(op.act, rd((op.off, op.shift)));
            } else if let Some(v) = b.get(o..o + usize::from(op.len)) {
                rec.set(op.act, v);
            }
        }
    }

    /// The values of the record at the start of `b` field by field, and its length; `None`
    /// when the record does not fit.
    fn walked(&self, b: &[u8], rec: &mut Values) -> Option<usize> {
        *rec = Values::default();
        let mut o = 0;
        for (i, f) in self.fields.iter().enumerate() {
            let len = f.len_at(b, &mut o)?;
            let v = b.get(o..o + len)?;
            if i >= self.scope && f.act != Act::Skip {
                rec.set(f.act, v);
            }
            o += len;
        }
        Some(o)
    }

    /// The length of the record at the start of `b` for a template with a fast plan of
    /// its fixed prefix ([`Template::tail`]): the rest is measured, not read. `None`
    /// when the record does not fit, as [`Template::walked`] says.
    fn record_len(&self, b: &[u8], (first, prefix): (usize, usize)) -> Option<usize> {
        let mut o = prefix;
        for f in self.fields.get(first..)? {
            o += f.len_at(b, &mut o)?;
            if o > b.len() {
                return None;
            }
        }
        Some(o)
    }
}

impl Field {
    /// The length of this field's value at offset `o` of a record, moving `o` past a
    /// variable-length field's length prefix (RFC 7011 section 7); `None` when `b` ends
    /// inside the prefix.
    fn len_at(&self, b: &[u8], o: &mut usize) -> Option<usize> {
        if self.len != 65535 {
            return Some(usize::from(self.len));
        }
        let &l = b.get(*o)?;
        *o += 1;
        if l < 255 {
            return Some(usize::from(l));
        }
        let n = b.get(*o..*o + 2)?;
        *o += 2;
        Some(usize::from(u16_at(n, 0)))
    }
}

type Key = (IpAddr, u16, ExportKind, u32, u16);

#[derive(Debug)]
struct Pending {
    key: Key,
    data: Vec<u8>,
    header: Header,
    ctx: DatagramContext,
}

/// What a v9/IPFIX header says about time.
#[derive(Debug, Clone, Copy)]
struct Header {
    kind: ExportKind,
    domain: u32,
    /// Export time, UTC ns.
    now: TimestampNs,
    /// v9 sysUptime (ms).
    uptime: Option<u32>,
}

/// Templates and pending data of v9/IPFIX exporters.
#[derive(Debug, Default)]
pub(super) struct TemplateCache {
    limits: TemplateLimits,
    templates: HashMap<Key, Template>,
    per_exporter: HashMap<IpAddr, usize>,
    /// Sampling interval announced by options data, per (exporter, domain).
    sampling: HashMap<(IpAddr, u16, u32), u32>,
    /// IPFIX systemInitTimeMilliseconds per (exporter, domain), for uptime-relative fields.
    init_ms: HashMap<(IpAddr, u16, u32), i64>,
    pending: VecDeque<Pending>,
    pending_bytes: usize,
    /// Records gathered for the next [`ExportItem::Records`] (empty between calls).
    pub(super) records: Batch,
}

/// Walks a raw NetFlow v9 message to find its end: flowsets until `count` records are
/// accounted for is not possible without templates, so it stops at the next v9 header.
pub(super) fn v9_len(d: &[u8]) -> Option<usize> {
    if d.len() < 20 {
        return None;
    }
    let mut o = 20;
    while o + 4 <= d.len() {
        // The next message starts here if it looks like a v9 header.
        if u16_at(d, o) == 9 && o + 24 <= d.len() && u16_at(d, o + 2) > 0 {
            let id = u16_at(d, o + 20);
            if id <= 1 || id >= 256 {
                return Some(o);
            }
        }
        let len = usize::from(u16_at(d, o + 2));
        if len < 4 || o + len > d.len() {
            return Some(d.len().min(o.max(20)));
        }
        o += len;
    }
    Some(o.min(d.len()))
}

impl TemplateCache {
    pub(super) fn new(limits: TemplateLimits) -> Self {
        TemplateCache {
            limits,
            ..Default::default()
        }
    }

    pub(super) fn drop_pending(&mut self) -> u64 {
        let n = self.pending.len() as u64;
        self.pending.clear();
        self.pending_bytes = 0;
        n
    }

    pub(super) fn decode(
        &mut self,
        kind: ExportKind,
        ctx: DatagramContext,
        d: &[u8],
        stats: &mut ExportStats,
        warnings: &mut Vec<ExportWarning>,
        out: &mut dyn FnMut(ExportItem<'_>),
    ) {
        let (hlen, header) = match kind {
            ExportKind::NetflowV9 if d.len() >= 20 => (
                20,
                Header {
                    kind,
                    domain: u32_at(d, 16),
                    now: i64::from(u32_at(d, 8)) * NS_PER_SEC,
                    uptime: Some(u32_at(d, 4)),
                },
            ),
            ExportKind::Ipfix if d.len() >= 16 => (
                16,
                Header {
                    kind,
                    domain: u32_at(d, 12),
                    now: i64::from(u32_at(d, 4)) * NS_PER_SEC,
                    uptime: None,
                },
            ),
            _ => {
                warnings.push(ExportWarning {
                    offset: ctx.offset,
                    what: format!("{kind:?} header truncated ({} bytes)", d.len()),
                });
                return;
            }
        };
        let end = if kind == ExportKind::Ipfix {
            usize::from(u16_at(d, 2)).clamp(16, d.len())
        } else {
            d.len()
        };
        let (tpl_id, opt_id) = if kind == ExportKind::Ipfix {
            (2, 3)
        } else {
            (0, 1)
        };
        let mut o = hlen;
        while o + 4 <= end {
            let set_id = u16_at(d, o);
            let len = usize::from(u16_at(d, o + 2));
            if len < 4 || o + len > end {
                // v9 exporters pad the datagram; zeros after the last set are not damage.
                if !(set_id == 0 && len == 0 && d[o..end].iter().all(|b| *b == 0)) {
                    warnings.push(ExportWarning {
                        offset: ctx.offset + o as u64,
                        what: format!(
                            "{kind:?} set {set_id} has length {len}, {} bytes remain",
                            end - o
                        ),
                    });
                }
                return;
            }
            let body = &d[o + 4..o + len];
            if set_id == tpl_id || set_id == opt_id {
                self.templates(
                    kind,
                    header.domain,
                    ctx,
                    set_id == opt_id,
                    body,
                    stats,
                    warnings,
                    o,
                    out,
                );
            } else if set_id >= 256 {
                let key = (ctx.exporter, ctx.port, kind, header.domain, set_id);
                if self.templates.contains_key(&key) {
                    self.data(key, header, ctx, body, stats, out);
                } else {
                    self.hold(key, header, ctx, body, stats);
                }
            } // sets 4..255 are reserved: skipped
            o += len;
        }
    }

    #[allow(clippy::too_many_arguments)]
    fn templates(
        &mut self,
        kind: ExportKind,
        domain: u32,
        ctx: DatagramContext,
        options: bool,
        mut b: &[u8],
        stats: &mut ExportStats,
        warnings: &mut Vec<ExportWarning>,
        set_offset: usize,
        out: &mut dyn FnMut(ExportItem<'_>),
    ) {
        let ipfix = kind == ExportKind::Ipfix;
        while b.len() >= 4 {
            let id = u16_at(b, 0);
            let (mut scope_n, field_n, mut rest) = if !options {
                (0usize, usize::from(u16_at(b, 2)), &b[4..])
            } else if ipfix {
                if b.len() < 6 {
                    break;
                }
                let total = usize::from(u16_at(b, 2));
                (usize::from(u16_at(b, 4)), total, &b[6..])
            } else {
                if b.len() < 6 {
                    break;
                }
                // v9 options: scope and option lengths are in bytes of (type, length) pairs.
                let scope_bytes = usize::from(u16_at(b, 2));
                let opt_bytes = usize::from(u16_at(b, 4));
                ((scope_bytes / 4), (scope_bytes + opt_bytes) / 4, &b[6..])
            };
            if id < 256 {
                // Padding at the end of a template set, or garbage.
                break;
            }
            if field_n == 0 {
                // IPFIX template withdrawal.
                let key = (ctx.exporter, ctx.port, kind, domain, id);
                if self.templates.remove(&key).is_some() {
                    stats.template_withdrawals += 1;
                    if let Some(n) = self.per_exporter.get_mut(&ctx.exporter) {
                        *n = n.saturating_sub(1);
                    }
                }
                b = rest;
                continue;
            }
            let mut fields = Vec::with_capacity(field_n.min(64));
            let mut ok = true;
            for _ in 0..field_n {
                if rest.len() < 4 {
                    ok = false;
                    break;
                }
                let raw_id = u16_at(rest, 0);
                let len = u16_at(rest, 2);
                let (fid, pen, step) = if ipfix && raw_id & 0x8000 != 0 {
                    if rest.len() < 8 {
                        ok = false;
                        break;
                    }
                    (raw_id & 0x7fff, u32_at(rest, 4), 8)
                } else {
                    (raw_id, 0, 4)
                };
                fields.push(Field {
                    id: fid,
                    len,
                    pen,
                    act: act_of(pen, fid),
                });
                rest = &rest[step..];
            }
            if !ok {
                warnings.push(ExportWarning {
                    offset: ctx.offset + set_offset as u64,
                    what: format!(
                        "{kind:?} template {id} declares {field_n} fields but the set ends first"
                    ),
                });
                return;
            }
            scope_n = scope_n.min(fields.len());
            b = rest;
            stats.templates += 1;
            if fields.len() > self.limits.fields_per_template {
                stats.templates_refused += 1;
                continue;
            }
            let key = (ctx.exporter, ctx.port, kind, domain, id);
            if !self.templates.contains_key(&key)
                && self.templates.len() >= self.limits.templates_total
            {
                stats.templates_refused += 1;
                continue;
            }
            let count = self.per_exporter.entry(ctx.exporter).or_insert(0);
            if !self.templates.contains_key(&key) {
                if *count >= self.limits.templates_per_exporter {
                    stats.templates_refused += 1;
                    continue;
                }
                *count += 1;
            }
            self.templates.insert(
                key,
                Template::new(fields, if options { scope_n.max(1) } else { 0 }),
            );
            self.release(key, stats, out);
        }
    }

    fn hold(
        &mut self,
        key: Key,
        header: Header,
        ctx: DatagramContext,
        body: &[u8],
        stats: &mut ExportStats,
    ) {
        while !self.pending.is_empty()
            && (self.pending.len() >= self.limits.pending_sets
                || self.pending_bytes + body.len() > self.limits.pending_bytes)
        {
            if let Some(p) = self.pending.pop_front() {
                self.pending_bytes -= p.data.len();
                stats.undecodable_sets += 1;
            }
        }
        if body.len() > self.limits.pending_bytes {
            stats.undecodable_sets += 1;
            return;
        }
        self.pending_bytes += body.len();
        self.pending.push_back(Pending {
            key,
            data: body.to_vec(),
            header,
            ctx,
        });
    }

    fn release(&mut self, key: Key, stats: &mut ExportStats, out: &mut dyn FnMut(ExportItem<'_>)) {
        if !self.pending.iter().any(|p| p.key == key) {
            return;
        }
        let (ready, keep): (Vec<Pending>, Vec<Pending>) =
            self.pending.drain(..).partition(|p| p.key == key);
        self.pending = keep.into();
        for p in ready {
            self.pending_bytes -= p.data.len();
            stats.pending_decoded += 1;
            self.data(key, p.header, p.ctx, &p.data, stats, out);
        }
    }

    fn data(
        &mut self,
        key: Key,
        h: Header,
        ctx: DatagramContext,
        mut b: &[u8],
        stats: &mut ExportStats,
        out: &mut dyn FnMut(ExportItem<'_>),
    ) {
        let Some(t) = self.templates.get(&key) else {
            return;
        };
        if t.min_len == 0 {
            return;
        }
        // Options records (sampling, boot time) come in sets of their own, so the values a
        // data set's records need are fixed for the set: look them up once.
        let scope = (ctx.exporter, ctx.port, h.domain);
        let sampling = self.sampling.get(&scope).copied();
        let init_ms = self.init_ms.get(&scope).copied();
        if let Some(fast) = &t.fast {
            // Records go straight to records: those followed by a window's bytes through
            // the window; for a plan of narrow offsets the last ones too, through a
            // zero-padded copy (a plan shifts out whatever follows a value, so it reads
            // them as the walk does); else those followed by 8 bytes, checked.
            let (sampling, simple) = (sampling.unwrap_or(1), fast.is_simple());
            let mut pad = [0u8; WINDOW];
            loop {
                let (len, fixed) = match t.tail {
                    None => (Some(t.min_len), t.min_len),
                    Some(tail) => (t.record_len(b, tail), tail.1),
                };
                let Some(len) = len.filter(|&len| b.len() >= len) else {
                    break;
                };
                let w = match b.first_chunk::<WINDOW>() {
                    Some(w) if fast.narrow => Some(w),
                    _ if fast.narrow => {
                        let n = b.len().min(WINDOW);
                        pad[..n].copy_from_slice(&b[..n]);
                        pad[n..].fill(0);
                        Some(&pad)
                    }
                    _ if b.len() >= fixed + 8 => None,
                    _ => break,
                };
                let slot = self.records.slot();
                match (w, simple) {
                    (Some(w), true) => {
                        fast.fill::<false, _>(slot, &Window(w), h, ctx, sampling, init_ms);
                    }
                    (Some(w), false) => {
                        fast.fill::<true, _>(slot, &Window(w), h, ctx, sampling, init_ms);
                    }
                    (None, true) => fast.fill::<false, _>(slot, b, h, ctx, sampling, init_ms),
                    (None, false) => fast.fill::<true, _>(slot, b, h, ctx, sampling, init_ms),
                }
                b = &b[len..];
                stats.records += 1;
                self.records.filled(out);
            }
        }
        let mut rec = Values::default();
        while b.len() >= t.min_len {
            // Records followed by 8 bytes go by the plan; the last ones field by field.
            let o = match &t.plan {
                Some(plan) if b.len() >= t.min_len + 8 => {
                    Template::planned(plan, b, &mut rec);
                    t.min_len
                }
                _ => match t.walked(b, &mut rec) {
                    Some(o) => o,
                    None => break,
                },
            };
            if o == 0 {
                break;
            }
            b = &b[o..];
            if t.scope > 0 {
                stats.options_records += 1;
                if let Some(s) = rec.sampling {
                    self.sampling.insert(scope, s.max(1));
                }
                if let Some(ms) = rec.init_ms {
                    self.init_ms.insert(scope, ms);
                }
                continue;
            }
            if let Some(r) = rec.to_record(h, ctx, sampling, init_ms) {
                stats.records += 1;
                self.records.push(r, out);
            }
        }
        self.records.emit(out);
    }
}

/// Values of one data record, by information element.
#[derive(Debug, Default, PartialEq)]
struct Values {
    src: Option<IpAddr>,
    dst: Option<IpAddr>,
    src_port: Option<u16>,
    dst_port: Option<u16>,
    proto: Option<u8>,
    flags: Option<u8>,
    bytes: Option<u64>,
    packets: Option<u64>,
    rev_bytes: Option<u64>,
    rev_packets: Option<u64>,
    rev_flags: Option<u8>,
    /// NSEL initiator/responder counters were present.
    nsel: bool,
    icmp: Option<u16>,
    in_if: u32,
    out_if: u32,
    vlan: Option<u16>,
    src_mac: Option<[u8; 6]>,
    dst_mac: Option<[u8; 6]>,
    start: Option<TimestampNs>,
    end: Option<TimestampNs>,
    start_uptime: Option<u32>,
    end_uptime: Option<u32>,
    observed: Option<TimestampNs>,
    sampling: Option<u32>,
    init_ms: Option<i64>,
}

/// NTP-format timestamp (seconds since 1900, 32-bit fraction) to UTC ns.
fn ntp_ns(v: &[u8]) -> Option<TimestampNs> {
    if v.len() != 8 {
        return None;
    }
    let secs = i64::from(u32_at(v, 0)) - 2_208_988_800;
    let frac = (u64::from(u32_at(v, 4)) * NS_PER_SEC as u64) >> 32;
    Some(secs.saturating_mul(NS_PER_SEC).saturating_add(frac as i64))
}

impl Values {
    #[inline]
    fn set(&mut self, act: Act, v: &[u8]) {
        let ip = |v: &[u8]| -> Option<IpAddr> {
            match v.len() {
                4 => Some(IpAddr::V4(Ipv4Addr::from(u32_at(v, 0)))),
                16 => <[u8; 16]>::try_from(v)
                    .ok()
                    .map(|a| IpAddr::V6(Ipv6Addr::from(a))),
                _ => None,
            }
        };
        let mac = |v: &[u8]| <[u8; 6]>::try_from(v).ok();
        match act {
            // Templates may carry both families; the unspecified one is filler.
            Act::Src => {
                self.src = ip(v)
                    .filter(|a| !a.is_unspecified() || self.src.is_none())
                    .or(self.src)
            }
            Act::Dst => {
                self.dst = ip(v)
                    .filter(|a| !a.is_unspecified() || self.dst.is_none())
                    .or(self.dst)
            }
            Act::SrcMac => self.src_mac = mac(v),
            Act::DstMac => self.dst_mac = mac(v),
            Act::StartNtp => self.start = ntp_ns(v).or(self.start),
            Act::EndNtp => self.end = ntp_ns(v).or(self.end),
            _ => self.set_int(act, be(v)),
        }
    }

    /// [`Values::set`] for an integer element ([`Act::is_int`]) whose value is `n`.
    #[inline]
    fn set_int(&mut self, act: Act, n: u64) {
        let n = || n;
        match act {
            not_int!() => {}
            Act::RevBytes => self.rev_bytes = Some(n()),
            Act::RevPackets => self.rev_packets = Some(n()),
            Act::RevFlags => self.rev_flags = Some(n() as u8),
            Act::Bytes => self.bytes = Some(self.bytes.unwrap_or(0).max(n())),
            Act::Packets => self.packets = Some(self.packets.unwrap_or(0).max(n())),
            Act::Proto => self.proto = Some(n() as u8),
            Act::Flags => self.flags = Some(n() as u8),
            Act::SrcPort => self.src_port = Some(n() as u16),
            Act::InIf => self.in_if = n() as u32,
            Act::DstPort => self.dst_port = Some(n() as u16),
            Act::Src4 => {
                let a = IpAddr::V4(Ipv4Addr::from(n() as u32));
                if !a.is_unspecified() || self.src.is_none() {
                    self.src = Some(a);
                }
            }
            Act::Dst4 => {
                let a = IpAddr::V4(Ipv4Addr::from(n() as u32));
                if !a.is_unspecified() || self.dst.is_none() {
                    self.dst = Some(a);
                }
            }
            Act::OutIf => self.out_if = n() as u32,
            Act::EndUptime => self.end_uptime = Some(n() as u32),
            Act::StartUptime => self.start_uptime = Some(n() as u32),
            Act::Icmp => self.icmp = Some(n() as u16),
            Act::Sampling => self.sampling = Some(n() as u32),
            Act::Vlan => self.vlan = Some((n() as u16) & 0x0fff),
            Act::StartS => self.start = Some((n() as i64).saturating_mul(NS_PER_SEC)),
            Act::EndS => self.end = Some((n() as i64).saturating_mul(NS_PER_SEC)),
            Act::StartMs => self.start = Some((n() as i64).saturating_mul(1_000_000)),
            Act::EndMs => self.end = Some((n() as i64).saturating_mul(1_000_000)),
            Act::InitMs => self.init_ms = Some(n() as i64),
            Act::NselBytes => (self.bytes, self.nsel) = (Some(n()), true),
            Act::NselRevBytes => (self.rev_bytes, self.nsel) = (Some(n()), true),
            Act::NselPackets => (self.packets, self.nsel) = (Some(n()), true),
            Act::NselRevPackets => (self.rev_packets, self.nsel) = (Some(n()), true),
            Act::ObservedMs => self.observed = Some((n() as i64).saturating_mul(1_000_000)),
        }
    }

    fn to_record(
        &self,
        h: Header,
        ctx: DatagramContext,
        sampling: Option<u32>,
        init_ms: Option<i64>,
    ) -> Option<ExportRecord> {
        let (src, dst) = (self.src?, self.dst?);
        let uptime = |ms: u32| -> TimestampNs {
            match (h.uptime, init_ms) {
                (Some(up), _) => uptime_to_ns(ms, up, h.now),
                (None, Some(init)) => init.saturating_add(i64::from(ms)).saturating_mul(1_000_000),
                (None, None) => h.now,
            }
        };
        let start = self
            .start
            .or(self.start_uptime.map(uptime))
            .or(self.observed)
            .unwrap_or(h.now);
        let end = self
            .end
            .or(self.end_uptime.map(uptime))
            .or(self.observed)
            .unwrap_or(start)
            .max(start);
        let proto = self.proto.unwrap_or(0);
        let (mut sp, mut dp) = (self.src_port.unwrap_or(0), self.dst_port.unwrap_or(0));
        if matches!(proto, 1 | 58) {
            if let Some(tc) = self.icmp {
                sp = tc >> 8;
                dp = tc & 0xff;
            } else if sp == 0 && dp > 0 {
                // Many exporters put type*256+code in the destination port.
                sp = dp >> 8;
                dp &= 0xff;
            }
        }
        let reverse = match (self.rev_packets, self.rev_bytes) {
            (None, None) => None,
            (p, b) => Some((p.unwrap_or(0), b.unwrap_or(0), self.rev_flags.unwrap_or(0))),
        };
        Some(ExportRecord {
            kind: h.kind,
            exporter: ctx.exporter,
            domain: h.domain,
            src,
            dst,
            src_port: sp,
            dst_port: dp,
            proto,
            tcp_flags: self.flags,
            packets: self.packets.unwrap_or(0),
            bytes: self.bytes.unwrap_or(0),
            reverse,
            initiator_known: self.nsel,
            start,
            end,
            in_if: self.in_if,
            out_if: self.out_if,
            vlan: self.vlan,
            src_mac: self.src_mac,
            dst_mac: self.dst_mac,
            sampling: sampling.unwrap_or(1),
            datagram_index: ctx.index,
            datagram_offset: ctx.offset,
        })
    }
}

#[cfg(test)]
mod plan_tests {
    use super::*;

    /// A record of `fields`: random bytes, variable-length fields with a length prefix
    /// (one byte, or 255 and two).
    fn record_bytes(fields: &[Field], next: &mut impl FnMut(usize) -> usize) -> Vec<u8> {
        let mut b: Vec<u8> = Vec::new();
        for f in fields {
            let len = if f.len == 65535 {
                let len = if next(4) == 0 { next(300) } else { next(20) };
                if len >= 255 || next(8) == 0 {
                    b.push(255);
                    b.extend((len as u16).to_be_bytes());
                } else {
                    b.push(len as u8);
                }
                len
            } else {
                usize::from(f.len)
            };
            b.extend((0..len).map(|_| next(256) as u8));
        }
        b
    }

    /// A fixed-length template's plan reads every record as the field-by-field walk does:
    /// random templates over the elements `Values::set` knows (and unknown ones), lengths
    /// 0 to 16 (integers longer than 8 bytes keep their first 8), options scopes, random bytes.
    #[test]
    fn plan_reads_what_the_walk_reads() {
        let ids = [
            (0, 1),
            (0, 2),
            (0, 4),
            (0, 6),
            (0, 7),
            (0, 8),
            (0, 10),
            (0, 11),
            (0, 12),
            (0, 14),
            (0, 21),
            (0, 22),
            (0, 27),
            (0, 28),
            (0, 32),
            (0, 34),
            (0, 56),
            (0, 58),
            (0, 80),
            (0, 150),
            (0, 151),
            (0, 152),
            (0, 153),
            (0, 154),
            (0, 155),
            (0, 160),
            (0, 231),
            (0, 232),
            (0, 298),
            (0, 299),
            (0, 323),
            (29305, 1),
            (29305, 2),
            (29305, 6),
            (0, 99),
            (9, 1),
        ];
        // What the templates of real exporters carry besides addresses (added apart):
        // not the reverse (RFC 5103) or NSEL counters.
        let usual: Vec<(u32, u16)> = ids
            .iter()
            .copied()
            .chain([(0, 139)])
            .filter(|&(pen, id)| {
                !matches!(
                    act_of(pen, id),
                    Act::Src
                        | Act::Dst
                        | Act::RevBytes
                        | Act::RevPackets
                        | Act::RevFlags
                        | Act::NselBytes
                        | Act::NselRevBytes
                        | Act::NselPackets
                        | Act::NselRevPackets
                )
            })
            .collect();
        let lens = [0u16, 1, 2, 3, 4, 4, 4, 6, 8, 8, 9, 16, 16];
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = |m: usize| {
            x = x
                .wrapping_mul(6_364_136_223_846_793_005)
                .wrapping_add(1_442_695_040_888_963_407);
            (x >> 33) as usize % m
        };
        let (mut planned, mut straight, mut fast_n, mut simple_n, mut tail_n) = (0, 0, 0, 0, 0);
        let (mut sets, mut set_records, mut windowed, mut wide_n) = (0, 0, 0, 0);
        for _ in 0..20_000 {
            let n = 1 + next(14);
            let fields0: Vec<Field> = (0..n)
                .map(|_| {
                    let (pen, id) = ids[next(ids.len())];
                    Field {
                        id,
                        len: lens[next(lens.len())],
                        pen,
                        act: act_of(pen, id),
                    }
                })
                .collect();
            // Half the templates are data templates of the shapes exporters use, which a
            // fast plan takes: one or two address fields a side (IPv4, IPv6, a length
            // that sets nothing), each element once.
            let (fields, scope) = if next(2) == 0 {
                let mut fields: Vec<Field> = Vec::new();
                for f in fields0 {
                    if usual.contains(&(f.pen, f.id)) && !fields.iter().any(|g| g.id == f.id) {
                        fields.push(f);
                    }
                }
                for id in [8, 12, 27, 28] {
                    if id > 12 && next(3) > 0 {
                        continue;
                    }
                    let at = next(fields.len() + 1);
                    fields.insert(
                        at,
                        Field {
                            id,
                            len: [4, 16, 4, 16, 0, 3][next(6)],
                            pen: 0,
                            act: act_of(0, id),
                        },
                    );
                }
                // Some start with a long field nobody reads, so that values lie past a
                // window's reach (offset 128 and beyond).
                if next(5) == 0 {
                    let len = 100 + next(60) as u16;
                    fields.insert(
                        0,
                        Field {
                            id: 1,
                            len,
                            pen: 9,
                            act: act_of(9, 1),
                        },
                    );
                }
                // A third end in fields that are only measured, variable-length ones
                // among them (as real IPFIX templates do).
                // A few have them before used fields: those have no fast plan.
                if next(3) == 0 {
                    let at = if next(4) == 0 {
                        next(fields.len() + 1)
                    } else {
                        fields.len()
                    };
                    let measured: Vec<Field> = (0..1 + next(3))
                        .map(|k| {
                            let (id, len) = [(99, 65535), (99, 3), (34, 4), (160, 8), (99, 65535)]
                                [if k == 0 { 0 } else { next(5) }];
                            Field {
                                id,
                                len,
                                pen: 0,
                                act: act_of(0, id),
                            }
                        })
                        .collect();
                    fields.splice(at..at, measured);
                }
                (fields, 0)
            } else {
                (fields0, if next(4) == 0 { 1 + next(n) } else { 0 })
            };
            let n = fields.len();
            let t = Template::new(fields, scope.min(n));
            let var = t.fields.iter().any(|f| f.len == 65535);
            assert_eq!(t.plan.is_none(), var, "fixed-length templates have a plan");
            let mut b = record_bytes(&t.fields, &mut next);
            let record_len = b.len();
            b.extend((0..8).map(|_| next(256) as u8));
            // Unspecified addresses and zero bytes are cases of their own (not in length
            // prefixes).
            let fixed: usize = t
                .fields
                .iter()
                .take_while(|f| f.len != 65535)
                .map(|f| usize::from(f.len))
                .sum();
            if next(3) == 0 {
                for v in b.iter_mut().take(fixed) {
                    if next(2) == 0 {
                        *v = 0;
                    }
                }
            }
            // ICMP with the type and code in the destination port, and unspecified
            // addresses, are cases of their own.
            if let Some(fast) = &t.fast {
                let [(so, ss), _, (po, ps), ..] = fast.ints;
                let (po, so) = (usize::from(po), usize::from(so));
                if ps < 64 && next(2) == 0 {
                    b[po + 7 - (ps as usize) / 8] = [1, 58, 6, 17][next(4)];
                    b[so..so + 8 - (ss.min(64) as usize) / 8].fill(0);
                }
                for a in [fast.src.0, fast.dst.0]
                    .into_iter()
                    .chain(fast.src.1)
                    .chain(fast.dst.1)
                {
                    let (o, len) = match a {
                        AddrAt::V4(o) => (o, 4),
                        AddrAt::V6(o) => (o, 16),
                    };
                    if next(4) == 0 {
                        let o = usize::from(o);
                        b[o..o + len].fill(0);
                    }
                }
            }
            let (mut walked, mut planned_rec) = (Values::default(), Values::default());
            assert_eq!(
                t.walked(&b, &mut walked),
                Some(record_len),
                "the record fits"
            );
            if let Some(plan) = &t.plan {
                straight += plan.straight.iter().flatten().count();
                Template::planned(plan, &b, &mut planned_rec);
                assert_eq!(planned_rec, walked, "{:?}", t.fields);
                planned += 1;
            }
            if let Some(tail) = t.tail {
                assert_eq!(t.record_len(&b, tail), Some(record_len), "{:?}", t.fields);
                assert_eq!(t.record_len(&b[..record_len - 1], tail), None);
                tail_n += 1;
            }
            // The fast plan makes the record the walk and `to_record` make.
            if let Some(fast) = &t.fast {
                let h = Header {
                    kind: if next(2) == 0 {
                        ExportKind::NetflowV9
                    } else {
                        ExportKind::Ipfix
                    },
                    domain: next(1 << 20) as u32,
                    now: (next(1 << 30) as i64) << 20,
                    uptime: (next(2) == 0).then(|| next(1 << 30) as u32),
                };
                let ctx = DatagramContext {
                    exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, next(256) as u8)),
                    port: 2055,
                    capture_ts: 0,
                    index: next(1000) as u64,
                    offset: next(100_000) as u64,
                };
                let sampling = (next(2) == 0).then(|| 1 + next(1000) as u32);
                let init_ms = (next(2) == 0).then(|| next(1 << 30) as i64);
                let want = walked.to_record(h, ctx, sampling, init_ms);
                let got = fast.record::<true>(&b, h, ctx, sampling.unwrap_or(1), init_ms);
                assert_eq!(Some(&got), want.as_ref(), "{:?}", t.fields);
                if fast.is_simple() {
                    let simple = fast.record::<false>(&b, h, ctx, sampling.unwrap_or(1), init_ms);
                    assert_eq!(simple, got, "{:?}", t.fields);
                    simple_n += 1;
                }
                // Through a window (the record followed by more of its set), as the
                // cache's loop reads all but a set's last records.
                if fast.narrow {
                    let mut wide = b.clone();
                    while wide.len() < WINDOW {
                        wide.push(next(256) as u8);
                    }
                    let w = Window(wide.first_chunk::<WINDOW>().expect("window"));
                    let mut r = BLANK;
                    fast.fill::<true, _>(&mut r, &w, h, ctx, sampling.unwrap_or(1), init_ms);
                    assert_eq!(r, got, "{:?}", t.fields);
                    if fast.is_simple() {
                        fast.fill::<false, _>(&mut r, &w, h, ctx, sampling.unwrap_or(1), init_ms);
                        assert_eq!(r, got, "{:?}", t.fields);
                    }
                    windowed += 1;
                } else {
                    wide_n += 1;
                }
                fast_n += 1;
            }
            // A data set of this record and up to three more through the cache's loops,
            // which take the last records (and short ones) field by field.
            if t.scope == 0 {
                let mut set = b[..record_len].to_vec();
                let mut records = vec![set.clone()];
                for _ in 0..next(4) {
                    records.push(record_bytes(&t.fields, &mut next));
                    set.extend(records.last().into_iter().flatten());
                }
                let h = Header {
                    kind: ExportKind::Ipfix,
                    domain: 7,
                    now: 1 << 60,
                    uptime: None,
                };
                let ctx = DatagramContext {
                    exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
                    port: 4739,
                    capture_ts: 0,
                    index: 1,
                    offset: 0,
                };
                let want: Vec<ExportRecord> = records
                    .iter()
                    .filter_map(|r| {
                        let mut v = Values::default();
                        assert_eq!(t.walked(r, &mut v), Some(r.len()));
                        v.to_record(h, ctx, None, None)
                    })
                    .collect();
                let key = (ctx.exporter, ctx.port, h.kind, h.domain, 256);
                let mut cache = TemplateCache::default();
                cache.templates.insert(key, t.clone());
                let mut got = Vec::new();
                cache.data(
                    key,
                    h,
                    ctx,
                    &set,
                    &mut ExportStats::default(),
                    &mut |item| {
                        if let ExportItem::Records(rs) = item {
                            got.extend_from_slice(rs);
                        }
                    },
                );
                assert_eq!(got, want, "{:?}", t.fields);
                sets += 1;
                set_records += got.len();
            }
        }
        assert!(planned > 15_000, "fixed-length templates: {planned}");
        assert!(tail_n > 500, "fast plans of a fixed prefix: {tail_n}");
        assert!(sets > 10_000, "data sets: {sets}");
        assert!(set_records > 10_000, "records of data sets: {set_records}");
        assert!(fast_n > 2000, "records made by a fast plan: {fast_n}");
        assert!(windowed > 1000, "records read through a window: {windowed}");
        assert!(
            wide_n > 500,
            "records of values past a window's reach: {wide_n}"
        );
        assert!(
            simple_n > 100,
            "records made by a simple fast plan: {simple_n}"
        );
        assert!(
            straight > 20_000,
            "values read in straight-line code: {straight}"
        );
        // A variable-length field leaves the template to the walk.
        let var = Template::new(
            vec![Field {
                id: 8,
                len: 65535,
                pen: 0,
                act: Act::Src,
            }],
            0,
        );
        assert!(var.plan.is_none());
    }
}
