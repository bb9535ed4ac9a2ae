//! Writes a capture of flow-export datagrams, as a collector's tcpdump would record them,
//! for timing the whole `flowcli analyze` path on exports (`benches/exports-cli.sh`):
//!
//! ```text
//! cargo run --release -p flowcore --example gen_exports -- v9 1000000 v9.pcap
//! ```
//!
//! `v5`, `v9` or `ipfix`, then the number of flow records: the datagrams of the `exports`
//! benchmark (`benches/datagrams.rs`: 30 records each over about a thousand hosts of the
//! example site and the Internet; v9 and IPFIX send their template once, first), in
//! Ethernet/IPv4/UDP frames from 192.0.2.1:50000 to a collector at 192.0.2.9:2055, one
//! millisecond apart. Deterministic: the same bytes on every run.

use std::fs::File;
use std::io::{self, BufWriter};

use flowcore::input::RawPacket;
use flowcore::report::capture::{CaptureKind, CaptureWriter};

#[path = "../../../benches/datagrams.rs"]
#[allow(dead_code)]
mod datagrams;

/// 2026-11-24T15:00:00Z, the datagrams' export time.
const T0: i64 = 1_795_532_400;

fn frame(payload: &[u8]) -> Vec<u8> {
    let mut e = Vec::with_capacity(42 + payload.len());
    e.extend([
        0x02, 0, 0x5e, 0, 0, 0x09, 0x02, 0, 0x5e, 0, 0, 0x01, 0x08, 0x00,
    ]);
    let total = (28 + payload.len()) as u16;
    let mut ip = [0u8; 20];
    ip[0] = 0x45;
    ip[2..4].copy_from_slice(&total.to_be_bytes());
    ip[8] = 64;
    ip[9] = 17;
    ip[12..16].copy_from_slice(&[192, 0, 2, 1]);
    ip[16..20].copy_from_slice(&[192, 0, 2, 9]);
    let sum = ip
        .chunks(2)
        .map(|w| u32::from(u16::from_be_bytes([w[0], w[1]])))
        .sum::<u32>();
    let sum = (sum & 0xffff) + (sum >> 16);
    let sum = !(((sum & 0xffff) + (sum >> 16)) as u16);
    ip[10..12].copy_from_slice(&sum.to_be_bytes());
    e.extend(ip);
    e.extend(50000u16.to_be_bytes());
    e.extend(2055u16.to_be_bytes());
    e.extend((total - 20).to_be_bytes());
    e.extend([0, 0]);
    e.extend(payload);
    e
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let (Some(kind), Some(n), Some(path)) = (
        args.get(1),
        args.get(2).and_then(|n| n.parse::<u32>().ok()),
        args.get(3),
    ) else {
        eprintln!("usage: gen_exports v5|v9|ipfix RECORDS OUT.pcap");
        std::process::exit(2);
    };
    let datagrams = match kind.as_str() {
        "v5" => datagrams::v5(n),
        "v9" => datagrams::templated(n, false),
        "ipfix" => datagrams::templated(n, true),
        _ => {
            eprintln!("gen_exports: the kind is v5, v9 or ipfix, not {kind:?}");
            std::process::exit(2);
        }
    };
    let out = BufWriter::with_capacity(1 << 20, File::create(path)?);
    let mut w = CaptureWriter::new(out, CaptureKind::Pcap { link_type: 1 })?;
    for (i, d) in datagrams.iter().enumerate() {
        let e = frame(d);
        w.write(&RawPacket {
            index: i as u64 + 1,
            offset: 0,
            ts: T0 * 1_000_000_000 + i as i64 * 1_000_000,
            orig_len: e.len() as u32,
            link_type: 1,
            interface: 0,
            data: &e,
        })?;
    }
    w.finish().map(drop)
}
