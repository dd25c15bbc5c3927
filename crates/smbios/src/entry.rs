//! SMBIOS entry points: the 32-bit `_SM_` structure (SMBIOS 2.x) and the 64-bit `_SM3_`
//! structure (SMBIOS 3.x). Linux hands us the table separately, so only the version and the
//! declared table size matter; checksums are reported, not enforced, because firmware with a
//! wrong checksum still has a usable table.

use crate::Error;

/// An SMBIOS version (`major.minor`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Default)]
pub struct Version {
    /// Major version (2 or 3 in practice).
    pub major: u8,
    /// Minor version.
    pub minor: u8,
}

impl Version {
    /// A version from its parts.
    pub const fn new(major: u8, minor: u8) -> Version {
        Version { major, minor }
    }
}

impl std::fmt::Display for Version {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}.{}", self.major, self.minor)
    }
}

/// What an entry point says about the table.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryPoint {
    /// The SMBIOS version the table follows.
    pub version: Version,
    /// Table length (2.x) or maximum table size (3.x) in bytes.
    pub table_len: u32,
    /// Physical address of the table (informational).
    pub table_address: u64,
    /// Number of structures (2.x only; 3.x does not say).
    pub structure_count: Option<u16>,
    /// Whether the entry point's checksum(s) add up to zero.
    pub checksum_ok: bool,
}

const SM2_ANCHOR: &[u8] = b"_SM_";
const SM3_ANCHOR: &[u8] = b"_SM3_";
/// Fixed size of the 2.x entry point up to and including the table fields.
const SM2_MIN: usize = 0x1F;
/// Fixed size of the 3.x entry point.
const SM3_MIN: usize = 0x18;

impl EntryPoint {
    /// Parses a 2.x or 3.x entry point.
    pub fn parse(b: &[u8]) -> Result<EntryPoint, Error> {
        if b.starts_with(SM3_ANCHOR) {
            Self::parse_v3(b)
        } else if b.starts_with(SM2_ANCHOR) {
            Self::parse_v2(b)
        } else {
            Err(Error::NoAnchor)
        }
    }

    fn parse_v2(b: &[u8]) -> Result<EntryPoint, Error> {
        let need = SM2_MIN;
        let f = Fields(b);
        let (Some(len), Some(major), Some(minor), Some(table_len), Some(addr), Some(count)) = (
            f.u8(0x05),
            f.u8(0x06),
            f.u8(0x07),
            f.u16(0x16),
            f.u32(0x18),
            f.u16(0x1C),
        ) else {
            return Err(Error::Truncated { len: b.len(), need });
        };
        let declared = usize::from(len).clamp(0x10, b.len());
        let checksum_ok = sum(b.get(..declared)) == 0 && sum(b.get(0x10..SM2_MIN)) == 0;
        Ok(EntryPoint {
            version: Version::new(major, minor),
            table_len: u32::from(table_len),
            table_address: u64::from(addr),
            structure_count: Some(count),
            checksum_ok,
        })
    }

    fn parse_v3(b: &[u8]) -> Result<EntryPoint, Error> {
        let need = SM3_MIN;
        let f = Fields(b);
        let (Some(len), Some(major), Some(minor), Some(table_len), Some(addr)) =
            (f.u8(0x06), f.u8(0x07), f.u8(0x08), f.u32(0x0C), f.u64(0x10))
        else {
            return Err(Error::Truncated { len: b.len(), need });
        };
        let declared = usize::from(len).clamp(SM3_MIN, b.len());
        Ok(EntryPoint {
            version: Version::new(major, minor),
            table_len,
            table_address: addr,
            structure_count: None,
            checksum_ok: sum(b.get(..declared)) == 0,
        })
    }
}

fn sum(b: Option<&[u8]>) -> u8 {
    b.unwrap_or_default()
        .iter()
        .fold(0u8, |s, x| s.wrapping_add(*x))
}

/// Bounds-checked little-endian reads at fixed offsets.
pub(crate) struct Fields<'a>(pub(crate) &'a [u8]);

impl Fields<'_> {
    pub(crate) fn u8(&self, off: usize) -> Option<u8> {
        self.0.get(off).copied()
    }

    pub(crate) fn bytes<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        self.0.get(off..off.checked_add(N)?)?.try_into().ok()
    }

    pub(crate) fn u16(&self, off: usize) -> Option<u16> {
        self.bytes(off).map(u16::from_le_bytes)
    }

    pub(crate) fn u32(&self, off: usize) -> Option<u32> {
        self.bytes(off).map(u32::from_le_bytes)
    }

    pub(crate) fn u64(&self, off: usize) -> Option<u64> {
        self.bytes(off).map(u64::from_le_bytes)
    }
}
