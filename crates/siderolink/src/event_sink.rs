//! The events sink (spec §8.6, `serverevents`): gRPC `events.EventSinkService/Publish` over
//! plaintext HTTP/2. The node is identified by the TCP peer address, looked up in the
//! [`AnnotationCache`]; each event is logged as a `serverevents` line and its [`Effects`] are
//! handed to an [`EffectSink`] (the ServerBinding writer, outside this crate).
//!
//! Events of types Sidero ignores are acknowledged and counted; a payload that does not
//! decode is answered `InvalidArgument` and counted. A failed write or an unknown node is
//! logged and the call still succeeds (as upstream), so Talos does not resend forever.

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use serde_json::{Map, Value};
use sidero_proto::events::event_sink_service_server::{EventSinkService, EventSinkServiceServer};
use sidero_proto::events::{EventRequest, EventResponse};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tonic::{Request, Response, Status};

use crate::annotation::{Annotation, AnnotationCache};
use crate::events::{self, Cidr, Effects};

/// Default port of the sink.
pub const DEFAULT_PORT: u16 = 4002;

/// Largest event accepted, in bytes.
pub const MAX_MESSAGE_SIZE: usize = 1024 * 1024;

/// Applies an event's effects to the ServerBinding `server_uuid`.
#[tonic::async_trait]
pub trait EffectSink: Send + Sync + 'static {
    /// Writes `effects`; the error is logged by the caller.
    async fn apply(&self, server_uuid: &str, effects: &Effects) -> Result<(), String>;
}

/// What the sink has seen.
#[derive(Debug, Default)]
pub struct Counters {
    /// Events decoded and handled.
    pub handled: AtomicU64,
    /// Events of types Sidero ignores (and requests without data).
    pub ignored: AtomicU64,
    /// Payloads that did not decode.
    pub malformed: AtomicU64,
    /// Events from addresses no ServerBinding has.
    pub unknown_source: AtomicU64,
    /// Effects the [`EffectSink`] failed to write.
    pub write_errors: AtomicU64,
}

/// One `serverevents` line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct EventLine {
    /// The node's server UUID, when its address is known.
    pub server_uuid: Option<String>,
    /// The JSON line (no newline).
    pub line: String,
}

/// The `events.EventSinkService` implementation.
pub struct EventSink<S> {
    cache: AnnotationCache,
    filter: Arc<Vec<Cidr>>,
    sink: Arc<S>,
    out: mpsc::Sender<EventLine>,
    counters: Arc<Counters>,
}

impl<S: EffectSink> EventSink<S> {
    /// A sink annotating from `cache`, filtering addresses with `filter`, writing through
    /// `sink` and logging lines to `out`.
    pub fn new(
        cache: AnnotationCache,
        filter: Vec<Cidr>,
        sink: Arc<S>,
        out: mpsc::Sender<EventLine>,
    ) -> EventSink<S> {
        EventSink {
            cache,
            filter: Arc::new(filter),
            sink,
            out,
            counters: Arc::default(),
        }
    }

    /// The counters, shared with the running service.
    pub fn counters(&self) -> Arc<Counters> {
        self.counters.clone()
    }

    /// The tonic service.
    pub fn into_server(self) -> EventSinkServiceServer<EventSink<S>> {
        EventSinkServiceServer::new(self)
            .max_decoding_message_size(MAX_MESSAGE_SIZE)
            .max_encoding_message_size(MAX_MESSAGE_SIZE)
    }

    /// Serves on `listener` until `shutdown` completes.
    pub async fn serve(
        self,
        listener: TcpListener,
        shutdown: impl std::future::Future<Output = ()>,
    ) -> Result<(), tonic::transport::Error> {
        tonic::transport::Server::builder()
            .add_service(self.into_server())
            .serve_with_incoming_shutdown(
                tonic::transport::server::TcpIncoming::from(listener),
                shutdown,
            )
            .await
    }
}

/// The `serverevents` line: upstream's zap fields (`level`, `ts`, `msg`, `component`, `node`,
/// `id`, `type`), the annotation and the event's own fields.
pub fn event_line(
    peer: Option<SocketAddr>,
    req: &EventRequest,
    type_url: &str,
    annotation: Option<&Annotation>,
    fields: Map<String, Value>,
) -> String {
    let ts = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs_f64())
        .unwrap_or(0.0);
    let mut m = Map::new();
    m.insert("level".into(), "info".into());
    m.insert("ts".into(), ts.into());
    m.insert("msg".into(), "incoming event".into());
    m.insert("component".into(), "sink".into());
    m.insert(
        "node".into(),
        peer.map(|p| p.to_string()).unwrap_or_default().into(),
    );
    m.insert("id".into(), req.id.clone().into());
    m.insert("type".into(), type_url.into());
    if let Some(a) = annotation {
        for (k, v) in a.fields() {
            m.insert(k.into(), v.into());
        }
    }
    m.extend(fields);
    serde_json::to_string(&m).unwrap_or_default()
}

#[tonic::async_trait]
impl<S: EffectSink> EventSinkService for EventSink<S> {
    async fn publish(
        &self,
        request: Request<EventRequest>,
    ) -> Result<Response<EventResponse>, Status> {
        let peer = request.remote_addr();
        let req = request.into_inner();
        let Some(any) = req.data.as_ref() else {
            self.counters.ignored.fetch_add(1, Ordering::Relaxed);
            return Ok(Response::new(EventResponse {}));
        };
        let event = match events::decode(any) {
            Ok(Some(e)) => e,
            Ok(None) => {
                self.counters.ignored.fetch_add(1, Ordering::Relaxed);
                tracing::debug!(?peer, type_url = %any.type_url, "event type ignored");
                return Ok(Response::new(EventResponse {}));
            }
            Err(e) => {
                self.counters.malformed.fetch_add(1, Ordering::Relaxed);
                tracing::warn!(?peer, error = %e, "undecodable event");
                return Err(Status::invalid_argument(e.to_string()));
            }
        };
        self.counters.handled.fetch_add(1, Ordering::Relaxed);
        let ip: Option<IpAddr> = peer.map(|p| p.ip().to_canonical());
        let annotation = ip.and_then(|ip| self.cache.get(ip));
        let line = event_line(
            peer,
            &req,
            &any.type_url,
            annotation.as_ref(),
            events::log_fields(&event),
        );
        // The log consumer going away must not fail the node's call.
        let _ = self
            .out
            .send(EventLine {
                server_uuid: annotation.as_ref().map(|a| a.server_uuid.clone()),
                line,
            })
            .await;
        let (Some(ip), Some(annotation)) = (ip, annotation) else {
            self.counters.unknown_source.fetch_add(1, Ordering::Relaxed);
            tracing::warn!(?peer, type_url = %any.type_url, "event from a node without ServerBinding");
            return Ok(Response::new(EventResponse {}));
        };
        let fx = events::effects(&event, ip, &self.filter);
        if !fx.is_empty()
            && let Err(e) = self.sink.apply(&annotation.server_uuid, &fx).await
        {
            self.counters.write_errors.fetch_add(1, Ordering::Relaxed);
            tracing::error!(server = %annotation.server_uuid, error = %e, "applying event to ServerBinding failed");
        }
        Ok(Response::new(EventResponse {}))
    }
}
