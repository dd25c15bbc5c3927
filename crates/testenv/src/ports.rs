//! Free loopback ports for peers and managers started by tests and the lab. A port is free
//! when asked; another process may take it before it is bound (starters retry or fail with
//! the peer's own error).

use std::net::{Ipv4Addr, TcpListener, UdpSocket};

use crate::Error;

/// A free TCP port on 127.0.0.1.
pub fn free_tcp() -> Result<u16, Error> {
    let l = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding a free TCP port", e))?;
    l.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("reading a free TCP port", e))
}

/// A free UDP port on 127.0.0.1.
pub fn free_udp() -> Result<u16, Error> {
    let s = UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .map_err(|e| Error::io("binding a free UDP port", e))?;
    s.local_addr()
        .map(|a| a.port())
        .map_err(|e| Error::io("reading a free UDP port", e))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    #[test]
    fn ports_are_nonzero_and_bindable() {
        let (t, u) = (super::free_tcp().unwrap(), super::free_udp().unwrap());
        assert!(t > 0 && u > 0);
        std::net::TcpListener::bind(("127.0.0.1", t)).unwrap();
        std::net::UdpSocket::bind(("127.0.0.1", u)).unwrap();
    }
}
