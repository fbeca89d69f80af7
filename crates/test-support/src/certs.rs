//! Test certificates made with rcgen at run time: a test CA and the leaves the TLS tests
//! need (good, self-signed, from an unknown CA, for the wrong host, expired).
//!
//! Nothing is written to disk and nothing is shared between tests except what a test
//! passes around, so tests stay independent.

use rcgen::{
    BasicConstraints, CertificateParams, DnType, ExtendedKeyUsagePurpose, IsCa, KeyPair,
    KeyUsagePurpose, date_time_ymd,
};
use rustls::pki_types::{CertificateDer, PrivateKeyDer, PrivatePkcs8KeyDer};

/// The names a good leaf is valid for: how tests address the receiver.
pub const LOOPBACK_NAMES: &[&str] = &["127.0.0.1", "localhost", "::1"];

/// A certificate chain and its key, as a TLS server presents them.
pub struct ServerIdentity {
    pub chain: Vec<CertificateDer<'static>>,
    pub key: PrivateKeyDer<'static>,
}

impl Clone for ServerIdentity {
    fn clone(&self) -> Self {
        Self {
            chain: self.chain.clone(),
            key: self.key.clone_key(),
        }
    }
}

/// A certificate authority of the test.
pub struct TestCa {
    cert: rcgen::Certificate,
    key: KeyPair,
}

/// How long a leaf is valid.
#[derive(Clone, Copy)]
pub enum Validity {
    /// rcgen's default: 1975 to 4096.
    Current,
    /// Ended in 2001.
    Expired,
}

impl TestCa {
    pub fn new(name: &str) -> Self {
        let key = KeyPair::generate().expect("CA key");
        let mut params = CertificateParams::new(Vec::<String>::new()).expect("CA params");
        params.distinguished_name.push(DnType::CommonName, name);
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        let cert = params.self_signed(&key).expect("CA certificate");
        Self { cert, key }
    }

    /// The CA certificate in PEM, as an operator would put it in `--extra-ca-file`.
    pub fn pem(&self) -> String {
        self.cert.pem()
    }

    /// A server certificate for `names`, signed by this CA.
    pub fn leaf(&self, names: &[&str], validity: Validity) -> ServerIdentity {
        let key = KeyPair::generate().expect("leaf key");
        let params = leaf_params(names, validity);
        let cert = params
            .signed_by(&key, &self.cert, &self.key)
            .expect("leaf certificate");
        ServerIdentity {
            chain: vec![cert.der().clone()],
            key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        }
    }
}

/// A leaf signed by its own key, as `openssl req -x509` makes them.
pub fn self_signed(names: &[&str]) -> ServerIdentity {
    let key = KeyPair::generate().expect("leaf key");
    let cert = leaf_params(names, Validity::Current)
        .self_signed(&key)
        .expect("self-signed");
    ServerIdentity {
        chain: vec![cert.der().clone()],
        key: PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
    }
}

fn leaf_params(names: &[&str], validity: Validity) -> CertificateParams {
    let names: Vec<String> = names.iter().map(|n| n.to_string()).collect();
    let mut params = CertificateParams::new(names.clone()).expect("leaf params");
    params.distinguished_name.push(
        DnType::CommonName,
        names.first().cloned().unwrap_or_default(),
    );
    params.extended_key_usages = vec![ExtendedKeyUsagePurpose::ServerAuth];
    if let Validity::Expired = validity {
        params.not_before = date_time_ymd(2000, 1, 1);
        params.not_after = date_time_ymd(2001, 1, 1);
    }
    params
}
