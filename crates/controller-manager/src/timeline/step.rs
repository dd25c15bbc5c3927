//! What the boot services saw, and the Event each step becomes (pure).

use std::net::IpAddr;
use std::time::Duration;

/// One thing a boot service did for a machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Step {
    /// The proxy DHCP answered (an OFFER on 67, an ACK on 4011).
    Dhcp {
        /// `dhcp` (67) or `pxe` (4011).
        port: &'static str,
        /// The client's hardware address.
        mac: String,
        /// The client's address, when it had one.
        ip: Option<IpAddr>,
        /// The machine UUID from the PXE GUID (option 97), if sent.
        uuid: Option<String>,
        /// The firmware class (`UEFI x86-64`, `iPXE`…).
        firmware: String,
        /// The boot file or URL handed out.
        boot_file: String,
    },
    /// A TFTP transfer ended.
    Tftp {
        /// The client's address.
        ip: IpAddr,
        /// The file.
        file: String,
        /// Bytes delivered.
        bytes: u64,
        /// How long it took.
        duration: Duration,
        /// Why it failed, if it did.
        failure: Option<String>,
    },
    /// An HTTP boot request was answered.
    Http {
        /// The client's address.
        ip: IpAddr,
        /// The request path (`/ipxe`, `/configdata`, `/env/…`, `/tftp/…`).
        path: String,
        /// The `uuid` query parameter, if any.
        uuid: Option<String>,
        /// The `/ipxe` branch taken, if any.
        branch: Option<&'static str>,
        /// The response status.
        status: u16,
    },
}

/// The Event a step becomes on its machine's Server.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Note {
    /// `Warning` rather than `Normal`.
    pub warning: bool,
    /// The Event reason.
    pub reason: &'static str,
    /// The Event action.
    pub action: &'static str,
    /// The readable note.
    pub note: String,
}

/// What `/ipxe` branches mean to an operator.
fn branch_meaning(branch: &str) -> &str {
    match branch {
        "agent" => "the discovery agent environment",
        "environment" => "its boot environment (the Talos installer)",
        "disk" => "boot from disk",
        other => other,
    }
}

/// The Event for `step`, or `None` for steps that are not worth one (a TFTP transfer the
/// same client replaced with a new request: PXE ROMs probe the size, abort and ask again).
pub fn note(step: &Step) -> Option<Note> {
    let n = |warning, reason, action, note: String| {
        Some(Note {
            warning,
            reason,
            action,
            note,
        })
    };
    match step {
        Step::Dhcp {
            port,
            mac,
            firmware,
            boot_file,
            ..
        } => {
            let via = if *port == "pxe" {
                "PXE boot server (4011)"
            } else {
                "proxy DHCP (67)"
            };
            n(
                false,
                "DHCPOffer",
                "OfferBootFile",
                format!("{via} handed {boot_file} to {firmware} firmware ({mac})"),
            )
        }
        Step::Tftp {
            failure: Some(f), ..
        } if f.starts_with("superseded") => None,
        Step::Tftp {
            ip,
            file,
            bytes,
            duration,
            failure,
        } => match failure {
            None => n(
                false,
                "TFTPTransfer",
                "SendFile",
                format!(
                    "sent {file} over TFTP to {ip} ({bytes} bytes in {:.1} s)",
                    duration.as_secs_f64()
                ),
            ),
            Some(why) => n(
                true,
                "TFTPTransferFailed",
                "SendFile",
                format!("TFTP transfer of {file} to {ip} failed after {bytes} bytes: {why}"),
            ),
        },
        Step::Http {
            ip,
            path,
            branch,
            status,
            ..
        } => {
            let ok = (200..300).contains(status);
            match path.as_str() {
                // `--boot-from-disk-method=http-404` answers 404 on purpose.
                "/ipxe" if ok || *branch == Some("disk") => n(
                    false,
                    "IPXEScript",
                    "ServeBootScript",
                    format!(
                        "/ipxe sent {} to {ip}",
                        branch_meaning(branch.unwrap_or("-"))
                    ),
                ),
                "/ipxe" => n(
                    true,
                    "IPXEScriptFailed",
                    "ServeBootScript",
                    format!("/ipxe answered {status} to {ip}"),
                ),
                // Refusals already have their own Warning (ConfigRefused) with the reason.
                "/configdata" if ok => n(
                    false,
                    "ConfigServed",
                    "ServeConfig",
                    format!("machine config sent to {ip}"),
                ),
                "/configdata" => None,
                p if p.starts_with("/env/") || p.starts_with("/tftp/") => {
                    if ok {
                        n(
                            false,
                            "BootAssetFetched",
                            "ServeFile",
                            format!("{ip} fetched {p} over HTTP"),
                        )
                    } else {
                        n(
                            true,
                            "BootAssetFailed",
                            "ServeFile",
                            format!("{ip} asked for {p} over HTTP: {status}"),
                        )
                    }
                }
                _ => None,
            }
        }
    }
}

/// The hardware address of `ip` in a Linux neighbour table (`/proc/net/arp`): complete
/// entries only (flag 0x2).
pub fn arp_mac(table: &str, ip: IpAddr) -> Option<String> {
    let want = ip.to_string();
    table.lines().skip(1).find_map(|line| {
        let f: Vec<&str> = line.split_whitespace().collect();
        let flags = u32::from_str_radix(f.get(2)?.trim_start_matches("0x"), 16).ok()?;
        (f.first() == Some(&want.as_str()) && flags & 0x2 != 0)
            .then(|| f.get(3).map(|m| m.to_ascii_lowercase()))
            .flatten()
    })
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests;
