//! The `/ipxe` decision (spec §5.3), as a pure function the HTTP handler calls in a loop:
//! it either answers, or names the one object it still needs (a ServerClass or an
//! Environment), which the handler looks up and passes back in.

use sidero_api::infra::v1alpha3::ServerBinding;
use sidero_api::metal::v1alpha2::{CONDITION_PXE_BOOTED, Environment, Server, ServerClass};

use crate::args::{Endpoints, agent_args_with_token, talos_args};
use crate::cmdline::Cmdline;
use crate::script::{EXIT_SCRIPT, SANBOOT_SCRIPT, environment_script};

/// CPU architecture of the booting machine, from iPXE's `${buildarch}`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Arch {
    /// x86-64 (also iPXE's `i386` and `x86_64`, and anything unknown).
    Amd64,
    /// 64-bit ARM.
    Arm64,
}

impl Arch {
    /// `amd64` or `arm64`.
    pub fn as_str(self) -> &'static str {
        match self {
            Arch::Amd64 => "amd64",
            Arch::Arm64 => "arm64",
        }
    }
}

/// The parameters of a `/ipxe` request that matter.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IpxeQuery {
    /// The SMBIOS UUID, as iPXE prints it.
    pub uuid: String,
    /// The boot NIC's MAC in lower-case colon form, when it parsed.
    pub mac: Option<String>,
    /// The machine's architecture.
    pub arch: Arch,
}

/// Parses the query string of `/ipxe`: first value of each key wins; `mac` is kept only when
/// it is a MAC address (colon or hyphen form) and normalized; `arch=arm64` or amd64.
pub fn parse_query(query: &str) -> IpxeQuery {
    let mut uuid = None;
    let mut mac = None;
    let mut arch = None;
    for pair in query.split('&') {
        let (k, v) = pair.split_once('=').unwrap_or((pair, ""));
        let v = percent_decode(v);
        match k {
            "uuid" if uuid.is_none() => uuid = Some(v),
            "mac" if mac.is_none() => mac = Some(normalize_mac(&v)),
            "arch" if arch.is_none() => arch = Some(v),
            _ => {}
        }
    }
    IpxeQuery {
        uuid: uuid.unwrap_or_default(),
        mac: mac.flatten(),
        arch: if arch.as_deref() == Some("arm64") {
            Arch::Arm64
        } else {
            Arch::Amd64
        },
    }
}

fn percent_decode(s: &str) -> String {
    let b = s.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let hex = |c: u8| (c as char).to_digit(16);
        match (b[i], b.get(i + 1).copied(), b.get(i + 2).copied()) {
            (b'%', Some(h), Some(l)) if hex(h).is_some() && hex(l).is_some() => {
                out.push(((hex(h).unwrap_or(0) << 4) | hex(l).unwrap_or(0)) as u8);
                i += 3;
            }
            (b'+', _, _) => {
                out.push(b' ');
                i += 1;
            }
            (c, _, _) => {
                out.push(c);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// `aa-bb-cc-dd-ee-ff` or `AA:BB:…` → `aa:bb:cc:dd:ee:ff`; `None` unless six hex octets.
pub fn normalize_mac(s: &str) -> Option<String> {
    let parts: Vec<&str> = s.split([':', '-']).collect();
    let ok = parts.len() == 6
        && parts
            .iter()
            .all(|p| p.len() == 2 && p.chars().all(|c| c.is_ascii_hexdigit()));
    ok.then(|| parts.join(":").to_ascii_lowercase())
}

/// The result of looking an object up.
#[derive(Debug)]
pub enum Lookup<'a, T> {
    /// It exists.
    Found(&'a T),
    /// It does not exist.
    NotFound,
    /// The lookup failed for another reason (the API server is unreachable, …).
    Failed,
}

// Manual impls: a derive would require `T: Copy`, but only the reference is copied.
impl<T> Clone for Lookup<'_, T> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<T> Copy for Lookup<'_, T> {}

/// Settings of the boot decision that come from flags.
#[derive(Clone, Debug)]
pub struct BootConfig {
    /// Where servers reach us.
    pub endpoints: Endpoints,
    /// `--extra-agent-kernel-args`.
    pub extra_agent_args: Cmdline,
    /// `--boot-from-disk-method`.
    pub boot_from_disk_method: String,
}

/// An HTTP answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Response {
    /// Status code.
    pub status: u16,
    /// Body (an iPXE script, an error text, or empty).
    pub body: String,
    /// Which branch answered, for logs and metrics (`agent`, `disk`, `environment`, `error`).
    pub branch: &'static str,
}

/// What the decision needs next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Decision {
    /// Answer with this.
    Respond(Response),
    /// Look up this ServerClass and decide again.
    NeedClass(String),
    /// Look up this Environment and decide again.
    NeedEnvironment(String),
}

/// Everything known so far about one `/ipxe` request.
pub struct Inputs<'a> {
    /// The parsed query.
    pub query: &'a IpxeQuery,
    /// The Server named by the UUID.
    pub server: Lookup<'a, Server>,
    /// The ServerBinding of the same name.
    pub binding: Lookup<'a, ServerBinding>,
    /// The binding's ServerClass, once asked for.
    pub class: Option<Lookup<'a, ServerClass>>,
    /// The Environment, once asked for.
    pub environment: Option<Lookup<'a, Environment>>,
    /// Flag settings.
    pub config: &'a BootConfig,
    /// The config token for this server and requester, when config release is authenticated.
    pub config_token: Option<&'a str>,
    /// The agent token handed to the agent environment (`sidero.token=`), when the Agent API
    /// is authenticated and the requester may have one.
    pub agent_token: Option<&'a str>,
}

