//! The clusterctl variables of `infrastructure-components.yaml` (spec §10.3) and the
//! `${VAR:=default}` substitution clusterctl applies to them.

/// Every variable the components use, with its default: upstream's (spec §10.3), then ours
/// for the flags upstream lacks. `-` stands for "empty" because clusterctl cannot express an
/// empty default (the managers read `-` as empty).
pub const VARIABLES: &[(&str, &str)] = &[
    ("SIDERO_CONTROLLER_MANAGER_HOST_NETWORK", "false"),
    (
        "SIDERO_CONTROLLER_MANAGER_DEPLOYMENT_STRATEGY",
        "RollingUpdate",
    ),
    ("SIDERO_CONTROLLER_MANAGER_API_ENDPOINT", "-"),
    ("SIDERO_CONTROLLER_MANAGER_API_PORT", "8081"),
    ("SIDERO_CONTROLLER_MANAGER_CONTAINER_API_PORT", "8081"),
    ("SIDERO_CONTROLLER_MANAGER_EXTRA_AGENT_KERNEL_ARGS", "-"),
    (
        "SIDERO_CONTROLLER_MANAGER_BOOT_FROM_DISK_METHOD",
        "ipxe-exit",
    ),
    ("SIDERO_CONTROLLER_MANAGER_AUTO_ACCEPT_SERVERS", "false"),
    ("SIDERO_CONTROLLER_MANAGER_INSECURE_WIPE", "true"),
    ("SIDERO_CONTROLLER_MANAGER_AUTO_BMC_SETUP", "true"),
    ("SIDERO_CONTROLLER_MANAGER_SERVER_REBOOT_TIMEOUT", "20m"),
    ("SIDERO_CONTROLLER_MANAGER_IPMI_PXE_METHOD", "uefi"),
    ("SIDERO_CONTROLLER_MANAGER_DISABLE_DHCP_PROXY", "false"),
    ("SIDERO_CONTROLLER_MANAGER_TEST_POWER_EXPLICIT_FAILURE", "0"),
    ("SIDERO_CONTROLLER_MANAGER_TEST_POWER_SILENT_FAILURE", "0"),
    ("SIDERO_CONTROLLER_MANAGER_SIDEROLINK_ENDPOINT", "-"),
    ("SIDERO_CONTROLLER_MANAGER_SIDEROLINK_PORT", "51821"),
    (
        "SIDERO_CONTROLLER_MANAGER_EVENTS_NEGATIVE_ADDRESS_FILTER",
        "-",
    ),
    // Ours (not in upstream): sidero-controller-manager flags upstream does not have, each
    // defaulting to the binary's default except `DHCP_IPXE_CLIENTS`: the image carries
    // Debian's iPXE binaries, which have no embedded script (README "iPXE binaries").
    ("SIDERO_CONTROLLER_MANAGER_DHCP_IPXE_CLIENTS", "http-script"),
    ("SIDERO_CONTROLLER_MANAGER_HTTP_BIND", "0.0.0.0"),
    ("SIDERO_CONTROLLER_MANAGER_WEBHOOK_HOST", "-"),
    (
        "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_LEASE_DURATION",
        "10s",
    ),
    (
        "SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_RENEW_DEADLINE",
        "7s",
    ),
    ("SIDERO_CONTROLLER_MANAGER_LEADER_ELECT_RETRY_PERIOD", "1s"),
    ("SIDERO_CONTROLLER_MANAGER_LOGGING_FORMAT", "json"),
    ("SIDERO_CONTROLLER_MANAGER_INSECURE_CONFIGDATA", "false"),
    ("SIDERO_CONTROLLER_MANAGER_CONFIG_TOKEN_TTL", "1h"),
    (
        "SIDERO_CONTROLLER_MANAGER_CONFIG_TOKEN_BIND_ADDRESS",
        "true",
    ),
    ("SIDERO_CONTROLLER_MANAGER_INSECURE_AGENT_API", "false"),
    ("SIDERO_CONTROLLER_MANAGER_AGENT_TOKEN_TTL", "24h"),
    (
        "SIDERO_CONTROLLER_MANAGER_TEST_POWER_FAILURE_SCOPE",
        "management-api",
    ),
    ("SIDERO_CONTROLLER_MANAGER_IPMI_TIMEOUT", "2s"),
    ("SIDERO_CONTROLLER_MANAGER_IPMI_RETRIES", "2"),
    ("SIDERO_CONTROLLER_MANAGER_IPMI_CIPHER_SUITES", "17,3"),
    ("SIDERO_CONTROLLER_MANAGER_REDFISH_TIMEOUT", "20s"),
    ("SIDERO_CONTROLLER_MANAGER_REDFISH_AUTH", "auto"),
    (
        "SIDERO_CONTROLLER_MANAGER_REDFISH_INSECURE_SKIP_VERIFY",
        "false",
    ),
    ("SIDERO_CONTROLLER_MANAGER_MANAGEMENT_API_TIMEOUT", "10s"),
    ("SIDERO_CONTROLLER_MANAGER_IPXE_DIR", "/var/lib/sidero/ipxe"),
    ("SIDERO_CONTROLLER_MANAGER_IPXE_ARM64_DIR", "-"),
    ("SIDERO_CONTROLLER_MANAGER_TFTP_MODE", "single"),
    ("SIDERO_CONTROLLER_MANAGER_TALOS_RELEASE", "v1.13.0"),
    (
        "SIDERO_CONTROLLER_MANAGER_TALOS_ASSETS_BASE",
        "https://github.com/siderolabs/talos/releases/download",
    ),
    (
        "SIDERO_CONTROLLER_MANAGER_SIDEROLINK_INTERFACE",
        "siderolink",
    ),
    ("SIDERO_CONTROLLER_MANAGER_SIDEROLINK_MODE", "auto"),
    ("SIDERO_CONTROLLER_MANAGER_SERVER_LOG_LINES", "1000"),
    // Ours: caps-controller-manager's settable flags (upstream has no variables for it).
    ("CAPS_CONTROLLER_MANAGER_WEBHOOK_HOST", "-"),
    ("CAPS_CONTROLLER_MANAGER_LEADER_ELECT_LEASE_DURATION", "10s"),
    ("CAPS_CONTROLLER_MANAGER_LEADER_ELECT_RENEW_DEADLINE", "7s"),
    ("CAPS_CONTROLLER_MANAGER_LEADER_ELECT_RETRY_PERIOD", "1s"),
    ("CAPS_CONTROLLER_MANAGER_LOGGING_FORMAT", "json"),
    ("CAPI_DIAGNOSTICS_ADDRESS", ":8443"),
    ("CAPI_INSECURE_DIAGNOSTICS", "false"),
];

