//! `sideroctl doctor`: checks, from the operator's machine, the boot path a server will take:
//! the address the manager advertises (`--api-endpoint`/`--api-port` of the Deployment, or
//! `--endpoint`) resolves to a usable address and accepts connections, `/boot.ipxe` answers
//! and chains to that same advertised address, `/ipxe` answers, and TFTP serves
//! `undionly.kpxe` (BIOS) and `ipxe.efi` (UEFI). One `PASS`/`FAIL` line per check; exit 1 if
//! any failed.

use std::net::{IpAddr, SocketAddr, UdpSocket};
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Api;

use crate::{Cli, cluster};

/// `doctor` arguments.
#[derive(Args, Debug)]
pub struct DoctorArgs {
    /// The endpoint to check (`host` or `host:port`), instead of the Deployment's flags.
    #[arg(long)]
    endpoint: Option<String>,
    /// Namespace of the manager's Deployment.
    #[arg(long, default_value = "sidero-system")]
    namespace: String,
    /// Name of the manager's Deployment.
    #[arg(long, default_value = "sidero-controller-manager")]
    deployment: String,
    /// TFTP port (upstream always serves 69).
    #[arg(long, default_value_t = 69)]
    tftp_port: u16,
    /// Timeout of each check.
    #[arg(long, default_value = "3s", value_parser = crate::duration)]
    timeout: Duration,
}

/// One check's result.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Check {
    /// What was checked.
    pub name: String,
    /// Passed?
    pub ok: bool,
    /// What was seen.
    pub detail: String,
}

impl std::fmt::Display for Check {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let mark = if self.ok { "PASS" } else { "FAIL" };
        write!(f, "{mark}  {}: {}", self.name, self.detail)
    }
}

fn check(name: &str, result: Result<String, String>) -> Check {
    match result {
        Ok(detail) => Check {
            name: name.into(),
            ok: true,
            detail,
        },
        Err(detail) => Check {
            name: name.into(),
            ok: false,
            detail,
        },
    }
}

/// The value of `--name` in a Go-style argument list (`--name=v` or `--name v`).
pub fn flag_value(args: &[String], name: &str) -> Option<String> {
    let long = format!("--{name}");
    let mut it = args.iter();
    while let Some(a) = it.next() {
        if let Some(v) = a.strip_prefix(&format!("{long}=")) {
            return Some(v.to_owned());
        }
        if *a == long {
            return it.next().cloned();
        }
    }
    None
}

/// The advertised `(host, port)` from the manager container of the Deployment: `--api-endpoint`
/// (`-` or empty falls back to a literal `API_ENDPOINT` variable), `--api-port` (default 8081).
pub fn advertised(deployment: &Deployment) -> Result<(String, u16), String> {
    let containers = deployment
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|p| p.containers.clone())
        .unwrap_or_default();
    let manager = containers
        .iter()
        .find(|c| c.name == "manager")
        .ok_or("the Deployment has no `manager` container")?;
    let mut args = manager.command.clone().unwrap_or_default();
    args.extend(manager.args.clone().unwrap_or_default());
    let port = match flag_value(&args, "api-port") {
        Some(p) => p
            .parse()
            .map_err(|_| format!("--api-port={p} is not a port"))?,
        None => 8081,
    };
    let flag = flag_value(&args, "api-endpoint").filter(|v| v != "-" && !v.is_empty());
    if let Some(host) = flag {
        return Ok((host, port));
    }
    let env = manager
        .env
        .iter()
        .flatten()
        .find(|e| e.name == "API_ENDPOINT");
    match env {
        Some(e) if e.value.as_deref().is_some_and(|v| !v.is_empty() && v != "-") => {
            Ok((e.value.clone().unwrap_or_default(), port))
        }
        Some(e) if e.value_from.is_some() => Err(
            "--api-endpoint is empty and API_ENDPOINT comes from the pod (the node's IP): pass --endpoint <that address> to check it"
                .into(),
        ),
        _ => Err("neither --api-endpoint nor API_ENDPOINT is set: the manager exits with \"no api endpoint found\"".into()),
    }
}

