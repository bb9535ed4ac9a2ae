//! Any bytes as an input file, run twice: on one thread (`Pipeline::run`) and on two
//! (`Pipeline::run_threaded`). Records and summaries must be identical.
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::flow::{FlowConfig, FlowRecord};
use flowcore::input::CaptureReader;
use flowcore::pipeline::Pipeline;

fuzz_target!(|data: &[u8]| {
    let reader = || {
        CaptureReader::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(data.to_vec())))
    };
    let (Ok(mut r1), Ok(mut r2)) = (reader(), reader()) else {
        return;
    };
    let cfg = FlowConfig {
        max_flows: 64,
        ..FlowConfig::default()
    };
    let mut one: Vec<FlowRecord> = Vec::new();
    let mut p = Pipeline::new(cfg).pair_exports(60, 16);
    let s1 = p.run(&mut r1, 0, &mut |f| one.push(f));
    p.finish(&mut |f| one.push(f));
    let mut two: Vec<FlowRecord> = Vec::new();
    let mut p = Pipeline::new(cfg).pair_exports(60, 16);
    let s2 = p.run_threaded(&mut r2, 0, &mut |f| two.push(f));
    p.finish(&mut |f| two.push(f));
    assert_eq!(one, two);
    assert_eq!(s1, s2);
});
