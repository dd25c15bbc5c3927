//! Patching our boot script into prebuilt iPXE binaries (spec §5.2): binaries built with an
//! embedded placeholder script carry a comment block between two markers; the rendered script
//! is written over that block and the rest of the block is padded with newlines.

/// First bytes of the placeholder block.
pub const START_MARKER: &[u8] = b"# *PLACEHOLDER START*";
/// Last bytes of the placeholder block (inclusive).
pub const END_MARKER: &[u8] = b"# *PLACEHOLDER END*";

/// Why a binary could not be patched.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum PatchError {
    /// The binary has no placeholder (e.g. Debian's iPXE): serve it as it is and let DHCP hand
    /// iPXE the script URL instead.
    #[error("no embedded-script placeholder in the binary")]
    NoPlaceholder,
    /// The script is larger than the placeholder block.
    #[error("boot script is {script} bytes but the placeholder holds only {room}")]
    TooLong {
        /// Script length.
        script: usize,
        /// Placeholder length.
        room: usize,
    },
}

fn find(haystack: &[u8], needle: &[u8], from: usize) -> Option<usize> {
    haystack
        .get(from..)?
        .windows(needle.len())
        .position(|w| w == needle)
        .map(|p| p + from)
}

/// Returns a copy of `binary` with `script` written over its placeholder block.
pub fn patch(binary: &[u8], script: &str) -> Result<Vec<u8>, PatchError> {
    let start = find(binary, START_MARKER, 0).ok_or(PatchError::NoPlaceholder)?;
    let end = find(binary, END_MARKER, start).ok_or(PatchError::NoPlaceholder)? + END_MARKER.len();
    let room = end - start;
    let script = script.as_bytes();
    if script.len() > room {
        return Err(PatchError::TooLong {
            script: script.len(),
            room,
        });
    }
    let mut out = binary.to_vec();
    out[start..start + script.len()].copy_from_slice(script);
    out[start + script.len()..end].fill(b'\n');
    Ok(out)
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn fake_binary(block_lines: usize) -> Vec<u8> {
        let mut b = b"\x7fELF junk before #!ipxe\n\n".to_vec();
        b.extend_from_slice(START_MARKER);
        b.push(b'\n');
        for _ in 0..block_lines {
            b.extend_from_slice(b"# ................................................\n");
        }
        b.extend_from_slice(END_MARKER);
        b.extend_from_slice(b"\n\x00\x01 junk after");
        b
    }

    #[test]
    fn patches_in_place_and_pads_with_newlines() {
        let bin = fake_binary(20);
        let out = patch(&bin, "#!ipxe\necho hi\n").unwrap();
        assert_eq!(out.len(), bin.len());
        let start = find(&bin, START_MARKER, 0).unwrap();
        assert_eq!(&out[..start], &bin[..start], "bytes before are untouched");
        assert_eq!(&out[start..start + 15], b"#!ipxe\necho hi\n");
        let end = find(&bin, END_MARKER, 0).unwrap() + END_MARKER.len();
        assert!(out[start + 15..end].iter().all(|&b| b == b'\n'));
        assert_eq!(&out[end..], &bin[end..], "bytes after are untouched");
    }

    #[test]
    fn refuses_binaries_without_placeholder_and_long_scripts() {
        assert_eq!(patch(b"plain binary", "x"), Err(PatchError::NoPlaceholder));
        let bin = fake_binary(0);
        let long = "x".repeat(200);
        assert!(matches!(
            patch(&bin, &long),
            Err(PatchError::TooLong { script: 200, .. })
        ));
    }

    #[test]
    fn real_boot_script_fits_a_1017_byte_block() {
        // The upstream placeholder block is about 1017 bytes.
        let mut bin = START_MARKER.to_vec();
        bin.resize(1017 - END_MARKER.len(), b'#');
        bin.extend_from_slice(END_MARKER);
        let script = crate::script::boot_script("ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff", 65535);
        assert!(patch(&bin, &script).is_ok());
    }
}
