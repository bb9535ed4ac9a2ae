//! Any bytes as an input file, run twice: on one thread (`Pipeline::run`) and on two
//! (`Pipeline::run_threaded`), exports paired or not (by the input's length). Records and
//! summaries must be identical.
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::flow::{FlowConfig, FlowRecord};
use flowcore::input::CaptureReader;
use flowcore::pipeline::Pipeline;

fuzz_target!(|data: &[u8]| {
    let reader =
        || CaptureReader::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(data.to_vec())));
    let (Ok(mut r1), Ok(mut r2)) = (reader(), reader()) else {
        return;
    };
    let cfg = FlowConfig {
        max_flows: 64,
        ..FlowConfig::default()
    };
    // Paired exports go one by one; unpaired ones in the decoder's batches.
    let paired = data.len() % 2 == 0;
    let pipeline = || {
        let p = Pipeline::new(cfg);
        if paired {
            p.pair_exports(60, 16)
        } else {
            p
        }
    };
    let mut one: Vec<FlowRecord> = Vec::new();
    let mut p = pipeline();
    let s1 = p.run(&mut r1, 0, &mut |f: FlowRecord| one.push(f));
    p.finish(&mut |f| one.push(f));
    let mut two: Vec<FlowRecord> = Vec::new();
    let mut p = pipeline();
    let s2 = p.run_threaded(&mut r2, 0, &mut |f: FlowRecord| two.push(f));
    p.finish(&mut |f| two.push(f));
    assert_eq!(one, two);
    assert_eq!(s1, s2);
});
