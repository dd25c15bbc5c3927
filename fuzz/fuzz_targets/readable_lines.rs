//! Fuzzes the readable forms `sideroctl logs` prints of `serverlogs`/`serverevents` lines
//! (node-controlled text): no panic, one output line per input line, and no control character
//! other than a tab reaches the terminal.
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_siderolink::readable::{format_event, format_log};

fuzz_target!(|data: &[u8]| {
    let line = String::from_utf8_lossy(data);
    for out in [format_log(&line), format_event(&line)] {
        assert!(
            !out.chars().any(|c| c.is_control() && c != '\t'),
            "control character in {out:?}"
        );
    }
});
