//! Flow logs: text files of flow records written by other tools, read line by line and
//! streamed (bounded memory, every problem named by line and byte offset).
//!
//! - nfdump CSV (`nfdump -o csv`): header `ts,te,td,sa,da,sp,dp,pr,flg,...`. nfdump prints
//!   local time without an offset; [`ColumnMap::naive_offset_s`] says which (default UTC).
//! - Zeek `conn.log`, TSV (with its `#fields` header) and JSON lines.
//! - Suricata `eve.json` `flow` events (other event types are counted and passed over).
//! - Any delimited text (CSV, TSV, space-separated such as AWS VPC flow logs) with a
//!   [`ColumnMap`] that names the columns; flowcore's own flow CSV is read with the
//!   built-in map ([`ColumnMap::flowcore`]).
//!
//! Each line becomes an [`ExportRecord`] whose `datagram_index` is the line number and
//! `datagram_offset` the line's byte offset, so findings point back to the line.

use std::net::{IpAddr, Ipv4Addr};

use super::export::{ExportKind, ExportRecord, ExportWarning, BLANK};
use super::stream::ByteStream;
use super::Damage;
use crate::time::{parse_log_time, TimestampNs, NS_PER_SEC};

mod ahead;
mod json;
use json::J;

/// What Suricata writes in every flow event (built once: a searcher is not free to make).
static FLOW_EVENT: std::sync::LazyLock<memchr::memmem::Finder<'static>> =
    std::sync::LazyLock::new(|| memchr::memmem::Finder::new(br#""event_type":"flow""#));

/// Longest line read; longer ones are skipped with a warning.
pub const MAX_LINE: usize = 1 << 20;

/// The kind of flow log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum LogFormat {
    /// `nfdump -o csv`.
    NfdumpCsv,
    /// Zeek `conn.log`, tab-separated with `#` headers.
    ZeekTsv,
    /// Zeek `conn.log` as JSON lines.
    ZeekJson,
    /// Suricata eve JSON lines (`flow` events).
    SuricataEve,
    /// Delimited text read with a [`ColumnMap`].
    Delimited,
    /// A Parquet table read with a [`ColumnMap`] (flowcore's `frame` feature).
    Parquet,
}

impl LogFormat {
    /// Whether each line is a JSON object of its own (Zeek JSON, Suricata eve).
    pub fn is_json(self) -> bool {
        matches!(self, LogFormat::ZeekJson | LogFormat::SuricataEve)
    }

    /// Name used in reports.
    pub fn name(self) -> &'static str {
        match self {
            LogFormat::NfdumpCsv => "nfdump-csv",
            LogFormat::ZeekTsv => "zeek-tsv",
            LogFormat::ZeekJson => "zeek-json",
            LogFormat::SuricataEve => "suricata-eve",
            LogFormat::Delimited => "delimited",
            LogFormat::Parquet => "parquet",
        }
    }

    /// The export kind records of this log carry.
    pub fn kind(self) -> ExportKind {
        match self {
            LogFormat::NfdumpCsv => ExportKind::Nfdump,
            LogFormat::ZeekTsv | LogFormat::ZeekJson => ExportKind::Zeek,
            LogFormat::SuricataEve => ExportKind::Suricata,
            LogFormat::Delimited | LogFormat::Parquet => ExportKind::Table,
        }
    }
}

/// Which column of a delimited flow log (or of a Parquet table) holds what. Column names
/// are matched exactly against the header row.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ColumnMap {
    /// Source address (required).
    pub src_ip: String,
    /// Destination address (required).
    pub dst_ip: String,
    /// Source port (ICMP: type).
    #[serde(default)]
    pub src_port: Option<String>,
    /// Destination port (ICMP: code).
    #[serde(default)]
    pub dst_port: Option<String>,
    /// IP protocol, a number or a name (`tcp`, `UDP`, `icmp`, ...) (required).
    pub proto: String,
    /// Flow start: RFC 3339, `YYYY-MM-DD hh:mm:ss[.f]`, or (fractional) epoch seconds
    /// (required).
    pub start: String,
    /// Flow end, same forms.
    #[serde(default)]
    pub end: Option<String>,
    /// Duration in seconds, when there is no end column.
    #[serde(default)]
    pub duration: Option<String>,
    /// Packets from source to destination (required).
    pub packets: String,
    /// Bytes from source to destination (required).
    pub bytes: String,
    /// Packets from destination to source (bidirectional logs).
    #[serde(default)]
    pub rev_packets: Option<String>,
    /// Bytes from destination to source.
    #[serde(default)]
    pub rev_bytes: Option<String>,
    /// TCP flags of the source, a number (or nfdump's `.A..S.` letters).
    #[serde(default)]
    pub tcp_flags: Option<String>,
    /// TCP flags of the destination.
    #[serde(default)]
    pub rev_tcp_flags: Option<String>,
    /// VLAN id.
    #[serde(default)]
    pub vlan: Option<String>,
    /// A column saying per row whether the source is the initiator (`true`/`false`).
    #[serde(default)]
    pub initiator_known_column: Option<String>,
    /// Whether the source of every row is the initiator (a bidirectional log whose source
    /// is the client). Default false: the source is only the record's direction.
    #[serde(default)]
    pub initiator_known: bool,
    /// Field separator: `","` (default), `"\t"`, `" "` (runs of spaces) or `";"`.
    #[serde(default = "comma")]
    pub separator: String,
    /// Offset of times written without one, e.g. `"+09:00"` (default UTC).
    #[serde(default)]
    pub time_offset: Option<String>,
    /// Seconds east of UTC of times written without an offset (from `time_offset`).
    #[serde(skip)]
    pub naive_offset_s: i64,
    /// Optional columns may be absent from the header (the built-in map); in a map given
    /// by a user every column named must be there, so a typo is an error.
    #[serde(skip)]
    lenient: bool,
}

