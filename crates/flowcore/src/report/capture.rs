//! Writing packets back out as evidence: classic pcap (nanosecond times) when every packet
//! has one link type and a time pcap can hold, pcapng otherwise, readable by Wireshark,
//! tshark and tcpdump. Packets are written exactly as captured (bytes, original length,
//! time); [`copy_packets`] re-reads an input and copies the packets it is asked for.

use std::collections::BTreeMap;
use std::io::{self, Write};

use crate::input::{CaptureReader, Damage, RawPacket};
use crate::time::{TimestampNs, NS_PER_SEC};

/// The container a [`CaptureWriter`] writes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CaptureKind {
    /// Classic pcap, nanosecond magic `a1b23c4d`, one link type.
    Pcap {
        /// The file's link type.
        link_type: u16,
    },
    /// pcapng: one interface per link type met, nanosecond resolution.
    Pcapng,
}

impl CaptureKind {
    /// pcap when there is exactly one link type and every time fits classic pcap's unsigned
    /// 32-bit seconds, pcapng otherwise.
    pub fn choose(link_types: &[u16], first_ts: TimestampNs, last_ts: TimestampNs) -> Self {
        let fits = first_ts >= 0 && last_ts / NS_PER_SEC <= i64::from(u32::MAX);
        match link_types {
            [one] if fits => CaptureKind::Pcap { link_type: *one },
            _ => CaptureKind::Pcapng,
        }
    }
}

/// Writes packets to a pcap or pcapng stream.
pub struct CaptureWriter<W: Write> {
    out: W,
    kind: CaptureKind,
    /// pcapng: link type → interface id.
    interfaces: BTreeMap<u16, u32>,
    written: u64,
}

const SNAPLEN: u32 = 262_144;

impl<W: Write> CaptureWriter<W> {
    /// Writes the file header now.
    pub fn new(mut out: W, kind: CaptureKind) -> io::Result<Self> {
        match kind {
            CaptureKind::Pcap { link_type } => {
                let mut h = Vec::with_capacity(24);
                h.extend_from_slice(&0xa1b2_3c4du32.to_le_bytes());
                h.extend_from_slice(&2u16.to_le_bytes());
                h.extend_from_slice(&4u16.to_le_bytes());
                h.extend_from_slice(&0i32.to_le_bytes());
                h.extend_from_slice(&0u32.to_le_bytes());
                h.extend_from_slice(&SNAPLEN.to_le_bytes());
                h.extend_from_slice(&u32::from(link_type).to_le_bytes());
                out.write_all(&h)?;
            }
            CaptureKind::Pcapng => {
                // Section header: byte-order magic, version 1.0, section length unknown.
                let shb_app = option(4, b"flowcore extract");
                let len = 28 + shb_app.len() as u32;
                let mut b = Vec::new();
                b.extend_from_slice(&0x0A0D_0D0Au32.to_le_bytes());
                b.extend_from_slice(&len.to_le_bytes());
                b.extend_from_slice(&0x1A2B_3C4Du32.to_le_bytes());
                b.extend_from_slice(&1u16.to_le_bytes());
                b.extend_from_slice(&0u16.to_le_bytes());
                b.extend_from_slice(&(-1i64).to_le_bytes());
                b.extend_from_slice(&shb_app);
                b.extend_from_slice(&len.to_le_bytes());
                out.write_all(&b)?;
            }
        }
        Ok(CaptureWriter {
            out,
            kind,
            interfaces: BTreeMap::new(),
            written: 0,
        })
    }

    /// Packets written so far.
    pub fn written(&self) -> u64 {
        self.written
    }

