use super::*;

fn net(s: &str) -> IpNet {
    s.parse().unwrap()
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

#[test]
fn longest_prefix_wins_and_specials_apply() {
    let mut inv = Inventory::new();
    let lg = inv.class("lgwan", ClassKind::Segment);
    let mn = inv.class("mynumber", ClassKind::Segment);
    let cloud = inv.class("security_cloud", ClassKind::Zone);
    inv.add_prefix(net("10.0.0.0/8"), None, lg).unwrap();
    inv.add_prefix(net("10.1.0.0/16"), None, mn).unwrap();
    inv.add_prefix(net("203.0.113.0/28"), None, cloud).unwrap();
    inv.add_prefix(net("fd00:1::/48"), None, mn).unwrap();
    assert_eq!(inv.attribute(ip("10.1.2.3"), None).class, mn);
    assert_eq!(
        inv.attribute(ip("10.1.2.3"), None).prefix,
        Some(net("10.1.0.0/16"))
    );
    assert_eq!(inv.attribute(ip("10.2.2.3"), None).class, lg);
    assert_eq!(inv.attribute(ip("203.0.113.5"), None).class, cloud);
    assert_eq!(
        inv.attribute(ip("203.0.113.16"), None).class,
        ClassId::PUBLIC
    );
    assert_eq!(inv.attribute(ip("fd00:1::5"), None).class, mn);
    assert_eq!(inv.attribute(ip("::ffff:10.1.0.9"), None).class, mn);
    assert_eq!(inv.attribute(ip("fd00:9::5"), None).class, ClassId::UNKNOWN);
    assert_eq!(
        inv.attribute(ip("192.168.1.1"), None).class,
        ClassId::UNKNOWN
    );
    assert_eq!(inv.attribute(ip("8.8.8.8"), None).class, ClassId::PUBLIC);
    assert_eq!(
        inv.attribute(ip("2001:4860::8888"), None).class,
        ClassId::PUBLIC
    );
    for local in [
        "255.255.255.255",
        "224.0.0.251",
        "169.254.1.1",
        "127.0.0.1",
        "fe80::1",
        "ff02::fb",
    ] {
        assert_eq!(
            inv.attribute(ip(local), None).class,
            ClassId::LOCAL,
            "{local}"
        );
    }
    // 10.0/8 contains 10.1/16 of another class: reported.
    assert_eq!(
        inv.overlaps(),
        vec![(net("10.0.0.0/8"), net("10.1.0.0/16"), lg, mn)]
    );
}

#[test]
fn vlans_qualify_reused_address_space() {
    let mut inv = Inventory::new();
    let lg = inv.class("lgwan", ClassKind::Segment);
    let net_seg = inv.class("internet", ClassKind::Segment);
    inv.add_prefix(net("192.168.0.0/24"), Some(vec![20]), lg)
        .unwrap();
    inv.add_prefix(net("192.168.0.0/24"), Some(vec![30, 31]), net_seg)
        .unwrap();
    assert_eq!(
        inv.add_prefix(net("192.168.0.0/24"), Some(vec![31]), lg),
        Err(net_seg)
    );
    assert!(inv.overlaps().is_empty());
    assert_eq!(inv.attribute(ip("192.168.0.9"), Some(20)).class, lg);
    assert_eq!(inv.attribute(ip("192.168.0.9"), Some(31)).class, net_seg);
    assert_eq!(
        inv.attribute(ip("192.168.0.9"), Some(99)).class,
        ClassId::UNKNOWN
    );
    assert_eq!(
        inv.attribute(ip("192.168.0.9"), None).class,
        ClassId::UNKNOWN
    );
}

#[test]
fn macs_sourcing_two_segments_are_reported_once_each() {
    let mut m = MacObservations::new(2);
    let s = |ip_s: &str, c: u16, ts| MacSighting {
        ip: ip(ip_s),
        class: ClassId(c),
        evidence: (0, ts as u64, 0),
        ts,
    };
    m.observe([1; 6], s("10.1.0.1", 3, 5));
    m.observe([1; 6], s("10.1.0.2", 3, 1));
    m.observe([1; 6], s("10.3.0.1", 5, 9));
    m.observe([2; 6], s("10.1.0.9", 3, 1));
    m.observe([3; 6], s("10.1.0.9", 3, 1));
    let multi = m.multi_segment();
    assert_eq!(multi.len(), 1);
    assert_eq!(
        multi[0].1[0].ip,
        ip("10.1.0.2"),
        "earliest sighting per segment is kept"
    );
    assert_eq!(m.dropped, 1);
}
