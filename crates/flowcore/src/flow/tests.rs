use super::tcp_flags::{ACK, FIN, RST, SYN};
use super::*;
use crate::decode::PacketSummary;
use crate::time::NS_PER_SEC;

pub(super) fn pkt(
    t_s: f64,
    src: &str,
    sp: u16,
    dst: &str,
    dp: u16,
    proto: u8,
    flags: u8,
) -> PacketSummary {
    PacketSummary {
        ts: (t_s * NS_PER_SEC as f64) as i64,
        wire_len: 100,
        index: 0,
        offset: 0,
        src: src.parse().unwrap(),
        dst: dst.parse().unwrap(),
        proto,
        src_port: sp,
        dst_port: dp,
        ports_known: true,
        tcp_flags: flags,
        ..PacketSummary::EMPTY
    }
}

fn run(cfg: FlowConfig, pkts: &[PacketSummary]) -> Vec<FlowRecord> {
    let mut t = FlowTable::new(cfg, 0);
    let mut out = Vec::new();
    for (i, p) in pkts.iter().enumerate() {
        let mut p = *p;
        p.index = i as u64 + 1;
        p.offset = 24 + 100 * i as u64;
        t.advance(p.ts, &mut |r| out.push(r));
        t.push(&p, &mut |r| out.push(r));
    }
    t.flush(&mut |r| out.push(r));
    out
}

const A: &str = "10.0.0.1";
const B: &str = "10.0.0.2";

#[test]
fn handshake_close_is_sf_oriented_from_the_syn() {
    let f = run(
        FlowConfig::default(),
        &[
            pkt(0.0, A, 40000, B, 80, 6, SYN),
            pkt(0.1, B, 80, A, 40000, 6, SYN | ACK),
            pkt(0.2, A, 40000, B, 80, 6, ACK),
            pkt(0.3, A, 40000, B, 80, 6, FIN | ACK),
            pkt(0.4, B, 80, A, 40000, 6, FIN | ACK),
            pkt(0.5, A, 40000, B, 80, 6, ACK),
        ],
    );
    assert_eq!(f.len(), 1);
    let r = &f[0];
    assert_eq!(
        (r.src_ip.to_string(), r.src_port, r.dst_port),
        (A.to_string(), 40000, 80)
    );
    assert_eq!((r.fwd.packets, r.rev.packets, r.fwd.bytes), (4, 2, 400));
    assert_eq!(r.state, ConnState::SF);
    assert!(!r.flipped);
    assert_eq!((r.first_packet_index, r.first_packet_offset), (1, 24));
    assert_eq!(r.end_reason, EndReason::EndOfInput);
}

#[test]
fn capture_starting_with_syn_ack_or_server_reply_is_flipped() {
    let f = run(
        FlowConfig::default(),
        &[
            pkt(0.0, B, 80, A, 40000, 6, SYN | ACK),
            pkt(0.1, A, 40000, B, 80, 6, ACK),
        ],
    );
    assert_eq!(
        (f[0].src_ip.to_string(), f[0].dst_port),
        (A.to_string(), 80)
    );
    assert!(f[0].flipped);
    assert_eq!(f[0].state, ConnState::OTH);
    // UDP reply from a well-known port: the client is the initiator.
    let f = run(FlowConfig::default(), &[pkt(0.0, B, 53, A, 50000, 17, 0)]);
    assert_eq!(
        (f[0].src_ip.to_string(), f[0].src_port, f[0].dst_port),
        (A.to_string(), 50000, 53)
    );
    assert!(f[0].flipped);
    assert_eq!(
        (f[0].fwd.packets, f[0].rev.packets, f[0].state),
        (0, 1, ConnState::SHR)
    );
}

#[test]
fn first_syn_wins_over_a_midstream_start() {
    let f = run(
        FlowConfig::default(),
        &[
            pkt(0.0, A, 5000, B, 6000, 6, ACK),
            pkt(0.1, B, 6000, A, 5000, 6, SYN),
        ],
    );
    assert_eq!(f.len(), 1);
    assert_eq!(f[0].src_ip.to_string(), B);
    assert!(f[0].flipped);
}

