//! `sideroctl logs [-f] [--events] [--tail N] [--json] <server>`: a server's kernel logs (or
//! Talos events) as the SideroLink endpoint received them, printed as readable lines:
//!
//! ```text
//! 2026-11-25T12:00:00.000Z kern.info     [talos] phase install (5/8): done
//! 2026-11-25T12:00:01.523Z PhaseEvent    phase=install action=STOP
//! ```
//!
//! The lines come from the manager's `/logs/<server>` and `/events/<server>` (chunked, JSON
//! lines; see `sidero-controller-manager`'s `http::logs`). Everything a node sent is shown with
//! control characters escaped, so a kernel message cannot drive the terminal.

use std::io::Write;

use anyhow::{Context, bail};
use bytes::Bytes;
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use sidero_siderolink::readable::{escape_controls, format_event, format_log};

/// `logs` arguments.
#[derive(clap::Args, Debug, Clone)]
pub struct LogsArgs {
    /// Server name (its UUID).
    pub server: String,
    /// Keep printing new lines as they arrive.
    #[arg(short, long)]
    pub follow: bool,
    /// Talos events instead of kernel logs.
    #[arg(long)]
    pub events: bool,
    /// Only the last N kept lines.
    #[arg(long)]
    pub tail: Option<usize>,
    /// Print the JSON lines as received.
    #[arg(long)]
    pub json: bool,
    /// Base URL of sidero-controller-manager's HTTP listener (e.g. http://10.5.0.1:8081).
    #[arg(long, env = "SIDEROCTL_ENDPOINT")]
    pub endpoint: Option<String>,
}

/// `host:port` and path prefix of an `http://` base URL.
fn split_endpoint(url: &str) -> anyhow::Result<(String, String)> {
    let Some(rest) = url.strip_prefix("http://") else {
        bail!("--endpoint {url:?}: only http:// URLs are supported (the manager's HTTP port)");
    };
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    if authority.is_empty() {
        bail!("--endpoint {url:?}: no host");
    }
    let authority = if authority.contains(':') && !authority.ends_with(']') {
        authority.to_string()
    } else {
        format!("{authority}:80")
    };
    let path = path.trim_end_matches('/');
    let prefix = if path.is_empty() {
        String::new()
    } else {
        format!("/{path}")
    };
    Ok((authority, prefix))
}

/// The request path for `args`, below the endpoint's path prefix.
pub fn request_path(prefix: &str, args: &LogsArgs) -> String {
    let kind = if args.events { "events" } else { "logs" };
    let mut path = format!("{prefix}/{kind}/{}", percent_encode(&args.server));
    let mut sep = '?';
    if args.follow {
        path.push_str("?follow=1");
        sep = '&';
    }
    if let Some(n) = args.tail {
        path.push_str(&format!("{sep}tail={n}"));
    }
    if !path.starts_with('/') {
        path.insert(0, '/');
    }
    path
}

fn percent_encode(s: &str) -> String {
    s.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                (b as char).to_string()
            }
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// Runs the command, writing to `out` until the response ends (or forever with `--follow`).
pub async fn run(args: &LogsArgs, out: &mut (impl Write + Send)) -> anyhow::Result<()> {
    let Some(endpoint) = args.endpoint.as_deref() else {
        bail!(
            "no manager endpoint: set --endpoint or SIDEROCTL_ENDPOINT to sidero-controller-manager's HTTP URL (e.g. http://<api-endpoint>:8081)"
        );
    };
    let (authority, prefix) = split_endpoint(endpoint)?;
    let path = request_path(&prefix, args);
    let stream = tokio::net::TcpStream::connect(&authority)
        .await
        .with_context(|| format!("connecting to {authority}"))?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .with_context(|| format!("HTTP to {authority}"))?;
    tokio::spawn(conn);
    let req = hyper::Request::get(&path)
        .header(hyper::header::HOST, &authority)
        .body(Empty::<Bytes>::new())
        .context("building the request")?;
    let resp = sender
        .send_request(req)
        .await
        .with_context(|| format!("GET http://{authority}{path}"))?;
    let status = resp.status();
    if status == hyper::StatusCode::NOT_FOUND {
        bail!(
            "http://{authority}{path}: 404 (is the manager running with --siderolink, and a version that serves logs?)"
        );
    }
    if !status.is_success() {
        bail!("http://{authority}{path}: {status}");
    }
    let mut body = resp.into_body();
    let mut pending: Vec<u8> = Vec::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.with_context(|| format!("reading http://{authority}{path}"))?;
        let Ok(data) = frame.into_data() else {
            continue;
        };
        pending.extend_from_slice(&data);
        let mut start = 0;
        while let Some(i) = pending[start..].iter().position(|&b| b == b'\n') {
            let line = String::from_utf8_lossy(&pending[start..start + i]);
            print_line(out, &line, args)?;
            start += i + 1;
        }
        pending.drain(..start);
        out.flush()?;
    }
    if !pending.is_empty() {
        print_line(out, &String::from_utf8_lossy(&pending), args)?;
    }
    out.flush()?;
    Ok(())
}

fn print_line(out: &mut impl Write, line: &str, args: &LogsArgs) -> std::io::Result<()> {
    let text = if args.json {
        escape_controls(line)
    } else if args.events {
        format_event(line)
    } else {
        format_log(line)
    };
    writeln!(out, "{text}")
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn args(server: &str, follow: bool, events: bool, tail: Option<usize>) -> LogsArgs {
        LogsArgs {
            server: server.into(),
            follow,
            events,
            tail,
            json: false,
            endpoint: None,
        }
    }

    #[test]
    fn paths() {
        let rows = [
            ("", args("s-1", false, false, None), "/logs/s-1"),
            ("", args("s-1", true, false, None), "/logs/s-1?follow=1"),
            (
                "/x",
                args("s 1", true, true, Some(5)),
                "/x/events/s%201?follow=1&tail=5",
            ),
            ("", args("a/b", false, false, Some(0)), "/logs/a%2Fb?tail=0"),
        ];
        for (prefix, a, want) in rows {
            assert_eq!(request_path(prefix, &a), want);
        }
        assert_eq!(
            split_endpoint("http://10.5.0.1:8081/").unwrap(),
            ("10.5.0.1:8081".into(), String::new())
        );
        assert_eq!(
            split_endpoint("http://sidero.example/base").unwrap(),
            ("sidero.example:80".into(), "/base".into())
        );
        assert_eq!(
            split_endpoint("http://[fd00::1]:8081").unwrap().0,
            "[fd00::1]:8081"
        );
        assert!(split_endpoint("https://x").is_err());
        assert!(split_endpoint("http://").is_err());
    }
}
