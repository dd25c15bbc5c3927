//! The kernel arguments the agent reads: `sidero.mac=<boot NIC MAC>` and
//! `sidero.endpoint=<host:port>` of the Agent API (rendered by `sidero-netboot`'s
//! `agent_args`). Later occurrences override earlier ones, as the kernel's own parameters do.

/// What the agent needs from the kernel command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AgentArgs {
    /// MAC of the boot NIC, lower-case colon form.
    pub mac: String,
    /// `host:port` (IPv6 hosts bracketed) of the Agent API.
    pub endpoint: String,
    /// `sidero.token=`: the agent token `/ipxe` hands to accepted servers, sent with every
    /// Agent API call.
    pub token: Option<String>,
}

/// Why the command line does not tell the agent what to do.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CmdlineError {
    /// `sidero.mac` is absent or empty.
    #[error("no MAC found: the kernel command line has no sidero.mac=<mac>")]
    NoMac,
    /// `sidero.mac` is not six hex octets.
    #[error("sidero.mac={0:?} is not a MAC address (six hex octets separated by ':' or '-')")]
    BadMac(String),
    /// `sidero.endpoint` is absent or empty.
    #[error("no endpoint found: the kernel command line has no sidero.endpoint=<host:port>")]
    NoEndpoint,
    /// `sidero.endpoint` has no port.
    #[error("sidero.endpoint={0:?} is not host:port")]
    BadEndpoint(String),
}

/// Reads the agent's arguments from a kernel command line (`/proc/cmdline`).
pub fn parse(text: &str) -> Result<AgentArgs, CmdlineError> {
    let mut mac = None;
    let mut endpoint = None;
    let mut agent_token = None;
    for token in tokenize(text) {
        match token.split_once('=') {
            Some(("sidero.mac", v)) => mac = Some(v.to_string()),
            Some(("sidero.token", v)) => agent_token = Some(v.to_string()),
            Some(("sidero.endpoint", v)) => endpoint = Some(v.to_string()),
            _ => {}
        }
    }
    let mac = mac.filter(|m| !m.is_empty()).ok_or(CmdlineError::NoMac)?;
    let mac = normalize_mac(&mac).ok_or(CmdlineError::BadMac(mac))?;
    let endpoint = endpoint
        .filter(|e| !e.is_empty())
        .ok_or(CmdlineError::NoEndpoint)?;
    if !has_port(&endpoint) {
        return Err(CmdlineError::BadEndpoint(endpoint));
    }
    Ok(AgentArgs {
        mac,
        endpoint,
        token: agent_token.filter(|t| !t.is_empty()),
    })
}

/// `aa:bb:cc:dd:ee:ff` from any case and `:`/`-` separators; `None` unless six hex octets.
pub fn normalize_mac(s: &str) -> Option<String> {
    let octets: Vec<&str> = s.split([':', '-']).collect();
    let ok = octets.len() == 6
        && octets
            .iter()
            .all(|o| o.len() == 2 && o.bytes().all(|b| b.is_ascii_hexdigit()));
    ok.then(|| octets.join(":").to_ascii_lowercase())
}

fn has_port(endpoint: &str) -> bool {
    let port = match endpoint.strip_prefix('[') {
        Some(rest) => rest.split_once("]:").map(|(_, p)| p),
        None => endpoint.rsplit_once(':').map(|(_, p)| p),
    };
    port.is_some_and(|p| p.parse::<u16>().is_ok_and(|p| p != 0))
}

