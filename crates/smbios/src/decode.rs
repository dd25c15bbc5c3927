//! The structures Sidero reports, decoded into plain values. Offsets are those of the SMBIOS
//! specification (DSP0134); a field past a structure's length (older versions, or firmware that
//! cuts structures short) is `None`.

use crate::entry::Version;
use crate::table::{Structure, structures};

/// Structure types we decode.
mod kind {
    pub const BIOS: u8 = 0;
    pub const SYSTEM: u8 = 1;
    pub const BASEBOARD: u8 = 2;
    pub const PROCESSOR: u8 = 4;
    pub const MEMORY_DEVICE: u8 = 17;
}

/// Everything decoded from one table.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Smbios {
    /// The version from the entry point.
    pub version: Version,
    /// The first BIOS information structure (type 0).
    pub bios: Option<Bios>,
    /// The first system information structure (type 1).
    pub system: Option<System>,
    /// Baseboards (type 2).
    pub baseboards: Vec<Baseboard>,
    /// Processor sockets, populated or not (type 4).
    pub processors: Vec<Processor>,
    /// Memory device slots, filled or not (type 17).
    pub memory_devices: Vec<MemoryDevice>,
    /// Number of structures walked (all types).
    pub structure_count: usize,
    /// Whether the walk stopped at a broken structure before the end-of-table structure.
    pub truncated: bool,
}

/// BIOS information (type 0).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bios {
    /// Vendor.
    pub vendor: Option<String>,
    /// Version string.
    pub version: Option<String>,
    /// Release date (`mm/dd/yyyy` by the specification, free text in practice).
    pub release_date: Option<String>,
}

/// System information (type 1).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct System {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Product name.
    pub product_name: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// The UUID, lower-case 8-4-4-4-12, in the byte order of the table's version (see
    /// [`format_uuid`]). `None` when the structure is too short to hold one.
    pub uuid: Option<String>,
    /// SKU number (SMBIOS 2.4+).
    pub sku_number: Option<String>,
    /// Family (SMBIOS 2.4+).
    pub family: Option<String>,
}

/// Baseboard information (type 2).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Baseboard {
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Product.
    pub product: Option<String>,
    /// Version.
    pub version: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// Asset tag.
    pub asset_tag: Option<String>,
}

/// Processor information (type 4).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Processor {
    /// Socket designation (`CPU 1`, `CPU0`, …).
    pub socket: Option<String>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Version string (the model name, e.g. `Intel(R) Xeon(R) Gold 6130 CPU @ 2.10GHz`).
    pub version: Option<String>,
    /// Serial number (SMBIOS 2.3+).
    pub serial_number: Option<String>,
    /// Part number (SMBIOS 2.3+).
    pub part_number: Option<String>,
    /// External clock in MHz (0 = unknown).
    pub external_clock_mhz: Option<u16>,
    /// Maximum speed in MHz (0 = unknown).
    pub max_speed_mhz: Option<u16>,
    /// Current speed in MHz (0 = unknown).
    pub current_speed_mhz: Option<u16>,
    /// Whether the socket holds a processor (status bit 6).
    pub populated: bool,
    /// Core count, from the 2-byte field when the 1-byte one says 0xFF (SMBIOS 2.5+/3.0+).
    pub core_count: Option<u16>,
    /// Enabled cores, same rule.
    pub core_enabled: Option<u16>,
    /// Thread count, same rule.
    pub thread_count: Option<u16>,
}

