//! Just enough IP reassembly to key fragments by their datagram's real ports.
//!
//! The first fragment (offset 0) carries the transport header; every fragment of the same
//! datagram (source, destination, protocol, identification) gets its ports. Fragments that
//! arrive before the first are held (bounded) and released when it arrives; those whose
//! first fragment never comes are released with unknown ports when the datagram times out
//! and counted as orphans. Each fragment is one packet on the wire and is counted once,
//! so overlapping or duplicated fragments never inflate byte counts beyond the wire's.

use std::collections::VecDeque;
use std::net::IpAddr;

use hashbrown::HashMap;

use super::PacketSummary;
use crate::time::{TimestampNs, NS_PER_SEC};

/// Bounds and timers of the fragment tracker.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FragConfig {
    /// Datagrams tracked at once; the oldest is released when full. Default 65 536.
    pub max_datagrams: usize,
    /// Fragments held per datagram while waiting for its first fragment. Default 64.
    pub max_held_per_datagram: usize,
    /// IPv4 reassembly timeout (capture clock). Default 15 s (RFC 791's suggestion).
    pub timeout_v4: TimestampNs,
    /// IPv6 reassembly timeout. Default 60 s (RFC 8200).
    pub timeout_v6: TimestampNs,
}

impl Default for FragConfig {
    fn default() -> Self {
        FragConfig {
            max_datagrams: 65_536,
            max_held_per_datagram: 64,
            timeout_v4: 15 * NS_PER_SEC,
            timeout_v6: 60 * NS_PER_SEC,
        }
    }
}

/// Counters of the fragment tracker.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct FragStats {
    /// Fragments seen.
    pub fragments: u64,
    /// Fragments attributed to their datagram's ports.
    pub attributed: u64,
    /// Fragments released without ports (first fragment never seen, or limits hit).
    pub orphaned: u64,
    /// Datagrams released early because the tracker was full.
    pub evicted_datagrams: u64,
}

#[derive(Clone, Copy, PartialEq, Eq, Hash)]
struct Key {
    src: IpAddr,
    dst: IpAddr,
    proto: u8,
    id: u32,
}

struct Entry {
    /// (src port, dst port, icmp id) from the first fragment.
    ports: Option<(u16, u16, u16)>,
    held: Vec<PacketSummary>,
    deadline: TimestampNs,
}

/// Tracks fragmented datagrams on the capture clock.
pub struct FragTracker {
    cfg: FragConfig,
    map: HashMap<Key, Entry>,
    /// Insertion order per family (0 = IPv4, 1 = IPv6); each queue's deadlines ascend.
    order: [VecDeque<Key>; 2],
    stats: FragStats,
}

impl FragTracker {
    /// A tracker with the given bounds.
    pub fn new(cfg: FragConfig) -> Self {
        FragTracker {
            cfg,
            map: HashMap::new(),
            order: [VecDeque::new(), VecDeque::new()],
            stats: FragStats::default(),
        }
    }

    /// Counters so far.
    pub fn stats(&self) -> FragStats {
        self.stats
    }

    /// Datagrams currently tracked.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether no datagram is tracked.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Feeds a fragment (a summary with `frag` set); `out` receives every summary that
    /// is ready for the flow layer, in order.
    pub fn push(&mut self, pkt: PacketSummary, out: &mut impl FnMut(PacketSummary)) {
        let Some(frag) = pkt.frag else {
            out(pkt);
            return;
        };
        self.stats.fragments += 1;
        let key = Key {
            src: pkt.src,
            dst: pkt.dst,
            proto: pkt.proto,
            id: frag.id,
        };
        if !self.map.contains_key(&key) {
            if self.map.len() >= self.cfg.max_datagrams {
                self.evict_oldest(out);
            }
            let fam = usize::from(pkt.src.is_ipv6());
            let timeout = if fam == 1 {
                self.cfg.timeout_v6
            } else {
                self.cfg.timeout_v4
            };
            self.map.insert(
                key,
                Entry {
                    ports: None,
                    held: Vec::new(),
                    deadline: pkt.ts.saturating_add(timeout),
                },
            );
            self.order[fam].push_back(key);
        }
        let Some(entry) = self.map.get_mut(&key) else {
            return;
        };
        if frag.offset == 0 {
            if entry.ports.is_none() {
                entry.ports = Some((pkt.src_port, pkt.dst_port, pkt.icmp_id));
            }
            self.stats.attributed += 1;
            out(pkt);
            let ports = entry.ports;
            for mut h in entry.held.drain(..) {
                fill(&mut h, ports);
                self.stats.attributed += 1;
                out(h);
            }
        } else if let Some(p) = entry.ports {
            let mut pkt = pkt;
            fill(&mut pkt, Some(p));
            self.stats.attributed += 1;
            out(pkt);
        } else if entry.held.len() < self.cfg.max_held_per_datagram {
            entry.held.push(pkt);
        } else {
            self.stats.orphaned += 1;
            out(pkt);
        }
    }

    /// Releases datagrams whose timeout passed at capture time `now`.
    pub fn expire(&mut self, now: TimestampNs, out: &mut impl FnMut(PacketSummary)) {
        for fam in 0..2 {
            while let Some(k) = self.order[fam].front() {
                match self.map.get(k) {
                    Some(e) if e.deadline > now => break,
                    _ => {
                        let k = *k;
                        self.order[fam].pop_front();
                        self.release(k, out);
                    }
                }
            }
        }
    }

    /// Releases everything (end of input).
    pub fn flush(&mut self, out: &mut impl FnMut(PacketSummary)) {
        self.expire(TimestampNs::MAX, out);
    }

    fn evict_oldest(&mut self, out: &mut impl FnMut(PacketSummary)) {
        let deadline = |q: &VecDeque<Key>, m: &HashMap<Key, Entry>| {
            q.front()
                .and_then(|k| m.get(k))
                .map_or(TimestampNs::MAX, |e| e.deadline)
        };
        let fam =
            usize::from(deadline(&self.order[1], &self.map) < deadline(&self.order[0], &self.map));
        if let Some(k) = self.order[fam].pop_front() {
            self.stats.evicted_datagrams += 1;
            self.release(k, out);
        }
    }

    fn release(&mut self, k: Key, out: &mut impl FnMut(PacketSummary)) {
        if let Some(e) = self.map.remove(&k) {
            for h in e.held {
                self.stats.orphaned += 1;
                out(h);
            }
        }
    }
}

fn fill(p: &mut PacketSummary, ports: Option<(u16, u16, u16)>) {
    if let Some((s, d, id)) = ports {
        p.src_port = s;
        p.dst_port = d;
        p.icmp_id = id;
        p.ports_known = true;
    }
}
