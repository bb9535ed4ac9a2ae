//! Writers for flow records: `table` for people, `json`, `ndjson` and `csv` for tools.
//! The field names and order are the documented schema (docs/flows-schema.md) and do not
//! change silently.

use std::io::{self, Write};
use std::net::IpAddr;

use crate::decode::{proto, SkipReason};
use crate::flow::{tcp_flags, FlowRecord};
use crate::pipeline::InputSummary;
use crate::time::push_rfc3339;

pub mod analysis;
pub mod baseline;
pub mod capture;
pub mod ecs;
#[cfg(feature = "frame")]
pub mod frame;
pub mod html;

pub use crate::decode::{mac_str, proto_name};

/// Output formats of flow records.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FlowFormat {
    /// Aligned text columns, sorted by first packet.
    Table,
    /// One JSON document: schema id, per-input accounting and the flows (sorted).
    Json,
    /// One JSON object per flow per line, streamed as flows finish.
    Ndjson,
    /// RFC 4180 CSV with a header row, streamed as flows finish.
    Csv,
    /// A Parquet table (typed columns; the `frame` feature), sorted like `json`.
    Parquet,
    /// One JSON object per flow per line with Elastic Common Schema field names
    /// ([`ecs::flow_ecs`]), streamed.
    Ecs,
}

impl FlowFormat {
    /// Whether a [`FlowWriter`] holds the records until [`FlowWriter::finish`] (the sorted
    /// formats) rather than writing each at once.
    pub fn holds(self) -> bool {
        matches!(
            self,
            FlowFormat::Table | FlowFormat::Json | FlowFormat::Parquet
        )
    }
}

/// Identifier of the flow schema written by the JSON and CSV formats.
pub const FLOW_SCHEMA: &str = "flowcore.flow/1";

/// The flow schema's keys, in order, once: the column names and what the NDJSON writer
/// puts before each value.
macro_rules! flow_keys {
    ($first:literal $(, $k:literal)* $(,)?) => {
        /// Field names of a flow record, in order: the NDJSON object's keys and the CSV
        /// header.
        pub const FLOW_COLUMNS: [&str; 43] = [$first $(, $k)*];
        /// Each key as [`flow_json`] writes it: the object's opening brace or the comma
        /// before it, the quoted name and the colon (one push per field instead of four).
        const FLOW_JSON_KEYS: [&str; 43] =
            [concat!("{\"", $first, "\":") $(, concat!(",\"", $k, "\":"))*];
    };
}

flow_keys!(
    "src_ip",
    "dst_ip",
    "src_port",
    "dst_port",
    "proto",
    "icmp_id",
    "vlan",
    "inner_vlan",
    "first_ts",
    "last_ts",
    "fwd_packets",
    "fwd_bytes",
    "rev_packets",
    "rev_bytes",
    "fwd_first_ts",
    "fwd_last_ts",
    "rev_first_ts",
    "rev_last_ts",
    "tcp_flags",
    "fwd_tcp_flags",
    "rev_tcp_flags",
    "state",
    "flipped",
    "continued",
    "end_reason",
    "community_id",
    "tunnel_type",
    "tunnel_src_ip",
    "tunnel_dst_ip",
    "tunnel_id",
    "src_mac",
    "dst_mac",
    "ports_known",
    "initiator_known",
    "source",
    "exporter",
    "observation_domain",
    "in_if",
    "out_if",
    "sampling_rate",
    "file",
    "first_packet_index",
    "first_packet_offset",
);

/// What a report says about the run itself, beyond its inputs: what ran it and how, and
/// (only when asked) when. Everything else in a report follows from the inputs, so the same
/// inputs and command line give a byte-identical report.
#[derive(Debug, Clone, Default)]
pub struct RunContext {
    /// The command line, one element per argument.
    pub command_line: Vec<String>,
    /// Wall-clock time the report was made; `None` (the default) keeps the report
    /// reproducible.
    pub generated_at: Option<crate::time::TimestampNs>,
    /// Export decoder counters of the run (templates, pending data, refusals).
    pub exports: crate::input::export::ExportStats,
}

impl RunContext {
    /// The context of this process: its command line, no time stamp.
    pub fn from_env() -> Self {
        RunContext {
            command_line: std::env::args_os()
                .map(|a| crate::text::os_text(&a))
                .collect(),
            ..Default::default()
        }
    }

