//! The PKI of a test control plane: a serving CA, a client CA and a service-account key,
//! generated fresh for every control plane (ECDSA P-256, as envtest does).

use std::net::{IpAddr, Ipv4Addr};

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, Issuer, KeyPair,
    KeyUsagePurpose, SanType,
};

use crate::Error;

/// A certificate and its private key, both PEM.
#[derive(Clone, Debug)]
pub struct Pem {
    /// The certificate.
    pub cert: String,
    /// The PKCS#8 private key.
    pub key: String,
}

/// A certificate authority that can sign leaves.
pub struct Ca {
    /// The CA certificate, PEM.
    pub cert: String,
    issuer: Issuer<'static, KeyPair>,
}

fn err(e: rcgen::Error) -> Error {
    Error::Certs(e.to_string())
}

impl Ca {
    /// A new self-signed CA named `cn`.
    pub fn new(cn: &str) -> Result<Ca, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.distinguished_name.push(DnType::CommonName, cn);
        params
            .distinguished_name
            .push(DnType::OrganizationName, "sidero-testenv");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyCertSign,
            KeyUsagePurpose::CrlSign,
        ];
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.self_signed(&key).map_err(err)?.pem();
        Ok(Ca {
            cert,
            issuer: Issuer::new(params, key),
        })
    }

    /// A serving certificate for `localhost`, 127.0.0.1 and any `extra` names or IPs.
    pub fn serving(&self, extra: &[&str]) -> Result<Pem, Error> {
        let mut names = vec!["localhost".to_string()];
        names.extend(extra.iter().map(|s| s.to_string()));
        let mut params = CertificateParams::new(names).map_err(err)?;
        params
            .subject_alt_names
            .push(SanType::IpAddress(IpAddr::V4(Ipv4Addr::LOCALHOST)));
        params
            .distinguished_name
            .push(DnType::CommonName, "localhost");
        params.key_usages = vec![
            KeyUsagePurpose::DigitalSignature,
            KeyUsagePurpose::KeyEncipherment,
        ];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
        params.use_authority_key_identifier_extension = true;
        self.leaf(params)
    }

    /// A client certificate for user `user` in `group` (CN and O, as kube-apiserver reads them).
    pub fn client(&self, user: &str, group: Option<&str>) -> Result<Pem, Error> {
        let mut params = CertificateParams::new(Vec::<String>::new()).map_err(err)?;
        params.distinguished_name.push(DnType::CommonName, user);
        if let Some(g) = group {
            params.distinguished_name.push(DnType::OrganizationName, g);
        }
        params.key_usages = vec![KeyUsagePurpose::DigitalSignature];
        params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ClientAuth];
        params.use_authority_key_identifier_extension = true;
        self.leaf(params)
    }

    fn leaf(&self, params: CertificateParams) -> Result<Pem, Error> {
        let key = KeyPair::generate().map_err(err)?;
        let cert = params.signed_by(&key, &self.issuer).map_err(err)?.pem();
        Ok(Pem {
            cert,
            key: key.serialize_pem(),
        })
    }
}

/// A key pair for signing service-account tokens: (public PEM, private PEM).
pub fn service_account_key() -> Result<(String, String), Error> {
    let key = KeyPair::generate().map_err(err)?;
    Ok((key.public_key_pem(), key.serialize_pem()))
}
