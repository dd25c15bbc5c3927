//! `/logs/<server>` and `/events/<server>`: a server's kernel-log and event lines as the
//! endpoint printed them (`serverlogs`/`serverevents` JSON, one object per line), from the
//! per-server books, for `sideroctl logs`. Served only with `--siderolink`.
//!
//! Query: `tail=<n>` sends only the last `n` kept lines; `follow=1` keeps the response open
//! (chunked) and sends new lines as they arrive. A follower that falls behind gets a line
//! `{"lagged":<n>}` saying how many lines were skipped, then continues.

use std::convert::Infallible;
use std::sync::Arc;

use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::header;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use sidero_siderolink::log_receiver::{Follower, LogBook, Next};

use crate::siderolink::endpoint::Books;

/// Content type of the responses: newline-delimited JSON.
pub const CONTENT_TYPE: &str = "application/x-ndjson";

/// Lines sent in one chunk at most.
const MAX_BATCH: usize = 512;

/// What a request asks for.
#[derive(Debug, Default, PartialEq, Eq)]
pub struct LogQuery {
    /// Keep the response open for new lines.
    pub follow: bool,
    /// Send at most this many kept lines.
    pub tail: Option<usize>,
}

/// Parses `follow` and `tail`; anything else, or a value that does not parse, is ignored.
pub fn parse_query(q: &str) -> LogQuery {
    let mut out = LogQuery::default();
    for (k, v) in q
        .split('&')
        .map(|kv| kv.split_once('=').unwrap_or((kv, "")))
    {
        match k {
            "follow" => out.follow = matches!(v, "" | "1" | "true"),
            "tail" => out.tail = v.parse().ok(),
            _ => {}
        }
    }
    out
}

/// The routes.
pub fn router(books: Books) -> Router {
    Router::new()
        .route("/logs/{server}", get(logs))
        .route("/events/{server}", get(events))
        .with_state(Arc::new(books))
}

async fn logs(
    State(b): State<Arc<Books>>,
    Path(server): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    respond(
        &b.logs,
        &server,
        &parse_query(q.as_deref().unwrap_or_default()),
    )
}

async fn events(
    State(b): State<Arc<Books>>,
    Path(server): Path<String>,
    RawQuery(q): RawQuery,
) -> Response {
    respond(
        &b.events,
        &server,
        &parse_query(q.as_deref().unwrap_or_default()),
    )
}

fn respond(book: &LogBook, server: &str, q: &LogQuery) -> Response {
    let mut follower = book.follow(server);
    let backlog = std::mem::take(&mut follower.backlog);
    let skip = q.tail.map_or(0, |n| backlog.len().saturating_sub(n));
    let mut head = String::new();
    for l in &backlog[skip..] {
        head.push_str(l);
        head.push('\n');
    }
    tracing::debug!(%server, lines = backlog.len() - skip, follow = q.follow, "serving server lines");
    let headers = [(header::CONTENT_TYPE, CONTENT_TYPE)];
    if !q.follow {
        return (headers, head).into_response();
    }
    let first = futures::stream::once(async move { Ok::<_, Infallible>(Bytes::from(head)) });
    let rest = futures::stream::unfold(follower, |mut f: Follower| async move {
        // One chunk per wake-up: the awaited line and whatever else is already waiting.
        let mut chunk = String::new();
        let mut next = Some(f.next().await);
        let mut batched = 0;
        while let Some(n) = next {
            match n {
                Next::Line(l) => {
                    chunk.push_str(&l);
                    chunk.push('\n');
                }
                Next::Lagged(n) => chunk.push_str(&format!("{{\"lagged\":{n}}}\n")),
                Next::Closed if chunk.is_empty() => return None,
                Next::Closed => break,
            }
            batched += 1;
            next = if batched < MAX_BATCH {
                f.try_next()
            } else {
                None
            };
        }
        Some((Ok::<_, Infallible>(Bytes::from(chunk)), f))
    });
    use futures::StreamExt;
    (headers, Body::from_stream(first.chain(rest))).into_response()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    #[test]
    fn query_table() {
        let rows = [
            ("", LogQuery::default()),
            (
                "follow=1",
                LogQuery {
                    follow: true,
                    tail: None,
                },
            ),
            (
                "follow&tail=5",
                LogQuery {
                    follow: true,
                    tail: Some(5),
                },
            ),
            (
                "follow=0&tail=x&other=1",
                LogQuery {
                    follow: false,
                    tail: None,
                },
            ),
            (
                "tail=0&follow=true",
                LogQuery {
                    follow: true,
                    tail: Some(0),
                },
            ),
        ];
        for (q, want) in rows {
            assert_eq!(parse_query(q), want, "{q}");
        }
    }
}