fn comma() -> String {
    ",".into()
}

impl ColumnMap {
    /// Parses a map from TOML (see `docs/flowlogs.md`).
    pub fn from_toml(text: &str) -> Result<Self, String> {
        let mut m: ColumnMap = toml::from_str(text).map_err(|e| e.to_string())?;
        m.naive_offset_s = match &m.time_offset {
            Some(o) => parse_offset(o)?,
            None => 0,
        };
        if !matches!(m.separator.as_str(), "," | "\t" | " " | ";" | "|") {
            return Err(format!(
                "separator {:?}: use \",\", \"\\t\", \" \", \";\" or \"|\"",
                m.separator
            ));
        }
        if m.end.is_some() && m.duration.is_some() {
            return Err("give end or duration, not both".into());
        }
        Ok(m)
    }

    /// Parses a map written inline, `KEY=COLUMN` pairs separated by commas (the keys of the
    /// TOML form; `initiator_known=true` and `separator=tab|space|...` included).
    pub fn from_pairs(text: &str) -> Result<Self, String> {
        let mut toml_text = String::new();
        for pair in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (k, v) = pair
                .split_once('=')
                .ok_or_else(|| format!("{pair:?} is not KEY=COLUMN"))?;
            let (k, v) = (k.trim(), v.trim());
            if !k.bytes().all(|b| b.is_ascii_lowercase() || b == b'_') {
                return Err(format!("{k:?} is not a key of a column map"));
            }
            let v = match (k, v) {
                ("initiator_known", "true" | "false") => v.to_string(),
                ("separator", "tab") => "\"\\t\"".into(),
                ("separator", "space") => "\" \"".into(),
                ("separator", "comma") => "\",\"".into(),
                ("separator", "semicolon") => "\";\"".into(),
                _ => toml::Value::String(v.to_string()).to_string(),
            };
            toml_text.push_str(&format!("{k} = {v}\n"));
        }
        Self::from_toml(&toml_text)
    }

    /// The map of flowcore's own flow CSV (`flowcli flows --format csv`) and Parquet.
    pub fn flowcore() -> Self {
        let s = |x: &str| Some(x.to_string());
        ColumnMap {
            src_ip: "src_ip".into(),
            dst_ip: "dst_ip".into(),
            src_port: s("src_port"),
            dst_port: s("dst_port"),
            proto: "proto".into(),
            start: "first_ts".into(),
            end: s("last_ts"),
            duration: None,
            packets: "fwd_packets".into(),
            bytes: "fwd_bytes".into(),
            rev_packets: s("rev_packets"),
            rev_bytes: s("rev_bytes"),
            tcp_flags: s("fwd_tcp_flags"),
            rev_tcp_flags: s("rev_tcp_flags"),
            vlan: s("vlan"),
            initiator_known_column: s("initiator_known"),
            initiator_known: false,
            separator: ",".into(),
            time_offset: None,
            naive_offset_s: 0,
            lenient: true,
        }
    }

    fn sep(&self) -> u8 {
        self.separator.as_bytes().first().copied().unwrap_or(b',')
    }

    /// The column names this map needs, required ones first.
    pub fn columns(&self) -> Vec<&str> {
        let mut v = vec![
            self.src_ip.as_str(),
            &self.dst_ip,
            &self.proto,
            &self.start,
            &self.packets,
            &self.bytes,
        ];
        for c in [
            &self.src_port,
            &self.dst_port,
            &self.end,
            &self.duration,
            &self.rev_packets,
            &self.rev_bytes,
            &self.tcp_flags,
            &self.rev_tcp_flags,
            &self.vlan,
            &self.initiator_known_column,
        ]
        .into_iter()
        .flatten()
        {
            v.push(c);
        }
        v
    }

    /// Resolves the map against a header row: the index of every mapped column, or the
    /// name of the first one missing.
    pub fn resolve(&self, header: &[&str]) -> Result<Resolved, String> {
        let find = |name: &str| header.iter().position(|h| h.trim() == name);
        let need = |name: &str| find(name).ok_or_else(|| format!("no column {name:?}"));
        let opt = |name: &Option<String>| -> Result<Option<usize>, String> {
            match name.as_deref() {
                Some(n) if self.lenient => Ok(find(n)),
                n => n.map(need).transpose(),
            }
        };
        Ok(Resolved {
            src_ip: need(&self.src_ip)?,
            dst_ip: need(&self.dst_ip)?,
            src_port: opt(&self.src_port)?,
            dst_port: opt(&self.dst_port)?,
            proto: need(&self.proto)?,
            start: need(&self.start)?,
            end: opt(&self.end)?,
            duration: opt(&self.duration)?,
            packets: need(&self.packets)?,
            bytes: need(&self.bytes)?,
            rev_packets: opt(&self.rev_packets)?,
            rev_bytes: opt(&self.rev_bytes)?,
            tcp_flags: opt(&self.tcp_flags)?,
            rev_tcp_flags: opt(&self.rev_tcp_flags)?,
            vlan: opt(&self.vlan)?,
            in_if: None,
            out_if: None,
            initiator_known: opt(&self.initiator_known_column)?,
            history: None,
            width: header.len(),
        })
    }
}

