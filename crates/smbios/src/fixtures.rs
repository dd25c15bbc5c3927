//! SMBIOS tables written byte by byte, modelled on what real machines carry (field layouts,
//! string quirks and versions of QEMU, Dell, HPE, Supermicro and Lenovo firmware, and an old
//! SMBIOS 2.5 board). Values are invented; layouts are the point.

use crate::build::{Record, Table, entry_point_v2, entry_point_v3};
use crate::entry::Version;

/// A table with its entry point, as `/sys/firmware/dmi/tables/` would hold them.
#[derive(Debug, Clone)]
pub struct Fixture {
    /// Short name.
    pub name: &'static str,
    /// `smbios_entry_point`.
    pub entry_point: Vec<u8>,
    /// `DMI`.
    pub table: Vec<u8>,
}

/// BIOS information (type 0), SMBIOS 2.4+ length.
pub fn bios(vendor: &str, version: &str, date: &str) -> Record {
    Record::new(0, 0)
        .string(0x04, vendor)
        .string(0x05, version)
        .word(0x06, 0xE800)
        .string(0x08, date)
        .byte(0x09, 0xFF)
        .pad_to(0x18)
}

/// System information (type 1); empty strings are left out (number 0), as firmware does.
pub fn system(fields: [&str; 6], uuid: [u8; 16]) -> Record {
    let [manufacturer, product, version, serial, sku, family] = fields;
    let mut r = Record::new(1, 0x0100).pad_to(0x1B);
    for (off, s) in [
        (0x04, manufacturer),
        (0x05, product),
        (0x06, version),
        (0x07, serial),
        (0x19, sku),
        (0x1A, family),
    ] {
        if !s.is_empty() {
            r = r.string(off, s);
        }
    }
    r.bytes(0x08, &uuid).byte(0x18, 0x06)
}

/// Baseboard information (type 2).
pub fn baseboard(manufacturer: &str, product: &str, serial: &str) -> Record {
    Record::new(2, 0x0200)
        .string(0x04, manufacturer)
        .string(0x05, product)
        .string(0x07, serial)
        .pad_to(0x0F)
}

/// A processor socket (type 4).
#[derive(Debug, Clone, Copy, Default)]
pub struct Cpu<'a> {
    /// Socket designation.
    pub socket: &'a str,
    /// Manufacturer.
    pub manufacturer: &'a str,
    /// Version (model name).
    pub version: &'a str,
    /// Serial number ("" = none).
    pub serial: &'a str,
    /// Max speed MHz.
    pub max_mhz: u16,
    /// Current speed MHz.
    pub current_mhz: u16,
    /// Cores.
    pub cores: u16,
    /// Threads.
    pub threads: u16,
    /// Populated socket.
    pub populated: bool,
    /// Structure length: 0x28 (2.5), 0x2A (2.6) or 0x30 (3.0+).
    pub len: usize,
}

/// A processor structure from `c`: counts above 254 go to the 2-byte fields (3.0+).
pub fn processor(h: u16, c: Cpu<'_>) -> Record {
    let byte = |n: u16| u8::try_from(n).ok().filter(|b| *b != 0xFF).unwrap_or(0xFF);
    let mut r = Record::new(4, h)
        .string(0x04, c.socket)
        .byte(0x05, 3)
        .byte(0x06, 0xB3)
        .string(0x07, c.manufacturer)
        .string(0x10, c.version)
        .word(0x12, 100)
        .word(0x14, c.max_mhz)
        .word(0x16, c.current_mhz)
        .byte(0x18, if c.populated { 0x41 } else { 0x00 })
        .pad_to(0x23);
    if !c.serial.is_empty() {
        r = r.string(0x20, c.serial);
    }
    r = r
        .byte(0x23, byte(c.cores))
        .byte(0x24, byte(c.cores))
        .byte(0x25, byte(c.threads))
        .pad_to(c.len);
    if c.len >= 0x30 {
        r = r
            .word(0x2A, c.cores)
            .word(0x2C, c.cores)
            .word(0x2E, c.threads);
    }
    r
}

