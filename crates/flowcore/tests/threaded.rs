//! `Pipeline::run_threaded` (decoding on one thread, flow assembly and `out` on another)
//! gives exactly what `Pipeline::run` gives: the same records in the same order and the
//! same summary. Checked on every capture of `../shared/samples` and on a synthetic
//! capture long enough to cross many of the hand-over chunks, with TCP, UDP, ICMP, IP
//! fragments, idle timeouts and, interleaved, the real flow-export datagrams (NetFlow v5,
//! v9, IPFIX, sFlow) of the shared samples.

use std::io::Cursor;
use std::path::{Path, PathBuf};

use flowcore::flow::{from_export, FlowConfig, FlowRecord};
use flowcore::input::export::ExportRecord;
use flowcore::input::{CaptureReader, RawPacket};
use flowcore::pipeline::{FlowSink, InputSummary, Pipeline};
use flowcore::policy::{Analyzer, Ruleset};
use flowcore::report::capture::{CaptureKind, CaptureWriter};

fn samples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/samples")
}

fn sample_files() -> Vec<PathBuf> {
    let mut files = Vec::new();
    for dir in ["pcap", "pcapng", "netflow"] {
        let d = samples().join(dir);
        let rd = std::fs::read_dir(&d).unwrap_or_else(|e| panic!("{}: {e}", d.display()));
        files.extend(rd.map(|e| e.unwrap().path()));
    }
    files.sort();
    assert!(files.len() >= 40, "expected the shared samples");
    files
}

/// Both ways of running `pipeline()` over `bytes`, then `Pipeline::finish`.
type Run = (InputSummary, Vec<FlowRecord>);

fn both(bytes: &[u8], pipeline: impl Fn() -> Pipeline) -> (Run, Run) {
    let reader = || {
        CaptureReader::from_reader("input".into(), Box::new(Cursor::new(bytes.to_vec())))
            .expect("an input that opens")
    };
    let mut one = Vec::new();
    let mut p = pipeline();
    let s1 = p.run(&mut reader(), 3, &mut |f| one.push(f));
    p.finish(&mut |f| one.push(f));
    let mut two = Vec::new();
    let mut p = pipeline();
    let s2 = p.run_threaded(&mut reader(), 3, &mut |f| two.push(f));
    p.finish(&mut |f| two.push(f));
    ((s1, one), (s2, two))
}

/// A named way to build the pipeline.
type Config = (&'static str, Box<dyn Fn() -> Pipeline>);

fn configs() -> Vec<Config> {
    vec![
        ("default", Box::new(|| Pipeline::new(FlowConfig::default()))),
        (
            "max_flows 40",
            Box::new(|| {
                Pipeline::new(FlowConfig {
                    max_flows: 40,
                    ..FlowConfig::default()
                })
            }),
        ),
        (
            "paired exports",
            Box::new(|| Pipeline::new(FlowConfig::default()).pair_exports(120, 16)),
        ),
    ]
}

#[test]
fn threaded_runs_equal_single_runs_on_every_sample() {
    let mut records = 0;
    for f in sample_files() {
        let bytes = std::fs::read(&f).unwrap();
        // Files damaged at the start (kept in the samples for that) do not open at all.
        if CaptureReader::from_reader("input".into(), Box::new(Cursor::new(bytes.clone()))).is_err()
        {
            continue;
        }
        for (name, p) in configs() {
            let ((s1, r1), (s2, r2)) = both(&bytes, p);
            records += r1.len();
            assert_eq!(r1, r2, "{} ({name}): records", f.display());
            assert_eq!(s1, s2, "{} ({name}): summary", f.display());
        }
    }
    assert!(records > 500, "{records} records");
}

/// A small xorshift generator: the capture is the same on every run.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// An Ethernet/IPv4 frame: TCP, UDP or ICMP between hosts of the example site's segments
/// and the Internet; some UDP packets are split into two fragments.
fn synthetic(r: &mut Rng, frames: &mut Vec<Vec<u8>>) {
    let host = |r: &mut Rng| -> [u8; 4] {
        match r.below(4) {
            3 => [93, 184, 0, r.below(40) as u8],
            z => [10, z as u8 + 1, 0, r.below(40) as u8],
        }
    };
    let (src, dst) = (host(r), host(r));
    let proto = [6u8, 6, 17, 1][r.below(4) as usize];
    let (sport, dport) = (
        1024 + r.below(8) as u16,
        [53u16, 443, 445][r.below(3) as usize],
    );
    let mut l4 = vec![0u8; 8 + r.below(40) as usize];
    match proto {
        6 => {
            l4.resize(20, 0);
            l4[12] = 5 << 4;
            l4[13] = [0x02, 0x12, 0x10, 0x11, 0x04][r.below(5) as usize];
        }
        1 => l4[0] = 8,
        _ => {}
    }
    if proto != 1 {
        l4[0..2].copy_from_slice(&sport.to_be_bytes());
        l4[2..4].copy_from_slice(&dport.to_be_bytes());
    }
    if proto == 17 {
        let len = l4.len() as u16;
        l4[4..6].copy_from_slice(&len.to_be_bytes());
    }
    let fragment = proto == 17 && l4.len() > 16 && r.below(10) == 0;
    let id = r.below(65536) as u16;
    let mut frame = |payload: &[u8], offset8: u16, more: bool| {
        let mut e = vec![
            0x02, 0, 0x5e, 0, 0, dst[3], 0x02, 0, 0x5e, 0, 0, src[3], 8, 0,
        ];
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&(20 + payload.len() as u16).to_be_bytes());
        ip[4..6].copy_from_slice(&id.to_be_bytes());
        ip[6..8].copy_from_slice(&(offset8 | if more { 0x2000 } else { 0 }).to_be_bytes());
        ip[8] = 64;
        ip[9] = proto;
        ip[12..16].copy_from_slice(&src);
        ip[16..20].copy_from_slice(&dst);
        e.extend(ip);
        e.extend(payload);
        frames.push(e);
    };
    if fragment {
        frame(&l4[..16], 0, true);
        frame(&l4[16..], 2, false);
    } else {
        frame(&l4, 0, false);
    }
}