/// Parses `+09:00`, `+0900`, `-05:00`, `Z` or `UTC` as seconds east of UTC.
pub fn parse_offset(o: &str) -> Result<i64, String> {
    let t = o.trim();
    if t.eq_ignore_ascii_case("z") || t.eq_ignore_ascii_case("utc") {
        return Ok(0);
    }
    let bad = || format!("bad time offset {o:?} (want e.g. +09:00)");
    let (sign, rest) = match t.as_bytes().first() {
        Some(b'+') => (1, &t[1..]),
        Some(b'-') => (-1, &t[1..]),
        _ => return Err(bad()),
    };
    let digits: String = rest.chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(bad());
    }
    let h: i64 = digits[..2].parse().map_err(|_| bad())?;
    let m: i64 = digits[2..].parse().map_err(|_| bad())?;
    if h > 14 || m > 59 {
        return Err(bad());
    }
    Ok(sign * (h * 3600 + m * 60))
}

/// Column indexes of a delimited log, resolved from its header.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolved {
    src_ip: usize,
    dst_ip: usize,
    src_port: Option<usize>,
    dst_port: Option<usize>,
    proto: usize,
    start: usize,
    end: Option<usize>,
    duration: Option<usize>,
    packets: usize,
    bytes: usize,
    rev_packets: Option<usize>,
    rev_bytes: Option<usize>,
    tcp_flags: Option<usize>,
    rev_tcp_flags: Option<usize>,
    vlan: Option<usize>,
    in_if: Option<usize>,
    out_if: Option<usize>,
    initiator_known: Option<usize>,
    history: Option<usize>,
    width: usize,
}

/// Recognises a flow log by its first line. `map` (from the command line) makes any
/// delimited text whose header has the mapped columns a [`LogFormat::Delimited`] log.
pub fn detect(head: &[u8], map: Option<&ColumnMap>) -> Option<LogFormat> {
    let head = head.strip_prefix(b"\xef\xbb\xbf").unwrap_or(head);
    let line_end = head.iter().position(|&b| b == b'\n').unwrap_or(head.len());
    let first = std::str::from_utf8(&head[..line_end])
        .ok()?
        .trim_end_matches('\r');
    if first.starts_with("#separator") {
        return Some(LogFormat::ZeekTsv);
    }
    if first.starts_with('{') {
        let v = J::parse(first).ok()?;
        if v.get("event_type").is_some() {
            return Some(LogFormat::SuricataEve);
        }
        if v.get("id.orig_h").is_some() {
            return Some(LogFormat::ZeekJson);
        }
        return None;
    }
    if first.starts_with("ts,te,td,sa,da,sp,dp,pr,") {
        return Some(LogFormat::NfdumpCsv);
    }
    let map_fits = |m: &ColumnMap| {
        let cols = split(first, m.sep());
        m.resolve(&cols).is_ok()
    };
    if let Some(m) = map {
        if map_fits(m) {
            return Some(LogFormat::Delimited);
        }
    }
    map_fits(&ColumnMap::flowcore()).then_some(LogFormat::Delimited)
}

fn split(line: &str, sep: u8) -> Vec<&str> {
    if sep == b' ' {
        line.split_ascii_whitespace().collect()
    } else {
        split_on(line, sep)
    }
}

/// `s.trim()`, at once when both ends are printable ASCII (nearly every field of a log):
/// `str::trim`'s Unicode whitespace test on each end was 6 % of reading a `conn.log`.
fn trim(s: &str) -> &str {
    match (s.as_bytes().first(), s.as_bytes().last()) {
        (Some(a), Some(z)) if a.is_ascii_graphic() && z.is_ascii_graphic() => s,
        _ => s.trim(),
    }
}

/// `line.split(sep)` for an ASCII `sep` (every cut falls on a character boundary), through
/// memchr: the fields of a flow log are short, and `str::split`'s searcher was a tenth of
/// reading a Zeek `conn.log`.
fn split_on(line: &str, sep: u8) -> Vec<&str> {
    let mut out = Vec::with_capacity(32);
    let mut start = 0;
    for i in memchr::memchr_iter(sep, line.as_bytes()) {
        out.push(line.get(start..i).unwrap_or_default());
        start = i + 1;
    }
    out.push(line.get(start..).unwrap_or_default());
    out
}

/// Splits a CSV line honouring double quotes (RFC 4180); quoted fields lose their quotes
/// (a doubled quote inside stays doubled: addresses, numbers and times never hold one).
fn split_csv(line: &str, sep: u8) -> Vec<&str> {
    if sep == b' ' || !line.contains('"') {
        return split(line, sep);
    }
    let b = line.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if i < b.len() && b[i] == b'"' {
            let start = i + 1;
            let mut j = start;
            while j < b.len() {
                if b[j] == b'"' {
                    if j + 1 < b.len() && b[j + 1] == b'"' {
                        j += 2;
                        continue;
                    }
                    break;
                }
                j += 1;
            }
            out.push(&line[start..j.min(b.len())]);
            i = j + 1;
            while i < b.len() && b[i] != sep {
                i += 1;
            }
        } else {
            let start = i;
            while i < b.len() && b[i] != sep {
                i += 1;
            }
            out.push(&line[start..i]);
        }
        if i >= b.len() {
            break;
        }
        i += 1;
    }
    out
}

