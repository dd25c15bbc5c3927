//! Writing SMBIOS tables byte by byte: test fixtures and fuzz seeds. Writers are infallible
//! and grow the formatted area as needed, so a record is exactly as long as its last field
//! unless [`Record::len`] says otherwise.

use crate::entry::Version;

/// One structure being written.
#[derive(Debug, Clone)]
pub struct Record {
    kind: u8,
    handle: u16,
    formatted: Vec<u8>,
    strings: Vec<Vec<u8>>,
    raw_strings: Option<Vec<u8>>,
    len: Option<u8>,
}

impl Record {
    /// A structure of type `kind` with handle `handle` and only its header.
    pub fn new(kind: u8, handle: u16) -> Record {
        Record {
            kind,
            handle,
            formatted: vec![0; 4],
            strings: Vec::new(),
            raw_strings: None,
            len: None,
        }
    }

    fn put(mut self, off: usize, bytes: &[u8]) -> Record {
        let end = off + bytes.len();
        if self.formatted.len() < end {
            self.formatted.resize(end, 0);
        }
        self.formatted[off..end].copy_from_slice(bytes);
        self
    }

    /// Writes a byte at `off`.
    pub fn byte(self, off: usize, v: u8) -> Record {
        self.put(off, &[v])
    }

    /// Writes a little-endian word at `off`.
    pub fn word(self, off: usize, v: u16) -> Record {
        self.put(off, &v.to_le_bytes())
    }

    /// Writes a little-endian double word at `off`.
    pub fn dword(self, off: usize, v: u32) -> Record {
        self.put(off, &v.to_le_bytes())
    }

    /// Writes raw bytes at `off`.
    pub fn bytes(self, off: usize, v: &[u8]) -> Record {
        self.put(off, v)
    }

    /// Appends `s` to the string set and stores its number at `off`; an empty `s` stores 0
    /// ("no string"), as firmware does (an empty string would end the set early).
    pub fn string(mut self, off: usize, s: &str) -> Record {
        if s.is_empty() {
            return self.byte(off, 0);
        }
        self.strings.push(s.as_bytes().to_vec());
        let n = u8::try_from(self.strings.len()).unwrap_or(u8::MAX);
        self.byte(off, n)
    }

    /// Pads the formatted area with zeros to at least `len` bytes.
    pub fn pad_to(self, len: usize) -> Record {
        let n = len.saturating_sub(self.formatted.len());
        let off = self.formatted.len();
        self.put(off, &vec![0; n])
    }

    /// Overrides the length byte (to write structures that lie about their length).
    pub fn len(mut self, len: u8) -> Record {
        self.len = Some(len);
        self
    }

    /// Replaces the string set (and its terminator) with `raw` exactly.
    pub fn raw_strings(mut self, raw: &[u8]) -> Record {
        self.raw_strings = Some(raw.to_vec());
        self
    }

    /// The structure's bytes.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut out = self.formatted.clone();
        let len = self
            .len
            .unwrap_or_else(|| u8::try_from(out.len()).unwrap_or(u8::MAX));
        out[0] = self.kind;
        out[1] = len;
        out[2..4].copy_from_slice(&self.handle.to_le_bytes());
        match &self.raw_strings {
            Some(raw) => out.extend_from_slice(raw),
            None if self.strings.is_empty() => out.extend_from_slice(&[0, 0]),
            None => {
                for s in &self.strings {
                    out.extend_from_slice(s);
                    out.push(0);
                }
                out.push(0);
            }
        }
        out
    }
}

/// A table: records one after the other.
#[derive(Debug, Clone, Default)]
pub struct Table {
    bytes: Vec<u8>,
    count: u16,
}

impl Table {
    /// An empty table.
    pub fn new() -> Table {
        Table::default()
    }

    /// Appends a record.
    pub fn push(mut self, r: Record) -> Table {
        self.bytes.extend_from_slice(&r.to_bytes());
        self.count = self.count.saturating_add(1);
        self
    }

    /// Appends raw bytes (broken structures).
    pub fn raw(mut self, b: &[u8]) -> Table {
        self.bytes.extend_from_slice(b);
        self
    }

    /// Appends the end-of-table structure (type 127).
    pub fn end(self) -> Table {
        self.push(Record::new(crate::table::END_OF_TABLE, 0xFEFF))
    }

    /// Number of records pushed.
    pub fn count(&self) -> u16 {
        self.count
    }

    /// The table's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        self.bytes.clone()
    }
}

fn fix_checksum(b: &mut [u8], range: std::ops::Range<usize>, at: usize) {
    b[at] = 0;
    let s = b[range].iter().fold(0u8, |s, x| s.wrapping_add(*x));
    b[at] = 0u8.wrapping_sub(s);
}

/// A 31-byte SMBIOS 2.x entry point (`_SM_` + `_DMI_`) with valid checksums.
pub fn entry_point_v2(version: Version, table_len: u16, count: u16) -> Vec<u8> {
    let mut b = vec![0u8; 0x1F];
    b[0..4].copy_from_slice(b"_SM_");
    b[5] = 0x1F;
    b[6] = version.major;
    b[7] = version.minor;
    b[8..10].copy_from_slice(&0x00FFu16.to_le_bytes());
    b[0x10..0x15].copy_from_slice(b"_DMI_");
    b[0x16..0x18].copy_from_slice(&table_len.to_le_bytes());
    b[0x18..0x1C].copy_from_slice(&0x000F_0000u32.to_le_bytes());
    b[0x1C..0x1E].copy_from_slice(&count.to_le_bytes());
    b[0x1E] = (version.major << 4) | (version.minor & 0x0F);
    fix_checksum(&mut b, 0x10..0x1F, 0x15);
    fix_checksum(&mut b, 0..0x1F, 4);
    b
}

/// A 24-byte SMBIOS 3.x entry point (`_SM3_`) with a valid checksum.
pub fn entry_point_v3(version: Version, table_max: u32) -> Vec<u8> {
    let mut b = vec![0u8; 0x18];
    b[0..5].copy_from_slice(b"_SM3_");
    b[6] = 0x18;
    b[7] = version.major;
    b[8] = version.minor;
    b[0xA] = 1;
    b[0xC..0x10].copy_from_slice(&table_max.to_le_bytes());
    b[0x10..0x18].copy_from_slice(&0x7_B000_0000u64.to_le_bytes());
    fix_checksum(&mut b, 0..0x18, 5);
    b
}
