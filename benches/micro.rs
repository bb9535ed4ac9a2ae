//! Micro benchmarks of the packet path's layers, one at a time (divan): decoding a frame,
//! updating the flow table, attributing an address to a segment (prefix lookup), judging a
//! flow (rule evaluation, fresh and through the analyzer's cache), and decoding NetFlow v5,
//! v9 and IPFIX datagrams.
//!
//! `cargo bench -p flowcore --bench micro` (`-- decode` for one group). Figures are recorded
//! in benches/README.md; the whole path is measured by `read`, `exports` and `peers.sh`.
//! Sample sizes are fixed: the benchmarks keep state (a table, a cache) from call to call,
//! and divan's own sizing took one call per sample, mostly timing its timer.

use std::net::{IpAddr, Ipv4Addr};

use divan::counter::ItemsCount;
use divan::{black_box, Bencher};
use flowcore::decode::{decode, PacketSummary};
use flowcore::flow::{FlowConfig, FlowRecord, FlowTable};
use flowcore::input::export::{DatagramContext, ExportDecoder, ExportKind, TemplateLimits};
use flowcore::input::RawPacket;
use flowcore::policy::{Analyzer, Ruleset};

const SITE: &str = include_str!("../rulesets/example-site.toml");

#[path = "datagrams.rs"]
#[allow(dead_code)] // the helpers `exports` uses alone
mod datagrams;

fn main() {
    divan::main();
}

/// Ethernet frame: optional 802.1Q tag, IPv4 or IPv6, TCP (flags ACK) or UDP, padded.
fn frame(vlan: bool, v6: bool, udp: bool, len: usize) -> Vec<u8> {
    let mut f = vec![0x02, 0, 0x5e, 0, 0, 1, 0x02, 0, 0x5e, 0, 0, 2];
    if vlan {
        f.extend([0x81, 0x00, 0x00, 0x0a]);
    }
    let l4_len: usize = if udp { 8 } else { 20 };
    let payload = len.saturating_sub(f.len() + 2 + if v6 { 40 } else { 20 } + l4_len);
    if v6 {
        f.extend([0x86, 0xdd, 0x60, 0, 0, 0]);
        f.extend(((l4_len + payload) as u16).to_be_bytes());
        f.extend([if udp { 17 } else { 6 }, 64]);
        f.extend([0xfd, 0, 0, 2, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0x15]);
        f.extend([0x20, 0x01, 0x0d, 0xb8, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1]);
    } else {
        f.extend([0x08, 0x00, 0x45, 0]);
        f.extend(((20 + l4_len + payload) as u16).to_be_bytes());
        f.extend([0, 1, 0x40, 0, 64, if udp { 17 } else { 6 }, 0, 0]);
        f.extend([10, 1, 20, 7, 93, 184, 216, 34]);
    }
    f.extend(50_000u16.to_be_bytes());
    f.extend(443u16.to_be_bytes());
    if udp {
        f.extend(((8 + payload) as u16).to_be_bytes());
        f.extend([0, 0]);
    } else {
        f.extend([0, 0, 0, 1, 0, 0, 0, 1, 0x50, 0x10, 0xfa, 0xf0, 0, 0, 0, 0]);
    }
    f.resize(f.len() + payload, 0);
    f
}

#[divan::bench(args = ["ipv4-tcp", "vlan-ipv4-udp", "ipv6-tcp"], sample_size = 1000)]
fn decode_frame(b: Bencher, kind: &str) {
    let data = match kind {
        "ipv4-tcp" => frame(false, false, false, 64),
        "vlan-ipv4-udp" => frame(true, false, true, 576),
        _ => frame(false, true, false, 1500),
    };
    let raw = RawPacket {
        index: 1,
        offset: 24,
        ts: 1_795_532_400_000_000_000,
        orig_len: data.len() as u32,
        link_type: 1,
        interface: 0,
        data: &data,
    };
    b.bench_local(|| decode(black_box(&raw)));
}

/// Packets of `flows` concurrent TCP flows, in a shuffled round robin.
fn summaries(flows: u32, n: usize) -> Vec<PacketSummary> {
    let data = frame(false, false, false, 64);
    let raw = RawPacket {
        index: 1,
        offset: 24,
        ts: 0,
        orig_len: 64,
        link_type: 1,
        interface: 0,
        data: &data,
    };
    let base = decode(&raw).expect("a valid frame");
    let mut x = 0x9e37_79b9_7f4a_7c15u64;
    (0..n)
        .map(|i| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let f = (x % u64::from(flows)) as u32;
            let mut s = base;
            s.src = IpAddr::V4(Ipv4Addr::from(0x0a01_0000 | (f >> 8)));
            s.src_port = 1024 + (f & 0xff) as u16;
            s.index = i as u64 + 1;
            s.ts = i as i64 * 1_000;
            s
        })
        .collect()
}