/// What one line of a flow log gives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LogItem {
    /// A flow record.
    Record(ExportRecord),
    /// A line that should have been a record and is not: where and why.
    Bad(ExportWarning),
}

/// Streams the records of one flow log.
pub(crate) struct LogReader {
    stream: ByteStream,
    format: LogFormat,
    cols: Option<Resolved>,
    map: ColumnMap,
    line_no: u64,
    scanned: usize,
    done: bool,
    /// Lines that are not flow records: headers, comments, blank lines, other events.
    pub(crate) other_lines: u64,
    /// Zeek's TSV unset and empty markers.
    zeek_unset: String,
    /// In nfdump's summary block after the records.
    trailer: bool,
    /// A JSON log's lines parsed on a helper thread as well ([`LogReader::parse_ahead`]).
    ahead: Option<ahead::Ahead>,
    /// With `ahead`: every line is queued, and how the input ended (damage, to report
    /// after the lines before it).
    read_all: bool,
    damage: Option<Damage>,
}

enum Line {
    Text(u64, usize),
    TooLong(u64),
}

impl LogReader {
    pub(crate) fn new(stream: ByteStream, format: LogFormat, map: Option<ColumnMap>) -> Self {
        LogReader {
            stream,
            format,
            cols: None,
            map: map.unwrap_or_else(ColumnMap::flowcore),
            line_no: 0,
            scanned: 0,
            done: false,
            other_lines: 0,
            zeek_unset: "-".into(),
            trailer: false,
            ahead: None,
            read_all: false,
            damage: None,
        }
    }

    /// Parses the lines of a JSON log (Zeek JSON, Suricata eve) on a helper thread as well
    /// as on this one, in blocks, handed out in line order: the same items as on one
    /// thread. Returns whether a helper runs (not for other formats, nor when no thread
    /// can be started).
    pub(crate) fn parse_ahead(&mut self) -> bool {
        if self.format.is_json() && self.ahead.is_none() && self.line_no == 0 {
            self.ahead = ahead::Ahead::start();
        }
        self.ahead.is_some()
    }

    /// The warning for an overlong line at `at` (the current line).
    fn too_long(&self, at: u64) -> LogItem {
        LogItem::Bad(ExportWarning {
            offset: at,
            what: format!(
                "line {}: longer than {MAX_LINE} bytes, skipped",
                self.line_no
            ),
        })
    }

    /// The next lines as a block (perhaps empty), and how the input ended if it did.
    fn read_block(&mut self) -> (ahead::Block, Option<Result<(), Damage>>) {
        let mut b = ahead::Block::new(self.format);
        while !b.full() {
            match self.next_line() {
                Err(d) => return (b, Some(Err(d))),
                Ok(None) => return (b, Some(Ok(()))),
                Ok(Some(Line::TooLong(at))) => b.push_item(self.too_long(at)),
                Ok(Some(Line::Text(offset, len))) => {
                    b.push_line(self.stream.take(len), offset, self.line_no);
                    self.skip_newline();
                }
            }
        }
        (b, None)
    }

    /// Consumes the newline after a line (absent on a last line without one).
    fn skip_newline(&mut self) {
        if self.stream.available().first() == Some(&b'\n') {
            self.stream.consume(1);
        }
    }

    /// [`LogReader::next_item`] with blocks parsed ahead.
    fn next_ahead(&mut self, a: &mut ahead::Ahead) -> Result<Option<LogItem>, Damage> {
        loop {
            while !self.read_all && a.wants_more() {
                let (b, end) = self.read_block();
                if !b.is_empty() {
                    a.queue(b);
                }
                if let Some(end) = end {
                    self.read_all = true;
                    self.damage = end.err();
                }
            }
            match a.next() {
                Some(Some(item)) => return Ok(Some(item)),
                Some(None) => self.other_lines += 1,
                None if self.read_all => {
                    self.done = true;
                    return self.damage.take().map_or(Ok(None), Err);
                }
                None => {}
            }
        }
    }

    /// Finds the next line: its offset and length (without the newline) in the buffer.
    fn next_line(&mut self) -> Result<Option<Line>, Damage> {
        loop {
            let avail = self.stream.available();
            if let Some(i) = memchr::memchr(b'\n', &avail[self.scanned..]) {
                let len = self.scanned + i;
                self.scanned = 0;
                self.line_no += 1;
                if len > MAX_LINE {
                    let at = self.stream.offset();
                    self.stream.consume(len + 1);
                    return Ok(Some(Line::TooLong(at)));
                }
                return Ok(Some(Line::Text(self.stream.offset(), len)));
            }
            self.scanned = avail.len();
            if avail.len() > MAX_LINE {
                // Skip to the end of the overlong line.
                let at = self.stream.offset();
                self.line_no += 1;
                loop {
                    let n = self.stream.available().len();
                    if let Some(i) = memchr::memchr(b'\n', self.stream.available()) {
                        self.stream.consume(i + 1);
                        break;
                    }
                    self.stream.consume(n);
                    let have = self.stream.fill(1).map_err(|e| Damage::io(at, &e))?;
                    if have == 0 {
                        break;
                    }
                }
                self.scanned = 0;
                return Ok(Some(Line::TooLong(at)));
            }
            let want = avail.len() + 1;
            let have = self
                .stream
                .fill(want.max(1 << 16))
                .map_err(|e| Damage::io(self.stream.offset(), &e))?;
            if have < want {
                // End of stream: the last line has no newline.
                self.scanned = 0;
                if have == 0 {
                    return Ok(None);
                }
                self.line_no += 1;
                return Ok(Some(Line::Text(self.stream.offset(), have)));
            }
        }
    }