/// Splits `host[:port]` (IPv6 in brackets) with `default_port`.
pub fn split_endpoint(s: &str, default_port: u16) -> Result<(String, u16), String> {
    if let Ok(addr) = s.parse::<SocketAddr>() {
        return Ok((addr.ip().to_string(), addr.port()));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (host, tail) = rest
            .split_once(']')
            .ok_or_else(|| format!("bad endpoint {s:?}"))?;
        let port = match tail.strip_prefix(':') {
            Some(p) => p.parse().map_err(|_| format!("bad port in {s:?}"))?,
            None => default_port,
        };
        return Ok((host.to_owned(), port));
    }
    match s.rsplit_once(':') {
        Some((h, p)) if !h.contains(':') => Ok((
            h.to_owned(),
            p.parse().map_err(|_| format!("bad port in {s:?}"))?,
        )),
        _ => Ok((s.to_owned(), default_port)),
    }
}

/// The `http://host:port/` the embedded script chains to (`chain http://…/ipxe?…`).
pub fn chained_base(script: &str) -> Option<String> {
    let start = script.find("http://")?;
    let rest = &script[start + "http://".len()..];
    let end = rest.find('/')?;
    Some(rest[..end].to_owned())
}

async fn resolve(host: &str, port: u16) -> Result<Vec<SocketAddr>, String> {
    let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host, port))
        .await
        .map_err(|e| format!("{host} does not resolve: {e}"))?
        .collect();
    if addrs.is_empty() {
        return Err(format!("{host} has no address"));
    }
    Ok(addrs)
}

fn describe_ip(ip: IpAddr) -> Result<String, String> {
    if ip.is_unspecified() {
        return Err(format!("{ip} is not an address servers can reach"));
    }
    if ip.is_loopback() {
        return Ok(format!("{ip} (loopback: only this machine can reach it)"));
    }
    Ok(ip.to_string())
}

async fn connect(addr: SocketAddr, timeout: Duration) -> Result<String, String> {
    match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(addr)).await {
        Ok(Ok(_)) => Ok(format!("{addr} accepts connections")),
        Ok(Err(e)) => Err(format!("{addr}: {e}")),
        Err(_) => Err(format!("{addr}: no answer within {timeout:?}")),
    }
}

async fn http_get(url: &str, timeout: Duration) -> Result<(u16, String), String> {
    let client = reqwest::Client::builder()
        .timeout(timeout)
        .no_proxy()
        .build()
        .map_err(|e| e.to_string())?;
    let resp = client
        .get(url)
        .send()
        .await
        .map_err(|e| format!("GET {url}: {e}"))?;
    let status = resp.status().as_u16();
    let body = resp.text().await.map_err(|e| format!("GET {url}: {e}"))?;
    Ok((status, body))
}

