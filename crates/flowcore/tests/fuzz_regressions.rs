//! Inputs cargo-fuzz found crashing (see fuzz/README.md), kept as regression tests.

use std::io::Cursor;
use std::path::Path;

use flowcore::flow::FlowConfig;
use flowcore::input::CaptureReader;
use flowcore::pipeline::flows_from_capture;

fn run(name: &str) -> flowcore::pipeline::InputSummary {
    let p = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fuzz-regressions")
        .join(name);
    let bytes = std::fs::read(&p).unwrap();
    let mut r = CaptureReader::from_reader(name.into(), Box::new(Cursor::new(bytes))).unwrap();
    flows_from_capture(&mut r, 0, &FlowConfig::default(), &mut |_| {})
}

/// IPv6 packets whose extension chain made etherparse 0.21's extension iterator read out
/// of bounds (AddressSanitizer heap-buffer-overflow); the chain is now walked by our own
/// bounds-checked code.
#[test]
fn ipv6_extension_chain_out_of_bounds() {
    let s = run("capture-ipv6-ext-oob.pcap");
    assert_eq!(s.packets_read, s.packets_decoded + s.packets_skipped());
    assert!(s.packets_read >= 1);
}
