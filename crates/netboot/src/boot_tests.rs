//! Every branch of the `/ipxe` decision (spec §5.3), driven the way the HTTP handler drives it.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::panic,
    clippy::type_complexity
)]

use serde_json::json;

use super::*;
use crate::args::Endpoints;

const UUID: &str = "4c4c4544-0039-3010-8048-b7c04f563232";

fn config() -> BootConfig {
    BootConfig {
        endpoints: Endpoints {
            api_host: "10.5.0.1".into(),
            api_port: 8081,
            siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
        },
        extra_agent_args: Cmdline::default(),
        boot_from_disk_method: "ipxe-exit".into(),
    }
}

fn server(spec: serde_json::Value, pxe_booted: bool) -> Server {
    let conditions = if pxe_booted {
        json!([{"type": "PXEBooted", "status": "True", "lastTransitionTime": "2026-01-01T00:00:00Z"}])
    } else {
        json!([])
    };
    serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Server",
        "metadata": {"name": UUID}, "spec": spec,
        "status": {"ready": true, "inUse": true, "isClean": false, "conditions": conditions}
    }))
    .unwrap()
}

fn binding(class: Option<&str>) -> ServerBinding {
    let mut spec = json!({"metalMachineRef": {"name": "m", "namespace": "default"},
                          "siderolink": {"address": "", "publicKey": ""}});
    if let Some(c) = class {
        spec["serverClassRef"] = json!({"name": c});
    }
    serde_json::from_value(json!({
        "apiVersion": "infrastructure.cluster.x-k8s.io/v1alpha3", "kind": "ServerBinding",
        "metadata": {"name": UUID}, "spec": spec
    }))
    .unwrap()
}

fn class(spec: serde_json::Value) -> ServerClass {
    serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "ServerClass",
        "metadata": {"name": "c"}, "spec": spec
    }))
    .unwrap()
}

fn env(ready: bool) -> Environment {
    let url = "http://assets/vmlinuz";
    serde_json::from_value(json!({
        "apiVersion": "metal.sidero.dev/v1alpha2", "kind": "Environment",
        "metadata": {"name": "e"},
        "spec": {"kernel": {"url": url, "args": ["console=ttyS0", "talos.platform=metal"]}},
        "status": {"conditions": [{"url": url, "status": if ready {"True"} else {"False"}, "type": "Ready"}]}
    }))
    .unwrap()
}

/// Runs the decision like the handler: answers `NeedClass`/`NeedEnvironment` from the given
/// lookups and records which names were asked for.
fn run(
    server: Lookup<'_, Server>,
    binding: Lookup<'_, ServerBinding>,
    class: Lookup<'_, ServerClass>,
    environment: Lookup<'_, Environment>,
) -> (Response, Vec<String>) {
    let cfg = config();
    let query = parse_query(&format!("uuid={UUID}&mac=52-54-00-12-34-56&arch=x86_64"));
    let mut inputs = Inputs {
        query: &query,
        server,
        binding,
        class: None,
        environment: None,
        config: &cfg,
        config_token: None,
        agent_token: None,
    };
    let mut asked = Vec::new();
    for _ in 0..3 {
        match decide(&inputs) {
            Decision::Respond(r) => return (r, asked),
            Decision::NeedClass(n) => {
                asked.push(format!("class/{n}"));
                inputs.class = Some(class);
            }
            Decision::NeedEnvironment(n) => {
                asked.push(format!("environment/{n}"));
                inputs.environment = Some(environment);
            }
        }
    }
    panic!("decision did not converge: {asked:?}");
}

#[test]
fn query_parsing() {
    let q = parse_query("uuid=abc&mac=52-54-00-AB-cd-ef&arch=arm64&mac=00:00:00:00:00:01");
    assert_eq!(q.uuid, "abc");
    assert_eq!(q.mac.as_deref(), Some("52:54:00:ab:cd:ef"));
    assert_eq!(q.arch, Arch::Arm64);
    let q = parse_query("uuid=x&mac=52%3A54%3A00%3A12%3A34%3A56&arch=i386");
    assert_eq!(q.mac.as_deref(), Some("52:54:00:12:34:56"));
    assert_eq!(q.arch, Arch::Amd64);
    assert_eq!(parse_query("mac=zz:zz&arch=").mac, None);
    assert_eq!(parse_query("").uuid, "");
}

