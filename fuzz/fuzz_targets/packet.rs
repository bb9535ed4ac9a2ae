//! One packet under every link type the decoder knows (the first byte chooses it).
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::input::{linktype, RawPacket};

fuzz_target!(|data: &[u8]| {
    let Some((&sel, bytes)) = data.split_first() else {
        return;
    };
    let links = [
        linktype::ETHERNET,
        linktype::RAW,
        linktype::IPV4,
        linktype::IPV6,
        linktype::NULL,
        linktype::LOOP,
        linktype::LINUX_SLL,
        linktype::LINUX_SLL2,
    ];
    let raw = RawPacket {
        index: 1,
        offset: 0,
        ts: 0,
        orig_len: bytes.len() as u32,
        link_type: links[usize::from(sel) % links.len()],
        interface: 0,
        data: bytes,
    };
    if let Ok(s) = flowcore::decode::decode(&raw) {
        if let Some((o, len)) = s.udp_payload {
            assert!(o + len <= bytes.len());
        }
    }
});