/// 30 000 synthetic frames, 4 ms apart (so flows time out along the way), with every
/// Ethernet frame of the shared samples (their exports included) mixed in.
fn mixed_capture() -> Vec<u8> {
    let mut real = Vec::new();
    for f in sample_files() {
        let Ok(mut reader) = CaptureReader::open(&f) else {
            continue;
        };
        while let Ok(Some(p)) = reader.next_packet() {
            if p.link_type == 1 {
                real.push(p.data.to_vec());
            }
        }
    }
    assert!(real.len() > 1000, "frames of the shared samples");
    let mut r = Rng(0x9e37_79b9_7f4a_7c15);
    let mut w = CaptureWriter::new(Vec::new(), CaptureKind::Pcap { link_type: 1 }).unwrap();
    let mut real = real.into_iter();
    let mut frames = Vec::new();
    let mut index = 0u64;
    while index < 30_000 {
        frames.clear();
        match r.below(5) {
            0 => frames.extend(real.next()),
            _ => synthetic(&mut r, &mut frames),
        }
        for data in &frames {
            index += 1;
            w.write(&RawPacket {
                index,
                offset: 0,
                ts: 1_795_532_400_000_000_000 + index as i64 * 4_000_000,
                orig_len: data.len() as u32,
                link_type: 1,
                interface: 0,
                data,
            })
            .unwrap();
        }
    }
    w.finish().unwrap()
}

#[test]
fn threaded_runs_equal_single_runs_across_many_chunks() {
    let bytes = mixed_capture();
    for (name, p) in configs() {
        let ((s1, r1), (s2, r2)) = both(&bytes, p);
        assert_eq!(s1.packets_read, 30_000, "{name}");
        // The capture exercises what it should: exports, fragments, timeouts.
        assert!(s1.export_records > 100, "{name}: {}", s1.export_records);
        assert!(s1.fragments.attributed > 100, "{name}: {:?}", s1.fragments);
        assert!(s1.flows.records > 1000, "{name}: {:?}", s1.flows);
        assert_eq!(r1.len(), r2.len(), "{name}: record count");
        for (i, (a, b)) in r1.iter().zip(&r2).enumerate() {
            assert_eq!(a, b, "{name}: record {i}");
        }
        assert_eq!(s1, s2, "{name}: summary");
    }
}

#[test]
fn a_panic_in_out_on_the_second_thread_reaches_the_caller() {
    let bytes = mixed_capture();
    let result = std::panic::catch_unwind(|| {
        let mut r =
            CaptureReader::from_reader("input".into(), Box::new(Cursor::new(bytes))).unwrap();
        let mut seen = 0;
        Pipeline::new(FlowConfig::default()).run_threaded(&mut r, 0, &mut |_| {
            seen += 1;
            assert!(seen < 100, "the consumer gives up");
        })
    });
    let panic = result.expect_err("the panic is passed on, not swallowed");
    let text = match (panic.downcast_ref::<String>(), panic.downcast_ref::<&str>()) {
        (Some(s), _) => s.clone(),
        (None, Some(s)) => s.to_string(),
        (None, None) => String::new(),
    };
    assert!(text.contains("the consumer gives up"), "{text}");
}

/// A sink that takes unpaired, unfiltered export records in batches, as an analyzer does.
struct Batches {
    flows: Vec<FlowRecord>,
    batches: usize,
    /// The sizes of the batches of records that ended together.
    ending: Vec<usize>,
}

impl FlowSink for Batches {
    fn flow(&mut self, f: FlowRecord) {
        self.flows.push(f);
    }

