//! Where the packet path hands what it decoded: the flow table (with the fragment tracker)
//! and the caller's `out`. [`Inline`] runs them on the reading thread; [`Split`] runs them
//! on a second thread, fed in order through a bounded channel, so that reading and decoding
//! overlap with flow assembly and whatever `out` does (judging, writing). Both see the same
//! packets and records in the same order, so their output is identical.

use std::sync::mpsc::{self, Receiver, SyncSender};
use std::thread::{Scope, ScopedJoinHandle};

use crate::decode::{FragStats, FragTracker, PacketSummary};
use crate::flow::table::Prepared;
use crate::flow::FlowSink;
use crate::flow::{FlowRecord, FlowTable, FlowTableStats};
use crate::input::export::ExportRecord;

/// Decoded packets an [`Inline`] stage collects before pushing them into the flow table
/// (see [`push_pipelined`]: the first `2 * AHEAD` of each batch are not prefetched far
/// enough ahead).
const BATCH: usize = 256;

/// How far ahead of the packet being pushed its successors' flow slots are prefetched (and
/// twice as far, their index buckets): enough pushes to cover a DRAM round trip.
const AHEAD: usize = 8;

/// Flow records handed to the sink at once when an input ends ([`FlowSink::flows`]):
/// enough to share among a few threads, a few megabytes at most.
const FLUSH_BATCH: usize = 8192;

/// Packets a [`Split`] stage sends at once.
const CHUNK: usize = 1024;

/// Records (from flow exports) a [`Split`] stage sends at once.
const CHUNK_RECORDS: usize = 256;

/// Chunks on their way or being worked on; with the ones coming back for reuse this bounds
/// the memory between the two threads to a few hundred kilobytes.
const IN_FLIGHT: usize = 2;

/// The flow-assembly end of the packet path.
pub(crate) trait Stage {
    /// Where the next packet is decoded: a place in the stage's batch, which becomes the
    /// stage's next packet at [`Stage::commit`] (and is written over otherwise).
    fn slot(&mut self) -> &mut PacketSummary;
    /// The packet written into [`Stage::slot`] is the next one, in capture order.
    fn commit(&mut self);
    /// A finished record from outside the flow table (flow exports, sFlow samples): it
    /// reaches `out` after the records of every packet before it.
    /// `make` builds it where it goes (a 296-byte record is not moved through calls).
    fn record(&mut self, make: impl FnOnce() -> FlowRecord);
    /// Export records of input `input` that go out as they are, in order, after the
    /// records of every packet before them ([`FlowSink::exports`]).
    fn exports(&mut self, records: &[ExportRecord], input: u32);
    /// End of the input's packets: fragments and flows still held are emitted.
    fn flush(&mut self);
    /// After the last record: the table's and fragment tracker's counters.
    fn finish(&mut self) -> (FlowTableStats, FragStats);
}

/// Pushes `packets`, in order, into the fragment tracker and flow table, as a software
/// pipeline: while packet `i` is pushed, the flow slot of packet `i + AHEAD` and the index
/// bucket of packet `i + 2 * AHEAD` are prefetched, so each lookup finds its cache lines
/// arrived instead of stalling on a DRAM round trip.
fn push_pipelined(
    packets: &[PacketSummary],
    preps: &mut Vec<Prepared>,
    table: &mut FlowTable,
    frags: &mut FragTracker,
    out: &mut impl FnMut(FlowRecord),
) {
    preps.clear();
    for i in 0..packets.len() + 2 * AHEAD {
        if let Some(s) = packets.get(i) {
            let p = table.prepare(s);
            table.prefetch_index(&p);
            preps.push(p);
        }
        if let Some(p) = i.checked_sub(AHEAD).and_then(|j| preps.get(j)) {
            table.prefetch_slot(p);
        }
        let Some(j) = i.checked_sub(2 * AHEAD) else {
            continue;
        };
        let (Some(s), Some(p)) = (packets.get(j), preps.get(j)) else {
            continue;
        };
        table.advance(s.ts, out);
        if !frags.is_empty() {
            frags.expire(s.ts, &mut |f| table.push(&f, out));
        }
        if s.frag.is_some() {
            frags.push(*s, &mut |f| table.push(&f, out));
        } else {
            // By reference: a summary is not copied again on its way into the table.
            table.push_prepared(s, *p, 1, out);
        }
    }
}

