//! Flow-export datagrams: the input is split into datagrams (2-byte big-endian lengths)
//! fed in order to one decoder, so templates, pending data and withdrawals interact.
#![no_main]
use libfuzzer_sys::fuzz_target;

use std::net::{IpAddr, Ipv4Addr};

use flowcore::input::export::{DatagramContext, ExportDecoder, ExportKind, TemplateLimits};

fuzz_target!(|data: &[u8]| {
    let limits = TemplateLimits {
        templates_per_exporter: 64,
        fields_per_template: 64,
        templates_total: 256,
        pending_sets: 16,
        pending_bytes: 1 << 16,
    };
    let mut dec = ExportDecoder::new(limits);
    let mut rest = data;
    let mut i = 0u64;
    while rest.len() >= 3 {
        let kind = [
            ExportKind::NetflowV5,
            ExportKind::NetflowV9,
            ExportKind::Ipfix,
            ExportKind::Sflow,
        ][usize::from(rest[0] & 3)];
        let len = usize::from(u16::from_be_bytes([rest[1], rest[2]])).min(rest.len() - 3);
        let d = &rest[3..3 + len];
        rest = &rest[3 + len..];
        i += 1;
        let ctx = DatagramContext {
            exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
            port: 2055,
            capture_ts: 0,
            index: i,
            offset: 0,
        };
        let _ = dec.decode(kind, ctx, d, &mut |_| {});
        let _ = ExportDecoder::datagram_len(d);
        let _ = flowcore::input::export::detect(d);
    }
    dec.finish();
});