    /// Writes one packet as captured. In a pcap file, a packet of another link type or a
    /// time pcap cannot hold is an error (choose pcapng for those).
    pub fn write(&mut self, p: &RawPacket<'_>) -> io::Result<()> {
        let caplen = u32::try_from(p.data.len())
            .map_err(|_| io::Error::other("packet larger than 4 GiB"))?;
        match self.kind {
            CaptureKind::Pcap { link_type } => {
                if p.link_type != link_type {
                    return Err(io::Error::other(format!(
                        "packet {} has link type {}, the pcap file {link_type}",
                        p.index, p.link_type
                    )));
                }
                let secs = u32::try_from(p.ts.div_euclid(NS_PER_SEC)).map_err(|_| {
                    io::Error::other(format!("packet {} time does not fit pcap", p.index))
                })?;
                let mut h = [0u8; 16];
                h[0..4].copy_from_slice(&secs.to_le_bytes());
                h[4..8].copy_from_slice(&(p.ts.rem_euclid(NS_PER_SEC) as u32).to_le_bytes());
                h[8..12].copy_from_slice(&caplen.to_le_bytes());
                h[12..16].copy_from_slice(&p.orig_len.max(caplen).to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(p.data)?;
            }
            CaptureKind::Pcapng => {
                let next = self.interfaces.len() as u32;
                let ifid = match self.interfaces.get(&p.link_type) {
                    Some(&i) => i,
                    None => {
                        // Interface description: link type, snaplen, if_tsresol = 9 (ns).
                        let mut opts = option(9, &[9]);
                        opts.extend_from_slice(&[0, 0, 0, 0]);
                        let len = 20 + opts.len() as u32;
                        let mut b = Vec::new();
                        b.extend_from_slice(&1u32.to_le_bytes());
                        b.extend_from_slice(&len.to_le_bytes());
                        b.extend_from_slice(&p.link_type.to_le_bytes());
                        b.extend_from_slice(&0u16.to_le_bytes());
                        b.extend_from_slice(&SNAPLEN.to_le_bytes());
                        b.extend_from_slice(&opts);
                        b.extend_from_slice(&len.to_le_bytes());
                        self.out.write_all(&b)?;
                        self.interfaces.insert(p.link_type, next);
                        next
                    }
                };
                let ts = u64::try_from(p.ts).map_err(|_| {
                    io::Error::other(format!("packet {} is dated before 1970", p.index))
                })?;
                let pad = (4 - p.data.len() % 4) % 4;
                let len = 32 + caplen + pad as u32;
                let mut h = Vec::with_capacity(28);
                h.extend_from_slice(&6u32.to_le_bytes());
                h.extend_from_slice(&len.to_le_bytes());
                h.extend_from_slice(&ifid.to_le_bytes());
                h.extend_from_slice(&((ts >> 32) as u32).to_le_bytes());
                h.extend_from_slice(&(ts as u32).to_le_bytes());
                h.extend_from_slice(&caplen.to_le_bytes());
                h.extend_from_slice(&p.orig_len.max(caplen).to_le_bytes());
                self.out.write_all(&h)?;
                self.out.write_all(p.data)?;
                self.out.write_all(&[0u8; 3][..pad])?;
                self.out.write_all(&len.to_le_bytes())?;
            }
        }
        self.written += 1;
        Ok(())
    }

    /// Flushes and returns the stream.
    pub fn finish(mut self) -> io::Result<W> {
        self.out.flush()?;
        Ok(self.out)
    }
}

/// A pcapng option (code, value, padding to 4 bytes).
fn option(code: u16, value: &[u8]) -> Vec<u8> {
    let mut o = Vec::with_capacity(4 + value.len() + 3);
    o.extend_from_slice(&code.to_le_bytes());
    o.extend_from_slice(&(value.len() as u16).to_le_bytes());
    o.extend_from_slice(value);
    o.resize(o.len() + (4 - value.len() % 4) % 4, 0);
    o
}

/// Why copying stopped early.
#[derive(Debug)]
pub enum CopyError {
    /// The input is damaged before the last wanted packet (everything before it was copied).
    Damage(Damage),
    /// The output could not be written.
    Io(io::Error),
}

/// Reads `reader` from the start and writes the packets whose numbers are in `wanted`
/// (ascending). Returns how many were written; a packet number past the end of the input is
/// simply not found (the caller compares the count).
pub fn copy_packets<W: Write>(
    reader: &mut CaptureReader,
    wanted: &[u64],
    out: &mut CaptureWriter<W>,
) -> Result<u64, CopyError> {
    let mut next = 0usize;
    let mut n = 0u64;
    while next < wanted.len() {
        let p = match reader.next_packet() {
            Ok(Some(p)) => p,
            Ok(None) => break,
            Err(d) => return Err(CopyError::Damage(d)),
        };
        while next < wanted.len() && wanted[next] < p.index {
            next += 1;
        }
        if next < wanted.len() && wanted[next] == p.index {
            out.write(&p).map_err(CopyError::Io)?;
            n += 1;
            next += 1;
        }
    }
    Ok(n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pkt(index: u64, ts: i64, link_type: u16, data: &[u8]) -> RawPacket<'_> {
        RawPacket {
            index,
            offset: 0,
            ts,
            orig_len: data.len() as u32 + 10,
            link_type,
            interface: 0,
            data,
        }
    }

    /// What we write, our reader reads back unchanged, in both containers.
    #[test]
    fn round_trips_through_our_reader() {
        let a = [1u8, 2, 3, 4, 5];
        let b = [9u8; 61];
        let pkts = [
            pkt(1, 1_764_000_000 * NS_PER_SEC + 123_456_789, 1, &a),
            pkt(2, 1_764_000_001 * NS_PER_SEC, 101, &b),
            pkt(3, 4_400_000_000 * NS_PER_SEC + 7, 1, &b),
        ];
        for (kind, take) in [
            (CaptureKind::choose(&[1], 0, 0), 1),
            (CaptureKind::choose(&[1, 101], 0, 0), 3),
        ] {
            let mut w = CaptureWriter::new(Vec::new(), kind).unwrap();
            for p in &pkts[..take] {
                w.write(p).unwrap();
            }
            if kind != CaptureKind::Pcapng {
                assert!(w.write(&pkts[1]).is_err(), "other link type in pcap");
                assert!(w.write(&pkts[2]).is_err(), "year 2109 in pcap");
            }
            let bytes = w.finish().unwrap();
            let mut r =
                CaptureReader::from_reader("t".into(), Box::new(io::Cursor::new(bytes))).unwrap();
            for p in &pkts[..take] {
                let q = r.next_packet().unwrap().unwrap();
                assert_eq!(
                    (q.ts, q.orig_len, q.link_type, q.data),
                    (p.ts, p.orig_len, p.link_type, p.data)
                );
            }
            assert!(r.next_packet().unwrap().is_none());
        }
        assert_eq!(
            CaptureKind::choose(&[1], 0, 4_400_000_000 * NS_PER_SEC),
            CaptureKind::Pcapng
        );
    }
}
