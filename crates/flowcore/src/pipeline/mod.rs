//! The packet path wired end to end for one input: read → decode → fragments → flows,
//! with the accounting that proves nothing was lost silently. [`Pipeline::run`] does it on
//! the calling thread; [`Pipeline::run_threaded`] hands the flow assembly and `out` to a
//! second thread, in the same order (`stage`).

mod stage;

use std::collections::BTreeMap;

use std::net::{IpAddr, Ipv4Addr};

use hashbrown::HashMap;

use crate::decode::{self, proto, FragStats, FragTracker, PacketSummary, SkipReason};
use crate::filter::Filter;
pub use crate::flow::FlowSink;
use crate::flow::{
    from_export, ExportMeta, ExportPairer, FlowConfig, FlowRecord, FlowTable, FlowTableStats,
};
use crate::input::export::{
    self, DatagramContext, ExportDecoder, ExportItem, ExportKind, ExportStats, ExportWarning,
    TemplateLimits,
};
use crate::input::flowlog::LogItem;
use crate::input::{
    linktype, CaptureFormat, CaptureReader, Compression, Damage, InputDigest, RawPacket,
};
use crate::time::TimestampNs;
use stage::{Inline, Split, Stage};

/// What happened to one input: every packet read is either decoded or skipped for a reason,
/// and every decoded packet is in exactly one flow record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputSummary {
    /// The input's number in the caller's list.
    pub input: u32,
    /// The input's name (path or `-`).
    pub name: String,
    /// Container format.
    pub format: CaptureFormat,
    /// Compression it was wrapped in.
    pub compression: Compression,
    /// Packet records read.
    pub packets_read: u64,
    /// Packets decoded into flows.
    pub packets_decoded: u64,
    /// Packets skipped, by reason (`packets_read = packets_decoded + Σ skipped`).
    pub skipped: BTreeMap<SkipReason, u64>,
    /// Wire bytes of all packets read.
    pub bytes_read: u64,
    /// Earliest packet time.
    pub first_ts: Option<TimestampNs>,
    /// Latest packet time.
    pub last_ts: Option<TimestampNs>,
    /// pcapng blocks without packets that were skipped (statistics, name resolution, custom).
    pub blocks_skipped: u64,
    /// Packets per link type.
    pub link_types: BTreeMap<u16, u64>,
    /// Fragment tracking counters.
    pub fragments: FragStats,
    /// Flow table counters.
    pub flows: FlowTableStats,
    /// Damage that ended the input early, if any (all packets before it were used).
    pub damage: Option<Damage>,
    /// Packets of a capture that carried flow exports (decoded as records, not as flows),
    /// or messages of a raw export file.
    pub export_datagrams: u64,
    /// Flow records and sFlow samples this input's exports yielded.
    pub export_records: u64,
    /// Malformed export datagrams (the first 100), with their offsets.
    pub export_warnings: Vec<ExportWarning>,
    /// Export records (and sFlow samples) left out by the run's filter; they are not in
    /// `export_records`.
    pub export_records_filtered: u64,
    /// Size and SHA-256 of the input as stored, for readers opened with hashing
    /// ([`CaptureReader::open_with`]).
    pub digest: Option<InputDigest>,
    /// The run stopped at the input's first flow export because the pipeline was told to
    /// leave exports to a collector pass ([`Pipeline::leave_exports`]); the rest of this
    /// summary is incomplete and the input must be run again by a pipeline that decodes them.
    pub left_for_exports: bool,
}

impl InputSummary {
    /// Packets skipped, all reasons.
    pub fn packets_skipped(&self) -> u64 {
        self.skipped.values().sum()
    }
}

/// Reads every packet of `reader`, assembles flows and hands each finished record to `out`
/// as soon as it is final (timeouts are driven by the capture's clock). Damage is recorded
/// in the summary, never a panic; packets before it are all used. Flow exports inside the
/// capture are decoded too; for state shared across inputs (templates), use [`Pipeline`].
pub fn flows_from_capture(
    reader: &mut CaptureReader,
    input: u32,
    cfg: &FlowConfig,
    out: &mut impl FnMut(FlowRecord),
) -> InputSummary {
    let mut p = Pipeline::new(*cfg);
    let s = p.run(reader, input, out);
    p.finish(out);
    s
}

/// sFlow agents assembled per input; samples from further agents are counted and skipped.
const MAX_SFLOW_AGENTS: usize = 1024;

