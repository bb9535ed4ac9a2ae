//! What bytes arrive: capture files (pcap, pcapng), possibly gzip- or zstd-compressed,
//! from a path or any reader (stdin). The format is detected from the content, never the name.
//!
//! A [`CaptureReader`] yields [`RawPacket`]s that borrow its buffer (no copy per packet).
//! Damage after a valid file header ends the stream with a [`Damage`] (everything before it
//! has been delivered); a file whose header is unusable fails to open with an [`InputError`].

mod ahead;
pub mod export;
pub mod flowlog;
#[cfg(feature = "frame")]
mod parquet;
mod pcap;
mod pcapng;
mod stream;

#[cfg(feature = "libpcap")]
pub mod libpcap;

use std::fmt;
use std::fs::File;
use std::io::{self, Read};
use std::ops::Range;
use std::path::{Path, PathBuf};
use std::sync::{mpsc, Arc, Mutex};

use sha2::{Digest, Sha256};

use stream::ByteStream;

use crate::time::TimestampNs;

/// Link-layer header types (LINKTYPE_* values of the pcap and pcapng formats).
pub mod linktype {
    /// BSD loopback: 4-byte address family in the capturing host's byte order.
    pub const NULL: u16 = 0;
    /// Ethernet II / 802.3.
    pub const ETHERNET: u16 = 1;
    /// Raw IP (IPv4 or IPv6, decided by the version nibble).
    pub const RAW: u16 = 101;
    /// OpenBSD loopback: 4-byte address family in network byte order.
    pub const LOOP: u16 = 108;
    /// Linux "cooked" capture, version 1.
    pub const LINUX_SLL: u16 = 113;
    /// Raw IPv4.
    pub const IPV4: u16 = 228;
    /// Raw IPv6.
    pub const IPV6: u16 = 229;
    /// Linux "cooked" capture, version 2.
    pub const LINUX_SLL2: u16 = 276;
    /// Raw IP as written by some older OpenBSD/BSD/OS tools (DLT_RAW's historical values).
    pub const RAW_ALT_12: u16 = 12;
    /// Raw IP, historical value 14.
    pub const RAW_ALT_14: u16 = 14;
}

/// One captured packet, borrowed from the reader's buffer until the next call.
#[derive(Debug, Clone, Copy)]
pub struct RawPacket<'a> {
    /// 1-based position of the packet in its file, as Wireshark numbers frames.
    pub index: u64,
    /// Byte offset of the packet's record (pcap record header or pcapng block) in the
    /// (decompressed) file.
    pub offset: u64,
    /// Capture timestamp, UTC nanoseconds.
    pub ts: TimestampNs,
    /// Length of the packet on the wire (may exceed `data.len()` when snaplen cut it).
    pub orig_len: u32,
    /// LINKTYPE_* of the packet's interface.
    pub link_type: u16,
    /// pcapng interface id (0 for classic pcap).
    pub interface: u32,
    /// The captured bytes.
    pub data: &'a [u8],
}

/// Damage found in a file after its header: where and what. Everything before it was read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Damage {
    /// Byte offset of the damaged structure in the (decompressed) stream.
    pub offset: u64,
    /// What was wrong.
    pub what: String,
}

impl Damage {
    pub(crate) fn new(offset: u64, what: impl Into<String>) -> Self {
        Damage {
            offset,
            what: what.into(),
        }
    }

    pub(crate) fn io(offset: u64, e: &io::Error) -> Self {
        Damage::new(offset, format!("read error: {e}"))
    }
}

impl fmt::Display for Damage {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "at byte {}: {}", self.offset, self.what)
    }
}

/// An input that cannot be used at all.
#[derive(Debug, thiserror::Error)]
pub enum InputError {
    /// The file could not be opened or read.
    #[error("{path}: cannot read: {source}")]
    Io {
        /// The input's name.
        path: String,
        /// The operating system's error.
        source: io::Error,
    },
    /// The content is not recognisably a capture (unknown magic or empty).
    #[error("{path}: at byte 0: {what}")]
    NotCapture {
        /// The input's name.
        path: String,
        /// What was found.
        what: String,
    },
    /// The content is a capture whose header is unusable.
    #[error("{path}: at byte {offset}: {what}")]
    Format {
        /// The input's name.
        path: String,
        /// Where the problem is.
        offset: u64,
        /// What is wrong.
        what: String,
    },
}

