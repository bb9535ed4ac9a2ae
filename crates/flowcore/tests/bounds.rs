//! Floods stay within the configured bounds: a SYN flood of distinct flows is held to
//! `max_flows` (the rest emitted early and counted), its violations to `max_findings` (the
//! rest counted in overflow findings), and a template flood from ever new observation
//! domains to the template limits (the rest refused and counted). Peak memory of the
//! same floods at 10 M is measured by `benches/flood.sh`.

use std::io::Cursor;

use flowcore::flow::FlowConfig;
use flowcore::input::export::TemplateLimits;
use flowcore::input::CaptureReader;
use flowcore::pipeline::Pipeline;
use flowcore::policy::{Analyzer, Ruleset};

#[allow(dead_code)]
#[path = "../examples/flood.rs"]
mod flood;

fn reader(bytes: Vec<u8>) -> CaptureReader {
    CaptureReader::from_reader("flood".into(), Box::new(Cursor::new(bytes))).unwrap()
}

#[test]
fn syn_flood_is_held_to_max_flows_and_max_findings() {
    let n = 200_000u64;
    let mut bytes = Vec::new();
    flood::syn(n, &mut bytes).unwrap();
    let site = concat!(env!("CARGO_MANIFEST_DIR"), "/../../rulesets/ome-city.toml");
    let rs = Ruleset::load(site.as_ref()).unwrap();
    let mut analyzer = Analyzer::new(&rs).max_findings(5_000);
    let cfg = FlowConfig {
        max_flows: 10_000,
        ..FlowConfig::default()
    };
    let mut p = Pipeline::new(cfg);
    let mut records = 0u64;
    let s = p.run(&mut reader(bytes), 0, &mut |f| {
        records += 1;
        analyzer.observe(&f, "flood");
    });
    assert_eq!((s.packets_read, s.packets_decoded), (n, n));
    assert_eq!(records, n, "every SYN is its own flow, none lost");
    assert_eq!(s.flows.peak_flows, 10_000);
    assert_eq!(s.flows.capacity, n - 10_000, "evictions are counted");
    let a = analyzer.finish(&["flood".into()]);
    assert_eq!(a.violating_flows, n);
    // 5 000 distinct findings (one per source host: the flood's hosts repeat every 65 536
    // packets with a new port), then one overflow finding for the rule with the rest.
    let kept = (0..n).filter(|i| i % 65_536 < 5_000).count() as u64;
    assert_eq!(a.findings.len(), 5_001);
    assert_eq!(a.findings_overflowed, n - kept);
    let overflow = a
        .findings
        .iter()
        .find(|f| f.considered.iter().any(|c| c.contains("distinct findings")))
        .unwrap();
    assert_eq!(overflow.flows, n - kept);
    assert!(overflow.considered[0].contains("more than 5000 distinct findings"));
    assert_eq!(a.findings.iter().map(|f| f.flows).sum::<u64>(), n);
}

#[test]
fn template_flood_is_held_to_the_template_limits() {
    let n = 20_000u64;
    let mut bytes = Vec::new();
    flood::templates(n, &mut bytes).unwrap();
    let limits = TemplateLimits {
        templates_total: 1_000,
        ..TemplateLimits::default()
    };
    let mut p = Pipeline::new(FlowConfig::default()).export_limits(limits);
    let mut records = 0u64;
    let s = p.run(&mut reader(bytes), 0, &mut |_| records += 1);
    let st = p.finish(&mut |_| records += 1);
    assert_eq!(s.export_datagrams, n);
    assert_eq!(st.templates, n, "every template was read");
    assert_eq!(
        st.templates_refused,
        n - 1_000,
        "all but the limit refused and counted"
    );
    assert_eq!(records, 1_000, "data of refused templates is not decoded");
    assert_eq!(
        st.undecodable_sets,
        n - 1_000,
        "and is counted as undecodable"
    );
}
