//! Any bytes as an input file, its flows split into three inputs and judged twice against
//! the example site, with a bound on findings taken from the bytes: by one analyzer in
//! order, and by one analyzer per input merged in order (sealed or not, by the bytes'
//! length), an input that cannot be merged exactly being judged again in order, as the
//! CLI does. The analyses must be identical.
#![no_main]
use libfuzzer_sys::fuzz_target;

use flowcore::flow::{FlowConfig, FlowRecord};
use flowcore::input::CaptureReader;
use flowcore::pipeline::Pipeline;
use flowcore::policy::{Analyzer, Ruleset};

const SITE: &str = include_str!("../../rulesets/example-site.toml");

fuzz_target!(|data: &[u8]| {
    let Ok(mut reader) =
        CaptureReader::from_reader("fuzz".into(), Box::new(std::io::Cursor::new(data.to_vec())))
    else {
        return;
    };
    let Ok(rs) = Ruleset::from_str("example-site.toml", SITE, None) else {
        return;
    };
    let mut flows: Vec<FlowRecord> = Vec::new();
    let mut p = Pipeline::new(FlowConfig::default());
    p.run(&mut reader, 0, &mut |f: FlowRecord| flows.push(f));
    p.finish(&mut |f| flows.push(f));
    let (b, c) = (flows.len() / 3, flows.len() * 2 / 3);
    let parts = [&flows[..b], &flows[b..c], &flows[c..]];
    let files = ["a".to_string(), "b".to_string(), "c".to_string()];
    let bound = 1 + usize::from(data.last().copied().unwrap_or(0)) % 16;
    let seal = data.len() % 2 == 0;

    let mut one = Analyzer::new(&rs).max_findings(bound);
    for (part, file) in parts.iter().zip(&files) {
        for f in *part {
            one.observe(f, file);
        }
    }
    let mut merged = Analyzer::new(&rs).max_findings(bound);
    for (part, file) in parts.iter().zip(&files) {
        let mut a = Analyzer::new(&rs).max_findings(bound);
        for f in *part {
            a.observe(f, file);
        }
        if seal {
            a.seal();
        }
        if merged.absorbs_exactly(&a) {
            merged.absorb(a);
        } else {
            for f in *part {
                merged.observe(f, file);
            }
        }
    }
    assert_eq!(
        format!("{:?}", one.finish(&files)),
        format!("{:?}", merged.finish_on(&files, 3))
    );
});
