//! IP (via etherparse's lax slicer, which keeps what it can of snaplen-cut packets),
//! transport ports/flags, and tunnels.

use std::net::IpAddr;

use etherparse::{err, LaxIpSlice};

use super::{link, proto, Fragment, PacketSummary, SkipReason, Tunnel, TunnelKind};

/// How many tunnels deep the decoder follows.
const MAX_TUNNEL_DEPTH: usize = 4;
/// VXLAN's IANA port.
const VXLAN_PORT: u16 = 4789;

/// Link-layer facts gathered on the way down, plus the outermost tunnel.
#[derive(Default)]
pub(super) struct Ctx {
    pub vlan: Option<u16>,
    pub inner_vlan: Option<u16>,
    pub src_mac: Option<[u8; 6]>,
    pub dst_mac: Option<[u8; 6]>,
    pub tunnel: Option<Tunnel>,
}

/// The IP header's facts: source, destination, fragment, protocol of the payload, payload.
type IpFacts<'a> = (IpAddr, IpAddr, Option<Fragment>, u8, &'a [u8]);

/// The common IPv4 packet (no options, no authentication header, total length within the
/// bytes captured) read directly; anything else goes through etherparse. Both give the same facts
/// (`fast_ipv4_equals_etherparse` in the tests).
#[inline]
fn fast_ipv4(data: &[u8]) -> Option<IpFacts<'_>> {
    let h = data.get(..20)?;
    // IHL 5; and not an authentication header, which etherparse walks past.
    if h[0] != 0x45 || h[9] == 51 {
        return None;
    }
    let total = usize::from(u16::from_be_bytes([h[2], h[3]]));
    if total < 20 || total > data.len() {
        return None;
    }
    let flags_off = u16::from_be_bytes([h[6], h[7]]);
    let (more, offset) = (flags_off & 0x2000 != 0, flags_off & 0x1fff);
    let frag = (more || offset != 0).then(|| Fragment {
        id: u32::from(u16::from_be_bytes([h[4], h[5]])),
        offset,
        more,
    });
    let src = IpAddr::from([h[12], h[13], h[14], h[15]]);
    let dst = IpAddr::from([h[16], h[17], h[18], h[19]]);
    Some((src, dst, frag, h[9], &data[20..total]))
}

/// [`fast_ipv4`]'s facts through etherparse's lax slicer (any IPv4 or IPv6 header).
fn slow_ip(data: &[u8]) -> Result<IpFacts<'_>, SkipReason> {
    let (ip, _ext_err) = LaxIpSlice::from_slice(data).map_err(|e| match e {
        err::ip::LaxHeaderSliceError::Len(_) => SkipReason::TruncatedIp,
        err::ip::LaxHeaderSliceError::Content(_) => SkipReason::MalformedIp,
    })?;
    let (src, dst, frag): (IpAddr, IpAddr, Option<Fragment>) = match &ip {
        LaxIpSlice::Ipv4(v4) => {
            let h = v4.header();
            let frag = h.is_fragmenting_payload().then(|| Fragment {
                id: u32::from(h.identification()),
                offset: h.fragments_offset().value(),
                more: h.more_fragments(),
            });
            (h.source_addr().into(), h.destination_addr().into(), frag)
        }
        LaxIpSlice::Ipv6(v6) => {
            let h = v6.header();
            // Walk the extension chain ourselves: etherparse 0.21's extension iterator reads
            // out of bounds on some lax-parsed chains (found by cargo-fuzz, AddressSanitizer
            // heap-buffer-overflow in Ipv6RawExtHeaderSlice::from_slice_unchecked).
            let frag = v6_fragment(data).filter(|f| f.offset != 0 || f.more);
            (h.source_addr().into(), h.destination_addr().into(), frag)
        }
    };
    let payload = ip.payload();
    Ok((src, dst, frag, payload.ip_number.0, payload.payload))
}

