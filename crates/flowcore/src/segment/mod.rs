//! Endpoint attribution: which segment or zone an address belongs to (longest prefix wins,
//! optionally qualified by VLAN), or `public` / `unknown` / `local` when it is in none;
//! and which MAC addresses source packets from more than one segment.

mod prefix;

use std::collections::BTreeMap;
use std::net::IpAddr;

use hashbrown::HashMap;
pub use ipnet::IpNet;
pub use prefix::PrefixMap;

/// What kind of place a class is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ClassKind {
    /// One of the site's network segments (mynumber, lgwan, internet).
    Segment,
    /// A declared zone outside the segments (lgwan_wan, security_cloud, ...).
    Zone,
    /// A globally routable address in no segment or zone.
    Public,
    /// A private, ULA, link-local or otherwise non-global address in no segment or zone:
    /// the inventory is incomplete, and the flow cannot be judged.
    Unknown,
    /// Not a host on any segment: loopback, multicast, broadcast, unspecified.
    Local,
}

/// Index of a class (segment, zone or special) in an [`Inventory`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct ClassId(pub u16);

impl ClassId {
    /// Globally routable, in no segment or zone.
    pub const PUBLIC: ClassId = ClassId(0);
    /// Non-global, in no segment or zone.
    pub const UNKNOWN: ClassId = ClassId(1);
    /// Loopback, multicast, broadcast, unspecified.
    pub const LOCAL: ClassId = ClassId(2);
}

/// Where an address was attributed, and by which declared prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Attribution {
    /// The class.
    pub class: ClassId,
    /// The declared prefix that matched (none for public/unknown/local).
    pub prefix: Option<IpNet>,
}

/// The site's address plan: named segments and zones with their prefixes.
#[derive(Debug, Clone)]
pub struct Inventory {
    names: Vec<String>,
    kinds: Vec<ClassKind>,
    map: PrefixMap<ClassId>,
}

impl Default for Inventory {
    fn default() -> Self {
        Inventory {
            names: vec!["public".into(), "unknown".into(), "local".into()],
            kinds: vec![ClassKind::Public, ClassKind::Unknown, ClassKind::Local],
            map: PrefixMap::default(),
        }
    }
}

impl Inventory {
    /// An inventory with only the special classes.
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds (or finds) a named segment or zone.
    pub fn class(&mut self, name: &str, kind: ClassKind) -> ClassId {
        if let Some(i) = self.names.iter().position(|n| n == name) {
            return ClassId(i as u16);
        }
        self.names.push(name.to_string());
        self.kinds.push(kind);
        ClassId((self.names.len() - 1) as u16)
    }

    /// Looks a class up by name.
    pub fn class_by_name(&self, name: &str) -> Option<ClassId> {
        self.names
            .iter()
            .position(|n| n == name)
            .map(|i| ClassId(i as u16))
    }

    /// Declares `net` (optionally only for the given VLANs) as part of `class`. Returns the
    /// class already holding the same prefix for an overlapping VLAN set, if any.
    pub fn add_prefix(
        &mut self,
        net: IpNet,
        vlans: Option<Vec<u16>>,
        class: ClassId,
    ) -> Result<(), ClassId> {
        self.map.insert(net, vlans, class)
    }

    /// The name of a class.
    pub fn name(&self, c: ClassId) -> &str {
        &self.names[c.0 as usize]
    }

    /// The kind of a class.
    pub fn kind(&self, c: ClassId) -> ClassKind {
        self.kinds[c.0 as usize]
    }

    /// All classes, in declaration order (specials first).
    pub fn classes(&self) -> impl Iterator<Item = (ClassId, &str, ClassKind)> {
        self.names
            .iter()
            .zip(&self.kinds)
            .enumerate()
            .map(|(i, (n, k))| (ClassId(i as u16), n.as_str(), *k))
    }

    /// Declared prefixes that overlap across different classes without VLANs separating
    /// them: `(wider, narrower, class of wider, class of narrower)`.
    pub fn overlaps(&self) -> Vec<(IpNet, IpNet, ClassId, ClassId)> {
        self.map.overlaps()
    }

    /// Attributes an address seen on `vlan`: the longest declared prefix whose VLAN list
    /// (if any) contains `vlan`; otherwise public, unknown or local by the address itself.
    pub fn attribute(&self, ip: IpAddr, vlan: Option<u16>) -> Attribution {
        let ip = match ip {
            IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
            v4 => v4,
        };
        if let Some((net, class)) = self.map.longest_match(ip, vlan) {
            return Attribution {
                class,
                prefix: Some(net),
            };
        }
        Attribution {
            class: special_class(ip),
            prefix: None,
        }
    }
}

/// Public, unknown or local for an address in no declared prefix. Link-local addresses are
/// unknown (a host the inventory does not place). Documentation ranges
/// (192.0.2.0/24, 198.51.100.0/24, 203.0.113.0/24, 2001:db8::/32) count as public: they
/// stand for public addresses in examples and tests.
pub fn special_class(ip: IpAddr) -> ClassId {
    match ip {
        IpAddr::V4(a) => {
            let o = a.octets();
            if a.is_loopback()
                || a.is_link_local()
                || a.is_multicast()
                || a.is_broadcast()
                || a.is_unspecified()
            {
                ClassId::LOCAL
            } else if a.is_private()
                || o[0] == 0
                || (o[0] == 100 && (o[1] & 0xc0) == 64) // CGNAT 100.64/10
                || (o[0] == 198 && (o[1] & 0xfe) == 18) // benchmarking 198.18/15
                || o[0] >= 240
            {
                ClassId::UNKNOWN
            } else {
                ClassId::PUBLIC
            }
        }
        IpAddr::V6(a) => {
            let s = a.segments();
            if a.is_loopback()
                || a.is_unspecified()
                || a.is_multicast()
                || (s[0] & 0xffc0) == 0xfe80
            {
                ClassId::LOCAL
            } else if (s[0] & 0xe000) == 0x2000 {
                ClassId::PUBLIC
            } else {
                ClassId::UNKNOWN // ULA fc00::/7, link-local fe80::/10, everything not global unicast
            }
        }
    }
}