/// Container format of a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CaptureFormat {
    /// Classic libpcap.
    Pcap,
    /// pcapng.
    Pcapng,
    /// A raw file of concatenated flow-export messages (NetFlow v5/v9, IPFIX incl. RFC 5655
    /// files, sFlow v5): read with [`CaptureReader::next_datagram`].
    Export,
    /// A flow log (nfdump CSV, Zeek conn.log, Suricata eve, delimited text with a column
    /// map, Parquet): read with [`CaptureReader::next_log_item`].
    FlowLog(flowlog::LogFormat),
}

impl CaptureFormat {
    /// Name used in reports: `pcap`, `pcapng`, `export`, or the flow log's format
    /// (`nfdump-csv`, `zeek-tsv`, `zeek-json`, `suricata-eve`, `delimited`, `parquet`).
    pub fn name(self) -> &'static str {
        match self {
            CaptureFormat::Pcap => "pcap",
            CaptureFormat::Pcapng => "pcapng",
            CaptureFormat::Export => "export",
            CaptureFormat::FlowLog(f) => f.name(),
        }
    }
}

/// How to open an input.
#[derive(Debug, Clone, Default)]
pub struct OpenOptions {
    /// Compute the input's SHA-256 as it is read ([`CaptureReader::digest`]).
    pub hash: bool,
    /// Hash on a helper thread, which takes the hashing off the packet path at the price of
    /// a second busy core (and, but for plain pcap and pcapng files, whose buffers the
    /// helper reads, a copy of every chunk); otherwise the reading thread hashes.
    /// Worth it when a core would otherwise idle (fewer inputs than cores).
    pub hash_thread: bool,
    /// Decompress a gzip or zstd input on a helper thread, which also reads the stored
    /// bytes (and hands them to the hash): the packet path then only copies decompressed
    /// buffers. Worth it when the input has a core of its own besides its worker; no
    /// effect on uncompressed inputs.
    pub inflate_thread: bool,
    /// Parse the lines of a JSON flow log (Suricata eve, Zeek JSON) on a helper thread as
    /// well as on the reading thread: parsing is most of reading such a log. Worth it when
    /// the input has a core of its own besides its worker; no effect on other inputs.
    pub parse_thread: bool,
    /// Column map for delimited flow logs (and Parquet tables) that are not in a format
    /// recognised by itself.
    pub columns: Option<flowlog::ColumnMap>,
}

/// Compression wrapped around a capture.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Compression {
    /// Plain file.
    None,
    /// gzip (one or more members).
    Gzip,
    /// Zstandard.
    Zstd,
}

/// What the first bytes of a stream say it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detected {
    /// A capture format.
    Capture(CaptureFormat),
    /// A compression wrapper (look again after decompressing).
    Compressed(Compression),
    /// Something else.
    Unknown,
}

/// Classifies a stream by its first (up to 4) bytes.
pub fn detect(magic: &[u8]) -> Detected {
    match magic {
        [0x1f, 0x8b, ..] => Detected::Compressed(Compression::Gzip),
        [0x28, 0xb5, 0x2f, 0xfd, ..] => Detected::Compressed(Compression::Zstd),
        [0x0a, 0x0d, 0x0d, 0x0a, ..] => Detected::Capture(CaptureFormat::Pcapng),
        m if m.len() >= 4 && pcap::is_pcap_magic(&m[..4]) => Detected::Capture(CaptureFormat::Pcap),
        _ => Detected::Unknown,
    }
}

enum Inner {
    Pcap(pcap::PcapReader),
    Pcapng(pcapng::PcapngReader),
    Export(ExportFile),
    FlowLog(Box<flowlog::LogReader>),
    #[cfg(feature = "frame")]
    Table(Box<parquet::TableRecords>),
    #[cfg(feature = "libpcap")]
    Live(Box<libpcap::LiveReader>),
}

/// Raw export messages, one after another.
struct ExportFile {
    stream: ByteStream,
    index: u64,
    done: bool,
}

/// One export message of a raw export file.
#[derive(Debug, Clone, Copy)]
pub struct RawDatagram<'a> {
    /// 1-based message number.
    pub index: u64,
    /// Byte offset of the message in the (decompressed) file.
    pub offset: u64,
    /// Export protocol.
    pub kind: export::ExportKind,
    /// The message.
    pub data: &'a [u8],
}

/// Whether the first bytes look like a flow-export message (for raw export files).
fn is_export_magic(m: &[u8]) -> bool {
    match m {
        [0, 5, c0, c1, ..] | [0, 9, c0, c1, ..] => u16::from_be_bytes([*c0, *c1]) > 0,
        [0, 10, l0, l1, ..] => u16::from_be_bytes([*l0, *l1]) >= 16,
        [0, 0, 0, 5, 0, 0, 0, t, ..] => *t == 1 || *t == 2,
        _ => false,
    }
}

