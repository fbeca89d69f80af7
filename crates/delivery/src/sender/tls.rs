//! The extra trusted roots (`--extra-ca-file`), checked once at start.
//!
//! Every `CERTIFICATE` section of the PEM becomes a trusted root next to the public ones.
//! Each is parsed as a trust anchor here, so a broken file stops the service at start with
//! a message naming the certificate, instead of every HTTPS attempt failing later.

use rustls::pki_types::CertificateDer;
use rustls::pki_types::pem::PemObject;

use super::SenderError;

pub(super) fn parse_extra_roots(pem: &[u8]) -> Result<Vec<reqwest::Certificate>, SenderError> {
    let mut check = rustls::RootCertStore::empty();
    let mut roots = Vec::new();
    for (i, section) in CertificateDer::pem_slice_iter(pem).enumerate() {
        let der = section.map_err(|e| SenderError::InvalidPem(e.to_string()))?;
        check
            .add(der.clone())
            .map_err(|e| SenderError::InvalidCertificate {
                index: i + 1,
                reason: e.to_string(),
            })?;
        roots.push(reqwest::Certificate::from_der(&der).map_err(SenderError::Client)?);
    }
    if roots.is_empty() {
        return Err(SenderError::NoCertificates);
    }
    Ok(roots)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn text_without_certificates_is_refused() {
        assert!(matches!(
            parse_extra_roots(b""),
            Err(SenderError::NoCertificates)
        ));
        assert!(matches!(
            parse_extra_roots(b"hello"),
            Err(SenderError::NoCertificates)
        ));
    }

    #[test]
    fn broken_sections_are_refused() {
        let bad_base64 = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_extra_roots(bad_base64),
            Err(SenderError::InvalidPem(_))
        ));
        let unterminated = b"-----BEGIN CERTIFICATE-----\nAAAA\n";
        assert!(matches!(
            parse_extra_roots(unterminated),
            Err(SenderError::InvalidPem(_))
        ));
        let not_a_certificate = b"-----BEGIN CERTIFICATE-----\nAAAA\n-----END CERTIFICATE-----\n";
        assert!(matches!(
            parse_extra_roots(not_a_certificate),
            Err(SenderError::InvalidCertificate { index: 1, .. })
        ));
    }
}
