//! Walking the structure table: each structure is a 4-byte header (type, length, handle), the
//! rest of its formatted area, and a string set ended by two NUL bytes.

use crate::entry::Fields;

/// Type of the end-of-table structure.
pub const END_OF_TABLE: u8 = 127;

/// One structure of the table, borrowed from it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Structure<'a> {
    /// Structure type (0 BIOS, 1 system, …).
    pub kind: u8,
    /// Structure handle.
    pub handle: u16,
    /// The formatted area, header included (so offsets match the specification's tables).
    pub formatted: &'a [u8],
    /// The string set without its final terminator: NUL-separated strings.
    pub strings: &'a [u8],
}

impl<'a> Structure<'a> {
    /// The byte at `off` of the formatted area, if the structure is that long.
    pub fn u8(&self, off: usize) -> Option<u8> {
        Fields(self.formatted).u8(off)
    }

    /// The little-endian word at `off`, if the structure is that long.
    pub fn u16(&self, off: usize) -> Option<u16> {
        Fields(self.formatted).u16(off)
    }

    /// The little-endian double word at `off`, if the structure is that long.
    pub fn u32(&self, off: usize) -> Option<u32> {
        Fields(self.formatted).u32(off)
    }

    /// `N` raw bytes at `off`, if the structure is that long.
    pub fn bytes<const N: usize>(&self, off: usize) -> Option<[u8; N]> {
        Fields(self.formatted).bytes(off)
    }

    /// String number `n` (1-based; 0 means "none"), trimmed of surrounding whitespace. Missing
    /// strings (a number past the set, or a field past the structure) read as `None`.
    pub fn string_at(&self, n: u8) -> Option<String> {
        let index = usize::from(n).checked_sub(1)?;
        let raw = self.strings.split(|b| *b == 0).nth(index)?;
        // An empty piece means the set ended early (two NULs); firmware does not store empty
        // strings, it uses number 0.
        if raw.is_empty() {
            return None;
        }
        Some(String::from_utf8_lossy(raw).trim().to_string())
    }

    /// The string whose number is stored at offset `off`.
    pub fn string(&self, off: usize) -> Option<String> {
        self.string_at(self.u8(off)?)
    }
}

/// Iterates over the structures of `table`, stopping at the end-of-table structure, at the end
/// of the bytes, or at the first structure that does not fit (see [`Structures::truncated`]).
#[derive(Debug, Clone)]
pub struct Structures<'a> {
    rest: &'a [u8],
    done: bool,
    truncated: bool,
}

/// The structures of a table.
pub fn structures(table: &[u8]) -> Structures<'_> {
    Structures {
        rest: table,
        done: false,
        truncated: false,
    }
}

impl Structures<'_> {
    /// Whether the walk stopped at a broken structure (header or formatted area cut short, a
    /// length below the 4-byte header, or a string set without its terminator).
    pub fn truncated(&self) -> bool {
        self.truncated
    }

    fn stop(&mut self, truncated: bool) {
        self.done = true;
        self.truncated = truncated;
    }
}

impl<'a> Iterator for Structures<'a> {
    type Item = Structure<'a>;

    fn next(&mut self) -> Option<Structure<'a>> {
        if self.done {
            return None;
        }
        let b = self.rest;
        if b.is_empty() {
            self.stop(false);
            return None;
        }
        let f = Fields(b);
        let (Some(kind), Some(len), Some(handle)) = (f.u8(0), f.u8(1), f.u16(2)) else {
            self.stop(true);
            return None;
        };
        let len = usize::from(len);
        let Some(formatted) = b.get(..len).filter(|_| len >= 4) else {
            self.stop(true);
            return None;
        };
        let after = b.get(len..).unwrap_or_default();
        let (strings, rest, complete) = split_strings(after);
        self.rest = rest;
        if kind == END_OF_TABLE || !complete {
            self.stop(!complete);
        }
        Some(Structure {
            kind,
            handle,
            formatted,
            strings,
        })
    }
}

/// Splits a string set from what follows it: `(strings, rest, terminated)`. A set is ended by
/// two NULs; an empty set is just those two NULs. Without the terminator everything left is
/// taken as strings.
fn split_strings(b: &[u8]) -> (&[u8], &[u8], bool) {
    let end = b.windows(2).position(|w| w == [0, 0]);
    match end {
        Some(i) => (
            b.get(..i).unwrap_or_default(),
            b.get(i + 2..).unwrap_or_default(),
            true,
        ),
        None => (b, &[], false),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn string_set_split() {
        assert_eq!(split_strings(&[0, 0, 9]), (&[][..], &[9u8][..], true));
        assert_eq!(
            split_strings(b"ab\0cd\0\0x"),
            (&b"ab\0cd"[..], &b"x"[..], true)
        );
        assert_eq!(split_strings(b"ab\0cd"), (&b"ab\0cd"[..], &[][..], false));
        assert_eq!(split_strings(b""), (&[][..], &[][..], false));
    }

    #[test]
    fn strings_by_number() {
        let s = Structure {
            kind: 1,
            handle: 0,
            formatted: &[1, 6, 0, 0, 2, 9],
            strings: b" Dell Inc. \0PowerEdge",
        };
        assert_eq!(s.string_at(1).as_deref(), Some("Dell Inc."));
        assert_eq!(s.string(4).as_deref(), Some("PowerEdge"));
        assert_eq!(s.string_at(0), None);
        assert_eq!(s.string(5), None, "string 9 does not exist");
        assert_eq!(s.string(6), None, "offset past the structure");
    }
}
