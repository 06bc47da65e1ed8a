//! Collector chains: which managed agent sends to which. Worked out from what agents already
//! report: the receivers their effective configurations listen with (ports), the endpoints
//! their exporters send to, and their host names and addresses. An exporter endpoint that
//! matches no agent is an external destination.
//!
//! Matching is by host and port: the endpoint's host must be an agent's `host.name` (or its
//! first label), or the address the agent connects from, or `localhost` on the exporter's own
//! host; and that agent must listen on the port. Behind a load balancer or a DNS name no
//! agent reports, an edge reads as external; two agents with the same host name and port
//! both match (the edge says so).

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Arc;

use serde_norway::Value as Yaml;

use super::AgentId;
use super::agent::ConfigMap;
use super::snapshot::AgentView;

/// A port a receiver listens on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Listener {
    /// The receiver's ID in the configuration (`otlp`, `otlp/edge`).
    pub receiver: String,
    pub port: u16,
}

/// Where an exporter sends.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The exporter's ID in the configuration.
    pub exporter: String,
    pub host: String,
    pub port: u16,
}

/// What one effective configuration says about the network.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Ports {
    pub listens: Vec<Listener>,
    pub sends: Vec<Target>,
}

/// The receivers' ports and the exporters' targets of a Collector configuration (YAML).
/// Anything unreadable contributes nothing.
pub fn ports_of(yaml: &[u8]) -> Ports {
    let Ok(doc) = serde_norway::from_slice::<Yaml>(yaml) else {
        return Ports::default();
    };
    let mut out = Ports::default();
    if let Some(receivers) = doc.get("receivers").and_then(Yaml::as_mapping) {
        for (id, cfg) in receivers {
            let Some(id) = id.as_str() else { continue };
            let mut ports = Vec::new();
            listen_ports(id, cfg, &mut ports);
            ports.sort_unstable();
            ports.dedup();
            out.listens.extend(ports.into_iter().map(|port| Listener {
                receiver: id.to_string(),
                port,
            }));
        }
    }
    if let Some(exporters) = doc.get("exporters").and_then(Yaml::as_mapping) {
        for (id, cfg) in exporters {
            let Some(id) = id.as_str() else { continue };
            let Some(map) = cfg.as_mapping() else {
                continue;
            };
            let mut seen = Vec::new();
            for (key, value) in map {
                let (Some(key), Some(value)) = (key.as_str(), value.as_str()) else {
                    continue;
                };
                if key != "endpoint" && !key.ends_with("_endpoint") {
                    continue;
                }
                if let Some((host, port)) = host_port(value, default_port(id))
                    && !seen.contains(&(host.clone(), port))
                {
                    seen.push((host.clone(), port));
                    out.sends.push(Target {
                        exporter: id.to_string(),
                        host,
                        port,
                    });
                }
            }
        }
    }
    out
}

/// The ports a receiver listens on: every `endpoint` inside its settings, and an OTLP
/// receiver's protocols at their default ports when they name none.
fn listen_ports(id: &str, cfg: &Yaml, out: &mut Vec<u16>) {
    fn walk(v: &Yaml, out: &mut Vec<u16>) {
        match v {
            Yaml::Mapping(m) => {
                for (k, v) in m {
                    if k.as_str() == Some("endpoint")
                        && let Some((_, port)) = v.as_str().and_then(|s| host_port(s, None))
                    {
                        out.push(port);
                    }
                    walk(v, out);
                }
            }
            Yaml::Tagged(t) => walk(&t.value, out),
            _ => {}
        }
    }
    walk(cfg, out);
    if type_of(id) == "otlp"
        && let Some(protocols) = cfg.get("protocols").and_then(Yaml::as_mapping)
    {
        for (name, p) in protocols {
            let named = p.get("endpoint").is_some();
            match name.as_str() {
                Some("grpc") if !named => out.push(4317),
                Some("http") if !named => out.push(4318),
                _ => {}
            }
        }
    }
}

fn type_of(id: &str) -> &str {
    id.split('/').next().unwrap_or(id)
}

/// The port an exporter's endpoint means when it names none (a URL without a port).
fn default_port(exporter: &str) -> Option<u16> {
    match type_of(exporter) {
        "otlp" => Some(4317),
        "otlphttp" => Some(4318),
        _ => None,
    }
}

