//! An agent's labels as the registry and its views hold them: a sorted slice of shared
//! [`Text`] pairs behind one `Arc`.
//!
//! A `BTreeMap<String, String>` of ten labels costs a 500-byte node plus twenty strings per
//! agent. The keys and most values are the agent's description attributes, already held as
//! shared `Text`; here they are the same allocations, so a label costs 32 bytes.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::{Arc, LazyLock};

use super::text::Text;

/// Label pairs sorted by key, one per key; clones share them.
#[derive(Clone, PartialEq, Eq)]
pub struct Labels(Arc<[(Text, Text)]>);

/// One empty slice for every agent without labels (an `Arc` of nothing still allocates).
static EMPTY: LazyLock<Labels> = LazyLock::new(|| Labels(Arc::from(Vec::new())));

impl Default for Labels {
    fn default() -> Self {
        EMPTY.clone()
    }
}

impl Labels {
    fn position(&self, key: &str) -> Result<usize, usize> {
        self.0.binary_search_by(|(k, _)| k.as_str().cmp(key))
    }

    pub fn get(&self, key: &str) -> Option<&Text> {
        self.position(key).ok().map(|i| &self.0[i].1)
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.position(key).is_ok()
    }

    pub fn len(&self) -> usize {
        self.0.len()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Text, &Text)> {
        self.0.iter().map(|(k, v)| (k, v))
    }

    /// An owned map, for API answers.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    /// Whether both hold the very same pairs (not just equal ones).
    pub fn ptr_eq(&self, other: &Labels) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

impl<K: Into<Text>, V: Into<Text>> FromIterator<(K, V)> for Labels {
    /// Like collecting into a map: of two pairs with one key, the later one stays.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let map: BTreeMap<Text, Text> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Labels(map.into_iter().collect())
    }
}

impl From<BTreeMap<String, String>> for Labels {
    fn from(map: BTreeMap<String, String>) -> Self {
        map.into_iter().collect()
    }
}

impl std::ops::Index<&str> for Labels {
    type Output = Text;
    /// Like a map's index: panics when the key is missing (for tests and known keys).
    fn index(&self, key: &str) -> &Text {
        match self.get(key) {
            Some(v) => v,
            None => panic!("no label '{key}'"),
        }
    }
}

impl fmt::Debug for Labels {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter()).finish()
    }
}

impl serde::Serialize for Labels {
    /// As a JSON object, like the map it replaces.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_map(self.iter())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn behaves_like_a_sorted_map_where_the_later_pair_wins() {
        let l: Labels = [("env", "prod"), ("app", "shop"), ("env", "staging")]
            .into_iter()
            .collect();
        assert_eq!(l.len(), 2);
        assert_eq!(l.get("env").map(Text::as_str), Some("staging"));
        assert_eq!(l["app"], "shop");
        assert!(l.contains_key("app") && !l.contains_key("zone"));
        let keys: Vec<&str> = l.iter().map(|(k, _)| k.as_str()).collect();
        assert_eq!(keys, ["app", "env"]);
        assert_eq!(
            serde_json::to_string(&l).unwrap(),
            r#"{"app":"shop","env":"staging"}"#
        );
        assert_eq!(Labels::from(l.to_map()), l);
        assert!(Labels::default().is_empty());
        assert_eq!(Labels::default().get(""), None);
    }

    #[test]
    fn values_are_the_texts_given_not_copies() {
        let host = Text::unshared("host-1.example");
        let l: Labels = [(Text::from("host.name"), host.clone())]
            .into_iter()
            .collect();
        let held = l.get("host.name").expect("present");
        assert!(std::ptr::eq(held.as_str(), host.as_str()));
    }
}
