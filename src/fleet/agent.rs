//! Domain types describing an agent, independent of the OpAMP wire format.
//! The codec in `opamp/` converts prost messages to and from these.

use super::hex_bytes;
use std::collections::BTreeMap;
use std::fmt;
use std::str::FromStr;

pub use super::text::Text;

/// An agent's 16-byte instance UID (UUIDv7 by convention).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Default)]
pub struct AgentId(pub [u8; 16]);

impl AgentId {
    pub fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// A fresh UUIDv7, as the spec recommends for new instance UIDs.
    pub fn new_v7() -> Self {
        AgentId(*uuid::Uuid::now_v7().as_bytes())
    }

    /// Short form shown in tables: the last 8 hex digits (the random part of a UUIDv7).
    pub fn short(&self) -> String {
        hex::encode(&self.0[12..])
    }
}

impl fmt::Display for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", uuid::Uuid::from_bytes(self.0).hyphenated())
    }
}

impl fmt::Debug for AgentId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "AgentId({self})")
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
#[error("'{0}' is not an agent id: expected a UUID (8-4-4-4-12 hex) or 32 hex digits")]
pub struct BadAgentId(pub String);

impl FromStr for AgentId {
    type Err = BadAgentId;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        uuid::Uuid::parse_str(s.trim())
            .map(|u| AgentId(*u.as_bytes()))
            .map_err(|_| BadAgentId(s.to_string()))
    }
}

impl serde::Serialize for AgentId {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

impl<'de> serde::Deserialize<'de> for AgentId {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

/// How an agent talks to us.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Transport {
    #[serde(rename = "websocket")]
    WebSocket,
    Http,
}

impl fmt::Display for Transport {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Transport::WebSocket => "ws",
            Transport::Http => "http",
        })
    }
}

/// The agent's capability bits (OpAMP `AgentCapabilities`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize)]
pub struct Capabilities(pub u64);

impl Capabilities {
    pub const REPORTS_STATUS: u64 = 0x1;
    pub const ACCEPTS_REMOTE_CONFIG: u64 = 0x2;
    pub const REPORTS_EFFECTIVE_CONFIG: u64 = 0x4;
    pub const ACCEPTS_PACKAGES: u64 = 0x8;
    pub const REPORTS_PACKAGE_STATUSES: u64 = 0x10;
    pub const REPORTS_OWN_TRACES: u64 = 0x20;
    pub const REPORTS_OWN_METRICS: u64 = 0x40;
    pub const REPORTS_OWN_LOGS: u64 = 0x80;
    pub const ACCEPTS_OPAMP_CONNECTION_SETTINGS: u64 = 0x100;
    pub const ACCEPTS_OTHER_CONNECTION_SETTINGS: u64 = 0x200;
    pub const ACCEPTS_RESTART_COMMAND: u64 = 0x400;
    pub const REPORTS_HEALTH: u64 = 0x800;
    pub const REPORTS_REMOTE_CONFIG: u64 = 0x1000;
    pub const REPORTS_HEARTBEAT: u64 = 0x2000;
    pub const REPORTS_AVAILABLE_COMPONENTS: u64 = 0x4000;
    pub const REPORTS_CONNECTION_SETTINGS_STATUS: u64 = 0x8000;

    const NAMES: [(u64, &'static str); 16] = [
        (Self::REPORTS_STATUS, "ReportsStatus"),
        (Self::ACCEPTS_REMOTE_CONFIG, "AcceptsRemoteConfig"),
        (Self::REPORTS_EFFECTIVE_CONFIG, "ReportsEffectiveConfig"),
        (Self::ACCEPTS_PACKAGES, "AcceptsPackages"),
        (Self::REPORTS_PACKAGE_STATUSES, "ReportsPackageStatuses"),
        (Self::REPORTS_OWN_TRACES, "ReportsOwnTraces"),
        (Self::REPORTS_OWN_METRICS, "ReportsOwnMetrics"),
        (Self::REPORTS_OWN_LOGS, "ReportsOwnLogs"),
        (
            Self::ACCEPTS_OPAMP_CONNECTION_SETTINGS,
            "AcceptsOpAMPConnectionSettings",
        ),
        (
            Self::ACCEPTS_OTHER_CONNECTION_SETTINGS,
            "AcceptsOtherConnectionSettings",
        ),
        (Self::ACCEPTS_RESTART_COMMAND, "AcceptsRestartCommand"),
        (Self::REPORTS_HEALTH, "ReportsHealth"),
        (Self::REPORTS_REMOTE_CONFIG, "ReportsRemoteConfig"),
        (Self::REPORTS_HEARTBEAT, "ReportsHeartbeat"),
        (
            Self::REPORTS_AVAILABLE_COMPONENTS,
            "ReportsAvailableComponents",
        ),
        (
            Self::REPORTS_CONNECTION_SETTINGS_STATUS,
            "ReportsConnectionSettingsStatus",
        ),
    ];

    pub fn has(self, bit: u64) -> bool {
        self.0 & bit == bit
    }

    /// Names of the bits that are set, in bit order.
    pub fn names(self) -> Vec<&'static str> {
        Self::NAMES
            .iter()
            .filter(|(bit, _)| self.has(*bit))
            .map(|(_, name)| *name)
            .collect()
    }
}

