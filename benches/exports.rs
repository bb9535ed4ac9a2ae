//! Flow-export throughput: records/s for NetFlow v5, v9 and IPFIX, (a) decode only and
//! (b) decode + flow record + segment attribution + policy evaluation (the `analyze` path),
//! on one core, over synthetic datagrams in memory.
//!
//! `cargo bench -p flowcore --bench exports` (pass a record count, default 2 000 000).

use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use flowcore::flow::from_export;
use flowcore::input::export::{
    DatagramContext, ExportDecoder, ExportItem, ExportKind, TemplateLimits,
};
use flowcore::policy::{Analyzer, Ruleset};

const SITE: &str = include_str!("../rulesets/example-site.toml");

fn addr(i: u32, seg: u8) -> [u8; 4] {
    [10, seg, (i >> 8) as u8, i as u8]
}

/// Records spread over the example site's segments and the Internet: about a thousand hosts
/// (a city hall's worth), so violations aggregate into findings as they do in real nights.
fn fields(i: u32) -> ([u8; 4], [u8; 4], u16, u16, u8) {
    let segs = [1u8, 2, 3];
    let i = i % 997;
    let src = addr(i, segs[(i % 3) as usize]);
    let dst = if i.is_multiple_of(5) {
        [93, 184, (i >> 8) as u8, i as u8]
    } else {
        addr(i * 7, segs[((i / 3) % 3) as usize])
    };
    (
        src,
        dst,
        1024 + (i % 50000) as u16,
        [25, 443, 3389, 53, 445][(i % 5) as usize],
        if i.is_multiple_of(4) { 17 } else { 6 },
    )
}

fn v5(n: u32) -> Vec<Vec<u8>> {
    (0..n.div_ceil(30))
        .map(|d| {
            let count = 30.min(n - d * 30);
            let mut m = vec![0, 5];
            m.extend((count as u16).to_be_bytes());
            m.extend(100_000u32.to_be_bytes());
            m.extend(1_795_532_400u32.to_be_bytes());
            m.extend([0u8; 12]);
            for k in 0..count {
                let (s, dd, sp, dp, p) = fields(d * 30 + k);
                let mut r = [0u8; 48];
                r[0..4].copy_from_slice(&s);
                r[4..8].copy_from_slice(&dd);
                r[16..20].copy_from_slice(&10u32.to_be_bytes());
                r[20..24].copy_from_slice(&4000u32.to_be_bytes());
                r[24..28].copy_from_slice(&90_000u32.to_be_bytes());
                r[28..32].copy_from_slice(&99_000u32.to_be_bytes());
                r[32..34].copy_from_slice(&sp.to_be_bytes());
                r[34..36].copy_from_slice(&dp.to_be_bytes());
                r[37] = 0x1b;
                r[38] = p;
                m.extend(r);
            }
            m
        })
        .collect()
}