/// The raw input as stored (before decompression), hashed as it is read.
struct Raw {
    reader: Box<dyn Read + Send>,
    hasher: BackgroundSha256,
    bytes: u64,
}

/// Bytes to hash: a range of a buffer, shared with the stream that read it, or a copy.
type Piece = (Arc<Vec<u8>>, Range<usize>);

/// SHA-256 computed on a helper thread, so hashing a large input costs the packet path at
/// most a copy of each chunk (none for plain captures: [`RawTap`]) (SHA-256 runs at 1–2 GB/s even with the CPU's SHA instructions: on
/// the packet path it took 15 % of `analyze`), or inline when asked (no spare core) or when
/// no thread can be started.
struct BackgroundSha256 {
    tx: Option<mpsc::SyncSender<Piece>>,
    /// Buffers the worker has hashed, for reuse.
    spare: mpsc::Receiver<Vec<u8>>,
    worker: Option<std::thread::JoinHandle<Sha256>>,
    inline: Option<Sha256>,
    result: Option<String>,
}

impl BackgroundSha256 {
    fn new(on_thread: bool) -> Self {
        let (tx, rx) = mpsc::sync_channel::<Piece>(8);
        let (spare_tx, spare) = mpsc::sync_channel::<Vec<u8>>(8);
        let worker = if on_thread {
            std::thread::Builder::new()
                .name("flowcore-sha256".into())
                .spawn(move || {
                    let mut h = Sha256::new();
                    for (buf, range) in rx {
                        h.update(buf.get(range).unwrap_or_default());
                        // A copy comes back for reuse; a shared buffer goes back to its
                        // stream by being dropped here.
                        if let Ok(buf) = Arc::try_unwrap(buf) {
                            let _ = spare_tx.try_send(buf);
                        }
                    }
                    h
                })
        } else {
            Err(io::Error::other("hashing inline"))
        };
        match worker {
            Ok(w) => BackgroundSha256 {
                tx: Some(tx),
                spare,
                worker: Some(w),
                inline: None,
                result: None,
            },
            Err(_) => BackgroundSha256 {
                tx: None,
                spare,
                worker: None,
                inline: Some(Sha256::new()),
                result: None,
            },
        }
    }

    fn update(&mut self, data: &[u8]) {
        if let Some(h) = &mut self.inline {
            h.update(data);
            return;
        }
        let mut buf = self.spare.try_recv().unwrap_or_default();
        buf.clear();
        buf.extend_from_slice(data);
        let n = buf.len();
        self.send(Arc::new(buf), 0..n);
    }

    /// Hashes `buf[range]` without copying it: the worker holds the buffer until hashed.
    fn share(&mut self, buf: &Arc<Vec<u8>>, range: Range<usize>) {
        match &mut self.inline {
            Some(h) => h.update(buf.get(range).unwrap_or_default()),
            None => self.send(Arc::clone(buf), range),
        }
    }

    fn send(&mut self, buf: Arc<Vec<u8>>, range: Range<usize>) {
        if let Some(tx) = &self.tx {
            if let Err(mpsc::SendError((buf, range))) = tx.send((buf, range)) {
                // The worker is gone (it cannot fail, but never lose bytes): hash inline
                // from here on; finish() then reports the failure.
                self.tx = None;
                let mut h = Sha256::new();
                h.update(buf.get(range).unwrap_or_default());
                self.inline = Some(h);
            }
        }
    }

    /// The lower-case hex digest of everything passed to `update` (computed once).
    fn finish(&mut self) -> io::Result<String> {
        if let Some(r) = &self.result {
            return Ok(r.clone());
        }
        self.tx = None;
        let h = match (self.worker.take(), self.inline.take()) {
            (Some(w), None) => w
                .join()
                .map_err(|_| io::Error::other("input hasher thread failed"))?,
            (None, Some(h)) => h,
            _ => return Err(io::Error::other("input hasher thread failed")),
        };
        let hex = crate::text::hex(&h.finalize());
        self.result = Some(hex.clone());
        Ok(hex)
    }
}

/// Hashes what a [`ByteStream`] reads straight from its buffers (a capture read from the
/// stored bytes). On a helper thread, the copy into the hash queue was a quarter of the
/// reading thread's time. Inline, each quarter-megabyte buffer is hashed while still in
/// the core's cache from its parsing; reading through a [`Tee`] hashed each read of up
/// to a megabyte, which the parser then fetched again from further out (`analyze -j 1`:
/// see benches/README.md).
struct RawTap(Arc<Mutex<Raw>>);

