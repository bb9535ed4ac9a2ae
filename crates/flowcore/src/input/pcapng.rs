//! pcapng: section header, interface description, enhanced/simple/obsolete packet blocks;
//! several sections with their own byte order; per-interface link type, `if_tsresol` and
//! `if_tsoffset`. Every other block type is skipped (and counted).

use super::stream::ByteStream;
use super::{Damage, RawPacket};
use crate::time::{TimestampNs, NS_PER_SEC};

const SHB: u32 = 0x0A0D_0D0A;
const IDB: u32 = 1;
const OPB: u32 = 2;
const SPB: u32 = 3;
const EPB: u32 = 6;
const BYTE_ORDER_MAGIC: u32 = 0x1A2B_3C4D;

/// Largest block accepted; beyond it the length field is taken as damage.
pub(crate) const MAX_BLOCK: u32 = 64 << 20;
/// Interfaces per section; bounds memory on hostile files.
const MAX_INTERFACES: usize = 1 << 16;

#[derive(Clone, Copy)]
struct Interface {
    link_type: u16,
    snaplen: u32,
    /// Timestamp units per second as (base, exponent): 10^e or 2^e.
    resol: Resolution,
    offset_ns: i64,
    fcs_len: u32,
}

#[derive(Clone, Copy)]
enum Resolution {
    Dec(u32),
    Bin(u32),
}

impl Resolution {
    fn to_ns(self, units: u64) -> i64 {
        let ns: u128 = match self {
            Resolution::Dec(e) if e <= 9 => units as u128 * 10u128.pow(9 - e),
            Resolution::Dec(e) => units as u128 / 10u128.pow((e - 9).min(38)),
            Resolution::Bin(e) => {
                let e = e.min(127);
                (units as u128 * NS_PER_SEC as u128) >> e
            }
        };
        ns.min(i64::MAX as u128) as i64
    }
}

/// A packet block located in the buffer.
struct PacketBlock {
    offset: u64,
    if_id: u32,
    iface: Interface,
    ts: TimestampNs,
    orig_len: u32,
    /// Start of the packet data within the block.
    start: usize,
    caplen: usize,
    /// Total block length.
    len: usize,
}

pub(crate) struct PcapngReader {
    stream: ByteStream,
    big_endian: bool,
    interfaces: Vec<Interface>,
    index: u64,
    done: bool,
    /// Blocks of types this reader does not use (statistics, name resolution, custom, ...).
    pub(crate) skipped_blocks: u64,
}

impl PcapngReader {
    /// Reads the first Section Header Block.
    /// Reads the rest of the stream, unparsed (so that a tap sees every byte).
    pub(crate) fn drain(&mut self) -> std::io::Result<()> {
        self.stream.skip(u64::MAX).map(|_| ())
    }

    pub(crate) fn new(stream: ByteStream) -> Result<Self, Damage> {
        let mut r = PcapngReader {
            stream,
            big_endian: false,
            interfaces: Vec::new(),
            index: 0,
            done: false,
            skipped_blocks: 0,
        };
        match r.next_block_header()? {
            Some((SHB, len)) => {
                r.read_shb(0, len)?;
                Ok(r)
            }
            _ => Err(Damage::new(
                0,
                "pcapng file does not start with a section header block",
            )),
        }
    }

    fn u32_at(&self, b: &[u8], o: usize) -> u32 {
        super::pcap::read_u32(&b[o..o + 4], self.big_endian)
    }

    fn u16_at(&self, b: &[u8], o: usize) -> u16 {
        let a = [b[o], b[o + 1]];
        if self.big_endian {
            u16::from_be_bytes(a)
        } else {
            u16::from_le_bytes(a)
        }
    }

