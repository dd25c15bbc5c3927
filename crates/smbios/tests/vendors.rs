//! Each vendor fixture decodes to the values written into it.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use sidero_smbios::{Version, fixtures, parse};

#[test]
fn qemu() {
    let f = fixtures::qemu();
    let s = parse(&f.entry_point, &f.table).unwrap();
    assert_eq!(s.version, Version::new(3, 0));
    assert!(!s.truncated);
    assert_eq!(s.structure_count, 8);
    let sys = s.system.unwrap();
    assert_eq!(
        sys.uuid.as_deref(),
        Some("00112233-4455-6677-8899-aabbccddeeff")
    );
    assert_eq!(sys.manufacturer.as_deref(), Some("QEMU"));
    assert_eq!(
        sys.product_name.as_deref(),
        Some("Standard PC (Q35 + ICH9, 2009)")
    );
    assert_eq!(sys.version.as_deref(), Some("pc-q35-7.2"));
    assert_eq!(
        (sys.serial_number, sys.sku_number, sys.family),
        (None, None, None)
    );
    assert_eq!(s.bios.unwrap().vendor.as_deref(), Some("EDK II"));
    let [cpu] = s.processors.as_slice() else {
        panic!()
    };
    assert!(cpu.populated);
    assert_eq!((cpu.core_count, cpu.thread_count), (Some(4), Some(4)));
    assert_eq!(cpu.current_speed_mhz, Some(2000));
    let [m] = s.memory_devices.as_slice() else {
        panic!()
    };
    assert_eq!(
        (m.size_mb, m.type_name(), m.speed_mts),
        (Some(16384), "RAM", Some(0))
    );
    assert_eq!(m.manufacturer.as_deref(), Some("QEMU"));
}

#[test]
fn dell() {
    let f = fixtures::dell_r640();
    let s = parse(&f.entry_point, &f.table).unwrap();
    assert_eq!(s.version, Version::new(3, 2));
    let sys = s.system.unwrap();
    assert_eq!(
        sys.uuid.as_deref(),
        Some("4c4c4544-0038-5210-804b-b4c04f4e3132")
    );
    assert_eq!(sys.serial_number.as_deref(), Some("4NRKZ23"));
    assert_eq!(
        sys.sku_number.as_deref(),
        Some("SKU=NotProvided;ModelName=PowerEdge R640")
    );
    assert_eq!(sys.family.as_deref(), Some("PowerEdge"));
    assert_eq!(s.baseboards[0].product.as_deref(), Some("0W23H8"));
    assert_eq!(s.processors.len(), 2);
    for p in &s.processors {
        assert_eq!(
            p.version.as_deref(),
            Some("Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz")
        );
        assert_eq!((p.core_count, p.thread_count), (Some(16), Some(32)));
        assert_eq!(
            (p.max_speed_mhz, p.current_speed_mhz),
            (Some(4000), Some(2100))
        );
    }
    let sizes: Vec<_> = s.memory_devices.iter().map(|m| m.size_mb).collect();
    assert_eq!(sizes, [Some(32768), None, Some(32768), None]);
    let m = &s.memory_devices[0];
    assert_eq!(
        m.part_number.as_deref(),
        Some("HMA84GR7CJR4N-VK"),
        "padding trimmed"
    );
    assert_eq!((m.type_name(), m.speed_mts), ("DDR4", Some(2666)));
    assert_eq!(s.memory_devices[1].size_raw, Some(0));
    assert_eq!(s.memory_devices[1].manufacturer, None);
}

#[test]
fn hpe_extended_size_and_empty_socket() {
    let f = fixtures::hpe_dl380();
    let s = parse(&f.entry_point, &f.table).unwrap();
    let sys = s.system.unwrap();
    assert_eq!(sys.product_name.as_deref(), Some("ProLiant DL380 Gen10"));
    assert_eq!(sys.version, None);
    assert_eq!(
        sys.uuid.as_deref(),
        Some("37383330-3836-435a-3230-303930314b4e")
    );
    assert_eq!(s.processors.len(), 2);
    assert!(s.processors[0].populated);
    assert!(!s.processors[1].populated);
    assert_eq!(s.processors[1].manufacturer, None);
    assert!(s.memory_devices.iter().all(|m| m.size_mb == Some(65536)));
    assert_eq!(s.memory_devices[0].size_raw, Some(0x7FFF));
}

#[test]
fn supermicro_extended_thread_count() {
    let f = fixtures::supermicro_h13();
    let s = parse(&f.entry_point, &f.table).unwrap();
    assert_eq!(s.version, Version::new(3, 5));
    let p = &s.processors[0];
    assert_eq!((p.core_count, p.thread_count), (Some(128), Some(256)));
    assert_eq!(p.serial_number.as_deref(), Some("Unknown"));
    let m = &s.memory_devices[0];
    assert_eq!(
        (m.size_mb, m.type_name(), m.speed_mts),
        (Some(98304), "DDR5", Some(4800))
    );
    assert_eq!(
        s.system.unwrap().sku_number.as_deref(),
        Some("To be filled by O.E.M.")
    );
}

#[test]
fn lenovo_extended_speed() {
    let f = fixtures::lenovo_sr650();
    let s = parse(&f.entry_point, &f.table).unwrap();
    let m = &s.memory_devices[0];
    assert_eq!(
        (m.speed_mts, m.configured_speed_mts),
        (Some(70000), Some(70000))
    );
    assert_eq!(s.system.unwrap().sku_number.as_deref(), Some("7D76CTO1WW"));
}

#[test]
fn legacy_uuid_order_and_short_structures() {
    let f = fixtures::legacy_25();
    let s = parse(&f.entry_point, &f.table).unwrap();
    assert_eq!(s.version, Version::new(2, 5));
    assert_eq!(
        s.system.unwrap().uuid.as_deref(),
        Some("33221100-5544-7766-8899-aabbccddeeff")
    );
    let p = &s.processors[0];
    assert_eq!((p.core_count, p.thread_count), (Some(2), Some(2)));
    let sizes: Vec<_> = s.memory_devices.iter().map(|m| m.size_mb).collect();
    assert_eq!(sizes, [Some(1024), Some(0)], "512 KiB rounds down to 0 MiB");
    assert_eq!(
        s.memory_devices[0].configured_speed_mts, None,
        "2.6 has none"
    );
}

#[test]
fn every_fixture_has_a_valid_entry_point() {
    for f in fixtures::all() {
        let ep = sidero_smbios::EntryPoint::parse(&f.entry_point).unwrap();
        assert!(ep.checksum_ok, "{}", f.name);
        let s = parse(&f.entry_point, &f.table).unwrap();
        assert!(!s.truncated, "{}", f.name);
        assert!(s.system.is_some(), "{}", f.name);
    }
}
