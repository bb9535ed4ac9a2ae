//! The flow table: bidirectional keying, initiator decision, timeouts on the capture clock,
//! bounded size. Expired flows stream out through a callback; memory is O(active flows).

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::net::IpAddr;

use std::hash::BuildHasher;

use hashbrown::{DefaultHashBuilder, HashMap};

use super::index::SlotIndex;

use super::community_id::icmp_counterpart;
use super::tcp_flags::{ACK, FIN, RST, SYN};
use super::{ConnState, DirStats, EndReason, FlowRecord};
use crate::decode::{proto, FragConfig, PacketSummary, Tunnel};
use crate::time::{TimestampNs, NS_PER_SEC};

/// Flow timeouts on the capture clock, in nanoseconds; 0 disables a timeout.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Timeouts {
    /// Idle timeout of TCP flows. Default 300 s (Zeek's TCP inactivity timeout).
    pub tcp_idle: TimestampNs,
    /// Idle timeout of UDP flows. Default 60 s.
    pub udp_idle: TimestampNs,
    /// Idle timeout of ICMP/ICMPv6 flows. Default 60 s.
    pub icmp_idle: TimestampNs,
    /// Idle timeout of other protocols. Default 60 s.
    pub other_idle: TimestampNs,
    /// Active timeout: a flow longer than this is emitted and continued in a new record.
    /// Default 1800 s (what exporters use).
    pub active: TimestampNs,
    /// After FIN from both sides or a RST, the flow is emitted this long after the last
    /// packet (late ACKs and retransmissions still count). Default 5 s.
    pub tcp_close_linger: TimestampNs,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            tcp_idle: 300 * NS_PER_SEC,
            udp_idle: 60 * NS_PER_SEC,
            icmp_idle: 60 * NS_PER_SEC,
            other_idle: 60 * NS_PER_SEC,
            active: 1800 * NS_PER_SEC,
            tcp_close_linger: 5 * NS_PER_SEC,
        }
    }
}

impl Timeouts {
    /// All timeouts disabled: every flow lives until the end of its input.
    pub fn disabled() -> Self {
        Timeouts {
            tcp_idle: 0,
            udp_idle: 0,
            icmp_idle: 0,
            other_idle: 0,
            active: 0,
            tcp_close_linger: 0,
        }
    }

    /// The idle timeout that applies to `ip_proto`.
    pub fn idle_for(&self, ip_proto: u8) -> TimestampNs {
        match ip_proto {
            proto::TCP => self.tcp_idle,
            proto::UDP => self.udp_idle,
            proto::ICMP | proto::ICMPV6 => self.icmp_idle,
            _ => self.other_idle,
        }
    }
}

/// Configuration of flow assembly.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FlowConfig {
    /// Timeouts.
    pub timeouts: Timeouts,
    /// Put the VLAN ids into the flow key (when segments reuse address space).
    pub vlan_in_key: bool,
    /// Most flows held at once; beyond it the flow closest to expiry is emitted early.
    /// Default 4 194 304.
    pub max_flows: usize,
    /// Fragment tracking bounds.
    pub frag: FragConfig,
    /// Record the number of every packet of every flow in
    /// [`FlowRecord::packet_indices`] (for extracting evidence; costs 8 bytes per packet of
    /// each live flow). Default false.
    pub track_packets: bool,
}

impl Default for FlowConfig {
    fn default() -> Self {
        FlowConfig {
            timeouts: Timeouts::default(),
            vlan_in_key: false,
            max_flows: 1 << 22,
            frag: FragConfig::default(),
            track_packets: false,
        }
    }
}

/// Counters of a flow table.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FlowTableStats {
    /// Packets added.
    pub packets: u64,
    /// Records emitted.
    pub records: u64,
    /// Records whose initiator is not the sender of their first packet.
    pub flipped: u64,
    /// Records emitted by idle timeout.
    pub idle: u64,
    /// Records emitted by active timeout.
    pub active: u64,
    /// Records emitted after a TCP close.
    pub tcp_close: u64,
    /// Records emitted because a new SYN reused a closed connection's 5-tuple.
    pub new_connection: u64,
    /// Records emitted early because the table was full.
    pub capacity: u64,
    /// Records emitted at the end of the input.
    pub end_of_input: u64,
    /// Most flows held at once.
    pub peak_flows: u64,
}