    /// Peeks the next block's type and total length (byte order settled for SHBs), leaving
    /// the stream at the block start. `None` at a clean end of file.
    fn next_block_header(&mut self) -> Result<Option<(u32, u32)>, Damage> {
        let offset = self.stream.offset();
        let have = self.stream.fill(12).map_err(|e| Damage::io(offset, &e))?;
        if have == 0 {
            return Ok(None);
        }
        if have < 12 {
            return Err(Damage::new(
                offset,
                format!("file ends inside a block header ({have} of 12 bytes)"),
            ));
        }
        let b = self.stream.available();
        let raw_type = u32::from_le_bytes([b[0], b[1], b[2], b[3]]);
        if raw_type == SHB {
            let magic = [b[8], b[9], b[10], b[11]];
            self.big_endian = if u32::from_le_bytes(magic) == BYTE_ORDER_MAGIC {
                false
            } else if u32::from_be_bytes(magic) == BYTE_ORDER_MAGIC {
                true
            } else {
                return Err(Damage::new(
                    offset + 8,
                    format!("section header has a bad byte-order magic {magic:02x?}"),
                ));
            };
        }
        let block_type = self.u32_at(b, 0);
        let len = self.u32_at(b, 4);
        if len < 12 || !len.is_multiple_of(4) || len > MAX_BLOCK {
            return Err(Damage::new(
                offset + 4,
                format!("block of type 0x{block_type:08x} has an invalid total length {len}"),
            ));
        }
        Ok(Some((block_type, len)))
    }

    /// Buffers a whole block of `len` bytes and checks its trailing length.
    fn load_block(&mut self, offset: u64, block_type: u32, len: u32) -> Result<(), Damage> {
        let have = self
            .stream
            .fill(len as usize)
            .map_err(|e| Damage::io(offset, &e))?;
        if have < len as usize {
            return Err(Damage::new(
                offset,
                format!(
                    "file ends inside a block of type 0x{block_type:08x} ({have} of {len} bytes)"
                ),
            ));
        }
        let b = self.stream.available();
        let trailer = self.u32_at(b, len as usize - 4);
        if trailer != len {
            return Err(Damage::new(
                offset + len as u64 - 4,
                format!(
                    "block of type 0x{block_type:08x} has leading length {len} but trailing length {trailer}"
                ),
            ));
        }
        Ok(())
    }

    fn read_shb(&mut self, offset: u64, len: u32) -> Result<(), Damage> {
        self.load_block(offset, SHB, len)?;
        if len < 28 {
            return Err(Damage::new(
                offset,
                format!("section header block too short ({len} bytes)"),
            ));
        }
        let b = self.stream.available();
        let major = self.u16_at(b, 12);
        if major != 1 {
            return Err(Damage::new(
                offset + 12,
                format!("unsupported pcapng major version {major}"),
            ));
        }
        let opts = &b[24..len as usize - 4];
        self.walk_options(opts, offset + 24, |_, _| {})?;
        self.interfaces.clear();
        self.stream.consume(len as usize);
        Ok(())
    }

    fn read_idb(&mut self, offset: u64, len: u32) -> Result<(), Damage> {
        if len < 20 {
            return Err(Damage::new(
                offset,
                format!("interface description block too short ({len} bytes)"),
            ));
        }
        let b = self.stream.available();
        let mut iface = Interface {
            link_type: self.u16_at(b, 8),
            snaplen: self.u32_at(b, 12),
            resol: Resolution::Dec(6),
            offset_ns: 0,
            fcs_len: 0,
        };
        let opts = &b[16..len as usize - 4];
        let be = self.big_endian;
        self.walk_options(opts, offset + 16, |code, v| match (code, v.len()) {
            (9, 1) => {
                iface.resol = if v[0] & 0x80 != 0 {
                    Resolution::Bin(u32::from(v[0] & 0x7f))
                } else {
                    Resolution::Dec(u32::from(v[0]))
                }
            }
            (14, 8) => {
                let a: [u8; 8] = v.try_into().unwrap_or_default();
                let secs = if be {
                    i64::from_be_bytes(a)
                } else {
                    i64::from_le_bytes(a)
                };
                iface.offset_ns = secs.saturating_mul(NS_PER_SEC);
            }
            (13, 1) => iface.fcs_len = u32::from(v[0]),
            _ => {}
        })?;
        if self.interfaces.len() >= MAX_INTERFACES {
            return Err(Damage::new(
                offset,
                format!("more than {MAX_INTERFACES} interfaces in one section"),
            ));
        }
        self.interfaces.push(iface);
        self.stream.consume(len as usize);
        Ok(())
    }

    /// Walks a TLV option list; damage if an option runs past the block.
    fn walk_options(
        &self,
        mut opts: &[u8],
        mut offset: u64,
        mut f: impl FnMut(u16, &[u8]),
    ) -> Result<(), Damage> {
        while opts.len() >= 4 {
            let code = self.u16_at(opts, 0);
            let olen = self.u16_at(opts, 2) as usize;
            if code == 0 {
                return Ok(());
            }
            let padded = (olen + 3) & !3;
            if 4 + olen > opts.len() {
                return Err(Damage::new(
                    offset,
                    format!(
                        "option {code} of length {olen} runs past the end of its block ({} bytes left)",
                        opts.len() - 4
                    ),
                ));
            }
            f(code, &opts[4..4 + olen]);
            let step = (4 + padded).min(opts.len());
            opts = &opts[step..];
            offset += step as u64;
        }
        Ok(())
    }

