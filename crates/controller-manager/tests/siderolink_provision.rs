//! `sidero.link.ProvisionService/Provision` on the combined listener (127.0.0.1, h2c), against
//! a real API server: the node address is allocated once and persisted in the ServerBinding,
//! the latest key wins, concurrent first calls agree on one address, unknown nodes and bad
//! keys get clear gRPC errors.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::Ipv6Addr;

use kube::api::PostParams;
use kube::{Api, Client};
use sidero_api::infra::v1alpha3::{ServerBinding, ServerBindingSpec};
use sidero_controller_manager::http::combined;
use sidero_controller_manager::identity::Identity;
use sidero_controller_manager::siderolink::{provision::ProvisionApi, server_side};
use sidero_proto::sidero::link::ProvisionRequest;
use sidero_proto::sidero::link::provision_service_client::ProvisionServiceClient;
use sidero_siderolink::provision::parse_prefix;
use tonic::Code;
use tonic::transport::Channel;

const KEY_A: &str = "hSDwCYkwp1R0i33ctD73Wg2/Og0mOBr066SpjqqbTmo=";
const KEY_B: &str = "XIBT49g9xCoBvyb/x36J+ASlQ4qaxXMG20ZgKbBbfE8=";

struct Fixture {
    client: Client,
    grpc: ProvisionServiceClient<Channel>,
    id: Identity,
}

async fn start() -> Fixture {
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let id = Identity {
        installation_id: "AKfdafTbmPeEqjtDc3OPGK9FriGO7CCBBIOZG4RjgmY=".into(),
        private_key: "dwdtCnMYpX08FsFyUbJmRd9ML4frwJkqsXf7pR25LCo=".into(),
    };
    let server = server_side(&id, "10.5.0.1:51821".parse().unwrap()).unwrap();
    let routes =
        tonic::service::Routes::new(ProvisionApi::new(client.clone(), server).into_server());
    let app = combined(axum::Router::new(), routes);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(sidero_controller_manager::http::serve(
        listener,
        app,
        std::future::pending(),
    ));
    let grpc = ProvisionServiceClient::connect(format!("http://{addr}"))
        .await
        .unwrap();
    Fixture { client, grpc, id }
}

async fn binding(client: &Client, name: &str) {
    let mut b = ServerBinding::new(name, ServerBindingSpec::default());
    b.spec.metal_machine_ref.kind = Some("MetalMachine".into());
    b.spec.metal_machine_ref.name = Some("mm".into());
    b.spec.metal_machine_ref.namespace = Some("default".into());
    Api::<ServerBinding>::all(client.clone())
        .create(&PostParams::default(), &b)
        .await
        .unwrap();
}

fn req(uuid: &str, key: &str) -> ProvisionRequest {
    ProvisionRequest {
        node_uuid: uuid.into(),
        node_public_key: key.into(),
        join_token: Some("ignored".into()),
        talos_version: Some("v1.13.0".into()),
        wireguard_over_grpc: Some(true),
        ..Default::default()
    }
}

#[tokio::test]
async fn provision_allocates_once_and_the_latest_key_wins() {
    let mut f = start().await;
    let uuid = "5a1e0000-0000-4000-8000-000000000001";
    binding(&f.client, uuid).await;
    let subnet = sidero_siderolink::subnet(&f.id.installation_id);

    let r1 = f
        .grpc
        .provision(req(uuid, KEY_A))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r1.server_endpoint, ["10.5.0.1:51821"]);
    // RFC 7748's public key for the private key above.
    assert_eq!(r1.server_public_key, KEY_A);
    assert_eq!(
        r1.server_address,
        sidero_siderolink::server_address(&f.id.installation_id).to_string()
    );
    assert_eq!(r1.grpc_peer_addr_port, "");
    let (addr, len) = parse_prefix(&r1.node_address_prefix).unwrap();
    assert_eq!(len, 64);
    assert_eq!(&addr.octets()[..8], &subnet.octets()[..8]);
    assert_ne!(
        addr,
        sidero_siderolink::server_address(&f.id.installation_id)
    );

    let stored = Api::<ServerBinding>::all(f.client.clone())
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(stored.spec.siderolink.address, r1.node_address_prefix);
    assert_eq!(stored.spec.siderolink.public_key, KEY_A);

    // Reinstalled node: new key, same address.
    let r2 = f
        .grpc
        .provision(req(uuid, KEY_B))
        .await
        .unwrap()
        .into_inner();
    assert_eq!(r2.node_address_prefix, r1.node_address_prefix);
    let stored = Api::<ServerBinding>::all(f.client.clone())
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(stored.spec.siderolink.public_key, KEY_B);
    // Nothing changes: no write (resourceVersion stays).
    let rv = stored.metadata.resource_version.clone();
    f.grpc.provision(req(uuid, KEY_B)).await.unwrap();
    let again = Api::<ServerBinding>::all(f.client.clone())
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(again.metadata.resource_version, rv);
}

#[tokio::test]
async fn concurrent_first_calls_agree_on_one_address() {
    let f = start().await;
    let uuid = "5a1e0000-0000-4000-8000-000000000002";
    binding(&f.client, uuid).await;
    let calls: Vec<_> = (0..6)
        .map(|_| {
            let mut grpc = f.grpc.clone();
            tokio::spawn(async move { grpc.provision(req(uuid, KEY_A)).await })
        })
        .collect();
    let mut addrs = Vec::new();
    for c in calls {
        addrs.push(c.await.unwrap().unwrap().into_inner().node_address_prefix);
    }
    addrs.dedup();
    assert_eq!(addrs.len(), 1, "{addrs:?}");
    let stored = Api::<ServerBinding>::all(f.client.clone())
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(stored.spec.siderolink.address, addrs[0]);
    assert!(addrs[0].parse::<Ipv6Addr>().is_err(), "prefix form");
}

#[tokio::test]
async fn unknown_nodes_and_bad_keys_are_refused() {
    let mut f = start().await;
    let err = f
        .grpc
        .provision(req("5a1e0000-0000-4000-8000-0000000000ff", KEY_A))
        .await
        .unwrap_err();
    assert_eq!(err.code(), Code::NotFound);
    assert_eq!(
        err.message(),
        "server binding \"5a1e0000-0000-4000-8000-0000000000ff\" not found"
    );
    let err = f.grpc.provision(req("", KEY_A)).await.unwrap_err();
    assert_eq!(err.code(), Code::NotFound);

    let uuid = "5a1e0000-0000-4000-8000-000000000003";
    binding(&f.client, uuid).await;
    let err = f.grpc.provision(req(uuid, "not-a-key")).await.unwrap_err();
    assert_eq!(err.code(), Code::InvalidArgument);
    assert!(
        err.message().starts_with("error parsing Wireguard key: "),
        "{}",
        err.message()
    );
    // A refused call writes nothing.
    let stored = Api::<ServerBinding>::all(f.client.clone())
        .get(uuid)
        .await
        .unwrap();
    assert_eq!(stored.spec.siderolink.address, "");
}
