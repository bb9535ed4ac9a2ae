use std::net::{IpAddr, Ipv4Addr};

use super::*;

fn ctx(port: u16) -> DatagramContext {
    DatagramContext {
        exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port,
        capture_ts: 0,
        index: 1,
        offset: 24,
    }
}

fn records(
    dec: &mut ExportDecoder,
    kind: ExportKind,
    port: u16,
    d: &[u8],
) -> (Vec<ExportRecord>, Vec<ExportWarning>) {
    let mut out = Vec::new();
    let w = dec.decode(kind, ctx(port), d, &mut |i| {
        if let ExportItem::Records(rs) = i {
            assert!(!rs.is_empty() && rs.len() <= 32, "a batch of {}", rs.len());
            out.extend_from_slice(rs);
        }
    });
    (out, w)
}

/// An IPFIX message with the given sets.
fn ipfix(export_time: u32, sets: &[(u16, Vec<u8>)]) -> Vec<u8> {
    let mut body = Vec::new();
    for (id, data) in sets {
        body.extend(id.to_be_bytes());
        body.extend(((4 + data.len()) as u16).to_be_bytes());
        body.extend(data);
    }
    let mut m = vec![0, 10];
    m.extend(((16 + body.len()) as u16).to_be_bytes());
    m.extend(export_time.to_be_bytes());
    m.extend(7u32.to_be_bytes());
    m.extend(42u32.to_be_bytes());
    m.extend(body);
    m
}

fn field(id: u16, len: u16) -> Vec<u8> {
    let mut f = id.to_be_bytes().to_vec();
    f.extend(len.to_be_bytes());
    f
}

/// Fields of the IPv4 5-tuple: addresses, ports, protocol.
fn five_tuple() -> Vec<Vec<u8>> {
    vec![
        field(8, 4),
        field(12, 4),
        field(7, 2),
        field(11, 2),
        field(4, 1),
    ]
}

fn template(id: u16, fields: &[Vec<u8>]) -> Vec<u8> {
    let mut t = id.to_be_bytes().to_vec();
    t.extend((fields.len() as u16).to_be_bytes());
    for f in fields {
        t.extend(f);
    }
    t
}

#[test]
fn ipfix_varlen_enterprise_reverse_padding_withdrawal_and_pending() {
    let mut dec = ExportDecoder::new(TemplateLimits::default());
    // sourceIPv4, destinationIPv4, ports, proto, octets (4 bytes: reduced size), packets,
    // an enterprise field (PEN 9, 2 bytes), a variable-length string, reverse octets
    // (PEN 29305, IE 1), flowStartMilliseconds.
    let mut pen9 = field(0x8000 | 100, 2);
    pen9.extend(9u32.to_be_bytes());
    let mut rev = field(0x8000 | 1, 8);
    rev.extend(29305u32.to_be_bytes());
    let tpl = template(
        300,
        &[
            five_tuple(),
            vec![
                field(1, 4),
                field(2, 8),
                pen9,
                field(82, 65535),
                rev,
                field(152, 8),
            ],
        ]
        .concat(),
    );
    let mut rec = vec![10, 1, 0, 1, 10, 3, 0, 1];
    rec.extend(50000u16.to_be_bytes());
    rec.extend(443u16.to_be_bytes());
    rec.push(6);
    rec.extend(1500u32.to_be_bytes());
    rec.extend(3u64.to_be_bytes());
    rec.extend([0xaa, 0xbb]);
    rec.extend([3, b'e', b't', b'h']);
    rec.extend(9000u64.to_be_bytes());
    rec.extend(1_795_532_400_000u64.to_be_bytes());
    let mut data = rec.clone();
    data.extend(rec.clone());
    data.extend([0, 0, 0]); // padding shorter than a record
                            // Data first (held), then the template.
    let (r, w) = records(
        &mut dec,
        ExportKind::Ipfix,
        4739,
        &ipfix(1_795_532_401, &[(300, data.clone())]),
    );
    assert!(r.is_empty() && w.is_empty());
    let (r, w) = records(
        &mut dec,
        ExportKind::Ipfix,
        4739,
        &ipfix(1_795_532_401, &[(2, tpl.clone())]),
    );
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(r.len(), 2, "held data decoded when its template arrived");
    assert_eq!(dec.stats().pending_decoded, 1);
    let x = &r[0];
    assert_eq!(
        (
            x.src.to_string(),
            x.dst.to_string(),
            x.src_port,
            x.dst_port,
            x.proto
        ),
        ("10.1.0.1".into(), "10.3.0.1".into(), 50000, 443, 6)
    );
    assert_eq!(
        (x.bytes, x.packets, x.reverse),
        (1500, 3, Some((0, 9000, 0)))
    );
    assert_eq!((x.start, x.domain), (1_795_532_400_000_000_000, 42));
    // Another transport session (port) does not see the template.
    let (r, _) = records(
        &mut dec,
        ExportKind::Ipfix,
        9999,
        &ipfix(1, &[(300, data.clone())]),
    );
    assert!(r.is_empty());
    // Withdrawal (field count 0), then data is held again.
    let (_, _) = records(
        &mut dec,
        ExportKind::Ipfix,
        4739,
        &ipfix(1, &[(2, vec![1, 44, 0, 0])]),
    );
    assert_eq!(dec.stats().template_withdrawals, 1);
    let (r, _) = records(&mut dec, ExportKind::Ipfix, 4739, &ipfix(1, &[(300, data)]));
    assert!(r.is_empty());
    dec.finish();
    assert_eq!(dec.stats().undecodable_sets, 2);
}

