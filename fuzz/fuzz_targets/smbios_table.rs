//! Arbitrary bytes as an SMBIOS entry point and structure table: never a panic, and every
//! string read stays within the table. Input layout: one byte `n`, then `n % 64` bytes of
//! entry point, then the table (the seeds are the vendor fixtures of `sidero-smbios`).
#![no_main]

use libfuzzer_sys::fuzz_target;
use sidero_smbios::{Smbios, Version, parse, table::structures};

fuzz_target!(|data: &[u8]| {
    let Some((&n, rest)) = data.split_first() else {
        return;
    };
    let split = usize::from(n % 64).min(rest.len());
    let (ep, table) = rest.split_at(split);
    if let Ok(s) = parse(ep, table) {
        assert!(s.structure_count <= table.len() / 4 + 1);
    }
    for v in [Version::new(2, 5), Version::new(3, 0)] {
        let _ = Smbios::decode(v, table);
    }
    for s in structures(table) {
        assert!(s.formatted.len() >= 4);
        for i in 0..=255u8 {
            if let Some(text) = s.string_at(i) {
                assert!(text.len() <= 3 * table.len());
            }
        }
    }
});