const NO_VLAN: u16 = u16::MAX;

/// A flow's key, 44 bytes: addresses as 16 bytes each (IPv4 in the first four, the rest
/// zero) and their families in `fam`, rather than two 17-byte `IpAddr`s.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    lo: [u8; 16],
    hi: [u8; 16],
    lo_port: u16,
    hi_port: u16,
    icmp_id: u16,
    vlan: u16,
    inner_vlan: u16,
    proto: u8,
    /// The families of `lo` and `hi` (an enum, so that `Option<Flow>` needs no extra tag).
    fam: Families,
}

/// Whether `lo` and `hi` are IPv6 (mixed families only come from hand-made summaries).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[repr(u8)]
enum Families {
    V4 = 0,
    LoV6 = 1,
    HiV6 = 2,
    V6 = 3,
}

impl Families {
    fn of(lo_v6: bool, hi_v6: bool) -> Self {
        match (lo_v6, hi_v6) {
            (false, false) => Families::V4,
            (true, false) => Families::LoV6,
            (false, true) => Families::HiV6,
            (true, true) => Families::V6,
        }
    }
}

fn addr_bytes(a: IpAddr) -> [u8; 16] {
    match a {
        IpAddr::V4(a) => {
            let mut b = [0; 16];
            b[..4].copy_from_slice(&a.octets());
            b
        }
        IpAddr::V6(a) => a.octets(),
    }
}

impl Key {
    fn addr(b: &[u8; 16], v6: bool) -> IpAddr {
        if v6 {
            IpAddr::from(*b)
        } else {
            IpAddr::from([b[0], b[1], b[2], b[3]])
        }
    }

    fn lo(&self) -> IpAddr {
        Self::addr(&self.lo, self.fam as u8 & 1 != 0)
    }

    fn hi(&self) -> IpAddr {
        Self::addr(&self.hi, self.fam as u8 & 2 != 0)
    }
}

/// One direction of a held flow (the TCP flags live in [`Flow::tcp_flags`], so that this
/// is 32 bytes rather than [`DirStats`]'s 40).
#[derive(Clone, Copy, Default)]
struct Dir {
    packets: u64,
    bytes: u64,
    first_ts: TimestampNs,
    last_ts: TimestampNs,
}

impl Dir {
    #[inline]
    fn add(&mut self, ts: TimestampNs, len: u32, weight: u32) {
        if self.packets == 0 {
            self.first_ts = ts;
            self.last_ts = ts;
        } else {
            self.first_ts = self.first_ts.min(ts);
            self.last_ts = self.last_ts.max(ts);
        }
        self.packets = self.packets.saturating_add(u64::from(weight));
        self.bytes = self
            .bytes
            .saturating_add(u64::from(len) * u64::from(weight));
    }

    fn stats(&self, tcp_flags: u8) -> DirStats {
        DirStats {
            packets: self.packets,
            bytes: self.bytes,
            tcp_flags,
            first_ts: self.first_ts,
            last_ts: self.last_ts,
        }
    }
}

/// Bits of [`Flow::bits`].
mod bit {
    /// The initiator is the `lo` side of the key.
    pub const ORIG_LO: u8 = 1;
    /// The initiator is not the sender of the first packet.
    pub const FLIPPED: u8 = 2;
    /// A pure SYN was seen (it decided the initiator).
    pub const SYN_SEEN: u8 = 4;
    /// This record continues one cut by the active timeout.
    pub const CONTINUED: u8 = 8;
    /// Every packet had its ports (no non-first fragment).
    pub const PORTS_KNOWN: u8 = 16;
    /// `macs[0]` / `macs[1]` hold an address.
    pub const MAC: [u8; 2] = [32, 64];
    /// A RST or the second FIN was seen (at `closed_at`, which lives in the slot's third
    /// cache line: this bit answers "closed?" from the first).
    pub const CLOSED: u8 = 128;
}

/// `closed_at` of a flow that is not closed.
const NOT_CLOSED: TimestampNs = TimestampNs::MIN;

