//! Site files: any text must give a ruleset or errors with positions, never a panic.
#![no_main]
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    if let Err(errs) = flowcore::policy::Ruleset::from_str("fuzz.toml", text, None) {
        for e in errs {
            let _ = e.to_string();
        }
    }
});
