//! Which servers the agent trusts over TLS: the public web roots (Mozilla's, shipped in
//! the library so a phone's and a host's answers agree), plus, from the agent's
//! configuration, an organisation's own CA (an on-premises MDM with a private CA works
//! without rebuilding the app) and SPKI pins (the server's key, or its CA's, must be one of
//! them). Pins are checked after, never instead of, the ordinary chain and name checks.
//!
//! ureq offers roots but no hook for pins, so when either option is set the agent brings
//! its own rustls connector (`TrustConnector`), chained after ureq's TCP connector.

use std::fmt;
use std::io::{Read, Write};
use std::sync::Arc;

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore, StreamOwned};
use sha2::{Digest, Sha256};
use ureq::unversioned::transport::{
    Buffers, ConnectionDetails, Connector, Either, LazyBuffers, NextTimeout, Transport,
    TransportAdapter,
};

/// What the agent trusts beyond the public roots.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trust {
    /// PEM certificates of CAs to trust as well (an organisation's private CA).
    pub extra_ca_pem: Option<String>,
    /// `sha256/<base64>` (or bare base64) of a SubjectPublicKeyInfo: when any is given, the
    /// server's chain must contain a certificate with one of these keys.
    pub spki_pins: Vec<String>,
}

impl Trust {
    pub fn is_default(&self) -> bool {
        self.extra_ca_pem.is_none() && self.spki_pins.is_empty()
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum TrustError {
    #[error("the configured CA certificate is not a readable PEM certificate")]
    BadCa,
    #[error("an SPKI pin must be sha256/ followed by 32 bytes in base64")]
    BadPin,
}

/// The pin of a DER SubjectPublicKeyInfo, as `sha256/<base64>` (the form OkHttp and
/// Android's network security config use).
pub fn spki_pin(spki_der: &[u8]) -> String {
    format!("sha256/{}", STANDARD.encode(Sha256::digest(spki_der)))
}

/// The pin of a DER certificate's key (`sha256/<base64>` of its SubjectPublicKeyInfo), for
/// configuring a pin from a certificate file.
pub fn spki_pin_of_certificate(der: &[u8]) -> Option<String> {
    let cert = CertificateDer::from(der);
    let parsed = webpki::EndEntityCert::try_from(&cert).ok()?;
    Some(spki_pin(parsed.subject_public_key_info().as_ref()))
}

/// A ureq agent with `config` that trusts what `trust` says: ureq's own TLS when nothing is
/// added to the public roots, our connector otherwise.
pub fn ureq_agent(config: ureq::config::Config, trust: &Trust) -> Result<ureq::Agent, TrustError> {
    if trust.is_default() {
        return Ok(config.into());
    }
    use ureq::unversioned::resolver::DefaultResolver;
    use ureq::unversioned::transport::TcpConnector;
    let connector = TcpConnector::default().chain(TrustConnector::new(trust)?);
    Ok(ureq::Agent::with_parts(
        config,
        connector,
        DefaultResolver::default(),
    ))
}

/// Says in words why the server's certificate was refused (the error is shown to people).
pub fn describe_certificate_error(e: &rustls::Error) -> Option<String> {
    use rustls::CertificateError as C;
    let why = match e {
        rustls::Error::InvalidCertificate(c) => match c {
            C::UnknownIssuer => {
                "it is issued by a CA this device does not trust (configure the organisation's CA)"
            }
            C::Expired | C::ExpiredContext { .. } => "it has expired",
            C::NotValidYet | C::NotValidYetContext { .. } => {
                "it is not valid yet (check the device's clock)"
            }
            C::NotValidForName | C::NotValidForNameContext { .. } => {
                "it was not issued for this server's name"
            }
            C::Revoked => "it has been revoked",
            _ => "it is not valid",
        },
        rustls::Error::General(m) if m.contains("SPKI pins") => {
            "its key matches none of the configured SPKI pins"
        }
        _ => return None,
    };
    Some(format!("the server's TLS certificate was refused: {why}"))
}

fn parse_pin(pin: &str) -> Result<[u8; 32], TrustError> {
    let b64 = pin.strip_prefix("sha256/").unwrap_or(pin);
    let bytes = STANDARD
        .decode(b64.trim())
        .map_err(|_| TrustError::BadPin)?;
    bytes.try_into().map_err(|_| TrustError::BadPin)
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The rustls configuration for `trust`: public roots + extra CA, chain and name verified by
/// webpki, then pins.
pub fn client_config(trust: &Trust) -> Result<Arc<ClientConfig>, TrustError> {
    let mut roots = RootCertStore {
        roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
    };
    let extra = match &trust.extra_ca_pem {
        Some(pem) => {
            let certs = CertificateDer::pem_slice_iter(pem.as_bytes())
                .collect::<Result<Vec<_>, _>>()
                .map_err(|_| TrustError::BadCa)?;
            if certs.is_empty() {
                return Err(TrustError::BadCa);
            }
            certs
        }
        None => Vec::new(),
    };
    for c in &extra {
        roots.add(c.clone()).map_err(|_| TrustError::BadCa)?;
    }
    let pins = trust
        .spki_pins
        .iter()
        .map(|p| parse_pin(p))
        .collect::<Result<Vec<_>, _>>()?;
    let provider = provider();
    let verifier_for = |roots: RootCertStore| {
        WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
            .build()
            .map_err(|_| TrustError::BadCa)
    };
    // A configured CA whose own key is pinned: the server's chain must lead to that CA,
    // which a second verification against it alone proves.
    let mut pinned_cas = RootCertStore::empty();
    for c in extra.iter().filter(|c| pin_matches(&pins, c)) {
        pinned_cas.add(c.clone()).map_err(|_| TrustError::BadCa)?;
    }
    let verifier = PinningVerifier {
        inner: verifier_for(roots)?,
        pinned_anchors: if pinned_cas.is_empty() {
            None
        } else {
            Some(verifier_for(pinned_cas)?)
        },
        pins,
    };
    let config = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|_| TrustError::BadCa)?
        .dangerous()
        // Not dangerous: the inner verifier is rustls' own WebPkiServerVerifier; this one
        // only adds the pin check after it.
        .with_custom_certificate_verifier(Arc::new(verifier))
        .with_no_client_auth();
    Ok(Arc::new(config))
}

fn pin_matches(pins: &[[u8; 32]], cert: &CertificateDer<'_>) -> bool {
    let Ok(parsed) = webpki::EndEntityCert::try_from(cert) else {
        return false;
    };
    let digest: [u8; 32] = Sha256::digest(parsed.subject_public_key_info().as_ref()).into();
    pins.contains(&digest)
}

/// webpki's verdict first; then, when pins are set, the chain must carry a pinned key: the
/// server's certificate, an intermediate it presents, or a configured CA it leads to.
#[derive(Debug)]
struct PinningVerifier {
    inner: Arc<WebPkiServerVerifier>,
    /// Verifies against the configured CAs whose keys are pinned, and nothing else.
    pinned_anchors: Option<Arc<WebPkiServerVerifier>>,
    pins: Vec<[u8; 32]>,
}

impl ServerCertVerifier for PinningVerifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        let verified =
            self.inner
                .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)?;
        let presented_pinned = std::iter::once(end_entity)
            .chain(intermediates)
            .any(|c| pin_matches(&self.pins, c));
        let anchored_at_pinned_ca = || {
            self.pinned_anchors.as_ref().is_some_and(|v| {
                v.verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
                    .is_ok()
            })
        };
        if self.pins.is_empty() || presented_pinned || anchored_at_pinned_ca() {
            Ok(verified)
        } else {
            log::warn!("the server's certificate chain matches none of the configured pins");
            Err(rustls::Error::General(
                "the server's key matches none of the configured SPKI pins".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Wraps the chained (TCP) transport in TLS with our `ClientConfig` when the URL is https.
pub struct TrustConnector {
    config: Arc<ClientConfig>,
}

impl TrustConnector {
    pub fn new(trust: &Trust) -> Result<Self, TrustError> {
        Ok(TrustConnector {
            config: client_config(trust)?,
        })
    }
}

impl fmt::Debug for TrustConnector {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TrustConnector").finish()
    }
}

impl<In: Transport> Connector<In> for TrustConnector {
    type Out = Either<In, TlsTransport>;

    fn connect(
        &self,
        details: &ConnectionDetails,
        chained: Option<In>,
    ) -> Result<Option<Self::Out>, ureq::Error> {
        let Some(transport) = chained else {
            return Err(ureq::Error::Tls("no connection to wrap in TLS"));
        };
        if !details.needs_tls() || transport.is_tls() {
            return Ok(Some(Either::A(transport)));
        }
        let host = details
            .uri
            .host()
            .ok_or(ureq::Error::Tls("the URL has no host"))?;
        let host = host.trim_start_matches('[').trim_end_matches(']');
        let name = ServerName::try_from(host.to_owned())
            .map_err(|_| ureq::Error::Tls("the server's name is not a valid TLS name"))?;
        let mut conn = ClientConnection::new(Arc::clone(&self.config), name)?;
        let mut sock = TransportAdapter::new(transport.boxed(), details.current_time.clone());
        sock.set_timeout(details.timeout);
        conn.complete_io(&mut sock)?;
        let buffers = LazyBuffers::new(
            details.config.input_buffer_size(),
            details.config.output_buffer_size(),
        );
        Ok(Some(Either::B(TlsTransport {
            buffers,
            stream: StreamOwned { conn, sock },
        })))
    }
}

pub struct TlsTransport {
    buffers: LazyBuffers,
    stream: StreamOwned<ClientConnection, TransportAdapter>,
}

impl fmt::Debug for TlsTransport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsTransport").finish()
    }
}

impl Transport for TlsTransport {
    fn buffers(&mut self) -> &mut dyn Buffers {
        &mut self.buffers
    }