/// A held flow: 192 bytes, three cache lines, laid out so that a packet of a known flow
/// touches only the first two (its key, bits, flags, counters and times) and a batch can
/// prefetch exactly those ([`FlowTable::prefetch_slot`]); the third holds what only a new,
/// closing or ending flow needs. With its index bucket (8 bytes, at most three quarters
/// full) and deadline-heap entry (16 bytes), about 245 bytes per held flow
/// (benches/README.md).
#[repr(C, align(64))]
struct Flow {
    // First line.
    key: Key,
    /// [`bit`]s.
    bits: u8,
    /// OR of the TCP flags, [lo → hi, hi → lo].
    tcp_flags: [u8; 2],
    first_index: u64,
    last_ts: TimestampNs,
    // Second line.
    /// [lo → hi, hi → lo].
    dirs: [Dir; 2],
    // Third line.
    /// When a RST or the second FIN was seen (set with [`bit::CLOSED`]), or [`NOT_CLOSED`].
    closed_at: TimestampNs,
    seq: u64,
    first_offset: u64,
    /// Boxed: few flows are tunnelled, and every flow would pay for the room.
    tunnel: Option<Box<Tunnel>>,
    /// Source MAC of each direction's first packet that had one (see [`bit::MAC`]).
    macs: [[u8; 6]; 2],
    /// Outer and inner VLAN ids of the first packet; [`NO_VLAN`] for none (ids are 12-bit).
    vlan: u16,
    inner_vlan: u16,
}

/// Byte offsets, within a slot, of the two cache lines a packet of a known flow touches.
const HOT_LINES: [usize; 2] = [0, 64];

impl Flow {
    fn is_empty(&self) -> bool {
        self.dirs[0].packets == 0 && self.dirs[1].packets == 0
    }

    fn is_closed(&self) -> bool {
        self.has(bit::CLOSED)
    }

    fn has(&self, b: u8) -> bool {
        self.bits & b != 0
    }

    fn set(&mut self, b: u8, on: bool) {
        if on {
            self.bits |= b;
        } else {
            self.bits &= !b;
        }
    }

    fn mac(&self, dir: usize) -> Option<[u8; 6]> {
        self.has(bit::MAC[dir]).then_some(self.macs[dir])
    }

    fn seg_first_ts(&self) -> TimestampNs {
        match (self.dirs[0].packets, self.dirs[1].packets) {
            (0, _) => self.dirs[1].first_ts,
            (_, 0) => self.dirs[0].first_ts,
            _ => self.dirs[0].first_ts.min(self.dirs[1].first_ts),
        }
    }

    /// When this flow expires, and why.
    fn deadline(&self, t: &Timeouts) -> (TimestampNs, EndReason) {
        let mut best = (TimestampNs::MAX, EndReason::Idle);
        let idle = t.idle_for(self.key.proto);
        if idle > 0 {
            best = (self.last_ts.saturating_add(idle), EndReason::Idle);
        }
        if t.active > 0 && !self.is_empty() {
            let d = self.seg_first_ts().saturating_add(t.active);
            if d < best.0 {
                best = (d, EndReason::Active);
            }
        }
        if self.is_closed() && t.tcp_close_linger > 0 {
            let d = self
                .closed_at
                .max(self.last_ts)
                .saturating_add(t.tcp_close_linger);
            if d < best.0 {
                best = (d, EndReason::TcpClose);
            }
        }
        best
    }
}

/// A packet's flow key, direction and hash, computed once before its push.
#[derive(Clone, Copy)]
pub(crate) struct Prepared {
    key: Key,
    dir: usize,
    hash: u64,
}

/// Slots per chunk of [`Slots`]: 3 MiB of address space, large enough for the allocator to
/// map each chunk on its own (192 KiB chunks, carved from the heap among the findings, cost
/// 5–9 MiB more peak RSS); its pages are only touched as its slots are used.
const CHUNK_BITS: u32 = 14;
pub(super) const CHUNK_SLOTS: usize = 1 << CHUNK_BITS;

/// The flow slots, in chunks of [`CHUNK_SLOTS`] rather than one vector: growing never
/// copies the slots already held. A vector of 64-byte-aligned slots cannot be grown in
/// place by `mremap`, so every doubling had the old and new copies resident at once (peak
/// RSS +23 MiB on the 10 M IMIX file). Each chunk is allocated at its full capacity and
/// filled by `push`, so its pages are touched only as slots are used.
#[derive(Default)]
struct Slots {
    chunks: Vec<Vec<Option<Flow>>>,
}