/// v9 (`ipfix` false) or IPFIX messages: a template, then data sets of 30 records.
fn templated(n: u32, ipfix: bool) -> Vec<Vec<u8>> {
    let f = |id: u16, len: u16| [id.to_be_bytes(), len.to_be_bytes()].concat();
    let tpl_fields = [
        f(8, 4),
        f(12, 4),
        f(7, 2),
        f(11, 2),
        f(4, 1),
        f(6, 1),
        f(2, 4),
        f(1, 4),
        f(22, 4),
        f(21, 4),
        f(10, 4),
        f(14, 4),
    ];
    let mut tpl = vec![1u8, 0, 0, tpl_fields.len() as u8];
    tpl.extend(tpl_fields.concat());
    let set = |id: u16, body: &[u8]| {
        [
            id.to_be_bytes().to_vec(),
            ((4 + body.len()) as u16).to_be_bytes().to_vec(),
            body.to_vec(),
        ]
        .concat()
    };
    let wrap = |count: u16, sets: Vec<u8>| -> Vec<u8> {
        let mut m = if ipfix {
            let mut h = vec![0, 10];
            h.extend(((16 + sets.len()) as u16).to_be_bytes());
            h.extend(1_795_532_400u32.to_be_bytes());
            h.extend([0u8; 8]);
            h
        } else {
            let mut h = vec![0, 9];
            h.extend(count.to_be_bytes());
            h.extend(100_000u32.to_be_bytes());
            h.extend(1_795_532_400u32.to_be_bytes());
            h.extend([0u8; 8]);
            h
        };
        m.extend(sets);
        m
    };
    let mut out = vec![wrap(1, set(if ipfix { 2 } else { 0 }, &tpl))];
    for d in 0..n.div_ceil(30) {
        let count = 30.min(n - d * 30);
        let mut body = Vec::new();
        for k in 0..count {
            let (s, dd, sp, dp, p) = fields(d * 30 + k);
            body.extend(s);
            body.extend(dd);
            body.extend(sp.to_be_bytes());
            body.extend(dp.to_be_bytes());
            body.extend([p, 0x1b]);
            body.extend(10u32.to_be_bytes());
            body.extend(4000u32.to_be_bytes());
            body.extend(90_000u32.to_be_bytes());
            body.extend(99_000u32.to_be_bytes());
            body.extend(3u32.to_be_bytes());
            body.extend(4u32.to_be_bytes());
        }
        out.push(wrap(count as u16, set(256, &body)));
    }
    out
}

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    let rs = Ruleset::from_str("example-site.toml", SITE, None).expect("site");
    let ctx = |i: u64| DatagramContext {
        exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 2055,
        capture_ts: 0,
        index: i,
        offset: 0,
    };
    println!("{n} records per format, one core, best of 3");
    for (name, kind, datagrams) in [
        ("NetFlow v5", ExportKind::NetflowV5, v5(n)),
        ("NetFlow v9", ExportKind::NetflowV9, templated(n, false)),
        ("IPFIX", ExportKind::Ipfix, templated(n, true)),
    ] {
        let mut best = (f64::MAX, f64::MAX);
        let mut best_conv = f64::MAX;
        for _ in 0..3 {
            let mut dec = ExportDecoder::new(TemplateLimits::default());
            let t = Instant::now();
            let mut count = 0u64;
            for (i, d) in datagrams.iter().enumerate() {
                dec.decode(kind, ctx(i as u64), d, &mut |item| {
                    if let ExportItem::Record(r) = item {
                        count += r.packets;
                    }
                });
            }
            let decode = t.elapsed().as_secs_f64();
            assert_eq!(count, u64::from(n) * 10);
            let mut dec = ExportDecoder::new(TemplateLimits::default());
            let t = Instant::now();
            let mut c2 = 0u64;
            for (i, d) in datagrams.iter().enumerate() {
                dec.decode(kind, ctx(i as u64), d, &mut |item| {
                    if let ExportItem::Record(r) = item {
                        c2 += from_export(&r, 0).fwd.packets;
                    }
                });
            }
            let conv = t.elapsed().as_secs_f64();
            assert_eq!(c2, count);
            let mut dec = ExportDecoder::new(TemplateLimits::default());
            let mut an = Analyzer::new(&rs);
            let t = Instant::now();
            for (i, d) in datagrams.iter().enumerate() {
                dec.decode(kind, ctx(i as u64), d, &mut |item| {
                    if let ExportItem::Record(r) = item {
                        an.observe(&from_export(&r, 0), "bench");
                    }
                });
            }
            let full = t.elapsed().as_secs_f64();
            let a = an.finish(&["bench".into()]);
            assert_eq!(a.flows, u64::from(n));
            best = (best.0.min(decode), best.1.min(full));
            best_conv = best_conv.min(conv);
        }
        println!(
            "{name:<11} decode + flow record {:5.1} ns",
            best_conv * 1e9 / f64::from(n)
        );
        println!(
            "{name:<11} decode {:6.1} M records/s ({:5.1} ns)   decode+attribute+evaluate {:5.2} M records/s ({:6.1} ns)",
            f64::from(n) / best.0 / 1e6,
            best.0 * 1e9 / f64::from(n),
            f64::from(n) / best.1 / 1e6,
            best.1 * 1e9 / f64::from(n)
        );
    }
}