    /// The next record or bad line; `Ok(None)` at the end; `Err` when reading fails.
    pub(crate) fn next_item(&mut self) -> Result<Option<LogItem>, Damage> {
        if self.done {
            return Ok(None);
        }
        if let Some(mut a) = self.ahead.take() {
            let r = self.next_ahead(&mut a);
            self.ahead = Some(a);
            return r;
        }
        loop {
            let (offset, len) = match self.next_line()? {
                None => {
                    self.done = true;
                    return Ok(None);
                }
                Some(Line::TooLong(at)) => return Ok(Some(self.too_long(at))),
                Some(Line::Text(o, l)) => (o, l),
            };
            let line_no = self.line_no;
            let raw = self.stream.take(len).to_vec();
            self.skip_newline();
            if self.format.is_json() {
                match json_line(self.format, &raw, offset, line_no) {
                    Some(item) => return Ok(Some(item)),
                    None => {
                        self.other_lines += 1;
                        continue;
                    }
                }
            }
            let bad = |what: String| {
                Ok(Some(LogItem::Bad(ExportWarning {
                    offset,
                    what: format!("line {line_no}: {what}"),
                })))
            };
            let Some(text) = line_text(&raw, line_no) else {
                return bad("not UTF-8 text".into());
            };
            if text.trim().is_empty() {
                self.other_lines += 1;
                continue;
            }
            let r = match self.format {
                LogFormat::ZeekTsv => {
                    if let Some(h) = text.strip_prefix('#') {
                        self.other_lines += 1;
                        if let Some(f) = h.strip_prefix("fields\t") {
                            let names: Vec<&str> = f.split('\t').collect();
                            match zeek_columns(&names) {
                                Ok(c) => self.cols = Some(c),
                                Err(e) => {
                                    self.done = true;
                                    return Err(Damage::new(offset, format!("#fields: {e}")));
                                }
                            }
                        } else if let Some(u) = h.strip_prefix("unset_field\t") {
                            self.zeek_unset = u.to_string();
                        }
                        continue;
                    }
                    match &self.cols {
                        None => Err("data before the #fields header".to_string()),
                        Some(c) => {
                            let f = split_on(text, b'\t');
                            self.delimited(c, &f, true)
                        }
                    }
                }
                LogFormat::NfdumpCsv | LogFormat::Delimited | LogFormat::Parquet => {
                    let sep = if self.format == LogFormat::NfdumpCsv {
                        b','
                    } else {
                        self.map.sep()
                    };
                    let f = split_csv(text, sep);
                    if self.cols.is_none() {
                        self.other_lines += 1;
                        let r = if self.format == LogFormat::NfdumpCsv {
                            nfdump_columns(&f)
                        } else {
                            self.map.resolve(&f)
                        };
                        match r {
                            Ok(c) => {
                                self.cols = Some(c);
                                continue;
                            }
                            Err(e) => {
                                self.done = true;
                                return Err(Damage::new(offset, format!("header: {e}")));
                            }
                        }
                    }
                    if self.format == LogFormat::NfdumpCsv && (self.trailer || text == "Summary") {
                        // nfdump's trailing summary block: `Summary`, a header, totals.
                        self.trailer = true;
                        self.other_lines += 1;
                        continue;
                    }
                    match &self.cols {
                        Some(c) => self.delimited(c, &f, false),
                        None => Err("no header".to_string()),
                    }
                }
                // Read by `json_line`, above.
                LogFormat::ZeekJson | LogFormat::SuricataEve => {
                    Err("internal: a JSON line read as delimited text".into())
                }
            };
            return match r {
                Ok(mut rec) => {
                    rec.kind = self.format.kind();
                    rec.datagram_index = line_no;
                    rec.datagram_offset = offset;
                    Ok(Some(LogItem::Record(rec)))
                }
                Err(e) => bad(e),
            };
        }
    }

    fn delimited(&self, c: &Resolved, f: &[&str], zeek: bool) -> Result<ExportRecord, String> {
        row_record(self.format, &self.map, &self.zeek_unset, c, f, zeek)
    }
}

/// Line `line_no`'s text: without its trailing carriage returns, and the first line
/// without a byte-order mark; `None` when it is not UTF-8.
fn line_text(raw: &[u8], line_no: u64) -> Option<&str> {
    let text = std::str::from_utf8(raw).ok()?.trim_end_matches('\r');
    Some(if line_no == 1 {
        text.trim_start_matches('\u{feff}')
    } else {
        text
    })
}