impl Slots {
    /// Slot `i`, if it was ever used.
    #[inline]
    fn get(&self, i: usize) -> Option<&Option<Flow>> {
        self.chunks.get(i >> CHUNK_BITS)?.get(i & (CHUNK_SLOTS - 1))
    }

    /// Puts `flow` into a new slot at the end and returns its number.
    fn push(&mut self, flow: Flow) -> u32 {
        let full = self.chunks.last().is_none_or(|c| c.len() == CHUNK_SLOTS);
        if full {
            self.chunks.push(Vec::with_capacity(CHUNK_SLOTS));
        }
        let n = self.chunks.len() - 1;
        let chunk = &mut self.chunks[n];
        chunk.push(Some(flow));
        ((n << CHUNK_BITS) + chunk.len() - 1) as u32
    }

    /// Every slot ever used, in order.
    fn iter(&self) -> impl Iterator<Item = &Option<Flow>> {
        self.chunks.iter().flatten()
    }
}

impl std::ops::Index<usize> for Slots {
    type Output = Option<Flow>;

    #[inline]
    fn index(&self, i: usize) -> &Option<Flow> {
        &self.chunks[i >> CHUNK_BITS][i & (CHUNK_SLOTS - 1)]
    }
}

impl std::ops::IndexMut<usize> for Slots {
    #[inline]
    fn index_mut(&mut self, i: usize) -> &mut Option<Flow> {
        &mut self.chunks[i >> CHUNK_BITS][i & (CHUNK_SLOTS - 1)]
    }
}

/// A deadline-heap entry: (deadline, the low 32 bits of the flow's sequence number, slot).
/// Entries are checked against the slot's flow when popped; 16 bytes.
type HeapEntry = Reverse<(TimestampNs, u32, u32)>;

/// Assembles packet summaries of one input into bidirectional flows.
pub struct FlowTable {
    cfg: FlowConfig,
    input: u32,
    /// Slot numbers, found by the hash of their flow's key (the key lives in the slot only).
    index: SlotIndex,
    hasher: DefaultHashBuilder,
    slots: Slots,
    free: Vec<u32>,
    /// (deadline, flow seq, slot); entries are checked against the slot when popped.
    heap: BinaryHeap<HeapEntry>,
    next_seq: u64,
    now: TimestampNs,
    stats: FlowTableStats,
    /// Set on tables that assemble sampled packets (sFlow): recorded on every flow.
    export_meta: Option<super::ExportMeta>,
    /// Packet numbers of each live flow, by flow sequence number (only when tracking).
    tracks: Option<HashMap<u64, Vec<u64>>>,
}

impl FlowTable {
    /// An empty table for the input numbered `input`.
    pub fn new(cfg: FlowConfig, input: u32) -> Self {
        FlowTable {
            cfg,
            input,
            index: SlotIndex::new(),
            hasher: DefaultHashBuilder::default(),
            slots: Slots::default(),
            free: Vec::new(),
            heap: BinaryHeap::new(),
            next_seq: 0,
            now: TimestampNs::MIN,
            stats: FlowTableStats::default(),
            export_meta: None,
            tracks: cfg.track_packets.then(HashMap::new),
        }
    }

    /// A table for packets sampled by an exporter (sFlow): every flow records `meta`.
    pub fn for_samples(cfg: FlowConfig, input: u32, meta: super::ExportMeta) -> Self {
        let mut t = Self::new(cfg, input);
        t.export_meta = Some(meta);
        t
    }

    /// Counters so far.
    pub fn stats(&self) -> FlowTableStats {
        self.stats
    }

    /// Flows currently held.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether no flow is held.
    pub fn is_empty(&self) -> bool {
        self.index.len() == 0
    }

    /// Moves the capture clock to `ts` (it never goes back) and emits what expired.
    pub fn advance(&mut self, ts: TimestampNs, out: &mut impl FnMut(FlowRecord)) {
        if ts > self.now {
            self.now = ts;
            // Once per packet: most packets have no deadline to pass, told here inline.
            if self
                .heap
                .peek()
                .is_some_and(|&Reverse((d, _, _))| d < self.now)
            {
                self.expire(out);
            }
        }
    }

