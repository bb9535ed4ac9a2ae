//! Reading-path measurement: our zero-copy pcap reader against pcap-parser's
//! `LegacyPcapReader`, and the whole packet path (read → decode → flows) on one thread and
//! on two (`Pipeline::run_threaded`), on an in-memory IMIX capture (so the page cache and
//! disk are out of the picture).
//!
//! `cargo bench -p flowcore --bench read` (or `-- 200000` for a smaller file). Prints
//! ns/packet, best of 5 runs. Figures are recorded in benches/README.md.

use std::io::Cursor;
use std::time::Instant;

use flowcore::flow::FlowConfig;
use flowcore::input::CaptureReader;
use flowcore::pipeline::{flows_from_capture, Pipeline};
use pcap_parser::traits::PcapReaderIterator;
use pcap_parser::{LegacyPcapReader, PcapBlockOwned, PcapError};

/// IMIX-like capture: 7:4:1 frames of 64/576/1500 bytes, TCP over Ethernet/IPv4,
/// `flows` concurrent 5-tuples.
fn imix(packets: usize, flows: usize) -> Vec<u8> {
    let mut f = Vec::with_capacity(packets * 400);
    f.extend(0xa1b2c3d4u32.to_le_bytes());
    f.extend(2u16.to_le_bytes());
    f.extend(4u16.to_le_bytes());
    f.extend([0u8; 8]);
    f.extend(262_144u32.to_le_bytes());
    f.extend(1u32.to_le_bytes());
    let sizes = [64usize, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500];
    let mut x: u64 = 0x9e37_79b9_7f4a_7c15;
    for i in 0..packets {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let len = sizes[(x % 12) as usize];
        let flow = (x >> 16) as usize % flows;
        let mut p = vec![0u8; len];
        p[12] = 0x08;
        p[14] = 0x45;
        p[16..18].copy_from_slice(&((len - 14) as u16).to_be_bytes());
        p[23] = 6;
        p[26..30].copy_from_slice(&[10, 2, (flow >> 8) as u8, flow as u8]);
        p[30..34].copy_from_slice(&[10, 3, 0, 1]);
        p[34..36].copy_from_slice(&(1024 + (flow % 60000) as u16).to_be_bytes());
        p[36..38].copy_from_slice(&443u16.to_be_bytes());
        p[46] = 0x50;
        p[47] = 0x10;
        let ts_us = i as u64 * 10;
        f.extend(((1_700_000_000 + ts_us / 1_000_000) as u32).to_le_bytes());
        f.extend(((ts_us % 1_000_000) as u32).to_le_bytes());
        f.extend((len as u32).to_le_bytes());
        f.extend((len as u32).to_le_bytes());
        f.extend_from_slice(&p);
    }
    f
}

fn best_of(n: usize, mut f: impl FnMut() -> u64) -> (f64, u64) {
    let mut best = f64::MAX;
    let mut check = 0;
    for _ in 0..n {
        let t = Instant::now();
        check = f();
        best = best.min(t.elapsed().as_secs_f64());
    }
    (best, check)
}

fn main() {
    let packets: usize = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let data: &'static [u8] = Box::leak(imix(packets, 50_000).into_boxed_slice());
    println!(
        "{packets} IMIX packets, {} MB in memory",
        data.len() / 1_000_000
    );

    let (t, n) = best_of(5, || {
        let mut r =
            CaptureReader::from_reader("bench".into(), Box::new(Cursor::new(data))).unwrap();
        let mut bytes = 0u64;
        while let Ok(Some(p)) = r.next_packet() {
            bytes += p.data.len() as u64;
        }
        bytes
    });
    let tc = 0.0;
    println!(
        "flowcore reader:     {:6.1} ns/packet ({n} bytes)",
        (t - tc) * 1e9 / packets as f64
    );

    let (t, n2) = best_of(5, || {
        let mut r = LegacyPcapReader::new(1 << 20, Cursor::new(data)).unwrap();
        let mut bytes = 0u64;
        loop {
            match r.next() {
                Ok((off, block)) => {
                    if let PcapBlockOwned::Legacy(b) = block {
                        bytes += b.data.len() as u64;
                    }
                    r.consume(off);
                }
                Err(PcapError::Eof) => break,
                Err(PcapError::Incomplete(_)) => r.refill().unwrap(),
                Err(e) => panic!("{e:?}"),
            }
        }
        bytes
    });
    assert_eq!(n, n2, "both readers must see the same bytes");
    println!(
        "pcap-parser 0.17:    {:6.1} ns/packet",
        (t - tc) * 1e9 / packets as f64
    );

    let (t, flows) = best_of(3, || {
        let mut r =
            CaptureReader::from_reader("bench".into(), Box::new(Cursor::new(data))).unwrap();
        let mut flows = 0u64;
        let s = flows_from_capture(&mut r, 0, &FlowConfig::default(), &mut |_| flows += 1);
        assert_eq!(s.packets_decoded, packets as u64);
        flows
    });
    println!(
        "read+decode+flows:   {:6.1} ns/packet, {:.2} Mpps, {flows} flows",
        (t - tc) * 1e9 / packets as f64,
        packets as f64 / (t - tc) / 1e6
    );

    // The same on two threads: this one reads and decodes, the other assembles flows.
    let (t2, flows2) = best_of(3, || {
        let mut r =
            CaptureReader::from_reader("bench".into(), Box::new(Cursor::new(data))).unwrap();
        let mut flows = 0u64;
        let mut p = Pipeline::new(FlowConfig::default());
        let s = p.run_threaded(&mut r, 0, &mut |_| flows += 1);
        assert_eq!(s.packets_decoded, packets as u64);
        flows
    });
    assert_eq!(
        flows, flows2,
        "one and two threads must give the same flows"
    );
    println!(
        "  on two threads:    {:6.1} ns/packet, {:.2} Mpps ({:.2}x one thread)",
        t2 * 1e9 / packets as f64,
        packets as f64 / t2 / 1e6,
        t / t2
    );
}