/// UDP ports of services that are never flow exports (their traffic is not examined).
fn never_export(s: &PacketSummary) -> bool {
    // A match, not a search of a list: a few compares per UDP packet, not a loop.
    let never = |port| {
        matches!(
            port,
            53 | 67 | 68 | 123 | 137 | 138 | 443 | 1900 | 4789 | 5353 | 5355
        )
    };
    never(s.src_port) || never(s.dst_port)
}

/// The packet path with a collector's state for one run over many inputs: flow-export
/// templates persist from input to input (as in a collector), and unidirectional export
/// records can be paired into bidirectional flows.
pub struct Pipeline {
    cfg: FlowConfig,
    exports: ExportDecoder,
    pairer: Option<ExportPairer>,
    decode_exports: bool,
    filter: Filter,
    raw_filter: Option<RawFilter>,
    leave_exports: bool,
    progress: Option<std::sync::Arc<Progress>>,
}

/// Counters a pipeline advances as it reads, for a progress display on another thread
/// (several pipelines may share one).
#[derive(Debug, Default)]
pub struct Progress {
    /// Bytes of input consumed (offsets in the decompressed stream, so a compressed input
    /// counts more than its size).
    pub bytes: std::sync::atomic::AtomicU64,
    /// Packets and export messages read.
    pub packets: std::sync::atomic::AtomicU64,
}

/// How often (in packets) the progress counters are advanced.
const PROGRESS_EVERY: u64 = 4096;

