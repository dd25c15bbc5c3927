//! Power management flags: upstream's test-only failure injection (spec §10.1, same names),
//! plus the settings an operator needs for real BMCs (IPMI and Redfish timeouts, Redfish
//! certificate verification), turned into [`SelectOptions`] for `sidero-power`.

use std::time::Duration;

use clap::Args;
use sidero_power::{
    FailureInjection, InjectionScope, IpmiConfig, RedfishAuth, RedfishConfig, SelectOptions,
    TlsVerification,
};

use crate::config::{duration, go_bool};

fn probability(s: &str) -> Result<f64, String> {
    let p: f64 = s
        .parse()
        .map_err(|e| format!("invalid number {s:?}: {e}"))?;
    if (0.0..=1.0).contains(&p) {
        Ok(p)
    } else {
        Err(format!("{p} is not a probability in [0, 1]"))
    }
}

/// The flags (flattened into the manager's).
#[derive(Args, Clone, Debug)]
pub struct PowerFlags {
    /// Test only: probability of an explicit power failure (upstream flag).
    #[arg(long, default_value = "0", value_parser = probability)]
    pub test_power_simulated_explicit_failure_prob: f64,
    /// Test only: probability of a silent power failure (upstream flag).
    #[arg(long, default_value = "0", value_parser = probability)]
    pub test_power_simulated_silent_failure_prob: f64,
    /// Test only: which power clients the simulated failures wrap: `management-api`
    /// (upstream) or `all` (also IPMI and Redfish).
    #[arg(long, default_value = "management-api", value_parser = ["management-api", "all"])]
    pub test_power_simulated_failure_scope: String,
    /// IPMI: how long to wait for each answer before retransmitting.
    #[arg(long, default_value = "2s", value_parser = duration)]
    pub ipmi_timeout: Duration,
    /// IPMI: retransmissions per exchange (attempts = retries + 1).
    #[arg(long, default_value_t = 2)]
    pub ipmi_retries: u32,
    /// IPMI: RMCP+ cipher suites to propose, in order (17 and 3 are supported).
    #[arg(long, default_value = "17,3", value_delimiter = ',')]
    pub ipmi_cipher_suites: Vec<u8>,
    /// Redfish: timeout of each request (connect, TLS and response).
    #[arg(long, default_value = "20s", value_parser = duration)]
    pub redfish_timeout: Duration,
    /// Redfish: authentication, `auto` (a session when offered, else basic), `basic` or
    /// `session`.
    #[arg(long, default_value = "auto", value_parser = ["auto", "basic", "session"])]
    pub redfish_auth: String,
    /// Redfish: accept any BMC certificate (self-signed BMCs). Exposes BMC credentials to a
    /// man in the middle.
    #[arg(long, default_value = "false", num_args = 0..=1, default_missing_value = "true", value_parser = go_bool)]
    pub redfish_insecure_skip_verify: bool,
    /// Management API (simulated machines): timeout of each call (10 s upstream).
    #[arg(long, default_value = "10s", value_parser = duration)]
    pub management_api_timeout: Duration,
}