/// A memory device slot (type 17).
#[derive(Debug, Clone, Copy, Default)]
pub struct Dimm<'a> {
    /// Device locator.
    pub locator: &'a str,
    /// Size word (0 = empty, 0x7FFF = see `ext_mb`, bit 15 = KiB).
    pub size: u16,
    /// Extended size in MiB.
    pub ext_mb: u32,
    /// Type code.
    pub kind: u8,
    /// Speed word (0xFFFF = see `ext_speed`).
    pub speed: u16,
    /// Extended speed (3.3+).
    pub ext_speed: u32,
    /// Manufacturer.
    pub manufacturer: &'a str,
    /// Serial.
    pub serial: &'a str,
    /// Part number.
    pub part: &'a str,
    /// Structure length: 0x1C (2.6), 0x28 (2.8), 0x54 (3.2), 0x5C (3.3).
    pub len: usize,
}

/// A memory device structure from `d`; empty strings are left out.
pub fn memory(h: u16, d: Dimm<'_>) -> Record {
    let mut r = Record::new(17, h)
        .word(0x04, 0x1000)
        .word(0x06, 0xFFFE)
        .word(0x08, 72)
        .word(0x0A, 64)
        .word(0x0C, d.size)
        .byte(0x0E, 0x09)
        .string(0x10, d.locator)
        .byte(0x12, d.kind)
        .word(0x15, d.speed)
        .pad_to(d.len);
    for (off, s) in [(0x17, d.manufacturer), (0x18, d.serial), (0x1A, d.part)] {
        if !s.is_empty() {
            r = r.string(off, s);
        }
    }
    if d.len >= 0x20 {
        r = r.dword(0x1C, d.ext_mb);
    }
    if d.len >= 0x22 {
        r = r.word(0x20, d.speed);
    }
    if d.len >= 0x5C {
        r = r.dword(0x54, d.ext_speed).dword(0x58, d.ext_speed);
    }
    r
}

fn finish(name: &'static str, version: Version, t: Table) -> Fixture {
    let t = t.end();
    let table = t.bytes();
    let entry_point = if version.major >= 3 {
        entry_point_v3(version, u32::try_from(table.len()).unwrap_or(u32::MAX))
    } else {
        entry_point_v2(
            version,
            u16::try_from(table.len()).unwrap_or(u16::MAX),
            t.count(),
        )
    };
    Fixture {
        name,
        entry_point,
        table,
    }
}

/// The UUID bytes as stored (first three fields little-endian) for `00112233-4455-6677-8899-…`.
pub const QEMU_UUID: [u8; 16] = [
    0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xaa, 0xbb, 0xcc, 0xdd, 0xee, 0xff,
];

/// QEMU q35 (SMBIOS 3.0, 64-bit entry point): no serial, SKU or family; one vCPU socket;
/// one 16 GiB "RAM" DIMM with unknown speed.
pub fn qemu() -> Fixture {
    finish(
        "qemu",
        Version::new(3, 0),
        Table::new()
            .push(bios("EDK II", "edk2-stable202302", "02/06/2023"))
            .push(system(
                [
                    "QEMU",
                    "Standard PC (Q35 + ICH9, 2009)",
                    "pc-q35-7.2",
                    "",
                    "",
                    "",
                ],
                QEMU_UUID,
            ))
            .push(Record::new(3, 0x0300).string(0x04, "QEMU").pad_to(0x15))
            .push(processor(
                0x0400,
                Cpu {
                    socket: "CPU 0",
                    manufacturer: "QEMU",
                    version: "pc-q35-7.2",
                    max_mhz: 2000,
                    current_mhz: 2000,
                    cores: 4,
                    threads: 4,
                    populated: true,
                    len: 0x30,
                    ..Cpu::default()
                },
            ))
            .push(Record::new(16, 0x1000).pad_to(0x17))
            .push(memory(
                0x1100,
                Dimm {
                    locator: "DIMM 0",
                    size: 16384,
                    kind: 0x07,
                    manufacturer: "QEMU",
                    len: 0x28,
                    ..Dimm::default()
                },
            ))
            .push(Record::new(32, 0x2000).pad_to(0x0B)),
    )
}