#[test]
fn rejected_and_unanswered_states() {
    let f = run(
        FlowConfig::default(),
        &[
            pkt(0.0, A, 1, B, 2, 6, SYN),
            pkt(0.1, B, 2, A, 1, 6, RST | ACK),
        ],
    );
    assert_eq!(f[0].state, ConnState::REJ);
    let f = run(
        FlowConfig::default(),
        &[pkt(0.0, A, 1, B, 2, 6, SYN), pkt(3.0, A, 1, B, 2, 6, SYN)],
    );
    assert_eq!((f[0].state, f[0].fwd.packets), (ConnState::S0, 2));
}

#[test]
fn idle_timeout_splits_and_zero_disables() {
    let pkts = [
        pkt(0.0, A, 1000, B, 2000, 17, 0),
        pkt(61.0, A, 1000, B, 2000, 17, 0),
    ];
    let f = run(FlowConfig::default(), &pkts);
    assert_eq!(f.len(), 2);
    assert_eq!(f[0].end_reason, EndReason::Idle);
    let cfg = FlowConfig {
        timeouts: Timeouts::disabled(),
        ..FlowConfig::default()
    };
    assert_eq!(run(cfg, &pkts).len(), 1);
    // Exactly at the timeout the flow is still alive.
    let f = run(
        FlowConfig::default(),
        &[pkts[0], pkt(60.0, A, 1000, B, 2000, 17, 0)],
    );
    assert_eq!(f.len(), 1);
}

#[test]
fn active_timeout_cuts_and_continues_with_the_same_initiator() {
    let mut cfg = FlowConfig::default();
    cfg.timeouts.active = 10 * NS_PER_SEC;
    let mut pkts = vec![
        pkt(0.0, A, 40000, B, 80, 6, SYN),
        pkt(0.1, B, 80, A, 40000, 6, SYN | ACK),
    ];
    for i in 1..=25 {
        pkts.push(pkt(i as f64, B, 80, A, 40000, 6, ACK));
    }
    let f = run(cfg, &pkts);
    assert_eq!(f.len(), 3);
    assert_eq!(f[0].end_reason, EndReason::Active);
    assert!(f[1].continued && f[2].continued);
    assert!(f.iter().all(|r| r.src_ip.to_string() == A));
    assert_eq!(f.iter().map(FlowRecord::packets).sum::<u64>(), 27);
}

#[test]
fn new_syn_after_close_starts_a_new_flow_and_linger_keeps_late_acks() {
    let f = run(
        FlowConfig::default(),
        &[
            pkt(0.0, A, 1, B, 2, 6, SYN),
            pkt(0.1, B, 2, A, 1, 6, SYN | ACK),
            pkt(0.2, A, 1, B, 2, 6, RST),
            pkt(1.0, A, 1, B, 2, 6, ACK), // late, within the linger
            pkt(2.0, A, 1, B, 2, 6, SYN),
        ],
    );
    assert_eq!(f.len(), 2);
    assert_eq!(
        (f[0].end_reason, f[0].state, f[0].packets()),
        (EndReason::NewConnection, ConnState::RSTO, 4)
    );
    assert_eq!(f[1].first_packet_index, 5);
    let f = run(
        FlowConfig::default(),
        &[
            pkt(0.0, A, 1, B, 2, 6, SYN),
            pkt(0.1, B, 2, A, 1, 6, RST | ACK),
            pkt(9.0, A, 1, B, 2, 6, ACK),
        ],
    );
    assert_eq!(f[0].end_reason, EndReason::TcpClose);
    assert_eq!(f.len(), 2);
}

