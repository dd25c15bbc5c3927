//! Fixtures shared by the integration tests: the boot state with loopback endpoints, an HTTP
//! listener on a free loopback port, and `curl`.
#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::process::Command;
use std::sync::Arc;

use kube::Client;
use sidero_controller_manager::http::{BootState, Dirs, router, serve};
use sidero_netboot::args::Endpoints;
use sidero_netboot::boot::BootConfig;
use sidero_netboot::cmdline::Cmdline;

/// The SideroLink server address the fixtures advertise.
pub const SIDEROLINK_ADDRESS: &str = "fdae:2859:5bb1:7a03::1";

/// Boot state advertising 127.0.0.1:8081, with `extra_args` as `--extra-agent-kernel-args`.
pub fn boot_state(client: Client, extra_args: &str) -> Arc<BootState> {
    Arc::new(BootState {
        client,
        config: BootConfig {
            endpoints: Endpoints {
                api_host: "127.0.0.1".into(),
                api_port: 8081,
                siderolink_address: SIDEROLINK_ADDRESS.into(),
            },
            extra_agent_args: Cmdline::parse(extra_args),
            boot_from_disk_method: "ipxe-exit".into(),
        },
        boot_script: sidero_netboot::script::boot_script("127.0.0.1", 8081),
        release: None,
        agent_tokens: None,
        cache: None,
    })
}

/// Serves the boot router on 127.0.0.1 (free port) until the test ends; the base URL.
pub async fn serve_boot(state: Arc<BootState>, dirs: &Dirs) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(serve(listener, router(state, dirs), std::future::pending()));
    base
}

/// `curl` the URL; (status, body). `extra` adds curl options.
pub fn curl(url: &str, extra: &[&str]) -> (u16, Vec<u8>) {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "-w", "\n%{http_code}"])
        .args(extra)
        .arg(url)
        .output()
        .expect("curl runs");
    assert!(
        out.status.success(),
        "curl {url}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    let mut body = out.stdout;
    let pos = body.iter().rposition(|&b| b == b'\n').unwrap();
    let code = String::from_utf8_lossy(&body[pos + 1..]).parse().unwrap();
    body.truncate(pos);
    (code, body)
}