impl stream::Tap for RawTap {
    fn bytes(&mut self, buf: &Arc<Vec<u8>>, range: Range<usize>) {
        // Poisoned only by a panic while hashing: the digest then reports the failure.
        if let Ok(mut raw) = self.0.lock() {
            raw.bytes += range.len() as u64;
            raw.hasher.share(buf, range);
        }
    }
}

/// Reads through the shared [`Raw`], hashing every byte.
struct Tee(Arc<Mutex<Raw>>);

impl Read for Tee {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let mut raw = self
            .0
            .lock()
            .map_err(|_| io::Error::other("input hasher poisoned"))?;
        let n = raw.reader.read(buf)?;
        raw.hasher.update(&buf[..n]);
        raw.bytes += n as u64;
        Ok(n)
    }
}

/// Size and SHA-256 of an input as stored (compressed bytes for compressed inputs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputDigest {
    /// Bytes.
    pub size: u64,
    /// Lower-case hex SHA-256.
    pub sha256: String,
}

/// A path as reports and messages name it: its text when it is valid UTF-8 (nearly
/// always); otherwise, on Unix, each byte that is not part of valid UTF-8 is written
/// `\xNN`, as bash's `$'…'` reads it. Files named in another encoding (Shift_JIS names
/// copied from a Windows share) then keep names that tell them apart, where a lossy
/// conversion would print U+FFFD for every such byte. Open a file by its path, not by this
/// name ([`CaptureReader::path`]).
pub fn path_name(path: &Path) -> String {
    crate::text::path_text(path)
}

/// Streaming reader over one capture, pcap or pcapng, plain or compressed.
pub struct CaptureReader {
    inner: Inner,
    name: String,
    /// The file it was opened from ([`CaptureReader::open_opts`]).
    path: Option<PathBuf>,
    format: CaptureFormat,
    compression: Compression,
    raw: Option<Arc<Mutex<Raw>>>,
    /// The stream hashes what it reads ([`RawTap`]): the digest reads it to its end.
    tapped: bool,
    /// Decompressed on a helper thread ([`OpenOptions::inflate_thread`]).
    ahead: bool,
    /// A JSON log parsed on a helper thread as well ([`OpenOptions::parse_thread`]).
    parsing: bool,
}

impl fmt::Debug for CaptureReader {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CaptureReader")
            .field("name", &self.name)
            .field("format", &self.format)
            .field("compression", &self.compression)
            .finish()
    }
}

/// Reads up to 4 bytes without losing them: returns them and a reader that replays them.
fn sniff(mut r: Box<dyn Read + Send>) -> io::Result<(Vec<u8>, Box<dyn Read + Send>)> {
    let mut magic = Vec::with_capacity(8);
    (&mut r).take(8).read_to_end(&mut magic)?;
    let replay: Box<dyn Read + Send> = Box::new(io::Cursor::new(magic.clone()).chain(r));
    Ok((magic, replay))
}

impl CaptureReader {
    /// Opens a capture file. The name `-` reads standard input.
    pub fn open(path: &Path) -> Result<Self, InputError> {
        Self::open_with(path, false)
    }

    /// Opens a capture file, computing its SHA-256 as it is read when `hash` is set (see
    /// [`CaptureReader::digest`]).
    pub fn open_with(path: &Path, hash: bool) -> Result<Self, InputError> {
        Self::open_opts(
            path,
            &OpenOptions {
                hash,
                hash_thread: true,
                inflate_thread: false,
                parse_thread: false,
                columns: None,
            },
        )
    }

    /// Opens an input with [`OpenOptions`].
    pub fn open_opts(path: &Path, opts: &OpenOptions) -> Result<Self, InputError> {
        let name = path_name(path);
        let stdin = path.as_os_str() == "-";
        let reader: Box<dyn Read + Send> = if stdin {
            Box::new(io::stdin())
        } else {
            Box::new(File::open(path).map_err(|source| InputError::Io {
                path: name.clone(),
                source,
            })?)
        };
        let mut r = Self::from_reader_opts(name, reader, opts)?;
        r.path = (!stdin).then(|| path.to_path_buf());
        Ok(r)
    }

    /// Like [`CaptureReader::from_reader`], hashing the stream as it is read.
    pub fn from_reader_hashed(
        name: String,
        reader: Box<dyn Read + Send>,
    ) -> Result<Self, InputError> {
        Self::from_reader_opts(
            name,
            reader,
            &OpenOptions {
                hash: true,
                hash_thread: true,
                inflate_thread: false,
                parse_thread: false,
                columns: None,
            },
        )
    }

