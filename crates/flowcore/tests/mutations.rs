//! Robustness smoke test (fuzzing proper is cargo-fuzz's job): every shared sample and the
//! project's own sample (captures and flow exports), with bytes flipped, truncated at random points, or with random
//! length fields, goes through the whole packet path without a panic, and the accounting
//! still reconciles.

use std::io::Cursor;
use std::path::Path;

use flowcore::flow::FlowConfig;
use flowcore::input::CaptureReader;
use flowcore::pipeline::flows_from_capture;

fn files() -> Vec<Vec<u8>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let mut out = vec![std::fs::read(root.join("samples/ome-city-sample.pcap")).unwrap()];
    for dir in ["pcap", "pcapng", "netflow"] {
        let d = root.join("../shared/samples").join(dir);
        let Ok(rd) = std::fs::read_dir(&d) else {
            eprintln!("*** SKIPPED shared samples: {} not found ***", d.display());
            continue;
        };
        let mut paths: Vec<_> = rd.map(|e| e.unwrap().path()).collect();
        paths.sort();
        for p in paths {
            let b = std::fs::read(&p).unwrap();
            if b.len() < 100_000 {
                out.push(b);
            }
        }
    }
    out
}

#[test]
fn mutated_captures_never_panic_and_always_reconcile() {
    let mut x: u64 = 0x2545_f491_4f6c_dd1d;
    let mut rnd = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let mut runs = 0;
    for original in files() {
        for round in 0..150 {
            let mut b = original.clone();
            match round % 3 {
                0 => {
                    for _ in 0..1 + rnd() % 8 {
                        let i = (rnd() as usize) % b.len().max(1);
                        if let Some(v) = b.get_mut(i) {
                            *v ^= 1 << (rnd() % 8);
                        }
                    }
                }
                1 => {
                    let cut = (rnd() as usize) % (b.len() + 1);
                    b.truncate(cut);
                }
                _ => {
                    // Random 32-bit value at a random aligned position (length fields).
                    let i = ((rnd() as usize) % b.len().max(1)) & !3;
                    let v = (rnd() as u32).to_le_bytes();
                    for (k, byte) in v.iter().enumerate() {
                        if let Some(t) = b.get_mut(i + k) {
                            *t = *byte;
                        }
                    }
                }
            }
            let Ok(mut r) = CaptureReader::from_reader("mutant".into(), Box::new(Cursor::new(b)))
            else {
                continue;
            };
            let mut in_flows = 0;
            let s = flows_from_capture(&mut r, 0, &FlowConfig::default(), &mut |f| {
                in_flows = f.packets().saturating_add(in_flows)
            });
            assert_eq!(s.packets_read, s.packets_decoded + s.packets_skipped());
            if s.export_datagrams == 0 {
                assert_eq!(in_flows, s.packets_decoded);
            }
            runs += 1;
        }
    }
    assert!(runs > 1000, "only {runs} mutants were readable");
}
