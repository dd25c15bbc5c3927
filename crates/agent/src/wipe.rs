//! Wiping one disk (spec §7.2 step 8). The device path is a parameter, so tests wipe image
//! files; on a block device the kernel is asked to discard or zero ranges first, and zeros are
//! written where it cannot.
//!
//! * fast (`insecure_wipe`): discard the whole device where supported, then zero the first and
//!   the last MiB (partition tables, GPT backup, RAID/LVM superblocks live there);
//! * full: zero every byte, logging progress every tenth.

use std::fs::{File, OpenOptions};
use std::io::{Seek, SeekFrom, Write};
use std::os::unix::fs::FileTypeExt;
use std::path::Path;

use crate::blkdev;

/// One MiB, the fast wipe's span at each end.
pub const MIB: u64 = 1 << 20;
/// Bytes per write (and per BLKZEROOUT call) during a full wipe.
const CHUNK: u64 = 4 * MIB;

/// How thoroughly to wipe.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WipeMode {
    /// Discard, then zero the first and last MiB.
    Fast,
    /// Zero the whole device.
    Full,
}

/// Why a wipe failed.
#[derive(Debug, thiserror::Error)]
pub enum WipeError {
    /// The device could not be opened for writing.
    #[error("opening {path}: {source}")]
    Open {
        /// Device path.
        path: String,
        /// Cause.
        source: std::io::Error,
    },
    /// Writing or flushing failed.
    #[error("writing {path} at byte {offset}: {source}")]
    Write {
        /// Device path.
        path: String,
        /// Where.
        offset: u64,
        /// Cause.
        source: std::io::Error,
    },
}

/// What a wipe did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WipeReport {
    /// Device size in bytes.
    pub size: u64,
    /// Bytes zeroed (by the kernel or by writes).
    pub zeroed: u64,
    /// Whether the kernel accepted a whole-device discard.
    pub discarded: bool,
}

/// Wipes the device or image at `path`. `label` names it in log lines (`/dev/sda`).
pub fn wipe(path: &Path, label: &str, mode: WipeMode) -> Result<WipeReport, WipeError> {
    let p = || path.display().to_string();
    let file = OpenOptions::new()
        .write(true)
        .open(path)
        .map_err(|source| WipeError::Open { path: p(), source })?;
    let is_block = file
        .metadata()
        .map(|m| m.file_type().is_block_device())
        .unwrap_or(false);
    let size = if is_block {
        blkdev::size(&file).unwrap_or(0)
    } else {
        file.metadata().map(|m| m.len()).unwrap_or(0)
    };
    let mut w = Writer {
        file,
        path: p(),
        is_block,
        zeroed: 0,
    };
    let mut discarded = false;
    match mode {
        WipeMode::Fast => {
            if is_block && size > 0 {
                discarded = blkdev::discard(&w.file, 0, size).is_ok();
                tracing::info!(
                    "{label}: discard of the whole device {}",
                    if discarded { "done" } else { "not supported" }
                );
            }
            let head = size.min(MIB);
            w.zero(0, head)?;
            let tail_start = size.saturating_sub(MIB).max(head);
            w.zero(tail_start, size - tail_start)?;
            tracing::info!("{label}: fast wipe zeroed the first and last MiB");
        }
        WipeMode::Full => {
            let mut next_report = size / 10;
            let mut off = 0;
            while off < size {
                let n = CHUNK.min(size - off);
                w.zero(off, n)?;
                off += n;
                if off >= next_report && size > 0 {
                    tracing::info!(
                        "{label}: wiped {} of {} MiB ({}%)",
                        off / MIB,
                        size / MIB,
                        off.saturating_mul(100) / size
                    );
                    next_report = next_report.saturating_add((size / 10).max(1));
                }
            }
        }
    }
    w.file.sync_all().map_err(|source| WipeError::Write {
        path: w.path.clone(),
        offset: size,
        source,
    })?;
    Ok(WipeReport {
        size,
        zeroed: w.zeroed,
        discarded,
    })
}