/// Memory device (type 17).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct MemoryDevice {
    /// Device locator (`DIMM A1`).
    pub device_locator: Option<String>,
    /// Bank locator.
    pub bank_locator: Option<String>,
    /// Size in MiB: `None` if the slot is empty or the size is unknown. KiB-granular sizes are
    /// rounded down; 0x7FFF defers to the extended size (SMBIOS 2.7+).
    pub size_mb: Option<u32>,
    /// The raw size word (0 = empty slot, 0xFFFF = unknown).
    pub size_raw: Option<u16>,
    /// Memory type code (byte 0x12).
    pub memory_type: Option<u8>,
    /// Maximum speed in MT/s (SMBIOS 2.3+; 0xFFFF defers to the extended speed, 3.3+).
    pub speed_mts: Option<u32>,
    /// Configured speed in MT/s (SMBIOS 2.7+).
    pub configured_speed_mts: Option<u32>,
    /// Manufacturer.
    pub manufacturer: Option<String>,
    /// Serial number.
    pub serial_number: Option<String>,
    /// Asset tag.
    pub asset_tag: Option<String>,
    /// Part number.
    pub part_number: Option<String>,
}

impl MemoryDevice {
    /// The memory type's name as dmidecode prints it (`DDR4`, `RAM`, …), `Unknown` for codes
    /// the specification does not name.
    pub fn type_name(&self) -> &'static str {
        memory_type_name(self.memory_type.unwrap_or(2))
    }
}

impl Smbios {
    /// Decodes `table` as a table of SMBIOS `version`.
    pub fn decode(version: Version, table: &[u8]) -> Smbios {
        let mut out = Smbios {
            version,
            ..Smbios::default()
        };
        let mut walk = structures(table);
        for s in walk.by_ref() {
            out.structure_count += 1;
            match s.kind {
                kind::BIOS if out.bios.is_none() => out.bios = Some(bios(&s)),
                kind::SYSTEM if out.system.is_none() => out.system = Some(system(&s, version)),
                kind::BASEBOARD => out.baseboards.push(baseboard(&s)),
                kind::PROCESSOR => out.processors.push(processor(&s)),
                kind::MEMORY_DEVICE => out.memory_devices.push(memory_device(&s)),
                _ => {}
            }
        }
        out.truncated = walk.truncated();
        out
    }
}

fn bios(s: &Structure<'_>) -> Bios {
    Bios {
        vendor: s.string(0x04),
        version: s.string(0x05),
        release_date: s.string(0x08),
    }
}

fn system(s: &Structure<'_>, version: Version) -> System {
    System {
        manufacturer: s.string(0x04),
        product_name: s.string(0x05),
        version: s.string(0x06),
        serial_number: s.string(0x07),
        uuid: s.bytes::<16>(0x08).map(|b| format_uuid(b, version)),
        sku_number: s.string(0x19),
        family: s.string(0x1A),
    }
}

/// Formats a system UUID. From SMBIOS 2.6 on, the first three fields are stored
/// little-endian (as every PC firmware did anyway); before that the bytes are taken in order.
/// This is the form iPXE's `${uuid}` and the kernel's `product_uuid` print.
pub fn format_uuid(b: [u8; 16], version: Version) -> String {
    let mut b = b;
    if version >= Version::new(2, 6) {
        b[0..4].reverse();
        b[4..6].reverse();
        b[6..8].reverse();
    }
    let hex = |r: &[u8]| r.iter().map(|x| format!("{x:02x}")).collect::<String>();
    format!(
        "{}-{}-{}-{}-{}",
        hex(&b[0..4]),
        hex(&b[4..6]),
        hex(&b[6..8]),
        hex(&b[8..10]),
        hex(&b[10..16])
    )
}

fn baseboard(s: &Structure<'_>) -> Baseboard {
    Baseboard {
        manufacturer: s.string(0x04),
        product: s.string(0x05),
        version: s.string(0x06),
        serial_number: s.string(0x07),
        asset_tag: s.string(0x08),
    }
}

/// A count stored in one byte with a 2-byte extension: 0xFF in the byte means "see the word".
fn count(s: &Structure<'_>, byte: usize, word: usize) -> Option<u16> {
    match s.u8(byte)? {
        0xFF => Some(s.u16(word).unwrap_or(0xFF)),
        n => Some(u16::from(n)),
    }
}

