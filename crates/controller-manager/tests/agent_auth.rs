//! The authenticated Agent API against a real API server, with real gRPC clients on two
//! loopback addresses: 127.0.0.1 is the server's agent, 127.0.0.2 a foreign host.
//! Once a Server is accepted, calls about it from elsewhere without its agent token are
//! refused with `PermissionDenied` and a readable Event, and change nothing.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::net::SocketAddr;
use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use k8s_openapi::api::events::v1::Event;
use kube::api::{ListParams, Patch, PatchParams};
use kube::{Api, Client, ResourceExt};
use serde_json::json;
use sidero_api::metal::v1alpha2::Server;
use sidero_controller_manager::agent::auth::{AGENT_ADDRESS_ANNOTATION, AGENT_TOKEN_METADATA};
use sidero_controller_manager::agent::{self, AgentAuth, AgentConfig};
use sidero_controller_manager::http::{BootState, Dirs, combined, router, serve};
use sidero_netboot::args::Endpoints;
use sidero_netboot::boot::BootConfig;
use sidero_netboot::cmdline::Cmdline;
use sidero_proto::api;
use sidero_proto::api::agent_client::AgentClient;
use tonic::Code;
use tonic::transport::{Channel, Endpoint};

const KEY_SECRET: &[u8] = b"agent-auth test installation";

fn auth() -> AgentAuth {
    AgentAuth {
        key: sidero_netboot::token::derive_key(KEY_SECRET),
        token_ttl: Duration::from_secs(600),
    }
}

struct Fixture {
    addr: SocketAddr,
    client: Client,
    _dirs: tempfile::TempDir,
}

/// The combined listener (boot HTTP + Agent API) on 127.0.0.1, authenticated unless
/// `insecure`.
async fn start(insecure: bool) -> Fixture {
    let _ = tracing_subscriber::fmt().with_env_filter("info").try_init();
    let client = sidero_testenv::shared().unwrap().client().await.unwrap();
    let dirs = tempfile::tempdir().unwrap();
    let auth = (!insecure).then(auth);
    let state = Arc::new(BootState {
        client: client.clone(),
        config: BootConfig {
            endpoints: Endpoints {
                api_host: "127.0.0.1".into(),
                api_port: 8081,
                siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
            },
            extra_agent_args: Cmdline::parse(""),
            boot_from_disk_method: "ipxe-exit".into(),
        },
        boot_script: sidero_netboot::script::boot_script("127.0.0.1", 8081),
        release: None,
        agent_tokens: auth.clone(),
        cache: None,
    });
    let d = Dirs {
        env: dirs.path().join("env"),
        tftp: dirs.path().join("tftp"),
    };
    let config = AgentConfig {
        auto_accept_servers: false,
        ..AgentConfig::default()
    };
    let app = combined(
        router(state, &d),
        agent::routes_with_auth(client.clone(), config, auth),
    );
    // Clients bound to 127.0.0.2 reach 127.0.0.1 and are seen with their own address.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(serve(listener, app, std::future::pending()));
    Fixture {
        addr,
        client,
        _dirs: dirs,
    }
}

/// A gRPC client whose connections leave from `local` (a loopback address).
async fn client_from(local: &str, addr: SocketAddr) -> AgentClient<Channel> {
    let local: SocketAddr = format!("{local}:0").parse().unwrap();
    let ch = Endpoint::from_shared(format!("http://{addr}"))
        .unwrap()
        .connect_with_connector(tower::service_fn(move |_uri: http::Uri| async move {
            let sock = tokio::net::TcpSocket::new_v4()?;
            sock.bind(local)?;
            let s = sock.connect(addr).await?;
            Ok::<_, std::io::Error>(hyper_util::rt::TokioIo::new(s))
        }))
        .await
        .unwrap();
    AgentClient::new(ch)
}

fn create_req(uuid: &str) -> api::CreateServerRequest {
    api::CreateServerRequest {
        hardware: Some(api::HardwareInformation {
            system: Some(api::SystemInformation {
                uuid: uuid.into(),
                manufacturer: "QEMU".into(),
                ..Default::default()
            }),
            ..Default::default()
        }),
        hostname: "node".into(),
    }
}

