//! Longest-prefix match over IPv4 and IPv6, with optional VLAN qualification: one hash
//! table per prefix length present, probed from the longest length down (a site inventory
//! uses a handful of distinct lengths, so a lookup is a few hash probes).

use std::net::IpAddr;

use hashbrown::HashMap;
use ipnet::IpNet;

#[derive(Debug, Clone)]
struct Entry<T> {
    vlans: Option<Vec<u16>>,
    value: T,
}

/// Masked network → entries, for one prefix length.
type Level<T> = HashMap<u128, Vec<Entry<T>>>;

#[derive(Debug, Clone)]
struct Family<T> {
    /// (prefix length, table), longest length first.
    levels: Vec<(u8, Level<T>)>,
}

impl<T> Default for Family<T> {
    fn default() -> Self {
        Family { levels: Vec::new() }
    }
}

/// A map from IP prefixes (optionally VLAN-qualified) to values.
#[derive(Debug, Clone)]
pub struct PrefixMap<T> {
    v4: Family<T>,
    v6: Family<T>,
    nets: Vec<(IpNet, Option<Vec<u16>>, T)>,
}

impl<T> Default for PrefixMap<T> {
    fn default() -> Self {
        PrefixMap {
            v4: Family::default(),
            v6: Family::default(),
            nets: Vec::new(),
        }
    }
}

fn bits(ip: IpAddr) -> (bool, u128) {
    match ip {
        IpAddr::V4(a) => (false, u128::from(u32::from(a))),
        IpAddr::V6(a) => (true, u128::from(a)),
    }
}

fn mask(v6: bool, value: u128, len: u8) -> u128 {
    let width = if v6 { 128 } else { 32 };
    if len == 0 {
        0
    } else {
        value & (u128::MAX << (width - u32::from(len)) & if v6 { u128::MAX } else { 0xffff_ffff })
    }
}

fn vlans_overlap(a: &Option<Vec<u16>>, b: &Option<Vec<u16>>) -> bool {
    match (a, b) {
        (Some(a), Some(b)) => a.iter().any(|v| b.contains(v)),
        _ => true,
    }
}

impl<T: Copy + PartialEq> PrefixMap<T> {
    /// Inserts a prefix. The same prefix with an overlapping VLAN set and another value is
    /// refused (the other value is returned); with the same value it is a no-op.
    pub fn insert(&mut self, net: IpNet, vlans: Option<Vec<u16>>, value: T) -> Result<(), T> {
        let net = net.trunc();
        let (v6, value_bits) = bits(net.network());
        let len = net.prefix_len();
        let fam = if v6 { &mut self.v6 } else { &mut self.v4 };
        let pos = match fam.levels.iter().position(|(l, _)| *l <= len) {
            Some(p) if fam.levels[p].0 == len => p,
            Some(p) => {
                fam.levels.insert(p, (len, HashMap::new()));
                p
            }
            None => {
                fam.levels.push((len, HashMap::new()));
                fam.levels.len() - 1
            }
        };
        let entries = fam.levels[pos]
            .1
            .entry(mask(v6, value_bits, len))
            .or_default();
        for e in entries.iter() {
            if vlans_overlap(&e.vlans, &vlans) {
                return if e.value == value {
                    Ok(())
                } else {
                    Err(e.value)
                };
            }
        }
        entries.push(Entry {
            vlans: vlans.clone(),
            value,
        });
        self.nets.push((net, vlans, value));
        Ok(())
    }

    /// The longest prefix containing `ip` whose VLAN list is absent or contains `vlan`.
    /// A VLAN-qualified entry beats an unqualified one of the same length.
    pub fn longest_match(&self, ip: IpAddr, vlan: Option<u16>) -> Option<(IpNet, T)> {
        let (v6, b) = bits(ip);
        let fam = if v6 { &self.v6 } else { &self.v4 };
        for (len, table) in &fam.levels {
            if let Some(entries) = table.get(&mask(v6, b, *len)) {
                let qualified = entries.iter().find(|e| {
                    e.vlans
                        .as_ref()
                        .is_some_and(|vs| vlan.is_some_and(|v| vs.contains(&v)))
                });
                if let Some(e) = qualified.or_else(|| entries.iter().find(|e| e.vlans.is_none())) {
                    let net = IpNet::new(ip, *len).map(|n| n.trunc()).ok()?;
                    return Some((net, e.value));
                }
            }
        }
        None
    }

    /// Pairs of prefixes where one contains the other, their values differ and their VLAN
    /// sets overlap: `(wider, narrower, wider's value, narrower's value)`.
    pub fn overlaps(&self) -> Vec<(IpNet, IpNet, T, T)> {
        let mut out = Vec::new();
        for (i, (a, va, xa)) in self.nets.iter().enumerate() {
            for (b, vb, xb) in &self.nets[i + 1..] {
                if xa == xb || !vlans_overlap(va, vb) {
                    continue;
                }
                if a.contains(b) {
                    out.push((*a, *b, *xa, *xb));
                } else if b.contains(a) {
                    out.push((*b, *a, *xb, *xa));
                }
            }
        }
        out
    }
}
