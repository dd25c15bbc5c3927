//! The fuzz seed corpus (`fuzz/corpus/smbios_table/`) is the vendor fixtures in the fuzz
//! target's input layout (one length byte, the entry point, the table). This keeps the seeds
//! equal to the fixtures; `SIDERO_WRITE_SEEDS=1` rewrites them after a fixture changes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::PathBuf;

use sidero_smbios::fixtures;

#[test]
fn seeds_are_the_fixtures() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/corpus/smbios_table");
    let write = std::env::var_os("SIDERO_WRITE_SEEDS").is_some();
    for f in fixtures::all() {
        let mut seed = vec![u8::try_from(f.entry_point.len()).unwrap()];
        seed.extend_from_slice(&f.entry_point);
        seed.extend_from_slice(&f.table);
        let path = dir.join(f.name);
        if write {
            std::fs::create_dir_all(&dir).unwrap();
            std::fs::write(&path, &seed).unwrap();
        }
        let committed = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", f.name));
        assert_eq!(committed, seed, "{} differs from its fixture", f.name);
    }
}
