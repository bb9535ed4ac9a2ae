//! Any bytes as an input file, read twice: plainly, and hashed, on a helper thread or
//! inline (by the input's length; a plain pcap or pcapng is hashed from the reader's own
//! buffers either way), a compressed one decompressed on a helper thread or not. The packets and the damage must be the same, and the digest must
//! be the SHA-256 and size of the bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::input::{CaptureReader, OpenOptions};

/// (index, offset, ts, orig_len, link type, data) of each packet, and the damage.
fn packets(r: &mut CaptureReader) -> (Vec<(u64, u64, i64, u32, u16, Vec<u8>)>, Option<String>) {
    let mut out = Vec::new();
    loop {
        match r.next_packet() {
            Ok(Some(p)) => out.push((
                p.index,
                p.offset,
                p.ts,
                p.orig_len,
                p.link_type,
                p.data.to_vec(),
            )),
            Ok(None) => return (out, None),
            Err(d) => return (out, Some(d.to_string())),
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let plain =
        CaptureReader::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(data.to_vec())));
    let opts = OpenOptions {
        hash: true,
        // Both ways meet both odd and even lengths (below).
        hash_thread: data.len() % 4 < 2,
        // A compressed input decompressed on a helper thread, or not: each with both.
        inflate_thread: data.len() % 8 >= 4,
        // A JSON log's lines parsed on a helper thread as well, or not.
        parse_thread: data.len() % 16 >= 8,
        columns: None,
    };
    let hashed = CaptureReader::from_reader_opts(
        "fuzz".into(),
        Box::new(std::io::Cursor::new(data.to_vec())),
        &opts,
    );
    let (mut plain, mut hashed) = match (plain, hashed) {
        (Ok(p), Ok(h)) => (p, h),
        (Err(a), Err(b)) => {
            assert_eq!(a.to_string(), b.to_string());
            return;
        }
        (a, b) => panic!("one opened, the other not: {:?} {:?}", a.err(), b.err()),
    };
    // Odd lengths stop reading after a few packets: the digest reads the rest.
    if data.len() % 2 == 1 {
        for _ in 0..3 {
            let (a, b) = (plain.next_packet(), hashed.next_packet());
            assert_eq!(format!("{a:?}"), format!("{b:?}"));
            if !matches!(a, Ok(Some(_))) {
                break;
            }
        }
    } else {
        assert_eq!(packets(&mut plain), packets(&mut hashed));
    }
    let d = hashed.digest().expect("hashed").expect("read from memory");
    assert_eq!(d.size, data.len() as u64);
    let want: String = {
        use sha2::Digest;
        sha2::Sha256::digest(data)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect()
    };
    assert_eq!(d.sha256, want);
});