    /// The JSON members `"tool"`, `"version"`, `"command_line"`, `"generated_at"` (when
    /// set) and `"exports"`, without braces.
    pub fn json_members(&self) -> String {
        let mut s = format!(
            "\"tool\":\"flowcore\",\"version\":\"{}\",\"command_line\":",
            env!("CARGO_PKG_VERSION")
        );
        s.push_str(&serde_json::to_string(&self.command_line).unwrap_or_default());
        if let Some(t) = self.generated_at {
            s.push_str(",\"generated_at\":\"");
            push_rfc3339(&mut s, t);
            s.push('"');
        }
        s.push_str(",\"exports\":");
        s.push_str(&serde_json::to_string(&self.exports).unwrap_or_default());
        s
    }
}

/// Writes flow records in one format. Streaming formats write each record at once;
/// `table` and `json` keep records until [`FlowWriter::finish`] and sort them by
/// (input, first packet index) so the output never depends on eviction order.
pub struct FlowWriter<W: Write> {
    format: FlowFormat,
    out: W,
    inputs: Vec<String>,
    held: Vec<FlowRecord>,
    line: String,
    header_done: bool,
    context: RunContext,
    threads: usize,
}

impl<W: Write> FlowWriter<W> {
    /// A writer to `out`.
    pub fn new(format: FlowFormat, out: W) -> Self {
        FlowWriter {
            format,
            out,
            inputs: Vec::new(),
            held: Vec::new(),
            line: String::with_capacity(512),
            header_done: false,
            context: RunContext::default(),
            threads: 1,
        }
    }

    /// Lets [`FlowWriter::write_all`] and the JSON document format records on up to
    /// `threads` threads ([`write_in_order`]); the bytes are the same whatever the count.
    pub fn set_threads(&mut self, threads: usize) {
        self.threads = threads.max(1);
    }

    /// Writes (or, for sorted formats, keeps) `recs` in order: the same as
    /// [`FlowWriter::write`] of each, with the streaming formats' rows formatted on the
    /// threads [`FlowWriter::set_threads`] allows. For one input's records at a time, as
    /// parallel runs hand them over.
    pub fn write_all(&mut self, recs: Vec<FlowRecord>) -> io::Result<()> {
        if self.format.holds() {
            self.held.extend(recs);
            return Ok(());
        }
        self.csv_header()?;
        let (format, inputs) = (self.format, &self.inputs);
        write_in_order(&recs, self.threads, &mut self.out, |_, r, s| {
            push_row(format, inputs, r, s);
        })
    }

    /// Sets what the JSON document says about the run (command line, export counters,
    /// time stamp); call before [`FlowWriter::finish`].
    pub fn set_context(&mut self, context: RunContext) {
        self.context = context;
    }

    /// Registers the name of the next input; records refer to inputs by their number.
    pub fn add_input(&mut self, name: &str) -> u32 {
        self.inputs.push(name.to_string());
        (self.inputs.len() - 1) as u32
    }

    /// Writes (or, for sorted formats, keeps) one record.
    pub fn write(&mut self, rec: &FlowRecord) -> io::Result<()> {
        if self.format.holds() {
            self.held.push(rec.clone());
            return Ok(());
        }
        self.csv_header()?;
        self.line.clear();
        push_row(self.format, &self.inputs, rec, &mut self.line);
        self.out.write_all(self.line.as_bytes())
    }

    /// The CSV header, before the first row (once; nothing for other formats).
    fn csv_header(&mut self) -> io::Result<()> {
        if self.format != FlowFormat::Csv || self.header_done {
            return Ok(());
        }
        self.header_done = true;
        let h = FLOW_COLUMNS.join(",") + "\n";
        self.out.write_all(h.as_bytes())
    }

    /// Writes what was held and the accounting (json), then flushes.
    pub fn finish(mut self, summaries: &[InputSummary], errors: &[String]) -> io::Result<W> {
        sort_flows(&mut self.held);
        self.csv_header()?;
        match self.format {
            FlowFormat::Json => {
                let mut s = String::new();
                s.push_str("{\"schema\":\"");
                s.push_str(FLOW_SCHEMA);
                s.push_str("\",");
                s.push_str(&self.context.json_members());
                s.push_str(",\"inputs\":[");
                for (i, sum) in summaries.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    summary_json(sum, &mut s);
                }
                s.push_str("],\"errors\":[");
                for (i, e) in errors.iter().enumerate() {
                    if i > 0 {
                        s.push(',');
                    }
                    json_str(&mut s, e);
                }
                s.push_str("],\"flows\":[");
                self.out.write_all(s.as_bytes())?;
                let inputs = &self.inputs;
                write_in_order(&self.held, self.threads, &mut self.out, |i, r, line| {
                    if i > 0 {
                        line.push(',');
                    }
                    line.push('\n');
                    flow_json(r, file_name(inputs, r.input), line);
                })?;
                self.out.write_all(b"\n]}\n")?;
            }
            FlowFormat::Table => {
                let t = table(&self.held);
                self.out.write_all(t.as_bytes())?;
            }
            FlowFormat::Parquet => {
                #[cfg(feature = "frame")]
                {
                    let mut df = frame::flows_frame(&self.held, &self.inputs)
                        .map_err(|e| io::Error::other(e.to_string()))?;
                    frame::write_parquet(&mut df, &mut self.out)
                        .map_err(|e| io::Error::other(e.to_string()))?;
                }
                #[cfg(not(feature = "frame"))]
                return Err(io::Error::other(
                    "Parquet output needs flowcore's `frame` feature",
                ));
            }
            _ => {}
        }
        self.out.flush()?;
        Ok(self.out)
    }
}

