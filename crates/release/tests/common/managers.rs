//! Both managers as processes on loopback with harness-made webhook certificates, and the
//! webhook wiring the API server needs to call them: every `clientConfig.service` replaced by
//! a loopback `url` with the CA in `caBundle` (never the Service form: the API server would
//! dial the Service's cluster IP, off this machine).
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used, clippy::panic)]

use std::net::{Ipv4Addr, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use base64::Engine;
use serde_json::{Value, json};
use sidero_testenv::certs::Ca;

pub fn free_port() -> u16 {
    sidero_testenv::ports::free_tcp().unwrap()
}

/// Webhook certificates as cert-manager would issue them for the two Services.
pub struct Certs {
    pub ca: Ca,
    pub dir: PathBuf,
}

impl Certs {
    pub fn new(dir: &Path) -> Certs {
        let ca = Ca::new("sidero-webhook-ca").unwrap();
        for prefix in ["sidero", "caps"] {
            let d = dir.join(prefix);
            std::fs::create_dir_all(&d).unwrap();
            let svc = format!("{prefix}-webhook-service.sidero-system.svc");
            let leaf = ca.serving(&[&svc]).unwrap();
            std::fs::write(d.join("tls.crt"), &leaf.cert).unwrap();
            std::fs::write(d.join("tls.key"), &leaf.key).unwrap();
        }
        Certs {
            ca,
            dir: dir.to_path_buf(),
        }
    }
    pub fn cert_dir(&self, prefix: &str) -> PathBuf {
        self.dir.join(prefix)
    }
    pub fn ca_bundle(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(&self.ca.cert)
    }
}

/// Webhook ports of the two managers.
#[derive(Clone, Copy, Debug)]
pub struct Ports {
    pub sidero: u16,
    pub caps: u16,
}

impl Ports {
    pub fn free() -> Ports {
        Ports {
            sidero: free_port(),
            caps: free_port(),
        }
    }
    fn for_service(&self, name: &str) -> u16 {
        match name {
            "sidero-webhook-service" => self.sidero,
            "caps-webhook-service" => self.caps,
            other => panic!("unexpected webhook service {other}"),
        }
    }
}

/// `v` with every `clientConfig.service` turned into `url: https://127.0.0.1:<port><path>`
/// (port by Service) plus `caBundle`.
pub fn to_loopback(v: &Value, ports: Ports, ca_bundle: &str) -> Value {
    fn walk(v: &mut Value, ports: Ports, ca: &str) {
        match v {
            Value::Object(m) => {
                if let Some(svc) = m
                    .get("clientConfig")
                    .and_then(|c| c.get("service"))
                    .cloned()
                {
                    let path = svc["path"].as_str().unwrap_or("/");
                    let port = ports.for_service(svc["name"].as_str().unwrap());
                    m.insert(
                        "clientConfig".into(),
                        json!({"url": format!("https://127.0.0.1:{port}{path}"), "caBundle": ca}),
                    );
                }
                for x in m.values_mut() {
                    walk(x, ports, ca);
                }
            }
            Value::Array(a) => a.iter_mut().for_each(|x| walk(x, ports, ca)),
            _ => {}
        }
    }
    let mut v = v.clone();
    walk(&mut v, ports, ca_bundle);
    assert!(
        !v.to_string().contains("\"service\":{"),
        "no Service-form webhook may reach the API server"
    );
    v
}

/// A manager process, killed (and reaped) when dropped.
pub struct Proc {
    pub name: &'static str,
    pub child: Child,
    pub log: PathBuf,
}

impl Proc {
    pub fn spawn(
        name: &'static str,
        bin: &Path,
        args: &[String],
        env: &[(&str, &str)],
        dir: &Path,
    ) -> Proc {
        let log = dir.join(format!("{name}.log"));
        let f = std::fs::File::create(&log).unwrap();
        let child = Command::new(bin)
            .args(args)
            .envs(env.iter().copied())
            .env_remove("KUBECONFIG")
            .stdout(Stdio::from(f.try_clone().unwrap()))
            .stderr(Stdio::from(f))
            .spawn()
            .unwrap();
        Proc { name, child, log }
    }
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
    /// Waits until `ok()` holds, failing with the log if the process exits or 60 s pass.
    pub fn wait_for(&mut self, what: &str, mut ok: impl FnMut() -> bool) {
        let start = Instant::now();
        while !ok() {
            let exited = self.child.try_wait().unwrap();
            assert!(
                exited.is_none(),
                "{} exited ({exited:?}) before {what}:\n{}",
                self.name,
                self.log_text()
            );
            assert!(
                start.elapsed() < Duration::from_secs(60),
                "{} not {what} within 60 s:\n{}",
                self.name,
                self.log_text()
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

pub fn listening(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

/// Plain HTTP GET on loopback; the status code.
pub fn http_status(port: u16, path: &str) -> Option<u16> {
    use std::io::{Read, Write};
    let mut s = TcpStream::connect((Ipv4Addr::LOCALHOST, port)).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    write!(s, "GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").ok()?;
    let mut head = [0u8; 12];
    s.read_exact(&mut head).ok()?;
    std::str::from_utf8(&head[9..12]).ok()?.parse().ok()
}

/// `args` with each `--name[=value]` listed in `overrides` replaced by `--name=<override>`,
/// and overrides not in `args` appended.
pub fn override_args(args: &[String], overrides: &[(&str, &str)]) -> Vec<String> {
    let name_of = |a: &str| {
        a.trim_start_matches('-')
            .split('=')
            .next()
            .unwrap_or("")
            .to_string()
    };
    let mut out: Vec<String> = Vec::new();
    let mut used = Vec::new();
    for a in args {
        let n = name_of(a);
        match overrides.iter().find(|(k, _)| *k == n) {
            Some((k, v)) => {
                out.push(format!("--{k}={v}"));
                used.push(n);
            }
            None => out.push(a.clone()),
        }
    }
    for (k, v) in overrides {
        if !used.iter().any(|u| u == k) {
            out.push(format!("--{k}={v}"));
        }
    }
    out
}

/// The two manager binaries (built on first use).
pub fn binaries() -> (PathBuf, PathBuf) {
    let cargo_bin = sidero_testenv::cargo_bin::workspace_bin;
    (
        cargo_bin("sidero-controller-manager", "sidero-controller-manager").unwrap(),
        cargo_bin("caps-controller-manager", "caps-controller-manager").unwrap(),
    )
}

/// Loopback overrides for sidero-controller-manager: listeners, folders, no DHCP proxy, no
/// WireGuard device on the host, the `default` Environment pointing at a closed port.
pub fn sidero_overrides(
    kubeconfig: &Path,
    dir: &Path,
    cert_dir: &Path,
    ports: Ports,
    http: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("kubeconfig", kubeconfig.display().to_string()),
        ("enable-leader-election", "false".into()),
        ("http-bind", "127.0.0.1".into()),
        ("http-port", http.to_string()),
        ("tftp-addr", format!("127.0.0.1:{}", free_port())),
        ("disable-dhcp-proxy", "true".into()),
        ("siderolink", "false".into()),
        ("ipxe-dir", "/usr/lib/ipxe".into()),
        ("tftp-dir", dir.join("tftp").display().to_string()),
        ("env-dir", dir.join("env").display().to_string()),
        ("talos-assets-base", "http://127.0.0.1:9/talos".into()),
        ("diagnostics-address", format!("127.0.0.1:{}", free_port())),
        ("insecure-diagnostics", "true".into()),
        ("health-addr", format!("127.0.0.1:{}", free_port())),
        ("webhook-host", "127.0.0.1".into()),
        ("webhook-port", ports.sidero.to_string()),
        ("webhook-cert-dir", cert_dir.display().to_string()),
    ]
}

/// Loopback overrides for caps-controller-manager.
pub fn caps_overrides(
    kubeconfig: &Path,
    cert_dir: &Path,
    ports: Ports,
    health: u16,
) -> Vec<(&'static str, String)> {
    vec![
        ("kubeconfig", kubeconfig.display().to_string()),
        ("enable-leader-election", "false".into()),
        ("diagnostics-address", format!("127.0.0.1:{}", free_port())),
        ("insecure-diagnostics", "true".into()),
        ("health-addr", format!("127.0.0.1:{health}")),
        ("webhook-host", "127.0.0.1".into()),
        ("webhook-port", ports.caps.to_string()),
        ("webhook-cert-dir", cert_dir.display().to_string()),
    ]
}

pub fn as_refs<'a>(v: &'a [(&'static str, String)]) -> Vec<(&'static str, &'a str)> {
    v.iter().map(|(k, s)| (*k, s.as_str())).collect()
}