#[test]
fn ipfix_set_running_past_the_message_is_a_warning() {
    let mut dec = ExportDecoder::new(TemplateLimits::default());
    let mut m = ipfix(1, &[(2, template(256, &[field(8, 4)]))]);
    m[18] = 0x40; // set length 0x40xx > message
    let (_, w) = records(&mut dec, ExportKind::Ipfix, 1, &m);
    assert_eq!(w.len(), 1);
    assert_eq!(w[0].offset, 24 + 16);
    assert!(w[0].what.contains("set 2 has length"));
}

#[test]
fn template_floods_are_bounded() {
    let limits = TemplateLimits {
        templates_per_exporter: 10,
        fields_per_template: 4,
        templates_total: 1000,
        pending_sets: 5,
        pending_bytes: 1 << 20,
    };
    let mut dec = ExportDecoder::new(limits);
    let mut sets = Vec::new();
    for id in 256..300u16 {
        sets.push((2u16, template(id, &[field(8, 4), field(12, 4)])));
    }
    sets.push((
        2,
        template(
            400,
            &[
                field(8, 4),
                field(12, 4),
                field(7, 2),
                field(11, 2),
                field(4, 1),
            ],
        ),
    ));
    let (_, _) = records(&mut dec, ExportKind::Ipfix, 1, &ipfix(1, &sets));
    assert_eq!(dec.stats().templates_refused, 35);
    for id in 500..520u16 {
        let _ = records(
            &mut dec,
            ExportKind::Ipfix,
            1,
            &ipfix(1, &[(id, vec![0; 8])]),
        );
    }
    dec.finish();
    assert_eq!(
        dec.stats().undecodable_sets,
        20,
        "15 evicted from the pending buffer, 5 left at the end"
    );
}

