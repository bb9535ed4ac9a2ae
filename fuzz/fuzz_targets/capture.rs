//! Any bytes as an input file: pcap, pcapng, raw export files, gzip/zstd wrappers, through
//! the whole packet path. Must never panic; accounting must reconcile.
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::flow::{FlowConfig, FlowRecord};
use flowcore::input::CaptureReader;
use flowcore::pipeline::Pipeline;

fuzz_target!(|data: &[u8]| {
    let Ok(mut r) =
        CaptureReader::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(data.to_vec())))
    else {
        return;
    };
    let mut p = Pipeline::new(FlowConfig::default()).pair_exports(60, 1024);
    let mut n = 0u64;
    let s = p.run(&mut r, 0, &mut |f: FlowRecord| {
        n = n.saturating_add(f.packets())
    });
    p.finish(&mut |_: FlowRecord| {});
    assert_eq!(s.packets_read, s.packets_decoded + s.packets_skipped());
});
