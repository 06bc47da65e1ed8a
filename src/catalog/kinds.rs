//! The kinds of resource the catalog keeps, and the names users give them.

use crate::pipeline::TypeKind;

pub const CONFIGURATION: &str = "Configuration";
pub const DESTINATION: &str = "Destination";

/// A kind as users write it (`config`, `configurations`, `source-type`, …) → the stored kind.
pub fn canonical_kind(text: &str) -> Option<&'static str> {
    let t = text.to_ascii_lowercase().replace(['-', '_'], "");
    let t = t.strip_suffix('s').unwrap_or(&t);
    Some(match t {
        "configuration" | "config" => CONFIGURATION,
        "destination" | "dest" => DESTINATION,
        "sourcetype" => TypeKind::Source.kind_name(),
        "processortype" => TypeKind::Processor.kind_name(),
        "destinationtype" => TypeKind::Destination.kind_name(),
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_as_users_write_them() {
        for (text, kind) in [
            ("config", CONFIGURATION),
            ("Configurations", CONFIGURATION),
            ("destination", DESTINATION),
            ("dest", DESTINATION),
            ("source-type", "SourceType"),
            ("processor_types", "ProcessorType"),
            ("DestinationType", "DestinationType"),
        ] {
            assert_eq!(canonical_kind(text), Some(kind), "{text}");
        }
        assert_eq!(canonical_kind("agent"), None);
        assert_eq!(canonical_kind("widgets"), None);
    }
}
