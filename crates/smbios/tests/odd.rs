//! Broken and unusual tables: the parser keeps what it can read and never panics.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use proptest::prelude::*;
use sidero_smbios::build::{Record, Table, entry_point_v2, entry_point_v3};
use sidero_smbios::fixtures::{self, QEMU_UUID};
use sidero_smbios::table::structures;
use sidero_smbios::{EntryPoint, Error, Smbios, Version, parse};

const V32: Version = Version::new(3, 2);

fn system_record() -> Record {
    fixtures::system(["Maker", "Model", "1", "SN1", "SKU1", "Fam"], QEMU_UUID)
}

#[test]
fn entry_point_errors() {
    assert_eq!(EntryPoint::parse(b""), Err(Error::NoAnchor));
    assert_eq!(
        EntryPoint::parse(b"_DMI_xxxxxxxxxxxxxxxxxxxxxx"),
        Err(Error::NoAnchor)
    );
    let v2 = entry_point_v2(Version::new(2, 8), 100, 3);
    assert!(matches!(
        EntryPoint::parse(&v2[..0x1A]),
        Err(Error::Truncated {
            len: 0x1A,
            need: 0x1F
        })
    ));
    let v3 = entry_point_v3(V32, 100);
    assert!(matches!(
        EntryPoint::parse(&v3[..0x10]),
        Err(Error::Truncated { .. })
    ));
    let ep = EntryPoint::parse(&v2).unwrap();
    assert_eq!(
        (ep.version, ep.table_len, ep.structure_count),
        (Version::new(2, 8), 100, Some(3))
    );
    let ep = EntryPoint::parse(&v3).unwrap();
    assert_eq!(
        (ep.version, ep.table_len, ep.structure_count),
        (V32, 100, None)
    );
}

#[test]
fn a_bad_checksum_is_reported_not_fatal() {
    let mut v3 = entry_point_v3(V32, 100);
    v3[0x0C] ^= 1;
    let ep = EntryPoint::parse(&v3).unwrap();
    assert!(!ep.checksum_ok);
    assert_eq!(ep.version, V32);
}

/// One odd-table case: (name, table bytes, manufacturer, uuid present, structures, truncated).
type Case = (
    &'static str,
    Vec<u8>,
    Option<&'static str>,
    bool,
    usize,
    bool,
);

/// Table cases: (name, table bytes, expected system manufacturer, expected uuid presence,
/// structures walked, truncated).
#[test]
fn odd_tables() {
    let good = system_record();
    let cases: Vec<Case> = vec![
        ("empty table", vec![], None, false, 0, false),
        (
            "good",
            Table::new().push(good.clone()).end().bytes(),
            Some("Maker"),
            true,
            2,
            false,
        ),
        (
            "no end-of-table structure",
            Table::new().push(good.clone()).bytes(),
            Some("Maker"),
            true,
            1,
            false,
        ),
        (
            "string number past the set",
            Table::new()
                .push(Record::new(1, 1).byte(0x04, 7).pad_to(0x1B))
                .end()
                .bytes(),
            None,
            true,
            2,
            false,
        ),
        (
            "zero-length string ends the set early",
            Table::new()
                .push(
                    Record::new(1, 1)
                        .byte(0x04, 2)
                        .pad_to(0x1B)
                        .raw_strings(b"\0\0"),
                )
                .end()
                .bytes(),
            None,
            true,
            2,
            false,
        ),
        (
            "whitespace-only string",
            Table::new()
                .push(Record::new(1, 1).string(0x04, "   ").pad_to(0x1B))
                .end()
                .bytes(),
            Some(""),
            true,
            2,
            false,
        ),
        (
            "SMBIOS 2.0 length (8): strings only, no uuid",
            Table::new()
                .push(
                    Record::new(1, 1)
                        .string(0x04, "Maker")
                        .string(0x07, "SN")
                        .pad_to(8),
                )
                .end()
                .bytes(),
            Some("Maker"),
            false,
            2,
            false,
        ),
        (
            "length below the header",
            Table::new()
                .push(Record::new(0, 0))
                .raw(&[1, 2, 0, 0, 0, 0])
                .bytes(),
            None,
            false,
            1,
            true,
        ),
        (
            "formatted area cut by the end of the table",
            {
                let mut b = Table::new().push(good.clone()).bytes();
                b.truncate(0x10);
                b
            },
            None,
            false,
            0,
            true,
        ),
        (
            "a length byte that lies: the rest is read as strings, bounded",
            Table::new().push(good.clone().len(0x08)).end().bytes(),
            Some("3\"\u{11}"),
            false,
            2,
            false,
        ),
        ("header cut", vec![1, 0x1B], None, false, 0, true),
        (
            "string set without terminator at the end",
            {
                let mut b = Table::new().push(good.clone()).bytes();
                b.truncate(b.len() - 2);
                b
            },
            Some("Maker"),
            true,
            1,
            true,
        ),
        (
            "non-UTF-8 string",
            Table::new()
                .push(
                    Record::new(1, 1)
                        .byte(0x04, 1)
                        .pad_to(0x1B)
                        .raw_strings(b"Ma\xffker\0\0"),
                )
                .bytes(),
            Some("Ma\u{fffd}ker"),
            true,
            1,
            false,
        ),
        (
            "structures after end-of-table are ignored",
            Table::new().end().push(good.clone()).bytes(),
            None,
            false,
            1,
            false,
        ),
    ];
    for (name, table, manufacturer, has_uuid, count, truncated) in cases {
        let s = Smbios::decode(V32, &table);
        let sys = s.system.clone().unwrap_or_default();
        assert_eq!(sys.manufacturer.as_deref(), manufacturer, "{name}: {s:?}");
        assert_eq!(sys.uuid.is_some(), has_uuid, "{name}: {s:?}");
        assert_eq!(s.structure_count, count, "{name}: {s:?}");
        assert_eq!(s.truncated, truncated, "{name}: {s:?}");
    }
}

