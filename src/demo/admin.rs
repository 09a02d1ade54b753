//! A small client for the admin API, used by the demo, the tests and the bench to play the
//! administrator's part over real HTTP.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde_json::Value;

#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    #[error("admin API {method} {path}: {detail}")]
    Request {
        method: &'static str,
        path: String,
        detail: String,
    },
    #[error("admin API {method} {path} answered HTTP {status}: {body}")]
    Status {
        method: &'static str,
        path: String,
        status: u16,
        body: String,
    },
}

pub struct AdminClient {
    agent: ureq::Agent,
    base: String,
    token: String,
}

impl AdminClient {
    pub fn new(base: &str, token: &str) -> Self {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build()
            .into();
        AdminClient {
            agent,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        }
    }

    /// An admin client that trusts what `trust` adds to the public roots (a private CA).
    pub fn with_trust(
        base: &str,
        token: &str,
        trust: &crate::tls::Trust,
    ) -> Result<Self, crate::tls::TrustError> {
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(60)))
            .build();
        Ok(AdminClient {
            agent: crate::tls::ureq_agent(config, trust)?,
            base: base.trim_end_matches('/').to_owned(),
            token: token.to_owned(),
        })
    }

    pub fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T, AdminError> {
        self.call("GET", path, None)
    }

    pub fn post<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, AdminError> {
        self.call("POST", path, Some(body))
    }

    pub fn put<T: DeserializeOwned>(&self, path: &str, body: &Value) -> Result<T, AdminError> {
        self.call("PUT", path, Some(body))
    }

    pub fn delete(&self, path: &str) -> Result<(), AdminError> {
        self.call::<Value>("DELETE", path, None).map(|_| ())
    }

    /// Sends and returns the raw status and body, for tests of error answers.
    pub fn raw(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&[u8]>,
    ) -> Result<(u16, Vec<u8>), AdminError> {
        let url = format!("{}{}", self.base, path);
        let auth = format!("Bearer {}", self.token);
        let err = |e: ureq::Error| AdminError::Request {
            method,
            path: path.to_owned(),
            detail: e.to_string(),
        };
        let mut resp = match (method, body) {
            ("GET", _) => self.agent.get(&url).header("Authorization", &auth).call(),
            ("DELETE", _) => self
                .agent
                .delete(&url)
                .header("Authorization", &auth)
                .call(),
            ("POST", b) => self
                .agent
                .post(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or_default()),
            (_, b) => self
                .agent
                .put(&url)
                .header("Authorization", &auth)
                .header("Content-Type", "application/json")
                .send(b.unwrap_or_default()),
        }
        .map_err(err)?;
        let status = resp.status().as_u16();
        let bytes = resp.body_mut().read_to_vec().map_err(err)?;
        Ok((status, bytes))
    }

    fn call<T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<T, AdminError> {
        let payload = body.map(|b| b.to_string().into_bytes());
        let (status, bytes) = self.raw(method, path, payload.as_deref())?;
        if !(200..300).contains(&status) {
            return Err(AdminError::Status {
                method,
                path: path.to_owned(),
                status,
                body: String::from_utf8_lossy(&bytes).chars().take(300).collect(),
            });
        }
        let bytes = if bytes.is_empty() {
            b"null".to_vec()
        } else {
            bytes
        };
        serde_json::from_slice(&bytes).map_err(|e| AdminError::Request {
            method,
            path: path.to_owned(),
            detail: format!("unreadable answer: {e}"),
        })
    }
}