/// Marks a reference whose value is not a string in the object (a bool or a port number):
/// the YAML writer must leave it unquoted so that the substituted text parses as that type.
const RAW_OPEN: &str = "RAW<<";
const RAW_CLOSE: &str = ">>RAW";

/// The default of a variable from [`VARIABLES`].
pub fn default_of(name: &str) -> Option<&'static str> {
    VARIABLES.iter().find(|(n, _)| *n == name).map(|(_, d)| *d)
}

/// `${NAME:=default}` for a string field (or a part of one, such as a flag value).
pub fn var(name: &str) -> String {
    format!("${{{name}:={}}}", default_of(name).unwrap_or_default())
}

/// `${NAME:=default}` for a field that is a bool or an integer once substituted.
pub fn raw_var(name: &str) -> String {
    format!("{RAW_OPEN}{}{RAW_CLOSE}", var(name))
}

/// Removes the quoting a YAML writer may have put around [`raw_var`] references.
pub fn unquote_raw(yaml: &str) -> String {
    let mut out = String::with_capacity(yaml.len());
    let mut rest = yaml;
    while let Some(start) = rest.find(RAW_OPEN) {
        let Some(len) = rest[start..].find(RAW_CLOSE) else {
            break;
        };
        let (mut head, inner) = (&rest[..start], &rest[start + RAW_OPEN.len()..start + len]);
        let mut tail = &rest[start + len + RAW_CLOSE.len()..];
        for q in ['"', '\''] {
            if head.ends_with(q) && tail.starts_with(q) {
                head = &head[..head.len() - 1];
                tail = &tail[1..];
            }
        }
        out.push_str(head);
        out.push_str(inner);
        rest = tail;
    }
    out.push_str(rest);
    out
}

