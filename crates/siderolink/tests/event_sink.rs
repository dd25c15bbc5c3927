//! The events sink on loopback with a real tonic client: handled events reach the effect
//! writer with the node's server UUID, ignored types are acknowledged and counted, broken
//! payloads are refused with `InvalidArgument`, unknown nodes are logged and acknowledged.
//! (The ServerBinding writer itself is tested against a real API server in the controller
//! manager's tests.)
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::sync::atomic::Ordering;
use std::sync::{Arc, Mutex};

use prost::{Message, Name};
use prost_types::Any;
use serde_json::Value;
use sidero_proto::events::EventRequest;
use sidero_proto::events::event_sink_service_client::EventSinkServiceClient;
use sidero_proto::machine;
use sidero_siderolink::annotation::{Annotation, AnnotationCache};
use sidero_siderolink::event_sink::{EffectSink, EventLine, EventSink};
use sidero_siderolink::events::{self, Effects};
use tokio::sync::mpsc;

#[derive(Default)]
struct Recorder(Mutex<Vec<(String, Effects)>>);

#[tonic::async_trait]
impl EffectSink for Recorder {
    async fn apply(&self, server_uuid: &str, effects: &Effects) -> Result<(), String> {
        self.0
            .lock()
            .unwrap()
            .push((server_uuid.to_string(), effects.clone()));
        Ok(())
    }
}

fn pack<M: Message + Name>(m: &M) -> Any {
    Any {
        type_url: M::type_url(),
        value: m.encode_to_vec(),
    }
}

fn req(data: Any) -> EventRequest {
    EventRequest {
        data: Some(data),
        id: "c857jkm1jjcc7393cbs0".into(),
        actor_id: String::new(),
    }
}

#[tokio::test]
async fn events_flow_to_the_binding_writer() {
    let cache = AnnotationCache::new();
    cache.insert(
        "127.0.0.1".parse().unwrap(),
        Annotation {
            server_uuid: "b4e677d9".into(),
            cluster: "management-cluster".into(),
            ..Default::default()
        },
    );
    let recorder = Arc::new(Recorder::default());
    let (tx, mut rx) = mpsc::channel::<EventLine>(64);
    let filter = events::parse_filter(["10.0.0.0/8"]).unwrap();
    let sink = EventSink::new(cache, filter, recorder.clone(), tx);
    let counters = sink.counters();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sink.serve(listener, std::future::pending()));
    let mut client = EventSinkServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();

    client
        .publish(req(pack(&machine::AddressEvent {
            hostname: "pxe-2".into(),
            addresses: vec!["172.25.0.5".into(), "10.1.1.1".into()],
        })))
        .await
        .unwrap();
    client
        .publish(req(pack(&machine::ConfigLoadErrorEvent {
            error: "yaml: bad".into(),
        })))
        .await
        .unwrap();
    // Ignored type: acknowledged.
    client
        .publish(req(Any {
            type_url: "type.googleapis.com/machine.MachineStatusEvent".into(),
            value: vec![],
        }))
        .await
        .unwrap();
    // Broken payload of a known type: refused.
    let err = client
        .publish(req(Any {
            type_url: machine::PhaseEvent::type_url(),
            value: vec![0x0a, 0x09, b'x'],
        }))
        .await
        .unwrap_err();
    assert_eq!(err.code(), tonic::Code::InvalidArgument);
    // No data at all: acknowledged.
    client.publish(EventRequest::default()).await.unwrap();

    let got = recorder.0.lock().unwrap().clone();
    assert_eq!(got.len(), 2);
    assert_eq!(got[0].0, "b4e677d9");
    assert_eq!(
        got[0].1.addresses,
        Some(("pxe-2".into(), vec!["172.25.0.5".to_string()]))
    );
    assert_eq!(got[1].1.conditions[0].type_, events::TALOS_CONFIG_LOADED);
    assert!(!got[1].1.conditions[0].status);

    let first: Value = serde_json::from_str(&rx.recv().await.unwrap().line).unwrap();
    assert_eq!(first["msg"], "incoming event");
    assert_eq!(first["component"], "sink");
    assert_eq!(first["type"], "type.googleapis.com/machine.AddressEvent");
    assert_eq!(first["server_uuid"], "b4e677d9");
    assert_eq!(first["cluster"], "management-cluster");
    assert_eq!(first["hostname"], "pxe-2");
    assert_eq!(first["addresses"], "172.25.0.5,10.1.1.1");
    assert!(first["node"].as_str().unwrap().starts_with("127.0.0.1:"));

    assert_eq!(counters.handled.load(Ordering::Relaxed), 2);
    assert_eq!(counters.ignored.load(Ordering::Relaxed), 2);
    assert_eq!(counters.malformed.load(Ordering::Relaxed), 1);
    assert_eq!(counters.unknown_source.load(Ordering::Relaxed), 0);
}

#[tokio::test]
async fn unknown_nodes_are_acknowledged_but_not_applied() {
    let recorder = Arc::new(Recorder::default());
    let (tx, _rx) = mpsc::channel::<EventLine>(64);
    let sink = EventSink::new(AnnotationCache::new(), vec![], recorder.clone(), tx);
    let counters = sink.counters();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sink.serve(listener, std::future::pending()));
    let mut client = EventSinkServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    client
        .publish(req(pack(&machine::SequenceEvent {
            sequence: "boot".into(),
            action: 1,
            error: None,
        })))
        .await
        .unwrap();
    assert!(recorder.0.lock().unwrap().is_empty());
    assert_eq!(counters.unknown_source.load(Ordering::Relaxed), 1);
}
