//! The ServerBinding writer of the events sink against a real API server: a broken machine
//! config sets `TalosConfigLoaded=False` with severity `Error` and the loader's message (what
//! sfyra's `TestServerPXEBoot` waits for), a later good install turns everything `True`,
//! unchanged conditions keep their transition time, and addresses/hostname are written.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::IpAddr;

use kube::api::PostParams;
use kube::{Api, Client};
use sidero_api::condition;
use sidero_api::infra::v1alpha3::{ServerBinding, ServerBindingSpec};
use sidero_controller_manager::siderolink::binding_writer::BindingWriter;
use sidero_proto::machine;
use sidero_siderolink::event_sink::EffectSink;
use sidero_siderolink::events::{TalosEvent, effects};

async fn binding(client: &Client, name: &str) -> Api<ServerBinding> {
    let mut b = ServerBinding::new(name, ServerBindingSpec::default());
    b.spec.metal_machine_ref.name = Some("mm".into());
    b.spec.metal_machine_ref.namespace = Some("default".into());
    let api = Api::<ServerBinding>::all(client.clone());
    api.create(&PostParams::default(), &b).await.unwrap();
    api
}

#[tokio::test]
async fn events_drive_binding_conditions_and_addresses() {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let uuid = "e7e00000-0000-4000-8000-000000000001";
    let api = binding(&client, uuid).await;
    let writer = BindingWriter::new(client.clone());
    let node: IpAddr = "fdae:2859:5bb1:7a03::9".parse().unwrap();
    let apply = |e: TalosEvent| {
        let writer = writer.clone();
        async move { writer.apply(uuid, &effects(&e, node, &[])).await.unwrap() }
    };

    apply(TalosEvent::ConfigLoadError(machine::ConfigLoadErrorEvent {
        error: "failed to load config: yaml: line 3".into(),
    }))
    .await;
    let b = api.get(uuid).await.unwrap();
    let c = condition::get(&b.status.as_ref().unwrap().conditions, "TalosConfigLoaded")
        .unwrap()
        .clone();
    assert_eq!(c.status, "False");
    assert_eq!(c.severity.as_deref(), Some("Error"));
    assert_eq!(c.reason.as_deref(), Some("TalosConfigLoadFailed"));
    assert_eq!(
        c.message.as_deref(),
        Some("failed to load config: yaml: line 3")
    );
    // The same event again changes nothing, not even the transition time.
    tokio::time::sleep(std::time::Duration::from_millis(1100)).await;
    apply(TalosEvent::ConfigLoadError(machine::ConfigLoadErrorEvent {
        error: "failed to load config: yaml: line 3".into(),
    }))
    .await;
    let again = api.get(uuid).await.unwrap();
    let c2 = condition::get(
        &again.status.as_ref().unwrap().conditions,
        "TalosConfigLoaded",
    )
    .unwrap();
    assert_eq!(c2.last_transition_time, c.last_transition_time);
    assert_eq!(again.metadata.resource_version, b.metadata.resource_version);

    apply(TalosEvent::Address(machine::AddressEvent {
        hostname: "talos-1".into(),
        addresses: vec!["192.0.2.7".into(), "fdae:2859:5bb1:7a03::9".into()],
    }))
    .await;
    apply(TalosEvent::Sequence(machine::SequenceEvent {
        sequence: "boot".into(),
        action: 1,
        error: None,
    }))
    .await;
    let b = api.get(uuid).await.unwrap();
    assert_eq!(b.spec.addresses, ["192.0.2.7"]);
    assert_eq!(b.spec.hostname, "talos-1");
    let conds = &b.status.as_ref().unwrap().conditions;
    for t in [
        "TalosConfigLoaded",
        "TalosConfigValidated",
        "TalosInstalled",
    ] {
        let c = condition::get(conds, t).unwrap();
        assert_eq!(c.status, "True", "{t}");
        assert!(c.reason.is_none() && c.severity.is_none() && c.message.is_none());
    }
    // The siderolink spec is untouched by event writes.
    assert_eq!(b.spec.siderolink.address, "");
}