/// Appends `r`'s row in a streaming format (NDJSON, ECS, CSV), naming its input from
/// `inputs`; nothing for the formats a [`FlowWriter`] holds.
fn push_row(format: FlowFormat, inputs: &[String], r: &FlowRecord, s: &mut String) {
    let file = file_name(inputs, r.input);
    match format {
        FlowFormat::Ndjson => {
            flow_json(r, file, s);
            s.push('\n');
        }
        FlowFormat::Ecs => {
            s.push_str(&ecs::flow_ecs(r, file).to_string());
            s.push('\n');
        }
        FlowFormat::Csv => flow_csv(r, file, s),
        FlowFormat::Table | FlowFormat::Json | FlowFormat::Parquet => {}
    }
}

/// Sorts flow records as the sorted reports list them: by input, then first packet.
pub fn sort_flows(flows: &mut [FlowRecord]) {
    flows.sort_by_key(|r| {
        (
            r.input,
            r.first_packet_index,
            r.first_ts,
            r.src_port,
            r.dst_port,
        )
    });
}

/// Items formatted per piece by [`write_in_order`].
const PIECE: usize = 1024;
/// Bytes [`write_in_order`] gathers before handing them to its writer.
const FLUSH_AT: usize = 1 << 16;

/// Writes `items` to `out` in order, each formatted by `format(index, item, buf)`
/// appending to `buf`, on up to `threads` threads: the calling thread and its helpers take
/// turns at pieces of 1 024 items, and the calling thread writes the pieces in order,
/// so the bytes are exactly those of one thread formatting everything. A report's tens of
/// thousands of findings were a serial tail of the run, formatted while the other cores
/// had nothing left to do. With `threads` ≤ 1, or too few items to share, everything is
/// formatted on the calling thread. A write error stops the helpers and is returned.
pub fn write_in_order<T: Sync>(
    items: &[T],
    threads: usize,
    out: &mut (impl Write + ?Sized),
    format: impl Fn(usize, &T, &mut String) + Sync,
) -> io::Result<()> {
    let pieces = items.len().div_ceil(PIECE);
    let threads = threads.clamp(1, pieces.max(1));
    let mut buf = String::with_capacity(FLUSH_AT + 4096);
    // Piece `p`'s items with their indices.
    let piece = |p: usize| items.iter().enumerate().skip(p * PIECE).take(PIECE);
    let own = |p: usize, buf: &mut String, out: &mut dyn FnMut(&str) -> io::Result<()>| {
        for (i, item) in piece(p) {
            format(i, item, buf);
            if buf.len() >= FLUSH_AT {
                out(buf)?;
                buf.clear();
            }
        }
        Ok::<(), io::Error>(())
    };
    std::thread::scope(|scope| {
        // Helper `k` formats pieces k, k + threads, k + 2 × threads, … and sends each
        // whole; the channel holds one piece ahead, so at most two per helper are held.
        // Written pieces go back to their helper, whose next piece reuses the memory.
        // A helper that cannot be started (the system's thread limit) leaves its pieces
        // to the calling thread.
        let mut from = Vec::with_capacity(threads - 1);
        for k in 1..threads {
            let (tx, rx) = std::sync::mpsc::sync_channel::<String>(1);
            let (back, spare) = std::sync::mpsc::sync_channel::<String>(2);
            let (format, piece) = (&format, &piece);
            let started = std::thread::Builder::new().spawn_scoped(scope, move || {
                for p in (k..pieces).step_by(threads) {
                    let mut s = spare.try_recv().unwrap_or_default();
                    s.clear();
                    for (i, item) in piece(p) {
                        format(i, item, &mut s);
                    }
                    if tx.send(s).is_err() {
                        return; // the writer stopped
                    }
                }
            });
            from.push(started.ok().map(|_| (rx, back)));
        }
        let mut write = |b: &str| out.write_all(b.as_bytes());
        for p in 0..pieces {
            let helper = match p % threads {
                0 => None,
                k => from.get(k - 1).and_then(Option::as_ref),
            };
            match helper {
                None => own(p, &mut buf, &mut write)?,
                Some((rx, back)) => {
                    let piece = rx
                        .recv()
                        .map_err(|_| io::Error::other("a report formatting thread failed"))?;
                    write(&buf)?;
                    buf.clear();
                    write(&piece)?;
                    let _ = back.try_send(piece);
                }
            }
        }
        write(&buf)
    })
}