impl fmt::Debug for Capabilities {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Capabilities({:#x}: {})", self.0, self.names().join("|"))
    }
}

/// An attribute value (OpAMP `AnyValue`). Boxed slices rather than vectors: a value is
/// 24 bytes instead of 32, and every agent holds a dozen in its description.
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(untagged)]
pub enum AttrValue {
    String(Text),
    Bool(bool),
    Int(i64),
    Double(f64),
    Bytes(Box<[u8]>),
    Array(Box<[AttrValue]>),
    Map(Box<[Attribute]>),
    Null,
}

impl AttrValue {
    pub fn as_str(&self) -> Option<&str> {
        match self {
            AttrValue::String(s) => Some(s),
            _ => None,
        }
    }
}

impl fmt::Display for AttrValue {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AttrValue::String(s) => f.write_str(s),
            AttrValue::Bool(b) => write!(f, "{b}"),
            AttrValue::Int(i) => write!(f, "{i}"),
            AttrValue::Double(d) => write!(f, "{d}"),
            AttrValue::Bytes(b) => write!(f, "0x{}", hex::encode(b)),
            AttrValue::Array(items) => {
                f.write_str("[")?;
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{v}")?;
                }
                f.write_str("]")
            }
            AttrValue::Map(kvs) => {
                f.write_str("{")?;
                for (i, kv) in kvs.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{}: {}", kv.key, kv.value)?;
                }
                f.write_str("}")
            }
            AttrValue::Null => f.write_str("null"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Attribute {
    pub key: Text,
    pub value: AttrValue,
}

impl Attribute {
    pub fn string(key: impl Into<Text>, value: impl Into<Text>) -> Self {
        Attribute {
            key: key.into(),
            value: AttrValue::String(value.into()),
        }
    }
}

/// What the agent says about itself (OpAMP `AgentDescription`).
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct AgentDescription {
    pub identifying: Vec<Attribute>,
    pub non_identifying: Vec<Attribute>,
}

impl AgentDescription {
    /// Looks a key up in the identifying attributes first, then the non-identifying ones.
    pub fn get(&self, key: &str) -> Option<&AttrValue> {
        self.identifying
            .iter()
            .chain(self.non_identifying.iter())
            .find(|a| a.key == key)
            .map(|a| &a.value)
    }

    pub fn get_str(&self, key: &str) -> Option<&str> {
        self.get(key).and_then(AttrValue::as_str)
    }

    /// A string attribute as the shared text it is held in.
    pub fn get_text(&self, key: &str) -> Option<&Text> {
        match self.get(key) {
            Some(AttrValue::String(t)) => Some(t),
            _ => None,
        }
    }

    pub fn service_name(&self) -> Option<&str> {
        self.get_str("service.name")
    }

    pub fn service_version(&self) -> Option<&str> {
        self.get_str("service.version")
    }

    pub fn host_name(&self) -> Option<&str> {
        self.get_str("host.name")
    }

    pub fn os_type(&self) -> Option<&str> {
        self.get_str("os.type")
    }

    /// Whether two descriptions come from the same agent: the same identifying attributes
    /// (in any order) on the same host. Its version (identifying for Collectors) and what
    /// else it says about itself may change while it lives: an upgrade, a restart.
    pub fn same_agent(&self, other: &AgentDescription) -> bool {
        fn lasting(d: &AgentDescription) -> Vec<&Attribute> {
            let mut v: Vec<&Attribute> = d
                .identifying
                .iter()
                .filter(|a| a.key != "service.version")
                .collect();
            v.sort_by(|a, b| a.key.as_str().cmp(b.key.as_str()));
            v
        }
        lasting(self) == lasting(other) && self.host_name() == other.host_name()
    }
}

/// Health of the agent or one of its components (OpAMP `ComponentHealth`), recursive.
#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct ComponentHealth {
    pub healthy: bool,
    pub start_time_unix_nano: u64,
    pub last_error: Text,
    pub status: Text,
    pub status_time_unix_nano: u64,
    pub components: Components,
    pub attributes: Vec<Attribute>,
}

/// A component's children by name, in name order. A sorted vector rather than a BTreeMap:
/// a BTreeMap node keeps room for 11 children (~1.6 KB here) even when it holds two, and
/// every agent reports a tree of these. Names are shared [`Text`]: every Collector of a
/// fleet names its components alike.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Components(Vec<(Text, ComponentHealth)>);

