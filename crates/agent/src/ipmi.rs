//! One IPMI request/response through the Linux IPMI driver's character device (`/dev/ipmi0`,
//! the "open" interface): `IPMICTL_SEND_COMMAND` to the BMC's system interface, `poll`, then
//! `IPMICTL_RECEIVE_MSG_TRUNC`. The structures mirror `<linux/ipmi.h>` on 64-bit Linux.
#![allow(unsafe_code)]

use std::fs::File;
use std::io;
use std::os::fd::AsRawFd;
use std::time::Duration;

use libc::{c_int, c_long, c_short, c_uchar, c_uint, c_ulong};

/// `IPMI_SYSTEM_INTERFACE_ADDR_TYPE`.
const SYSTEM_INTERFACE_ADDR_TYPE: c_int = 0x0c;
/// `IPMI_BMC_CHANNEL`.
const BMC_CHANNEL: c_short = 0x0f;
/// `IPMI_RESPONSE_RECV_TYPE`.
const RESPONSE_RECV_TYPE: c_int = 1;
/// `IPMI_MAX_ADDR_SIZE`.
const MAX_ADDR_SIZE: usize = 32;

#[repr(C)]
struct SystemInterfaceAddr {
    addr_type: c_int,
    channel: c_short,
    lun: c_uchar,
}

#[repr(C)]
struct Addr {
    addr_type: c_int,
    channel: c_short,
    data: [u8; MAX_ADDR_SIZE],
}

#[repr(C)]
struct Msg {
    netfn: c_uchar,
    cmd: c_uchar,
    data_len: u16,
    data: *mut u8,
}

#[repr(C)]
struct Req {
    addr: *mut u8,
    addr_len: c_uint,
    msgid: c_long,
    msg: Msg,
}

#[repr(C)]
struct Recv {
    recv_type: c_int,
    addr: *mut u8,
    addr_len: c_uint,
    msgid: c_long,
    msg: Msg,
}

const fn ioc(dir: c_ulong, nr: c_ulong, size: usize) -> c_ulong {
    (dir << 30) | ((size as c_ulong) << 16) | ((b'i' as c_ulong) << 8) | nr
}

/// `_IOR('i', 13, struct ipmi_req)`.
const IPMICTL_SEND_COMMAND: c_ulong = ioc(2, 13, size_of::<Req>());
/// `_IOWR('i', 11, struct ipmi_recv)`.
const IPMICTL_RECEIVE_MSG_TRUNC: c_ulong = ioc(3, 11, size_of::<Recv>());

fn check(rc: c_int) -> io::Result<()> {
    if rc < 0 {
        Err(io::Error::last_os_error())
    } else {
        Ok(())
    }
}

/// Sends `netfn`/`cmd` with `data` to the BMC and returns the response data (completion code
/// first), waiting at most `timeout`.
pub fn command(
    dev: &File,
    netfn: u8,
    cmd: u8,
    data: &[u8],
    msgid: i64,
    timeout: Duration,
) -> io::Result<Vec<u8>> {
    let mut addr = SystemInterfaceAddr {
        addr_type: SYSTEM_INTERFACE_ADDR_TYPE,
        channel: BMC_CHANNEL,
        lun: 0,
    };
    let mut payload = data.to_vec();
    let mut req = Req {
        addr: (&mut addr as *mut SystemInterfaceAddr).cast(),
        addr_len: size_of::<SystemInterfaceAddr>() as c_uint,
        msgid: msgid as c_long,
        msg: Msg {
            netfn,
            cmd,
            data_len: u16::try_from(payload.len()).map_err(io::Error::other)?,
            data: payload.as_mut_ptr(),
        },
    };
    // SAFETY: `req` and everything it points to (`addr`, `payload`) live until the call
    // returns; the driver copies them in during the call.
    check(unsafe { libc::ioctl(dev.as_raw_fd(), IPMICTL_SEND_COMMAND, &mut req as *mut Req) })?;

    let deadline = std::time::Instant::now() + timeout;
    loop {
        let left = deadline.saturating_duration_since(std::time::Instant::now());
        if left.is_zero() {
            return Err(io::Error::new(io::ErrorKind::TimedOut, "no IPMI response"));
        }
        let ts = rustix::time::Timespec {
            tv_sec: left.as_secs() as i64,
            tv_nsec: i64::from(left.subsec_nanos()),
        };
        let mut fds = [rustix::event::PollFd::new(
            dev,
            rustix::event::PollFlags::IN,
        )];
        if rustix::event::poll(&mut fds, Some(&ts))? == 0 {
            continue;
        }
        let mut raddr = Addr {
            addr_type: 0,
            channel: 0,
            data: [0; MAX_ADDR_SIZE],
        };
        let mut buf = vec![0u8; 256];
        let mut recv = Recv {
            recv_type: 0,
            addr: (&mut raddr as *mut Addr).cast(),
            addr_len: size_of::<Addr>() as c_uint,
            msgid: 0,
            msg: Msg {
                netfn: 0,
                cmd: 0,
                data_len: buf.len() as u16,
                data: buf.as_mut_ptr(),
            },
        };
        // SAFETY: as above; the driver writes at most `addr_len` bytes to `raddr` and
        // `data_len` bytes to `buf`, both owned here and alive across the call.
        let rc = unsafe {
            libc::ioctl(
                dev.as_raw_fd(),
                IPMICTL_RECEIVE_MSG_TRUNC,
                &mut recv as *mut Recv,
            )
        };
        if rc < 0 {
            let e = io::Error::last_os_error();
            // EMSGSIZE: truncated, the data is still there.
            if e.raw_os_error() != Some(libc::EMSGSIZE) {
                return Err(e);
            }
        }
        if recv.recv_type == RESPONSE_RECV_TYPE && recv.msgid == msgid as c_long {
            buf.truncate(usize::from(recv.msg.data_len).min(256));
            return Ok(buf);
        }
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    #[cfg(target_pointer_width = "64")]
    fn layouts_match_linux_ipmi_h() {
        assert_eq!(size_of::<Msg>(), 16);
        assert_eq!(size_of::<Req>(), 40);
        assert_eq!(size_of::<Recv>(), 48);
        assert_eq!(size_of::<Addr>(), 40);
        assert_eq!(IPMICTL_SEND_COMMAND, 0x8028_690d);
        assert_eq!(IPMICTL_RECEIVE_MSG_TRUNC, 0xc030_690b);
    }
}
