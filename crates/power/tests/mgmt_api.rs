//! The management API client against a small HTTP server on 127.0.0.1 that behaves like the
//! Talos QEMU provisioner's power API.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use sidero_power::{
    BootMode, ManagementApiClient, PowerError, PowerManager, PowerOutcome, PowerState, Step,
};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

#[derive(Debug, Default)]
struct Vm {
    on: bool,
    pxe: bool,
    requests: Vec<String>,
    fail: bool,
    hang: bool,
}

async fn serve(vm: Arc<Mutex<Vm>>) -> String {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        loop {
            let Ok((mut s, _)) = l.accept().await else {
                return;
            };
            let vm = vm.clone();
            tokio::spawn(async move {
                let mut buf = Vec::new();
                let mut chunk = [0u8; 1024];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk).await {
                        Ok(0) | Err(_) => return,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let head = String::from_utf8_lossy(&buf).to_string();
                let line = head.lines().next().unwrap_or("").to_owned();
                let (status, body) = {
                    let mut vm = vm.lock().unwrap();
                    vm.requests
                        .push(line.split(' ').take(2).collect::<Vec<_>>().join(" "));
                    if vm.hang {
                        (0, String::new())
                    } else if vm.fail {
                        (500, "boom".to_owned())
                    } else {
                        match line.split(' ').take(2).collect::<Vec<_>>()[..] {
                            ["POST", "/poweron"] => {
                                vm.on = true;
                                (200, String::new())
                            }
                            ["POST", "/poweroff"] => {
                                vm.on = false;
                                (200, String::new())
                            }
                            ["POST", "/reboot"] => {
                                vm.on = true;
                                (200, String::new())
                            }
                            ["POST", "/pxeboot"] => {
                                vm.pxe = true;
                                (200, String::new())
                            }
                            ["GET", "/status"] => (200, format!("{{\"PoweredOn\":{}}}", vm.on)),
                            _ => (501, String::new()),
                        }
                    }
                };
                if status == 0 {
                    tokio::time::sleep(Duration::from_secs(30)).await;
                    return;
                }
                let reason = match status {
                    200 => "OK",
                    500 => "Internal Server Error",
                    _ => "Not Implemented",
                };
                let resp = format!(
                    "HTTP/1.1 {status} {reason}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                    body.len()
                );
                let _ = s.write_all(resp.as_bytes()).await;
            });
        }
    });
    addr
}

#[tokio::test]
async fn operations_hit_the_right_endpoints() {
    let vm = Arc::new(Mutex::new(Vm::default()));
    let ep = serve(vm.clone()).await;
    let c = ManagementApiClient::new(&ep);
    assert!(!c.is_fake());
    assert_eq!(c.target(), format!("management API {ep}"));
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    assert_eq!(
        c.set_pxe_once(BootMode::Bios).await.unwrap(),
        PowerOutcome::Done
    );
    assert_eq!(c.power_on().await.unwrap(), PowerOutcome::Done);
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
    c.power_cycle().await.unwrap();
    c.power_off().await.unwrap();
    assert_eq!(c.power_status().await.unwrap(), PowerState::Off);
    assert_eq!(
        c.set_boot_disk_once(BootMode::Uefi).await.unwrap(),
        PowerOutcome::Unsupported
    );
    let vm = vm.lock().unwrap();
    assert!(vm.pxe);
    assert_eq!(
        vm.requests,
        [
            "GET /status",
            "POST /pxeboot",
            "POST /poweron",
            "GET /status",
            "POST /reboot",
            "POST /poweroff",
            "GET /status"
        ]
    );
}

#[tokio::test]
async fn non_200_is_an_api_error_with_the_status_line() {
    let vm = Arc::new(Mutex::new(Vm {
        fail: true,
        ..Vm::default()
    }));
    let ep = serve(vm).await;
    let c = ManagementApiClient::new(&ep);
    let err = c.power_on().await.unwrap_err();
    assert!(
        matches!(
            err,
            PowerError::Api {
                step: Step::Api("POST /poweron"),
                ..
            }
        ),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        format!("management API {ep}: POST /poweron: API error: 500 Internal Server Error")
    );
    assert!(
        c.power_status()
            .await
            .unwrap_err()
            .to_string()
            .ends_with("API error: 500 Internal Server Error")
    );
}

#[tokio::test]
async fn a_hanging_api_times_out_and_a_closed_port_is_an_io_error() {
    let vm = Arc::new(Mutex::new(Vm {
        hang: true,
        ..Vm::default()
    }));
    let ep = serve(vm).await;
    let c = ManagementApiClient::with_timeout(&ep, Duration::from_millis(300));
    let started = Instant::now();
    let err = c.power_status().await.unwrap_err();
    assert!(started.elapsed() < Duration::from_secs(2));
    assert!(
        matches!(
            err,
            PowerError::Timeout {
                step: Step::Api("GET /status"),
                ..
            }
        ),
        "{err:?}"
    );

    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .unwrap()
        .local_addr()
        .unwrap()
        .port();
    let err = ManagementApiClient::new(&format!("127.0.0.1:{port}"))
        .power_off()
        .await
        .unwrap_err();
    assert!(matches!(err, PowerError::Io { .. }), "{err:?}");
    assert!(err.to_string().contains("POST /poweroff"), "{err}");
}

#[tokio::test]
async fn bad_status_json_is_a_protocol_error() {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let ep = l.local_addr().unwrap().to_string();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let mut b = [0u8; 1024];
        let _ = s.read(&mut b).await;
        let _ = s
            .write_all(b"HTTP/1.1 200 OK\r\nContent-Length: 7\r\n\r\n{\"x\":1}")
            .await;
    });
    let err = ManagementApiClient::new(&ep)
        .power_status()
        .await
        .unwrap_err();
    assert!(matches!(err, PowerError::Protocol { .. }), "{err:?}");
}