/// Dell PowerEdge R640 (SMBIOS 3.2): two Xeon sockets, 32 GiB DIMMs (one more than the size
/// word holds, so extended size), space-padded part numbers, JEDEC manufacturer codes, and
/// empty DIMM slots.
pub fn dell_r640() -> Fixture {
    let cpu = |socket| Cpu {
        socket,
        manufacturer: "Intel",
        version: "Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz",
        max_mhz: 4000,
        current_mhz: 2100,
        cores: 16,
        threads: 32,
        populated: true,
        len: 0x30,
        ..Cpu::default()
    };
    let dimm = |locator, size: u32, serial| Dimm {
        locator,
        size: if size == 0 { 0 } else { 0x7FFF },
        ext_mb: size,
        kind: 0x1A,
        speed: if size == 0 { 0 } else { 2666 },
        manufacturer: if size == 0 { "" } else { "00AD00B300AD" },
        serial,
        part: if size == 0 {
            ""
        } else {
            "HMA84GR7CJR4N-VK    "
        },
        len: 0x54,
        ..Dimm::default()
    };
    let uuid = [
        0x44, 0x45, 0x4c, 0x4c, 0x38, 0x00, 0x10, 0x52, 0x80, 0x4b, 0xb4, 0xc0, 0x4f, 0x4e, 0x31,
        0x32,
    ];
    finish(
        "dell-r640",
        Version::new(3, 2),
        Table::new()
            .push(bios("Dell Inc.", "2.17.1", "07/12/2022"))
            .push(system(
                [
                    "Dell Inc.",
                    "PowerEdge R640",
                    "Not Specified",
                    "4NRKZ23",
                    "SKU=NotProvided;ModelName=PowerEdge R640",
                    "PowerEdge",
                ],
                uuid,
            ))
            .push(baseboard("Dell Inc.", "0W23H8", ".4NRKZ23.CNIVC0019M00X1."))
            .push(processor(0x0400, cpu("CPU1")))
            .push(processor(0x0401, cpu("CPU2")))
            .push(memory(0x1100, dimm("A1", 32768, "3A1B2C3D")))
            .push(memory(0x1101, dimm("A2", 0, "")))
            .push(memory(0x1102, dimm("B1", 32768, "3A1B2C3E")))
            .push(memory(0x1103, dimm("B2", 0, ""))),
    )
}

/// HPE ProLiant DL380 Gen10 (SMBIOS 3.1): 64 GiB DIMMs through the extended size field, and
/// an unpopulated second socket.
pub fn hpe_dl380() -> Fixture {
    let uuid = [
        0x30, 0x33, 0x38, 0x37, 0x36, 0x38, 0x5a, 0x43, 0x32, 0x30, 0x30, 0x39, 0x30, 0x31, 0x4b,
        0x4e,
    ];
    let dimm = |locator, serial| Dimm {
        locator,
        size: 0x7FFF,
        ext_mb: 65536,
        kind: 0x1A,
        speed: 2933,
        manufacturer: "HPE",
        serial,
        part: "P03052-091",
        len: 0x54,
        ..Dimm::default()
    };
    finish(
        "hpe-dl380",
        Version::new(3, 1),
        Table::new()
            .push(bios("HPE", "U30", "05/17/2023"))
            .push(system(
                [
                    "HPE",
                    "ProLiant DL380 Gen10",
                    "",
                    "CZ200901KN",
                    "868703-B21",
                    "ProLiant",
                ],
                uuid,
            ))
            .push(processor(
                0x0400,
                Cpu {
                    socket: "Proc 1",
                    manufacturer: "Intel(R) Corporation",
                    version: "Intel(R) Xeon(R) Gold 6248 CPU @ 2.50GHz",
                    max_mhz: 4000,
                    current_mhz: 2500,
                    cores: 20,
                    threads: 40,
                    populated: true,
                    len: 0x30,
                    ..Cpu::default()
                },
            ))
            .push(processor(
                0x0401,
                Cpu {
                    socket: "Proc 2",
                    manufacturer: "",
                    version: "",
                    max_mhz: 4000,
                    len: 0x30,
                    ..Cpu::default()
                },
            ))
            .push(memory(0x1100, dimm("PROC 1 DIMM 1", "SN-HPE-0001")))
            .push(memory(0x1101, dimm("PROC 1 DIMM 8", "SN-HPE-0002"))),
    )
}