fn file_name(inputs: &[String], input: u32) -> &str {
    inputs.get(input as usize).map_or("", String::as_str)
}

/// Appends `s` as a JSON string, escaped byte for byte as serde_json escapes it: `"` and
/// `\\`, the short forms `\b \t \n \f \r`, other control characters as `\u00xx`, and
/// nothing else (not `/`, not DEL, not non-ASCII). Runs that need no escaping are copied
/// whole; nothing is allocated.
pub(crate) fn json_str(out: &mut String, s: &str) {
    out.push('"');
    if !needs_escape(s.as_bytes()) {
        out.push_str(s);
        out.push('"');
        return;
    }
    let mut run = 0;
    for (i, &b) in s.as_bytes().iter().enumerate() {
        let short = match b {
            b'"' => '"',
            b'\\' => '\\',
            0x08 => 'b',
            b'\t' => 't',
            b'\n' => 'n',
            0x0c => 'f',
            b'\r' => 'r',
            0..=0x1f => 'u',
            _ => continue,
        };
        // `i` is at an ASCII byte, so both cuts fall on character boundaries.
        out.push_str(s.get(run..i).unwrap_or_default());
        run = i + 1;
        out.push('\\');
        out.push(short);
        if short == 'u' {
            out.push_str("00");
            crate::text::push_byte(out, b);
        }
    }
    out.push_str(s.get(run..).unwrap_or_default());
    out.push('"');
}

/// Whether any byte of `b` is one [`json_str`] escapes (`"`, `\\` or below 0x20), eight
/// bytes at a time: a byte below 0x20 makes `w - 0x20…` borrow into its high bit, an equal
/// one makes `(w ^ c) - 0x01…` borrow, and the `& !w` masks keep bytes that were already
/// 0x80 or more out (the test is exact for "any byte").
fn needs_escape(b: &[u8]) -> bool {
    const ONES: u64 = u64::from_ne_bytes([1; 8]);
    const HIGH: u64 = ONES << 7;
    let mut words = b.chunks_exact(8);
    for c in &mut words {
        let w = u64::from_le_bytes(<[u8; 8]>::try_from(c).unwrap_or_default());
        let q = w ^ (ONES * u64::from(b'"'));
        let bs = w ^ (ONES * u64::from(b'\\'));
        let hit = (w.wrapping_sub(ONES * 0x20) & !w)
            | (q.wrapping_sub(ONES) & !q)
            | (bs.wrapping_sub(ONES) & !bs);
        if hit & HIGH != 0 {
            return true;
        }
    }
    words
        .remainder()
        .iter()
        .any(|&b| b < 0x20 || b == b'"' || b == b'\\')
}