    /// Reads an input from any byte stream with [`OpenOptions`]; `name` is used in messages.
    pub fn from_reader_opts(
        name: String,
        reader: Box<dyn Read + Send>,
        opts: &OpenOptions,
    ) -> Result<Self, InputError> {
        let mut r = Self::from_reader_helped(name, reader, opts)?;
        if opts.parse_thread {
            if let Inner::FlowLog(l) = &mut r.inner {
                r.parsing = l.parse_ahead();
            }
        }
        Ok(r)
    }

    /// [`CaptureReader::from_reader_opts`] but for the parsing helper.
    fn from_reader_helped(
        name: String,
        reader: Box<dyn Read + Send>,
        opts: &OpenOptions,
    ) -> Result<Self, InputError> {
        let ahead = opts.inflate_thread;
        if !opts.hash {
            return Self::from_reader_tapped(name, reader, opts.columns.as_ref(), None, ahead);
        }
        // A plain capture is hashed from the stream's own buffers, not from copies.
        let (magic, reader) = sniff(reader).map_err(|source| InputError::Io {
            path: name.clone(),
            source,
        })?;
        match detect(&magic) {
            Detected::Capture(CaptureFormat::Pcap | CaptureFormat::Pcapng) => {
                let raw = Arc::new(Mutex::new(Raw {
                    reader: Box::new(io::empty()),
                    hasher: BackgroundSha256::new(opts.hash_thread),
                    bytes: 0,
                }));
                let tap: Box<dyn stream::Tap> = Box::new(RawTap(raw.clone()));
                let columns = opts.columns.as_ref();
                let mut r = Self::from_reader_tapped(name, reader, columns, Some(tap), false)?;
                r.raw = Some(raw);
                r.tapped = true;
                Ok(r)
            }
            // With an inflating thread too: inflating is the slowest stage, and a gzip of
            // encrypted traffic hardly shrinks, so the hash has a thread of its own.
            _ => {
                Self::from_reader_teed(name, reader, opts, BackgroundSha256::new(opts.hash_thread))
            }
        }
    }

    /// Reads an input through a [`Tee`] into `hasher`.
    fn from_reader_teed(
        name: String,
        reader: Box<dyn Read + Send>,
        opts: &OpenOptions,
        hasher: BackgroundSha256,
    ) -> Result<Self, InputError> {
        let raw = Arc::new(Mutex::new(Raw {
            reader,
            hasher,
            bytes: 0,
        }));
        let tee = Box::new(Tee(raw.clone()));
        let mut r =
            Self::from_reader_tapped(name, tee, opts.columns.as_ref(), None, opts.inflate_thread)?;
        r.raw = Some(raw);
        Ok(r)
    }