/// Decodes an IP packet (and the tunnels in it) into `s`; the caller sets the capture's
/// fields (time, lengths, position).
pub(super) fn decode_ip(
    data: &[u8],
    ctx: &mut Ctx,
    depth: usize,
    s: &mut PacketSummary,
) -> Result<(), SkipReason> {
    let (src, dst, frag, p, t) = match fast_ipv4(data) {
        Some(f) => f,
        None => slow_ip(data)?,
    };
    *s = PacketSummary {
        ts: 0,
        wire_len: 0,
        index: 0,
        offset: 0,
        src,
        dst,
        proto: p,
        src_port: 0,
        dst_port: 0,
        icmp_id: 0,
        ports_known: true,
        tcp_flags: 0,
        vlan: ctx.vlan,
        inner_vlan: ctx.inner_vlan,
        src_mac: ctx.src_mac,
        dst_mac: ctx.dst_mac,
        tunnel: ctx.tunnel,
        frag,
        udp_payload: None,
    };
    if frag.is_some_and(|f| f.offset != 0) {
        // Ports live in the first fragment; reassembly attributes this one later.
        s.ports_known = !has_ports(p);
        return Ok(());
    }
    match p {
        proto::TCP | proto::UDP => {
            if t.len() < 4 {
                return Err(SkipReason::TruncatedTransport);
            }
            s.src_port = u16::from_be_bytes([t[0], t[1]]);
            s.dst_port = u16::from_be_bytes([t[2], t[3]]);
            if p == proto::UDP && frag.is_none() && t.len() >= 8 {
                // The address (made an offset by `decode`): exports are recognised by content.
                s.udp_payload = Some((t.as_ptr() as usize + 8, t.len() - 8));
            }
            if p == proto::TCP {
                if t.len() < 14 {
                    return Err(SkipReason::TruncatedTransport);
                }
                s.tcp_flags = t[13];
            } else if s.dst_port == VXLAN_PORT && frag.is_none() && depth < MAX_TUNNEL_DEPTH {
                // VXLAN: 8-byte header with the I flag, then an Ethernet frame.
                if t.len() >= 8 + 8 && t[8] & 0x08 != 0 {
                    let vni = u32::from_be_bytes([0, t[12], t[13], t[14]]);
                    let strip = |c: &mut Ctx| link::ethernet(&t[16..], c);
                    tunnel(ctx, TunnelKind::Vxlan, src, dst, Some(vni), depth, strip, s);
                }
            }
        }
        proto::ICMP | proto::ICMPV6 => {
            if t.len() < 2 {
                return Err(SkipReason::TruncatedTransport);
            }
            s.src_port = u16::from(t[0]);
            s.dst_port = u16::from(t[1]);
            if crate::flow::icmp_counterpart(p, t[0]).is_some() && t.len() >= 6 {
                s.icmp_id = u16::from_be_bytes([t[4], t[5]]);
            }
        }
        proto::GRE if frag.is_none() && depth < MAX_TUNNEL_DEPTH => {
            if let Some((ptype, key, inner_off)) = gre_header(t) {
                let inner = &t[inner_off..];
                let strip = |c: &mut Ctx| match ptype {
                    0x0800 | 0x86dd => Ok(inner),
                    0x6558 => link::ethernet(inner, c),
                    0x880b => ppp(inner),
                    _ => Err(SkipReason::NotIp),
                };
                tunnel(ctx, TunnelKind::Gre, src, dst, key, depth, strip, s);
            }
        }
        proto::IPIP | proto::IPV6_IN_IP if frag.is_none() && depth < MAX_TUNNEL_DEPTH => {
            tunnel(ctx, TunnelKind::Ipip, src, dst, None, depth, |_| Ok(t), s);
        }
        _ => {}
    }
    Ok(())
}

/// The Fragment extension header of an IPv6 packet, if its chain has one; every length is
/// checked against the bytes captured.
fn v6_fragment(d: &[u8]) -> Option<Fragment> {
    let mut next = *d.get(6)?;
    let mut o = 40usize;
    for _ in 0..16 {
        match next {
            44 => {
                let f = d.get(o..o + 8)?;
                let off_flags = u16::from_be_bytes([f[2], f[3]]);
                return Some(Fragment {
                    id: u32::from_be_bytes([f[4], f[5], f[6], f[7]]),
                    offset: off_flags >> 3,
                    more: off_flags & 1 != 0,
                });
            }
            // Hop-by-hop, routing, destination options: (length + 1) * 8 bytes.
            0 | 43 | 60 => {
                let h = d.get(o..o + 2)?;
                next = h[0];
                o = o.checked_add((usize::from(h[1]) + 1) * 8)?;
            }
            // Authentication header: (length + 2) * 4 bytes.
            51 => {
                let h = d.get(o..o + 2)?;
                next = h[0];
                o = o.checked_add((usize::from(h[1]) + 2) * 4)?;
            }
            _ => return None,
        }
    }
    None
}