#[test]
fn a_flow_cut_by_the_active_timeout_after_its_close_continues_open() {
    // Closed at 9.5 s; the active timeout (10 s) comes before the linger ends (14.5 s).
    // The continuation starts open: a SYN then joins it instead of starting a new
    // connection.
    let mut cfg = FlowConfig::default();
    cfg.timeouts.active = 10 * NS_PER_SEC;
    let f = run(
        cfg,
        &[
            pkt(0.0, A, 1, B, 2, 6, SYN),
            pkt(0.1, B, 2, A, 1, 6, SYN | ACK),
            pkt(9.5, A, 1, B, 2, 6, RST),
            pkt(10.5, A, 1, B, 2, 6, SYN),
            pkt(11.0, B, 2, A, 1, 6, ACK),
            pkt(100.0, A, 7, B, 8, 6, SYN),
        ],
    );
    let got: Vec<_> = f
        .iter()
        .map(|r| (r.src_port, r.end_reason, r.continued, r.packets()))
        .collect();
    assert_eq!(
        got,
        [
            (1, EndReason::Active, false, 3),
            (1, EndReason::Active, true, 2),
            (7, EndReason::EndOfInput, false, 1),
        ]
    );
}

#[test]
fn icmp_echo_pairs_by_id_and_errors_stay_apart() {
    let mut req = pkt(0.0, A, 8, B, 0, 1, 0);
    req.icmp_id = 7;
    let mut rep = pkt(0.1, B, 0, A, 0, 1, 0);
    rep.icmp_id = 7;
    let mut other = req;
    other.icmp_id = 8;
    let unreach = pkt(0.2, B, 3, A, 3, 1, 0);
    let f = run(FlowConfig::default(), &[req, rep, other, unreach]);
    assert_eq!(f.len(), 3);
    assert_eq!(
        (f[0].fwd.packets, f[0].rev.packets, f[0].icmp_id),
        (1, 1, Some(7))
    );
    assert_eq!((f[0].src_port, f[0].dst_port), (8, 0));
    assert_eq!((f[2].src_port, f[2].dst_port, f[2].icmp_id), (3, 3, None));
    // A reply seen first is flipped to the requester.
    let f = run(FlowConfig::default(), &[rep]);
    assert!(f[0].flipped);
    assert_eq!((f[0].src_ip.to_string(), f[0].src_port), (A.to_string(), 8));
}

#[test]
fn vlan_in_key_separates_reused_addresses() {
    let mut a = pkt(0.0, A, 1, B, 2, 17, 0);
    a.vlan = Some(10);
    let mut b = a;
    b.vlan = Some(20);
    assert_eq!(run(FlowConfig::default(), &[a, b]).len(), 1);
    let cfg = FlowConfig {
        vlan_in_key: true,
        ..FlowConfig::default()
    };
    let f = run(cfg, &[a, b]);
    assert_eq!(f.len(), 2);
    assert_eq!((f[0].vlan, f[1].vlan), (Some(10), Some(20)));
}

#[test]
fn capacity_bound_evicts_and_counts() {
    let cfg = FlowConfig {
        max_flows: 10,
        ..FlowConfig::default()
    };
    let pkts: Vec<_> = (0..100)
        .map(|i| pkt(i as f64 * 0.001, A, 1000 + i, B, 80, 6, SYN))
        .collect();
    let mut t = FlowTable::new(cfg, 0);
    let mut n = 0;
    for p in &pkts {
        t.push(p, &mut |_| n += 1);
        assert!(t.len() <= 10);
    }
    t.flush(&mut |_| n += 1);
    assert_eq!(n, 100);
    assert_eq!(t.stats().capacity, 90);
    assert_eq!(t.stats().peak_flows, 10);
}

