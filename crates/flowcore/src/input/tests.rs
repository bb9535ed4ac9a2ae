use super::*;

fn reader(bytes: Vec<u8>) -> Result<CaptureReader, InputError> {
    CaptureReader::from_reader("test".into(), Box::new(io::Cursor::new(bytes)))
}

/// (index, offset, ts, orig_len, link type, data) of each packet.
type Pkt = (u64, u64, i64, u32, u16, Vec<u8>);

fn collect(r: &mut CaptureReader) -> (Vec<Pkt>, Option<Damage>) {
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
            Err(d) => return (out, Some(d)),
        }
    }
}

fn pcap_file(be: bool, nanos: bool, snaplen: u32, records: &[(u32, u32, &[u8], u32)]) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut f = Vec::new();
    f.extend(w32(if nanos { 0xa1b2_3c4d } else { 0xa1b2_c3d4 }));
    f.extend(w16(2));
    f.extend(w16(4));
    f.extend(w32(0));
    f.extend(w32(0));
    f.extend(w32(snaplen));
    f.extend(w32(1));
    for (s, frac, data, orig) in records {
        f.extend(w32(*s));
        f.extend(w32(*frac));
        f.extend(w32(data.len() as u32));
        f.extend(w32(*orig));
        f.extend_from_slice(data);
    }
    f
}

#[test]
fn pcap_byte_orders_and_resolutions() {
    for be in [false, true] {
        for nanos in [false, true] {
            let f = pcap_file(
                be,
                nanos,
                65535,
                &[(u32::MAX, 7, b"abc", 60), (1, 2, b"", 0)],
            );
            let mut r = reader(f).unwrap();
            assert_eq!(r.format(), CaptureFormat::Pcap);
            let (pkts, dmg) = collect(&mut r);
            assert!(dmg.is_none());
            let unit = if nanos { 1 } else { 1000 };
            assert_eq!(
                pkts[0],
                (
                    1,
                    24,
                    u32::MAX as i64 * 1_000_000_000 + 7 * unit,
                    60,
                    1,
                    b"abc".to_vec()
                )
            );
            assert_eq!(pkts[1].1, 24 + 16 + 3);
            assert_eq!(pkts.len(), 2);
        }
    }
}

#[test]
fn pcap_truncation_and_garbage_are_damage_after_good_records() {
    let mut f = pcap_file(
        false,
        false,
        65535,
        &[(1, 0, b"abcd", 4), (2, 0, b"efgh", 4)],
    );
    f.truncate(f.len() - 2);
    let (pkts, dmg) = collect(&mut reader(f).unwrap());
    assert_eq!(pkts.len(), 1);
    let d = dmg.unwrap();
    assert_eq!(d.offset, 24 + 20);
    assert!(d.what.contains("file ends inside record 2"), "{}", d.what);

    let mut f = pcap_file(false, false, 65535, &[(1, 0, b"abcd", 4)]);
    f.extend(1u32.to_le_bytes());
    f.extend(0u32.to_le_bytes());
    f.extend(4_325_376u32.to_le_bytes());
    f.extend(4_325_376u32.to_le_bytes());
    let (pkts, dmg) = collect(&mut reader(f).unwrap());
    assert_eq!(pkts.len(), 1);
    assert!(dmg.unwrap().what.contains("more than the snapshot length"));
}

#[test]
fn hostile_snaplen_cannot_force_huge_allocations() {
    let mut f = pcap_file(false, false, u32::MAX, &[(1, 0, b"ok", 2)]);
    f.extend(1u32.to_le_bytes());
    f.extend(0u32.to_le_bytes());
    f.extend(0xF000_0000u32.to_le_bytes());
    f.extend(0xF000_0000u32.to_le_bytes());
    let (pkts, dmg) = collect(&mut reader(f).unwrap());
    assert_eq!(pkts.len(), 1);
    assert!(dmg.unwrap().what.contains("more than the snapshot length"));
}