/// One field value of a flow record.
enum V<'a> {
    Null,
    U(u64),
    Bool(bool),
    /// The flow's Community ID, which never needs escaping.
    CommunityId(&'a FlowRecord),
    /// A name that never needs escaping.
    Static(&'static str),
    /// An address, printed as `IpAddr` displays it.
    Ip(IpAddr),
    /// A MAC address, `aa:bb:cc:dd:ee:ff`.
    Mac([u8; 6]),
    /// A string from outside (file names): escaped in JSON, quoted in CSV as needed.
    Text(&'a str),
    Ts(i64),
}

/// The schema in one place: every field of a flow record, in order, handed to `f` as
/// `(position, name, value)`. The JSON, CSV and table writers only differ in how they
/// print a value; none builds an array of the values first.
#[inline(always)]
fn visit_flow_fields<'a>(
    r: &'a FlowRecord,
    file: &'a str,
    mut f: impl FnMut(usize, &'static str, V<'a>),
) {
    let opt = |v: Option<u16>| v.map_or(V::Null, |v| V::U(u64::from(v)));
    let mac = |m: Option<[u8; 6]>| m.map_or(V::Null, V::Mac);
    let t = r.tunnel.as_ref();
    let e = r.export.as_ref();
    let mut i = 0;
    let mut field = |name: &'static str, v: V<'a>| {
        f(i, name, v);
        i += 1;
    };
    field("src_ip", V::Ip(r.src_ip));
    field("dst_ip", V::Ip(r.dst_ip));
    field("src_port", V::U(r.src_port.into()));
    field("dst_port", V::U(r.dst_port.into()));
    field("proto", V::U(r.proto.into()));
    field("icmp_id", opt(r.icmp_id));
    field("vlan", opt(r.vlan));
    field("inner_vlan", opt(r.inner_vlan));
    field("first_ts", V::Ts(r.first_ts));
    field("last_ts", V::Ts(r.last_ts));
    field("fwd_packets", V::U(r.fwd.packets));
    field("fwd_bytes", V::U(r.fwd.bytes));
    field("rev_packets", V::U(r.rev.packets));
    field("rev_bytes", V::U(r.rev.bytes));
    field("fwd_first_ts", dir_ts(&r.fwd, r.fwd.first_ts));
    field("fwd_last_ts", dir_ts(&r.fwd, r.fwd.last_ts));
    field("rev_first_ts", dir_ts(&r.rev, r.rev.first_ts));
    field("rev_last_ts", dir_ts(&r.rev, r.rev.last_ts));
    field(
        "tcp_flags",
        V::U((r.fwd.tcp_flags | r.rev.tcp_flags).into()),
    );
    field("fwd_tcp_flags", V::U(r.fwd.tcp_flags.into()));
    field("rev_tcp_flags", V::U(r.rev.tcp_flags.into()));
    field("state", V::Static(r.state.as_str()));
    field("flipped", V::Bool(r.flipped));
    field("continued", V::Bool(r.continued));
    field("end_reason", V::Static(r.end_reason.as_str()));
    field("community_id", V::CommunityId(r));
    field(
        "tunnel_type",
        t.map_or(V::Null, |t| V::Static(tunnel_kind(t.kind))),
    );
    field("tunnel_src_ip", t.map_or(V::Null, |t| V::Ip(t.src)));
    field("tunnel_dst_ip", t.map_or(V::Null, |t| V::Ip(t.dst)));
    field(
        "tunnel_id",
        t.and_then(|t| t.id).map_or(V::Null, |v| V::U(v.into())),
    );
    field("src_mac", mac(r.src_mac));
    field("dst_mac", mac(r.dst_mac));
    field("ports_known", V::Bool(r.ports_known));
    field("initiator_known", V::Bool(r.initiator_known));
    field("source", V::Static(source_name(r)));
    field("exporter", e.map_or(V::Null, |e| V::Ip(e.exporter)));
    field(
        "observation_domain",
        e.map_or(V::Null, |e| V::U(e.domain.into())),
    );
    field("in_if", e.map_or(V::Null, |e| V::U(e.in_if.into())));
    field("out_if", e.map_or(V::Null, |e| V::U(e.out_if.into())));
    field(
        "sampling_rate",
        e.map_or(V::Null, |e| V::U(e.sampling.into())),
    );
    field("file", V::Text(file));
    field("first_packet_index", V::U(r.first_packet_index));
    field("first_packet_offset", V::U(r.first_packet_offset));
}

impl V<'_> {
    /// Appends a plain value (a string needing no escaping) as it is; false for others.
    fn push_plain(&self, s: &mut String) -> bool {
        match self {
            V::CommunityId(r) => r.push_community_id(s),
            V::Static(p) => s.push_str(p),
            V::Ip(a) => push_ip(s, *a),
            V::Mac(m) => {
                for (i, &b) in m.iter().enumerate() {
                    if i > 0 {
                        s.push(':');
                    }
                    crate::text::push_byte(s, b);
                }
            }
            _ => return false,
        }
        true
    }

    /// The plain value as a `String` (for table columns).
    #[cfg_attr(not(feature = "frame"), allow(dead_code))]
    fn plain_string(self) -> Option<String> {
        let mut s = String::new();
        self.push_plain(&mut s).then_some(s)
    }
}

pub(crate) use crate::text::{push_ip, push_u64};

/// A direction's timestamp, or null when that direction has no packets.
fn dir_ts<'a>(d: &crate::flow::DirStats, ts: i64) -> V<'a> {
    if d.packets == 0 {
        V::Null
    } else {
        V::Ts(ts)
    }
}