    fn transmit_output(&mut self, amount: usize, timeout: NextTimeout) -> Result<(), ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let output = &self.buffers.output()[..amount];
        self.stream.write_all(output)?;
        Ok(())
    }

    fn await_input(&mut self, timeout: NextTimeout) -> Result<bool, ureq::Error> {
        self.stream.get_mut().set_timeout(timeout);
        let input = self.buffers.input_append_buf();
        let n = self.stream.read(input)?;
        self.buffers.input_appended(n);
        Ok(n > 0)
    }

    fn is_open(&mut self) -> bool {
        self.stream.get_mut().get_mut().is_open()
    }

    fn is_tls(&self) -> bool {
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pins_are_read_with_or_without_the_prefix_and_bad_ones_refused() {
        let pin = spki_pin(b"key");
        assert_eq!(
            parse_pin(&pin),
            parse_pin(pin.trim_start_matches("sha256/"))
        );
        assert!(parse_pin(&pin).is_ok());
        assert_eq!(parse_pin("sha256/AAAA"), Err(TrustError::BadPin));
        assert_eq!(parse_pin("not base64!"), Err(TrustError::BadPin));
    }

    #[test]
    fn a_ca_that_is_not_pem_is_refused() {
        let trust = Trust {
            extra_ca_pem: Some("-----BEGIN NOTHING-----".into()),
            spki_pins: vec![],
        };
        assert_eq!(client_config(&trust).err(), Some(TrustError::BadCa));
    }
}
