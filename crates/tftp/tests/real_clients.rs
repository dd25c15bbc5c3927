//! Our server against real clients (atftp, curl, tftp-hpa) on 127.0.0.1, in both socket modes.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod common;

use std::time::{Duration, Instant};

use common::{Raw, TestServer, assert_same_file, config, describe, pattern, run, start};
use sidero_tftp::SocketMode;

const MODES: [SocketMode; 2] = [SocketMode::SinglePort, SocketMode::MultiPort];

/// Boundary sizes around one 512-byte block, an empty file and 1 MiB.
fn sized_files() -> Vec<(String, Vec<u8>)> {
    [0usize, 511, 512, 513, 1 << 20]
        .iter()
        .map(|&len| (format!("f{len}.bin"), pattern(len, len as u64 + 1)))
        .collect()
}

async fn start_sized(mode: SocketMode) -> (TestServer, Vec<(String, Vec<u8>)>) {
    let files = sized_files();
    let refs: Vec<(&str, &[u8])> = files
        .iter()
        .map(|(n, d)| (n.as_str(), d.as_slice()))
        .collect();
    (start(config(mode), &refs).await, files)
}

async fn atftp(server: &TestServer, remote: &str, local: &std::path::Path, options: &[&str]) {
    let out = atftp_raw(server, remote, local, options).await;
    assert!(out.status.success(), "atftp {remote}: {}", describe(&out));
}

async fn atftp_raw(
    server: &TestServer,
    remote: &str,
    local: &std::path::Path,
    options: &[&str],
) -> std::process::Output {
    let port = server.port().to_string();
    let local = local.to_str().unwrap();
    let mut args = vec!["-g", "-r", remote, "-l", local];
    for o in options {
        args.extend(["--option", o]);
    }
    args.extend(["127.0.0.1", &port]);
    run("atftp", &args).await
}

async fn curl(server: &TestServer, remote: &str, local: &std::path::Path, extra: &[&str]) {
    let out = curl_raw(server, remote, local, extra).await;
    assert!(out.status.success(), "curl {remote}: {}", describe(&out));
}

async fn curl_raw(
    server: &TestServer,
    remote: &str,
    local: &std::path::Path,
    extra: &[&str],
) -> std::process::Output {
    let url = format!("tftp://127.0.0.1:{}/{remote}", server.port());
    let local = local.to_str().unwrap();
    let mut args = vec!["-sS", "--path-as-is", "-o", local];
    args.extend_from_slice(extra);
    args.push(&url);
    run("curl", &args).await
}