/// One line of a JSON log (`format` is Zeek JSON or Suricata eve), read on its own: a
/// record, a line that should have been one and is not, or `None` for a line that is not
/// a flow record (blank, another event). It needs nothing of the lines before it, so lines
/// can be read on any thread ([`LogReader::parse_ahead`]).
fn json_line(format: LogFormat, raw: &[u8], offset: u64, line_no: u64) -> Option<LogItem> {
    let bad = |what: String| {
        Some(LogItem::Bad(ExportWarning {
            offset,
            what: format!("line {line_no}: {what}"),
        }))
    };
    let Some(text) = line_text(raw, line_no) else {
        return bad("not UTF-8 text".into());
    };
    if text.trim().is_empty() {
        return None;
    }
    let r = match format {
        // An eve line that does not say `"event_type":"flow"` as Suricata writes it is
        // looked through first: most are other events, checked but not kept.
        LogFormat::SuricataEve if FLOW_EVENT.find(text.as_bytes()).is_none() => {
            match json::is_flow_event(text) {
                Err(e) => Err(format!("not JSON: {e}")),
                Ok(true) => J::parse(text)
                    .map_err(|e| format!("not JSON: {e}"))
                    .and_then(|v| eve_flow(&v)),
                Ok(false) => return None,
            }
        }
        _ => match J::parse(text) {
            Err(e) => Err(format!("not JSON: {e}")),
            Ok(v) if format == LogFormat::ZeekJson => zeek_json(&v),
            Ok(v) => match v.get("event_type").and_then(J::as_str) {
                Some("flow") => eve_flow(&v),
                _ => return None,
            },
        },
    };
    match r {
        Ok(mut rec) => {
            rec.kind = format.kind();
            rec.datagram_index = line_no;
            rec.datagram_offset = offset;
            Some(LogItem::Record(rec))
        }
        Err(e) => bad(e),
    }
}

/// A record from the fields of one row (a delimited line, or a table row as text).
pub(crate) fn row_record(
    format: LogFormat,
    map: &ColumnMap,
    zeek_unset: &str,
    c: &Resolved,
    f: &[&str],
    zeek: bool,
) -> Result<ExportRecord, String> {
    if f.len() < c.width {
        return Err(format!("{} fields, the header has {}", f.len(), c.width));
    }
    let unset = |s: &str| {
        let s = trim(s);
        s.is_empty() || (zeek && (s == zeek_unset || s == "(empty)"))
    };
    let get = |i: Option<usize>| i.map(|i| trim(f[i])).filter(|s| !unset(s));
    let num = |name: &str, i: Option<usize>| -> Result<Option<u64>, String> {
        get(i)
            .map(|s| {
                s.parse::<u64>()
                    .ok()
                    .or_else(|| {
                        // Some tools write counts as floats ("12.0").
                        let x = s.parse::<f64>().ok()?;
                        (0.0..1.8e19).contains(&x).then_some(x as u64)
                    })
                    .ok_or_else(|| format!("{name} {s:?} is not a count"))
            })
            .transpose()
    };
    let addr = |name: &str, i: usize| -> Result<IpAddr, String> {
        let s = trim(f[i]);
        s.parse()
            .map_err(|_| format!("{name} {s:?} is not an IP address"))
    };
    let src = addr("source address", c.src_ip)?;
    let dst = addr("destination address", c.dst_ip)?;
    let proto = parse_proto(trim(f[c.proto]), src.is_ipv6())?;
    let time = |name: &str, s: &str| -> Result<TimestampNs, String> {
        parse_log_time(s, map.naive_offset_s).map_err(|e| format!("{name}: {e}"))
    };
    let start = time("start", f[c.start])?;
    let end = match (get(c.end), get(c.duration)) {
        (Some(e), _) => time("end", e)?,
        (None, Some(d)) => start.saturating_add(seconds(d)?),
        (None, None) => start,
    }
    .max(start);
    let flags = |i: Option<usize>| get(i).map(parse_flags).transpose();
    let (sp, dp) = (
        num("source port", c.src_port)?.unwrap_or(0),
        num("destination port", c.dst_port)?.unwrap_or(0),
    );
    let (mut sp, mut dp) = (port(sp)?, port(dp)?);
    if matches!(proto, 1 | 58) && sp == 0 && dp > 255 {
        // nfdump and NetFlow put type*256+code in the destination port.
        sp = dp >> 8;
        dp &= 0xff;
    }
    let packets = num("packets", Some(c.packets))?.unwrap_or(0);
    let bytes = num("bytes", Some(c.bytes))?.unwrap_or(0);
    let rp = num("reverse packets", c.rev_packets)?;
    let rb = num("reverse bytes", c.rev_bytes)?;
    let (mut fwd_flags, mut rev_flags) = (flags(c.tcp_flags)?, flags(c.rev_tcp_flags)?);
    if let (Some(h), 6) = (get(c.history), proto) {
        let (o, r) = history_flags(h);
        (fwd_flags, rev_flags) = (Some(o), Some(r));
    }
    let reverse = match (rp, rb) {
        (None, None) => None,
        (Some(0), Some(0)) | (Some(0), None) | (None, Some(0))
            if format == LogFormat::NfdumpCsv =>
        {
            None
        }
        (p, b) => Some((p.unwrap_or(0), b.unwrap_or(0), rev_flags.unwrap_or(0))),
    };
    let initiator_known = match get(c.initiator_known) {
        Some(s) => matches!(s, "true" | "T" | "1" | "yes"),
        None => map.initiator_known || zeek,
    };
    let vlan = num("vlan", c.vlan)?
        .map(|v| u16::try_from(v).map_err(|_| format!("vlan {v} out of range")))
        .transpose()?;
    Ok(ExportRecord {
        kind: format.kind(),
        exporter: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
        domain: 0,
        src,
        dst,
        src_port: sp,
        dst_port: dp,
        proto,
        tcp_flags: fwd_flags,
        packets,
        bytes,
        reverse,
        initiator_known,
        start,
        end,
        in_if: num("input interface", c.in_if)?.unwrap_or(0) as u32,
        out_if: num("output interface", c.out_if)?.unwrap_or(0) as u32,
        vlan,
        src_mac: None,
        dst_mac: None,
        sampling: 1,
        datagram_index: 0,
        datagram_offset: 0,
    })
}

