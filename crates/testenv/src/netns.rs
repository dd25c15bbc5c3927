//! Network namespaces for tests. A [`Netns`] is created with `ip netns add` (loopback up) and
//! deleted when dropped, taking its interfaces with it, so nothing leaks to the host.
//!
//! [`Netns::run`] runs a closure on a new thread that entered the namespace: `setns(2)` only
//! moves the calling thread, and threads it creates inherit its namespace. Sockets, TUN
//! devices and netlink requests made there belong to the namespace for good, so an async
//! socket can be created inside and then used from any runtime thread.

use std::fs::File;
use std::process::Command;

use crate::Error;

/// A network namespace owned by the test.
#[derive(Debug)]
pub struct Netns {
    name: String,
}

fn ip(args: &[&str]) -> Result<String, Error> {
    let out = Command::new("ip")
        .args(args)
        .output()
        .map_err(|e| Error::io("running ip", e))?;
    if !out.status.success() {
        return Err(Error::Process(format!(
            "ip {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        )));
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

impl Netns {
    /// Creates namespace `name` (replacing a stale one of that name) with loopback up.
    pub fn create(name: &str) -> Result<Netns, Error> {
        let _ = ip(&["netns", "del", name]);
        ip(&["netns", "add", name])?;
        let ns = Netns {
            name: name.to_string(),
        };
        ns.ip(&["link", "set", "lo", "up"])?;
        Ok(ns)
    }

    /// The namespace name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Runs `ip ARGS` inside the namespace.
    pub fn ip(&self, args: &[&str]) -> Result<String, Error> {
        ip(&[&["-n", &self.name], args].concat())
    }

    /// A command that runs `program` inside the namespace (`ip netns exec`).
    pub fn command(&self, program: &str) -> Command {
        let mut c = Command::new("ip");
        c.args(["netns", "exec", &self.name, program]);
        c
    }

    /// Runs `f` on a thread inside the namespace and returns its result.
    pub fn run<T: Send>(&self, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
        run_in(&self.name, f)
    }

    /// Joins this namespace and `other` with a veth pair: `(name, address/len)` on each side.
    pub fn veth(
        &self,
        ours: (&str, &str),
        other: &Netns,
        theirs: (&str, &str),
    ) -> Result<(), Error> {
        self.ip(&[
            "link",
            "add",
            ours.0,
            "type",
            "veth",
            "peer",
            "name",
            theirs.0,
            "netns",
            &other.name,
        ])?;
        self.ip(&["addr", "add", ours.1, "dev", ours.0])?;
        self.ip(&["link", "set", ours.0, "up"])?;
        other.ip(&["addr", "add", theirs.1, "dev", theirs.0])?;
        other.ip(&["link", "set", theirs.0, "up"])?;
        Ok(())
    }
}

/// Runs `f` on a thread inside the namespace named `name` and returns its result.
pub fn run_in<T: Send>(name: &str, f: impl FnOnce() -> T + Send) -> Result<T, Error> {
    let path = format!("/var/run/netns/{name}");
    let file = File::open(&path).map_err(|e| Error::io(format!("opening {path}"), e))?;
    std::thread::scope(|s| {
        s.spawn(move || {
            nix::sched::setns(&file, nix::sched::CloneFlags::CLONE_NEWNET)
                .map_err(|e| Error::Process(format!("setns {path}: {e}")))?;
            Ok(f())
        })
        .join()
        .map_err(|_| Error::Process("namespace thread panicked".into()))?
    })
}

/// Opens a TCP connection from inside namespace `name` (blocking connect on a namespace
/// thread, bounded by `timeout`), ready for tokio.
pub async fn connect_in(
    name: &str,
    addr: std::net::SocketAddr,
    timeout: std::time::Duration,
) -> std::io::Result<tokio::net::TcpStream> {
    let name = name.to_string();
    let std_stream = tokio::task::spawn_blocking(move || {
        run_in(&name, || {
            std::net::TcpStream::connect_timeout(&addr, timeout)
        })
        .map_err(|e| std::io::Error::other(e.to_string()))?
    })
    .await
    .map_err(std::io::Error::other)??;
    std_stream.set_nonblocking(true)?;
    tokio::net::TcpStream::from_std(std_stream)
}

/// Binds a TCP listener inside namespace `name`, ready for tokio.
pub fn listen_in(
    name: &str,
    addr: std::net::SocketAddr,
) -> std::io::Result<tokio::net::TcpListener> {
    let l = run_in(name, || std::net::TcpListener::bind(addr))
        .map_err(|e| std::io::Error::other(e.to_string()))??;
    l.set_nonblocking(true)?;
    tokio::net::TcpListener::from_std(l)
}

impl Drop for Netns {
    fn drop(&mut self) {
        let _ = ip(&["netns", "del", &self.name]);
    }
}