    /// Size and SHA-256 of the whole input as stored, for a reader opened with hashing:
    /// whatever the packet reader did not consume (after damage, trailing bytes) is read
    /// and hashed now. `None` for readers opened without hashing.
    pub fn digest(&mut self) -> Option<Result<InputDigest, io::Error>> {
        if self.tapped {
            // What the packet reader left is read (and so hashed) by its stream.
            let drained = match &mut self.inner {
                Inner::Pcap(r) => r.drain(),
                Inner::Pcapng(r) => r.drain(),
                _ => Ok(()),
            };
            if let Err(e) = drained {
                return Some(Err(e));
            }
            self.tapped = false;
        }
        let raw = self.raw.as_ref()?;
        let mut raw = match raw.lock() {
            Ok(r) => r,
            Err(_) => return Some(Err(io::Error::other("input hasher poisoned"))),
        };
        let mut buf = vec![0u8; 1 << 16];
        loop {
            match raw.reader.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    raw.hasher.update(&buf[..n]);
                    raw.bytes += n as u64;
                }
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Some(Err(e)),
            }
        }
        let size = raw.bytes;
        Some(
            raw.hasher
                .finish()
                .map(|sha256| InputDigest { size, sha256 }),
        )
    }

    /// Reads a capture from any byte stream; `name` is used in messages.
    pub fn from_reader(name: String, reader: Box<dyn Read + Send>) -> Result<Self, InputError> {
        Self::from_reader_inner(name, reader, None)
    }

    fn from_reader_inner(
        name: String,
        reader: Box<dyn Read + Send>,
        columns: Option<&flowlog::ColumnMap>,
    ) -> Result<Self, InputError> {
        Self::from_reader_tapped(name, reader, columns, None, false)
    }

    /// [`CaptureReader::from_reader_inner`]; a pcap or pcapng stream shows what it reads to
    /// `tap`. Callers give a tap only for a stream sniffed as one of those, uncompressed. A
    /// compressed stream is decompressed on a helper thread when `ahead` is set (and one
    /// can be started).
    fn from_reader_tapped(
        name: String,
        reader: Box<dyn Read + Send>,
        columns: Option<&flowlog::ColumnMap>,
        mut tap: Option<Box<dyn stream::Tap>>,
        ahead: bool,
    ) -> Result<Self, InputError> {
        let stream = |reader, tap: &mut Option<Box<dyn stream::Tap>>| match tap.take() {
            Some(t) => ByteStream::tapped(reader, t),
            None => ByteStream::new(reader),
        };
        let io_err = |source| InputError::Io {
            path: name.clone(),
            source,
        };
        let (mut magic, mut reader) = sniff(reader).map_err(io_err)?;
        let mut compression = Compression::None;
        let mut inflating = false;
        let mut detected = detect(&magic);
        if let Detected::Compressed(c) = detected {
            compression = c;
            reader = match c {
                Compression::Gzip => Box::new(flate2::read::MultiGzDecoder::new(reader)),
                Compression::Zstd => {
                    Box::new(zstd::stream::read::Decoder::new(reader).map_err(io_err)?)
                }
                Compression::None => reader,
            };
            // In the same chunks on one thread or two: a damaged stream fails at the same
            // byte either way.
            let chunks = if ahead {
                ahead::Chunks::spawn("flowcore-inflate", reader)
                    .unwrap_or_else(ahead::Chunks::inline)
            } else {
                ahead::Chunks::inline(reader)
            };
            inflating = chunks.on_thread();
            reader = Box::new(chunks);
            let (m, r) = sniff(reader).map_err(|source| InputError::Format {
                path: name.clone(),
                offset: 0,
                what: format!("cannot decompress ({c:?}): {source}"),
            })?;
            magic = m;
            reader = r;
            detected = detect(&magic);
        }
        let unknown = |name: String, magic: &[u8]| InputError::NotCapture {
            path: name,
            what: if magic.is_empty() {
                "empty file: not a capture".to_string()
            } else {
                format!(
                    "not a pcap or pcapng capture, a NetFlow/IPFIX/sFlow export file, nor a flow log (nfdump CSV, Zeek conn.log, Suricata eve, flowcore CSV, or delimited text matching --columns) (first bytes {:02x?}; gzip and zstd are unwrapped)",
                    magic
                )
            },
        };
        let fmt_err = |d: Damage| InputError::Format {
            path: name.clone(),
            offset: d.offset,
            what: d.what,
        };
        let (format, inner) = match detected {
            Detected::Capture(CaptureFormat::Pcap) => {
                let r = pcap::PcapReader::new(stream(reader, &mut tap)).map_err(fmt_err)?;
                (CaptureFormat::Pcap, Inner::Pcap(r))
            }
            Detected::Capture(CaptureFormat::Pcapng) => {
                let r = pcapng::PcapngReader::new(stream(reader, &mut tap)).map_err(fmt_err)?;
                (CaptureFormat::Pcapng, Inner::Pcapng(r))
            }
            _ if is_export_magic(&magic) => (
                CaptureFormat::Export,
                Inner::Export(ExportFile {
                    stream: ByteStream::new(reader),
                    index: 0,
                    done: false,
                }),
            ),
            _ if magic.starts_with(b"PAR1") => {
                #[cfg(feature = "frame")]
                {
                    let t = parquet::TableRecords::read(&name, reader, columns)?;
                    (
                        CaptureFormat::FlowLog(flowlog::LogFormat::Parquet),
                        Inner::Table(Box::new(t)),
                    )
                }
                #[cfg(not(feature = "frame"))]
                return Err(InputError::Format {
                    path: name,
                    offset: 0,
                    what: "a Parquet table: reading it needs flowcore's `frame` feature".into(),
                });
            }
            _ if magic.is_empty() => return Err(unknown(name, &magic)),
            _ => {
                let mut st = ByteStream::new(reader);
                let have = st.fill(1 << 16).map_err(io_err)?;
                let Some(f) = flowlog::detect(&st.available()[..have], columns) else {
                    return Err(unknown(name, &magic));
                };
                let r = flowlog::LogReader::new(st, f, columns.cloned());
                (CaptureFormat::FlowLog(f), Inner::FlowLog(Box::new(r)))
            }
        };
        if tap.is_some() {
            // Not a capture after all: its digest would miss every byte.
            return Err(InputError::Format {
                path: name,
                offset: 0,
                what: "internal: a hashed stream was not read as a capture".into(),
            });
        }
        Ok(CaptureReader {
            inner,
            name,
            format,
            compression,
            raw: None,
            path: None,
            tapped: false,
            ahead: inflating,
            parsing: false,
        })
    }

    /// A live capture on `iface` through libpcap (cargo feature `libpcap`), read in windows
    /// of wall-clock time: see [`CaptureReader::set_window_end`]. Its format is reported
    /// as pcap and its name as `live:IFACE`.
    #[cfg(feature = "libpcap")]
    pub fn live(iface: &str, snaplen: i32, bpf: Option<&str>) -> Result<Self, InputError> {
        let r = libpcap::LiveReader::open(iface, snaplen, bpf)?;
        Ok(CaptureReader {
            name: r.name().to_string(),
            inner: Inner::Live(Box::new(r)),
            format: CaptureFormat::Pcap,
            compression: Compression::None,
            raw: None,
            path: None,
            tapped: false,
            ahead: false,
            parsing: false,
        })
    }

    /// For a live capture: the current window ends at `until` (the reader then reports the
    /// end of input; set a new end to read the next window). No effect on files.
    #[cfg(feature = "libpcap")]
    pub fn set_window_end(&mut self, until: Option<std::time::Instant>) {
        if let Inner::Live(r) = &mut self.inner {
            r.set_window_end(until);
        }
    }

    /// For a live capture: packets received, dropped by the kernel, dropped by the
    /// interface, as libpcap reports them.
    #[cfg(feature = "libpcap")]
    pub fn live_drops(&mut self) -> Option<(u32, u32, u32)> {
        match &mut self.inner {
            Inner::Live(r) => r.drops(),
            _ => None,
        }
    }

    /// The input's name (its path as [`path_name`] writes it, or `-`).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// The file it was opened from, to open again ([`CaptureReader::open_opts`]; not for
    /// standard input or a reader given by the caller).
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// The container format.
    pub fn format(&self) -> CaptureFormat {
        self.format
    }

    /// The compression it was wrapped in.
    pub fn compression(&self) -> Compression {
        self.compression
    }

    /// Whether it is decompressed on a helper thread ([`OpenOptions::inflate_thread`]):
    /// that thread then takes a core of its own.
    pub fn inflates_ahead(&self) -> bool {
        self.ahead
    }

    /// Whether a JSON log's lines are parsed on a helper thread as well
    /// ([`OpenOptions::parse_thread`]): that thread then takes a core of its own.
    pub fn parses_ahead(&self) -> bool {
        self.parsing
    }

    /// Link type of a classic pcap file (pcapng has one per interface).
    pub fn pcap_link_type(&self) -> Option<u16> {
        match &self.inner {
            Inner::Pcap(r) => Some(r.link_type()),
            #[cfg(feature = "libpcap")]
            Inner::Live(r) => Some(r.link_type()),
            _ => None,
        }
    }

    /// pcapng blocks skipped because they carry no packets (statistics, names, custom).
    pub fn skipped_blocks(&self) -> u64 {
        match &self.inner {
            Inner::Pcapng(r) => r.skipped_blocks,
            Inner::FlowLog(r) => r.other_lines,
            _ => 0,
        }
    }

    /// The next message of a raw export file (`Ok(None)` at the end, and always for
    /// captures), or `Err(Damage)` once where the file stops being export messages.
    pub fn next_datagram(&mut self) -> Result<Option<RawDatagram<'_>>, Damage> {
        let Inner::Export(f) = &mut self.inner else {
            return Ok(None);
        };
        if f.done {
            return Ok(None);
        }
        let offset = f.stream.offset();
        let have = f.stream.fill(1 << 16).map_err(|e| {
            f.done = true;
            Damage::io(offset, &e)
        })?;
        if have == 0 {
            f.done = true;
            return Ok(None);
        }
        let avail = &f.stream.available()[..have.min(1 << 16)];
        let Some((kind, len)) = export::ExportDecoder::datagram_len(avail) else {
            f.done = true;
            return Err(Damage::new(
                offset,
                format!("not a NetFlow/IPFIX/sFlow message ({have} bytes left)"),
            ));
        };
        f.index += 1;
        let index = f.index;
        let data = f.stream.take(len.max(1).min(have));
        Ok(Some(RawDatagram {
            index,
            offset,
            kind,
            data,
        }))
    }

    /// The next record of a flow log (`Ok(None)` at the end, and always for captures and
    /// export files): a record, or a line that is not a usable record (with its offset).
    /// `Err(Damage)` once when the log cannot be read further.
    pub fn next_log_item(&mut self) -> Result<Option<flowlog::LogItem>, Damage> {
        match &mut self.inner {
            Inner::FlowLog(r) => r.next_item(),
            #[cfg(feature = "frame")]
            Inner::Table(t) => Ok(t.next_item()),
            _ => Ok(None),
        }
    }

    /// The next packet, `Ok(None)` at the end, or `Err(Damage)` once when the rest of the
    /// file is unusable (the stream then ends).
    #[inline]
    pub fn next_packet(&mut self) -> Result<Option<RawPacket<'_>>, Damage> {
        match &mut self.inner {
            Inner::Pcap(r) => r.next_packet(),
            Inner::Pcapng(r) => r.next_packet(),
            Inner::Export(_) | Inner::FlowLog(_) => Ok(None),
            #[cfg(feature = "frame")]
            Inner::Table(_) => Ok(None),
            #[cfg(feature = "libpcap")]
            Inner::Live(r) => r.next_packet(),
        }
    }
}