fn port(p: u64) -> Result<u16, String> {
    u16::try_from(p).map_err(|_| format!("port {p} out of range"))
}

fn seconds(s: &str) -> Result<i64, String> {
    let d: f64 = s
        .parse()
        .map_err(|_| format!("duration {s:?} is not a number of seconds"))?;
    if !(0.0..=1e9).contains(&d) {
        return Err(format!("duration {s:?} out of range"));
    }
    Ok((d * NS_PER_SEC as f64).round() as i64)
}

/// A protocol number or name as flow tools write it.
pub fn parse_proto(s: &str, v6: bool) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(n);
    }
    Ok(match s.to_ascii_lowercase().as_str() {
        "tcp" => 6,
        "udp" => 17,
        "icmp" if v6 => 58,
        "icmp" => 1,
        "icmp6" | "icmpv6" | "ipv6-icmp" => 58,
        "gre" => 47,
        "esp" => 50,
        "ah" => 51,
        "sctp" => 132,
        "igmp" => 2,
        "ospf" => 89,
        _ => return Err(format!("protocol {s:?} is not a number or a known name")),
    })
}

/// TCP flags as a number (decimal or `0x..`), nfdump's letters (`.A..SF`, `UAPRSF` in
/// order CWR ECE URG ACK PSH RST SYN FIN), or Suricata's hex string.
fn parse_flags(s: &str) -> Result<u8, String> {
    if let Ok(n) = s.parse::<u8>() {
        return Ok(n);
    }
    if let Some(h) = s.strip_prefix("0x") {
        return u8::from_str_radix(h, 16).map_err(|_| format!("TCP flags {s:?}"));
    }
    let letters = b"CEUAPRSF";
    if s.len() <= 8
        && s.bytes()
            .all(|c| c == b'.' || letters.contains(&c.to_ascii_uppercase()))
    {
        let mut f = 0u8;
        for c in s.bytes() {
            if let Some(i) = letters.iter().position(|&l| l == c.to_ascii_uppercase()) {
                f |= 0x80 >> i;
            }
        }
        return Ok(f);
    }
    Err(format!("TCP flags {s:?} are not a number or flag letters"))
}

fn named(pairs: &[(&str, &str)]) -> ColumnMap {
    let get = |k: &str| {
        pairs
            .iter()
            .find(|(a, _)| *a == k)
            .map(|(_, b)| b.to_string())
    };
    ColumnMap {
        src_ip: get("src_ip").unwrap_or_default(),
        dst_ip: get("dst_ip").unwrap_or_default(),
        src_port: get("src_port"),
        dst_port: get("dst_port"),
        proto: get("proto").unwrap_or_default(),
        start: get("start").unwrap_or_default(),
        end: get("end"),
        duration: get("duration"),
        packets: get("packets").unwrap_or_default(),
        bytes: get("bytes").unwrap_or_default(),
        rev_packets: get("rev_packets"),
        rev_bytes: get("rev_bytes"),
        tcp_flags: get("tcp_flags"),
        rev_tcp_flags: None,
        vlan: None,
        initiator_known_column: None,
        initiator_known: false,
        separator: ",".into(),
        time_offset: None,
        naive_offset_s: 0,
        lenient: false,
    }
}

fn nfdump_columns(h: &[&str]) -> Result<Resolved, String> {
    let m = named(&[
        ("src_ip", "sa"),
        ("dst_ip", "da"),
        ("src_port", "sp"),
        ("dst_port", "dp"),
        ("proto", "pr"),
        ("start", "ts"),
        ("end", "te"),
        ("packets", "ipkt"),
        ("bytes", "ibyt"),
        ("rev_packets", "opkt"),
        ("rev_bytes", "obyt"),
        ("tcp_flags", "flg"),
    ]);
    let mut c = m.resolve(h)?;
    let find = |n: &str| h.iter().position(|x| x.trim() == n);
    c.in_if = find("in");
    c.out_if = find("out");
    c.vlan = find("svln");
    Ok(c)
}

fn zeek_columns(h: &[&str]) -> Result<Resolved, String> {
    let mut pairs = vec![
        ("src_ip", "id.orig_h"),
        ("dst_ip", "id.resp_h"),
        ("src_port", "id.orig_p"),
        ("dst_port", "id.resp_p"),
        ("proto", "proto"),
        ("start", "ts"),
        ("duration", "duration"),
        ("packets", "orig_pkts"),
        ("bytes", "orig_ip_bytes"),
        ("rev_packets", "resp_pkts"),
        ("rev_bytes", "resp_ip_bytes"),
    ];
    let has = |n: &str| h.contains(&n);
    if !has("orig_ip_bytes") {
        pairs[8].1 = "orig_bytes";
        pairs[10].1 = "resp_bytes";
    }
    let mut c = named(&pairs).resolve(h)?;
    let find = |n: &str| h.iter().position(|x| *x == n);
    c.vlan = find("vlan");
    c.history = find("history");
    Ok(c)
}

fn jstr<'a>(v: &'a J, k: &str) -> Option<&'a str> {
    v.get(k).and_then(J::as_str)
}

fn ju64(v: &J, k: &str) -> Option<u64> {
    match v.get(k)? {
        J::Num(n) => n.as_u64().or_else(|| n.as_f64().map(|x| x as u64)),
        J::Str(s) => s.parse().ok(),
        _ => None,
    }
}