#[test]
fn pcap_large_records_beyond_64k() {
    let big = vec![0x45u8; 80_066];
    let f = pcap_file(false, false, 262_144, &[(1, 0, &big, 80_066)]);
    let (pkts, dmg) = collect(&mut reader(f).unwrap());
    assert!(dmg.is_none());
    assert_eq!(pkts[0].5.len(), 80_066);
}

#[test]
fn bad_headers_are_errors() {
    let mut f = pcap_file(false, false, 65535, &[]);
    f[4] = 1;
    let e = reader(f).unwrap_err().to_string();
    assert!(e.contains("unsupported pcap version 1.4"), "{e}");
    let e = reader(b"hello world".to_vec()).unwrap_err().to_string();
    assert!(e.contains("not a pcap or pcapng"), "{e}");
    assert!(reader(Vec::new())
        .unwrap_err()
        .to_string()
        .contains("empty"));
    let e = reader(vec![0xd4, 0xc3, 0xb2, 0xa1, 2, 0])
        .unwrap_err()
        .to_string();
    assert!(e.contains("global header truncated"), "{e}");
}

/// A pcapng block with the given type and body, in the given byte order.
fn block(be: bool, t: u32, body: &[u8]) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let padded = (body.len() + 3) & !3;
    let len = 12 + padded as u32;
    let mut b = Vec::new();
    b.extend(w32(t));
    b.extend(w32(len));
    b.extend_from_slice(body);
    b.resize(8 + padded, 0);
    b.extend(w32(len));
    b
}

fn shb(be: bool) -> Vec<u8> {
    let mut body = Vec::new();
    body.extend(if be {
        0x1A2B3C4Du32.to_be_bytes()
    } else {
        0x1A2B3C4Du32.to_le_bytes()
    });
    body.extend(if be { [0, 1, 0, 0] } else { [1, 0, 0, 0] });
    body.extend([0xff; 8]);
    block(be, 0x0A0D0D0A, &body)
}

fn idb(be: bool, link: u16, tsresol: Option<u8>) -> Vec<u8> {
    let w16 = |v: u16| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut body = Vec::new();
    body.extend(w16(link));
    body.extend(w16(0));
    body.extend(w32(0));
    if let Some(r) = tsresol {
        body.extend(w16(9));
        body.extend(w16(1));
        body.extend([r, 0, 0, 0]);
        body.extend(w16(0));
        body.extend(w16(0));
    }
    block(be, 1, &body)
}

fn epb(be: bool, if_id: u32, ts: u64, data: &[u8]) -> Vec<u8> {
    let w32 = |v: u32| if be { v.to_be_bytes() } else { v.to_le_bytes() };
    let mut body = Vec::new();
    body.extend(w32(if_id));
    body.extend(w32((ts >> 32) as u32));
    body.extend(w32(ts as u32));
    body.extend(w32(data.len() as u32));
    body.extend(w32(data.len() as u32 + 10));
    body.extend_from_slice(data);
    block(be, 6, &body)
}

#[test]
fn pcapng_sections_byte_orders_resolutions_and_unknown_blocks() {
    let mut f = shb(false);
    f.extend(idb(false, 1, None)); // microseconds
    f.extend(idb(false, 101, Some(0x80 | 10))); // 2^-10 s
    f.extend(block(false, 0x0BAD, b"custom")); // unknown: skipped
    f.extend(epb(false, 0, 1_500_000, b"a"));
    f.extend(epb(false, 1, 2048, b"bb"));
    f.extend(shb(true)); // new section, big endian, interfaces reset
    f.extend(idb(true, 113, Some(9)));
    f.extend(epb(true, 0, 5, b"ccc"));
    let mut r = reader(f).unwrap();
    assert_eq!(r.format(), CaptureFormat::Pcapng);
    let (pkts, dmg) = collect(&mut r);
    assert!(dmg.is_none(), "{dmg:?}");
    assert_eq!(pkts.len(), 3);
    assert_eq!((pkts[0].2, pkts[0].3, pkts[0].4), (1_500_000_000, 11, 1));
    assert_eq!((pkts[1].2, pkts[1].4), (2_000_000_000, 101));
    assert_eq!(
        (pkts[2].2, pkts[2].4, pkts[2].5.clone()),
        (5, 113, b"ccc".to_vec())
    );
    assert_eq!(r.skipped_blocks(), 1);
}

