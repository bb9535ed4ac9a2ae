//! sFlow v5 (sflow.org/sflow_version_5.txt): flow samples' raw packet headers are handed on
//! for the packet decoder; counter samples are counted and skipped.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use super::{DatagramContext, ExportItem, ExportStats, ExportWarning, SampledPacket};

fn u32_at(d: &[u8], o: usize) -> Option<u32> {
    d.get(o..o + 4)
        .map(|b| u32::from_be_bytes([b[0], b[1], b[2], b[3]]))
}

/// Header length and agent address.
fn header(d: &[u8]) -> Option<(usize, IpAddr, u32)> {
    match u32_at(d, 4)? {
        1 => {
            let a = u32_at(d, 8)?;
            Some((28, IpAddr::V4(Ipv4Addr::from(a)), u32_at(d, 24)?))
        }
        2 => {
            let a: [u8; 16] = d.get(8..24)?.try_into().ok()?;
            Some((40, IpAddr::V6(Ipv6Addr::from(a)), u32_at(d, 36)?))
        }
        _ => None,
    }
}

/// Length of the sFlow datagram at the start of `d` (walks its samples).
pub(super) fn datagram_len(d: &[u8]) -> Option<usize> {
    let (mut o, _, n) = header(d)?;
    for _ in 0..n.min(4096) {
        let len = u32_at(d, o + 4)? as usize;
        o = o.checked_add(8 + len)?;
        if o > d.len() {
            return None;
        }
    }
    Some(o)
}

pub(super) fn decode(
    ctx: DatagramContext,
    d: &[u8],
    stats: &mut ExportStats,
    warnings: &mut Vec<ExportWarning>,
    out: &mut dyn FnMut(ExportItem<'_>),
) {
    let Some((mut o, agent, n)) = header(d) else {
        warnings.push(ExportWarning {
            offset: ctx.offset,
            what: "sFlow header truncated or with an unknown agent address type".into(),
        });
        return;
    };
    let agent = if ctx.exporter.is_unspecified() {
        agent
    } else {
        ctx.exporter
    };
    for _ in 0..n.min(4096) {
        let (Some(format), Some(len)) = (u32_at(d, o), u32_at(d, o + 4)) else {
            warnings.push(ExportWarning {
                offset: ctx.offset + o as u64,
                what: "sFlow sample header truncated".into(),
            });
            return;
        };
        let len = len as usize;
        let Some(body) = d.get(o + 8..o + 8 + len) else {
            warnings.push(ExportWarning {
                offset: ctx.offset + o as u64,
                what: format!(
                    "sFlow sample of {len} bytes runs past the datagram ({} bytes)",
                    d.len()
                ),
            });
            return;
        };
        match format {
            1 | 3 => {
                stats.sflow_samples += 1;
                flow_sample(format == 3, agent, body, stats, out);
            }
            2 | 4 => stats.sflow_counter_samples += 1,
            _ => stats.sflow_other += 1,
        }
        o += 8 + len;
    }
}

fn flow_sample(
    expanded: bool,
    agent: IpAddr,
    b: &[u8],
    stats: &mut ExportStats,
    out: &mut dyn FnMut(ExportItem<'_>),
) {
    // Expanded samples carry source id type/index, and interfaces as (format, value) pairs.
    let (rate_at, in_at, out_at, n_at) = if expanded {
        (12, 28, 36, 40)
    } else {
        (8, 20, 24, 28)
    };
    let (Some(rate), Some(in_if), Some(out_if), Some(n)) = (
        u32_at(b, rate_at),
        u32_at(b, in_at),
        u32_at(b, out_at),
        u32_at(b, n_at),
    ) else {
        stats.sflow_other += 1;
        return;
    };
    let mut o = n_at + 4;
    let mut header: Option<(u32, u32, &[u8])> = None;
    let mut vlan = None;
    for _ in 0..n.min(1024) {
        let (Some(fmt), Some(len)) = (u32_at(b, o), u32_at(b, o + 4)) else {
            break;
        };
        let Some(rec) = b.get(o + 8..o + 8 + len as usize) else {
            break;
        };
        match fmt {
            1 => {
                // Raw packet header: protocol, frame length, stripped, header length, bytes.
                if let (Some(p), Some(fl), Some(hl)) =
                    (u32_at(rec, 0), u32_at(rec, 4), u32_at(rec, 12))
                {
                    if let Some(h) = rec.get(16..16 + hl as usize) {
                        header = Some((p, fl, h));
                    }
                }
            }
            1001 => {
                vlan = u32_at(rec, 0)
                    .map(|v| v as u16 & 0x0fff)
                    .filter(|v| *v != 0)
            }
            _ => {}
        }
        o += 8 + len as usize;
    }
    let Some((p, fl, h)) = header else {
        stats.sflow_other += 1;
        return;
    };
    out(ExportItem::Sample(SampledPacket {
        exporter: agent,
        header_protocol: p,
        frame_length: fl,
        header: h,
        sampling_rate: rate.max(1),
        in_if,
        out_if: if expanded {
            out_if
        } else {
            out_if & 0x3fff_ffff
        },
        vlan,
    }));
}