struct Writer {
    file: File,
    path: String,
    is_block: bool,
    zeroed: u64,
}

impl Writer {
    /// Zeroes `len` bytes at `off`: BLKZEROOUT on a block device, else (or if it fails)
    /// written zeros.
    fn zero(&mut self, off: u64, len: u64) -> Result<(), WipeError> {
        if len == 0 {
            return Ok(());
        }
        if self.is_block && blkdev::zero_out(&self.file, off, len).is_ok() {
            self.zeroed += len;
            return Ok(());
        }
        let err = |source| WipeError::Write {
            path: self.path.clone(),
            offset: off,
            source,
        };
        self.file.seek(SeekFrom::Start(off)).map_err(err)?;
        let zeros = vec![0u8; usize::try_from(len.min(CHUNK)).unwrap_or(1 << 20)];
        let mut left = len;
        while left > 0 {
            let n = usize::try_from(left.min(zeros.len() as u64)).unwrap_or(zeros.len());
            self.file
                .write_all(zeros.get(..n).unwrap_or(&zeros))
                .map_err(|source| WipeError::Write {
                    path: self.path.clone(),
                    offset: off + (len - left),
                    source,
                })?;
            left -= n as u64;
        }
        self.zeroed += len;
        Ok(())
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    /// An image of `size` bytes filled with 0xA5, with a marker at the start and at the end.
    fn image(size: usize) -> tempfile::NamedTempFile {
        let mut f = tempfile::NamedTempFile::new().unwrap();
        let mut data = vec![0xA5u8; size];
        data[..8].copy_from_slice(b"EFI PART");
        let n = data.len();
        data[n - 8..].copy_from_slice(b"GPTBACK!");
        f.write_all(&data).unwrap();
        f.flush().unwrap();
        f
    }

    #[test]
    fn fast_wipe_clears_both_ends_and_keeps_the_middle() {
        let size = 5 * MIB as usize + 1234;
        let f = image(size);
        let r = wipe(f.path(), "img", WipeMode::Fast).unwrap();
        assert_eq!(
            (r.size, r.zeroed, r.discarded),
            (size as u64, 2 * MIB, false)
        );
        let data = std::fs::read(f.path()).unwrap();
        assert_eq!(data.len(), size, "size unchanged");
        let m = MIB as usize;
        assert!(data[..m].iter().all(|b| *b == 0));
        assert!(data[size - m..].iter().all(|b| *b == 0));
        assert!(
            data[m..size - m].iter().all(|b| *b == 0xA5),
            "middle untouched"
        );
    }

    #[test]
    fn fast_wipe_of_a_small_image_zeroes_it_once() {
        let f = image(1500);
        let r = wipe(f.path(), "small", WipeMode::Fast).unwrap();
        assert_eq!(r.zeroed, 1500);
        assert!(std::fs::read(f.path()).unwrap().iter().all(|b| *b == 0));
    }

    #[test]
    fn full_wipe_zeroes_everything() {
        let size = 9 * MIB as usize + 77;
        let f = image(size);
        let r = wipe(f.path(), "img", WipeMode::Full).unwrap();
        assert_eq!(r.zeroed, size as u64);
        let data = std::fs::read(f.path()).unwrap();
        assert_eq!(data.len(), size);
        assert!(data.iter().all(|b| *b == 0));
    }

    #[test]
    fn empty_image_and_missing_device() {
        let f = image(16);
        std::fs::write(f.path(), b"").unwrap();
        assert_eq!(wipe(f.path(), "e", WipeMode::Full).unwrap().zeroed, 0);
        let err = wipe(Path::new("/nonexistent/disk"), "x", WipeMode::Fast).unwrap_err();
        assert!(
            err.to_string().starts_with("opening /nonexistent/disk"),
            "{err}"
        );
    }
}