    /// Adds one packet (the clock should have been advanced to its time).
    pub fn push(&mut self, p: &PacketSummary, out: &mut impl FnMut(FlowRecord)) {
        self.push_weighted(p, 1, out);
    }

    /// Adds one sampled packet standing for `weight` packets (sFlow's 1-in-N sampling):
    /// packets and bytes count `weight` times.
    pub fn push_weighted(
        &mut self,
        p: &PacketSummary,
        weight: u32,
        out: &mut impl FnMut(FlowRecord),
    ) {
        let prep = self.prepare(p);
        self.push_prepared(p, prep, weight, out);
    }

    /// The key, direction and hash of `p`'s flow (for [`FlowTable::prefetch_index`],
    /// [`FlowTable::prefetch_slot`] and [`FlowTable::push_prepared`]).
    #[inline]
    pub(crate) fn prepare(&self, p: &PacketSummary) -> Prepared {
        let (key, dir) = self.key_of(p);
        Prepared {
            key,
            dir,
            hash: self.hasher.hash_one(key),
        }
    }

    /// Prefetches the index bucket of a prepared packet.
    #[inline]
    pub(crate) fn prefetch_index(&self, prep: &Prepared) {
        self.index.prefetch(prep.hash);
    }

    /// Prefetches the slot of a prepared packet's flow (after its bucket was prefetched).
    #[inline]
    pub(crate) fn prefetch_slot(&self, prep: &Prepared) {
        if let Some(slot) = self.index.first(prep.hash) {
            if let Some(s) = self.slots.get(slot as usize) {
                for off in HOT_LINES {
                    crate::prefetch::prefetch_at(s, off);
                }
            }
        }
    }

    /// [`FlowTable::push_weighted`] for a packet prepared by [`FlowTable::prepare`].
    pub(crate) fn push_prepared(
        &mut self,
        p: &PacketSummary,
        prep: Prepared,
        weight: u32,
        out: &mut impl FnMut(FlowRecord),
    ) {
        self.stats.packets += 1;
        let Prepared { key, dir, hash: h } = prep;
        let pure_syn = p.proto == proto::TCP && p.tcp_flags & (SYN | ACK) == SYN;
        let slots = &self.slots;
        let found = self.index.find(h, |s| {
            slots[s as usize].as_ref().is_some_and(|f| f.key == key)
        });
        let slot = match found {
            Some(slot) => {
                let reuse = pure_syn && self.flow(slot).is_closed();
                if reuse {
                    self.remove(slot, EndReason::NewConnection, out);
                    self.create(key, h, dir, p, out)
                } else {
                    slot
                }
            }
            None => self.create(key, h, dir, p, out),
        };
        let closed_before = self.flow(slot).is_closed();
        let f = self.slots[slot as usize].as_mut().expect("live slot");
        let was_empty = f.is_empty();
        if was_empty || (p.index < f.first_index) {
            f.first_index = p.index;
            f.first_offset = p.offset;
        }
        f.dirs[dir].add(p.ts, p.wire_len, weight);
        f.tcp_flags[dir] |= p.tcp_flags;
        if let Some(t) = &mut self.tracks {
            t.entry(f.seq).or_default().push(p.index);
        }
        f.last_ts = f.last_ts.max(p.ts);
        if !f.has(bit::MAC[dir]) {
            if let Some(m) = p.src_mac {
                f.macs[dir] = m;
                f.bits |= bit::MAC[dir];
            }
        }
        if !p.ports_known {
            f.bits &= !bit::PORTS_KNOWN;
        }
        if p.proto == proto::TCP {
            if pure_syn && !f.has(bit::SYN_SEEN) {
                // The first SYN decides who initiated.
                f.bits |= bit::SYN_SEEN;
                let sender_lo = dir == 0;
                if sender_lo != f.has(bit::ORIG_LO) {
                    f.set(bit::ORIG_LO, sender_lo);
                    f.bits ^= bit::FLIPPED;
                }
            }
            let fin_both = f.tcp_flags[0] & FIN != 0 && f.tcp_flags[1] & FIN != 0;
            if !f.is_closed() && (p.tcp_flags & RST != 0 || fin_both) {
                // A clock at the very minimum would read as "not closed": such a flow
                // then ends by its idle timeout instead.
                f.closed_at = p.ts;
                f.set(bit::CLOSED, p.ts != NOT_CLOSED);
            }
        }
        if was_empty || (!closed_before && f.is_closed()) {
            // A new (or continued) flow gets its deadline; closing brings it forward.
            // Deadlines otherwise only move later, which expiry re-checks lazily.
            let (d, _) = f.deadline(&self.cfg.timeouts);
            let seq = f.seq as u32;
            self.heap.push(Reverse((d, seq, slot)));
        }
    }

