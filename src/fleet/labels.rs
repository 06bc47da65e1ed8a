//! An agent's labels as the registry and its views hold them, without copies: the
//! description's string attributes (found through a small index in key order) and the
//! operator's labels, which win.
//!
//! A `BTreeMap<String, String>` of ten labels cost a 500-byte node plus twenty strings per
//! agent, all copies of what the description already holds. Here the description is
//! shared and a label costs a 4-byte index.

use std::cmp::Ordering;
use std::collections::BTreeMap;
use std::fmt;
use std::iter::Peekable;
use std::sync::{Arc, LazyLock};

use super::agent::{AgentDescription, AttrValue, Attribute};
use super::text::Text;

/// Label pairs in key order, one per key; clones share them.
#[derive(Clone)]
pub struct Labels {
    /// Its string attributes are labels…
    from: Arc<AgentDescription>,
    /// …these ones, in key order, one per key (of two attributes with one key, the later):
    /// indexes into `identifying` followed by `non_identifying`.
    order: Arc<[u32]>,
    /// Set by operators, in key order; they win over the description's.
    own: Arc<[(Text, Text)]>,
}

/// Shared by every agent without a description or operator labels (an `Arc` of nothing
/// still allocates).
static EMPTY: LazyLock<Labels> = LazyLock::new(|| Labels {
    from: Arc::default(),
    order: Arc::from(Vec::new()),
    own: Arc::from(Vec::new()),
});

impl Default for Labels {
    fn default() -> Self {
        EMPTY.clone()
    }
}

fn attribute(d: &AgentDescription, i: u32) -> Option<&Attribute> {
    let i = i as usize;
    match i.checked_sub(d.identifying.len()) {
        None => d.identifying.get(i),
        Some(j) => d.non_identifying.get(j),
    }
}

fn string_pair(a: &Attribute) -> Option<(&Text, &Text)> {
    match &a.value {
        AttrValue::String(v) => Some((&a.key, v)),
        _ => None,
    }
}

/// Pairs sorted by key, one per key: the later of equal keys stays.
fn sorted_last_wins<T>(mut items: Vec<T>, by_key: impl Fn(&T, &T) -> Ordering) -> Vec<T> {
    // Stable: among equal keys the later item stays later, and is the one kept.
    items.sort_by(&by_key);
    let mut out: Vec<T> = Vec::with_capacity(items.len());
    for item in items {
        match out.last_mut() {
            Some(last) if by_key(last, &item) == Ordering::Equal => *last = item,
            _ => out.push(item),
        }
    }
    out
}

impl Labels {
    /// The labels of an agent: its description's string attributes and its operator labels.
    pub fn new(from: Arc<AgentDescription>, operator: &BTreeMap<String, String>) -> Labels {
        let strings = from
            .identifying
            .iter()
            .chain(from.non_identifying.iter())
            .enumerate()
            .filter(|(_, a)| string_pair(a).is_some())
            // Beyond 4 billion attributes an index would wrap: such a description cannot
            // arrive (the message size limit), and those attributes are simply not labels.
            .filter_map(|(i, _)| u32::try_from(i).ok())
            .collect();
        let key = |i: &u32| attribute(&from, *i).map_or("", |a| a.key.as_str());
        let order = sorted_last_wins(strings, |a, b| key(a).cmp(key(b)));
        let own = if operator.is_empty() {
            EMPTY.own.clone()
        } else {
            operator
                .iter()
                .map(|(k, v)| (Text::shared(k), Text::shared(v)))
                .collect()
        };
        let order = if order.is_empty() {
            EMPTY.order.clone()
        } else {
            order.into()
        };
        Labels { from, order, own }
    }

