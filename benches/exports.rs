//! Flow-export throughput: records/s for NetFlow v5, v9 and IPFIX, (a) decode only and
//! (b) decode + segment attribution + policy evaluation (the `analyze` path: the decoder's
//! batches judged by `Analyzer::observe_exports`), on one core, over synthetic datagrams in
//! memory. Also decode + `from_export` (building each flow record), for comparison.
//!
//! (c) The same as `flowcli analyze` runs it: the datagrams in a pcap capture (Ethernet,
//! IPv4, UDP) read from memory through `Pipeline::run`, records judged by an analyzer.
//!
//! `cargo bench -p flowcore --bench exports` (pass a record count, default 2 000 000, and
//! optionally the formats to run: `v5`, `v9`, `ipfix`, `ipfix-var`).

use std::io::Cursor;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Instant;

use flowcore::flow::{from_export, FlowConfig};
use flowcore::input::export::{
    DatagramContext, ExportDecoder, ExportItem, ExportKind, TemplateLimits,
};
use flowcore::input::CaptureReader;
use flowcore::pipeline::Pipeline;
use flowcore::policy::{Analyzer, Ruleset};

const SITE: &str = include_str!("../rulesets/example-site.toml");

#[path = "datagrams.rs"]
mod datagrams;
use datagrams::{pcap, templated, templated_var, v5};

fn main() {
    let n: u32 = std::env::args()
        .skip(1)
        .find_map(|a| a.parse().ok())
        .unwrap_or(2_000_000);
    // Formats to run (v5, v9, ipfix, ipfix-var): all unless some are named.
    let only: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a.parse::<u32>().is_err() && !a.starts_with('-'))
        .collect();
    let rs = Ruleset::from_str("example-site.toml", SITE, None).expect("site");
    let ctx = |i: u64| DatagramContext {
        exporter: IpAddr::V4(Ipv4Addr::new(192, 0, 2, 1)),
        port: 2055,
        capture_ts: 0,
        index: i,
        offset: 0,
    };
    println!("{n} records per format, one core, best of 3");
    type Make = fn(u32) -> Vec<Vec<u8>>;
    let formats: [(&str, &str, ExportKind, Make); 4] = [
        ("NetFlow v5", "v5", ExportKind::NetflowV5, v5),
        ("NetFlow v9", "v9", ExportKind::NetflowV9, |n| {
            templated(n, false)
        }),
        ("IPFIX", "ipfix", ExportKind::Ipfix, |n| templated(n, true)),
        ("IPFIX var", "ipfix-var", ExportKind::Ipfix, templated_var),
    ];
    for (name, short, kind, make) in formats {
        if !only.is_empty() && !only.iter().any(|o| o == short) {
            continue;
        }
        let datagrams = make(n);
        let mut best = (f64::MAX, f64::MAX);
        let mut best_conv = f64::MAX;
        for _ in 0..3 {
            let mut dec = ExportDecoder::new(TemplateLimits::default());
            let t = Instant::now();
            let mut count = 0u64;
            for (i, d) in datagrams.iter().enumerate() {
                dec.decode(kind, ctx(i as u64), d, &mut |item| {
                    if let ExportItem::Records(rs) = item {
                        count += rs.iter().map(|r| r.packets).sum::<u64>();
                    }
                });
            }
            let decode = t.elapsed().as_secs_f64();
            assert_eq!(count, u64::from(n) * 10);
            let mut dec = ExportDecoder::new(TemplateLimits::default());
            let t = Instant::now();
            let mut c2 = 0u64;
            for (i, d) in datagrams.iter().enumerate() {
                dec.decode(kind, ctx(i as u64), d, &mut |item| {
                    if let ExportItem::Records(rs) = item {
                        for r in rs {
                            c2 += from_export(r, 0).fwd.packets;
                        }
                    }
                });
            }
            let conv = t.elapsed().as_secs_f64();
            assert_eq!(c2, count);
            let mut dec = ExportDecoder::new(TemplateLimits::default());
            let mut an = Analyzer::new(&rs);
            let t = Instant::now();
            for (i, d) in datagrams.iter().enumerate() {
                dec.decode(kind, ctx(i as u64), d, &mut |item| {
                    if let ExportItem::Records(rs) = item {
                        an.observe_exports(rs, 0, "bench");
                    }
                });
            }
            let full = t.elapsed().as_secs_f64();
            let a = an.finish(&["bench".into()]);
            assert_eq!(a.flows, u64::from(n));
            best = (best.0.min(decode), best.1.min(full));
            best_conv = best_conv.min(conv);
        }
        // (c) As `flowcli analyze --threads 1` runs it, minus the file and its hash.
        let pcap = pcap(&datagrams);
        let mut best_pipe = f64::MAX;
        for _ in 0..3 {
            let mut r =
                CaptureReader::from_reader("bench".into(), Box::new(Cursor::new(pcap.clone())))
                    .expect("capture");
            let mut p = Pipeline::new(FlowConfig::default());
            let mut an = Analyzer::new(&rs);
            let t = Instant::now();
            // What `flowcli analyze` gives the pipeline: flows to `observe`, export
            // records (as decoded, in batches) to `observe_exports`.
            let s = p.run(&mut r, 0, &mut an.sink("bench"));
            best_pipe = best_pipe.min(t.elapsed().as_secs_f64());
            assert_eq!(s.export_records, u64::from(n));
            assert_eq!(an.finish(&["bench".into()]).flows, u64::from(n));
        }
        println!(
            "{name:<11} decode + flow record {:5.1} ns   pipeline (capture in memory) {:5.2} M records/s ({:6.1} ns)",
            best_conv * 1e9 / f64::from(n),
            f64::from(n) / best_pipe / 1e6,
            best_pipe * 1e9 / f64::from(n)
        );
        println!(
            "{name:<11} decode {:6.1} M records/s ({:5.1} ns)   decode+attribute+evaluate {:5.2} M records/s ({:6.1} ns)",
            f64::from(n) / best.0 / 1e6,
            best.0 * 1e9 / f64::from(n),
            f64::from(n) / best.1 / 1e6,
            best.1 * 1e9 / f64::from(n)
        );
    }
}
