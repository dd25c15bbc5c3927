//! The boot-NIC network setup against a real DHCP server: dnsmasq in one network namespace,
//! the agent's `network::up` on a thread moved into a second one, joined by a veth pair. All
//! traffic stays inside the two namespaces this test creates (removed on drop).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::Ipv4Addr;
use std::path::PathBuf;
use std::process::{Child, Command};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use sidero_agent::network::{self, NetOptions};
use sidero_agent::nics;
use sidero_agent::retry::Retry;

const MAC: &str = "52:54:00:aa:bb:cc";

struct Lab {
    srv: String,
    cli: String,
    dir: tempfile::TempDir,
    dnsmasq: Option<Child>,
}

fn ip(args: &[&str]) -> String {
    let out = Command::new("ip").args(args).output().unwrap();
    assert!(
        out.status.success(),
        "ip {args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// Deletes namespaces of earlier runs that were killed before their cleanup ran.
fn remove_stale_namespaces() {
    for line in ip(&["netns", "list"]).lines() {
        let name = line.split_whitespace().next().unwrap_or_default();
        let pid = name
            .strip_prefix("sagent-")
            .and_then(|rest| rest.split('-').next())
            .and_then(|p| p.parse::<u32>().ok());
        if let Some(pid) = pid
            && !std::path::Path::new(&format!("/proc/{pid}")).exists()
        {
            let _ = Command::new("ip").args(["netns", "del", name]).output();
        }
    }
}

impl Lab {
    fn new() -> Lab {
        let root = std::fs::read_to_string("/proc/self/status")
            .unwrap()
            .lines()
            .any(|l| l.starts_with("Uid:") && l.split_whitespace().nth(2) == Some("0"));
        assert!(root, "this test needs root (network namespaces)");
        remove_stale_namespaces();
        static SEQ: AtomicU32 = AtomicU32::new(0);
        let id = format!(
            "{}-{}",
            std::process::id(),
            SEQ.fetch_add(1, Ordering::Relaxed)
        );
        let lab = Lab {
            srv: format!("sagent-{id}-srv"),
            cli: format!("sagent-{id}-cli"),
            dir: tempfile::tempdir().unwrap(),
            dnsmasq: None,
        };
        ip(&["netns", "add", &lab.srv]);
        ip(&["netns", "add", &lab.cli]);
        ip(&[
            "-n", &lab.srv, "link", "add", "vs", "type", "veth", "peer", "name", "eth7", "netns",
            &lab.cli,
        ]);
        ip(&["-n", &lab.cli, "link", "set", "eth7", "address", MAC]);
        ip(&["-n", &lab.srv, "addr", "add", "10.214.0.1/24", "dev", "vs"]);
        ip(&["-n", &lab.srv, "link", "set", "vs", "up"]);
        ip(&["-n", &lab.srv, "link", "set", "lo", "up"]);
        lab
    }

    fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    fn start_dnsmasq(&mut self, options: &[&str]) {
        let log = self.path("dnsmasq.log");
        let mut cmd = Command::new("ip");
        cmd.args([
            "netns",
            "exec",
            &self.srv,
            "dnsmasq",
            "--keep-in-foreground",
        ])
        .args([
            "--conf-file=/dev/null",
            "--port=0",
            "--interface=vs",
            "--bind-interfaces",
        ])
        .arg("--dhcp-range=10.214.0.100,10.214.0.150,255.255.255.0,1h")
        .arg(format!("--dhcp-host={MAC},10.214.0.77,node-77"))
        .arg(format!(
            "--dhcp-leasefile={}",
            self.path("leases").display()
        ))
        .arg(format!("--log-facility={}", log.display()))
        .arg("--log-dhcp")
        .arg(format!("--pid-file={}", self.path("pid").display()))
        .args(options);
        self.dnsmasq = Some(cmd.spawn().unwrap());
        let start = Instant::now();
        while !std::fs::read_to_string(&log)
            .unwrap_or_default()
            .contains("DHCP, IP range")
        {
            assert!(
                start.elapsed() < Duration::from_secs(10),
                "dnsmasq did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Runs `network::up` on a thread inside the client namespace; returns its result and the
    /// interfaces seen from there afterwards.
    fn agent_up(&self) -> (String, sidero_dhcpc::Lease, Vec<nics::Nic>) {
        let ns = format!("/run/netns/{}", self.cli);
        let etc = self.path("etc");
        std::fs::create_dir_all(&etc).unwrap();
        std::thread::spawn(move || {
            let f = std::fs::File::open(ns).unwrap();
            rustix::thread::move_into_link_name_space(
                std::os::fd::AsFd::as_fd(&f),
                Some(rustix::thread::LinkNameSpaceType::Network),
            )
            .unwrap();
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            rt.block_on(async {
                let opts = NetOptions {
                    link_wait: Duration::from_secs(5),
                    dhcp: Retry {
                        total: Duration::from_secs(40),
                        per_call: Duration::from_secs(15),
                        first_wait: Duration::from_secs(1),
                        max_wait: Duration::from_secs(2),
                    },
                    etc,
                    set_hostname: false,
                };
                let (name, lease) = network::up(MAC, &opts).await.unwrap();
                (name, lease, nics::list().await.unwrap())
            })
        })
        .join()
        .unwrap()
    }
}

impl Drop for Lab {
    fn drop(&mut self) {
        if let Some(mut c) = self.dnsmasq.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        for ns in [&self.srv, &self.cli] {
            let _ = Command::new("ip").args(["netns", "del", ns]).output();
        }
    }
}

#[test]
fn boot_nic_gets_address_routes_mtu_and_dns_from_dnsmasq() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter("debug")
        .try_init();
    let mut lab = Lab::new();
    lab.start_dnsmasq(&[
        "--dhcp-option=option:router,10.214.0.1",
        "--dhcp-option=option:dns-server,10.214.0.1,10.214.0.2",
        "--dhcp-option=option:mtu,1400",
    ]);
    let (name, lease, nics) = lab.agent_up();
    assert_eq!(name, "eth7");
    assert_eq!(
        (lease.address, lease.prefix),
        (Ipv4Addr::new(10, 214, 0, 77), 24)
    );
    assert_eq!(lease.hostname.as_deref(), Some("node-77"));
    assert_eq!(lease.mtu, Some(1400));
    let eth = nics.iter().find(|n| n.name == "eth7").unwrap();
    assert_eq!(eth.mac, MAC);
    assert_eq!(eth.mtu, 1400);
    assert!(nics::flags_string(eth.flags).starts_with("up|"), "{eth:?}");
    assert!(
        eth.addresses
            .contains(&("10.214.0.77".parse().unwrap(), 24)),
        "{eth:?}"
    );
    // `-d`: iproute2 hides `proto boot` otherwise (it is the default protocol).
    let routes = ip(&["-d", "-n", &lab.cli, "route", "show"]);
    assert!(
        routes.contains("default via 10.214.0.1 dev eth7 proto boot"),
        "{routes}"
    );
    let resolv = std::fs::read_to_string(lab.path("etc/resolv.conf")).unwrap();
    assert_eq!(resolv, "nameserver 10.214.0.1\nnameserver 10.214.0.2\n");
    let log = std::fs::read_to_string(lab.path("dnsmasq.log")).unwrap();
    assert!(
        log.contains("DHCPACK(vs) 10.214.0.77 52:54:00:aa:bb:cc"),
        "{log}"
    );
}

#[test]
fn classless_static_routes_replace_the_router() {
    let mut lab = Lab::new();
    lab.start_dnsmasq(&[
        "--dhcp-option=option:router,10.214.0.1",
        "--dhcp-option=121,10.99.0.0/16,10.214.0.254,0.0.0.0/0,10.214.0.2",
    ]);
    let (_, lease, _) = lab.agent_up();
    assert_eq!(lease.classless_routes.len(), 2, "{lease:?}");
    // `-d`: iproute2 hides `proto boot` otherwise (it is the default protocol).
    let routes = ip(&["-d", "-n", &lab.cli, "route", "show"]);
    assert!(
        routes.contains("default via 10.214.0.2 dev eth7 proto boot"),
        "{routes}"
    );
    assert!(
        routes.contains("10.99.0.0/16 via 10.214.0.254 dev eth7 proto boot"),
        "{routes}"
    );
    assert!(
        !routes.contains("via 10.214.0.1"),
        "option 3 is ignored: {routes}"
    );
}
