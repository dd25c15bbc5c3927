//! Redfish session auth, re-login, reset-type choice and timeouts against an in-test
//! Redfish server (axum), plus selection syntax.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use axum::Json;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use serde_json::{Value, json};
use sidero_power::redfish::{ResetKind, Scheme, choose_reset_type};
use sidero_power::{
    BmcInfo, BootMode, PowerError, PowerManager, PowerOutcome, PowerState, RedfishClient,
    RedfishConfig, RedfishEndpoint, RedfishSessions, SelectOptions, select_power_manager,
};

const PASS: &str = "hunter2-session";

#[derive(Default)]
struct Bmc {
    tokens: HashSet<String>,
    logins: usize,
    basic_requests: usize,
    resets: Vec<String>,
    patches: Vec<Value>,
    /// The Boot object as the BMC reports it.
    boot: Value,
    /// How many coming PATCHes to acknowledge and drop (a BMC losing writes).
    drop_patches: usize,
    deleted: Vec<String>,
}

type S = Arc<Mutex<Bmc>>;

fn authorized(s: &S, h: &HeaderMap) -> bool {
    let mut b = s.lock().unwrap();
    if h.contains_key("authorization") {
        b.basic_requests += 1;
        return false;
    }
    h.get("x-auth-token")
        .and_then(|t| t.to_str().ok())
        .is_some_and(|t| b.tokens.contains(t))
}

