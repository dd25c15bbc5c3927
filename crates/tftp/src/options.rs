//! Option negotiation: RFC 2347 (OACK), 2348 (`blksize`), 2349 (`timeout`, `tsize`) and
//! 7440 (`windowsize`).
//!
//! Rules (option names are case-insensitive; the first acceptable occurrence of a name wins):
//! * `blksize` 8..=65464 is granted, clamped to [`ServerConfig::max_block_size`]; values below 8
//!   or unparsable are ignored (not acknowledged), which RFC 2347 lets a server do.
//! * `timeout` 1..=255 s is granted as asked and becomes the retransmission timeout; other
//!   values are ignored.
//! * `tsize` is answered with the file size when it is known and the mode is octet (the
//!   netascii size is unknown until the file has been converted), otherwise ignored. It is
//!   also not acknowledged for an empty file: curl (at least up to 8.x) rejects an OACK with
//!   `tsize 0` as invalid and aborts, while leaving it out is always allowed.
//! * `windowsize` 1..=65535 is granted, clamped to [`ServerConfig::max_window_size`], to
//!   [`HARD_MAX_WINDOW`] and to what fits [`ServerConfig::max_window_bytes`] at the granted
//!   block size.
//! * Unknown options are ignored.
//!
//! If nothing is acknowledged, no OACK is sent and the transfer starts with DATA 1 using the
//! RFC 1350 defaults.

use std::time::Duration;

use crate::config::{HARD_MAX_WINDOW, ServerConfig};
use crate::packet::{DEFAULT_BLOCK_SIZE, MAX_BLOCK_SIZE, MIN_BLOCK_SIZE};

/// The parameters a transfer runs with.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TransferOptions {
    /// Data bytes per block.
    pub block_size: u16,
    /// Retransmission timeout.
    pub timeout: Duration,
    /// Blocks sent before waiting for an acknowledgment.
    pub window_size: u16,
    /// The file size reported through `tsize`, if it was acknowledged.
    pub transfer_size: Option<u64>,
}

impl TransferOptions {
    /// The RFC 1350 defaults (512-byte blocks, lock-step) with the server's default timeout.
    pub fn defaults(config: &ServerConfig) -> Self {
        TransferOptions {
            block_size: DEFAULT_BLOCK_SIZE,
            timeout: config.default_timeout,
            window_size: 1,
            transfer_size: None,
        }
    }
}

/// The outcome of negotiation: the parameters, and the OACK pairs (empty: send no OACK).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Negotiation {
    /// Parameters for the transfer.
    pub options: TransferOptions,
    /// Acknowledged options in request order, with the granted values.
    pub oack: Vec<(&'static str, String)>,
}

/// Negotiates the requested `options` against the server limits.
///
/// `file_size` is the size to report for `tsize` (`None` when unknown or in netascii mode).
pub fn negotiate<'a>(
    requested: impl IntoIterator<Item = (&'a str, &'a str)>,
    config: &ServerConfig,
    file_size: Option<u64>,
) -> Negotiation {
    let mut options = TransferOptions::defaults(config);
    let mut oack: Vec<(&'static str, String)> = Vec::new();
    let mut window_request: Option<(usize, u64)> = None;
    for (name, value) in requested {
        let Some(key) = known_name(name) else {
            continue;
        };
        if oack.iter().any(|(k, _)| *k == key) || (key == "windowsize" && window_request.is_some())
        {
            continue;
        }
        let Some(value) = parse_decimal(value) else {
            continue;
        };
        match key {
            "blksize" if value >= u64::from(MIN_BLOCK_SIZE) => {
                let granted = value
                    .min(u64::from(MAX_BLOCK_SIZE))
                    .min(u64::from(config.max_block_size));
                options.block_size = u16::try_from(granted).unwrap_or(DEFAULT_BLOCK_SIZE);
                oack.push((key, options.block_size.to_string()));
            }
            "timeout" if (1..=255).contains(&value) => {
                options.timeout = Duration::from_secs(value);
                oack.push((key, value.to_string()));
            }
            "tsize" => {
                if let Some(size) = file_size.filter(|&size| size > 0) {
                    options.transfer_size = Some(size);
                    oack.push((key, size.to_string()));
                }
            }
            "windowsize" if (1..=65535).contains(&value) => {
                // Resolved below, once the block size is known; keep the request position.
                window_request = Some((oack.len(), value));
            }
            _ => {}
        }
    }
    if let Some((position, requested)) = window_request {
        options.window_size = grant_window(requested, options.block_size, config);
        let position = position.min(oack.len());
        oack.insert(position, ("windowsize", options.window_size.to_string()));
    }
    Negotiation { options, oack }
}

fn grant_window(requested: u64, block_size: u16, config: &ServerConfig) -> u16 {
    let packet = usize::from(block_size) + 4;
    let by_memory = u64::try_from((config.max_window_bytes / packet).max(1)).unwrap_or(1);
    let granted = requested
        .min(u64::from(config.max_window_size))
        .min(u64::from(HARD_MAX_WINDOW))
        .min(by_memory)
        .max(1);
    u16::try_from(granted).unwrap_or(1)
}

fn known_name(name: &str) -> Option<&'static str> {
    ["blksize", "timeout", "tsize", "windowsize"]
        .into_iter()
        .find(|known| name.eq_ignore_ascii_case(known))
}