#[test]
fn pcapng_damage() {
    // unknown interface
    let mut f = shb(false);
    f.extend(idb(false, 1, None));
    f.extend(epb(false, 0, 1, b"ok"));
    f.extend(epb(false, 3, 1, b"x"));
    let (pkts, dmg) = collect(&mut reader(f).unwrap());
    assert_eq!(pkts.len(), 1);
    assert!(dmg.unwrap().what.contains("interface 3"));
    // cut inside a block
    let mut f = shb(false);
    f.extend(idb(false, 1, None));
    f.extend(epb(false, 0, 1, b"ok"));
    let good = f.len();
    f.extend(epb(false, 0, 1, b"cut here"));
    f.truncate(f.len() - 5);
    let (pkts, dmg) = collect(&mut reader(f).unwrap());
    assert_eq!(pkts.len(), 1);
    let d = dmg.unwrap();
    assert_eq!(d.offset, good as u64);
    assert!(d.what.contains("file ends inside a block"));
    // trailer mismatch
    let mut f = shb(false);
    let n = f.len();
    f[n - 1] = 9;
    assert!(reader(f)
        .unwrap_err()
        .to_string()
        .contains("trailing length"));
}

#[test]
fn compressed_inputs_are_unwrapped() {
    use std::io::Write;
    let plain = pcap_file(
        false,
        false,
        65535,
        &[(1, 0, b"abcd", 4), (2, 0, b"efgh", 4)],
    );
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    gz.write_all(&plain).unwrap();
    let gz = gz.finish().unwrap();
    let zs = zstd::stream::encode_all(&plain[..], 1).unwrap();
    let ahead = |bytes: Vec<u8>| {
        let opts = OpenOptions {
            inflate_thread: true,
            ..OpenOptions::default()
        };
        CaptureReader::from_reader_opts("test".into(), Box::new(io::Cursor::new(bytes)), &opts)
    };
    for (bytes, c) in [(gz.clone(), Compression::Gzip), (zs, Compression::Zstd)] {
        let mut r = reader(bytes.clone()).unwrap();
        assert_eq!(r.compression(), c);
        assert!(!r.inflates_ahead());
        let (pkts, dmg) = collect(&mut r);
        assert!(dmg.is_none());
        assert_eq!(pkts.len(), 2);
        // Decompressed on a helper thread: the same packets.
        let mut r = ahead(bytes).unwrap();
        assert_eq!((r.compression(), r.inflates_ahead()), (c, true));
        assert_eq!(collect(&mut r), (pkts, dmg));
    }
    // A plain file has nothing to decompress.
    assert!(!ahead(plain.clone()).unwrap().inflates_ahead());
    // A gzip cut short: the complete records before the cut survive, then damage; the
    // same with the helper thread.
    let cut = gz[..gz.len() - 12].to_vec();
    let (pkts, dmg) = collect(&mut reader(cut.clone()).unwrap());
    assert!(pkts.len() <= 2);
    assert!(dmg.is_some() || pkts.len() == 2);
    assert_eq!(collect(&mut ahead(cut).unwrap()), (pkts, dmg));
    // A zstd frame whose checksum is wrong: the failure shows only once the frame is read
    // to its end, so where it falls depends on how much is read at a time. One thread or
    // two: the same outcome (found by the `hashed` fuzz target).
    let mut e = zstd::stream::Encoder::new(Vec::new(), 1).unwrap();
    e.include_checksum(true).unwrap();
    e.write_all(&plain).unwrap();
    let mut bad = e.finish().unwrap();
    *bad.last_mut().unwrap() ^= 0xff;
    let outcome = |r: Result<CaptureReader, InputError>| match r {
        Ok(mut r) => Ok(collect(&mut r)),
        Err(e) => Err(e.to_string()),
    };
    let direct = outcome(reader(bad.clone()));
    assert!(
        matches!(&direct, Err(e) if e.contains("checksum")),
        "{direct:?}"
    );
    assert_eq!(outcome(ahead(bad)), direct);
}