/// One input to read: a file path or standard input.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InputSpec {
    /// A file named on the command line (must be a capture).
    File(std::path::PathBuf),
    /// A file found by walking a directory (non-captures are skipped with a warning).
    FoundInDir(std::path::PathBuf),
    /// Standard input (`-`).
    Stdin,
}

impl InputSpec {
    /// The path (or `-`).
    pub fn path(&self) -> &Path {
        match self {
            InputSpec::File(p) | InputSpec::FoundInDir(p) => p,
            InputSpec::Stdin => Path::new("-"),
        }
    }
}

/// Expands command-line inputs: `-` is standard input, a directory is walked recursively
/// with its files sorted by path (symbolic links to directories are not followed), and
/// anything else is a file. Errors name the path that could not be listed.
pub fn collect_inputs(args: &[std::path::PathBuf]) -> Result<Vec<InputSpec>, InputError> {
    collect_inputs_noting(args).map(|(specs, _)| specs)
}

/// An entry of a directory input that is not read as an input, and why: anything but a
/// regular file or a link to one (a named pipe would block the run, a device never ends).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SkippedEntry {
    /// The entry.
    pub path: std::path::PathBuf,
    /// What it is (`a named pipe`, `a symbolic link to nothing`, ...).
    pub what: &'static str,
}