/// Parses a plain decimal number (ASCII digits only, at most 19 of them).
fn parse_decimal(value: &str) -> Option<u64> {
    if value.is_empty() || value.len() > 19 || !value.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    value.parse().ok()
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;

    fn neg(opts: &[(&str, &str)], size: Option<u64>) -> Negotiation {
        negotiate(opts.iter().copied(), &ServerConfig::default(), size)
    }

    #[test]
    fn no_options_no_oack() {
        let n = neg(&[], Some(10));
        assert!(n.oack.is_empty());
        assert_eq!(n.options.block_size, 512);
        assert_eq!(n.options.window_size, 1);
        assert_eq!(n.options.timeout, Duration::from_secs(5));
    }

    #[test]
    fn grants_and_clamps() {
        let n = neg(
            &[
                ("BLKSIZE", "1428"),
                ("windowsize", "8"),
                ("tsize", "0"),
                ("timeout", "2"),
                ("x-unknown", "1"),
            ],
            Some(1234),
        );
        assert_eq!(
            n.oack,
            vec![
                ("blksize", "1428".to_owned()),
                ("windowsize", "8".to_owned()),
                ("tsize", "1234".to_owned()),
                ("timeout", "2".to_owned()),
            ]
        );
        assert_eq!(n.options.timeout, Duration::from_secs(2));
        let n = neg(&[("blksize", "70000"), ("windowsize", "65535")], None);
        assert_eq!(n.options.block_size, 65464);
        // 256 KiB / 65468 bytes per packet = 4.
        assert_eq!(n.options.window_size, 4);
        let cfg = ServerConfig {
            max_block_size: 1024,
            ..Default::default()
        };
        let n = negotiate([("blksize", "1468")], &cfg, None);
        assert_eq!(n.oack, vec![("blksize", "1024".to_owned())]);
    }

    #[test]
    fn ignores_invalid_values() {
        let n = neg(
            &[
                ("blksize", "7"),
                ("timeout", "0"),
                ("timeout", "256"),
                ("windowsize", "0"),
                ("tsize", "0"),
                ("blksize", "-1"),
                ("blksize", "+9"),
                ("blksize", "99999999999999999999999"),
            ],
            None,
        );
        assert!(n.oack.is_empty(), "{:?}", n.oack);
        assert_eq!(n.options.block_size, 512);
        assert!(
            neg(&[("tsize", "0")], Some(0)).oack.is_empty(),
            "tsize 0 breaks curl"
        );
    }

    #[test]
    fn first_occurrence_wins() {
        let n = neg(&[("blksize", "1000"), ("blksize", "2000")], None);
        assert_eq!(n.oack, vec![("blksize", "1000".to_owned())]);
    }
}