impl Components {
    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn iter(
        &self,
    ) -> impl ExactSizeIterator<Item = (&Text, &ComponentHealth)> + Clone + fmt::Debug {
        self.0.iter().map(|(k, v)| (k, v))
    }

    pub fn keys(&self) -> impl Iterator<Item = &Text> + fmt::Debug {
        self.0.iter().map(|(k, _)| k)
    }

    pub fn values(&self) -> impl Iterator<Item = &ComponentHealth> + fmt::Debug {
        self.0.iter().map(|(_, v)| v)
    }

    fn position(&self, name: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(name))
    }

    pub fn get(&self, name: &str) -> Option<&ComponentHealth> {
        self.position(name).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, name: &str) -> bool {
        self.position(name).is_ok()
    }

    /// Adds or replaces a child; returns the one it replaced.
    pub fn insert(&mut self, name: Text, health: ComponentHealth) -> Option<ComponentHealth> {
        match self.position(&name) {
            Ok(i) => Some(std::mem::replace(&mut self.0[i].1, health)),
            Err(i) => {
                self.0.insert(i, (name, health));
                None
            }
        }
    }
}

impl<K: Into<Text>> FromIterator<(K, ComponentHealth)> for Components {
    /// Like collecting into a map: of two children with one name, the later one stays.
    fn from_iter<I: IntoIterator<Item = (K, ComponentHealth)>>(iter: I) -> Self {
        let mut v: Vec<(Text, ComponentHealth)> =
            iter.into_iter().map(|(k, h)| (k.into(), h)).collect();
        // Stable, so equal names keep their order and the last one is kept below.
        v.sort_by(|a, b| a.0.cmp(&b.0));
        let mut out: Vec<(Text, ComponentHealth)> = Vec::with_capacity(v.len());
        for (k, h) in v {
            match out.last_mut() {
                Some(last) if last.0 == k => last.1 = h,
                _ => out.push((k, h)),
            }
        }
        out.shrink_to_fit();
        Components(out)
    }
}

impl serde::Serialize for Components {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

impl<'de> serde::Deserialize<'de> for Components {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let map = BTreeMap::<String, ComponentHealth>::deserialize(d)?;
        Ok(map.into_iter().collect())
    }
}

impl ComponentHealth {
    /// Number of components in the tree below this one that report unhealthy.
    pub fn unhealthy_count(&self) -> usize {
        self.components
            .values()
            .map(|c| usize::from(!c.healthy) + c.unhealthy_count())
            .sum()
    }
}

/// One named file of a configuration (OpAMP `AgentConfigFile`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ConfigFile {
    /// In JSON: text when it is UTF-8 (configurations are YAML people read), else the bytes.
    #[serde(with = "text_or_bytes")]
    pub body: Vec<u8>,
    pub content_type: String,
}

mod text_or_bytes {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    pub fn serialize<S: Serializer>(body: &[u8], s: S) -> Result<S::Ok, S::Error> {
        match std::str::from_utf8(body) {
            Ok(text) => s.serialize_str(text),
            Err(_) => body.serialize(s),
        }
    }

    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Body {
        Text(String),
        Bytes(Vec<u8>),
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        Ok(match Body::deserialize(d)? {
            Body::Text(t) => t.into_bytes(),
            Body::Bytes(b) => b,
        })
    }
}

/// A set of named configuration files (OpAMP `AgentConfigMap`).
#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct ConfigMap {
    pub files: BTreeMap<String, ConfigFile>,
}

impl ConfigMap {
    /// The collector configuration body: `collector.yaml`, else the unnamed file, else the
    /// only file there is.
    pub fn main_body(&self) -> Option<&[u8]> {
        self.files
            .get("collector.yaml")
            .or_else(|| self.files.get(""))
            .or_else(|| {
                if self.files.len() == 1 {
                    self.files.values().next()
                } else {
                    None
                }
            })
            .map(|f| f.body.as_slice())
    }

    pub fn total_bytes(&self) -> usize {
        self.files.iter().map(|(k, f)| k.len() + f.body.len()).sum()
    }
}

/// Where an agent is with the last remote configuration it received.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum RemoteConfigState {
    #[default]
    Unset,
    Applying,
    Applied,
    Failed,
}

impl fmt::Display for RemoteConfigState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            RemoteConfigState::Unset => "unset",
            RemoteConfigState::Applying => "applying",
            RemoteConfigState::Applied => "applied",
            RemoteConfigState::Failed => "failed",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Default, serde::Serialize, serde::Deserialize)]
