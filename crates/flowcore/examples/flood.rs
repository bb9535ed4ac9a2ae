//! Writes hostile floods to standard output, for showing that memory stays within the
//! configured bounds (`benches/flood.sh`):
//!
//! ```text
//! cargo run --release -p flowcore --example flood -- syn 10000000 > syn.pcap
//! cargo run --release -p flowcore --example flood -- templates 1000000 > tpl.ipfix
//! ```
//!
//! - `syn N`: a classic pcap of N TCP SYNs, each a new flow (sources 10.3.0.0/16 × ports,
//!   to 10.2.5.25:445: Internet segment → LGWAN, a violation each), 1 µs apart so no flow
//!   times out: only the flow-table bound can keep memory in check.
//! - `templates N`: an IPFIX file of N messages, each from a new observation domain with a
//!   new template and one data record: only the template limits keep memory in check.
//!
//! Deterministic: the same bytes on every run.

use std::io::{self, BufWriter, Write};

use flowcore::input::RawPacket;
use flowcore::report::capture::{CaptureKind, CaptureWriter};

/// 2026-11-24T15:00:00Z.
const T0: u32 = 1_795_532_400;

pub fn syn(n: u64, out: &mut impl Write) -> io::Result<()> {
    let mut w = CaptureWriter::new(out, CaptureKind::Pcap { link_type: 1 })?;
    let mut e = [0u8; 54];
    for i in 0..n {
        e[0..6].copy_from_slice(&[0x02, 0, 0x5e, 0, 0, 0xfe]);
        e[6..12].copy_from_slice(&[0x02, 0, 0x5e, 0x30, (i >> 8) as u8, i as u8]);
        e[12..14].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut e[14..34];
        ip.fill(0);
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&40u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 6;
        let host = (i % 65_536) as u16;
        ip[12..16].copy_from_slice(&[10, 3, (host >> 8) as u8, host as u8]);
        ip[16..20].copy_from_slice(&[10, 2, 5, 25]);
        let tcp = &mut e[34..54];
        tcp.fill(0);
        let port = 1024 + (i / 65_536) as u16;
        tcp[0..2].copy_from_slice(&port.to_be_bytes());
        tcp[2..4].copy_from_slice(&445u16.to_be_bytes());
        tcp[4..8].copy_from_slice(&(i as u32).to_be_bytes());
        tcp[12] = 5 << 4;
        tcp[13] = 0x02;
        tcp[14..16].copy_from_slice(&64240u16.to_be_bytes());
        w.write(&RawPacket {
            index: i + 1,
            offset: 0,
            ts: i64::from(T0) * 1_000_000_000 + (i * 1_000) as i64,
            orig_len: 60,
            link_type: 1,
            interface: 0,
            data: &e,
        })?;
    }
    w.finish().map(drop)
}

pub fn templates(n: u64, out: &mut impl Write) -> io::Result<()> {
    // Template: sourceIPv4Address(8), destinationIPv4Address(12), sourceTransportPort(7),
    // destinationTransportPort(11), protocolIdentifier(4), packetDeltaCount(2),
    // octetDeltaCount(1), flowStartSeconds(150), flowEndSeconds(151).
    let fields: [(u16, u16); 9] = [
        (8, 4),
        (12, 4),
        (7, 2),
        (11, 2),
        (4, 1),
        (2, 8),
        (1, 8),
        (150, 4),
        (151, 4),
    ];
    let rec_len: usize = fields.iter().map(|f| f.1 as usize).sum();
    for i in 0..n {
        let id = 256 + (i % 65_000) as u16;
        let mut tpl = Vec::new();
        tpl.extend(2u16.to_be_bytes());
        tpl.extend(((4 + 4 + 4 * fields.len()) as u16).to_be_bytes());
        tpl.extend(id.to_be_bytes());
        tpl.extend((fields.len() as u16).to_be_bytes());
        for (e, l) in fields {
            tpl.extend(e.to_be_bytes());
            tpl.extend(l.to_be_bytes());
        }
        let mut data = Vec::new();
        data.extend(id.to_be_bytes());
        data.extend(((4 + rec_len) as u16).to_be_bytes());
        let host = (i % 65_536) as u16;
        data.extend([10, 3, (host >> 8) as u8, host as u8]);
        data.extend([10, 2, 5, 25]);
        data.extend(40000u16.to_be_bytes());
        data.extend(445u16.to_be_bytes());
        data.push(6);
        data.extend(1u64.to_be_bytes());
        data.extend(60u64.to_be_bytes());
        data.extend(T0.to_be_bytes());
        data.extend(T0.to_be_bytes());
        let len = 16 + tpl.len() + data.len();
        let mut m = Vec::with_capacity(len);
        m.extend(10u16.to_be_bytes());
        m.extend((len as u16).to_be_bytes());
        m.extend(T0.to_be_bytes());
        m.extend((i as u32).to_be_bytes());
        m.extend((i as u32).to_be_bytes()); // a new observation domain each time
        m.extend(tpl);
        m.extend(data);
        out.write_all(&m)?;
    }
    Ok(())
}

fn main() -> io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let n: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let mut out = BufWriter::with_capacity(1 << 20, io::stdout().lock());
    let r = match args.get(1).map(String::as_str) {
        Some("syn") => syn(n, &mut out),
        Some("templates") => templates(n, &mut out),
        _ => {
            eprintln!("usage: flood syn|templates N > file");
            std::process::exit(2);
        }
    };
    match r.and_then(|()| out.flush()) {
        Err(e) if e.kind() == io::ErrorKind::BrokenPipe => Ok(()),
        r => r,
    }
}