#[test]
fn tracked_packets_are_exactly_each_records_packets() {
    let cfg = FlowConfig {
        track_packets: true,
        timeouts: Timeouts {
            active: 10 * NS_PER_SEC,
            ..Timeouts::default()
        },
        ..FlowConfig::default()
    };
    // Two interleaved flows, each cut once by the active timeout of 10 s.
    let mut pkts = Vec::new();
    for i in 0..15 {
        pkts.push(pkt(i as f64, A, 1000, B, 2000, 17, 0));
        if i % 3 == 0 {
            pkts.push(pkt(i as f64 + 0.5, B, 53, A, 3000, 17, 0));
        }
    }
    let recs = run(cfg, &pkts);
    let mut all: Vec<u64> = Vec::new();
    for r in &recs {
        assert_eq!(r.packet_indices.len() as u64, r.packets(), "{r:?}");
        assert_eq!(r.packet_indices.iter().min(), Some(&r.first_packet_index));
        all.extend(&r.packet_indices);
    }
    assert_eq!(recs.len(), 4, "both flows last over 10 s and are cut once");
    all.sort_unstable();
    assert_eq!(all, (1..=pkts.len() as u64).collect::<Vec<_>>());
    // Without tracking, nothing is kept.
    assert!(run(FlowConfig::default(), &pkts)
        .iter()
        .all(|r| r.packet_indices.is_empty()));
}

#[test]
fn flows_across_slot_chunks_keep_their_packets_and_their_order() {
    // More flows than two chunks of slots hold, every flow's packets far apart, half of
    // them closed and their slots reused by later flows: each record must keep exactly its
    // own packets, and the end of input emits the rest in order of creation.
    let n = 2 * table::CHUNK_SLOTS + 5;
    let mut pkts = Vec::new();
    for round in 0..2u16 {
        for i in 0..n {
            let port = 1000 + i as u16;
            let flags = match (round, i % 2) {
                (0, _) => SYN,
                (_, 0) => RST,
                _ => ACK,
            };
            let t = f64::from(round) + i as f64 * 1e-6;
            pkts.push(pkt(t, A, port, B, 80, 6, flags));
        }
    }
    for i in 0..n / 2 {
        pkts.push(pkt(
            10.0 + i as f64 * 1e-6,
            B,
            5000 + i as u16,
            A,
            80,
            6,
            SYN,
        ));
    }
    let f = run(FlowConfig::default(), &pkts);
    assert_eq!(f.len(), n + n / 2);
    assert!(f.iter().all(|r| r.packets() == 2 || r.src_port >= 5000));
    let closed: Vec<u16> = f
        .iter()
        .filter(|r| r.end_reason == EndReason::TcpClose)
        .map(|r| r.src_port)
        .collect();
    let want: Vec<u16> = (0..n).step_by(2).map(|i| 1000 + i as u16).collect();
    assert_eq!(closed, want);
    let open: Vec<(u16, u64)> = f
        .iter()
        .filter(|r| r.end_reason == EndReason::EndOfInput)
        .map(|r| (r.src_port, r.first_packet_index))
        .collect();
    let mut want: Vec<(u16, u64)> = (1..n)
        .step_by(2)
        .map(|i| (1000 + i as u16, i as u64 + 1))
        .collect();
    want.extend((0..n / 2).map(|i| (5000 + i as u16, (2 * n + i) as u64 + 1)));
    assert_eq!(open, want);
}

#[test]
fn a_flushed_table_is_empty_and_assembles_again() {
    // The end of input empties the index at once: afterwards no lookup may find a flow
    // that is gone, and the same conversations start new flows with their own packets.
    let mut t = FlowTable::new(FlowConfig::default(), 0);
    let mut out = Vec::new();
    for round in 0..2u8 {
        for i in 0..100u16 {
            let p = pkt(f64::from(round) * 1000.0, A, 1000 + i, B, 80, 17, 0);
            t.push(&p, &mut |r| out.push(r));
        }
        assert_eq!(t.len(), 100);
        t.flush(&mut |r| out.push(r));
        assert_eq!((t.len(), t.is_empty()), (0, true));
        assert_eq!(out.len(), 100 * (usize::from(round) + 1));
    }
    assert!(out.iter().all(|r| r.packets() == 1));
    assert_eq!(t.stats().end_of_input, 200);
}