    fn flows(&mut self, records: Vec<FlowRecord>) {
        assert!(
            !records.is_empty() && records.len() <= 8192,
            "{}",
            records.len()
        );
        self.ending.push(records.len());
        self.flows.extend(records);
    }

    fn exports(&mut self, records: &[ExportRecord], input: u32) {
        assert!(
            !records.is_empty() && records.len() <= 32,
            "{}",
            records.len()
        );
        self.batches += 1;
        self.flows
            .extend(records.iter().map(|r| from_export(r, input)));
    }
}

/// `pipeline` run over `bytes` (on two threads or one) into a [`Batches`], then finished.
fn batched(bytes: &[u8], mut pipeline: Pipeline, threaded: bool) -> Batches {
    let mut reader =
        CaptureReader::from_reader("input".into(), Box::new(Cursor::new(bytes.to_vec()))).unwrap();
    let mut sink = Batches {
        flows: Vec::new(),
        batches: 0,
        ending: Vec::new(),
    };
    if threaded {
        pipeline.run_threaded(&mut reader, 3, &mut sink);
    } else {
        pipeline.run(&mut reader, 3, &mut sink);
    }
    pipeline.finish(&mut sink);
    sink
}

#[test]
fn sinks_taking_export_batches_see_what_closures_see() {
    // Export records that go out as they are reach a sink's `exports` in batches, in
    // the same place among the packets' flows as they reach a closure one by one, on
    // one thread and on two; paired or filtered ones come one by one through `flow`.
    // An analyzer judging the batches (`observe_exports`) ends with the same analysis.
    let bytes = mixed_capture();
    let rs = Ruleset::from_str(
        "example-site.toml",
        include_str!("../../../rulesets/example-site.toml"),
        None,
    )
    .unwrap();
    for (name, p) in configs() {
        let ((_, want), _) = both(&bytes, &p);
        for threaded in [false, true] {
            let sink = batched(&bytes, p(), threaded);
            assert_eq!(sink.flows, want, "{name}, threaded {threaded}");
            if name == "paired exports" {
                assert_eq!(sink.batches, 0, "{name}: paired records come one by one");
            } else {
                assert!(sink.batches > 20, "{name}: {} batches", sink.batches);
            }
        }
        // Judged through the analyzer's sink: batches through `observe_exports`, flows
        // through `observe`.
        let mut batched = Analyzer::new(&rs);
        let mut reader =
            CaptureReader::from_reader("input".into(), Box::new(Cursor::new(bytes.clone())))
                .unwrap();
        let mut pipeline = p();
        pipeline.run_threaded(&mut reader, 3, &mut batched.sink("input"));
        pipeline.finish(&mut batched.sink("input"));
        let mut single = Analyzer::new(&rs);
        for f in &want {
            single.observe(f, "input");
        }
        let files = vec!["a".into(), "b".into(), "c".into(), "input".into()];
        assert_eq!(
            format!("{:?}", batched.finish(&files)),
            format!("{:?}", single.finish(&files)),
            "{name}: analysis"
        );
    }
}

#[test]
fn flows_held_at_the_end_reach_a_sink_in_batches_in_order() {
    // 20 000 UDP flows within one second: none times out, all end with the input, and
    // reach `FlowSink::flows` in batches of at most 8 192, in the order a closure sees
    // them one by one, on one thread and on two.
    let mut w = CaptureWriter::new(Vec::new(), CaptureKind::Pcap { link_type: 1 }).unwrap();
    for i in 0..20_000u32 {
        let [_, _, a, b] = i.to_be_bytes();
        let mut e = vec![0x02, 0, 0x5e, 0, a, b, 0x02, 0, 0x5e, 0, 0, 1, 8, 0];
        let mut ip = [0u8; 20];
        ip[0] = 0x45;
        ip[2..4].copy_from_slice(&28u16.to_be_bytes());
        ip[8] = 64;
        ip[9] = 17;
        ip[12..16].copy_from_slice(&[10, 1, 0, 1]);
        ip[16..20].copy_from_slice(&[10, 2, a, b]);
        e.extend(ip);
        e.extend([0x30, 0x39, 0, 53, 0, 8, 0, 0]);
        w.write(&RawPacket {
            index: u64::from(i) + 1,
            offset: 0,
            ts: 1_795_532_400_000_000_000 + i64::from(i) * 40_000,
            orig_len: e.len() as u32,
            link_type: 1,
            interface: 0,
            data: &e,
        })
        .unwrap();
    }
    let bytes = w.finish().unwrap();
    let ((s, want), _) = both(&bytes, || Pipeline::new(FlowConfig::default()));
    assert_eq!((s.packets_read, want.len()), (20_000, 20_000));
    for threaded in [false, true] {
        let sink = batched(&bytes, Pipeline::new(FlowConfig::default()), threaded);
        assert_eq!(sink.ending, [8192, 8192, 3616], "threaded {threaded}");
        assert!(
            sink.flows == want,
            "threaded {threaded}: records or their order differ"
        );
    }
}
