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

/// A new, empty PostgreSQL database made through `admin_url` (a role allowed to CREATE
/// DATABASE), named `t_<random>`; its URL. `drop_postgres_database` removes it.
pub fn fresh_postgres_database(admin_url: &str) -> Result<String, crate::sql::Error> {
    let name = format!(
        "t_{}",
        crate::repo::random_hex(8).map_err(|e| {
            crate::sql::Error::Other(format!("no randomness for a database name: {e}"))
        })?
    );
    let admin = crate::sql::Conn::connect_postgres(admin_url)?;
    admin.execute_batch(&format!("CREATE DATABASE {name}"))?;
    Ok(with_database(admin_url, &name))
}

/// Drops a database `fresh_postgres_database` made, closing what is still connected to it.
pub fn drop_postgres_database(admin_url: &str, url: &str) -> Result<(), crate::sql::Error> {
    let name = database_name(url);
    if !name.starts_with("t_") || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(crate::sql::Error::Other("not a test database".into()));
    }
    let admin = crate::sql::Conn::connect_postgres(admin_url)?;
    admin.execute_batch(&format!("DROP DATABASE IF EXISTS {name} WITH (FORCE)"))
}

/// The URL's database name (the path after the host, before any `?`).
fn database_name(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let path = rest.split_once('/').map_or("", |(_, p)| p);
    path.split('?').next().unwrap_or("")
}

/// `url` naming database `name` instead of its own.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let (authority, path) = rest.split_once('/').unwrap_or((rest, ""));
    let query = path.split_once('?').map(|(_, q)| q);
    match query {
        Some(q) => format!("{scheme}://{authority}/{name}?{q}"),
        None => format!("{scheme}://{authority}/{name}"),
    }
}

#[cfg(test)]
mod url_tests {
    #[test]
    fn database_urls() {
        let u = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable";
        assert_eq!(
            super::with_database(u, "t_1"),
            "postgres://postgres@127.0.0.1:5432/t_1?sslmode=disable"
        );
        assert_eq!(super::database_name(&super::with_database(u, "t_1")), "t_1");
        assert_eq!(
            super::with_database("postgres://h:1", "t_2"),
            "postgres://h:1/t_2"
        );
    }
}