#[test]
fn digest_covers_the_whole_input_even_after_damage() {
    use sha2::{Digest, Sha256};
    let mut f = pcap_file(false, false, 65535, &[(1, 0, b"abcd", 4)]);
    f.extend([1, 2, 3]); // a cut record header
    let want: String = Sha256::digest(&f)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect();
    // On a helper thread and inline (`-j 1`), the same digest.
    for hash_thread in [true, false] {
        let opts = OpenOptions {
            hash: true,
            hash_thread,
            ..OpenOptions::default()
        };
        let mut r = CaptureReader::from_reader_opts(
            "t".into(),
            Box::new(io::Cursor::new(f.clone())),
            &opts,
        )
        .unwrap();
        let (pkts, dmg) = collect(&mut r);
        assert_eq!((pkts.len(), dmg.is_some()), (1, true));
        let d = r.digest().unwrap().unwrap();
        assert_eq!(
            (d.size, &d.sha256),
            (f.len() as u64, &want),
            "{hash_thread}"
        );
    }
    assert!(reader(f).unwrap().digest().is_none());
}

#[test]
fn digests_from_the_streams_buffers_equal_the_file_and_leave_the_packets_unchanged() {
    // A plain pcap or pcapng is hashed from the stream's own buffers, on a helper thread
    // or inline:
    // several megabytes (many buffers, packets across their ends), read in short pieces,
    // damaged at the end, left unread after the first packets, or not read at all: the
    // digest is the file's, and the packets are those read without hashing. A gzip file
    // goes through the copying path and agrees too.
    use sha2::{Digest, Sha256};
    struct Trickle(io::Cursor<Vec<u8>>, usize);
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.1 = (self.1 * 7 + 3) % 70_000 + 1;
            let n = out.len().min(self.1);
            self.0.read(&mut out[..n])
        }
    }
    let payloads: Vec<Vec<u8>> = (0..3000u32)
        .map(|i| (0..(i * 37 % 2900 + 1)).map(|b| (b ^ i) as u8).collect())
        .collect();
    let records: Vec<(u32, u32, &[u8], u32)> = payloads
        .iter()
        .enumerate()
        .map(|(i, p)| (i as u32, 0, &p[..], p.len() as u32))
        .collect();
    let pcap = pcap_file(false, false, 65535, &records);
    let mut pcapng = shb(false);
    pcapng.extend(idb(false, 1, None));
    for (i, p) in payloads.iter().enumerate() {
        pcapng.extend(epb(false, 0, i as u64, p));
    }
    let mut damaged = pcap.clone();
    damaged.extend([1, 2, 3]);
    let gz = {
        let mut e = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
        io::Write::write_all(&mut e, &pcap).unwrap();
        e.finish().unwrap()
    };
    let zst = zstd::stream::encode_all(&pcapng[..], 1).unwrap();
    // Cut inside the compressed data: packets, then damage, then the digest of it all.
    let gz_cut = gz[..gz.len() * 2 / 3].to_vec();
    assert!(pcap.len() > 4 << 20, "several buffers: {}", pcap.len());
    // (what, file, hash thread, inflate thread)
    for (what, file, hash_thread, inflate) in [
        ("pcap", &pcap, true, false),
        ("pcapng", &pcapng, true, false),
        ("damaged", &damaged, true, false),
        ("gzip", &gz, true, false),
        ("pcap", &pcap, false, false),
        ("pcapng", &pcapng, false, false),
        ("damaged", &damaged, false, false),
        ("gzip", &gz, false, false),
        ("gzip", &gz, true, true),
        ("gzip cut", &gz_cut, true, true),
        ("gzip cut", &gz_cut, false, false),
        ("zstd", &zst, true, true),
        ("zstd", &zst, false, true),
        ("pcap", &pcap, true, true),
    ] {
        let opts = OpenOptions {
            hash: true,
            hash_thread,
            inflate_thread: inflate,
            parse_thread: false,
            columns: None,
        };
        let want = Sha256::digest(file)
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect::<String>();
        let (plain, plain_damage) = collect(&mut reader(file.clone()).unwrap());
        for (trickle, stop) in [
            (false, None),
            (true, None),
            (true, Some(5)),
            (false, Some(0)),
        ] {
            let input: Box<dyn Read + Send> = if trickle {
                Box::new(Trickle(io::Cursor::new(file.clone()), 0))
            } else {
                Box::new(io::Cursor::new(file.clone()))
            };
            let mut r = CaptureReader::from_reader_opts("t".into(), input, &opts).unwrap();
            let compressed = r.compression() != Compression::None;
            assert_eq!(r.inflates_ahead(), inflate && compressed, "{what}");
            match stop {
                None => {
                    let (pkts, dmg) = collect(&mut r);
                    assert!(
                        pkts == plain && dmg == plain_damage,
                        "{what}: packets, thread {hash_thread}, inflate {inflate}"
                    );
                }
                Some(n) => {
                    for _ in 0..n {
                        assert!(r.next_packet().unwrap().is_some());
                    }
                }
            }
            let d = r.digest().unwrap().unwrap();
            assert_eq!(
                (d.size, &d.sha256),
                (file.len() as u64, &want),
                "{what}, trickle {trickle}, stop {stop:?}, thread {hash_thread}, inflate {inflate}"
            );
        }
    }
}