/// Appends the NDJSON object of one flow (schema `flowcore.flow/1`).
pub fn flow_json(r: &FlowRecord, file: &str, s: &mut String) {
    visit_flow_fields(r, file, |i, name, v| push_json_field(s, i, name, v));
    s.push('}');
}

/// Field `i` of [`flow_json`]'s object: its key, then its value.
#[inline]
fn push_json_field(s: &mut String, i: usize, name: &str, v: V<'_>) {
    let key = FLOW_JSON_KEYS.get(i).copied().unwrap_or_default();
    debug_assert_eq!(key.get(2..key.len() - 2), Some(name), "keys out of order");
    s.push_str(key);
    match v {
        V::Null => s.push_str("null"),
        V::U(n) => push_u64(s, n),
        V::Bool(b) => s.push_str(if b { "true" } else { "false" }),
        V::Text(t) => json_str(s, t),
        V::Ts(t) => {
            s.push('"');
            push_rfc3339(s, t);
            s.push('"');
        }
        v => {
            s.push('"');
            v.push_plain(s);
            s.push('"');
        }
    }
}

/// Where a flow record came from: `packets`, `netflow5`, `netflow9`, `ipfix` or `sflow`.
pub fn source_name(r: &FlowRecord) -> &'static str {
    use crate::input::export::ExportKind;
    match r.export.as_ref().map(|e| e.kind) {
        None => "packets",
        Some(ExportKind::NetflowV5) => "netflow5",
        Some(ExportKind::NetflowV9) => "netflow9",
        Some(ExportKind::Ipfix) => "ipfix",
        Some(ExportKind::Sflow) => "sflow",
        Some(ExportKind::Nfdump) => "nfdump",
        Some(ExportKind::Zeek) => "zeek",
        Some(ExportKind::Suricata) => "suricata",
        Some(ExportKind::Table) => "table",
    }
}

fn tunnel_kind(k: crate::decode::TunnelKind) -> &'static str {
    match k {
        crate::decode::TunnelKind::Gre => "gre",
        crate::decode::TunnelKind::Vxlan => "vxlan",
        crate::decode::TunnelKind::Ipip => "ipip",
    }
}

/// Appends one CSV row (columns [`FLOW_COLUMNS`]; empty cells for nulls).
pub fn flow_csv(r: &FlowRecord, file: &str, s: &mut String) {
    visit_flow_fields(r, file, |i, _, v| {
        if i > 0 {
            s.push(',');
        }
        match v {
            V::Null => {}
            V::U(n) => push_u64(s, n),
            V::Bool(b) => s.push_str(if b { "true" } else { "false" }),
            V::Text(t) => push_csv_field(s, t),
            V::Ts(t) => push_rfc3339(s, t),
            v => {
                v.push_plain(s);
            }
        }
    });
    s.push('\n');
}

/// Appends one CSV field (RFC 4180): quoted, with doubled quotes, when it holds a comma,
/// a quote or a line break.
pub fn push_csv_field(s: &mut String, t: &str) {
    if t.contains([',', '"', '\n', '\r']) {
        s.push('"');
        s.push_str(&t.replace('"', "\"\""));
        s.push('"');
    } else {
        s.push_str(t);
    }
}

/// Appends CSV rows: a header of `names`, then every row.
pub fn push_csv_rows(s: &mut String, names: &[String], rows: &[Vec<String>]) {
    for row in std::iter::once(names).chain(rows.iter().map(Vec::as_slice)) {
        for (i, f) in row.iter().enumerate() {
            if i > 0 {
                s.push(',');
            }
            push_csv_field(s, f);
        }
        s.push('\n');
    }
}