    /// Emits every remaining flow in order of creation (end of input).
    pub fn flush(&mut self, out: &mut impl FnMut(FlowRecord)) {
        let mut live: Vec<(u64, u32)> = self
            .slots
            .iter()
            .enumerate()
            .filter_map(|(i, s)| s.as_ref().map(|f| (f.seq, i as u32)))
            .collect();
        live.sort_unstable();
        for (_, slot) in live {
            self.release(slot, EndReason::EndOfInput, out);
        }
        // Every flow is gone: the index is emptied at once, not entry by entry (a removal
        // shifts its run back, a cache miss per flow at the end of every input).
        self.index.clear();
        self.heap.clear();
    }

    fn flow(&self, slot: u32) -> &Flow {
        self.slots[slot as usize].as_ref().expect("live slot")
    }

    fn key_of(&self, p: &PacketSummary) -> (Key, usize) {
        let (sp, dp) = match p.proto {
            proto::ICMP | proto::ICMPV6 => match icmp_counterpart(p.proto, p.src_port as u8) {
                Some(c) => (p.src_port, u16::from(c)),
                None => (p.src_port, p.dst_port),
            },
            _ => (p.src_port, p.dst_port),
        };
        let icmp_id = if matches!(p.proto, proto::ICMP | proto::ICMPV6) {
            p.icmp_id
        } else {
            0
        };
        let (vlan, inner_vlan) = if self.cfg.vlan_in_key {
            (p.vlan.unwrap_or(NO_VLAN), p.inner_vlan.unwrap_or(NO_VLAN))
        } else {
            (NO_VLAN, NO_VLAN)
        };
        // `(src, sp) <= (dst, dp)` in `IpAddr`'s order (IPv4 before IPv6, then the address
        // bytes), on integers.
        let (sb, db) = (addr_bytes(p.src), addr_bytes(p.dst));
        let (s6, d6) = (p.src.is_ipv6(), p.dst.is_ipv6());
        let forward = (s6, u128::from_be_bytes(sb), sp) <= (d6, u128::from_be_bytes(db), dp);
        let (lo, lo_port, hi, hi_port) = if forward {
            (sb, sp, db, dp)
        } else {
            (db, dp, sb, sp)
        };
        let (lo6, hi6) = if forward { (s6, d6) } else { (d6, s6) };
        (
            Key {
                lo,
                hi,
                lo_port,
                hi_port,
                icmp_id,
                vlan,
                inner_vlan,
                proto: p.proto,
                fam: Families::of(lo6, hi6),
            },
            usize::from(!forward),
        )
    }

    fn create(
        &mut self,
        key: Key,
        hash: u64,
        dir: usize,
        p: &PacketSummary,
        out: &mut impl FnMut(FlowRecord),
    ) -> u32 {
        if self.index.len() >= self.cfg.max_flows.max(1) {
            self.evict_for_capacity(out);
        }
        // Is the sender of this first packet the initiator?
        let mut syn_seen = false;
        let sender_is_orig = match p.proto {
            proto::TCP if p.tcp_flags & (SYN | ACK) == SYN | ACK => false,
            proto::TCP if p.tcp_flags & SYN != 0 => {
                syn_seen = true;
                true
            }
            proto::TCP | proto::UDP => !(p.ports_known && p.src_port < 1024 && p.dst_port >= 1024),
            proto::ICMP => !matches!(p.src_port, 0 | 14 | 16 | 18),
            proto::ICMPV6 => !matches!(p.src_port, 129 | 140 | 145),
            _ => true,
        };
        let seq = self.next_seq;
        self.next_seq += 1;
        let mut bits = bit::PORTS_KNOWN;
        if (dir == 0) == sender_is_orig {
            bits |= bit::ORIG_LO;
        }
        if !sender_is_orig {
            bits |= bit::FLIPPED;
        }
        if syn_seen {
            bits |= bit::SYN_SEEN;
        }
        let flow = Flow {
            key,
            bits,
            tcp_flags: [0; 2],
            vlan: p.vlan.unwrap_or(NO_VLAN),
            inner_vlan: p.inner_vlan.unwrap_or(NO_VLAN),
            macs: [[0; 6]; 2],
            seq,
            dirs: [Dir::default(); 2],
            last_ts: p.ts,
            closed_at: NOT_CLOSED,
            first_index: p.index,
            first_offset: p.offset,
            tunnel: p.tunnel.map(Box::new),
        };
        let slot = match self.free.pop() {
            Some(s) => {
                self.slots[s as usize] = Some(flow);
                s
            }
            None => self.slots.push(flow),
        };
        self.index.insert(hash, slot);
        self.stats.peak_flows = self.stats.peak_flows.max(self.index.len() as u64);
        slot
    }