fn respond(status: u16, body: impl Into<String>, branch: &'static str) -> Decision {
    Decision::Respond(Response {
        status,
        body: body.into(),
        branch,
    })
}

fn non_empty(s: Option<&str>) -> Option<&str> {
    s.filter(|s| !s.is_empty())
}

/// Decides one step of `/ipxe`; see the module docs.
pub fn decide(i: &Inputs<'_>) -> Decision {
    let server = match i.server {
        Lookup::Failed => return respond(500, "", "error"),
        Lookup::NotFound => return agent(i),
        Lookup::Found(s) => s,
    };
    let binding = match i.binding {
        Lookup::Failed => return respond(500, "", "error"),
        Lookup::NotFound => return agent(i),
        Lookup::Found(b) => b,
    };
    let class_name = non_empty(
        binding
            .spec
            .server_class_ref
            .as_ref()
            .and_then(|r| r.name.as_deref()),
    );
    let installed = server.condition(CONDITION_PXE_BOOTED).is_some();
    if installed && !server.spec.pxe_boot_always.unwrap_or(false) {
        let own = non_empty(server.spec.boot_from_disk_method.as_deref());
        let method = match (own, class_name, i.class) {
            (Some(m), _, _) => m.to_string(),
            (None, Some(name), None) => return Decision::NeedClass(name.to_string()),
            (None, Some(_), Some(Lookup::Found(c))) => {
                non_empty(c.spec.boot_from_disk_method.as_deref())
                    .unwrap_or(&i.config.boot_from_disk_method)
                    .to_string()
            }
            (None, Some(_), Some(_)) => return respond(500, "", "error"),
            (None, None, _) => i.config.boot_from_disk_method.clone(),
        };
        return disk(&method);
    }
    let env_name = match (server.spec.environment_name(), class_name, i.class) {
        (Some(n), _, _) => n.to_string(),
        (None, Some(name), None) => return Decision::NeedClass(name.to_string()),
        (None, Some(_), Some(Lookup::Found(c))) => non_empty(
            c.spec
                .environment_ref
                .as_ref()
                .and_then(|r| r.name.as_deref()),
        )
        .unwrap_or(Environment::DEFAULT)
        .to_string(),
        (None, Some(_), Some(Lookup::NotFound)) => return respond(404, "", "error"),
        (None, Some(_), Some(Lookup::Failed)) => return respond(500, "", "error"),
        (None, None, _) => Environment::DEFAULT.to_string(),
    };
    let env = match i.environment {
        None => return Decision::NeedEnvironment(env_name),
        Some(Lookup::NotFound) => return respond(404, "", "error"),
        Some(Lookup::Failed) => return respond(500, "", "error"),
        Some(Lookup::Found(e)) => e,
    };
    if !env.is_ready() {
        return respond(
            412,
            format!("environment {env_name:?} is not ready"),
            "error",
        );
    }
    let args = talos_args(env.spec.kernel_args(), &i.config.endpoints, i.config_token);
    respond(200, environment_script(&env_name, &args), "environment")
}

fn agent(i: &Inputs<'_>) -> Decision {
    let name = format!("agent-{}", i.query.arch.as_str());
    let args = agent_args_with_token(
        i.query.mac.as_deref(),
        &i.config.endpoints,
        &i.config.extra_agent_args,
        i.agent_token,
    );
    respond(200, environment_script(&name, &args), "agent")
}

fn disk(method: &str) -> Decision {
    match method {
        "http-404" => respond(404, "", "disk"),
        "ipxe-sanboot" => respond(200, SANBOOT_SCRIPT, "disk"),
        // `ipxe-exit`, and any value we do not know, as upstream.
        _ => respond(200, EXIT_SCRIPT, "disk"),
    }
}

#[cfg(test)]
#[path = "boot_tests.rs"]
mod tests;