/// A test on a packet's captured bytes before it is decoded (a compiled BPF program, for
/// example): `true` keeps the packet.
pub type RawFilter = Box<dyn FnMut(&RawPacket<'_>) -> bool + Send>;

/// An export record to the stage, through the pairer when pairing is on.
fn emit_export<S: Stage>(
    stage: &mut S,
    pairer: &mut Option<ExportPairer>,
    make: impl FnOnce() -> FlowRecord,
) {
    match pairer {
        Some(p) => p.push(make(), &mut |f| stage.record(|| f)),
        None => stage.record(make),
    }
}

impl Pipeline {
    /// A pipeline with default export limits, decoding exports found in captures.
    pub fn new(cfg: FlowConfig) -> Self {
        Pipeline {
            cfg,
            exports: ExportDecoder::new(TemplateLimits::default()),
            pairer: None,
            decode_exports: true,
            filter: Filter::default(),
            raw_filter: None,
            leave_exports: false,
            progress: None,
        }
    }

    /// Advances `progress` as inputs are read (every few thousand packets).
    pub fn progress(mut self, progress: std::sync::Arc<Progress>) -> Self {
        self.progress = Some(progress);
        self
    }

    /// Makes [`Pipeline::run`] stop at an input's first flow export (a raw export file, or
    /// an export datagram in a capture) and mark the summary `left_for_exports`, instead of
    /// decoding it. Parallel runs use this: inputs without exports are independent of each
    /// other, while exports share templates and must be decoded in input order by one
    /// pipeline.
    pub fn leave_exports(mut self, yes: bool) -> Self {
        self.leave_exports = yes;
        self
    }

    /// Bounds of the flow-export decoder (templates per exporter and in all, fields per
    /// template, data held while waiting for templates). Replaces the decoder, so set it
    /// before the first input.
    pub fn export_limits(mut self, limits: TemplateLimits) -> Self {
        self.exports = ExportDecoder::new(limits);
        self
    }

    /// Keeps only the packets (and export records) `filter` keeps; the others are counted
    /// as skipped for reason `filtered`.
    pub fn filter(mut self, filter: Filter) -> Self {
        self.filter = filter;
        self
    }

    /// Tests each packet's captured bytes before decoding (e.g. a BPF program); packets it
    /// rejects are counted as skipped for reason `filtered`. Flow exports inside a capture
    /// are examined only if their packet passes.
    pub fn raw_filter(mut self, f: RawFilter) -> Self {
        self.raw_filter = Some(f);
        self
    }

    /// Pairs unidirectional export records of one conversation (reversed 5-tuple, times
    /// within `window_s` seconds) into bidirectional flows.
    pub fn pair_exports(mut self, window_s: i64, capacity: usize) -> Self {
        self.pairer = Some(ExportPairer::new(window_s, capacity));
        self
    }

    /// Whether UDP packets in captures are examined for flow exports (default true).
    pub fn decode_exports(mut self, yes: bool) -> Self {
        self.decode_exports = yes;
        self
    }

    /// Export decoder counters for the run so far.
    pub fn export_stats(&self) -> ExportStats {
        self.exports.stats()
    }

    /// Ends the run: waiting export records are emitted, data still missing its template is
    /// counted as undecodable. Returns the export counters.
    pub fn finish(&mut self, out: &mut impl FlowSink) -> ExportStats {
        if let Some(p) = &mut self.pairer {
            p.flush(&mut |f| out.flow(f));
        }
        self.exports.finish();
        self.exports.stats()
    }

    /// Reads one input (capture or raw export file); its records go to `out` (a closure
    /// taking each [`FlowRecord`], or a [`FlowSink`] that takes export records in batches).
    pub fn run(
        &mut self,
        reader: &mut CaptureReader,
        input: u32,
        out: &mut impl FlowSink,
    ) -> InputSummary {
        let table = FlowTable::new(self.cfg, input);
        let frags = FragTracker::new(self.cfg.frag);
        self.run_into(reader, input, &mut Inline::new(table, frags, out))
    }

    /// [`Pipeline::run`] on two threads: this one reads and decodes (and decodes flow
    /// exports), a second one assembles flows and calls `out`. The records reach `out` in
    /// the same order, so the result is identical; the two halves of the work overlap.
    pub fn run_threaded(
        &mut self,
        reader: &mut CaptureReader,
        input: u32,
        out: &mut (impl FlowSink + Send),
    ) -> InputSummary {
        let table = FlowTable::new(self.cfg, input);
        let frags = FragTracker::new(self.cfg.frag);
        std::thread::scope(|scope| match Split::spawn(scope, table, frags, out) {
            Ok(mut stage) => self.run_into(reader, input, &mut stage),
            // No second thread to be had: all of it on this one.
            Err(refused) => {
                let (table, frags, out) = *refused;
                self.run_into(reader, input, &mut Inline::new(table, frags, out))
            }
        })
    }

    /// The body of [`Pipeline::run`]: decoded packets and finished records go to `stage`.
    fn run_into<S: Stage>(
        &mut self,
        reader: &mut CaptureReader,
        input: u32,
        stage: &mut S,
    ) -> InputSummary {
        let mut samples: HashMap<IpAddr, FlowTable> = HashMap::new();
        let mut skipped = [0u64; SkipReason::ALL.len()];
        let mut link_types = BTreeMap::new();
        let (mut read, mut decoded, mut bytes) = (0u64, 0u64, 0u64);
        let (mut first_ts, mut last_ts) = (TimestampNs::MAX, TimestampNs::MIN);
        let mut damage = None;
        let mut last_link = (u16::MAX, 0u64);
        let (mut datagrams, mut records) = (0u64, 0u64);
        let mut agents_over_limit = 0u64;
        let mut warnings = Vec::new();
        let mut records_filtered = 0u64;
        let cfg = self.cfg;
        let filter = &self.filter;
        let filtering = !filter.is_empty();
        let pairer = &mut self.pairer;
        let exports = &mut self.exports;
        // The stage is passed in (not reached through a `dyn` callback) so that a record
        // goes from `from_export` to the stage without being moved through calls.
        let mut on_item = |item: ExportItem<'_>,
                           ctx: DatagramContext,
                           samples: &mut HashMap<IpAddr, FlowTable>,
                           stage: &mut S| {
            match item {
                // Neither paired nor filtered: the records go out as they were decoded.
                ExportItem::Records(rs) if !filtering && pairer.is_none() => {
                    records += rs.len() as u64;
                    stage.exports(rs, input);
                }
                ExportItem::Records(rs) => {
                    for r in rs {
                        let kept = if filtering {
                            let f = from_export(r, input);
                            if !filter.record(&f) {
                                records_filtered += 1;
                                continue;
                            }
                            Some(f)
                        } else {
                            None
                        };
                        records += 1;
                        // Unfiltered, the record is built where the stage puts it.
                        match kept {
                            Some(f) => emit_export(stage, pairer, || f),
                            None => emit_export(stage, pairer, || from_export(r, input)),
                        }
                    }
                }
                ExportItem::Sample(sp) => {
                    let link = match sp.header_protocol {
                        1 => linktype::ETHERNET,
                        11 => linktype::IPV4,
                        12 => linktype::IPV6,
                        _ => {
                            records += 1;
                            return;
                        }
                    };
                    let raw = RawPacket {
                        index: ctx.index,
                        offset: ctx.offset,
                        ts: ctx.capture_ts,
                        orig_len: sp.frame_length,
                        link_type: link,
                        interface: 0,
                        data: sp.header,
                    };
                    let Ok(mut s) = decode::decode(&raw) else {
                        records += 1;
                        return;
                    };
                    if filtering && !filter.packet(&s) {
                        records_filtered += 1;
                        return;
                    }
                    records += 1;
                    s.vlan = s.vlan.or(sp.vlan);
                    // One flow table per agent, and a bounded number of agents.
                    if !samples.contains_key(&sp.exporter) && samples.len() >= MAX_SFLOW_AGENTS {
                        agents_over_limit += 1;
                        return;
                    }
                    let t = samples.entry(sp.exporter).or_insert_with(|| {
                        FlowTable::for_samples(
                            cfg,
                            input,
                            ExportMeta {
                                kind: ExportKind::Sflow,
                                exporter: sp.exporter,
                                domain: 0,
                                in_if: sp.in_if,
                                out_if: sp.out_if,
                                sampling: sp.sampling_rate,
                            },
                        )
                    });
                    t.advance(s.ts, &mut |r| stage.record(|| r));
                    t.push_weighted(&s, sp.sampling_rate, &mut |r| stage.record(|| r));
                }
            }
        };
        let mut left_for_exports = false;
        let mut reported_offset = 0u64;
        let mut last_offset = 0u64;
        let is_log = matches!(reader.format(), CaptureFormat::FlowLog(_));
        if (reader.format() == CaptureFormat::Export || is_log) && self.leave_exports {
            left_for_exports = true;
        } else if is_log {
            let mut bad = 0u64;
            loop {
                let item = match reader.next_log_item() {
                    Ok(Some(i)) => i,
                    Ok(None) => break,
                    Err(e) => {
                        damage = Some(e);
                        break;
                    }
                };
                read += 1;
                match item {
                    LogItem::Record(r) => {
                        decoded += 1;
                        bytes += r.bytes + r.reverse.map_or(0, |x| x.1);
                        first_ts = first_ts.min(r.start);
                        last_ts = last_ts.max(r.end);
                        let ctx = DatagramContext {
                            exporter: r.exporter,
                            port: 0,
                            capture_ts: r.start,
                            index: r.datagram_index,
                            offset: r.datagram_offset,
                        };
                        on_item(
                            ExportItem::Records(std::slice::from_ref(&r)),
                            ctx,
                            &mut samples,
                            stage,
                        );
                    }
                    LogItem::Bad(w) => {
                        bad += 1;
                        if warnings.len() < 100 {
                            warnings.push(w);
                        }
                    }
                }
                if read % PROGRESS_EVERY == 0 {
                    if let Some(p) = &self.progress {
                        use std::sync::atomic::Ordering::Relaxed;
                        p.packets.fetch_add(PROGRESS_EVERY, Relaxed);
                    }
                }
            }
            skipped[SkipReason::MalformedRecord as usize] += bad;
        } else if reader.format() == CaptureFormat::Export {
            loop {
                let d = match reader.next_datagram() {
                    Ok(Some(d)) => d,
                    Ok(None) => break,
                    Err(e) => {
                        damage = Some(e);
                        break;
                    }
                };
                datagrams += 1;
                read += 1;
                last_offset = d.offset + d.data.len() as u64;
                bytes += d.data.len() as u64;
                let ctx = DatagramContext {
                    exporter: IpAddr::V4(Ipv4Addr::UNSPECIFIED),
                    port: 0,
                    capture_ts: 0,
                    index: d.index,
                    offset: d.offset,
                };
                let w = exports.decode(d.kind, ctx, d.data, &mut |item| {
                    on_item(item, ctx, &mut samples, stage)
                });
                warnings.extend(w);
            }
        } else {
            loop {
                let raw = match reader.next_packet() {
                    Ok(Some(raw)) => raw,
                    Ok(None) => break,
                    Err(d) => {
                        damage = Some(d);
                        break;
                    }
                };
                read += 1;
                last_offset = raw.offset + raw.data.len() as u64;
                if read % PROGRESS_EVERY == 0 {
                    if let Some(p) = &self.progress {
                        use std::sync::atomic::Ordering::Relaxed;
                        p.packets.fetch_add(PROGRESS_EVERY, Relaxed);
                        p.bytes.fetch_add(raw.offset - reported_offset, Relaxed);
                        reported_offset = raw.offset;
                    }
                }
                bytes += u64::from(raw.orig_len);
                first_ts = first_ts.min(raw.ts);
                last_ts = last_ts.max(raw.ts);
                if raw.link_type == last_link.0 {
                    last_link.1 += 1;
                } else {
                    if last_link.1 > 0 {
                        *link_types.entry(last_link.0).or_insert(0) += last_link.1;
                    }
                    last_link = (raw.link_type, 1);
                }
                if let Some(keep) = &mut self.raw_filter {
                    if !keep(&raw) {
                        skipped[SkipReason::Filtered as usize] += 1;
                        continue;
                    }
                }
                // Decoded where the stage keeps it; committed only if it is a packet of
                // the flows (not an export datagram, not filtered out).
                let s = stage.slot();
                if let Err(r) = decode::decode_into(&raw, s) {
                    skipped[r as usize] += 1;
                    continue;
                }
                if self.decode_exports && s.proto == proto::UDP && !never_export(s) {
                    let found = s.udp_payload.and_then(|(o, len)| {
                        let payload = raw.data.get(o..o + len)?;
                        Some((export::detect(payload)?, payload))
                    });
                    if let Some((kind, payload)) = found {
                        if self.leave_exports {
                            left_for_exports = true;
                            break;
                        }
                        // Records leave in packet order: `stage.record` follows the
                        // packets before it.
                        datagrams += 1;
                        let ctx = DatagramContext {
                            exporter: s.src,
                            port: s.src_port,
                            capture_ts: raw.ts,
                            index: raw.index,
                            offset: raw.offset,
                        };
                        let w = exports.decode(kind, ctx, payload, &mut |item| {
                            on_item(item, ctx, &mut samples, stage)
                        });
                        warnings.extend(w);
                        decoded += 1;
                        continue;
                    }
                }
                if filtering && !filter.packet(s) {
                    skipped[SkipReason::Filtered as usize] += 1;
                    continue;
                }
                decoded += 1;
                stage.commit();
            }
        }
        if last_link.1 > 0 {
            *link_types.entry(last_link.0).or_insert(0) += last_link.1;
        }
        if let Some(p) = &self.progress {
            use std::sync::atomic::Ordering::Relaxed;
            p.packets.fetch_add(read % PROGRESS_EVERY, Relaxed);
            p.bytes
                .fetch_add(last_offset.saturating_sub(reported_offset), Relaxed);
        }
        stage.flush();
        let mut agents: Vec<_> = samples.into_iter().collect();
        agents.sort_by_key(|(a, _)| *a);
        for (_, mut t) in agents {
            t.flush(&mut |f| stage.record(|| f));
        }
        let (flows, fragments) = stage.finish();
        if reader.format() == CaptureFormat::Export {
            decoded = read;
        }
        if agents_over_limit > 0 {
            warnings.push(ExportWarning {
                offset: 0,
                what: format!("{agents_over_limit} sFlow samples skipped: more than {MAX_SFLOW_AGENTS} agents"),
            });
        }
        warnings.truncate(100);
        // An input left for the collector pass is read again there: do not hash it twice.
        let pending_digest = if left_for_exports {
            None
        } else {
            reader.digest()
        };
        let digest = match pending_digest {
            Some(Ok(d)) => Some(d),
            Some(Err(e)) => {
                damage.get_or_insert(Damage::new(0, format!("cannot finish hashing: {e}")));
                None
            }
            None => None,
        };
        InputSummary {
            input,
            name: reader.name().to_string(),
            format: reader.format(),
            compression: reader.compression(),
            packets_read: read,
            packets_decoded: decoded,
            skipped: SkipReason::ALL
                .iter()
                .zip(skipped)
                .filter(|(_, n)| *n > 0)
                .map(|(r, n)| (*r, n))
                .collect(),
            bytes_read: bytes,
            first_ts: (read > 0 && first_ts <= last_ts).then_some(first_ts),
            last_ts: (read > 0 && first_ts <= last_ts).then_some(last_ts),
            blocks_skipped: reader.skipped_blocks(),
            link_types,
            fragments,
            flows,
            damage,
            export_datagrams: datagrams,
            export_records: records,
            export_warnings: warnings,
            export_records_filtered: records_filtered,
            digest,
            left_for_exports,
        }
    }
}

/// Runs `work` on every item with up to `threads` threads and hands each result to
/// `consume`, on the calling thread, in item order (so output stays deterministic). At most
/// `2 × threads` items run ahead of the one `consume` waits for, bounding memory. One thread
/// runs everything on the calling thread.
pub fn in_order<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: impl Fn(usize, &T) -> R + Sync,
    mut consume: impl FnMut(usize, R),
) {
    let threads = threads.clamp(1, items.len().max(1));
    let started = if threads == 1 {
        0
    } else {
        in_order_on_threads(items, threads, &work, &mut consume)
    };
    // One thread, or none could be started: everything on the calling thread.
    if started == 0 {
        for (i, t) in items.iter().enumerate() {
            consume(i, work(i, t));
        }
    }
}

