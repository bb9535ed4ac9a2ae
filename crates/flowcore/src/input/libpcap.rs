//! Reading captures through the system libpcap (cargo feature `libpcap`).
//!
//! The default readers of this crate are faster and stricter; this one exists for
//! interoperability (and, later, live capture and BPF filters). libpcap reports neither
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
                    path: path.display().to_string(),
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