/// One packet into a table holding `flows` flows (50 000 misses the caches, as in a real
/// night; 1 000 stays in them).
#[divan::bench(args = [1_000, 50_000], sample_size = 1000)]
fn flow_table_push(b: Bencher, flows: u32) {
    let pkts = summaries(flows, 200_000);
    let mut table = FlowTable::new(FlowConfig::default(), 0);
    let mut emitted = 0u64;
    for p in &pkts {
        table.push(p, &mut |_| emitted += 1);
    }
    let mut i = 0;
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        let p = &pkts[i % pkts.len()];
        i += 1;
        table.push(black_box(p), &mut |_| emitted += 1);
    });
    black_box(emitted);
}

fn ruleset() -> Ruleset {
    Ruleset::from_str("example-site.toml", SITE, None).expect("the example site")
}

/// Addresses of every segment, the zones and the Internet, IPv4 and IPv6.
fn addresses() -> Vec<IpAddr> {
    [
        "10.1.20.7",
        "10.2.10.21",
        "10.3.6.10",
        "172.20.1.5",
        "8.8.8.8",
        "203.0.113.5",
        "192.168.9.9",
        "fd00:2::15",
        "2001:db8::1",
    ]
    .iter()
    .map(|a| a.parse().expect("an address"))
    .collect()
}

#[divan::bench(sample_size = 1000)]
fn prefix_lookup(b: Bencher) {
    let rs = ruleset();
    let addrs = addresses();
    let mut i = 0;
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        let a = addrs[i % addrs.len()];
        i += 1;
        rs.attribute(black_box(a), None)
    });
}

fn flows() -> Vec<FlowRecord> {
    let addrs = addresses();
    let mut v = Vec::new();
    for (i, &s) in addrs.iter().enumerate() {
        for &d in &addrs {
            if s.is_ipv6() != d.is_ipv6() {
                continue;
            }
            for dp in [22u16, 53, 443, 445, 3389] {
                let mut f =
                    FlowRecord::new(s, 40_000 + i as u16, d, dp, 6, 1_795_532_400_000_000_000);
                f.fwd.packets = 3;
                f.fwd.bytes = 180;
                v.push(f);
            }
        }
    }
    v
}

/// Judging a flow from scratch: attribution of both ends, the rules, gateways, exceptions.
#[divan::bench(sample_size = 1000)]
fn rule_evaluation(b: Bencher) {
    let rs = ruleset();
    let fs = flows();
    let mut i = 0;
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        let f = &fs[i % fs.len()];
        i += 1;
        rs.evaluate(black_box(f))
    });
}

/// What `analyze` does per flow: the cached judgement, the matrix, findings aggregation.
#[divan::bench(sample_size = 1000)]
fn analyzer_observe(b: Bencher) {
    let rs = ruleset();
    let fs = flows();
    let mut a = Analyzer::new(&rs);
    // Findings are opened (reasons worked out) once; then every flow adds to one.
    for f in &fs {
        a.observe(f, "bench.pcap");
    }
    let mut i = 0;
    b.counter(ItemsCount::new(1usize)).bench_local(|| {
        let f = &fs[i % fs.len()];
        i += 1;
        a.observe(black_box(f), "bench.pcap")
    });
}

/// One datagram of 30 records; the decoder has seen the template (v9, IPFIX).
#[divan::bench(args = ["netflow-v5", "netflow-v9", "ipfix"], sample_size = 100)]
fn export_datagram(b: Bencher, kind: &str) {
    let (kind, mut datagrams) = match kind {
        "netflow-v5" => (ExportKind::NetflowV5, datagrams::v5(30)),
        "netflow-v9" => (ExportKind::NetflowV9, datagrams::templated(30, false)),
        _ => (ExportKind::Ipfix, datagrams::templated(30, true)),
    };
    let data = datagrams.pop().expect("a data datagram");
    let template = datagrams.pop();
    let ctx = DatagramContext {
        exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 2055,
        capture_ts: 0,
        index: 1,
        offset: 0,
    };
    let mut dec = ExportDecoder::new(TemplateLimits::default());
    if let Some(t) = &template {
        dec.decode(kind, ctx, t, &mut |_| {});
    }
    // Every record must decode, or the figure would flatter an early exit.
    let mut n = 0;
    dec.decode(kind, ctx, &data, &mut |_| n += 1);
    assert_eq!(n, 30, "{kind:?}");
    b.counter(ItemsCount::new(30usize)).bench_local(|| {
        let mut n = 0u32;
        dec.decode(kind, ctx, black_box(&data), &mut |_| n += 1);
        n
    });
}
