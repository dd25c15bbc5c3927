//! TLS client configuration for Redfish: rustls with the `ring` provider only.
//!
//! * [`TlsVerification::Verify`] (default): the server certificate must chain to the
//!   operating system's trust store (`rustls-native-certs`) and match the host name or IP.
//! * [`TlsVerification::InsecureSkipVerify`]: any certificate is accepted (BMCs usually
//!   ship self-signed ones). The TLS handshake signature is still checked, so the channel
//!   is encrypted, but an active man in the middle can read the BMC password. Opt-in only.
//!
//! Both configurations are built once per process and shared.

use std::sync::{Arc, OnceLock};

use tokio_rustls::rustls::client::danger::{
    HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier,
};
use tokio_rustls::rustls::crypto::{CryptoProvider, ring};
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use tokio_rustls::rustls::{self, ClientConfig, DigitallySignedStruct, RootCertStore};

/// How the BMC's certificate is checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVerification {
    /// Verify against the OS trust store (default).
    #[default]
    Verify,
    /// Accept any certificate (self-signed BMCs). Exposes credentials to a man in the middle.
    InsecureSkipVerify,
}

static VERIFYING: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();
static INSECURE: OnceLock<Result<Arc<ClientConfig>, String>> = OnceLock::new();

/// The shared client configuration for `mode`.
pub(crate) fn client_config(mode: TlsVerification) -> Result<Arc<ClientConfig>, String> {
    match mode {
        TlsVerification::Verify => VERIFYING.get_or_init(build_verifying).clone(),
        TlsVerification::InsecureSkipVerify => INSECURE.get_or_init(build_insecure).clone(),
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(ring::default_provider())
}

fn builder() -> Result<rustls::ConfigBuilder<ClientConfig, rustls::WantsVerifier>, String> {
    ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| format!("TLS setup: {e}"))
}

fn build_verifying() -> Result<Arc<ClientConfig>, String> {
    let mut roots = RootCertStore::empty();
    let native = rustls_native_certs::load_native_certs();
    for e in &native.errors {
        tracing::warn!(error = %e, "loading a system CA certificate failed");
    }
    let (added, ignored) = roots.add_parsable_certificates(native.certs);
    tracing::debug!(added, ignored, "system CA certificates for Redfish");
    Ok(Arc::new(
        builder()?
            .with_root_certificates(roots)
            .with_no_client_auth(),
    ))
}

fn build_insecure() -> Result<Arc<ClientConfig>, String> {
    Ok(Arc::new(
        builder()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(AcceptAnyCert(provider())))
            .with_no_client_auth(),
    ))
}

/// Accepts every certificate but still verifies handshake signatures.
#[derive(Debug)]
struct AcceptAnyCert(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAnyCert {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}