    /// The labels an operator set (stored, and winning over the description's).
    pub fn operator_map(&self) -> BTreeMap<String, String> {
        self.own
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    fn described(&self, key: &str) -> Option<&Text> {
        let i = self
            .order
            .binary_search_by(|i| {
                attribute(&self.from, *i)
                    .map_or("", |a| a.key.as_str())
                    .cmp(key)
            })
            .ok()?;
        attribute(&self.from, self.order[i])
            .and_then(string_pair)
            .map(|(_, v)| v)
    }

    fn operator(&self, key: &str) -> Option<&Text> {
        let i = self
            .own
            .binary_search_by(|(k, _)| k.as_str().cmp(key))
            .ok()?;
        Some(&self.own[i].1)
    }

    pub fn get(&self, key: &str) -> Option<&Text> {
        self.operator(key).or_else(|| self.described(key))
    }

    pub fn contains_key(&self, key: &str) -> bool {
        self.get(key).is_some()
    }

    pub fn len(&self) -> usize {
        self.iter().count()
    }

    pub fn is_empty(&self) -> bool {
        self.order.is_empty() && self.own.is_empty()
    }

    /// In key order.
    pub fn iter(&self) -> impl Iterator<Item = (&Text, &Text)> {
        Merge {
            described: self
                .order
                .iter()
                .filter_map(|i| attribute(&self.from, *i).and_then(string_pair))
                .peekable(),
            own: self.own.iter().map(|(k, v)| (k, v)).peekable(),
        }
    }

    /// An owned map, for API answers.
    pub fn to_map(&self) -> BTreeMap<String, String> {
        self.iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }
}

/// Two key-ordered sequences of pairs as one; on equal keys the operator's pair wins.
struct Merge<'a, D: Iterator<Item = (&'a Text, &'a Text)>, O: Iterator<Item = (&'a Text, &'a Text)>>
{
    described: Peekable<D>,
    own: Peekable<O>,
}

impl<'a, D, O> Iterator for Merge<'a, D, O>
where
    D: Iterator<Item = (&'a Text, &'a Text)>,
    O: Iterator<Item = (&'a Text, &'a Text)>,
{
    type Item = (&'a Text, &'a Text);

    fn next(&mut self) -> Option<Self::Item> {
        match (self.described.peek(), self.own.peek()) {
            (Some(d), Some(o)) if d.0 < o.0 => self.described.next(),
            (Some(d), Some(o)) if d.0 == o.0 => {
                self.described.next();
                self.own.next()
            }
            (_, Some(_)) => self.own.next(),
            (Some(_), None) => self.described.next(),
            (None, None) => None,
        }
    }
}

impl PartialEq for Labels {
    fn eq(&self, other: &Labels) -> bool {
        self.iter().eq(other.iter())
    }
}

impl Eq for Labels {}

impl<K: Into<Text>, V: Into<Text>> FromIterator<(K, V)> for Labels {
    /// Labels not from a description, like collecting into a map: of two pairs with one
    /// key, the later one stays.
    fn from_iter<I: IntoIterator<Item = (K, V)>>(iter: I) -> Self {
        let pairs: Vec<(Text, Text)> = iter
            .into_iter()
            .map(|(k, v)| (k.into(), v.into()))
            .collect();
        Labels {
            own: sorted_last_wins(pairs, |a, b| a.0.cmp(&b.0)).into(),
            ..Labels::default()
        }
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

    fn described(attrs: &[(&str, AttrValue)]) -> Arc<AgentDescription> {
        let (identifying, non_identifying) = attrs.split_at(1);
        let list = |a: &[(&str, AttrValue)]| {
            a.iter()
                .map(|(k, v)| Attribute {
                    key: Text::from(*k),
                    value: v.clone(),
                })
                .collect()
        };
        Arc::new(AgentDescription {
            identifying: list(identifying),
            non_identifying: list(non_identifying),
        })
    }

    fn s(v: &str) -> AttrValue {
        AttrValue::String(Text::from(v))
    }

    #[test]
    fn description_strings_are_labels_and_operator_labels_win() {
        let d = described(&[
            ("service.name", s("otelcol")),
            ("host.name", s("web-1")),
            ("cores", AttrValue::Int(4)),
            ("env", s("dev")),
            ("zone", s("a")),
            ("zone", s("b")),
        ]);
        let operator = BTreeMap::from([
            ("env".to_string(), "prod".to_string()),
            ("team".to_string(), "core".to_string()),
        ]);
        let l = Labels::new(d.clone(), &operator);
        let pairs: Vec<(&str, &str)> = l.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
        assert_eq!(
            pairs,
            [
                ("env", "prod"),
                ("host.name", "web-1"),
                ("service.name", "otelcol"),
                ("team", "core"),
                ("zone", "b"),
            ]
        );
        assert_eq!(l.len(), 5);
        assert_eq!(l.get("cores"), None, "only string attributes are labels");
        assert_eq!(l["env"], "prod");
        assert_eq!(l.get("zone").map(Text::as_str), Some("b"), "the later one");
        // The values are the description's own texts, not copies.
        let host = d.get_text("host.name").expect("described");
        assert!(std::ptr::eq(l["host.name"].as_str(), host.as_str()));
        assert_eq!(Labels::from(l.to_map()), l);
        assert!(Labels::new(Arc::default(), &BTreeMap::new()).is_empty());
        // Without operator labels nothing is copied but the index.
        let plain = Labels::new(d.clone(), &BTreeMap::new());
        assert_eq!(plain.get("env").map(Text::as_str), Some("dev"));
        assert_eq!(plain.len(), 4);
    }
}
