use super::*;
use crate::input::{linktype, RawPacket};

fn ipv4_udp(src: [u8; 4], dst: [u8; 4], sp: u16, dp: u16) -> Vec<u8> {
    let mut p = vec![0x45, 0, 0, 28, 0, 0, 0, 0, 64, 17, 0, 0];
    p.extend(src);
    p.extend(dst);
    p.extend(sp.to_be_bytes());
    p.extend(dp.to_be_bytes());
    p.extend([0, 8, 0, 0]);
    p
}

fn raw(link_type: u16, data: &[u8]) -> Result<PacketSummary, SkipReason> {
    decode(&RawPacket {
        index: 1,
        offset: 24,
        ts: 5,
        orig_len: data.len() as u32,
        link_type,
        interface: 0,
        data,
    })
}

fn eth(et: u16, rest: &[u8]) -> Vec<u8> {
    let mut f = vec![2, 0, 0, 0, 0, 1, 2, 0, 0, 0, 0, 2];
    f.extend(et.to_be_bytes());
    f.extend_from_slice(rest);
    f
}

#[test]
fn bsd_null_in_either_byte_order_and_loop() {
    let ip = ipv4_udp([1, 1, 1, 1], [2, 2, 2, 2], 10, 20);
    for hdr in [[2, 0, 0, 0], [0, 0, 0, 2]] {
        let mut f = hdr.to_vec();
        f.extend(&ip);
        let s = raw(linktype::NULL, &f).unwrap();
        assert_eq!((s.src_port, s.dst_port, s.proto), (10, 20, 17));
    }
    let mut f = vec![0, 0, 0, 2];
    f.extend(&ip);
    assert!(raw(linktype::LOOP, &f).is_ok());
    assert_eq!(
        raw(linktype::NULL, &[7, 0, 0, 0, 0x45]),
        Err(SkipReason::NotIp)
    );
    assert_eq!(raw(linktype::NULL, &[2, 0]), Err(SkipReason::TruncatedLink));
}

#[test]
fn vlan_stacks_mpls_and_pppoe() {
    let ip = ipv4_udp([1, 1, 1, 1], [2, 2, 2, 2], 10, 20);
    let mut tags = vec![0x00, 0x1e, 0x81, 0x00, 0x00, 0x14, 0x08, 0x00];
    tags.extend(&ip);
    let s = raw(linktype::ETHERNET, &eth(0x88a8, &tags)).unwrap();
    assert_eq!((s.vlan, s.inner_vlan), (Some(30), Some(20)));
    assert_eq!(s.src_mac, Some([2, 0, 0, 0, 0, 2]));
    // Two MPLS labels, bottom of stack on the second.
    let mut m = vec![0, 0x10, 0x00, 64, 0, 0x20, 0x01, 64];
    m.extend(&ip);
    assert_eq!(
        raw(linktype::ETHERNET, &eth(0x8847, &m)).unwrap().dst_port,
        20
    );
    // MPLS pseudowire (control word) is not IP.
    let pw = [0, 0x10, 0x01, 64, 0, 0, 0, 0];
    assert_eq!(
        raw(linktype::ETHERNET, &eth(0x8847, &pw)),
        Err(SkipReason::NotIp)
    );
    let mut pppoe = vec![0x11, 0, 0, 1, 0, 30, 0x00, 0x21];
    pppoe.extend(&ip);
    assert_eq!(
        raw(linktype::ETHERNET, &eth(0x8864, &pppoe))
            .unwrap()
            .src_port,
        10
    );
    assert_eq!(
        raw(linktype::ETHERNET, &eth(0x0806, &[0; 28])),
        Err(SkipReason::NotIp)
    );
    assert_eq!(raw(999, &ip), Err(SkipReason::UnsupportedLinkType));
}

#[test]
fn gre_with_key_and_ip_in_ip_decode_the_inner_flow() {
    let inner = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 53, 5353);
    let mut gre = vec![0x20, 0, 0x08, 0x00, 0, 0, 0, 42];
    gre.extend(&inner);
    let mut outer = vec![
        0x45,
        0,
        0,
        (20 + gre.len()) as u8,
        0,
        0,
        0,
        0,
        64,
        47,
        0,
        0,
        9,
        9,
        9,
        9,
        8,
        8,
        8,
        8,
    ];
    outer.extend(&gre);
    let s = raw(linktype::RAW, &outer).unwrap();
    assert_eq!(
        (s.src.to_string().as_str(), s.src_port, s.proto),
        ("10.0.0.1", 53, 17)
    );
    let t = s.tunnel.unwrap();
    assert_eq!(
        (t.kind, t.id, t.src.to_string()),
        (TunnelKind::Gre, Some(42), "9.9.9.9".to_string())
    );
    let mut ipip = vec![
        0x45,
        0,
        0,
        (20 + inner.len()) as u8,
        0,
        0,
        0,
        0,
        64,
        4,
        0,
        0,
        9,
        9,
        9,
        9,
        8,
        8,
        8,
        8,
    ];
    ipip.extend(&inner);
    assert_eq!(
        raw(linktype::IPV4, &ipip).unwrap().tunnel.unwrap().kind,
        TunnelKind::Ipip
    );
}

