//! Community ID v1 (<https://github.com/corelight/community-id-spec>): a hash of the
//! canonically ordered 5-tuple, so every tool names a flow the same way.

use std::net::IpAddr;

use sha1::{Digest, Sha1};

use crate::decode::proto;

/// ICMP/ICMPv6 types that have a counterpart (request ↔ reply), as Zeek and the Community
/// ID spec map them. `None` for one-way types (errors and the like).
pub fn icmp_counterpart(ip_proto: u8, icmp_type: u8) -> Option<u8> {
    match (ip_proto, icmp_type) {
        (proto::ICMP, 8) => Some(0),
        (proto::ICMP, 0) => Some(8),
        (proto::ICMP, 13) => Some(14),
        (proto::ICMP, 14) => Some(13),
        (proto::ICMP, 15) => Some(16),
        (proto::ICMP, 16) => Some(15),
        (proto::ICMP, 10) => Some(9),
        (proto::ICMP, 9) => Some(10),
        (proto::ICMP, 17) => Some(18),
        (proto::ICMP, 18) => Some(17),
        (proto::ICMPV6, 128) => Some(129),
        (proto::ICMPV6, 129) => Some(128),
        (proto::ICMPV6, 130) => Some(131),
        (proto::ICMPV6, 131) => Some(130),
        (proto::ICMPV6, 133) => Some(134),
        (proto::ICMPV6, 134) => Some(133),
        (proto::ICMPV6, 135) => Some(136),
        (proto::ICMPV6, 136) => Some(135),
        (proto::ICMPV6, 139) => Some(140),
        (proto::ICMPV6, 140) => Some(139),
        (proto::ICMPV6, 144) => Some(145),
        (proto::ICMPV6, 145) => Some(144),
        _ => None,
    }
}

/// Computes the Community ID v1 string (`1:<base64 sha1>`) of a flow seen from `src` to
/// `dst`. For ICMP pass the type as `sport` and the code as `dport`. `seed` is usually 0.
pub fn community_id_v1(
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    ip_proto: u8,
    sport: u16,
    dport: u16,
) -> String {
    let mut out = String::with_capacity(30);
    push_community_id_v1(&mut out, seed, src, dst, ip_proto, sport, dport);
    out
}

/// Appends [`community_id_v1`]'s string to `out` (flow rows write one each).
pub(crate) fn push_community_id_v1(
    out: &mut String,
    seed: u16,
    src: IpAddr,
    dst: IpAddr,
    ip_proto: u8,
    sport: u16,
    dport: u16,
) {
    let (s, d, ports) = canonical(src, dst, ip_proto, sport, dport);
    // The hashed message, gathered first and hashed in one call: seed, addresses,
    // protocol, a padding byte, ports.
    let mut m = [0u8; 2 + 32 + 2 + 4];
    m[..2].copy_from_slice(&seed.to_be_bytes());
    let mut n = match (s, d) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            m[2..6].copy_from_slice(&a.octets());
            m[6..10].copy_from_slice(&b.octets());
            10
        }
        (a, b) => {
            m[2..18].copy_from_slice(&v6(a));
            m[18..34].copy_from_slice(&v6(b));
            34
        }
    };
    m[n] = ip_proto;
    n += 2;
    if let Some((sport, dport)) = ports {
        m[n..n + 2].copy_from_slice(&sport.to_be_bytes());
        m[n + 2..n + 4].copy_from_slice(&dport.to_be_bytes());
        n += 4;
    }
    let digest = Sha1::digest(&m[..n]);
    out.push_str("1:");
    crate::text::push_base64(out, &digest);
}