    pub(crate) fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Damage> {
        if self.done {
            return Ok(None);
        }
        match self.next_packet_inner() {
            Ok(Some(p)) => {
                self.index += 1;
                let b = self.stream.take(p.len);
                let data = &b[p.start..p.start + p.caplen];
                let strip = (p.iface.fcs_len as usize).min(data.len());
                Ok(Some(RawPacket {
                    index: self.index,
                    offset: p.offset,
                    ts: p.ts,
                    orig_len: p.orig_len.saturating_sub(strip as u32),
                    link_type: p.iface.link_type,
                    interface: p.if_id,
                    data: &data[..data.len() - strip],
                }))
            }
            Ok(None) => {
                self.done = true;
                Ok(None)
            }
            Err(d) => {
                self.done = true;
                Err(d)
            }
        }
    }

    /// Advances to the next packet block, leaving it buffered; the caller consumes it.
    fn next_packet_inner(&mut self) -> Result<Option<PacketBlock>, Damage> {
        loop {
            let offset = self.stream.offset();
            let Some((block_type, len)) = self.next_block_header()? else {
                return Ok(None);
            };
            match block_type {
                SHB => {
                    self.read_shb(offset, len)?;
                    continue;
                }
                IDB | EPB | SPB | OPB => self.load_block(offset, block_type, len)?,
                _ => {
                    self.skipped_blocks += 1;
                    let skipped = self
                        .stream
                        .skip(len as u64)
                        .map_err(|e| Damage::io(offset, &e))?;
                    if skipped < len as u64 {
                        return Err(Damage::new(
                            offset,
                            format!(
                                "file ends inside a block of type 0x{block_type:08x} ({skipped} of {len} bytes)"
                            ),
                        ));
                    }
                    continue;
                }
            }
            if block_type == IDB {
                self.read_idb(offset, len)?;
                continue;
            }
            let b = self.stream.available();
            let body = len as usize - 12;
            let (if_id, ts_units, caplen, orig_len, start) = match block_type {
                EPB | OPB => {
                    if body < 20 {
                        return Err(Damage::new(
                            offset,
                            format!("packet block too short ({len} bytes)"),
                        ));
                    }
                    let if_id = if block_type == EPB {
                        self.u32_at(b, 8)
                    } else {
                        u32::from(self.u16_at(b, 8))
                    };
                    let ts = (u64::from(self.u32_at(b, 12)) << 32) | u64::from(self.u32_at(b, 16));
                    (
                        if_id,
                        Some(ts),
                        self.u32_at(b, 20),
                        self.u32_at(b, 24),
                        28usize,
                    )
                }
                _ => {
                    // SPB: interface 0, no timestamp; captured length is what fits.
                    if body < 4 {
                        return Err(Damage::new(
                            offset,
                            format!("simple packet block too short ({len} bytes)"),
                        ));
                    }
                    let orig = self.u32_at(b, 8);
                    let snap = self.interfaces.first().map_or(u32::MAX, |i| {
                        if i.snaplen == 0 {
                            u32::MAX
                        } else {
                            i.snaplen
                        }
                    });
                    let cap = orig.min(snap).min((body - 4) as u32);
                    (0, None, cap, orig, 12usize)
                }
            };
            if caplen as usize > len as usize - 4 - start {
                return Err(Damage::new(
                    offset,
                    format!(
                        "packet block claims {caplen} captured bytes but the block holds only {}",
                        len as usize - 4 - start
                    ),
                ));
            }
            let Some(iface) = self.interfaces.get(if_id as usize).copied() else {
                return Err(Damage::new(
                    offset + 8,
                    format!("packet block refers to interface {if_id}, which this section does not describe"),
                ));
            };
            let ts = ts_units.map_or(0, |u| iface.resol.to_ns(u).saturating_add(iface.offset_ns));
            return Ok(Some(PacketBlock {
                offset,
                if_id,
                iface,
                ts,
                orig_len,
                start,
                caplen: caplen as usize,
                len: len as usize,
            }));
        }
    }
}
