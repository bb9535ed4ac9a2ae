//! Reading captures through the system libpcap (cargo feature `libpcap`).
//!
//! The default readers of this crate are faster and stricter; this one exists for
//! interoperability, live capture ([`LiveReader`]) and BPF filters ([`BpfFilter`]). libpcap reports neither
//! byte offsets nor mixed link types across pcapng interfaces, so `offset` is 0 and the
//! link type is the first interface's.

use std::path::Path;

use super::{Damage, InputError, RawPacket};
use crate::time::NS_PER_SEC;

/// A capture read through libpcap's offline API, timestamps in nanoseconds.
pub struct LibpcapReader {
    cap: pcap::Capture<pcap::Offline>,
    link_type: u16,
    index: u64,
    done: bool,
}

impl LibpcapReader {
    /// Opens `path` with libpcap.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        let cap =
            pcap::Capture::from_file_with_precision(path, pcap::Precision::Nano).map_err(|e| {
                InputError::Format {
                    path: super::path_name(path),
                    offset: 0,
                    what: format!("libpcap: {e}"),
                }
            })?;
        let link_type = cap.get_datalink().0 as u16;
        Ok(LibpcapReader {
            cap,
            link_type,
            index: 0,
            done: false,
        })
    }

    /// The next packet, `Ok(None)` at the end, `Err` once if libpcap reports damage.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Damage> {
        if self.done {
            return Ok(None);
        }
        match self.cap.next_packet() {
            #[allow(clippy::unnecessary_cast)] // timeval fields are i32 on 32-bit targets
            Ok(p) => {
                self.index += 1;
                // Some libpcap builds sign-extend classic pcap's unsigned 32-bit seconds
                // (dates after 2038 come out before 1970); capture files hold no negative times.
                let mut sec = p.header.ts.tv_sec as i64;
                if sec < 0 {
                    sec += 1 << 32;
                }
                let ts = sec * NS_PER_SEC + p.header.ts.tv_usec as i64;
                Ok(Some(RawPacket {
                    index: self.index,
                    offset: 0,
                    ts,
                    orig_len: p.header.len,
                    link_type: self.link_type,
                    interface: 0,
                    data: p.data,
                }))
            }
            Err(pcap::Error::NoMorePackets) => {
                self.done = true;
                Ok(None)
            }
            Err(e) => {
                self.done = true;
                Err(Damage::new(0, format!("libpcap: {e}")))
            }
        }
    }
}

/// A live capture on a network interface, read in windows: [`LiveReader::next_packet`]
/// returns `Ok(None)` once the wall clock passes the window's end, and reading resumes
/// with the next window (packets that arrive meanwhile wait in the kernel's buffer).
pub struct LiveReader {
    cap: pcap::Capture<pcap::Active>,
    link_type: u16,
    index: u64,
    until: Option<std::time::Instant>,
    buf: Vec<u8>,
    name: String,
}

impl LiveReader {
    /// Opens `iface` (not promiscuous; `snaplen` bytes per packet; nanosecond times;
    /// non-blocking, polled every 5 ms when idle), with an optional BPF filter applied in
    /// the kernel.
    pub fn open(iface: &str, snaplen: i32, bpf: Option<&str>) -> Result<Self, InputError> {
        let name = format!("live:{iface}");
        let err = |e: pcap::Error| InputError::Format {
            path: name.clone(),
            offset: 0,
            what: format!("libpcap: {e}"),
        };
        let mut cap = pcap::Capture::from_device(iface)
            .map_err(err)?
            .promisc(false)
            .snaplen(snaplen)
            .timeout(100)
            .precision(pcap::Precision::Nano)
            .open()
            .and_then(|c| c.setnonblock())
            .map_err(err)?;
        if let Some(expr) = bpf {
            cap.filter(expr, true).map_err(err)?;
        }
        let link_type = cap.get_datalink().0 as u16;
        Ok(LiveReader {
            cap,
            link_type,
            index: 0,
            until: None,
            buf: Vec::new(),
            name,
        })
    }

    /// `live:IFACE`.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The interface's link type.
    pub fn link_type(&self) -> u16 {
        self.link_type
    }

    /// Ends the current window at `until` (wall clock); `None` reads without end.
    pub fn set_window_end(&mut self, until: Option<std::time::Instant>) {
        self.until = until;
    }

    /// Packets received and dropped by the kernel and by the interface so far.
    pub fn drops(&mut self) -> Option<(u32, u32, u32)> {
        self.cap
            .stats()
            .ok()
            .map(|s| (s.received, s.dropped, s.if_dropped))
    }

    /// The next packet of the window, `Ok(None)` when the window is over.
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Damage> {
        let header = loop {
            if self.until.is_some_and(|u| std::time::Instant::now() >= u) {
                return Ok(None);
            }
            match self.cap.next_packet() {
                Ok(p) => {
                    self.buf.clear();
                    self.buf.extend_from_slice(p.data);
                    break *p.header;
                }
                // Non-blocking: nothing to read now. Wait a little (windows end on time
                // even on a silent interface).
                Err(pcap::Error::TimeoutExpired) => {
                    std::thread::sleep(std::time::Duration::from_millis(5))
                }
                Err(e) => return Err(Damage::new(0, format!("libpcap: {e}"))),
            }
        };
        self.index += 1;
        #[allow(clippy::unnecessary_cast)] // timeval fields are i32 on 32-bit targets
        let ts = header.ts.tv_sec as i64 * NS_PER_SEC + header.ts.tv_usec as i64;
        Ok(Some(RawPacket {
            index: self.index,
            offset: 0,
            ts,
            orig_len: header.len,
            link_type: self.link_type,
            interface: 0,
            data: &self.buf,
        }))
    }
}