/// A reference that cannot be substituted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum SubstError {
    /// `${NAME}` without a default and without a value.
    #[error("variable {0} has no value and no default")]
    Missing(String),
    /// `${` without its `}`.
    #[error("unterminated variable reference at byte {0}")]
    Unterminated(usize),
}

/// Every variable referenced as `${NAME}` or `${NAME:=default}`, in order of first use.
pub fn referenced(text: &str) -> Vec<(String, Option<String>)> {
    let mut out: Vec<(String, Option<String>)> = Vec::new();
    let mut rest = text;
    while let Some(start) = rest.find("${") {
        let Some(len) = rest[start..].find('}') else {
            break;
        };
        let body = &rest[start + 2..start + len];
        let (name, default) = match body.split_once(":=") {
            Some((n, d)) => (n.to_string(), Some(d.to_string())),
            None => (body.to_string(), None),
        };
        if !out.iter().any(|(n, d)| *n == name && *d == default) {
            out.push((name, default));
        }
        rest = &rest[start + len + 1..];
    }
    out
}

/// Substitutes `${NAME}` and `${NAME:=default}` as clusterctl does: the value from `lookup`,
/// else the default.
pub fn envsubst(text: &str, lookup: impl Fn(&str) -> Option<String>) -> Result<String, SubstError> {
    let mut out = String::with_capacity(text.len());
    let mut pos = 0;
    while let Some(found) = text[pos..].find("${") {
        let start = pos + found;
        out.push_str(&text[pos..start]);
        let len = text[start..]
            .find('}')
            .ok_or(SubstError::Unterminated(start))?;
        let body = &text[start + 2..start + len];
        let (name, default) = match body.split_once(":=") {
            Some((n, d)) => (n, Some(d)),
            None => (body, None),
        };
        match lookup(name).or(default.map(str::to_string)) {
            Some(v) => out.push_str(&v),
            None => return Err(SubstError::Missing(name.to_string())),
        }
        pos = start + len + 1;
    }
    out.push_str(&text[pos..]);
    Ok(out)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn substitutes_values_then_defaults() {
        let t = "a=${A:=1} b=${B:=x} c=${C}";
        let got = envsubst(t, |n| (n != "B").then(|| format!("<{n}>"))).unwrap();
        assert_eq!(got, "a=<A> b=x c=<C>");
        assert_eq!(
            envsubst("${C}", |_| None),
            Err(SubstError::Missing("C".into()))
        );
        assert_eq!(
            envsubst("x ${C", |_| None),
            Err(SubstError::Unterminated(2))
        );
    }

    #[test]
    fn raw_references_lose_their_quotes() {
        let r = raw_var("SIDERO_CONTROLLER_MANAGER_HOST_NETWORK");
        let y = format!("a: \"{r}\"\nb: '{r}'\nc: {r}\n");
        let want = "${SIDERO_CONTROLLER_MANAGER_HOST_NETWORK:=false}";
        assert_eq!(
            unquote_raw(&y),
            format!("a: {want}\nb: {want}\nc: {want}\n")
        );
    }

    #[test]
    fn lists_references() {
        let r = referenced("${A:=1} ${B} ${A:=1} ${A:=2}");
        assert_eq!(
            r,
            vec![
                ("A".into(), Some("1".into())),
                ("B".into(), None),
                ("A".into(), Some("2".into()))
            ]
        );
    }
}