fn has_ports(p: u8) -> bool {
    matches!(p, proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6)
}

/// Decodes the inner packet of a tunnel into `s`, in place of the outer one. `s` is left
/// as it is if the inner packet is not decodable IP: the outer packet then stands as the
/// flow (nothing is lost).
#[allow(clippy::too_many_arguments)]
fn tunnel<'a>(
    ctx: &mut Ctx,
    kind: TunnelKind,
    src: IpAddr,
    dst: IpAddr,
    id: Option<u32>,
    depth: usize,
    strip: impl FnOnce(&mut Ctx) -> Result<&'a [u8], SkipReason>,
    s: &mut PacketSummary,
) {
    let mut inner_ctx = Ctx {
        tunnel: ctx.tunnel.or(Some(Tunnel { kind, src, dst, id })),
        vlan: ctx.vlan,
        inner_vlan: ctx.inner_vlan,
        src_mac: ctx.src_mac,
        dst_mac: ctx.dst_mac,
    };
    let Ok(ip) = strip(&mut inner_ctx) else {
        return;
    };
    let mut inner = PacketSummary::EMPTY;
    if decode_ip(ip, &mut inner_ctx, depth + 1, &mut inner).is_ok() {
        *s = inner;
    }
}

/// GRE header (RFC 2784/2890 version 0, and version 1 "enhanced GRE" of PPTP).
/// Returns (protocol type, key, header length).
fn gre_header(t: &[u8]) -> Option<(u16, Option<u32>, usize)> {
    if t.len() < 4 {
        return None;
    }
    let flags = t[0];
    let version = t[1] & 0x07;
    let ptype = u16::from_be_bytes([t[2], t[3]]);
    let (c, k, s) = (flags & 0x80 != 0, flags & 0x20 != 0, flags & 0x10 != 0);
    let mut off = 4;
    let mut key = None;
    match version {
        0 => {
            if c {
                off += 4;
            }
            if k {
                key = Some(u32::from_be_bytes(t.get(off..off + 4)?.try_into().ok()?));
                off += 4;
            }
            if s {
                off += 4;
            }
        }
        1 => {
            // Enhanced GRE: key present (payload length + call id), optional seq and ack.
            off += 4;
            if s {
                off += 4;
            }
            if t[1] & 0x80 != 0 {
                off += 4;
            }
        }
        _ => return None,
    }
    (off <= t.len()).then_some((ptype, key, off))
}

/// PPP frame inside enhanced GRE: optional address/control (ff 03), then the protocol.
fn ppp(mut d: &[u8]) -> Result<&[u8], SkipReason> {
    if d.starts_with(&[0xff, 0x03]) {
        d = &d[2..];
    }
    let (proto, hdr) = match d.first() {
        Some(b) if b & 1 == 1 => (u16::from(*b), 1), // compressed protocol field
        Some(_) if d.len() >= 2 => (u16::from_be_bytes([d[0], d[1]]), 2),
        _ => return Err(SkipReason::TruncatedLink),
    };
    match proto {
        0x0021 | 0x0057 => Ok(&d[hdr..]),
        _ => Err(SkipReason::NotIp),
    }
}

#[cfg(test)]
mod fast_tests {
    use super::*;

    #[test]
    fn fast_ipv4_equals_etherparse() {
        // Every header the fast path takes, and many it must leave to etherparse: the same
        // facts whichever reads them.
        let mut x = 0x9e37_79b9_7f4a_7c15u64;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut fast = 0;
        for i in 0..200_000 {
            let len = 20 + (next() % 60) as usize;
            let mut d: Vec<u8> = (0..len).map(|_| next() as u8).collect();
            // Mostly plausible headers: version 4, IHL 5, a total length near the size.
            if i % 4 != 0 {
                d[0] = 0x45;
                let total = (len as i64 + (next() % 9) as i64 - 6).max(0) as u16;
                d[2..4].copy_from_slice(&total.to_be_bytes());
            }
            if i % 3 == 0 {
                d[6] &= 0x1f; // often no fragment offset
                d[7] = 0;
            }
            let Some(f) = fast_ipv4(&d) else {
                continue;
            };
            fast += 1;
            let slow = slow_ip(&d).unwrap_or_else(|e| panic!("{e:?} on {d:02x?}"));
            assert_eq!(f, slow, "{d:02x?}");
        }
        assert!(fast > 50_000, "{fast}");
    }
}
