//! Kernel arguments added by Sidero: the agent environment's command line and the four
//! SideroLink/config arguments appended to Talos environments at serve time (spec §5.3).

use crate::cmdline::Cmdline;
use crate::script::host_port;

/// Talos v1.13 machinery's default kernel arguments (hardening and console defaults), as the
/// agent environment and the `default` Environment start from them.
pub const TALOS_DEFAULT_ARGS: [&str; 9] = [
    "init_on_alloc=1",
    "slab_nomerge=",
    "pti=on",
    "consoleblank=0",
    "nvme_core.io_timeout=4294967295",
    "printk.devkmsg=on",
    "selinux=1",
    "module.sig_enforce=1",
    "proc_mem.force_override=never",
];

/// Kernel argument carrying the agent token.
pub const AGENT_TOKEN_ARG: &str = "sidero.token";

/// Where servers reach us: the advertised API endpoint (`--api-endpoint`, `--api-port`) and
/// the SideroLink server address (the `::1` of the installation's /64).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Endpoints {
    /// Host name or IP literal servers use to reach the HTTP/gRPC listener.
    pub api_host: String,
    /// Its port.
    pub api_port: u16,
    /// The SideroLink server's IPv6 address, without brackets or prefix length.
    pub siderolink_address: String,
}

/// The agent environment's command line for a server booting from `mac` (spec §5.3): Talos
/// defaults, console/initrd/panic settings, `sidero.mac` and `sidero.endpoint`, then the
/// operator's `--extra-agent-kernel-args` applied as overrides.
///
/// Unlike upstream, an IPv6 `sidero.endpoint` is bracketed so that it is a usable address.
pub fn agent_args(mac: Option<&str>, ep: &Endpoints, extra: &Cmdline) -> Vec<String> {
    agent_args_with_token(mac, ep, extra, None)
}

/// [`agent_args`] plus `sidero.token=<agent token>` (see [`crate::token::issue_agent`]) when
/// one is given; upstream agents ignore the unknown argument.
pub fn agent_args_with_token(
    mac: Option<&str>,
    ep: &Endpoints,
    extra: &Cmdline,
    token: Option<&str>,
) -> Vec<String> {
    let mut c = Cmdline::from_args(TALOS_DEFAULT_ARGS);
    for a in [
        "console=tty0",
        "console=ttyS0",
        "initrd=initramfs.xz",
        "panic=30",
    ] {
        c.append_arg(a);
    }
    c.push("sidero.mac", mac.unwrap_or_default());
    c.push("sidero.endpoint", &host_port(&ep.api_host, ep.api_port));
    if let Some(t) = token.filter(|t| !t.is_empty()) {
        c.push(AGENT_TOKEN_ARG, t);
    }
    c.apply_overrides(extra);
    c.items()
}

/// An Environment's arguments with the four arguments Talos needs to reach us appended, each
/// only when no argument with that key is present already (so operators can override them).
/// `config_token` (see [`crate::token`]) goes into the `talos.config` URL before the empty
/// `uuid=` that Talos fills in.
pub fn talos_args(env_args: &[String], ep: &Endpoints, config_token: Option<&str>) -> Vec<String> {
    let api = host_port(&ep.api_host, ep.api_port);
    let link = &ep.siderolink_address;
    let token = config_token
        .map(|t| format!("token={t}&"))
        .unwrap_or_default();
    let extra = [
        (
            "talos.config",
            format!("http://{api}/configdata?{token}uuid="),
        ),
        ("siderolink.api", api.clone()),
        ("talos.logging.kernel", format!("tcp://[{link}]:4001")),
        ("talos.events.sink", format!("[{link}]:4002")),
    ];
    let mut out = env_args.to_vec();
    for (key, value) in extra {
        let prefix = format!("{key}=");
        if !env_args.iter().any(|a| a.starts_with(&prefix)) {
            out.push(format!("{prefix}{value}"));
        }
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ep() -> Endpoints {
        Endpoints {
            api_host: "10.5.0.1".into(),
            api_port: 8081,
            siderolink_address: "fdae:2859:5bb1:7a03::1".into(),
        }
    }

    #[test]
    fn agent_args_match_upstream_order() {
        let args = agent_args(Some("52:54:00:12:34:56"), &ep(), &Cmdline::default());
        assert_eq!(
            args.join(" "),
            "init_on_alloc=1 slab_nomerge pti=on consoleblank=0 nvme_core.io_timeout=4294967295 \
             printk.devkmsg=on selinux=1 module.sig_enforce=1 proc_mem.force_override=never \
             console=tty0 console=ttyS0 initrd=initramfs.xz panic=30 \
             sidero.mac=52:54:00:12:34:56 sidero.endpoint=10.5.0.1:8081"
        );
    }

    #[test]
    fn agent_args_without_mac_and_with_overrides() {
        let extra = Cmdline::parse("console=ttyS1,115200n8 sidero.debug=1");
        let args = agent_args(None, &ep(), &extra).join(" ");
        assert!(
            args.contains(" console=ttyS1,115200n8 initrd=initramfs.xz"),
            "{args}"
        );
        assert!(!args.contains("console=tty0"));
        assert!(args.contains(" sidero.mac sidero.endpoint="), "{args}");
        assert!(args.ends_with(" sidero.debug=1"));
    }

    #[test]
    fn the_agent_token_follows_the_endpoint() {
        let args = agent_args_with_token(
            Some("52:54:00:12:34:56"),
            &ep(),
            &Cmdline::default(),
            Some("tok"),
        );
        let plain = agent_args(Some("52:54:00:12:34:56"), &ep(), &Cmdline::default());
        assert_eq!(args.last().map(String::as_str), Some("sidero.token=tok"));
        assert_eq!(&args[..args.len() - 1], &plain[..]);
        let none = agent_args_with_token(None, &ep(), &Cmdline::default(), Some(""));
        assert!(!none.iter().any(|a| a.starts_with("sidero.token")));
    }

    #[test]
    fn agent_endpoint_is_bracketed_for_ipv6() {
        let mut e = ep();
        e.api_host = "fd00::10".into();
        let args = agent_args(None, &e, &Cmdline::default());
        assert!(args.contains(&"sidero.endpoint=[fd00::10]:8081".to_string()));
    }

    #[test]
    fn talos_args_appended_unless_present() {
        let env = vec![
            "console=tty0".to_string(),
            "talos.config=http://x/y".to_string(),
        ];
        let args = talos_args(&env, &ep(), None);
        assert_eq!(
            args,
            [
                "console=tty0",
                "talos.config=http://x/y",
                "siderolink.api=10.5.0.1:8081",
                "talos.logging.kernel=tcp://[fdae:2859:5bb1:7a03::1]:4001",
                "talos.events.sink=[fdae:2859:5bb1:7a03::1]:4002",
            ]
        );
        let args = talos_args(&[], &ep(), None);
        assert_eq!(
            args[0],
            "talos.config=http://10.5.0.1:8081/configdata?uuid="
        );
    }

    #[test]
    fn the_config_token_goes_before_the_uuid_talos_fills_in() {
        let args = talos_args(&[], &ep(), Some("tok-123"));
        assert!(
            args.iter().any(|a| a.starts_with("talos.config=http://")
                && a.ends_with("/configdata?token=tok-123&uuid=")),
            "{args:?}"
        );
    }
}