    fn expire(&mut self, out: &mut impl FnMut(FlowRecord)) {
        while let Some(&Reverse((d, seq, slot))) = self.heap.peek() {
            if d >= self.now {
                return;
            }
            self.heap.pop();
            let Some(f) = self.slots[slot as usize].as_mut() else {
                continue;
            };
            if f.seq as u32 != seq {
                continue;
            }
            let (actual, reason) = f.deadline(&self.cfg.timeouts);
            if actual > d {
                self.heap.push(Reverse((actual, seq, slot)));
                continue;
            }
            if reason == EndReason::Active {
                // Emit what we have and keep the flow for its continuation.
                let rec = self.record(slot, reason);
                out(rec);
                let f = self.slots[slot as usize].as_mut().expect("live slot");
                f.dirs = [Dir::default(); 2];
                f.tcp_flags = [0; 2];
                f.bits |= bit::CONTINUED;
                f.closed_at = NOT_CLOSED;
                f.bits &= !bit::CLOSED;
                let (nd, _) = f.deadline(&self.cfg.timeouts);
                self.heap.push(Reverse((nd, seq, slot)));
            } else {
                self.remove(slot, reason, out);
            }
        }
    }

    fn evict_for_capacity(&mut self, out: &mut impl FnMut(FlowRecord)) {
        while let Some(Reverse((_, seq, slot))) = self.heap.pop() {
            if self.slots[slot as usize]
                .as_ref()
                .is_some_and(|f| f.seq as u32 == seq)
            {
                self.remove(slot, EndReason::Capacity, out);
                return;
            }
        }
    }

    fn remove(&mut self, slot: u32, reason: EndReason, out: &mut impl FnMut(FlowRecord)) {
        if let Some(key) = self.release(slot, reason, out) {
            let h = self.hasher.hash_one(key);
            self.index.remove(h, slot);
        }
    }

    /// Emits the flow in `slot` (unless it has no packets) and frees the slot; returns its
    /// key, whose index entry the caller removes (or empties the index).
    fn release(
        &mut self,
        slot: u32,
        reason: EndReason,
        out: &mut impl FnMut(FlowRecord),
    ) -> Option<Key> {
        if !self.flow(slot).is_empty() {
            let rec = self.record(slot, reason);
            out(rec);
        }
        let f = self.slots[slot as usize].take()?;
        self.free.push(slot);
        Some(f.key)
    }

