//! Wiping real block devices: loop devices over image files, so the block-device ioctls
//! (BLKGETSIZE64, BLKDISCARD, BLKZEROOUT) run against the kernel. Each test detaches its loop
//! device on drop.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::io::Write;
use std::path::PathBuf;
use std::process::Command;

use sidero_agent::wipe::{MIB, WipeMode, wipe};

const SIZE: usize = 16 * MIB as usize;

struct Loop {
    dev: PathBuf,
    /// Kept so the image outlives the loop device.
    _img: tempfile::NamedTempFile,
}

impl Loop {
    fn new() -> Loop {
        let mut img = tempfile::NamedTempFile::new().unwrap();
        img.write_all(&vec![0xC3u8; SIZE]).unwrap();
        img.flush().unwrap();
        let out = Command::new("losetup")
            .args(["--find", "--show"])
            .arg(img.path())
            .output()
            .expect("losetup (util-linux)");
        assert!(
            out.status.success(),
            "losetup (needs root and /dev/loop-control): {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let dev = PathBuf::from(String::from_utf8(out.stdout).unwrap().trim());
        Loop { dev, _img: img }
    }

    /// The image's bytes as the device shows them (read through the device, so the page cache
    /// of the image file cannot hide what the device did).
    fn contents(&self) -> Vec<u8> {
        std::fs::read(&self.dev).unwrap()
    }
}

impl Drop for Loop {
    fn drop(&mut self) {
        let _ = Command::new("losetup").arg("-d").arg(&self.dev).output();
    }
}

#[test]
fn fast_wipe_discards_and_zeroes_the_ends_of_a_block_device() {
    let l = Loop::new();
    let r = wipe(&l.dev, "loop", WipeMode::Fast).unwrap();
    assert_eq!(r.size, SIZE as u64, "BLKGETSIZE64");
    assert!(r.discarded, "loop devices support BLKDISCARD");
    assert_eq!(r.zeroed, 2 * MIB);
    let data = l.contents();
    let m = MIB as usize;
    assert!(data[..m].iter().all(|b| *b == 0));
    assert!(data[SIZE - m..].iter().all(|b| *b == 0));
}

#[test]
fn full_wipe_zeroes_a_block_device() {
    let l = Loop::new();
    let r = wipe(&l.dev, "loop", WipeMode::Full).unwrap();
    assert_eq!(
        (r.size, r.zeroed, r.discarded),
        (SIZE as u64, SIZE as u64, false)
    );
    assert!(l.contents().iter().all(|b| *b == 0));
}