/// The flow table, the fragment tracker and `out`.
struct Assembly<'o, O> {
    table: FlowTable,
    frags: FragTracker,
    preps: Vec<Prepared>,
    out: &'o mut O,
}

impl<O: FlowSink> Assembly<'_, O> {
    /// Pushes `packets` in order, a batch at a time.
    fn push(&mut self, packets: &[PacketSummary]) {
        let Assembly {
            table,
            frags,
            preps,
            out,
        } = self;
        push_pipelined(packets, preps, table, frags, &mut |f| out.flow(f));
    }

    /// The end of the input: fragments still held, then the flows still held, which go
    /// out in batches ([`FlowSink::flows`]).
    fn flush(&mut self) {
        let Assembly {
            table, frags, out, ..
        } = self;
        frags.flush(&mut |p| table.push(&p, &mut |f| out.flow(f)));
        let mut batch = Vec::new();
        table.flush(&mut |f| {
            if batch.capacity() == 0 {
                batch.reserve_exact(FLUSH_BATCH);
            }
            batch.push(f);
            if batch.len() >= FLUSH_BATCH {
                out.flows(std::mem::take(&mut batch));
            }
        });
        if !batch.is_empty() {
            out.flows(batch);
        }
    }

    fn stats(&self) -> (FlowTableStats, FragStats) {
        (self.table.stats(), self.frags.stats())
    }
}

/// Everything on the calling thread.
pub(crate) struct Inline<'o, O> {
    asm: Assembly<'o, O>,
    /// `BATCH` places; the first `n` hold the packets not pushed yet.
    batch: Vec<PacketSummary>,
    n: usize,
}

impl<'o, O: FlowSink> Inline<'o, O> {
    pub(crate) fn new(table: FlowTable, frags: FragTracker, out: &'o mut O) -> Self {
        Inline {
            asm: Assembly {
                table,
                frags,
                preps: Vec::with_capacity(BATCH),
                out,
            },
            batch: vec![PacketSummary::EMPTY; BATCH],
            n: 0,
        }
    }

    fn push_pending(&mut self) {
        self.asm.push(self.batch.get(..self.n).unwrap_or_default());
        self.n = 0;
    }
}

impl<O: FlowSink> Stage for Inline<'_, O> {
    #[inline]
    fn slot(&mut self) -> &mut PacketSummary {
        // `n` < BATCH: a full batch is pushed at once.
        &mut self.batch[self.n]
    }

    // Inlined into the packet loop: 9 fewer instructions per packet (callgrind, `flows`).
    #[inline]
    fn commit(&mut self) {
        self.n += 1;
        if self.n == BATCH {
            self.push_pending();
        }
    }

    fn record(&mut self, make: impl FnOnce() -> FlowRecord) {
        self.push_pending();
        self.asm.out.flow(make());
    }

    fn exports(&mut self, records: &[ExportRecord], input: u32) {
        self.push_pending();
        self.asm.out.exports(records, input);
    }

    fn flush(&mut self) {
        self.push_pending();
        self.asm.flush();
    }

    fn finish(&mut self) -> (FlowTableStats, FragStats) {
        self.asm.stats()
    }
}

/// What one send carries: packets, records to emit before the packet at their position,
/// and whether the input's packets ended after these.
struct Chunk {
    /// `CHUNK` places; the first `n` hold packets.
    packets: Vec<PacketSummary>,
    n: usize,
    records: Vec<(usize, Emit)>,
    /// The export records [`Emit::Exports`] names.
    exports: Vec<ExportRecord>,
    flush: bool,
}

impl Chunk {
    fn new() -> Self {
        Chunk {
            packets: vec![PacketSummary::EMPTY; CHUNK],
            n: 0,
            records: Vec::new(),
            exports: Vec::new(),
            flush: false,
        }
    }
}

/// A record to emit. Kept unboxed: the chunk's vector is reused, so a flow record is
/// built in place instead of allocated.
#[allow(clippy::large_enum_variant)]
enum Emit {
    Flow(FlowRecord),
    /// A range of the chunk's export records, of one input.
    Exports(std::ops::Range<usize>, u32),
}

/// What a [`Split`] that could not start its thread gives back.
pub(crate) type SplitRefused<'o, O> = (FlowTable, FragTracker, &'o mut O);