    fn record(&mut self, slot: u32, reason: EndReason) -> FlowRecord {
        let f = self.slots[slot as usize].as_ref().expect("live slot");
        let packet_indices = match &mut self.tracks {
            Some(t) => t.remove(&f.seq).unwrap_or_default(),
            None => Vec::new(),
        };
        let k = &f.key;
        let orig_lo = f.has(bit::ORIG_LO);
        let (o, r) = if orig_lo { (0, 1) } else { (1, 0) };
        let (src_ip, src_port, dst_ip, dst_port) = if orig_lo {
            (k.lo(), k.lo_port, k.hi(), k.hi_port)
        } else {
            (k.hi(), k.hi_port, k.lo(), k.lo_port)
        };
        let (fwd, rev) = (
            f.dirs[o].stats(f.tcp_flags[o]),
            f.dirs[r].stats(f.tcp_flags[r]),
        );
        let vlan_of = |v: u16| (v != NO_VLAN).then_some(v);
        let icmp = matches!(k.proto, proto::ICMP | proto::ICMPV6);
        let icmp_id =
            (icmp && icmp_counterpart(k.proto, src_port as u8).is_some()).then_some(k.icmp_id);
        let rec = FlowRecord {
            src_ip,
            dst_ip,
            src_port,
            dst_port,
            proto: k.proto,
            icmp_id,
            vlan: vlan_of(f.vlan),
            inner_vlan: vlan_of(f.inner_vlan),
            first_ts: f.seg_first_ts(),
            last_ts: fwd.last_ts.max(rev.last_ts),
            fwd,
            rev,
            state: ConnState::derive(
                k.proto,
                fwd.tcp_flags,
                rev.tcp_flags,
                fwd.packets,
                rev.packets,
            ),
            flipped: f.has(bit::FLIPPED),
            continued: f.has(bit::CONTINUED),
            end_reason: reason,
            tunnel: f.tunnel.as_deref().copied(),
            src_mac: f.mac(o),
            dst_mac: f.mac(r),
            ports_known: f.has(bit::PORTS_KNOWN),
            // Sampled packets (sFlow) show the initiator only if the SYN was sampled.
            initiator_known: self.export_meta.is_none() || f.has(bit::SYN_SEEN),
            export: self.export_meta,
            input: self.input,
            first_packet_index: f.first_index,
            first_packet_offset: f.first_offset,
            packet_indices,
        };
        let s = &mut self.stats;
        s.records += 1;
        s.flipped += u64::from(rec.flipped);
        match reason {
            EndReason::Idle => s.idle += 1,
            EndReason::Active => s.active += 1,
            EndReason::TcpClose => s.tcp_close += 1,
            EndReason::NewConnection => s.new_connection += 1,
            EndReason::Capacity => s.capacity += 1,
            EndReason::EndOfInput | EndReason::Exported => s.end_of_input += 1,
        }
        rec
    }
}

#[cfg(test)]
#[test]
fn held_flow_sizes() {
    // The per-flow memory budget (≤ 256 bytes with the index and heap; benches/README.md).
    assert_eq!(std::mem::size_of::<Key>(), 44);
    assert_eq!(std::mem::size_of::<Option<Flow>>(), 192);
    assert_eq!(std::mem::align_of::<Option<Flow>>(), 64);
    // What a packet of a known flow touches sits in the first two lines.
    assert!(std::mem::offset_of!(Flow, key) + std::mem::size_of::<Key>() <= 64);
    assert!(std::mem::offset_of!(Flow, last_ts) + 8 <= 64);
    assert_eq!(std::mem::offset_of!(Flow, dirs), 64);
    assert!(std::mem::offset_of!(Flow, closed_at) >= 128);
    assert_eq!(std::mem::size_of::<HeapEntry>(), 16);
}

#[cfg(test)]
#[test]
fn key_order_is_ip_addr_order() {
    // The integer comparison in `key_of` orders endpoints as `IpAddr` and `u16` do.
    let addrs: Vec<IpAddr> = [
        "0.0.0.0",
        "0.0.0.1",
        "1.0.0.0",
        "10.1.2.3",
        "10.1.2.4",
        "255.255.255.255",
        "::",
        "::1",
        "::a00:1",
        "fe80::1",
        "ff02::1",
        "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff",
    ]
    .iter()
    .map(|a| a.parse().unwrap())
    .collect();
    let t = FlowTable::new(FlowConfig::default(), 0);
    for &a in &addrs {
        for &b in &addrs {
            for (sp, dp) in [(1u16, 2u16), (2, 1), (7, 7)] {
                let mut p =
                    super::tests::pkt(0.0, &a.to_string(), sp, &b.to_string(), dp, proto::UDP, 0);
                let (k, dir) = t.key_of(&p);
                assert_eq!(dir == 0, (a, sp) <= (b, dp), "{a} {sp} {b} {dp}");
                let (lo, hi) = if dir == 0 { (a, b) } else { (b, a) };
                assert_eq!((k.lo(), k.hi()), (lo, hi));
                // Both directions give one key.
                std::mem::swap(&mut p.src, &mut p.dst);
                std::mem::swap(&mut p.src_port, &mut p.dst_port);
                assert_eq!(t.key_of(&p).0, k);
            }
        }
    }
}