impl PowerFlags {
    /// The client selection settings these flags describe. Err: an unsupported cipher suite.
    pub fn select_options(&self) -> Result<SelectOptions, String> {
        if let Some(bad) = self
            .ipmi_cipher_suites
            .iter()
            .find(|s| !matches!(s, 3 | 17))
        {
            return Err(format!(
                "--ipmi-cipher-suites: suite {bad} is not supported (17 and 3 are)"
            ));
        }
        let p_e = self.test_power_simulated_explicit_failure_prob;
        let p_s = self.test_power_simulated_silent_failure_prob;
        if p_e + p_s > 1.0 {
            return Err(format!(
                "simulated failure probabilities add up to {} (more than 1)",
                p_e + p_s
            ));
        }
        Ok(SelectOptions {
            ipmi: IpmiConfig {
                timeout: self.ipmi_timeout,
                retries: self.ipmi_retries,
                cipher_suites: self.ipmi_cipher_suites.clone(),
                ..IpmiConfig::default()
            },
            api_timeout: self.management_api_timeout,
            injection: (p_e > 0.0 || p_s > 0.0).then(|| FailureInjection::new(p_e, p_s)),
            injection_scope: if self.test_power_simulated_failure_scope == "all" {
                InjectionScope::All
            } else {
                InjectionScope::ManagementApiOnly
            },
            redfish: RedfishConfig {
                timeout: self.redfish_timeout,
                auth: match self.redfish_auth.as_str() {
                    "basic" => RedfishAuth::Basic,
                    "session" => RedfishAuth::Session,
                    _ => RedfishAuth::Auto,
                },
                tls: if self.redfish_insecure_skip_verify {
                    TlsVerification::InsecureSkipVerify
                } else {
                    TlsVerification::Verify
                },
                ..RedfishConfig::default()
            },
            ..SelectOptions::default()
        })
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]
mod tests {
    use super::*;
    use clap::Parser;

    #[derive(Parser)]
    struct T {
        #[command(flatten)]
        p: PowerFlags,
    }

    fn parse(args: &[&str]) -> Result<PowerFlags, clap::Error> {
        T::try_parse_from(std::iter::once("m").chain(args.iter().copied())).map(|t| t.p)
    }

    #[test]
    fn defaults_are_upstream_behaviour() {
        let o = parse(&[]).unwrap().select_options().unwrap();
        assert!(o.injection.is_none());
        assert_eq!(o.injection_scope, InjectionScope::ManagementApiOnly);
        assert_eq!(o.api_timeout, Duration::from_secs(10));
        assert_eq!(o.ipmi.timeout, Duration::from_secs(2));
        assert_eq!(o.ipmi.cipher_suites, vec![17, 3]);
        assert_eq!(o.redfish.tls, TlsVerification::Verify);
        assert_eq!(o.redfish.auth, RedfishAuth::Auto);
    }

    #[test]
    fn every_flag_reaches_the_options() {
        let o = parse(&[
            "--test-power-simulated-explicit-failure-prob=0.1",
            "--test-power-simulated-silent-failure-prob=0.25",
            "--test-power-simulated-failure-scope=all",
            "--ipmi-timeout=500ms",
            "--ipmi-retries=5",
            "--ipmi-cipher-suites=3",
            "--redfish-timeout=7s",
            "--redfish-auth=basic",
            "--redfish-insecure-skip-verify",
            "--management-api-timeout=3s",
        ])
        .unwrap()
        .select_options()
        .unwrap();
        let inj = o.injection.unwrap();
        assert_eq!((inj.explicit_prob, inj.silent_prob), (0.1, 0.25));
        assert_eq!(o.injection_scope, InjectionScope::All);
        assert_eq!(o.ipmi.timeout, Duration::from_millis(500));
        assert_eq!(o.ipmi.retries, 5);
        assert_eq!(o.ipmi.cipher_suites, vec![3]);
        assert_eq!(o.redfish.timeout, Duration::from_secs(7));
        assert_eq!(o.redfish.auth, RedfishAuth::Basic);
        assert_eq!(o.redfish.tls, TlsVerification::InsecureSkipVerify);
        assert_eq!(o.api_timeout, Duration::from_secs(3));
    }

    #[test]
    fn invalid_values_are_refused() {
        assert!(parse(&["--test-power-simulated-silent-failure-prob=1.5"]).is_err());
        assert!(parse(&["--redfish-auth=digest"]).is_err());
        assert!(parse(&["--ipmi-timeout=soon"]).is_err());
        let both = parse(&[
            "--test-power-simulated-explicit-failure-prob=0.6",
            "--test-power-simulated-silent-failure-prob=0.6",
        ])
        .unwrap();
        assert!(both.select_options().unwrap_err().contains("more than 1"));
        let suite = parse(&["--ipmi-cipher-suites=17,1"]).unwrap();
        assert!(suite.select_options().unwrap_err().contains("suite 1"));
    }
}
