//! The remote configuration fleetdeck sends: one `collector.yaml` file, as the design fixes
//! it. Encoded once per offer by the codec (`RemoteConfigOffer::encoded`).

use crate::fleet::agent::{ConfigFile, ConfigMap};
use crate::fleet::delivery::hash_config;
use crate::fleet::outbound::RemoteConfigOffer;

/// A `collector.yaml` offer, as the design fixes it (content type `text/yaml`).
pub fn collector_offer(yaml: &str) -> RemoteConfigOffer {
    let mut files = ConfigMap::default();
    files.files.insert(
        "collector.yaml".to_string(),
        ConfigFile {
            body: yaml.as_bytes().to_vec(),
            content_type: "text/yaml".to_string(),
        },
    );
    let hash = hash_config(&files);
    RemoteConfigOffer::new(files, hash)
}
