//! The management API as the CLI sees it: where it is (flags > environment > profile >
//! local defaults), one request at a time, and API errors turned into messages.

use std::path::PathBuf;

use anyhow::Context;
use reqwest::{Method, StatusCode, Url};
use serde_json::Value;

use super::profile::{self, DEFAULT_SERVER, parse_server};
use super::usage::usage;
use crate::client::net::{TlsFlags, client_config};

/// The CLI's names for its TLS files, as errors name them.
const CLI_TLS_FLAGS: TlsFlags = TlsFlags::CLI;
use crate::args::ClientArgs;

/// The server refused a request; carries its JSON answer.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct ApiFailure {
    pub status: StatusCode,
    pub message: String,
    pub body: Value,
}

pub struct Client {
    base: Url,
    token: Option<String>,
    http: reqwest::Client,
}

/// An answer with its status, for commands that read the body of refusals too (apply).
pub struct Answer {
    pub status: StatusCode,
    pub body: Value,
}

pub enum Body {
    None,
    Json(Value),
    Yaml(String),
}

impl Client {
    /// Resolves the server and token: `--server`/`FLEETDECK_SERVER` and
    /// `--token`/`FLEETDECK_API_TOKEN` win over the current profile; without either, the
    /// local default server and the token file in the local data directory.
    pub fn from_args(args: &ClientArgs) -> anyhow::Result<Client> {
        Client::from_args_and_profile(args, None)
    }

    /// Like [`from_args`](Self::from_args), with the profile named `profile` in place of
    /// the current one (flags still win over it).
    pub fn from_args_and_profile(
        args: &ClientArgs,
        profile: Option<&str>,
    ) -> anyhow::Result<Client> {
        let given_server = args.server.clone().filter(|s| !s.trim().is_empty());
        let given_token = args.token.clone().filter(|t| !t.trim().is_empty());
        // The profile file is read only when a flag leaves something open, so a damaged
        // file never stands in the way of explicit flags.
        let current = match (&given_server, &given_token, profile) {
            (_, _, Some(name)) => Some((name.to_string(), profile::named(name)?)),
            (Some(_), Some(_), None) => None,
            _ => profile::current()?,
        };
        let server = given_server
            .or_else(|| current.as_ref().map(|(_, p)| p.server.clone()))
            .unwrap_or_else(|| DEFAULT_SERVER.to_string());
        let token = given_token
            .or_else(|| current.as_ref().and_then(|(_, p)| p.token.clone()))
            .or_else(local_token);
        // Flags (and their variables) win over the profile's files.
        let profile = current.as_ref().map(|(_, p)| p);
        let ca = args
            .ca
            .clone()
            .or_else(|| profile.and_then(|p| p.ca.clone()));
        let identity = match (&args.client_cert, &args.client_key) {
            (Some(c), Some(k)) => Some((c.clone(), k.clone())),
            _ => profile.and_then(|p| p.client_cert.clone().zip(p.client_key.clone())),
        };
        let identity = identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path()));
        let tls = if parse_server(&server)?.scheme() == "https" || ca.is_some() {
            Some(client_config(ca.as_deref(), identity, CLI_TLS_FLAGS)?)
        } else {
            None
        };
        Client::with_tls(&server, token, tls)
    }

    pub fn new(server: &str, token: Option<String>) -> anyhow::Result<Client> {
        Client::with_tls(server, token, None)
    }

    /// A client for `server`; `tls` is how an https:// server is trusted (and, for mutual
    /// TLS, who we are).
    pub fn with_tls(
        server: &str,
        token: Option<String>,
        tls: Option<rustls::ClientConfig>,
    ) -> anyhow::Result<Client> {
        let base = parse_server(server)?;
        let mut builder = reqwest::Client::builder()
            .user_agent(concat!("fleetdeck-cli/", env!("CARGO_PKG_VERSION")));
        if let Some(config) = tls {
            builder = builder.tls_backend_preconfigured(config);
        }
        let http = builder.build().context("cannot set up the HTTP client")?;
        Ok(Client { base, token, http })
    }

    /// `/api/v1/<segments…>?<query>`, each segment escaped.
    /// The API URL of `segments`. A segment a URL cannot carry (empty, `.` or `..`,
    /// which would be dropped and name another resource) is refused before anything is
    /// sent: no resource or agent has such a name.
    pub fn url(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Url> {
        if let Some(bad) = segments
            .iter()
            .find(|s| matches!(s.trim(), "" | "." | ".."))
        {
            return Err(usage(format!(
                "'{bad}' is not a name: names are {}",
                crate::pipeline::name::NAME_RULE
            )));
        }
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(["api", "v1"]).extend(segments);
        }
        if !query.is_empty() {
            let mut q = url.query_pairs_mut();
            for (k, v) in query {
                q.append_pair(k, v);
            }
        }
        Ok(url)
    }

    /// Sends a request and returns the answer whatever its status (transport failures and
    /// non-JSON answers are errors).
    pub async fn call(&self, method: Method, url: Url, body: Body) -> anyhow::Result<Answer> {
        let mut req = self.http.request(method.clone(), url.clone());
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.trim());
        }
        req = match body {
            Body::None => req,
            Body::Json(v) => req.json(&v),
            Body::Yaml(text) => req.header("Content-Type", "application/yaml").body(text),
        };
        let resp = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the fleetdeck API at {}: {} (is the server running? set --server, FLEETDECK_SERVER or a profile)",
                self.base,
                root_cause(&e)
            )
        })?;
        let status = resp.status();
        let text = resp
            .text()
            .await
            .with_context(|| format!("reading the answer to {method} {}", url.path()))?;
        let body = if text.trim().is_empty() {
            Value::Null
        } else {
            serde_json::from_str(&text).map_err(|_| {
                anyhow::anyhow!(
                    "{} answered {method} {} with HTTP {status} and a body that is not JSON: {}",
                    self.base,
                    url.path(),
                    text.chars().take(200).collect::<String>()
                )
            })?
        };
        Ok(Answer { status, body })
    }

    /// Like [`call`](Self::call), but any non-2xx answer becomes an [`ApiFailure`].
    pub async fn ok(&self, method: Method, url: Url, body: Body) -> anyhow::Result<Value> {
        let a = self.call(method, url, body).await?;
        if a.status.is_success() {
            Ok(a.body)
        } else {
            Err(failure(a.status, a.body).into())
        }
    }

    /// The server's URL.
    pub fn base(&self) -> &Url {
        &self.base
    }

    /// Sends a GET and returns the answer unread, for streams; an answer that is not 2xx
    /// is an [`ApiFailure`].
    pub async fn open(
        &self,
        segments: &[&str],
        query: &[(&str, String)],
        headers: &[(&str, &str)],
    ) -> anyhow::Result<reqwest::Response> {
        let url = self.url(segments, query)?;
        let mut req = self.http.get(url);
        for (k, v) in headers {
            req = req.header(*k, *v);
        }
        if let Some(t) = &self.token {
            req = req.bearer_auth(t.trim());
        }
        let resp = req.send().await.map_err(|e| {
            anyhow::anyhow!(
                "cannot reach the fleetdeck API at {}: {} (is the server running? set --server, FLEETDECK_SERVER or a profile)",
                self.base,
                root_cause(&e)
            )
        })?;
        let status = resp.status();
        if status.is_success() {
            return Ok(resp);
        }
        let text = resp.text().await.unwrap_or_default();
        let body = serde_json::from_str(&text).unwrap_or(Value::Null);
        Err(failure(status, body).into())
    }

    pub async fn get(&self, segments: &[&str], query: &[(&str, String)]) -> anyhow::Result<Value> {
        self.ok(Method::GET, self.url(segments, query)?, Body::None)
            .await
    }
}

