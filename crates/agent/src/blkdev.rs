//! The few block-device ioctls the wipe needs. Each is one `ioctl(2)` on an open descriptor
//! with a plain integer or `[u64; 2]` argument; they fail with ENOTTY on regular files, which
//! callers treat as "not supported".
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;

/// `_IOR(0x12, 114, size_t)`: device size in bytes.
const BLKGETSIZE64: libc::c_ulong = 0x8008_1272;
/// `_IO(0x12, 119)`: discard a byte range.
const BLKDISCARD: libc::c_ulong = 0x1277;
/// `_IO(0x12, 127)`: zero a byte range (write-zeroes, or the kernel writes zeros).
const BLKZEROOUT: libc::c_ulong = 0x127F;

fn check(rc: libc::c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// The size in bytes of the block device `f`.
pub fn size(f: &File) -> io::Result<u64> {
    let mut bytes: u64 = 0;
    // SAFETY: BLKGETSIZE64 writes one u64 through the pointer, which points at `bytes`.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKGETSIZE64, &mut bytes as *mut u64) };
    check(rc).map(|()| bytes)
}

/// Discards `len` bytes from `start` (both multiples of the logical block size).
pub fn discard(f: &File, start: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [start, len];
    // SAFETY: BLKDISCARD reads two u64 through the pointer, which points at `range`.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKDISCARD, range.as_ptr()) };
    check(rc)
}

/// Zeroes `len` bytes from `start` (both multiples of the logical block size).
pub fn zero_out(f: &File, start: u64, len: u64) -> io::Result<()> {
    let range: [u64; 2] = [start, len];
    // SAFETY: BLKZEROOUT reads two u64 through the pointer, which points at `range`.
    let rc = unsafe { libc::ioctl(f.as_raw_fd(), BLKZEROOUT, range.as_ptr()) };
    check(rc)
}
