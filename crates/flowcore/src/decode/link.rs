//! Link layers in front of IP. Hand-written: etherparse has no MPLS, SLL2, BSD loopback
//! or PPPoE, and this way VLAN stacks of any depth (bounded) are walked in one loop.

use super::ip::Ctx;
use super::SkipReason;
use crate::input::linktype;

/// Maximum VLAN tags / MPLS labels walked before giving up.
const MAX_TAGS: usize = 16;

/// Strips the link layer; returns the IP packet bytes.
pub(super) fn decode_link<'a>(
    link_type: u16,
    data: &'a [u8],
    ctx: &mut Ctx,
) -> Result<&'a [u8], SkipReason> {
    match link_type {
        linktype::ETHERNET => ethernet(data, ctx),
        linktype::RAW
        | linktype::RAW_ALT_12
        | linktype::RAW_ALT_14
        | linktype::IPV4
        | linktype::IPV6 => Ok(data),
        linktype::NULL | linktype::LOOP => {
            let h: [u8; 4] = data
                .get(..4)
                .and_then(|b| b.try_into().ok())
                .ok_or(SkipReason::TruncatedLink)?;
            // DLT_NULL is in the capturing host's byte order; DLT_LOOP in network order.
            // Address family values are small, so whichever reading is small is right.
            let le = u32::from_le_bytes(h);
            let af = if link_type == linktype::LOOP || le > 0xffff {
                u32::from_be_bytes(h)
            } else {
                le
            };
            match af {
                // AF_INET everywhere; AF_INET6 on Linux, BSDs, Darwin/FreeBSD.
                2 | 10 | 24 | 28 | 30 => Ok(&data[4..]),
                _ => Err(SkipReason::NotIp),
            }
        }
        linktype::LINUX_SLL => {
            if data.len() < 16 {
                return Err(SkipReason::TruncatedLink);
            }
            let et = u16::from_be_bytes([data[14], data[15]]);
            if let (Some(mac), 6) = (mac_at(data, 6), u16::from_be_bytes([data[4], data[5]])) {
                // Packet type 4 = sent by us: the address is the source either way.
                ctx.src_mac = Some(mac);
            }
            ethertype(et, &data[16..], ctx)
        }
        linktype::LINUX_SLL2 => {
            if data.len() < 20 {
                return Err(SkipReason::TruncatedLink);
            }
            let et = u16::from_be_bytes([data[0], data[1]]);
            if data[11] == 6 {
                ctx.src_mac = mac_at(data, 12);
            }
            ethertype(et, &data[20..], ctx)
        }
        _ => Err(SkipReason::UnsupportedLinkType),
    }
}

fn mac_at(d: &[u8], o: usize) -> Option<[u8; 6]> {
    d.get(o..o + 6).and_then(|b| b.try_into().ok())
}

/// Ethernet II frame (also the inner frame of VXLAN and transparent-bridging GRE).
pub(super) fn ethernet<'a>(data: &'a [u8], ctx: &mut Ctx) -> Result<&'a [u8], SkipReason> {
    if data.len() < 14 {
        return Err(SkipReason::TruncatedLink);
    }
    ctx.dst_mac = mac_at(data, 0);
    ctx.src_mac = mac_at(data, 6);
    let et = u16::from_be_bytes([data[12], data[13]]);
    ethertype(et, &data[14..], ctx)
}

/// Walks VLAN tags, MPLS labels and PPPoE down to IP.
fn ethertype<'a>(mut et: u16, mut rest: &'a [u8], ctx: &mut Ctx) -> Result<&'a [u8], SkipReason> {
    for _ in 0..MAX_TAGS {
        match et {
            0x0800 | 0x86dd => return Ok(rest),
            // 802.1Q, 802.1ad, and the pre-standard QinQ TPIDs.
            0x8100 | 0x88a8 | 0x9100 | 0x9200 => {
                if rest.len() < 4 {
                    return Err(SkipReason::TruncatedLink);
                }
                let vid = u16::from_be_bytes([rest[0], rest[1]]) & 0x0fff;
                if ctx.vlan.is_none() {
                    ctx.vlan = Some(vid);
                } else if ctx.inner_vlan.is_none() {
                    ctx.inner_vlan = Some(vid);
                }
                et = u16::from_be_bytes([rest[2], rest[3]]);
                rest = &rest[4..];
            }
            0x8847 | 0x8848 => return mpls(rest),
            0x8864 => {
                // PPPoE session: 6-byte header, then a 2-byte PPP protocol.
                if rest.len() < 8 {
                    return Err(SkipReason::TruncatedLink);
                }
                return match u16::from_be_bytes([rest[6], rest[7]]) {
                    0x0021 | 0x0057 => Ok(&rest[8..]),
                    _ => Err(SkipReason::NotIp),
                };
            }
            _ => return Err(SkipReason::NotIp),
        }
    }
    Err(SkipReason::NotIp)
}

/// Pops an MPLS label stack; IP follows when the first nibble says so.
fn mpls(mut rest: &[u8]) -> Result<&[u8], SkipReason> {
    for _ in 0..MAX_TAGS {
        if rest.len() < 4 {
            return Err(SkipReason::TruncatedLink);
        }
        let bottom = rest[2] & 1 != 0;
        rest = &rest[4..];
        if bottom {
            return match rest.first().map(|b| b >> 4) {
                Some(4) | Some(6) => Ok(rest),
                Some(_) => Err(SkipReason::NotIp), // pseudowire (control word / Ethernet)
                None => Err(SkipReason::TruncatedLink),
            };
        }
    }
    Err(SkipReason::NotIp)
}