/// Turns an error answer into a message: the server's `error`, the field, and for 401
/// where tokens come from.
pub fn failure(status: StatusCode, body: Value) -> ApiFailure {
    let mut message = body
        .get("error")
        .and_then(Value::as_str)
        .map(str::to_string)
        .unwrap_or_else(|| format!("the server answered HTTP {status}"));
    if let Some(field) = body.get("field").and_then(Value::as_str) {
        message.push_str(&format!(" (field '{field}')"));
    }
    if status == StatusCode::UNAUTHORIZED {
        message.push_str(
            " [HTTP 401: pass --token, set FLEETDECK_API_TOKEN, or save one with `fleetdeck profile create`]",
        );
    } else {
        message.push_str(&format!(" [HTTP {}]", status.as_u16()));
    }
    ApiFailure {
        status,
        message,
        body,
    }
}

/// The token a local server generated, when this user can read it.
fn local_token() -> Option<String> {
    let dir = std::env::var_os("FLEETDECK_DATA_DIR")
        .map(PathBuf::from)
        .or_else(|| {
            directories::ProjectDirs::from("", "", "fleetdeck").map(|d| d.data_dir().to_path_buf())
        })?;
    let text = std::fs::read_to_string(dir.join("api-token")).ok()?;
    let t = text.trim();
    (!t.is_empty()).then(|| t.to_string())
}

fn root_cause(e: &(dyn std::error::Error + 'static)) -> String {
    let mut cur = e;
    while let Some(next) = cur.source() {
        cur = next;
    }
    cur.to_string()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cli::usage::exit_code;

    #[test]
    fn servers_without_a_scheme_get_http_and_paths_are_escaped() {
        let c = Client::new("127.0.0.1:4321/", None).unwrap();
        let url = c
            .url(
                &["configurations", "a b/c"],
                &[("selector", "env in (a,b)".to_string())],
            )
            .unwrap();
        assert_eq!(
            url.as_str(),
            "http://127.0.0.1:4321/api/v1/configurations/a%20b%2Fc?selector=env+in+%28a%2Cb%29"
        );
    }

    #[test]
    fn segments_a_url_would_drop_are_refused() {
        let c = Client::new("127.0.0.1:4321", None).unwrap();
        for bad in [".", "..", ""] {
            let e = c
                .url(&["resources", "Configuration", bad], &[])
                .unwrap_err();
            assert_eq!(exit_code(&e), 2, "{bad:?}: {e}");
        }
    }

    #[test]
    fn unusable_servers_are_usage_errors() {
        for bad in ["http://[::1", "ftp://x"] {
            let e = Client::new(bad, None).err().expect(bad);
            assert_eq!(exit_code(&e), 2, "{bad}: {e}");
            assert!(e.to_string().contains(bad.trim_end_matches('/')), "{e}");
        }
    }

    #[test]
    fn refusals_carry_the_message_field_and_status() {
        let f = failure(
            StatusCode::CONFLICT,
            serde_json::json!({"error": "in use", "field": "name"}),
        );
        assert_eq!(f.message, "in use (field 'name') [HTTP 409]");
        let f = failure(
            StatusCode::UNAUTHORIZED,
            serde_json::json!({"error": "wrong"}),
        );
        assert!(f.message.contains("--token"), "{}", f.message);
    }
}