/// The flow table, fragment tracker and `out` on a second thread.
pub(crate) struct Split<'scope> {
    cur: Chunk,
    to: Option<SyncSender<Chunk>>,
    back: Receiver<Chunk>,
    worker: Option<ScopedJoinHandle<'scope, (FlowTableStats, FragStats)>>,
}

impl<'scope> Split<'scope> {
    /// Starts the assembling thread in `scope`; when no thread can be started (the
    /// system's thread limit), gives the table, tracker and `out` back, for one thread.
    pub(crate) fn spawn<'env, O: FlowSink + Send>(
        scope: &'scope Scope<'scope, 'env>,
        table: FlowTable,
        frags: FragTracker,
        out: &'scope mut O,
    ) -> Result<Self, Box<SplitRefused<'scope, O>>> {
        let (to, from) = mpsc::sync_channel::<Chunk>(IN_FLIGHT);
        let (back_to, back) = mpsc::channel::<Chunk>();
        // What the thread works with moves in only once it has started, so that a
        // refusal can give it back.
        let (give, take) = mpsc::sync_channel::<SplitRefused<'scope, O>>(1);
        let worker = std::thread::Builder::new().spawn_scoped(scope, move || {
            let Ok((table, frags, out)) = take.recv() else {
                return (FlowTableStats::default(), FragStats::default());
            };
            let mut asm = Assembly {
                table,
                frags,
                preps: Vec::with_capacity(CHUNK),
                out,
            };
            for mut c in from {
                let mut at = 0;
                for (pos, r) in c.records.drain(..) {
                    asm.push(c.packets.get(at..pos).unwrap_or_default());
                    match r {
                        Emit::Flow(f) => asm.out.flow(f),
                        Emit::Exports(range, input) => {
                            asm.out
                                .exports(c.exports.get(range).unwrap_or_default(), input);
                        }
                    }
                    at = pos;
                }
                c.exports.clear();
                asm.push(c.packets.get(at..c.n).unwrap_or_default());
                if c.flush {
                    asm.flush();
                }
                c.n = 0;
                c.flush = false;
                // The reader may be gone already; the chunk is then simply dropped.
                let _ = back_to.send(c);
            }
            asm.stats()
        });
        let Ok(worker) = worker else {
            return Err(Box::new((table, frags, out)));
        };
        // The thread is waiting for exactly this; it cannot have ended.
        let _ = give.send((table, frags, out));
        Ok(Split {
            cur: Chunk::new(),
            to: Some(to),
            back,
            worker: Some(worker),
        })
    }

    fn send(&mut self) {
        let fresh = self.back.try_recv().unwrap_or_else(|_| Chunk::new());
        let c = std::mem::replace(&mut self.cur, fresh);
        if let Some(to) = &self.to {
            if to.send(c).is_err() {
                // The worker ended (it panicked): `finish` passes the panic on.
                self.to = None;
            }
        }
    }
}

impl Stage for Split<'_> {
    fn slot(&mut self) -> &mut PacketSummary {
        // `n` < CHUNK: a full chunk is sent at once.
        &mut self.cur.packets[self.cur.n]
    }

    fn commit(&mut self) {
        self.cur.n += 1;
        if self.cur.n >= CHUNK {
            self.send();
        }
    }

    fn record(&mut self, make: impl FnOnce() -> FlowRecord) {
        self.cur.records.push((self.cur.n, Emit::Flow(make())));
        if self.cur.records.len() >= CHUNK_RECORDS {
            self.send();
        }
    }

    fn exports(&mut self, records: &[ExportRecord], input: u32) {
        let at = self.cur.exports.len();
        self.cur.exports.extend_from_slice(records);
        let range = at..self.cur.exports.len();
        self.cur
            .records
            .push((self.cur.n, Emit::Exports(range, input)));
        if self.cur.records.len() >= CHUNK_RECORDS || self.cur.exports.len() >= CHUNK_RECORDS {
            self.send();
        }
    }

    fn flush(&mut self) {
        self.cur.flush = true;
        self.send();
    }

    fn finish(&mut self) -> (FlowTableStats, FragStats) {
        if self.cur.n > 0 || !self.cur.records.is_empty() {
            self.send();
        }
        self.to = None;
        match self.worker.take().map(ScopedJoinHandle::join) {
            Some(Ok(stats)) => stats,
            Some(Err(panic)) => std::panic::resume_unwind(panic),
            None => unreachable!("finish is called once"),
        }
    }
}
