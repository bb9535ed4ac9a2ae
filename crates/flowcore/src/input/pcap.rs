//! Classic libpcap files: both byte orders, microsecond and nanosecond magic, any snaplen.

use super::stream::ByteStream;
use super::{Damage, RawPacket};
use crate::time::NS_PER_SEC;

/// libpcap's largest snapshot length; a record longer than both this and the file's
/// snaplen is taken as damage (it is how tshark and libpcap tell garbage from data).
pub(crate) const MAX_SNAPLEN: u32 = 262_144;
/// Hard ceiling on one record whatever the header's snaplen says, so a hostile header
/// cannot make the reader allocate gigabytes.
pub(crate) const MAX_RECORD: u32 = 64 << 20;

pub(crate) struct PcapReader {
    stream: ByteStream,
    big_endian: bool,
    nanos: bool,
    link_type: u16,
    max_caplen: u32,
    fcs_len: u32,
    index: u64,
    done: bool,
}

/// The four magic numbers as they appear on disk.
pub(crate) fn is_pcap_magic(m: &[u8]) -> bool {
    matches!(
        m,
        [0xd4, 0xc3, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0xc3, 0xd4]
            | [0x4d, 0x3c, 0xb2, 0xa1]
            | [0xa1, 0xb2, 0x3c, 0x4d]
    )
}

impl PcapReader {
    /// Reads and validates the 24-byte global header.
    /// Reads the rest of the stream, unparsed (so that a tap sees every byte).
    pub(crate) fn drain(&mut self) -> std::io::Result<()> {
        self.stream.skip(u64::MAX).map(|_| ())
    }

    pub(crate) fn new(mut stream: ByteStream) -> Result<Self, Damage> {
        let have = stream.fill(24).map_err(|e| Damage::io(0, &e))?;
        if have < 24 {
            return Err(Damage::new(
                0,
                format!("pcap global header truncated: {have} of 24 bytes"),
            ));
        }
        let h = &stream.available()[..24];
        let (big_endian, nanos) = match h[..4] {
            [0xd4, 0xc3, 0xb2, 0xa1] => (false, false),
            [0xa1, 0xb2, 0xc3, 0xd4] => (true, false),
            [0x4d, 0x3c, 0xb2, 0xa1] => (false, true),
            [0xa1, 0xb2, 0x3c, 0x4d] => (true, true),
            _ => return Err(Damage::new(0, "not a pcap magic number")),
        };
        let u16_at = |o: usize| {
            let b = [h[o], h[o + 1]];
            if big_endian {
                u16::from_be_bytes(b)
            } else {
                u16::from_le_bytes(b)
            }
        };
        let u32_at = |o: usize| read_u32(&h[o..o + 4], big_endian);
        let (major, minor) = (u16_at(4), u16_at(6));
        if major != 2 {
            return Err(Damage::new(
                4,
                format!("unsupported pcap version {major}.{minor} (only 2.x exists)"),
            ));
        }
        let snaplen = u32_at(16);
        let network = u32_at(20);
        // Bits 26..31 of the link-type field: FCS length present flag and length in 16-bit words.
        let fcs_len = if network & 0x0400_0000 != 0 {
            (network >> 28) * 2
        } else {
            0
        };
        stream.consume(24);
        Ok(PcapReader {
            stream,
            big_endian,
            nanos,
            link_type: (network & 0xffff) as u16,
            max_caplen: snaplen.clamp(MAX_SNAPLEN, MAX_RECORD),
            fcs_len,
            index: 0,
            done: false,
        })
    }

    /// The file's link type.
    pub(crate) fn link_type(&self) -> u16 {
        self.link_type
    }

    pub(crate) fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Damage> {
        if self.done {
            return Ok(None);
        }
        let offset = self.stream.offset();
        let have = self
            .stream
            .fill(16)
            .map_err(|e| self.fail(Damage::io(offset, &e)))?;
        if have == 0 {
            self.done = true;
            return Ok(None);
        }
        if have < 16 {
            return Err(self.fail(Damage::new(
                offset,
                format!("file ends inside a record header ({have} of 16 bytes)"),
            )));
        }
        let h = &self.stream.available()[..16];
        let be = self.big_endian;
        let sec = read_u32(&h[0..4], be) as i64;
        let frac = read_u32(&h[4..8], be) as i64;
        let caplen = read_u32(&h[8..12], be);
        let orig_len = read_u32(&h[12..16], be);
        if caplen > self.max_caplen {
            return Err(self.fail(Damage::new(
                offset,
                format!(
                    "record {} claims {caplen} captured bytes, more than the snapshot length {}: damaged record header",
                    self.index + 1,
                    self.max_caplen
                ),
            )));
        }
        let need = 16 + caplen as usize;
        let have = self
            .stream
            .fill(need)
            .map_err(|e| self.fail(Damage::io(offset, &e)))?;
        if have < need {
            return Err(self.fail(Damage::new(
                offset,
                format!(
                    "file ends inside record {} ({} of {caplen} data bytes)",
                    self.index + 1,
                    have - 16
                ),
            )));
        }
        self.index += 1;
        let ts = sec * NS_PER_SEC + if self.nanos { frac } else { frac * 1000 };
        let mut data_len = caplen as usize;
        let mut orig = orig_len;
        if self.fcs_len > 0 {
            let strip = (self.fcs_len as usize).min(data_len);
            data_len -= strip;
            orig = orig.saturating_sub(self.fcs_len);
        }
        let data = &self.stream.take(need)[16..16 + data_len];
        Ok(Some(RawPacket {
            index: self.index,
            offset,
            ts,
            orig_len: orig,
            link_type: self.link_type,
            interface: 0,
            data,
        }))
    }

    fn fail(&mut self, d: Damage) -> Damage {
        self.done = true;
        d
    }
}

#[inline]
pub(crate) fn read_u32(b: &[u8], big_endian: bool) -> u32 {
    let a = [b[0], b[1], b[2], b[3]];
    if big_endian {
        u32::from_be_bytes(a)
    } else {
        u32::from_le_bytes(a)
    }
}