async fn tftp_hpa(
    server: &TestServer,
    mode: &str,
    remote: &str,
    local: &std::path::Path,
) -> String {
    let port = server.port().to_string();
    let args = [
        "127.0.0.1",
        &port,
        "-m",
        mode,
        "-c",
        "get",
        remote,
        local.to_str().unwrap(),
    ];
    let out = run("tftp", &args).await;
    assert!(out.status.success(), "tftp-hpa: {}", describe(&out));
    format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atftp_default_and_negotiated_options_all_sizes() {
    let option_sets: [&[&str]; 3] = [
        &[],
        &["blksize 1428", "windowsize 8", "tsize enable"],
        &["blksize 8", "timeout 2"],
    ];
    for mode in MODES {
        let (server, files) = start_sized(mode).await;
        let out = tempfile::tempdir().unwrap();
        for (i, options) in option_sets.iter().enumerate() {
            for (name, data) in &files {
                if options.contains(&"blksize 8") && data.len() > 4096 {
                    continue; // 131072 lock-step round trips prove nothing more
                }
                let local = out.path().join(format!("{i}-{name}"));
                atftp(&server, name, &local, options).await;
                assert_same_file(&local, data);
            }
        }
        let events = server.events();
        let windowed = "started f1048576.bin blksize=1428 windowsize=8";
        assert!(events.iter().any(|e| e == windowed), "{events:?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn atftp_largest_block_size() {
    for mode in MODES {
        let (server, files) = start_sized(mode).await;
        let out = tempfile::tempdir().unwrap();
        let (name, data) = files.last().unwrap();
        let local = out.path().join(name);
        atftp(&server, name, &local, &["blksize 65464", "windowsize 4"]).await;
        assert_same_file(&local, data);
        let events = server.events();
        assert!(
            events
                .iter()
                .any(|e| e == "started f1048576.bin blksize=65464 windowsize=4"),
            "{events:?}"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_default_and_blksize_all_sizes() {
    for mode in MODES {
        let (server, files) = start_sized(mode).await;
        let out = tempfile::tempdir().unwrap();
        for extra in [
            &[][..],
            &["--tftp-blksize", "1428"][..],
            &["--tftp-no-options"][..],
        ] {
            for (name, data) in &files {
                let local = out.path().join(format!("{}-{name}", extra.len()));
                curl(&server, name, &local, extra).await;
                assert_same_file(&local, data);
            }
        }
    }
}

/// 33 MiB at 512-byte blocks is 67584 blocks: the block number wraps past 65535.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn curl_block_number_rollover_33_mib() {
    let data = pattern(33 << 20, 33);
    let server = start(config(SocketMode::SinglePort), &[("big.bin", &data)]).await;
    let out = tempfile::tempdir().unwrap();
    let local = out.path().join("big.bin");
    // curl sends blksize 512 and tsize; 512 is the default, so rollover happens at 65535.
    curl(&server, "big.bin", &local, &["--tftp-blksize", "512"]).await;
    assert_same_file(&local, &data);
    let events = server.events_after_completions(1).await;
    assert!(
        events.contains(&format!("completed big.bin {}", 33 << 20)),
        "{events:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_hpa_octet_all_sizes() {
    for mode in MODES {
        let (server, files) = start_sized(mode).await;
        let out = tempfile::tempdir().unwrap();
        for (name, data) in &files {
            let local = out.path().join(name);
            tftp_hpa(&server, "octet", name, &local).await;
            assert_same_file(&local, data);
        }
    }
}

/// netascii is encoded on the wire (LF → CR LF, CR → CR NUL) and tftp-hpa decodes it back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tftp_hpa_netascii_round_trips() {
    let mut text = Vec::new();
    for i in 0..300 {
        text.extend_from_slice(format!("line {i}\n").as_bytes());
        if i % 7 == 0 {
            text.extend_from_slice(b"bare\rcr and crlf\r\n");
        }
    }
    for mode in MODES {
        let server = start(config(mode), &[("boot.ipxe", &text)]).await;
        let out = tempfile::tempdir().unwrap();
        let local = out.path().join("boot.ipxe");
        tftp_hpa(&server, "netascii", "boot.ipxe", &local).await;
        assert_same_file(&local, &text);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn missing_files_get_file_not_found() {
    for mode in MODES {
        let (server, _) = start_sized(mode).await;
        let out = tempfile::tempdir().unwrap();
        let local = out.path().join("x");
        let a = atftp_raw(&server, "nope.efi", &local, &[]).await;
        assert!(!a.status.success(), "atftp: {}", describe(&a));
        assert!(describe(&a).contains("File not found"), "{}", describe(&a));
        let c = curl_raw(&server, "nope.efi", &local, &[]).await;
        assert_eq!(c.status.code(), Some(68), "curl: {}", describe(&c));
        // tftp-hpa exits 0 on errors; its message tells.
        let h = tftp_hpa(&server, "octet", "nope.efi", &local).await;
        assert!(h.contains("Error code 1: File not found"), "{h}");
        let rejected = |e: &[String]| e.iter().filter(|e| *e == "rejected nope.efi 1").count();
        let events = server.events_when(|e| rejected(e) >= 3).await;
        assert_eq!(rejected(&events), 3, "{events:?}");
    }
}

/// `..`, absolute paths and backslashes are confined to the root; a symlink out of the root
/// is refused with an access violation.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn traversal_attempts_get_errors() {
    for mode in MODES {
        let outside = tempfile::tempdir().unwrap();
        let secret = outside.path().join("secret.txt");
        std::fs::write(&secret, b"top secret").unwrap();
        let server = start(config(mode), &[("ok.bin", b"ok")]).await;
        std::os::unix::fs::symlink(&secret, server.path("link")).unwrap();
        let out = tempfile::tempdir().unwrap();
        let local = out.path().join("x");
        let secret_abs = secret.to_str().unwrap().to_owned();
        let up = format!("../../../../../../..{secret_abs}");
        let backslashed = up.replace('/', "\\");
        for name in [
            secret_abs.as_str(),
            up.as_str(),
            backslashed.as_str(),
            "../../../../etc/passwd",
            "/etc/passwd",
        ] {
            let a = atftp_raw(&server, name, &local, &[]).await;
            assert!(!a.status.success(), "{name}: {}", describe(&a));
            assert!(
                describe(&a).contains("File not found"),
                "{name}: {}",
                describe(&a)
            );
            let c = curl_raw(&server, name, &local, &[]).await;
            assert_eq!(c.status.code(), Some(68), "{name}: {}", describe(&c));
        }
        let a = atftp_raw(&server, "link", &local, &[]).await;
        assert!(
            describe(&a).contains("Access violation"),
            "{}",
            describe(&a)
        );
        let c = curl_raw(&server, "link", &local, &[]).await;
        assert_eq!(c.status.code(), Some(69), "curl: {}", describe(&c));
        assert!(
            !std::fs::read(&local)
                .unwrap_or_default()
                .starts_with(b"top")
        );
        // The lexically cleaned form of a traversal still serves files inside the root.
        atftp(&server, "../../ok.bin", &local, &[]).await;
        assert_same_file(&local, b"ok");
    }
}

/// A client that sends an RRQ and never acknowledges must not delay anyone else.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stalled_client_does_not_delay_others() {
    for mode in MODES {
        let (server, files) = start_sized(mode).await;
        let stalled = Raw::new(server.addr).await;
        stalled
            .rrq("f1048576.bin", "octet", &[("blksize", "1428")])
            .await;
        let first = stalled.expect().await; // the OACK; never acknowledged
        assert_eq!(first.0.get(..2), Some(&[0u8, 6][..]));
        let out = tempfile::tempdir().unwrap();
        let (name, data) = files.last().unwrap();
        let local = out.path().join(name);
        let small = out.path().join("small");
        let t0 = Instant::now();
        atftp(&server, name, &local, &["blksize 1428", "windowsize 8"]).await;
        curl(&server, "f513.bin", &small, &[]).await;
        let took = t0.elapsed();
        assert_same_file(&local, data);
        assert_same_file(&small, &files[3].1);
        // Well under the stalled transfer's 5 s retransmission period.
        assert!(took < Duration::from_secs(4), "{mode:?}: took {took:?}");
        let events = server.events_after_completions(2).await;
        assert_eq!(
            events.iter().filter(|e| e.starts_with("completed")).count(),
            2,
            "{events:?}"
        );
        assert!(
            !events.iter().any(|e| e.starts_with("failed")),
            "{events:?}"
        );
    }
}

/// Many clients at once, mixing tools and options, all get exact bytes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn many_concurrent_clients() {
    const CLIENTS: usize = 30;
    for mode in MODES {
        let (server, files) = start_sized(mode).await;
        let out = tempfile::tempdir().unwrap();
        let port = server.port().to_string();
        let mut tasks = tokio::task::JoinSet::new();
        for i in 0..CLIENTS {
            let (name, _) = &files[if i % 3 == 0 { 3 } else { 4 }];
            let local = out.path().join(format!("{i}-{name}"));
            let local_s = local.to_str().unwrap().to_owned();
            let url = format!("tftp://127.0.0.1:{port}/{name}");
            let args: Vec<String> = match i % 3 {
                0 => [
                    "127.0.0.1",
                    &port,
                    "-m",
                    "octet",
                    "-c",
                    "get",
                    name,
                    &local_s,
                ]
                .map(String::from)
                .to_vec(),
                1 => vec![
                    "-sS".into(),
                    "--tftp-blksize".into(),
                    "1428".into(),
                    "-o".into(),
                    local_s,
                    url,
                ],
                _ => [
                    "-g",
                    "-r",
                    name,
                    "-l",
                    &local_s,
                    "--option",
                    "blksize 1428",
                    "--option",
                    "windowsize 8",
                    "127.0.0.1",
                    &port,
                ]
                .map(String::from)
                .to_vec(),
            };
            let program = ["tftp", "curl", "atftp"][i % 3];
            let want = files.iter().find(|(n, _)| n == name).unwrap().1.clone();
            tasks.spawn(async move {
                let args: Vec<&str> = args.iter().map(String::as_str).collect();
                let out = run(program, &args).await;
                assert!(out.status.success(), "{program}: {}", describe(&out));
                assert_same_file(&local, &want);
            });
        }
        let t0 = Instant::now();
        while let Some(joined) = tasks.join_next().await {
            joined.unwrap();
        }
        let events = server.events_after_completions(CLIENTS).await;
        let completed = events.iter().filter(|e| e.starts_with("completed")).count();
        assert_eq!(completed, CLIENTS, "{mode:?}: {events:?}");
        assert!(
            t0.elapsed() < Duration::from_secs(30),
            "{mode:?}: {:?}",
            t0.elapsed()
        );
    }
}