fn with_token<T>(msg: T, token: &str) -> tonic::Request<T> {
    let mut r = tonic::Request::new(msg);
    r.metadata_mut()
        .insert(AGENT_TOKEN_METADATA, token.parse().unwrap());
    r
}

fn wiped(uuid: &str) -> api::MarkServerAsWipedRequest {
    api::MarkServerAsWipedRequest { uuid: uuid.into() }
}

async fn get(client: &Client, name: &str) -> Server {
    Api::<Server>::all(client.clone()).get(name).await.unwrap()
}

fn is_clean(s: &Server) -> bool {
    s.status.as_ref().is_some_and(|st| st.is_clean)
}

fn recorded(s: &Server) -> Option<String> {
    s.annotations().get(AGENT_ADDRESS_ANNOTATION).cloned()
}

async fn accept(client: &Client, name: &str) {
    Api::<Server>::all(client.clone())
        .patch(
            name,
            &PatchParams::default(),
            &Patch::Merge(json!({"spec": {"accepted": true}})),
        )
        .await
        .unwrap();
}

/// The notes of the Warning `AgentRefused` Events on `server`, waiting up to 10 s for at
/// least `n`.
async fn refusals(client: &Client, server: &str, n: usize) -> Vec<String> {
    let events: Api<Event> = Api::namespaced(client.clone(), "default");
    let start = Instant::now();
    loop {
        let notes: Vec<String> = events
            .list(&ListParams::default())
            .await
            .unwrap()
            .items
            .into_iter()
            .filter(|e| {
                e.regarding.as_ref().and_then(|r| r.name.as_deref()) == Some(server)
                    && e.reason.as_deref() == Some("AgentRefused")
            })
            .inspect(|e| assert_eq!(e.type_.as_deref(), Some("Warning")))
            .filter_map(|e| e.note)
            .collect();
        if notes.len() >= n || start.elapsed() > Duration::from_secs(10) {
            return notes;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// `GET /ipxe?uuid=..` from `local`; the body.
fn ipxe_from(local: &str, addr: SocketAddr, uuid: &str) -> String {
    let out = Command::new("curl")
        .args(["-s", "-S", "--max-time", "10", "--interface", local])
        .arg(format!(
            "http://{addr}/ipxe?uuid={uuid}&mac=52-54-00-12-34-56&arch=amd64"
        ))
        .output()
        .expect("curl runs");
    assert!(out.status.success(), "{out:?}");
    String::from_utf8(out.stdout).unwrap()
}

fn agent_token_of(script: &str) -> Option<String> {
    script
        .split_whitespace()
        .find_map(|a| a.strip_prefix("sidero.token="))
        .map(str::to_string)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn only_the_servers_agent_may_speak_for_an_accepted_server() {
    let f = start(false).await;
    let uuid = "a7000000-0000-4000-8000-000000000001";
    let mut agent = client_from("127.0.0.1", f.addr).await;
    let mut foreign = client_from("127.0.0.2", f.addr).await;

    // Registration records the address; before acceptance anyone is served, as upstream,
    // and only a registration moves the address.
    agent.create_server(create_req(uuid)).await.unwrap();
    assert_eq!(
        recorded(&get(&f.client, uuid).await).as_deref(),
        Some("127.0.0.1")
    );
    foreign
        .heartbeat(api::HeartbeatRequest { uuid: uuid.into() })
        .await
        .unwrap();
    assert_eq!(
        recorded(&get(&f.client, uuid).await).as_deref(),
        Some("127.0.0.1")
    );
    // Un-accepted servers get no agent token.
    assert_eq!(agent_token_of(&ipxe_from("127.0.0.1", f.addr, uuid)), None);

    accept(&f.client, uuid).await;
    let before = get(&f.client, uuid).await;
    assert!(!is_clean(&before));

    // A foreign address without a token: refused, with an Event, nothing changed.
    let e = foreign.mark_server_as_wiped(wiped(uuid)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    assert!(
        e.message().contains("127.0.0.2") && e.message().contains("without an agent token"),
        "{e:?}"
    );
    let bmc = foreign
        .update_bmc_info(api::UpdateBmcInfoRequest {
            uuid: uuid.into(),
            bmc_info: Some(api::BmcInfo {
                ip: "10.66.66.66".into(),
                ..Default::default()
            }),
        })
        .await
        .unwrap_err();
    assert_eq!(bmc.code(), Code::PermissionDenied, "{bmc:?}");
    let e = foreign.create_server(create_req(uuid)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    // A token for another server, a forged token: refused, even from the right address.
    let other = sidero_netboot::token::issue_agent(
        &auth().key,
        "a7000000-0000-4000-8000-0000000000ff",
        sidero_controller_manager::http::unix_now(),
        600,
    );
    let e = foreign
        .mark_server_as_wiped(with_token(wiped(uuid), &other))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");
    let e = agent
        .mark_server_as_wiped(with_token(wiped(uuid), "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{e:?}");

    let after = get(&f.client, uuid).await;
    assert!(!is_clean(&after), "a refused call changed the server");
    assert_eq!(after.spec.bmc, before.spec.bmc);
    assert_eq!(recorded(&after).as_deref(), Some("127.0.0.1"));
    let notes = refusals(&f.client, uuid, 3).await;
    assert!(
        notes
            .iter()
            .any(|n| n.starts_with("MarkServerAsWiped for server")
                && n.contains("127.0.0.2")
                && n.contains("registered from 127.0.0.1")),
        "{notes:#?}"
    );
    assert!(
        notes
            .iter()
            .any(|n| n.contains("agent token that is refused")),
        "{notes:#?}"
    );
    assert!(
        !notes.iter().any(|n| n.contains(&other)),
        "a token leaked into an Event"
    );

    // /ipxe hands a token only to the registered address.
    assert_eq!(agent_token_of(&ipxe_from("127.0.0.2", f.addr, uuid)), None);
    let token = agent_token_of(&ipxe_from("127.0.0.1", f.addr, uuid)).expect("agent token");

    // The legit agent works, with or without its token.
    agent
        .heartbeat(api::HeartbeatRequest { uuid: uuid.into() })
        .await
        .unwrap();
    // With its token, the agent may call from a new address (its lease changed), which
    // becomes the recorded one.
    foreign
        .mark_server_as_wiped(with_token(wiped(uuid), &token))
        .await
        .unwrap();
    let s = get(&f.client, uuid).await;
    assert!(is_clean(&s));
    assert_eq!(recorded(&s).as_deref(), Some("127.0.0.2"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_server_created_by_hand_binds_to_its_first_caller() {
    let f = start(false).await;
    let uuid = "a7000000-0000-4000-8000-000000000002";
    let servers: Api<Server> = Api::all(f.client.clone());
    let s: Server = serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2",
        "kind": "Server",
        "metadata": {"name": uuid},
        "spec": {"accepted": true},
    }))
    .unwrap();
    servers.create(&Default::default(), &s).await.unwrap();
    let mut agent = client_from("127.0.0.1", f.addr).await;
    let mut foreign = client_from("127.0.0.2", f.addr).await;
    agent
        .heartbeat(api::HeartbeatRequest { uuid: uuid.into() })
        .await
        .unwrap();
    assert_eq!(
        recorded(&get(&f.client, uuid).await).as_deref(),
        Some("127.0.0.1")
    );
    let e = foreign.mark_server_as_wiped(wiped(uuid)).await.unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    agent.mark_server_as_wiped(wiped(uuid)).await.unwrap();
    assert!(is_clean(&get(&f.client, uuid).await));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn insecure_agent_api_serves_anyone_as_upstream() {
    let f = start(true).await;
    let uuid = "a7000000-0000-4000-8000-000000000003";
    let mut agent = client_from("127.0.0.1", f.addr).await;
    let mut foreign = client_from("127.0.0.2", f.addr).await;
    agent.create_server(create_req(uuid)).await.unwrap();
    assert_eq!(recorded(&get(&f.client, uuid).await), None);
    accept(&f.client, uuid).await;
    foreign.mark_server_as_wiped(wiped(uuid)).await.unwrap();
    assert!(is_clean(&get(&f.client, uuid).await));
    assert_eq!(agent_token_of(&ipxe_from("127.0.0.1", f.addr, uuid)), None);
}