#[test]
fn an_undecodable_inner_packet_leaves_the_outer_one_whole() {
    // An outer IPv4 header (protocol `proto`, 9.9.9.9 -> 8.8.8.8) around `payload`.
    let outer = |proto: u8, payload: &[u8]| {
        let mut p = vec![
            0x45,
            0,
            0,
            (20 + payload.len()) as u8,
            0,
            0,
            0,
            0,
            64,
            proto,
        ];
        p.extend([0, 0, 9, 9, 9, 9, 8, 8, 8, 8]);
        p.extend_from_slice(payload);
        p
    };
    // IP in IP whose inner header is whole but whose TCP header is cut after two bytes:
    // the inner decode fails after it has read the inner addresses.
    let mut inner = ipv4_udp([10, 0, 0, 1], [10, 0, 0, 2], 80, 8080);
    inner[9] = 6;
    inner[3] = 22;
    inner.truncate(22);
    // GRE carrying ARP: not IP at all.
    let gre_arp = [&[0u8, 0, 0x08, 0x06][..], &[0; 28]].concat();
    for (proto, payload) in [(4, inner), (47, gre_arp)] {
        let s = raw(linktype::RAW, &outer(proto, &payload)).unwrap();
        assert_eq!(
            (s.src.to_string(), s.dst.to_string(), s.proto, s.src_port),
            ("9.9.9.9".to_string(), "8.8.8.8".to_string(), proto, 0),
            "protocol {proto}"
        );
        assert_eq!(s.tunnel, None, "protocol {proto}");
        assert_eq!((s.ts, s.index, s.offset), (5, 1, 24));
    }
}

#[test]
fn truncation_and_malformed_headers_are_counted_not_guessed() {
    let ip = ipv4_udp([1, 1, 1, 1], [2, 2, 2, 2], 10, 20);
    assert_eq!(raw(linktype::RAW, &ip[..10]), Err(SkipReason::TruncatedIp));
    assert_eq!(
        raw(linktype::RAW, &ip[..22]),
        Err(SkipReason::TruncatedTransport)
    );
    let mut bad = ip.clone();
    bad[0] = 0x43; // IHL 3
    assert_eq!(raw(linktype::RAW, &bad), Err(SkipReason::MalformedIp));
    assert_eq!(
        raw(linktype::ETHERNET, &[0; 10]),
        Err(SkipReason::TruncatedLink)
    );
}

#[test]
fn fragments_before_their_first_are_held_then_attributed_or_orphaned() {
    let mut t = FragTracker::new(FragConfig::default());
    let base = raw(linktype::RAW, &ipv4_udp([1, 1, 1, 1], [2, 2, 2, 2], 10, 20)).unwrap();
    let frag = |offset, ts| PacketSummary {
        frag: Some(Fragment {
            id: 9,
            offset,
            more: offset == 0,
        }),
        src_port: 0,
        dst_port: 0,
        ports_known: offset == 0,
        ts,
        ..base
    };
    let mut got = Vec::new();
    let mut first = frag(0, 2);
    first.src_port = 10;
    first.dst_port = 20;
    t.push(frag(185, 1), &mut |p| got.push(p));
    assert!(got.is_empty());
    t.push(first, &mut |p| got.push(p));
    assert_eq!(got.len(), 2);
    assert!(got.iter().all(|p| p.ports_known && p.src_port == 10));
    // A fragment of another datagram whose first never comes: released on timeout.
    let mut lone = frag(185, 3);
    lone.frag.as_mut().unwrap().id = 10;
    t.push(lone, &mut |p| got.push(p));
    t.expire(3 + 16_000_000_000, &mut |p| got.push(p));
    assert_eq!(got.len(), 3);
    assert!(!got[2].ports_known);
    assert_eq!(t.stats().orphaned, 1);
}