fn summary_json(sum: &InputSummary, s: &mut String) {
    use std::fmt::Write;
    s.push_str("{\"file\":");
    json_str(s, &sum.name);
    match &sum.digest {
        Some(d) => {
            let _ = write!(s, ",\"size\":{},\"sha256\":\"{}\"", d.size, d.sha256);
        }
        None => s.push_str(",\"size\":null,\"sha256\":null"),
    }
    let _ = write!(
        s,
        ",\"format\":\"{}\",\"compression\":\"{}\",\"packets_read\":{},\"packets_decoded\":{},\"packets_skipped\":{{",
        sum.format.name(),
        match sum.compression {
            crate::input::Compression::None => "none",
            crate::input::Compression::Gzip => "gzip",
            crate::input::Compression::Zstd => "zstd",
        },
        sum.packets_read,
        sum.packets_decoded
    );
    for (i, r) in SkipReason::ALL.iter().enumerate() {
        if i > 0 {
            s.push(',');
        }
        let _ = write!(
            s,
            "\"{}\":{}",
            r.as_str(),
            sum.skipped.get(r).copied().unwrap_or(0)
        );
    }
    let ts = |t: Option<i64>| match t {
        Some(t) => {
            let mut x = String::from("\"");
            push_rfc3339(&mut x, t);
            x.push('"');
            x
        }
        None => "null".into(),
    };
    let _ = write!(
        s,
        "}},\"bytes_read\":{},\"first_ts\":{},\"last_ts\":{},\"blocks_skipped\":{},\"export_datagrams\":{},\"export_records\":{},\"export_records_filtered\":{},\"fragments\":{},\"flows\":{},\"damage\":",
        sum.bytes_read,
        ts(sum.first_ts),
        ts(sum.last_ts),
        sum.blocks_skipped,
        sum.export_datagrams,
        sum.export_records,
        sum.export_records_filtered,
        serde_json::to_string(&sum.fragments).unwrap_or_default(),
        serde_json::to_string(&sum.flows).unwrap_or_default(),
    );
    match &sum.damage {
        None => s.push_str("null"),
        Some(d) => {
            let _ = write!(s, "{{\"offset\":{},\"what\":", d.offset);
            json_str(s, &d.what);
            s.push('}');
        }
    }
    s.push('}');
}

fn fmt_ip_port(ip: IpAddr, port: u16, p: u8) -> String {
    match (ip, p) {
        (_, proto::TCP | proto::UDP | 132) => match ip {
            IpAddr::V4(_) => format!("{ip}:{port}"),
            IpAddr::V6(_) => format!("[{ip}]:{port}"),
        },
        _ => ip.to_string(),
    }
}