#[test]
fn unknown_server_boots_the_agent() {
    let (r, asked) = run(
        Lookup::NotFound,
        Lookup::NotFound,
        Lookup::NotFound,
        Lookup::NotFound,
    );
    assert_eq!((r.status, r.branch), (200, "agent"));
    assert!(
        r.body
            .starts_with("#!ipxe\nkernel /env/agent-amd64/vmlinuz init_on_alloc=1 ")
    );
    assert!(
        r.body
            .contains(" sidero.mac=52:54:00:12:34:56 sidero.endpoint=10.5.0.1:8081\n")
    );
    assert!(
        r.body
            .contains("\ninitrd /env/agent-amd64/initramfs.xz\nboot\n")
    );
    assert!(asked.is_empty());
}

#[test]
fn unallocated_server_boots_the_agent_even_when_not_accepted() {
    let s = server(json!({"accepted": false}), true);
    let (r, _) = run(
        Lookup::Found(&s),
        Lookup::NotFound,
        Lookup::NotFound,
        Lookup::NotFound,
    );
    assert_eq!(r.branch, "agent");
}

#[test]
fn lookup_failures_are_500() {
    let s = server(json!({"accepted": true}), false);
    assert_eq!(
        run(
            Lookup::Failed,
            Lookup::NotFound,
            Lookup::NotFound,
            Lookup::NotFound
        )
        .0
        .status,
        500
    );
    assert_eq!(
        run(
            Lookup::Found(&s),
            Lookup::Failed,
            Lookup::NotFound,
            Lookup::NotFound
        )
        .0
        .status,
        500
    );
    let b = binding(None);
    assert_eq!(
        run(
            Lookup::Found(&s),
            Lookup::Found(&b),
            Lookup::NotFound,
            Lookup::Failed
        )
        .0
        .status,
        500
    );
}

#[test]
fn boot_from_disk_precedence_and_methods() {
    let b_class = binding(Some("c"));
    let b_none = binding(None);
    let c_404 = class(json!({"bootFromDiskMethod": "http-404"}));
    let c_empty = class(json!({}));
    // (server method, binding, class lookup, expected status, expected body, classes asked)
    let s_own = server(
        json!({"accepted": true, "bootFromDiskMethod": "ipxe-sanboot"}),
        true,
    );
    let s_none = server(json!({"accepted": true}), true);
    let s_odd = server(
        json!({"accepted": true, "bootFromDiskMethod": "warp-drive"}),
        true,
    );
    let cases: Vec<(
        &Server,
        &ServerBinding,
        Lookup<'_, ServerClass>,
        u16,
        &str,
        usize,
    )> = vec![
        (
            &s_own,
            &b_class,
            Lookup::Found(&c_404),
            200,
            SANBOOT_SCRIPT,
            0,
        ),
        (&s_none, &b_class, Lookup::Found(&c_404), 404, "", 1),
        (
            &s_none,
            &b_class,
            Lookup::Found(&c_empty),
            200,
            EXIT_SCRIPT,
            1,
        ),
        (&s_none, &b_class, Lookup::NotFound, 500, "", 1),
        (&s_none, &b_class, Lookup::Failed, 500, "", 1),
        (&s_none, &b_none, Lookup::NotFound, 200, EXIT_SCRIPT, 0),
        (&s_odd, &b_none, Lookup::NotFound, 200, EXIT_SCRIPT, 0),
    ];
    for (i, (s, b, c, status, body, asked_n)) in cases.into_iter().enumerate() {
        let (r, asked) = run(Lookup::Found(s), Lookup::Found(b), c, Lookup::NotFound);
        assert_eq!(
            (r.status, r.body.as_str(), r.branch),
            (status, body, if status == 500 { "error" } else { "disk" }),
            "case {i}"
        );
        assert_eq!(asked.len(), asked_n, "case {i}: {asked:?}");
    }
}