impl fmt::Display for SkippedEntry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {}, not a capture file",
            path_name(&self.path),
            self.what
        )
    }
}

/// [`collect_inputs`], also returning the directory entries it left out (sorted by path),
/// so that a caller can say so rather than lose them silently.
pub fn collect_inputs_noting(
    args: &[std::path::PathBuf],
) -> Result<(Vec<InputSpec>, Vec<SkippedEntry>), InputError> {
    let mut out = Vec::new();
    let mut skipped = Vec::new();
    for a in args {
        if a.as_os_str() == "-" {
            out.push(InputSpec::Stdin);
        } else if a.is_dir() {
            let mut found = Vec::new();
            walk(a, &mut found, &mut skipped)?;
            found.sort();
            out.extend(found.into_iter().map(InputSpec::FoundInDir));
        } else {
            out.push(InputSpec::File(a.clone()));
        }
    }
    skipped.sort_by(|a: &SkippedEntry, b| a.path.cmp(&b.path));
    Ok((out, skipped))
}

fn walk(
    dir: &Path,
    out: &mut Vec<std::path::PathBuf>,
    skipped: &mut Vec<SkippedEntry>,
) -> Result<(), InputError> {
    let err = |source| InputError::Io {
        path: path_name(dir),
        source,
    };
    for entry in std::fs::read_dir(dir).map_err(err)? {
        let entry = entry.map_err(err)?;
        let ft = entry.file_type().map_err(err)?;
        let p = entry.path();
        let what = if ft.is_dir() {
            walk(&p, out, skipped)?;
            continue;
        } else if ft.is_file() {
            out.push(p);
            continue;
        } else if ft.is_symlink() {
            match std::fs::metadata(&p) {
                Ok(m) if m.is_file() => {
                    out.push(p);
                    continue;
                }
                Ok(m) if m.is_dir() => "a symbolic link to a directory (not followed)",
                Ok(m) => special_kind(m.file_type()),
                Err(_) => "a symbolic link to nothing",
            }
        } else {
            special_kind(ft)
        };
        skipped.push(SkippedEntry { path: p, what });
    }
    Ok(())
}

/// What a file that is neither regular nor a directory is.
fn special_kind(ft: std::fs::FileType) -> &'static str {
    #[cfg(unix)]
    {
        use std::os::unix::fs::FileTypeExt;
        if ft.is_fifo() {
            return "a named pipe";
        }
        if ft.is_socket() {
            return "a socket";
        }
        if ft.is_char_device() || ft.is_block_device() {
            return "a device";
        }
    }
    let _ = ft;
    "not a regular file"
}

#[cfg(test)]
mod tests;