pub struct RemoteConfigStatus {
    #[serde(with = "hex_bytes")]
    pub last_hash: Vec<u8>,
    pub state: RemoteConfigState,
    pub error_message: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PackageState {
    Installed,
    InstallPending,
    Installing,
    InstallFailed,
    Downloading,
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct PackageStatus {
    pub name: String,
    pub agent_has_version: String,
    pub server_offered_version: String,
    pub state: PackageState,
    pub error_message: String,
    pub download_percent: Option<f64>,
}

#[derive(Debug, Clone, PartialEq, Default, serde::Serialize, serde::Deserialize)]
pub struct PackageStatuses {
    pub packages: BTreeMap<String, PackageStatus>,
    pub error_message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_bodies_are_text_in_json_when_they_can_be() {
        let yaml = ConfigFile {
            body: b"receivers: {}\n".to_vec(),
            content_type: "text/yaml".into(),
        };
        let json = serde_json::to_value(&yaml).expect("serializes");
        assert_eq!(json["body"], "receivers: {}\n");
        let binary = ConfigFile {
            body: vec![0xff, 0x00],
            content_type: String::new(),
        };
        let json = serde_json::to_value(&binary).expect("serializes");
        assert_eq!(json["body"], serde_json::json!([255, 0]));
        for f in [yaml, binary] {
            let back: ConfigFile =
                serde_json::from_value(serde_json::to_value(&f).expect("ser")).expect("de");
            assert_eq!(back, f);
        }
    }

    fn named(status: &str) -> ComponentHealth {
        ComponentHealth {
            status: status.into(),
            ..Default::default()
        }
    }

    #[test]
    fn components_behave_like_a_map_in_name_order() {
        let mut c: Components = [
            ("pipeline:traces".to_string(), named("a")),
            ("pipeline:logs".to_string(), named("b")),
            ("pipeline:traces".to_string(), named("c")),
        ]
        .into_iter()
        .collect();
        assert_eq!(c.len(), 2, "one entry per name");
        assert_eq!(
            c.get("pipeline:traces").map(|h| h.status.as_str()),
            Some("c")
        );
        assert!(c.insert("extensions".into(), named("d")).is_none());
        assert_eq!(
            c.insert("pipeline:logs".into(), named("e"))
                .map(|h| h.status),
            Some(Text::from("b"))
        );
        let keys: Vec<&str> = c.keys().map(|k| k.as_str()).collect();
        assert_eq!(keys, ["extensions", "pipeline:logs", "pipeline:traces"]);
        assert!(!c.contains_key("pipeline:metrics"));
        // Serialized as a JSON object, as the BTreeMap was.
        let json = serde_json::to_string(&c).unwrap();
        assert!(json.starts_with(r#"{"extensions":{"#), "{json}");
        let back: Components = serde_json::from_str(&json).unwrap();
        assert_eq!(back, c);
    }

    #[test]
    fn agent_id_round_trips_through_its_text_form() {
        let id = AgentId([
            0x01, 0x93, 0x5c, 0x2a, 0x7b, 0x10, 0x70, 0x00, 0x80, 0x00, 0x12, 0x34, 0x56, 0x78,
            0x9a, 0xbc,
        ]);
        let text = id.to_string();
        assert_eq!(text, "01935c2a-7b10-7000-8000-123456789abc");
        assert_eq!(text.parse::<AgentId>(), Ok(id));
        assert_eq!(id.short(), "56789abc");
        assert!("not-an-id".parse::<AgentId>().is_err());
    }

    #[test]
    fn capability_names_follow_the_bits() {
        let caps = Capabilities(0x3007);
        assert_eq!(
            caps.names(),
            vec![
                "ReportsStatus",
                "AcceptsRemoteConfig",
                "ReportsEffectiveConfig",
                "ReportsRemoteConfig",
                "ReportsHeartbeat"
            ]
        );
        assert!(caps.has(Capabilities::ACCEPTS_REMOTE_CONFIG));
        assert!(!caps.has(Capabilities::ACCEPTS_RESTART_COMMAND));
    }

    #[test]
    fn the_same_agent_is_known_by_its_lasting_identity_and_host() {
        let d = |name: &str, version: &str, host: &str, pid: &str| AgentDescription {
            identifying: vec![
                Attribute::string("service.version", version),
                Attribute::string("service.name", name),
            ],
            non_identifying: vec![
                Attribute::string("host.name", host),
                Attribute::string("process.pid", pid),
            ],
        };
        let a = d("otelcol", "0.135.0", "vm-a", "100");
        assert!(
            a.same_agent(&d("otelcol", "0.136.0", "vm-a", "200")),
            "upgraded, restarted"
        );
        assert!(
            !a.same_agent(&d("otelcol", "0.135.0", "vm-b", "100")),
            "another host"
        );
        assert!(
            !a.same_agent(&d("gateway", "0.135.0", "vm-a", "100")),
            "another name"
        );
        let reordered = AgentDescription {
            identifying: a.identifying.iter().rev().cloned().collect(),
            ..a.clone()
        };
        assert!(a.same_agent(&reordered));
    }
}
