//! Writes a large, realistic capture for throughput measurements (`benches/peers.sh`):
//! IMIX frame sizes (64/576/1500 bytes, 7:4:1), a steady number of concurrent flows over the
//! example site's three segments and the Internet, some 802.1Q tags, TCP (with handshakes
//! and closes), UDP and ICMP echo.
//!
//! ```text
//! cargo run --release -p flowcore --example gen_imix -- OUT.pcap [PACKETS] [FLOWS] [random]
//! ```
//!
//! Defaults: 1 000 000 packets, 50 000 concurrent flows, payloads of zeros; `random` fills
//! payloads with pseudo-random bytes, as encrypted traffic looks (for compressed inputs:
//! zeros compress twelvefold, which real captures never do). Deterministic: the same bytes
//! on every run. Each flow lasts 2–200 packets; when one ends a new one takes its place, so
//! the number of concurrent flows stays at FLOWS. Packets are 1 µs apart.

use std::io::BufWriter;

use flowcore::input::RawPacket;
use flowcore::report::capture::{CaptureKind, CaptureWriter};

/// 2026-11-24T15:00:00Z.
const T0: u64 = 1_795_532_400;

struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
}

#[derive(Clone, Copy)]
struct Flow {
    client: [u8; 4],
    server: [u8; 4],
    cport: u16,
    sport: u16,
    proto: u8,
    vlan: Option<u16>,
    len: u32,
    sent: u32,
}

/// A host of a segment (10.1/16 My Number, 10.2/16 LGWAN, 10.3/16 Internet segment) or of
/// the Internet.
fn host(r: &mut Rng, zone: u64) -> [u8; 4] {
    let h = r.below(4096) as u16;
    match zone {
        0..=2 => [10, 1 + zone as u8, 10 + (h >> 8) as u8, h as u8],
        _ => [198, 51, 100, r.below(250) as u8 + 1],
    }
}

fn new_flow(r: &mut Rng) -> Flow {
    // Mostly traffic within a segment, the Internet segment browsing out, and a little
    // crossing between segments (the violations a night holds).
    let (cz, sz) = match r.below(100) {
        0..=29 => (0, 0),
        30..=54 => (1, 1),
        55..=84 => (2, 3),
        85..=94 => (2, 2),
        95..=97 => (1, 2),
        _ => (0, 1),
    };
    let proto = match r.below(100) {
        0..=79 => 6,
        80..=96 => 17,
        _ => 1,
    };
    let sport = match proto {
        6 => [443u16, 80, 445, 3389, 22, 25][r.below(6) as usize],
        17 => [53u16, 123, 514, 161][r.below(4) as usize],
        _ => 0,
    };
    Flow {
        client: host(r, cz),
        server: host(r, sz),
        cport: 1024 + r.below(60_000) as u16,
        sport,
        proto,
        vlan: (r.below(10) < 3).then_some(10 * (cz as u16 + 1)),
        len: 2 + r.below(199) as u32,
        sent: 0,
    }
}

fn main() -> std::io::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let Some(path) = args.get(1) else {
        eprintln!("usage: gen_imix OUT.pcap [PACKETS] [FLOWS]");
        std::process::exit(2);
    };
    let packets: u64 = args
        .get(2)
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000);
    let flows: usize = args
        .get(3)
        .and_then(|s| s.parse().ok())
        .unwrap_or(50_000)
        .max(1);
    let random = args.get(4).is_some_and(|s| s == "random");
    let mut noise = Rng(0x2545_f491_4f6c_dd1d);
    let file = BufWriter::with_capacity(1 << 20, std::fs::File::create(path)?);
    let mut out = CaptureWriter::new(file, CaptureKind::Pcap { link_type: 1 })?;
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut live: Vec<Flow> = (0..flows).map(|_| new_flow(&mut r)).collect();
    let sizes = [64usize, 64, 64, 64, 64, 64, 64, 576, 576, 576, 576, 1500];
    let mut frame = vec![0u8; 1500 + 4];
    for i in 0..packets {
        let slot = r.below(flows as u64) as usize;
        let f = live[slot];
        let reply = f.sent % 2 == 1;
        let last = f.sent + 1 >= f.len;
        let (src, dst, sp, dp) = if reply {
            (f.server, f.client, f.sport, f.cport)
        } else {
            (f.client, f.server, f.cport, f.sport)
        };
        let mut len = sizes[r.below(12) as usize];
        let tcp_flags = match (f.proto, f.sent) {
            (6, 0) => 0x02,
            (6, 1) => 0x12,
            (6, _) if last => 0x11,
            (6, _) => 0x10,
            _ => 0,
        };
        if tcp_flags & 0x03 != 0 {
            len = 64;
        }
        let tag = if f.vlan.is_some() { 4 } else { 0 };
        let frame_len = len + tag;
        let ns = i * 1_000;
        let e = &mut frame[..frame_len];
        e.fill(0);
        e[0..6].copy_from_slice(&[0x02, 0, 0x5e, dst[1], dst[2], dst[3]]);
        e[6..12].copy_from_slice(&[0x02, 0, 0x5e, src[1], src[2], src[3]]);
        let mut o = 12;
        if let Some(v) = f.vlan {
            e[12..14].copy_from_slice(&[0x81, 0x00]);
            e[14..16].copy_from_slice(&v.to_be_bytes());
            o = 16;
        }
        e[o..o + 2].copy_from_slice(&[0x08, 0x00]);
        let ip = &mut e[o + 2..];
        // Handshake and close segments carry no payload (the frame is padded to 64 bytes).
        let ip_len = if tcp_flags & 0x03 != 0 { 40 } else { len - 14 };
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(ip_len as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&(i as u16).to_be_bytes());
        ip[8] = 64;
        ip[9] = f.proto;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        let l4 = &mut ip[20..];
        let header = if f.proto == 6 { 20 } else { 8 };
        if random && ip_len > 20 + header {
            for b in l4[header..ip_len - 20].chunks_mut(8) {
                let n = b.len();
                b.copy_from_slice(&noise.next().to_le_bytes()[..n]);
            }
        }
        match f.proto {
            6 => {
                l4[0..2].copy_from_slice(&sp.to_be_bytes());
                l4[2..4].copy_from_slice(&dp.to_be_bytes());
                l4[4..8].copy_from_slice(&(f.sent * 1000).to_be_bytes());
                l4[12] = 5 << 4;
                l4[13] = tcp_flags;
                l4[14..16].copy_from_slice(&64_240u16.to_be_bytes());
            }
            17 => {
                l4[0..2].copy_from_slice(&sp.to_be_bytes());
                l4[2..4].copy_from_slice(&dp.to_be_bytes());
                l4[4..6].copy_from_slice(&((ip_len - 20) as u16).to_be_bytes());
            }
            _ => {
                l4[0] = if reply { 0 } else { 8 };
                l4[4..6].copy_from_slice(&f.cport.to_be_bytes());
                l4[6..8].copy_from_slice(&(f.sent as u16).to_be_bytes());
            }
        }
        out.write(&RawPacket {
            index: i + 1,
            offset: 0,
            ts: (T0 * 1_000_000_000 + ns) as i64,
            orig_len: frame_len as u32,
            link_type: 1,
            interface: 0,
            data: &frame[..frame_len],
        })?;
        if last {
            live[slot] = new_flow(&mut r);
        } else {
            live[slot].sent += 1;
        }
    }
    out.finish().map(drop)
}
