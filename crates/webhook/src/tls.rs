//! The serving certificate, read from a cert-manager style folder (`tls.crt`, `tls.key`) and
//! reloaded when either file changes, as controller-runtime's certwatcher does: cert-manager
//! renews the Secret and the kubelet swaps the mounted files without restarting the pod.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::SystemTime;

use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use rustls::server::{ClientHello, ResolvesServerCert};
use rustls::sign::CertifiedKey;

/// Certificate file name inside the folder (controller-runtime's default).
pub const CERT_FILE: &str = "tls.crt";
/// Key file name inside the folder.
pub const KEY_FILE: &str = "tls.key";

/// Why the certificate could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum CertError {
    /// A file is missing or unreadable.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The OS error.
        source: std::io::Error,
    },
    /// A file holds no usable PEM.
    #[error("{path}: {message}")]
    Pem {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        message: String,
    },
    /// The key does not fit the provider (unsupported algorithm).
    #[error("unusable private key in {path}: {message}")]
    Key {
        /// The key file.
        path: PathBuf,
        /// rustls' reason.
        message: String,
    },
}

/// The files' modification times; a change means "read again".
type Stamp = (Option<SystemTime>, Option<SystemTime>);

/// Loads the certificate chain and key from `dir`.
pub fn load(dir: &Path, provider: &CryptoProvider) -> Result<CertifiedKey, CertError> {
    let cert_path = dir.join(CERT_FILE);
    let key_path = dir.join(KEY_FILE);
    let read = |p: &Path| {
        std::fs::read(p).map_err(|source| CertError::Read {
            path: p.to_path_buf(),
            source,
        })
    };
    let (cert_pem, key_pem) = (read(&cert_path)?, read(&key_path)?);
    let chain: Vec<CertificateDer<'static>> = CertificateDer::pem_slice_iter(&cert_pem)
        .collect::<Result<_, _>>()
        .map_err(|e| CertError::Pem {
            path: cert_path.clone(),
            message: e.to_string(),
        })?;
    if chain.is_empty() {
        return Err(CertError::Pem {
            path: cert_path,
            message: "no certificate".into(),
        });
    }
    let key = PrivateKeyDer::from_pem_slice(&key_pem).map_err(|e| CertError::Pem {
        path: key_path.clone(),
        message: e.to_string(),
    })?;
    let signing = provider
        .key_provider
        .load_private_key(key)
        .map_err(|e| CertError::Key {
            path: key_path,
            message: e.to_string(),
        })?;
    Ok(CertifiedKey::new(chain, signing))
}

fn stamp(dir: &Path) -> Stamp {
    let m = |f: &str| {
        std::fs::metadata(dir.join(f))
            .and_then(|m| m.modified())
            .ok()
    };
    (m(CERT_FILE), m(KEY_FILE))
}

/// A [`ResolvesServerCert`] that serves the folder's current certificate.
///
/// Each handshake compares the files' modification times with those of the loaded pair (two
/// `stat` calls) and reloads on a change. A pair that fails to load (a half-written rotation)
/// keeps the previous one in service and is retried on the next handshake.
#[derive(Debug)]
pub struct CertDir {
    dir: PathBuf,
    provider: Arc<CryptoProvider>,
    current: Mutex<(Stamp, Arc<CertifiedKey>)>,
}

impl CertDir {
    /// Loads the pair in `dir` now; fails when it is missing or unusable.
    pub fn new(dir: impl Into<PathBuf>, provider: Arc<CryptoProvider>) -> Result<Self, CertError> {
        let dir = dir.into();
        let s = stamp(&dir);
        let key = load(&dir, &provider)?;
        Ok(CertDir {
            dir,
            provider,
            current: Mutex::new((s, Arc::new(key))),
        })
    }

    /// The pair to serve now, reloaded first when the files changed.
    pub fn current(&self) -> Arc<CertifiedKey> {
        let mut guard = match self.current.lock() {
            Ok(g) => g,
            Err(poisoned) => poisoned.into_inner(),
        };
        let now = stamp(&self.dir);
        if now != guard.0 {
            match load(&self.dir, &self.provider) {
                Ok(key) => {
                    tracing::info!(dir = %self.dir.display(), "webhook serving certificate reloaded");
                    *guard = (now, Arc::new(key));
                }
                Err(e) => {
                    tracing::warn!(error = %e, "webhook certificate changed but cannot be loaded; serving the previous one");
                }
            }
        }
        guard.1.clone()
    }
}

impl ResolvesServerCert for CertDir {
    fn resolve(&self, _hello: ClientHello<'_>) -> Option<Arc<CertifiedKey>> {
        Some(self.current())
    }
}

/// A rustls server configuration serving `dir`'s certificate (TLS 1.2 and 1.3, ALPN h2 and
/// http/1.1), with the ring provider.
pub fn server_config(dir: &Path) -> Result<rustls::ServerConfig, CertError> {
    let provider = Arc::new(rustls::crypto::ring::default_provider());
    let resolver = CertDir::new(dir, provider.clone())?;
    let mut config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| CertError::Key {
            path: dir.to_path_buf(),
            message: e.to_string(),
        })?
        .with_no_client_auth()
        .with_cert_resolver(Arc::new(resolver));
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(config)
}