#[test]
fn netflow_v9_uptime_wraparound_and_options_sampling() {
    let mut dec = ExportDecoder::new(TemplateLimits::default());
    let header = |uptime: u32, count: u16| {
        let mut h = vec![0, 9];
        h.extend(count.to_be_bytes());
        h.extend(uptime.to_be_bytes());
        h.extend(1_795_532_400u32.to_be_bytes());
        h.extend(1u32.to_be_bytes());
        h.extend(7u32.to_be_bytes());
        h
    };
    let set = |id: u16, body: Vec<u8>| {
        let mut s = id.to_be_bytes().to_vec();
        s.extend(((4 + body.len()) as u16).to_be_bytes());
        s.extend(body);
        s
    };
    // Template 260: src, dst, packets, bytes, FIRST_SWITCHED, LAST_SWITCHED.
    let tpl = template(
        260,
        &[
            field(8, 4),
            field(12, 4),
            field(2, 4),
            field(1, 4),
            field(22, 4),
            field(21, 4),
        ],
    );
    // Options template 261: scope (system, 4 bytes), SAMPLING_INTERVAL (34, 4 bytes).
    let mut opt = 261u16.to_be_bytes().to_vec();
    opt.extend(4u16.to_be_bytes());
    opt.extend(4u16.to_be_bytes());
    opt.extend(field(1, 4));
    opt.extend(field(34, 4));
    let mut m = header(5_000, 3);
    m.extend(set(0, tpl));
    m.extend(set(1, opt));
    m.extend(set(
        261,
        [0u32.to_be_bytes(), 100u32.to_be_bytes()].concat(),
    ));
    // Uptime wrapped: the flow started 10 s before the export, before the counter wrapped.
    let first = 5_000u32.wrapping_sub(10_000);
    let mut rec = vec![10, 1, 0, 1, 8, 8, 8, 8];
    rec.extend(2u32.to_be_bytes());
    rec.extend(120u32.to_be_bytes());
    rec.extend(first.to_be_bytes());
    rec.extend(4_000u32.to_be_bytes());
    m.extend(set(260, rec));
    let (r, w) = records(&mut dec, ExportKind::NetflowV9, 2055, &m);
    assert!(w.is_empty(), "{w:?}");
    assert_eq!(r.len(), 1);
    assert_eq!(r[0].start, 1_795_532_390 * 1_000_000_000);
    assert_eq!(r[0].end, 1_795_532_399 * 1_000_000_000);
    assert_eq!(r[0].sampling, 100);
    assert_eq!(dec.stats().options_records, 1);
}

#[test]
fn detection_is_strict() {
    assert_eq!(detect(&[0u8; 8]), None);
    let mut v5 = vec![0, 5, 0, 1];
    v5.resize(24 + 48, 0);
    assert_eq!(detect(&v5), Some(ExportKind::NetflowV5));
    v5.push(0);
    assert_eq!(detect(&v5), None, "length must match the count");
    let m = ipfix(1, &[(2, template(256, &[field(8, 4)]))]);
    assert_eq!(detect(&m), Some(ExportKind::Ipfix));
    assert_eq!(detect(&m[..m.len() - 1]), None);
    // A DNS query is not an export.
    let dns =
        b"\x12\x34\x01\x00\x00\x01\x00\x00\x00\x00\x00\x00\x07example\x03com\x00\x00\x01\x00\x01";
    assert_eq!(detect(dns), None);
}

#[test]
fn records_come_in_bounded_batches_in_order() {
    // A data set of 100 records of a fixed-length template (the fast plan's loop, then
    // the walk for the last), and one of a template whose variable-length field comes
    // first (walked): batches of at most 32, in order, none empty, each set's records
    // handed out before the next set's.
    let mut dec = ExportDecoder::new(TemplateLimits::default());
    let fixed = template(300, &[five_tuple(), vec![field(2, 4)]].concat());
    let walked = template(
        301,
        &[
            field(82, 65535),
            field(8, 4),
            field(12, 4),
            field(7, 2),
            field(2, 4),
        ],
    );
    let mut data = Vec::new();
    for i in 0..100u32 {
        data.extend([10, 1, 0, 1, 10, 3, 0, 1]);
        data.extend((1000 + i as u16).to_be_bytes());
        data.extend(443u16.to_be_bytes());
        data.push(6);
        data.extend(i.to_be_bytes());
    }
    let mut var = Vec::new();
    for i in 0..40u32 {
        var.extend([2, b'x', b'y', 10, 2, 0, 9, 10, 1, 0, 9]);
        var.extend((2000 + i as u16).to_be_bytes());
        var.extend(i.to_be_bytes());
    }
    let msg = ipfix(
        1_795_532_401,
        &[(2, [fixed, walked].concat()), (300, data), (301, var)],
    );
    let mut sizes = Vec::new();
    let mut ports = Vec::new();
    dec.decode(ExportKind::Ipfix, ctx(4739), &msg, &mut |i| {
        if let ExportItem::Records(rs) = i {
            sizes.push(rs.len());
            ports.extend(rs.iter().map(|r| (r.src_port, r.packets)));
        }
    });
    assert_eq!(sizes, [32, 32, 32, 4, 32, 8]);
    let want: Vec<(u16, u64)> = (0..100u16)
        .map(|i| (1000 + i, u64::from(i)))
        .chain((0..40u16).map(|i| (2000 + i, u64::from(i))))
        .collect();
    assert_eq!(ports, want);
    assert_eq!(dec.stats().records, 140);
}