#[test]
fn global_flag_applies_without_server_or_class_method() {
    let s = server(json!({"accepted": true}), true);
    let b = binding(None);
    let cfg = BootConfig {
        boot_from_disk_method: "http-404".into(),
        ..config()
    };
    let q = parse_query("uuid=x");
    let i = Inputs {
        query: &q,
        server: Lookup::Found(&s),
        binding: Lookup::Found(&b),
        class: None,
        environment: None,
        config: &cfg,
        config_token: None,
        agent_token: None,
    };
    assert!(matches!(
        decide(&i),
        Decision::Respond(Response { status: 404, .. })
    ));
}

#[test]
fn pxe_boot_always_serves_talos_again() {
    let s = server(json!({"accepted": true, "pxeBootAlways": true}), true);
    let b = binding(None);
    let e = env(true);
    let (r, asked) = run(
        Lookup::Found(&s),
        Lookup::Found(&b),
        Lookup::NotFound,
        Lookup::Found(&e),
    );
    assert_eq!((r.status, r.branch), (200, "environment"));
    assert_eq!(asked, ["environment/default"]);
}

#[test]
fn environment_precedence() {
    let e = env(true);
    let s_own = server(
        json!({"accepted": true, "environmentRef": {"name": "mine"}}),
        false,
    );
    let s_none = server(json!({"accepted": true}), false);
    let c_env = class(json!({"environmentRef": {"name": "from-class"}}));
    let c_none = class(json!({}));
    let b_class = binding(Some("c"));
    let run_env = |s, b, c| run(Lookup::Found(s), Lookup::Found(b), c, Lookup::Found(&e)).1;
    assert_eq!(
        run_env(&s_own, &b_class, Lookup::Found(&c_env)),
        ["environment/mine"]
    );
    assert_eq!(
        run_env(&s_none, &b_class, Lookup::Found(&c_env)),
        ["class/c", "environment/from-class"]
    );
    assert_eq!(
        run_env(&s_none, &b_class, Lookup::Found(&c_none)),
        ["class/c", "environment/default"]
    );
    assert_eq!(
        run_env(&s_none, &binding(None), Lookup::NotFound),
        ["environment/default"]
    );
}

#[test]
fn missing_class_or_environment_is_404_and_unready_is_412() {
    let s = server(json!({"accepted": true}), false);
    let b = binding(Some("c"));
    let (r, _) = run(
        Lookup::Found(&s),
        Lookup::Found(&b),
        Lookup::NotFound,
        Lookup::NotFound,
    );
    assert_eq!(r.status, 404);
    let b = binding(None);
    let (r, _) = run(
        Lookup::Found(&s),
        Lookup::Found(&b),
        Lookup::NotFound,
        Lookup::NotFound,
    );
    assert_eq!(r.status, 404);
    let e = env(false);
    let (r, _) = run(
        Lookup::Found(&s),
        Lookup::Found(&b),
        Lookup::NotFound,
        Lookup::Found(&e),
    );
    assert_eq!(
        (r.status, r.body.as_str()),
        (412, "environment \"default\" is not ready")
    );
}

#[test]
fn talos_environment_gets_the_four_args() {
    let s = server(json!({"accepted": true}), false);
    let b = binding(None);
    let e = env(true);
    let (r, _) = run(
        Lookup::Found(&s),
        Lookup::Found(&b),
        Lookup::NotFound,
        Lookup::Found(&e),
    );
    assert_eq!(
        r.body,
        "#!ipxe\nkernel /env/default/vmlinuz console=ttyS0 talos.platform=metal \
         talos.config=http://10.5.0.1:8081/configdata?uuid= siderolink.api=10.5.0.1:8081 \
         talos.logging.kernel=tcp://[fdae:2859:5bb1:7a03::1]:4001 \
         talos.events.sink=[fdae:2859:5bb1:7a03::1]:4002\ninitrd /env/default/initramfs.xz\nboot\n"
    );
}