#[test]
fn short_processor_and_memory_structures_read_as_absent_fields() {
    let cpu = Record::new(4, 1).string(0x04, "CPU0").pad_to(0x14);
    let dimm = Record::new(17, 2).word(0x0C, 0x7FFF).pad_to(0x15);
    let s = Smbios::decode(V32, &Table::new().push(cpu).push(dimm).end().bytes());
    let p = &s.processors[0];
    assert_eq!(p.socket.as_deref(), Some("CPU0"));
    assert_eq!(
        (p.current_speed_mhz, p.core_count, p.populated),
        (None, None, false)
    );
    let m = &s.memory_devices[0];
    assert_eq!(
        (m.size_raw, m.size_mb, m.speed_mts),
        (Some(0x7FFF), None, None)
    );
}

#[test]
fn core_count_ff_without_the_word_stays_ff() {
    let cpu = Record::new(4, 1)
        .byte(0x23, 0xFF)
        .byte(0x25, 0xFF)
        .pad_to(0x28);
    let s = Smbios::decode(V32, &Table::new().push(cpu).bytes());
    assert_eq!(s.processors[0].core_count, Some(0xFF));
    assert_eq!(s.processors[0].thread_count, Some(0xFF));
}

#[test]
fn parse_rejects_only_the_entry_point() {
    let f = fixtures::qemu();
    assert_eq!(parse(b"junk", &f.table), Err(Error::NoAnchor));
    assert!(parse(&f.entry_point, b"\x01").unwrap().truncated);
}

proptest! {
    #[test]
    fn never_panics_on_arbitrary_bytes(ep in proptest::collection::vec(any::<u8>(), 0..40),
                                       table in proptest::collection::vec(any::<u8>(), 0..600)) {
        let _ = parse(&ep, &table);
        let s = Smbios::decode(V32, &table);
        prop_assert!(s.structure_count <= table.len() / 4 + 1);
        for st in structures(&table) {
            for n in 0..=255u8 {
                let _ = st.string_at(n);
            }
        }
    }

    #[test]
    fn never_panics_on_mutated_fixtures(which in 0usize..6, flips in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
                                        cut in any::<usize>()) {
        let f = &fixtures::all()[which];
        let mut t = f.table.clone();
        for (i, v) in flips {
            let n = t.len();
            t[i % n] = v;
        }
        t.truncate(cut % (t.len() + 1));
        let _ = parse(&f.entry_point, &t);
    }
}