fn jaddr(v: &J, k: &str) -> Result<IpAddr, String> {
    let s = jstr(v, k).ok_or_else(|| format!("no {k}"))?;
    s.parse()
        .map_err(|_| format!("{k} {s:?} is not an IP address"))
}

fn jport(v: &J, k: &str) -> Result<u16, String> {
    ju64(v, k).map_or(Ok(0), port)
}

fn jtime(v: &J, k: &str) -> Result<TimestampNs, String> {
    match v.get(k) {
        Some(J::Num(n)) => {
            let s = n.to_string();
            parse_log_time(&s, 0).map_err(|e| format!("{k}: {e}"))
        }
        Some(J::Str(s)) => parse_log_time(s, 0).map_err(|e| format!("{k}: {e}")),
        _ => Err(format!("no {k}")),
    }
}

/// TCP flags from a Zeek history string: upper case is the originator, lower case the
/// responder (S syn, H syn-ack, A ack, D data, F fin, R reset).
fn history_flags(h: &str) -> (u8, u8) {
    let (mut o, mut r) = (0u8, 0u8);
    for c in h.chars() {
        let bits = match c.to_ascii_uppercase() {
            'S' => 0x02,
            'H' => 0x12,
            'A' => 0x10,
            'D' => 0x18,
            'F' => 0x11,
            'R' => 0x04,
            _ => 0,
        };
        if c.is_ascii_uppercase() {
            o |= bits;
        } else {
            r |= bits;
        }
    }
    (o, r)
}

fn blank(
    kind: ExportKind,
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    start: TimestampNs,
) -> ExportRecord {
    ExportRecord {
        kind,
        src,
        dst,
        proto,
        initiator_known: true,
        start,
        end: start,
        ..BLANK
    }
}

fn zeek_json(v: &J) -> Result<ExportRecord, String> {
    let src = jaddr(v, "id.orig_h")?;
    let dst = jaddr(v, "id.resp_h")?;
    let proto = parse_proto(jstr(v, "proto").unwrap_or(""), src.is_ipv6())?;
    let start = jtime(v, "ts")?;
    let mut r = blank(ExportKind::Zeek, src, dst, proto, start);
    r.src_port = jport(v, "id.orig_p")?;
    r.dst_port = jport(v, "id.resp_p")?;
    if let Some(d) = v.get("duration") {
        let d = match d {
            J::Num(n) => n.to_string(),
            J::Str(s) => s.to_string(),
            _ => String::new(),
        };
        if !d.is_empty() {
            r.end = start.saturating_add(seconds(&d)?);
        }
    }
    r.packets = ju64(v, "orig_pkts").unwrap_or(0);
    r.bytes = ju64(v, "orig_ip_bytes")
        .or(ju64(v, "orig_bytes"))
        .unwrap_or(0);
    let (of, rf) = history_flags(jstr(v, "history").unwrap_or(""));
    if proto == 6 {
        r.tcp_flags = Some(of);
    }
    r.reverse = Some((
        ju64(v, "resp_pkts").unwrap_or(0),
        ju64(v, "resp_ip_bytes")
            .or(ju64(v, "resp_bytes"))
            .unwrap_or(0),
        rf,
    ));
    r.vlan = ju64(v, "vlan").and_then(|x| u16::try_from(x).ok());
    Ok(r)
}

fn eve_flow(v: &J) -> Result<ExportRecord, String> {
    let src = jaddr(v, "src_ip")?;
    let dst = jaddr(v, "dest_ip")?;
    let proto = match v.get("proto") {
        Some(J::Num(n)) => n
            .as_u64()
            .and_then(|x| u8::try_from(x).ok())
            .ok_or("bad proto")?,
        Some(J::Str(s)) => parse_proto(s.trim_start_matches('0'), src.is_ipv6())
            .or_else(|_| parse_proto(s, src.is_ipv6()))?,
        _ => return Err("no proto".into()),
    };
    let flow = v.get("flow").ok_or("no flow object")?;
    let start = jtime(flow, "start").or_else(|_| jtime(v, "timestamp"))?;
    let mut r = blank(ExportKind::Suricata, src, dst, proto, start);
    r.end = jtime(flow, "end").unwrap_or(start).max(start);
    if matches!(proto, 1 | 58) {
        r.src_port = ju64(v, "icmp_type").map_or(0, |x| x.min(255) as u16);
        r.dst_port = ju64(v, "icmp_code").map_or(0, |x| x.min(255) as u16);
    } else {
        r.src_port = jport(v, "src_port")?;
        r.dst_port = jport(v, "dest_port")?;
    }
    r.packets = ju64(flow, "pkts_toserver").unwrap_or(0);
    r.bytes = ju64(flow, "bytes_toserver").unwrap_or(0);
    let hex = |k: &str| {
        v.get("tcp")
            .and_then(|t| jstr(t, k))
            .and_then(|s| u8::from_str_radix(s, 16).ok())
    };
    if proto == 6 {
        r.tcp_flags = hex("tcp_flags_ts").or(Some(0));
    }
    r.reverse = Some((
        ju64(flow, "pkts_toclient").unwrap_or(0),
        ju64(flow, "bytes_toclient").unwrap_or(0),
        hex("tcp_flags_tc").unwrap_or(0),
    ));
    r.vlan = v
        .get("vlan")
        .and_then(|a| a.as_array()?.first()?.as_u64())
        .and_then(|x| u16::try_from(x).ok());
    Ok(r)
}

#[cfg(test)]
mod tests;