/// One address a MAC was seen sourcing, with the evidence of its first sighting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MacSighting {
    /// The address.
    pub ip: IpAddr,
    /// Its segment.
    pub class: ClassId,
    /// Input number, packet index and byte offset of the flow's first packet.
    pub evidence: (u32, u64, u64),
    /// Time of that flow's first packet.
    pub ts: i64,
}

/// Tracks, for every MAC address, the segments of the addresses it sources. Bounded: at most
/// one sighting per (MAC, segment), and at most `max_macs` MACs.
#[derive(Debug, Default)]
pub struct MacObservations {
    seen: HashMap<[u8; 6], Sightings>,
    max_macs: usize,
    /// MACs not tracked because the limit was reached.
    pub dropped: u64,
}

/// The sightings of one MAC by segment. Almost every MAC stays in one segment: that one
/// sighting is kept inline (no allocation, no pointer to chase per flow).
#[derive(Debug)]
enum Sightings {
    One(MacSighting),
    Many(BTreeMap<ClassId, MacSighting>),
}

impl Sightings {
    /// Keeps the earliest sighting (by time, then evidence) per segment.
    fn add(&mut self, s: MacSighting) {
        let earlier =
            |old: &MacSighting, s: &MacSighting| (s.ts, s.evidence) < (old.ts, old.evidence);
        match self {
            Sightings::One(old) if old.class == s.class => {
                if earlier(old, &s) {
                    *old = s;
                }
            }
            Sightings::One(old) => {
                let mut m = BTreeMap::new();
                m.insert(old.class, old.clone());
                m.insert(s.class, s);
                *self = Sightings::Many(m);
            }
            Sightings::Many(m) => match m.get(&s.class) {
                Some(old) if !earlier(old, &s) => {}
                _ => {
                    m.insert(s.class, s);
                }
            },
        }
    }

    /// The sightings, by segment.
    fn values(&self) -> Vec<&MacSighting> {
        match self {
            Sightings::One(s) => vec![s],
            Sightings::Many(m) => m.values().collect(),
        }
    }
}

impl MacObservations {
    /// Tracks at most `max_macs` distinct MAC addresses.
    pub fn new(max_macs: usize) -> Self {
        MacObservations {
            seen: HashMap::new(),
            max_macs,
            dropped: 0,
        }
    }

    /// Records that `mac` sourced packets from `ip`, attributed to segment `class`.
    pub fn observe(&mut self, mac: [u8; 6], sighting: MacSighting) {
        let full = self.seen.len() >= self.max_macs;
        match self.seen.entry(mac) {
            hashbrown::hash_map::Entry::Occupied(e) => e.into_mut().add(sighting),
            hashbrown::hash_map::Entry::Vacant(_) if full => self.dropped += 1,
            hashbrown::hash_map::Entry::Vacant(e) => {
                e.insert(Sightings::One(sighting));
            }
        }
    }

    /// MACs tracked.
    pub fn len(&self) -> usize {
        self.seen.len()
    }

    /// Whether no MAC is tracked.
    pub fn is_empty(&self) -> bool {
        self.seen.is_empty()
    }

    /// Whether `n` more MACs can be tracked without reaching the limit, so that none of
    /// them would be dropped (and counted) whatever their order.
    pub fn has_room_for(&self, n: usize) -> bool {
        self.seen.len().saturating_add(n) <= self.max_macs
    }

    /// Adds another set of observations (of later inputs): the result is the same as if
    /// this set had observed them itself.
    pub fn absorb(&mut self, other: MacObservations) {
        self.dropped += other.dropped;
        if self.has_room_for(other.seen.len()) {
            for (mac, sightings) in other.seen {
                self.observe_sightings(mac, sightings);
            }
            return;
        }
        // Which MACs are dropped at the limit depends on the order: by MAC, not by hash.
        let mut macs: Vec<_> = other.seen.into_iter().collect();
        macs.sort_by_key(|(mac, _)| *mac);
        for (mac, sightings) in macs {
            self.observe_sightings(mac, sightings);
        }
    }

    fn observe_sightings(&mut self, mac: [u8; 6], sightings: Sightings) {
        match sightings {
            Sightings::One(s) => self.observe(mac, s),
            Sightings::Many(m) => {
                for s in m.into_values() {
                    self.observe(mac, s);
                }
            }
        }
    }

    /// MACs seen sourcing addresses of two or more segments, sorted by MAC.
    pub fn multi_segment(&self) -> Vec<([u8; 6], Vec<MacSighting>)> {
        let mut v: Vec<_> = self
            .seen
            .iter()
            .filter(|(_, m)| matches!(m, Sightings::Many(_)))
            .map(|(mac, m)| (*mac, m.values().into_iter().cloned().collect::<Vec<_>>()))
            .collect();
        v.sort_by_key(|(mac, _)| *mac);
        v
    }
}

#[cfg(test)]
mod tests;