/// Renders records as an aligned text table.
pub fn table(recs: &[FlowRecord]) -> String {
    let header = [
        "first_ts", "proto", "src", "dst", "pkts>", "pkts<", "bytes>", "bytes<", "state", "flags",
        "tunnel",
    ];
    let mut rows: Vec<[String; 11]> = Vec::with_capacity(recs.len());
    for r in recs {
        let mut first = String::new();
        push_rfc3339(&mut first, r.first_ts);
        let p = if matches!(r.proto, proto::ICMP | proto::ICMPV6) {
            format!("{} {}/{}", proto_name(r.proto), r.src_port, r.dst_port)
        } else {
            proto_name(r.proto)
        };
        rows.push([
            first,
            p,
            fmt_ip_port(r.src_ip, r.src_port, r.proto),
            fmt_ip_port(r.dst_ip, r.dst_port, r.proto),
            r.fwd.packets.to_string(),
            r.rev.packets.to_string(),
            r.fwd.bytes.to_string(),
            r.rev.bytes.to_string(),
            r.state.as_str().to_string(),
            if r.proto == proto::TCP {
                tcp_flags::to_letters(r.fwd.tcp_flags | r.rev.tcp_flags)
            } else {
                "-".into()
            },
            r.tunnel.map_or("-".into(), |t| {
                format!("{}:{}>{}", tunnel_kind(t.kind), t.src, t.dst)
            }),
        ]);
    }
    let mut w = header.map(str::len);
    for row in &rows {
        for (i, c) in row.iter().enumerate() {
            w[i] = w[i].max(c.len());
        }
    }
    let mut out = String::new();
    let mut line = |cells: &[&str]| {
        for (i, c) in cells.iter().enumerate() {
            let right = (4..8).contains(&i);
            if right {
                out.push_str(&format!("{:>width$}", c, width = w[i]));
            } else if i + 1 == cells.len() {
                out.push_str(c);
            } else {
                out.push_str(&format!("{:<width$}", c, width = w[i]));
            }
            if i + 1 < cells.len() {
                out.push_str("  ");
            }
        }
        out.push('\n');
    };
    line(&header);
    for row in &rows {
        let cells: Vec<&str> = row.iter().map(String::as_str).collect();
        line(&cells);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A writer that fails once `room` bytes have been written.
    struct Full {
        room: usize,
        got: Vec<u8>,
    }

    impl Write for Full {
        fn write(&mut self, b: &[u8]) -> io::Result<usize> {
            if self.got.len() + b.len() > self.room {
                return Err(io::Error::other("disk full"));
            }
            self.got.extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    #[test]
    fn flows_written_on_threads_are_the_rows_written_one_by_one() {
        let mut reader = crate::input::CaptureReader::open(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../samples/ome-city-sample.pcap"
        )))
        .unwrap();
        let mut one = Vec::new();
        crate::pipeline::flows_from_capture(
            &mut reader,
            0,
            &crate::flow::FlowConfig::default(),
            &mut |r| one.push(r),
        );
        assert!(!one.is_empty());
        // Two inputs' worth of several pieces each, with distinct times.
        let mut recs = Vec::new();
        for k in 0..(2 * PIECE + 5) / one.len() + 1 {
            for r in &one {
                let mut r = r.clone();
                r.input = u32::from(k % 2 == 1);
                r.first_packet_index += k as u64;
                r.last_ts += k as i64 * 1_000_003;
                recs.push(r);
            }
        }
        for format in [
            FlowFormat::Ndjson,
            FlowFormat::Csv,
            FlowFormat::Ecs,
            FlowFormat::Json,
        ] {
            let write = |threads: Option<usize>| {
                let mut w = FlowWriter::new(format, Vec::new());
                w.add_input("a.pcap");
                w.add_input("b \"quoted\".pcap");
                match threads {
                    Some(n) => {
                        w.set_threads(n);
                        let (a, b) = recs.split_at(recs.len() / 3);
                        w.write_all(a.to_vec()).unwrap();
                        w.write_all(Vec::new()).unwrap();
                        w.write_all(b.to_vec()).unwrap();
                    }
                    None => recs.iter().for_each(|r| w.write(r).unwrap()),
                }
                String::from_utf8(w.finish(&[], &[]).unwrap()).unwrap()
            };
            let want = write(None);
            assert!(want.len() > recs.len() * 50, "{format:?}");
            for n in [1, 2, 3] {
                assert!(write(Some(n)) == want, "{format:?} on {n} threads");
            }
        }
    }

    #[test]
    fn formatting_on_threads_writes_the_bytes_of_one_thread() {
        // Items of varied length, formatted with their index, so that a piece out of
        // place or an item formatted twice shows.
        let format = |i: usize, n: &u64, out: &mut String| {
            out.push_str(&format!("{i}:{}\n", "x".repeat((*n % 97) as usize)));
        };
        for len in [0, 1, PIECE - 1, PIECE, PIECE + 1, 5 * PIECE + 3] {
            let items: Vec<u64> = (0..len as u64).map(|i| i * 7919 % 1013).collect();
            let mut want = String::new();
            for (i, n) in items.iter().enumerate() {
                format(i, n, &mut want);
            }
            for threads in [0, 1, 2, 3, 8] {
                let mut got = Vec::new();
                write_in_order(&items, threads, &mut got, format).unwrap();
                assert!(got == want.as_bytes(), "{len} items on {threads} threads");
            }
        }
    }

    #[test]
    fn a_write_error_stops_the_formatting_threads() {
        let items: Vec<u32> = (0..20 * PIECE as u32).collect();
        let format = |_: usize, n: &u32, out: &mut String| out.push_str(&format!("{n:08}\n"));
        for room in [0, 10, FLUSH_AT + 1, 9 * PIECE * 9 + 5] {
            for threads in [1, 2, 4] {
                let mut w = Full {
                    room,
                    got: Vec::new(),
                };
                let e = write_in_order(&items, threads, &mut w, format).unwrap_err();
                assert_eq!(e.to_string(), "disk full");
                // What was written is a prefix of the whole, in order.
                let whole: String = items.iter().map(|n| format!("{n:08}\n")).collect();
                assert!(whole.as_bytes().starts_with(&w.got), "{room} {threads}");
            }
        }
    }

    #[test]
    fn column_list_is_the_schema() {
        let mut r = FlowRecord::new(
            "10.0.0.1".parse().unwrap(),
            1,
            "10.0.0.2".parse().unwrap(),
            2,
            6,
            0,
        );
        r.first_packet_index = 1;
        r.first_packet_offset = 24;
        let mut names = Vec::new();
        visit_flow_fields(&r, "a,\"b", |i, n, _| names.push((i, n)));
        let names: Vec<&str> = names
            .into_iter()
            .enumerate()
            .map(|(at, (i, n))| {
                assert_eq!(at, i, "positions in order");
                n
            })
            .collect();
        assert_eq!(names, FLOW_COLUMNS);
        let mut csv = String::new();
        flow_csv(&r, "a,\"b", &mut csv);
        assert!(csv.contains(",\"a,\"\"b\","), "{csv}");
        let mut json = String::new();
        flow_json(&r, "a,\"b", &mut json);
        let v: serde_json::Value = serde_json::from_str(&json).unwrap();
        assert_eq!(v["file"], "a,\"b");
        assert_eq!(v.as_object().unwrap().len(), FLOW_COLUMNS.len());
    }
}
