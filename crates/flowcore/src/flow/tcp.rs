//! Zeek-style connection states, derived from the flags each side sent.

use super::tcp_flags::{ACK, FIN, RST, SYN};
use crate::decode::proto;

/// Connection state, with Zeek's names and meanings (`conn.log`'s `conn_state`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize)]
pub enum ConnState {
    /// Connection attempt seen, no reply (UDP/ICMP/other: only the initiator sent).
    S0,
    /// Established, not terminated.
    S1,
    /// Normal establishment and termination (UDP/ICMP/other: both sides sent).
    SF,
    /// Connection attempt rejected (SYN answered by RST).
    REJ,
    /// Established, the initiator closed (FIN), no FIN from the responder.
    S2,
    /// Established, the responder closed (FIN), no FIN from the initiator.
    S3,
    /// Established, the initiator aborted (RST).
    RSTO,
    /// Established, the responder aborted (RST).
    RSTR,
    /// The initiator sent a SYN then a RST; no SYN-ACK seen.
    RSTOS0,
    /// The responder sent a SYN-ACK then a RST; no SYN from the initiator seen.
    RSTRH,
    /// The initiator sent a SYN then a FIN; no SYN-ACK (half-open).
    SH,
    /// The responder sent a SYN-ACK then a FIN; no SYN from the initiator.
    SHR,
    /// Anything else, e.g. midstream traffic without a SYN.
    OTH,
}

impl ConnState {
    /// Computes the state from the OR of the flags each side sent and their packet counts.
    pub fn derive(
        ip_proto: u8,
        orig_flags: u8,
        resp_flags: u8,
        orig_pkts: u64,
        resp_pkts: u64,
    ) -> Self {
        use ConnState::*;
        if ip_proto != proto::TCP {
            return match (orig_pkts > 0, resp_pkts > 0) {
                (true, true) => SF,
                (true, false) => S0,
                (false, true) => SHR,
                (false, false) => OTH,
            };
        }
        let (o, r) = (orig_flags, resp_flags);
        let orig_syn = o & SYN != 0;
        let resp_syn = r & SYN != 0 && r & ACK != 0;
        match (orig_syn, resp_syn) {
            (false, false) => OTH,
            (true, false) => {
                if o & RST != 0 {
                    RSTOS0
                } else if r & RST != 0 {
                    REJ
                } else if o & FIN != 0 {
                    SH
                } else if resp_pkts == 0 {
                    S0
                } else {
                    OTH
                }
            }
            (false, true) => {
                if r & RST != 0 {
                    RSTRH
                } else if r & FIN != 0 {
                    SHR
                } else {
                    OTH
                }
            }
            (true, true) => {
                if o & RST != 0 {
                    RSTO
                } else if r & RST != 0 {
                    RSTR
                } else if o & FIN != 0 && r & FIN != 0 {
                    SF
                } else if o & FIN != 0 {
                    S2
                } else if r & FIN != 0 {
                    S3
                } else {
                    S1
                }
            }
        }
    }

    /// The state's name as Zeek writes it.
    pub fn as_str(self) -> &'static str {
        use ConnState::*;
        match self {
            S0 => "S0",
            S1 => "S1",
            SF => "SF",
            REJ => "REJ",
            S2 => "S2",
            S3 => "S3",
            RSTO => "RSTO",
            RSTR => "RSTR",
            RSTOS0 => "RSTOS0",
            RSTRH => "RSTRH",
            SH => "SH",
            SHR => "SHR",
            OTH => "OTH",
        }
    }
}