async fn start() -> (u16, S) {
    let s: S = Arc::default();
    let app = axum::Router::new()
        .route(
            "/redfish/v1/",
            get(|| async {
                Json(json!({"Links": {"Sessions": {"@odata.id": "/redfish/v1/SessionService/Sessions"}}}))
            }),
        )
        .route(
            "/redfish/v1/SessionService/Sessions",
            post(|State(s): State<S>, Json(b): Json<Value>| async move {
                if b["UserName"] != "admin" || b["Password"] != PASS {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let mut st = s.lock().unwrap();
                st.logins += 1;
                let tok = format!("tok-{}", st.logins);
                st.tokens.insert(tok.clone());
                let loc = format!("/redfish/v1/SessionService/Sessions/{}", st.logins);
                (StatusCode::CREATED, [("X-Auth-Token", tok), ("Location", loc)], "{}").into_response()
            }),
        )
        .route(
            "/redfish/v1/SessionService/Sessions/{id}",
            delete(|State(s): State<S>, Path(id): Path<String>| async move {
                s.lock().unwrap().deleted.push(id);
                StatusCode::NO_CONTENT
            }),
        )
        .route(
            "/redfish/v1/Systems",
            get(|State(s): State<S>, h: HeaderMap| async move {
                if !authorized(&s, &h) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                Json(json!({"Members": [{"@odata.id": "/redfish/v1/Systems/1"}]})).into_response()
            }),
        )
        .route(
            "/redfish/v1/Systems/1",
            get(|State(s): State<S>, h: HeaderMap| async move {
                if !authorized(&s, &h) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let boot = s.lock().unwrap().boot.clone();
                Json(json!({
                    "PowerState": "PoweringOn",
                    "Boot": boot,
                    "Actions": {"#ComputerSystem.Reset": {
                        "target": "/redfish/v1/Systems/1/Actions/Reset",
                        "@Redfish.ActionInfo": "/redfish/v1/Systems/1/ResetActionInfo",
                    }}
                }))
                .into_response()
            })
            .patch(|State(s): State<S>, h: HeaderMap, Json(b): Json<Value>| async move {
                if !authorized(&s, &h) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                let mut st = s.lock().unwrap();
                if st.drop_patches > 0 {
                    st.drop_patches -= 1;
                } else if let Some(boot) = b.get("Boot") {
                    st.boot = boot.clone();
                }
                st.patches.push(b);
                StatusCode::NO_CONTENT.into_response()
            }),
        )
        .route(
            "/redfish/v1/Systems/1/ResetActionInfo",
            get(|| async {
                Json(json!({"Parameters": [{"Name": "ResetType",
                    "AllowableValues": ["ForceOn", "ForceOff", "PowerCycle", "ForceRestart"]}]}))
            }),
        )
        .route(
            "/redfish/v1/Systems/1/Actions/Reset",
            post(|State(s): State<S>, h: HeaderMap, Json(b): Json<Value>| async move {
                if !authorized(&s, &h) {
                    return StatusCode::UNAUTHORIZED.into_response();
                }
                s.lock().unwrap().resets.push(b["ResetType"].as_str().unwrap().to_owned());
                Response::builder().status(400).body(axum::body::Body::from(
                    r#"{"error": {"message": "busy", "@Message.ExtendedInfo": [{"Message": "The BMC is busy."}]}}"#,
                )).unwrap()
            }),
        )
        .with_state(s.clone());
    let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = l.local_addr().unwrap().port();
    tokio::spawn(async move { axum::serve(l, app).await.unwrap() });
    (port, s)
}

fn client(port: u16, pass: &str, sessions: &RedfishSessions) -> RedfishClient {
    let ep =
        RedfishEndpoint::parse(&format!("http://127.0.0.1:{port}"), Scheme::Https, None).unwrap();
    let cfg = RedfishConfig {
        timeout: Duration::from_secs(5),
        sessions: sessions.clone(),
        ..RedfishConfig::default()
    };
    RedfishClient::new(ep, "admin", pass, cfg).unwrap()
}

#[tokio::test]
async fn session_auth_relogin_and_sharing() {
    let (port, s) = start().await;
    let sessions = RedfishSessions::new();
    let c = client(port, PASS, &sessions);
    assert_eq!(c.power_status().await.unwrap(), PowerState::On);
    assert_eq!(
        c.set_pxe_once(BootMode::Bios).await.unwrap(),
        PowerOutcome::Done
    );
    // A second client (next reconcile) reuses the session.
    let c2 = client(port, PASS, &sessions);
    assert_eq!(c2.power_status().await.unwrap(), PowerState::On);
    assert_eq!(s.lock().unwrap().logins, 1);
    // The BMC expires every session → one re-login, then success.
    s.lock().unwrap().tokens.clear();
    assert_eq!(
        c2.set_boot_disk_once(BootMode::Uefi).await.unwrap(),
        PowerOutcome::Done
    );
    {
        let b = s.lock().unwrap();
        assert_eq!((b.logins, b.basic_requests), (2, 0));
        assert_eq!(
            b.patches[0],
            json!({"Boot": {"BootSourceOverrideTarget": "Pxe", "BootSourceOverrideEnabled": "Once", "BootSourceOverrideMode": "Legacy"}})
        );
        assert_eq!(b.patches[1]["Boot"]["BootSourceOverrideTarget"], "Hdd");
        assert_eq!(b.patches[1]["Boot"]["BootSourceOverrideMode"], "UEFI");
        assert_eq!(b.patches.len(), 2, "kept overrides are not sent twice");
    }
    // A BMC that acknowledges the PATCH and drops it: read back, sent once more, kept.
    s.lock().unwrap().drop_patches = 1;
    assert_eq!(
        c2.set_pxe_once(BootMode::Uefi).await.unwrap(),
        PowerOutcome::Done
    );
    {
        let b = s.lock().unwrap();
        assert_eq!(b.patches.len(), 4, "the dropped override is sent again");
        assert_eq!(b.boot["BootSourceOverrideTarget"], "Pxe");
        assert_eq!(b.boot["BootSourceOverrideMode"], "UEFI");
    }
    // Reset types from ActionInfo; a Redfish error message is surfaced.
    let e = c2.power_cycle().await.unwrap_err();
    assert!(matches!(e, PowerError::Api { .. }), "{e:?}");
    assert!(
        e.to_string().contains("400 Bad Request: The BMC is busy."),
        "{e}"
    );
    let _ = c2.power_on().await;
    let _ = c2.power_off().await;
    assert_eq!(
        s.lock().unwrap().resets,
        ["PowerCycle", "ForceOn", "ForceOff"]
    );
    c2.logout().await.unwrap();
    assert_eq!(s.lock().unwrap().deleted, ["2"]);
}

#[tokio::test]
async fn wrong_password_is_an_auth_error_without_the_password() {
    let (port, s) = start().await;
    let c = client(port, "not-the-password", &RedfishSessions::new());
    let e = c.power_on().await.unwrap_err();
    assert!(matches!(e, PowerError::Auth { .. }), "{e:?}");
    let text = format!("{e} {e:?} {c:?}");
    assert!(
        text.contains("login") && !text.contains("not-the-password"),
        "{text}"
    );
    assert!(s.lock().unwrap().resets.is_empty());
}

#[tokio::test]
async fn silent_endpoint_times_out_within_the_timeout() {
    // Accepts TCP (kernel backlog) but never answers.
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let ep =
        RedfishEndpoint::parse(&l.local_addr().unwrap().to_string(), Scheme::Https, None).unwrap();
    let cfg = RedfishConfig {
        timeout: Duration::from_millis(500),
        tls: sidero_power::TlsVerification::InsecureSkipVerify,
        ..RedfishConfig::default()
    };
    let c = RedfishClient::new(ep, "admin", PASS, cfg).unwrap();
    let t = Instant::now();
    let e = c.power_status().await.unwrap_err();
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert!(matches!(e, PowerError::Timeout { .. }), "{e:?}");
    assert!(
        e.to_string().starts_with("Redfish BMC https://127.0.0.1:"),
        "{e}"
    );
}

#[test]
fn reset_type_choice() {
    let l = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let sushy = l(&[
        "On",
        "ForceOff",
        "GracefulShutdown",
        "ForceRestart",
        "ForceOn",
    ]);
    assert_eq!(
        choose_reset_type(ResetKind::Cycle, Some(&sushy)),
        Some("ForceRestart")
    );
    assert_eq!(
        choose_reset_type(ResetKind::Cycle, Some(&l(&["PowerCycle", "ForceRestart"]))),
        Some("PowerCycle")
    );
    assert_eq!(
        choose_reset_type(ResetKind::Cycle, None),
        Some("ForceRestart")
    );
    assert_eq!(
        choose_reset_type(ResetKind::On, Some(&l(&["ForceOn"]))),
        Some("ForceOn")
    );
    assert_eq!(choose_reset_type(ResetKind::On, None), Some("On"));
    assert_eq!(
        choose_reset_type(ResetKind::Off, Some(&l(&["GracefulShutdown"]))),
        None
    );
}

#[test]
fn selection_syntax() {
    let o = SelectOptions::default();
    let sel = |ep: &str, port: Option<u16>, iface: &str| {
        let b = BmcInfo {
            endpoint: ep.into(),
            port,
            user: "u".into(),
            pass: "p".into(),
            interface: Some(iface.into()),
        };
        select_power_manager(Some(&b), None, &o).map(|m| m.target())
    };
    assert_eq!(
        sel("10.0.0.9", None, "redfish").unwrap(),
        "Redfish BMC https://10.0.0.9:443"
    );
    assert_eq!(
        sel("10.0.0.9", Some(623), "redfish").unwrap(),
        "Redfish BMC https://10.0.0.9:443"
    );
    assert_eq!(
        sel("10.0.0.9", Some(8443), "redfish").unwrap(),
        "Redfish BMC https://10.0.0.9:8443"
    );
    assert_eq!(
        sel("10.0.0.9:8000", None, "redfish+http").unwrap(),
        "Redfish BMC http://10.0.0.9:8000"
    );
    assert_eq!(
        sel(
            "https://bmc.example/redfish/v1/Systems/1",
            None,
            "redfish+http"
        )
        .unwrap(),
        "Redfish BMC https://bmc.example:443"
    );
    let e = sel("https://root:topsecret@bmc", None, "redfish")
        .unwrap_err()
        .to_string();
    assert!(!e.contains("topsecret"), "{e}");
    // Credentials not populated yet → still no management, as for IPMI.
    let b = BmcInfo {
        endpoint: "x".into(),
        interface: Some("redfish".into()),
        ..BmcInfo::default()
    };
    assert!(select_power_manager(Some(&b), None, &o).unwrap().is_fake());
}