/// [`in_order`] on up to `threads` worker threads; returns how many started (0: nothing
/// was done).
fn in_order_on_threads<T: Sync, R: Send>(
    items: &[T],
    threads: usize,
    work: &(impl Fn(usize, &T) -> R + Sync),
    consume: &mut impl FnMut(usize, R),
) -> usize {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::{mpsc, Condvar, Mutex};
    let window = 2 * threads;
    let next = AtomicUsize::new(0);
    // The number of results consumed; usize::MAX once the consumer stopped (even by a
    // panic), so no worker waits for it forever.
    let gate = (Mutex::new(0usize), Condvar::new());
    struct Release<'a>(&'a (Mutex<usize>, Condvar));
    impl Drop for Release<'_> {
        fn drop(&mut self) {
            *self.0 .0.lock().unwrap_or_else(|e| e.into_inner()) = usize::MAX;
            self.0 .1.notify_all();
        }
    }
    std::thread::scope(|s| {
        let (tx, rx) = mpsc::channel::<(usize, R)>();
        // Workers the system refuses (its thread limit) are done without: the others
        // take every item; with none at all, the caller does.
        let mut started = 0;
        for _ in 0..threads {
            let (tx, work, next, gate) = (tx.clone(), &work, &next, &gate);
            let worker = std::thread::Builder::new().spawn_scoped(s, move || loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                if i >= items.len() {
                    break;
                }
                {
                    let (m, cv) = gate;
                    let mut done = m.lock().unwrap_or_else(|e| e.into_inner());
                    while i >= done.saturating_add(window) {
                        done = cv.wait(done).unwrap_or_else(|e| e.into_inner());
                    }
                    if *done == usize::MAX {
                        break;
                    }
                }
                if tx.send((i, work(i, &items[i]))).is_err() {
                    break;
                }
            });
            started += usize::from(worker.is_ok());
        }
        drop(tx);
        if started == 0 {
            return 0;
        }
        let _release = Release(&gate);
        let mut waiting = BTreeMap::new();
        let mut want = 0usize;
        for (i, r) in rx {
            waiting.insert(i, r);
            while let Some(r) = waiting.remove(&want) {
                consume(want, r);
                want += 1;
                let (m, cv) = &gate;
                *m.lock().unwrap_or_else(|e| e.into_inner()) = want;
                cv.notify_all();
            }
        }
        started
    })
}

#[cfg(test)]
mod in_order_tests {
    #[test]
    fn a_consumer_that_panics_does_not_leave_workers_waiting() {
        let items: Vec<u64> = (0..100).collect();
        let r = std::panic::catch_unwind(|| {
            super::in_order(&items, 2, |_, x| *x, |i, _| assert!(i < 3, "stop"));
        });
        assert!(r.is_err(), "the panic comes through, and the call returns");
    }

    #[test]
    fn results_arrive_in_order_whatever_the_threads() {
        let items: Vec<u64> = (0..200).collect();
        for threads in [1, 2, 3, 8] {
            let mut got = Vec::new();
            super::in_order(
                &items,
                threads,
                |i, x| {
                    // Uneven work so later items often finish first.
                    std::thread::sleep(std::time::Duration::from_micros((x * 37) % 300));
                    (i, x * 2)
                },
                |i, (j, y)| got.push((i, j, y)),
            );
            let want: Vec<_> = items
                .iter()
                .map(|&x| (x as usize, x as usize, x * 2))
                .collect();
            assert_eq!(got, want, "{threads} threads");
        }
    }
}