#[cfg(unix)]
#[test]
fn directory_inputs_take_regular_files_and_name_what_they_leave() {
    let dir = std::env::temp_dir().join(format!("flowcore-collect-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(dir.join("sub")).unwrap();
    std::fs::write(dir.join("a.pcap"), b"x").unwrap();
    std::fs::write(dir.join("sub/b.pcap"), b"x").unwrap();
    let link = |to: &str, name: &str| std::os::unix::fs::symlink(to, dir.join(name)).unwrap();
    link("a.pcap", "c-link.pcap");
    link("missing.pcap", "d-dangling.pcap");
    link("sub", "e-dirlink");
    // A socket stands for every special file (pipes and devices block or never end).
    let _sock = std::os::unix::net::UnixListener::bind(dir.join("f.sock")).unwrap();
    let (specs, skipped) = collect_inputs_noting(std::slice::from_ref(&dir)).unwrap();
    let found: Vec<_> = specs
        .iter()
        .map(|s| s.path().strip_prefix(&dir).unwrap().to_path_buf())
        .collect();
    assert_eq!(
        found,
        ["a.pcap", "c-link.pcap", "sub/b.pcap"].map(std::path::PathBuf::from)
    );
    let left: Vec<_> = skipped
        .iter()
        .map(|s| (s.path.strip_prefix(&dir).unwrap().to_path_buf(), s.what))
        .collect();
    assert_eq!(
        left,
        [
            ("d-dangling.pcap", "a symbolic link to nothing"),
            ("e-dirlink", "a symbolic link to a directory (not followed)"),
            ("f.sock", "a socket"),
        ]
        .map(|(p, w)| (std::path::PathBuf::from(p), w))
    );
    assert_eq!(collect_inputs(std::slice::from_ref(&dir)).unwrap(), specs);
    let _ = std::fs::remove_dir_all(&dir);
}
