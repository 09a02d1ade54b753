//! Test certificates (feature `test-support`): a private CA and server certificates it signs
//! for `127.0.0.1` and `localhost` — a good one, an expired one, one for another host — plus
//! one from a second, untrusted CA. For this crate's tests and the agent's.

use std::path::Path;

use rcgen::{
    date_time_ymd, BasicConstraints, CertificateParams, CertifiedIssuer, DistinguishedName, DnType,
    IsCa, KeyPair, KeyUsagePurpose,
};

use crate::TlsFiles;

/// A CA that signs the test server certificates.
pub struct TestCa {
    issuer: CertifiedIssuer<'static, KeyPair>,
}

/// Which server certificate to make.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Leaf {
    /// `127.0.0.1` and `localhost`, valid from 2024 to 2099.
    Good,
    /// The same names, valid only during 2020.
    Expired,
    /// Valid, but only for `wrong.example`.
    WrongHost,
}

/// A server certificate and its key, PEM.
pub struct LeafPem {
    pub cert_pem: String,
    pub key_pem: String,
    /// The leaf's DER, e.g. for SPKI pins.
    pub cert_der: Vec<u8>,
}

impl LeafPem {
    /// Writes `<name>.crt` and `<name>.key` into `dir` and names them for `Config::tls`.
    pub fn write(&self, dir: &Path, name: &str) -> std::io::Result<TlsFiles> {
        let files = TlsFiles {
            cert_chain: dir.join(format!("{name}.crt")),
            private_key: dir.join(format!("{name}.key")),
        };
        std::fs::write(&files.cert_chain, &self.cert_pem)?;
        std::fs::write(&files.private_key, &self.key_pem)?;
        Ok(files)
    }
}

impl TestCa {
    /// A fresh CA (a new key each call: two CAs never trust each other's leaves).
    pub fn new(name: &str) -> Result<TestCa, rcgen::Error> {
        let mut params = CertificateParams::new(Vec::<String>::new())?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, name);
        params.distinguished_name = dn;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.not_before = date_time_ymd(2024, 1, 1);
        params.not_after = date_time_ymd(2099, 1, 1);
        let issuer = CertifiedIssuer::self_signed(params, KeyPair::generate()?)?;
        Ok(TestCa { issuer })
    }

    /// The CA certificate, PEM: what a client is told to trust.
    pub fn cert_pem(&self) -> String {
        self.issuer.pem()
    }

    pub fn cert_der(&self) -> Vec<u8> {
        self.issuer.der().to_vec()
    }

    /// A server certificate signed by this CA.
    pub fn leaf(&self, kind: Leaf) -> Result<LeafPem, rcgen::Error> {
        let names: Vec<String> = match kind {
            Leaf::Good | Leaf::Expired => vec!["127.0.0.1".into(), "localhost".into()],
            Leaf::WrongHost => vec!["wrong.example".into()],
        };
        let mut params = CertificateParams::new(names)?;
        let mut dn = DistinguishedName::new();
        dn.push(DnType::CommonName, "contacts-agent test server");
        params.distinguished_name = dn;
        (params.not_before, params.not_after) = match kind {
            Leaf::Expired => (date_time_ymd(2020, 1, 1), date_time_ymd(2021, 1, 1)),
            _ => (date_time_ymd(2024, 1, 1), date_time_ymd(2099, 1, 1)),
        };
        let key = KeyPair::generate()?;
        let cert = params.signed_by(&key, &self.issuer)?;
        Ok(LeafPem {
            cert_pem: cert.pem(),
            key_pem: key.serialize_pem(),
            cert_der: cert.der().to_vec(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn leaves_are_pem_and_distinct() {
        let ca = TestCa::new("test CA").unwrap();
        let good = ca.leaf(Leaf::Good).unwrap();
        let expired = ca.leaf(Leaf::Expired).unwrap();
        assert!(ca.cert_pem().starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(good.cert_pem.starts_with("-----BEGIN CERTIFICATE-----"));
        assert!(good.key_pem.contains("PRIVATE KEY"));
        assert_ne!(good.cert_der, expired.cert_der);
    }
}