/// Sends a TFTP RRQ for `file` and waits for the first DATA (or OACK) block; then aborts the
/// transfer with an ERROR so the server does not retransmit.
pub fn tftp_probe(addr: SocketAddr, file: &str, timeout: Duration) -> Result<String, String> {
    let bind: SocketAddr = if addr.is_ipv4() {
        (std::net::Ipv4Addr::UNSPECIFIED, 0).into()
    } else {
        (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
    };
    let sock = UdpSocket::bind(bind).map_err(|e| e.to_string())?;
    sock.set_read_timeout(Some(timeout))
        .map_err(|e| e.to_string())?;
    let mut rrq = vec![0, 1];
    rrq.extend_from_slice(file.as_bytes());
    rrq.push(0);
    rrq.extend_from_slice(b"octet\0");
    sock.send_to(&rrq, addr)
        .map_err(|e| format!("{addr}: {e}"))?;
    let mut buf = [0u8; 2048];
    let (n, from) = sock
        .recv_from(&mut buf)
        .map_err(|_| format!("{addr}: no answer within {timeout:?}"))?;
    let abort = sidero_tftp::packet::encode_error(
        sidero_tftp::ErrorCode::NotDefined,
        "sideroctl doctor: probe done",
    );
    let result = match sidero_tftp::Packet::parse(&buf[..n]) {
        Ok(sidero_tftp::Packet::Data { block, data }) => Ok(format!(
            "{file}: first block {block} ({} bytes) from {from}",
            data.len()
        )),
        Ok(sidero_tftp::Packet::Oack(_)) => Ok(format!("{file}: options acknowledged by {from}")),
        Ok(sidero_tftp::Packet::Error { code, message }) => Err(format!(
            "{file}: error {code:?}: {}",
            sidero_tftp::packet::message_text(message)
        )),
        Ok(other) => Err(format!("{file}: unexpected {:?} packet", other.opcode())),
        Err(e) => Err(format!("{file}: malformed reply: {e}")),
    };
    let _ = sock.send_to(&abort, from);
    result
}

/// Runs every check against `(host, port)`; the results.
pub async fn checks(host: &str, port: u16, tftp_port: u16, timeout: Duration) -> Vec<Check> {
    let mut out = Vec::new();
    let addrs = match resolve(host, port).await {
        Ok(a) => a,
        Err(e) => {
            out.push(check("advertised address", Err(e)));
            return out;
        }
    };
    let first = addrs[0];
    let usable = describe_ip(first.ip());
    let usable_ok = usable.is_ok();
    out.push(check(
        "advertised address",
        usable.map(|d| format!("{host} → {d}")),
    ));
    if !usable_ok {
        return out;
    }
    out.push(check(
        &format!("HTTP port {port}"),
        connect(first, timeout).await,
    ));
    let base = format!("http://{host}:{port}");
    let script = http_get(&format!("{base}/boot.ipxe"), timeout).await;
    out.push(check(
        "/boot.ipxe",
        match &script {
            Ok((200, body)) if body.starts_with("#!ipxe") => match chained_base(body) {
                Some(chain) if chain == format!("{host}:{port}") => Ok(format!(
                    "200, chains to http://{chain}/ipxe (the advertised address)"
                )),
                Some(chain) => Err(format!(
                    "200, but chains to http://{chain}/ipxe, not the advertised {host}:{port}"
                )),
                None => Err("200, but the script chains to no HTTP URL".into()),
            },
            Ok((status, _)) => Err(format!("HTTP {status}, want 200 with an iPXE script")),
            Err(e) => Err(e.clone()),
        },
    ));
    let ipxe = http_get(
        &format!("{base}/ipxe?uuid=00000000-0000-0000-0000-000000000000&mac=00-00-00-00-00-00&arch=x86_64"),
        timeout,
    )
    .await;
    out.push(check(
        "/ipxe",
        match ipxe {
            Ok((200, body)) if body.starts_with("#!ipxe") => {
                Ok("200, an iPXE script for an unknown server (discovery)".into())
            }
            Ok((status, _)) => Err(format!("HTTP {status}, want 200 with an iPXE script")),
            Err(e) => Err(e),
        },
    ));
    let tftp = SocketAddr::new(first.ip(), tftp_port);
    for file in ["undionly.kpxe", "ipxe.efi"] {
        let res = tokio::task::spawn_blocking(move || tftp_probe(tftp, file, timeout))
            .await
            .unwrap_or_else(|e| Err(e.to_string()));
        out.push(check(&format!("TFTP {file}"), res));
    }
    out
}

/// Runs `doctor`: prints the checks; `Err` when one failed.
pub async fn run(cli: &Cli, args: &DoctorArgs) -> anyhow::Result<()> {
    let (host, port) = match &args.endpoint {
        Some(e) => split_endpoint(e, 8081).map_err(anyhow::Error::msg)?,
        None => {
            let client = cluster::client(cli.kubeconfig.as_deref(), cli.context.as_deref()).await?;
            let dep = Api::<Deployment>::namespaced(client, &args.namespace)
                .get_opt(&args.deployment)
                .await
                .context("reading the manager's Deployment")?
                .with_context(|| {
                    format!(
                        "Deployment {}/{} not found (pass --endpoint)",
                        args.namespace, args.deployment
                    )
                })?;
            match advertised(&dep) {
                Ok(hp) => hp,
                Err(e) => {
                    println!("{}", check("advertised address", Err(e)));
                    anyhow::bail!("1 check failed");
                }
            }
        }
    };
    println!("checking {host}:{port} (TFTP port {})", args.tftp_port);
    let results = checks(&host, port, args.tftp_port, args.timeout).await;
    for c in &results {
        println!("{c}");
    }
    let failed = results.iter().filter(|c| !c.ok).count();
    if failed > 0 {
        anyhow::bail!("{failed} check(s) failed");
    }
    println!("all {} checks passed", results.len());
    Ok(())
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use serde_json::json;

    fn deployment(args: &[&str], env: serde_json::Value) -> Deployment {
        serde_json::from_value(json!({
            "metadata": {"name": "sidero-controller-manager"},
            "spec": {"selector": {}, "template": {"spec": {"containers": [
                {"name": "siderolink", "args": ["--api-endpoint=wrong"]},
                {"name": "manager", "command": ["/manager"], "args": args, "env": env}
            ]}}}
        }))
        .unwrap()
    }

    #[test]
    fn advertised_endpoint_from_the_deployment() {
        let d = deployment(&["--api-endpoint=10.0.0.5", "--api-port=9091"], json!([]));
        assert_eq!(advertised(&d).unwrap(), ("10.0.0.5".into(), 9091));
        let d = deployment(&["--api-endpoint", "sidero.lan"], json!([]));
        assert_eq!(advertised(&d).unwrap(), ("sidero.lan".into(), 8081));
        let d = deployment(
            &["--api-endpoint=-"],
            json!([{"name": "API_ENDPOINT", "valueFrom": {"fieldRef": {"fieldPath": "status.hostIP"}}}]),
        );
        assert!(advertised(&d).unwrap_err().contains("pass --endpoint"));
        let d = deployment(
            &["--api-endpoint=-"],
            json!([{"name": "API_ENDPOINT", "value": "10.1.1.1"}]),
        );
        assert_eq!(advertised(&d).unwrap().0, "10.1.1.1");
        let d = deployment(&[], json!([]));
        assert!(advertised(&d).unwrap_err().contains("no api endpoint"));
    }

    #[test]
    fn endpoints_split() {
        assert_eq!(
            split_endpoint("10.0.0.1", 8081).unwrap(),
            ("10.0.0.1".into(), 8081)
        );
        assert_eq!(
            split_endpoint("10.0.0.1:1", 8081).unwrap(),
            ("10.0.0.1".into(), 1)
        );
        assert_eq!(
            split_endpoint("[fd00::1]:2", 8081).unwrap(),
            ("fd00::1".into(), 2)
        );
        assert_eq!(
            split_endpoint("fd00::1", 8081).unwrap(),
            ("fd00::1".into(), 8081)
        );
        assert_eq!(
            split_endpoint("h.lan:3", 8081).unwrap(),
            ("h.lan".into(), 3)
        );
        assert!(split_endpoint("h.lan:x", 8081).is_err());
    }

    #[test]
    fn the_chain_url_is_found() {
        let s =
            "#!ipxe\ndhcp\nchain http://10.0.0.5:8081/ipxe?uuid=${uuid}&mac=${net0/mac:hexhyp}\n";
        assert_eq!(chained_base(s).as_deref(), Some("10.0.0.5:8081"));
        assert_eq!(chained_base("#!ipxe\nexit\n"), None);
        assert!(describe_ip("0.0.0.0".parse().unwrap()).is_err());
        assert!(
            describe_ip("127.0.0.1".parse().unwrap())
                .unwrap()
                .contains("loopback")
        );
    }
}
