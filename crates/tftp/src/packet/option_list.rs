//! Borrowed RFC 2347 option lists.

use super::{PacketError, split_cstr};

/// A validated, borrowed sequence of `name\0value\0` option pairs (RFC 2347).
///
/// Constructed only by the parser, so iteration cannot fail. Pairs with an empty name (NUL
/// padding some clients append) are skipped by [`OptionList::iter`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct OptionList<'a> {
    raw: &'a [u8],
}

impl<'a> OptionList<'a> {
    /// Parses option pairs, keeping the longest prefix of complete UTF-8 pairs.
    pub(super) fn parse_lenient(mut rest: &'a [u8]) -> Result<Self, PacketError> {
        let start = rest;
        let mut used = 0usize;
        while let Some((name, after_name)) = split_cstr(rest) {
            let Some((value, after_value)) = split_cstr(after_name) else {
                break;
            };
            std::str::from_utf8(name).map_err(|_| PacketError::NotUtf8)?;
            std::str::from_utf8(value).map_err(|_| PacketError::NotUtf8)?;
            used += name.len() + value.len() + 2;
            rest = after_value;
        }
        Ok(OptionList {
            raw: start.get(..used).unwrap_or_default(),
        })
    }

    /// Iterates over `(name, value)` pairs in wire order.
    pub fn iter(&self) -> OptionIter<'a> {
        OptionIter { rest: self.raw }
    }

    /// True when no (non-empty-named) option is present.
    pub fn is_empty(&self) -> bool {
        self.iter().next().is_none()
    }

    /// The raw wire bytes of the pairs.
    pub fn as_bytes(&self) -> &'a [u8] {
        self.raw
    }
}

/// Iterator over the pairs of an [`OptionList`].
#[derive(Debug, Clone)]
pub struct OptionIter<'a> {
    rest: &'a [u8],
}

impl<'a> Iterator for OptionIter<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        loop {
            let (name, after_name) = split_cstr(self.rest)?;
            let (value, after_value) = split_cstr(after_name)?;
            self.rest = after_value;
            // Validated by the parser; a failure here would only skip the pair.
            let (Ok(name), Ok(value)) = (std::str::from_utf8(name), std::str::from_utf8(value))
            else {
                continue;
            };
            if !name.is_empty() {
                return Some((name, value));
            }
        }
    }
}