/// Supermicro H13 with an AMD EPYC 9754 (SMBIOS 3.5): 128 cores / 256 threads, so the thread
/// count needs the 2-byte field; "To be filled by O.E.M." placeholders.
pub fn supermicro_h13() -> Fixture {
    let uuid = [
        0x00, 0x3c, 0x5b, 0x8e, 0x2a, 0x9d, 0xee, 0x11, 0x80, 0x00, 0x3c, 0xec, 0xef, 0x12, 0x34,
        0x56,
    ];
    finish(
        "supermicro-h13",
        Version::new(3, 5),
        Table::new()
            .push(bios(
                "American Megatrends International, LLC.",
                "1.5",
                "03/14/2024",
            ))
            .push(system(
                [
                    "Supermicro",
                    "AS -1115CS-TNR",
                    "0123456789",
                    "S123456X4123456",
                    "To be filled by O.E.M.",
                    "To be filled by O.E.M.",
                ],
                uuid,
            ))
            .push(baseboard("Supermicro", "H13SSW", "OM23AS000123"))
            .push(processor(
                0x0400,
                Cpu {
                    socket: "CPU1",
                    manufacturer: "Advanced Micro Devices, Inc.",
                    version: "AMD EPYC 9754 128-Core Processor",
                    serial: "Unknown",
                    max_mhz: 3100,
                    current_mhz: 2250,
                    cores: 128,
                    threads: 256,
                    populated: true,
                    len: 0x32,
                },
            ))
            .push(memory(
                0x1100,
                Dimm {
                    locator: "P0 CHANNEL A",
                    size: 0x7FFF,
                    ext_mb: 98304,
                    kind: 0x22,
                    speed: 4800,
                    manufacturer: "Samsung",
                    serial: "80CE01234567",
                    part: "M321R8GA0BB0-CQKZJ",
                    len: 0x5C,
                    ..Dimm::default()
                },
            )),
    )
}

/// Lenovo ThinkSystem SR650 V3 (SMBIOS 3.3): DDR5 whose speed is in the extended field.
pub fn lenovo_sr650() -> Fixture {
    let uuid = [
        0x1b, 0x9a, 0x4e, 0x7c, 0x8f, 0x3d, 0x11, 0xee, 0xa1, 0x2b, 0x7c, 0xc2, 0x55, 0x01, 0x02,
        0x03,
    ];
    finish(
        "lenovo-sr650",
        Version::new(3, 3),
        Table::new()
            .push(bios("Lenovo", "ESE118C-3.10", "11/02/2023"))
            .push(system(
                [
                    "Lenovo",
                    "ThinkSystem SR650 V3 -[7D76CTO1WW]-",
                    "06",
                    "J1009XYZ",
                    "7D76CTO1WW",
                    "ThinkSystem",
                ],
                uuid,
            ))
            .push(processor(
                0x0400,
                Cpu {
                    socket: "CPU 1",
                    manufacturer: "Intel(R) Corporation",
                    version: "Intel(R) Xeon(R) Gold 6430",
                    max_mhz: 4000,
                    current_mhz: 2100,
                    cores: 32,
                    threads: 64,
                    populated: true,
                    len: 0x30,
                    ..Cpu::default()
                },
            ))
            .push(memory(
                0x1100,
                Dimm {
                    locator: "DIMM 1",
                    size: 0x7FFF,
                    ext_mb: 32768,
                    kind: 0x22,
                    speed: 0xFFFF,
                    ext_speed: 70000,
                    manufacturer: "SK Hynix",
                    serial: "HYX00001",
                    part: "HMCG88AEBRA115N",
                    len: 0x5C,
                },
            )),
    )
}

/// An old board on SMBIOS 2.5 (`_SM_` entry point): UUID bytes taken in order, short
/// processor and memory structures, a 512 KiB DIMM in KiB granularity.
pub fn legacy_25() -> Fixture {
    finish(
        "legacy-2.5",
        Version::new(2, 5),
        Table::new()
            .push(bios("Phoenix Technologies LTD", "6.00", "12/31/2009"))
            .push(system(
                ["Acme", "Box 2000", "1.0", "ACME-001", "", ""],
                QEMU_UUID,
            ))
            .push(processor(
                0x0400,
                Cpu {
                    socket: "CPU0",
                    manufacturer: "GenuineIntel",
                    version: "Intel(R) Core(TM)2 CPU",
                    max_mhz: 2400,
                    current_mhz: 2400,
                    cores: 2,
                    threads: 2,
                    populated: true,
                    len: 0x28,
                    ..Cpu::default()
                },
            ))
            .push(memory(
                0x1100,
                Dimm {
                    locator: "DIMM0",
                    size: 1024,
                    kind: 0x13,
                    speed: 800,
                    manufacturer: "Kingston",
                    len: 0x1B,
                    ..Dimm::default()
                },
            ))
            .push(memory(
                0x1101,
                Dimm {
                    locator: "DIMM1",
                    size: 0x8000 | 512,
                    kind: 0x13,
                    speed: 800,
                    len: 0x1B,
                    ..Dimm::default()
                },
            )),
    )
}

/// Every vendor fixture.
pub fn all() -> Vec<Fixture> {
    vec![
        qemu(),
        dell_r640(),
        hpe_dl380(),
        supermicro_h13(),
        lenovo_sr650(),
        legacy_25(),
    ]
}