/// A BPF filter expression (tcpdump syntax) compiled by libpcap for each link type it
/// meets, tested on packets' captured bytes.
pub struct BpfFilter {
    expr: String,
    programs: std::collections::HashMap<u16, Result<pcap::BpfProgram, String>>,
}

impl BpfFilter {
    /// Compiles `expr` for Ethernet to check its syntax now; other link types are compiled
    /// when first met.
    pub fn new(expr: &str) -> Result<Self, String> {
        let mut f = BpfFilter {
            expr: expr.to_string(),
            programs: Default::default(),
        };
        let eth = f.compile(crate::input::linktype::ETHERNET);
        if let Err(e) = &eth {
            return Err(e.clone());
        }
        f.programs.insert(crate::input::linktype::ETHERNET, eth);
        Ok(f)
    }

    fn compile(&self, link_type: u16) -> Result<pcap::BpfProgram, String> {
        // Capture files carry LINKTYPE_ values; libpcap compiles for DLT_ values, which
        // differ for LINKTYPE_RAW (101 → DLT_RAW, 12 on Linux) and a few obsolete types.
        let dlt = match link_type {
            101 => 12,
            100 => 11,
            102 => 15,
            103 => 16,
            t => i32::from(t),
        };
        pcap::Capture::dead(pcap::Linktype(dlt))
            .and_then(|c| c.compile(&self.expr, true))
            .map_err(|e| format!("BPF filter {:?} for link type {link_type}: {e}", self.expr))
    }

    /// Whether the packet matches. `Err` (once per link type, then `Ok(false)`) when the
    /// expression cannot be compiled for the packet's link type.
    pub fn matches(&mut self, p: &RawPacket<'_>) -> Result<bool, String> {
        if !self.programs.contains_key(&p.link_type) {
            let prog = self.compile(p.link_type);
            let first_err = prog.as_ref().err().cloned();
            self.programs.insert(p.link_type, prog);
            if let Some(e) = first_err {
                return Err(e);
            }
        }
        Ok(match &self.programs[&p.link_type] {
            Ok(prog) => prog.filter(p.data),
            Err(_) => false,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input::CaptureReader;

    /// Our reader and libpcap agree packet by packet on every classic pcap sample
    /// libpcap can open.
    #[test]
    fn agrees_with_libpcap_on_shared_samples() {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples/pcap");
        let mut compared = 0;
        for e in std::fs::read_dir(&dir).expect("shared samples") {
            let path = e.unwrap().path();
            let Ok(mut lib) = LibpcapReader::open(&path) else {
                assert!(
                    CaptureReader::open(&path).is_err(),
                    "{}: libpcap refused, we accepted",
                    path.display()
                );
                continue;
            };
            let mut ours = CaptureReader::open(&path).unwrap();
            loop {
                let a = ours
                    .next_packet()
                    .ok()
                    .flatten()
                    .map(|p| (p.index, p.ts, p.orig_len, p.data.to_vec()));
                let b = lib
                    .next_packet()
                    .ok()
                    .flatten()
                    .map(|p| (p.index, p.ts, p.orig_len, p.data.to_vec()));
                assert_eq!(a, b, "{}", path.display());
                if a.is_none() {
                    break;
                }
                compared += 1;
            }
        }
        assert!(compared > 2000, "compared only {compared} packets");
    }
}

#[cfg(test)]
mod bpf_tests {
    use super::*;

    fn udp(dst_port: u16) -> Vec<u8> {
        let mut p = vec![0u8; 14 + 20 + 8];
        p[12..14].copy_from_slice(&[0x08, 0x00]);
        p[14] = 0x45;
        p[16..18].copy_from_slice(&28u16.to_be_bytes());
        p[22] = 64;
        p[23] = 17;
        p[26..30].copy_from_slice(&[10, 1, 0, 5]);
        p[30..34].copy_from_slice(&[10, 2, 0, 9]);
        p[34..36].copy_from_slice(&40000u16.to_be_bytes());
        p[36..38].copy_from_slice(&dst_port.to_be_bytes());
        p[38..40].copy_from_slice(&8u16.to_be_bytes());
        p
    }

    fn pkt(data: &[u8], link_type: u16) -> RawPacket<'_> {
        RawPacket {
            index: 1,
            offset: 0,
            ts: 0,
            orig_len: data.len() as u32,
            link_type,
            interface: 0,
            data,
        }
    }

    #[test]
    fn compiles_per_link_type_and_matches() {
        assert!(BpfFilter::new("udp port (").is_err());
        let mut f = BpfFilter::new("udp dst port 53 and src net 10.1.0.0/16").unwrap();
        let (a, b) = (udp(53), udp(54));
        assert_eq!(f.matches(&pkt(&a, 1)), Ok(true));
        assert_eq!(f.matches(&pkt(&b, 1)), Ok(false));
        // The same test on raw IP (link type 101): compiled anew for it.
        assert_eq!(f.matches(&pkt(&a[14..], 101)), Ok(true));
        assert_eq!(f.matches(&pkt(&b[14..], 101)), Ok(false));
        // An expression some link types cannot express.
        let mut g = BpfFilter::new("ether host 02:00:00:00:00:01").unwrap();
        assert!(g.matches(&pkt(&a[14..], 101)).is_err());
        assert_eq!(
            g.matches(&pkt(&a[14..], 101)),
            Ok(false),
            "the error is told once"
        );
    }
}