/// Splits on whitespace; double quotes group a value with spaces (and are removed).
fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut quoted = false;
    let mut any = false;
    for c in text.chars() {
        match c {
            '"' => {
                quoted = !quoted;
                any = true;
            }
            c if c.is_whitespace() && !quoted => {
                if any {
                    out.push(std::mem::take(&mut cur));
                    any = false;
                }
            }
            c => {
                cur.push(c);
                any = true;
            }
        }
    }
    if any {
        out.push(cur);
    }
    out
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn ok(mac: &str, endpoint: &str) -> Result<AgentArgs, CmdlineError> {
        Ok(AgentArgs {
            mac: mac.into(),
            endpoint: endpoint.into(),
            token: None,
        })
    }

    #[test]
    fn the_agent_token_is_read_when_present() {
        let a =
            parse("sidero.mac=52:54:00:12:34:56 sidero.endpoint=h:1 sidero.token=AbC-_9").unwrap();
        assert_eq!(a.token.as_deref(), Some("AbC-_9"));
        let a = parse("sidero.mac=52:54:00:12:34:56 sidero.endpoint=h:1 sidero.token=").unwrap();
        assert_eq!(a.token, None);
    }

    #[test]
    fn table() {
        let cases = [
            (
                "initrd=initramfs.xz console=ttyS0 sidero.mac=52:54:00:12:34:56 sidero.endpoint=10.5.0.1:8081",
                ok("52:54:00:12:34:56", "10.5.0.1:8081"),
            ),
            (
                "sidero.endpoint=[fd00::10]:8081 sidero.mac=52-54-00-AB-CD-EF\n",
                ok("52:54:00:ab:cd:ef", "[fd00::10]:8081"),
            ),
            (
                "sidero.mac=00:00:00:00:00:01 sidero.mac=00:00:00:00:00:02 sidero.endpoint=h:1",
                ok("00:00:00:00:00:02", "h:1"),
            ),
            (
                "a=\"b c\" sidero.mac=\"52:54:00:12:34:56\" sidero.endpoint=sidero.example:8081",
                ok("52:54:00:12:34:56", "sidero.example:8081"),
            ),
            (
                // UEFI iPXE puts the image name first.
                "vmlinuz init_on_alloc=1 sidero.mac=52:54:00:12:34:56 sidero.endpoint=10.214.0.2:8081",
                ok("52:54:00:12:34:56", "10.214.0.2:8081"),
            ),
            ("", Err(CmdlineError::NoMac)),
            ("sidero.mac sidero.endpoint=h:1", Err(CmdlineError::NoMac)),
            ("sidero.mac= sidero.endpoint=h:1", Err(CmdlineError::NoMac)),
            (
                "sidero.mac=52:54:00:12:34 sidero.endpoint=h:1",
                Err(CmdlineError::BadMac("52:54:00:12:34".into())),
            ),
            (
                "sidero.mac=52:54:00:12:34:zz sidero.endpoint=h:1",
                Err(CmdlineError::BadMac("52:54:00:12:34:zz".into())),
            ),
            (
                "sidero.mac=52:54:00:12:34:56",
                Err(CmdlineError::NoEndpoint),
            ),
            (
                "sidero.mac=52:54:00:12:34:56 sidero.endpoint=10.0.0.1",
                Err(CmdlineError::BadEndpoint("10.0.0.1".into())),
            ),
            (
                "sidero.mac=52:54:00:12:34:56 sidero.endpoint=[fd00::1]",
                Err(CmdlineError::BadEndpoint("[fd00::1]".into())),
            ),
            (
                "sidero.mac=52:54:00:12:34:56 sidero.endpoint=h:99999",
                Err(CmdlineError::BadEndpoint("h:99999".into())),
            ),
            (
                "xsidero.mac=52:54:00:12:34:56 sidero.endpoint=h:1",
                Err(CmdlineError::NoMac),
            ),
        ];
        for (text, want) in cases {
            assert_eq!(parse(text), want, "{text:?}");
        }
    }

    #[test]
    fn error_messages_name_the_argument() {
        assert!(CmdlineError::NoMac.to_string().starts_with("no MAC found"));
        assert!(
            CmdlineError::NoEndpoint
                .to_string()
                .starts_with("no endpoint found")
        );
    }

    proptest::proptest! {
        #[test]
        fn never_panics(text in ".{0,200}") {
            let _ = parse(&text);
        }
    }
}
