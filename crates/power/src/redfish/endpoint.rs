//! Parsing of a Server's `spec.bmc.endpoint` for Redfish.
//!
//! Accepted forms (`redfish` defaults to HTTPS on 443, `redfish+http` to HTTP on 80):
//!
//! * `host` or `[v6addr]` — default port, or `spec.bmc.port` when set to anything but 0
//!   and 623 (623 is the IPMI default the agent reports, never a Redfish port);
//! * `host:port` / `[v6addr]:port`;
//! * a full URL `https://host[:port][/redfish/v1/Systems/<id>]` (or `http://…`): the URL's
//!   scheme wins over the interface, and a `/redfish/v1/Systems/<id>` path pins the
//!   ComputerSystem instead of using the first member of `/redfish/v1/Systems`.
//!
//! User information in the URL (`user:pass@host`) is rejected: credentials come from
//! `spec.bmc.user`/`pass` only, so a password can never leak through the target string.

/// URL scheme of a Redfish service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Scheme {
    /// TLS (the normal case for real BMCs).
    Https,
    /// Plain HTTP (emulators, tests).
    Http,
}

impl Scheme {
    fn default_port(self) -> u16 {
        match self {
            Self::Https => 443,
            Self::Http => 80,
        }
    }

    fn as_str(self) -> &'static str {
        match self {
            Self::Https => "https",
            Self::Http => "http",
        }
    }
}

/// Where a Redfish service lives.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RedfishEndpoint {
    /// HTTP or HTTPS.
    pub scheme: Scheme,
    /// Host name or IP address (IPv6 without brackets).
    pub host: String,
    /// TCP port.
    pub port: u16,
    /// The ComputerSystem path (`/redfish/v1/Systems/<id>`), if pinned.
    pub system_path: Option<String>,
}

impl RedfishEndpoint {
    /// Parses an endpoint; `default_scheme` applies when the endpoint is not a URL and
    /// `port_hint` (`spec.bmc.port`) when it names no port (0 and 623 are ignored).
    pub fn parse(
        endpoint: &str,
        default_scheme: Scheme,
        port_hint: Option<u16>,
    ) -> Result<Self, String> {
        let endpoint = endpoint.trim();
        if endpoint.is_empty() {
            return Err("empty Redfish endpoint".to_owned());
        }
        let (scheme, rest) = if let Some(r) = strip_prefix_ci(endpoint, "https://") {
            (Scheme::Https, r)
        } else if let Some(r) = strip_prefix_ci(endpoint, "http://") {
            (Scheme::Http, r)
        } else if endpoint.contains("://") {
            return Err("unsupported URL scheme (use https:// or http://)".to_owned());
        } else {
            (default_scheme, endpoint)
        };
        let (authority, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        if authority.contains('@') {
            return Err("user information in the endpoint URL is not allowed; \
                        use spec.bmc.user/pass"
                .to_owned());
        }
        let (host, port) = split_host_port(authority)?;
        let port = match port {
            Some(p) => p,
            None => port_hint
                .filter(|p| *p != 0 && *p != 623)
                .unwrap_or(scheme.default_port()),
        };
        let path = path.trim_end_matches('/');
        let system_path = match path {
            "" | "/redfish" | "/redfish/v1" => None,
            p => match p.strip_prefix("/redfish/v1/Systems/") {
                Some(id) if !id.is_empty() && !id.contains('/') => Some(p.to_owned()),
                _ => {
                    return Err(format!(
                        "unsupported endpoint path {p:?} (expected /redfish/v1/Systems/<id>)"
                    ));
                }
            },
        };
        Ok(Self {
            scheme,
            host,
            port,
            system_path,
        })
    }

    /// `host:port` for the `Host` header (IPv6 in brackets).
    pub fn authority(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// `scheme://host:port`, used in targets and errors (never holds credentials).
    pub fn base_url(&self) -> String {
        format!("{}://{}", self.scheme.as_str(), self.authority())
    }
}

fn strip_prefix_ci<'a>(s: &'a str, prefix: &str) -> Option<&'a str> {
    match s.get(..prefix.len()) {
        Some(head) if head.eq_ignore_ascii_case(prefix) => s.get(prefix.len()..),
        _ => None,
    }
}

fn split_host_port(authority: &str) -> Result<(String, Option<u16>), String> {
    let bad_port = |p: &str| format!("invalid port {p:?}");
    if let Some(rest) = authority.strip_prefix('[') {
        let (host, after) = rest
            .split_once(']')
            .ok_or_else(|| "unterminated IPv6 address".to_owned())?;
        let port = match after {
            "" => None,
            a => {
                let p = a.strip_prefix(':').ok_or_else(|| bad_port(a))?;
                Some(p.parse().map_err(|_| bad_port(p))?)
            }
        };
        return Ok((host.to_owned(), port));
    }
    match authority.matches(':').count() {
        0 => Ok((authority.to_owned(), None)),
        1 => {
            let (h, p) = authority.split_once(':').unwrap_or((authority, ""));
            Ok((h.to_owned(), Some(p.parse().map_err(|_| bad_port(p))?)))
        }
        // A bare IPv6 address without port.
        _ => Ok((authority.to_owned(), None)),
    }
    .and_then(|(h, p)| {
        if h.is_empty() {
            Err("missing host".to_owned())
        } else {
            Ok((h, p))
        }
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn forms() {
        let e = RedfishEndpoint::parse("10.0.0.9", Scheme::Https, None).unwrap();
        assert_eq!(e.base_url(), "https://10.0.0.9:443");
        let e = RedfishEndpoint::parse("10.0.0.9", Scheme::Http, Some(623)).unwrap();
        assert_eq!(e.base_url(), "http://10.0.0.9:80");
        let e = RedfishEndpoint::parse("bmc", Scheme::Https, Some(8443)).unwrap();
        assert_eq!(e.base_url(), "https://bmc:8443");
        let e = RedfishEndpoint::parse("bmc:8000", Scheme::Http, Some(8443)).unwrap();
        assert_eq!(e.base_url(), "http://bmc:8000");
        let e = RedfishEndpoint::parse("[fd00::1]:8000", Scheme::Https, None).unwrap();
        assert_eq!(
            (e.host.as_str(), e.authority()),
            ("fd00::1", "[fd00::1]:8000".into())
        );
        let e = RedfishEndpoint::parse("fd00::1", Scheme::Https, None).unwrap();
        assert_eq!(e.base_url(), "https://[fd00::1]:443");
        let e = RedfishEndpoint::parse("HTTP://h:1/redfish/v1/Systems/abc/", Scheme::Https, None)
            .unwrap();
        assert_eq!(e.base_url(), "http://h:1");
        assert_eq!(e.system_path.as_deref(), Some("/redfish/v1/Systems/abc"));
        let e = RedfishEndpoint::parse("https://h/redfish/v1/", Scheme::Http, None).unwrap();
        assert_eq!(
            (e.base_url(), e.system_path),
            ("https://h:443".into(), None)
        );
    }

    #[test]
    fn rejects() {
        for bad in [
            "",
            "ftp://h",
            "https://admin:secret@h",
            "h:port",
            "https://h/other",
            "[::1",
            ":80",
        ] {
            let e = RedfishEndpoint::parse(bad, Scheme::Https, None).unwrap_err();
            assert!(!e.contains("secret"), "{e}");
        }
    }
}