fn processor(s: &Structure<'_>) -> Processor {
    Processor {
        socket: s.string(0x04),
        manufacturer: s.string(0x07),
        version: s.string(0x10),
        serial_number: s.string(0x20),
        part_number: s.string(0x22),
        external_clock_mhz: s.u16(0x12),
        max_speed_mhz: s.u16(0x14),
        current_speed_mhz: s.u16(0x16),
        populated: s.u8(0x18).is_some_and(|st| st & 0x40 != 0),
        core_count: count(s, 0x23, 0x2A),
        core_enabled: count(s, 0x24, 0x2C),
        thread_count: count(s, 0x25, 0x2E),
    }
}

fn memory_device(s: &Structure<'_>) -> MemoryDevice {
    let size_raw = s.u16(0x0C);
    let size_mb = match size_raw {
        None | Some(0) | Some(0xFFFF) => None,
        Some(0x7FFF) => s.u32(0x1C).map(|x| x & 0x7FFF_FFFF),
        Some(w) if w & 0x8000 != 0 => Some(u32::from(w & 0x7FFF) / 1024),
        Some(w) => Some(u32::from(w)),
    };
    let speed = |word: usize, ext: usize| match s.u16(word)? {
        0xFFFF => s.u32(ext).map(|x| x & 0x7FFF_FFFF),
        w => Some(u32::from(w)),
    };
    MemoryDevice {
        device_locator: s.string(0x10),
        bank_locator: s.string(0x11),
        size_mb,
        size_raw,
        memory_type: s.u8(0x12),
        speed_mts: speed(0x15, 0x54),
        configured_speed_mts: speed(0x20, 0x58),
        manufacturer: s.string(0x17),
        serial_number: s.string(0x18),
        asset_tag: s.string(0x19),
        part_number: s.string(0x1A),
    }
}

/// Names of memory type codes (DSP0134 table "Memory Device — Type").
pub fn memory_type_name(code: u8) -> &'static str {
    const NAMES: [&str; 0x25] = [
        "Unknown", // 0x00 is not assigned
        "Other",
        "Unknown",
        "DRAM",
        "EDRAM",
        "VRAM",
        "SRAM",
        "RAM",
        "ROM",
        "Flash",
        "EEPROM",
        "FEPROM",
        "EPROM",
        "CDRAM",
        "3DRAM",
        "SDRAM",
        "SGRAM",
        "RDRAM",
        "DDR",
        "DDR2",
        "DDR2 FB-DIMM",
        "Reserved",
        "Reserved",
        "Reserved",
        "DDR3",
        "FBD2",
        "DDR4",
        "LPDDR",
        "LPDDR2",
        "LPDDR3",
        "LPDDR4",
        "Logical non-volatile device",
        "HBM",
        "HBM2",
        "DDR5",
        "LPDDR5",
        "HBM3",
    ];
    NAMES.get(usize::from(code)).copied().unwrap_or("Unknown")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    const BYTES: [u8; 16] = [
        0x33, 0x22, 0x11, 0x00, 0x55, 0x44, 0x77, 0x66, 0x88, 0x99, 0xAA, 0xBB, 0xCC, 0xDD, 0xEE,
        0xFF,
    ];

    #[test]
    fn uuid_byte_order_follows_the_version() {
        assert_eq!(
            format_uuid(BYTES, Version::new(2, 6)),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        assert_eq!(
            format_uuid(BYTES, Version::new(3, 2)),
            "00112233-4455-6677-8899-aabbccddeeff"
        );
        assert_eq!(
            format_uuid(BYTES, Version::new(2, 5)),
            "33221100-5544-7766-8899-aabbccddeeff"
        );
    }

    #[test]
    fn memory_type_names() {
        assert_eq!(memory_type_name(0x1A), "DDR4");
        assert_eq!(memory_type_name(0x22), "DDR5");
        assert_eq!(memory_type_name(0x07), "RAM");
        assert_eq!(memory_type_name(0xF0), "Unknown");
    }
}
