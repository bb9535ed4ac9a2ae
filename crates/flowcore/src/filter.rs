//! What a run looks at: a time window and hosts or networks, applied to packets before they
//! reach the flow table and to flow-export records as they are decoded. Packets left out
//! are counted (skip reason `filtered`), never dropped silently.

use std::net::IpAddr;

use ipnet::IpNet;

use crate::decode::PacketSummary;
use crate::flow::FlowRecord;
use crate::time::TimestampNs;

/// A time window `[from, to)` and a set of hosts or networks; every part is optional and
/// an empty filter keeps everything.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filter {
    /// Keep packets at or after this time.
    pub from: Option<TimestampNs>,
    /// Keep packets before this time.
    pub to: Option<TimestampNs>,
    /// Keep packets whose source or destination is in one of these (empty: any).
    pub nets: Vec<IpNet>,
}

impl Filter {
    /// Whether the filter keeps everything.
    pub fn is_empty(&self) -> bool {
        self.from.is_none() && self.to.is_none() && self.nets.is_empty()
    }

    fn host(&self, a: IpAddr, b: IpAddr) -> bool {
        self.nets.is_empty() || self.nets.iter().any(|n| n.contains(&a) || n.contains(&b))
    }

    /// Whether a packet is kept: its time is in the window and one of its addresses (the
    /// innermost IP header's) is in the hosts.
    #[inline]
    pub fn packet(&self, p: &PacketSummary) -> bool {
        self.from.is_none_or(|f| p.ts >= f)
            && self.to.is_none_or(|t| p.ts < t)
            && self.host(p.src, p.dst)
    }

    /// Whether a flow record (a flow export's) is kept: its time span overlaps the window
    /// and one of its addresses is in the hosts.
    pub fn record(&self, f: &FlowRecord) -> bool {
        self.from.is_none_or(|from| f.last_ts >= from)
            && self.to.is_none_or(|to| f.first_ts < to)
            && self.host(f.src_ip, f.dst_ip)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn window_is_half_open_and_hosts_match_either_end() {
        let mut p = PacketSummary {
            ts: 0,
            wire_len: 60,
            index: 1,
            offset: 24,
            src: "10.1.2.3".parse().unwrap(),
            dst: "192.0.2.1".parse().unwrap(),
            proto: 6,
            src_port: 40000,
            dst_port: 443,
            ports_known: true,
            tcp_flags: 0x02,
            ..PacketSummary::EMPTY
        };
        let f = Filter {
            from: Some(10),
            to: Some(20),
            nets: vec![
                "10.1.0.0/16".parse().unwrap(),
                "2001:db8::1/128".parse().unwrap(),
            ],
        };
        p.src = "10.1.2.3".parse().unwrap();
        p.dst = "192.0.2.1".parse().unwrap();
        for (ts, keep) in [(9, false), (10, true), (19, true), (20, false)] {
            p.ts = ts;
            assert_eq!(f.packet(&p), keep, "{ts}");
        }
        p.ts = 10;
        std::mem::swap(&mut p.src, &mut p.dst);
        assert!(f.packet(&p));
        p.src = "10.2.0.1".parse().unwrap();
        p.dst = "192.0.2.1".parse().unwrap();
        assert!(!f.packet(&p));
        p.dst = "2001:db8::1".parse().unwrap();
        assert!(f.packet(&p));
        assert!(Filter::default().is_empty() && Filter::default().packet(&p));

        let mut r = FlowRecord::new(
            "10.1.0.1".parse().unwrap(),
            1,
            "192.0.2.9".parse().unwrap(),
            2,
            6,
            0,
        );
        (r.first_ts, r.last_ts) = (5, 10);
        assert!(f.record(&r), "overlaps at its last packet");
        (r.first_ts, r.last_ts) = (5, 9);
        assert!(!f.record(&r));
        (r.first_ts, r.last_ts) = (20, 30);
        assert!(!f.record(&r));
        (r.first_ts, r.last_ts) = (19, 30);
        assert!(f.record(&r));
    }
}