/// The flow's endpoints in the specification's order (the lower first; for ICMP, the
/// type's counterpart as the destination port, and one-way types as they are), and the
/// ports if the protocol has them.
fn canonical(
    src: IpAddr,
    dst: IpAddr,
    ip_proto: u8,
    sport: u16,
    dport: u16,
) -> (IpAddr, IpAddr, Option<(u16, u16)>) {
    let has_ports = matches!(
        ip_proto,
        proto::TCP | proto::UDP | proto::ICMP | proto::ICMPV6 | 132
    );
    let (mut sport, mut dport, mut one_way) = (sport, dport, false);
    if matches!(ip_proto, proto::ICMP | proto::ICMPV6) {
        match icmp_counterpart(ip_proto, sport as u8) {
            Some(c) => dport = u16::from(c),
            None => one_way = true,
        }
    }
    let (mut s, mut d) = (src, dst);
    let ordered = one_way || s < d || (s == d && sport < dport);
    if !ordered {
        std::mem::swap(&mut s, &mut d);
        std::mem::swap(&mut sport, &mut dport);
    }
    (s, d, has_ports.then_some((sport, dport)))
}

fn v6(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(v) => v.to_ipv6_mapped().octets(),
        IpAddr::V6(v) => v.octets(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The specification's hashing, field by field (the function hashes one buffer).
    fn by_fields(seed: u16, src: IpAddr, dst: IpAddr, p: u8, sport: u16, dport: u16) -> String {
        let (s, d, ports) = canonical(src, dst, p, sport, dport);
        let mut h = Sha1::new();
        h.update(seed.to_be_bytes());
        match (s, d) {
            (IpAddr::V4(a), IpAddr::V4(b)) => {
                h.update(a.octets());
                h.update(b.octets());
            }
            (a, b) => {
                h.update(v6(a));
                h.update(v6(b));
            }
        }
        h.update([p, 0]);
        if let Some((sport, dport)) = ports {
            h.update(sport.to_be_bytes());
            h.update(dport.to_be_bytes());
        }
        use base64::Engine;
        let b64 = base64::engine::general_purpose::STANDARD.encode(h.finalize());
        format!("1:{b64}")
    }

    #[test]
    fn one_buffer_hashes_as_the_fields_do() {
        let mut x = 0x2545_f491_4f6c_dd1du64;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for i in 0..20_000 {
            let r = next();
            let v4 = |r: u64| IpAddr::from(std::net::Ipv4Addr::from((r >> 8) as u32 & 0x0303_0303));
            let v6 =
                |r: u64| IpAddr::from(std::net::Ipv6Addr::from(u128::from(r & 0x0303) << 100 | 1));
            let (a, b) = match i % 4 {
                0 => (v4(r), v4(r >> 16)),
                1 => (v6(r), v6(r >> 16)),
                2 => (v4(r), v6(r >> 16)),
                _ => (v6(r), v4(r >> 16)),
            };
            let p = [
                proto::TCP,
                proto::UDP,
                proto::ICMP,
                proto::ICMPV6,
                132,
                47,
                0,
            ][(r >> 40) as usize % 7];
            let (sp, dp) = ((r >> 44) as u16 % 300, (r >> 52) as u16 % 300);
            let seed = (r >> 30) as u16 % 3;
            assert_eq!(
                community_id_v1(seed, a, b, p, sp, dp),
                by_fields(seed, a, b, p, sp, dp)
            );
        }
    }

    // Vectors from the Community ID specification's baseline and from tshark.
    #[test]
    fn spec_baseline_vectors() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            community_id_v1(0, ip("128.232.110.120"), ip("66.35.250.204"), 6, 34855, 80),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        assert_eq!(
            community_id_v1(0, ip("66.35.250.204"), ip("128.232.110.120"), 6, 80, 34855),
            "1:LQU9qZlK+B5F3KDmev6m5PMibrg="
        );
        // Seed 1, as tshark's communityid dissector computes it for zeek-communityid-icmp.pcap.
        assert_eq!(
            community_id_v1(1, ip("192.168.0.89"), ip("192.168.0.1"), 1, 8, 0),
            "1:03g6IloqVBdcZlPyX8r0hgoE7kA="
        );
        assert_eq!(
            community_id_v1(0, ip("192.168.0.89"), ip("192.168.0.1"), 1, 8, 0),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
        assert_eq!(
            community_id_v1(0, ip("192.168.0.1"), ip("192.168.0.89"), 1, 0, 8),
            "1:X0snYXpgwiv9TZtqg64sgzUn6Dk="
        );
    }
}