/// `host:port`, `scheme://host[:port][/path]`, `[v6]:port` → (host, port). A URL without a
/// port takes its scheme's (http 80, https 443), a bare host `fallback`.
pub fn host_port(endpoint: &str, fallback: Option<u16>) -> Option<(String, u16)> {
    let e = endpoint.trim();
    let (scheme, rest) = match e.split_once("://") {
        Some((s, r)) => (Some(s.to_ascii_lowercase()), r),
        None => (None, e),
    };
    let authority = rest.split(['/', '?', '#']).next().unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    let (host, port) = if let Some(v6) = authority.strip_prefix('[') {
        let (h, after) = v6.split_once(']')?;
        (h, after.strip_prefix(':'))
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    let port = match port {
        Some(p) => p.parse().ok()?,
        None => match scheme.as_deref() {
            Some("http") => 80,
            Some("https") => 443,
            _ => fallback?,
        },
    };
    // `:4317` or `0.0.0.0:4317` as a listen address: the host does not matter there.
    Some((host.to_ascii_lowercase(), port))
}

/// How the matcher sees one agent.
#[derive(Debug, Clone)]
pub struct Node<'a> {
    pub host_name: &'a str,
    pub addr: Option<IpAddr>,
    pub ports: &'a Ports,
}

/// Whether an exporter on `from` sending to `target` reaches `to`.
pub fn reaches(from: &Node<'_>, target: &Target, to: &Node<'_>) -> bool {
    if !to.ports.listens.iter().any(|l| l.port == target.port) {
        return false;
    }
    let host = target.host.as_str();
    let local = matches!(host, "localhost" | "127.0.0.1" | "::1");
    if local {
        return !from.host_name.is_empty() && from.host_name.eq_ignore_ascii_case(to.host_name);
    }
    let name = to.host_name.to_ascii_lowercase();
    if !name.is_empty() && (name == host || name.split('.').next() == Some(host)) {
        return true;
    }
    host.parse::<IpAddr>()
        .ok()
        .is_some_and(|ip| Some(ip) == to.addr)
}

/// One exporter target of one agent, and the agent it reaches (none: external).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Link {
    pub from: AgentId,
    pub from_name: String,
    pub exporter: String,
    /// `host:port` the exporter sends to.
    pub endpoint: String,
    /// The agent listening there and its receiver on that port.
    pub to: Option<(AgentId, String)>,
    pub receiver: Option<String>,
    /// How many agents matched (more than one: a host name and port repeat).
    pub matches: usize,
    /// How many exporter targets the sending agent has (its rates are shared by them).
    pub shared_by: usize,
}

fn node<'a>(a: &'a AgentView, p: &'a Ports) -> Node<'a> {
    Node {
        host_name: a.host.as_str(),
        addr: a.remote_addr.map(|r| r.ip()),
        ports: p,
    }
}

