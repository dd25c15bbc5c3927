//! A pure, panic-free parser of SMBIOS/DMI tables as Linux exposes them in
//! `/sys/firmware/dmi/tables/` (`smbios_entry_point` and `DMI`).
//!
//! * [`entry`]: the 2.x (`_SM_`) and 3.x (`_SM3_`) entry points, which carry the version.
//! * [`table`]: walking the structure table, bounds-checked field and string access.
//! * [`decode`]: the structures Sidero reports (BIOS, system, baseboard, processor, memory
//!   device) as plain Rust values.
//! * [`build`]: writing tables byte by byte (test fixtures, fuzz seeds).
//!
//! The bytes come from firmware, which is often wrong: every read is bounds-checked, a field
//! beyond a structure's length reads as absent, and a broken table yields the structures before
//! the break (with [`Smbios::truncated`] set) rather than an error.

pub mod build;
pub mod decode;
pub mod entry;
#[cfg(feature = "fixtures")]
pub mod fixtures;
pub mod table;

pub use decode::{Baseboard, Bios, MemoryDevice, Processor, Smbios, System};
pub use entry::{EntryPoint, Version};

/// Why an SMBIOS entry point could not be used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// Neither the `_SM_` nor the `_SM3_` anchor starts the entry point.
    #[error("the SMBIOS entry point has no _SM_ or _SM3_ anchor")]
    NoAnchor,
    /// The entry point is shorter than its format needs.
    #[error("the SMBIOS entry point is truncated: {len} bytes, {need} needed")]
    Truncated {
        /// Bytes present.
        len: usize,
        /// Bytes the format needs.
        need: usize,
    },
}

/// Parses the entry point and the structure table into the structures Sidero reports.
pub fn parse(entry_point: &[u8], table: &[u8]) -> Result<Smbios, Error> {
    let ep = EntryPoint::parse(entry_point)?;
    Ok(Smbios::decode(ep.version, table))
}