/// Every link between the connected agents, sorted by sender, exporter and endpoint. Each
/// distinct effective configuration is read once, and each target looks only at the agents
/// its host can name.
pub fn links(agents: &[Arc<AgentView>]) -> (usize, Vec<Link>) {
    let mut parsed: HashMap<*const ConfigMap, Arc<Ports>> = HashMap::new();
    let nodes: Vec<(&AgentView, Arc<Ports>)> = agents
        .iter()
        .filter(|a| a.is_connected())
        .filter_map(|a| {
            let config = a.effective_config.as_ref()?;
            let ports = parsed
                .entry(Arc::as_ptr(config))
                .or_insert_with(|| Arc::new(config.main_body().map(ports_of).unwrap_or_default()))
                .clone();
            Some((&**a, ports))
        })
        .collect();
    let mut by_host: HashMap<String, Vec<usize>> = HashMap::new();
    for (i, (a, _)) in nodes.iter().enumerate() {
        let name = a.host.to_ascii_lowercase();
        if !name.is_empty() {
            if let Some(first) = name.split('.').next().filter(|f| *f != name) {
                by_host.entry(first.to_string()).or_default().push(i);
            }
            by_host.entry(name).or_default().push(i);
        }
        if let Some(addr) = a.remote_addr {
            by_host.entry(addr.ip().to_string()).or_default().push(i);
        }
    }
    let mut out = Vec::new();
    for (a, ports) in &nodes {
        let me = node(a, ports);
        for target in &ports.sends {
            let key = match target.host.as_str() {
                "localhost" | "127.0.0.1" | "::1" => a.host.to_ascii_lowercase(),
                other => other.to_string(),
            };
            let mut candidates = by_host.get(&key).cloned().unwrap_or_default();
            candidates.sort_unstable();
            candidates.dedup();
            let found: Vec<&(&AgentView, Arc<Ports>)> = candidates
                .into_iter()
                .map(|i| &nodes[i])
                .filter(|(b, p)| b.id != a.id && reaches(&me, target, &node(b, p)))
                .collect();
            let link = |to: Option<&(&AgentView, Arc<Ports>)>| Link {
                from: a.id,
                from_name: a.name.to_string(),
                exporter: target.exporter.clone(),
                endpoint: format!("{}:{}", target.host, target.port),
                receiver: to.and_then(|(_, p)| {
                    p.listens
                        .iter()
                        .find(|l| l.port == target.port)
                        .map(|l| l.receiver.clone())
                }),
                to: to.map(|(b, _)| (b.id, b.name.to_string())),
                matches: found.len(),
                shared_by: ports.sends.len(),
            };
            if found.is_empty() {
                out.push(link(None));
            }
            out.extend(found.iter().map(|f| link(Some(f))));
        }
    }
    out.sort_by(|x, y| {
        (&x.from_name, &x.exporter, &x.endpoint).cmp(&(&y.from_name, &y.exporter, &y.endpoint))
    });
    (nodes.len(), out)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GATEWAY: &str = r#"
receivers:
  otlp:
    protocols:
      grpc: {endpoint: "0.0.0.0:4317"}
      http: {}
  filelog: {include: [/var/log/*.log]}
exporters:
  otlphttp/backend: {endpoint: "https://ingest.example.com/otlp"}
  debug: {}
"#;

    const EDGE: &str = r#"
receivers:
  hostmetrics: {}
exporters:
  otlp/gw: {endpoint: "gw-1:4317", tls: {insecure: true}}
  otlphttp: {traces_endpoint: "http://10.0.0.9:4318/v1/traces"}
"#;

    #[test]
    fn receivers_listen_and_exporters_send() {
        let g = ports_of(GATEWAY.as_bytes());
        assert_eq!(
            g.listens,
            vec![
                Listener {
                    receiver: "otlp".into(),
                    port: 4317
                },
                Listener {
                    receiver: "otlp".into(),
                    port: 4318
                },
            ]
        );
        assert_eq!(
            g.sends,
            vec![Target {
                exporter: "otlphttp/backend".into(),
                host: "ingest.example.com".into(),
                port: 443
            }]
        );
        let e = ports_of(EDGE.as_bytes());
        assert!(e.listens.is_empty());
        assert_eq!(
            e.sends,
            vec![
                Target {
                    exporter: "otlp/gw".into(),
                    host: "gw-1".into(),
                    port: 4317
                },
                Target {
                    exporter: "otlphttp".into(),
                    host: "10.0.0.9".into(),
                    port: 4318
                },
            ]
        );
        assert_eq!(ports_of(b"not: [yaml"), Ports::default());
    }

    #[test]
    fn an_edge_needs_the_host_and_a_listening_port() {
        let g = ports_of(GATEWAY.as_bytes());
        let e = ports_of(EDGE.as_bytes());
        let gw = Node {
            host_name: "gw-1.prod.example",
            addr: Some("10.0.0.9".parse().unwrap()),
            ports: &g,
        };
        let edge = Node {
            host_name: "edge-7",
            addr: None,
            ports: &e,
        };
        assert!(
            reaches(&edge, &e.sends[0], &gw),
            "by the first label of its name"
        );
        assert!(
            reaches(&edge, &e.sends[1], &gw),
            "by the address it connects from"
        );
        let elsewhere = Target {
            port: 9999,
            ..e.sends[0].clone()
        };
        assert!(!reaches(&edge, &elsewhere, &gw), "nothing listens there");
        let local = Target {
            host: "localhost".into(),
            ..e.sends[0].clone()
        };
        assert!(
            !reaches(&edge, &local, &gw),
            "localhost is the exporter's own host"
        );
    }

    #[test]
    fn endpoints_in_every_usual_form() {
        assert_eq!(host_port("gw:4317", None), Some(("gw".into(), 4317)));
        assert_eq!(
            host_port("https://GW.example/v1", None),
            Some(("gw.example".into(), 443))
        );
        assert_eq!(host_port("[::1]:4318", None), Some(("::1".into(), 4318)));
        assert_eq!(host_port("gw", Some(4317)), Some(("gw".into(), 4317)));
        assert_eq!(host_port("gw", None), None);
        assert_eq!(host_port("gw:http", None), None);
    }
}
