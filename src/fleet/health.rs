//! An agent's component health as the registry and the snapshots hold it: one small
//! encoded blob per agent instead of a tree of structs.
//!
//! A Collector reports a tree of a few dozen components (pipelines, their receivers,
//! processors, exporters, extensions). Decoded into [`ComponentHealth`] that is ~120 bytes
//! per node plus vectors, about 2 KB per agent, held for as long as the agent is connected,
//! although the hot paths (totals, events, the agents table) only ever read the root's
//! `healthy` flag, its last error and how many components are unhealthy.
//!
//! [`Health`] keeps those three answers ready and the rest encoded:
//! - every string of the tree (component names, statuses, errors, attribute keys and string
//!   values) goes to a string table, once per tree; tables are pooled like [`Text`], so the
//!   agents of a fleet that report components of the same names share one table;
//! - the nodes, in pre-order, are a few bytes each: flags, table indexes and times as varint
//!   differences from the parent's (a Collector stamps most components alike).
//!
//! The full tree is decoded only where someone looks at it ([`Health::tree`]: the API's
//! agent detail, the TUI's health tab).
//!
//! Limits: a tree is stored to a depth of [`MAX_DEPTH`], with at most [`MAX_COMPONENTS`]
//! components and [`MAX_VALUES`] attribute values; what lies beyond is dropped (components
//! are counted in [`Health::dropped`]), so an agent reporting a huge tree cannot make the
//! server hold it. The wire decoder already bounds
//! the depth (prost's recursion limit) and the size (the message size limit).

use std::collections::HashMap;
use std::fmt;
use std::sync::{Arc, Mutex, PoisonError};

use super::agent::{AttrValue, Attribute, ComponentHealth, Components};
use super::text::Text;

/// Deeper components are not stored. The wire allows about 50 levels (prost's recursion
/// limit of 100 counts the map entries too), so real reports are never cut.
pub const MAX_DEPTH: usize = 64;
/// At most this many components (the root not counted) are stored per agent.
pub const MAX_COMPONENTS: usize = 4096;
/// At most this many attribute values (nested ones included) are stored per agent: with
/// the component limit, this bounds the string table too.
pub const MAX_VALUES: usize = 4096;

/// An agent's component health, compact and immutable; clones share it.
#[derive(Clone, PartialEq, Eq)]
pub struct Health(Arc<Inner>);

#[derive(PartialEq, Eq)]
struct Inner {
    healthy: bool,
    /// Unhealthy components below the root, over the whole reported tree (to `MAX_DEPTH`).
    unhealthy: u32,
    /// Components below the root that are stored.
    components: u32,
    /// Components that were reported but not stored (beyond the limits).
    dropped: u32,
    /// The root's last error, kept out of the blob: events and the TUI read it often.
    last_error: Text,
    strings: Arc<[Text]>,
    nodes: Box<[u8]>,
}

// Node flags.
const HEALTHY: u8 = 1;
const HAS_STATUS: u8 = 2;
const HAS_ERROR: u8 = 4;
const HAS_ATTRS: u8 = 8;
const HAS_CHILDREN: u8 = 16;

// Attribute value tags.
const NULL: u8 = 0;
const STRING: u8 = 1;
const FALSE: u8 = 2;
const TRUE: u8 = 3;
const INT: u8 = 4;
const DOUBLE: u8 = 5;
const BYTES: u8 = 6;
const ARRAY: u8 = 7;
const MAP: u8 = 8;

/// The [`HealthTree`] accessors of a type whose fields carry the protocol's names (each
/// tree type does), so the three implementations differ only where the types do.
macro_rules! health_scalars {
    () => {
        fn healthy(&self) -> bool {
            self.healthy
        }
        fn start_time_unix_nano(&self) -> u64 {
            self.start_time_unix_nano
        }
        fn status_time_unix_nano(&self) -> u64 {
            self.status_time_unix_nano
        }
        fn status(&self) -> &str {
            &self.status
        }
        fn last_error(&self) -> &str {
            &self.last_error
        }
    };
}
pub(crate) use health_scalars;

/// A component-health tree to encode: the domain's [`ComponentHealth`], or the codec's
/// decoded message read in place (no tree of domain structs built just to be encoded).
pub trait HealthTree: Sized {
    fn healthy(&self) -> bool;
    fn start_time_unix_nano(&self) -> u64;
    fn status_time_unix_nano(&self) -> u64;
    fn status(&self) -> &str;
    fn last_error(&self) -> &str;
    fn attributes(&self) -> &[Attribute];
    /// The children by name, in name order, one per name.
    fn children(&self) -> impl ExactSizeIterator<Item = (&str, &Self)> + Clone;
}

impl HealthTree for ComponentHealth {
    health_scalars!();
    fn attributes(&self) -> &[Attribute] {
        &self.attributes
    }
    fn children(&self) -> impl ExactSizeIterator<Item = (&str, &Self)> + Clone {
        self.components.iter().map(|(k, v)| (&**k, v))
    }
}

impl Health {
    /// Encodes `h` (see the module's limits).
    pub fn new<T: HealthTree>(h: &T) -> Health {
        let mut enc = Encoder::default();
        enc.node(h, Times::default(), 0);
        let (unhealthy, _) = count_unhealthy(h, 0);
        Health(Arc::new(Inner {
            healthy: h.healthy(),
            unhealthy: clamp_u32(unhealthy),
            components: clamp_u32(enc.stored),
            dropped: clamp_u32(enc.dropped),
            last_error: Text::shared(h.last_error()),
            strings: pooled_table(&enc.strings),
            nodes: enc.out.into_boxed_slice(),
        }))
    }

    pub fn healthy(&self) -> bool {
        self.0.healthy
    }

    /// The root's last error ("" when none).
    pub fn last_error(&self) -> &Text {
        &self.0.last_error
    }

    /// Number of components in the tree below the root that report unhealthy.
    pub fn unhealthy_count(&self) -> usize {
        self.0.unhealthy as usize
    }

    /// Number of components below the root (as stored).
    pub fn component_count(&self) -> usize {
        self.0.components as usize
    }

    /// Components the agent reported beyond the limits, not stored.
    pub fn dropped(&self) -> usize {
        self.0.dropped as usize
    }

    /// The whole tree, decoded.
    pub fn tree(&self) -> ComponentHealth {
        let mut dec = Decoder {
            bytes: &self.0.nodes,
            at: 0,
            strings: &self.0.strings,
        };
        // The blob is ours, written by `Encoder`; should it ever fail to decode, the root's
        // summary is still right.
        dec.node(Times::default(), 0)
            .unwrap_or_else(|_| ComponentHealth {
                healthy: self.0.healthy,
                last_error: self.0.last_error.clone(),
                ..ComponentHealth::default()
            })
    }

    /// Heap bytes this agent holds on its own (the string table is shared), for tests
    /// and benchmarks.
    pub fn own_bytes(&self) -> usize {
        std::mem::size_of::<Inner>() + self.0.nodes.len()
    }
}

impl From<&ComponentHealth> for Health {
    fn from(h: &ComponentHealth) -> Self {
        Health::new(h)
    }
}

impl fmt::Debug for Health {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.tree(), f)
    }
}

impl serde::Serialize for Health {
    /// As the tree it stands for.
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.tree().serialize(s)
    }
}

fn clamp_u32(n: usize) -> u32 {
    u32::try_from(n).unwrap_or(u32::MAX)
}

/// (unhealthy components, components) below `h`, to `MAX_DEPTH`.
fn count_unhealthy<T: HealthTree>(h: &T, depth: usize) -> (usize, usize) {
    if depth >= MAX_DEPTH {
        return (0, 0);
    }
    h.children()
        .map(|(_, c)| {
            let (u, n) = count_unhealthy(c, depth + 1);
            (u + usize::from(!c.healthy()), n + 1)
        })
        .fold((0, 0), |(a, b), (u, n)| (a + u, b + n))
}

/// The parent's times: a node stores its own as differences from them.
#[derive(Clone, Copy, Default)]
struct Times {
    start: u64,
    status: u64,
}

/// Strings are borrowed from the tree while it is encoded; they become shared [`Text`]s
/// only when their table is new to the pool.
#[derive(Default)]
struct Encoder<'a> {
    out: Vec<u8>,
    strings: Vec<&'a str>,
    index: HashMap<&'a str, u32>,
    stored: usize,
    dropped: usize,
    values: usize,
}

impl<'a> Encoder<'a> {
    fn string(&mut self, s: &'a str) {
        let next = clamp_u32(self.strings.len());
        let i = *self.index.entry(s).or_insert_with(|| {
            self.strings.push(s);
            next
        });
        self.varint(u64::from(i));
    }

    fn varint(&mut self, mut v: u64) {
        while v >= 0x80 {
            self.out.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.out.push(v as u8);
    }

    fn delta(&mut self, now: u64, parent: u64) {
        // Zigzag of the wrapping difference: small either way, exact for any pair.
        let d = now.wrapping_sub(parent) as i64;
        self.varint(((d << 1) ^ (d >> 63)) as u64);
    }

    fn node<T: HealthTree>(&mut self, h: &'a T, parent: Times, depth: usize) {
        let children = h.children();
        let keep = if depth + 1 >= MAX_DEPTH {
            self.dropped += count_all(h, depth);
            0
        } else {
            let keep = children
                .len()
                .min(MAX_COMPONENTS.saturating_sub(self.stored));
            // Children not kept, with everything below them.
            self.dropped += children
                .clone()
                .skip(keep)
                .map(|(_, c)| 1 + count_all(c, depth + 1))
                .sum::<usize>();
            keep
        };
        let attributes = h.attributes();
        let mut flags = 0;
        for (yes, bit) in [
            (h.healthy(), HEALTHY),
            (!h.status().is_empty(), HAS_STATUS),
            (!h.last_error().is_empty(), HAS_ERROR),
            (!attributes.is_empty(), HAS_ATTRS),
            (keep > 0, HAS_CHILDREN),
        ] {
            if yes {
                flags |= bit;
            }
        }
        self.out.push(flags);
        if flags & HAS_STATUS != 0 {
            self.string(h.status());
        }
        if flags & HAS_ERROR != 0 {
            self.string(h.last_error());
        }
        self.delta(h.start_time_unix_nano(), parent.start);
        self.delta(h.status_time_unix_nano(), parent.status);
        if flags & HAS_ATTRS != 0 {
            self.attributes(attributes, depth);
        }
        if flags & HAS_CHILDREN != 0 {
            // Reserve every kept child's slot first, so the ones below are not counted
            // against it.
            self.stored += keep;
            self.varint(keep as u64);
            let times = Times {
                start: h.start_time_unix_nano(),
                status: h.status_time_unix_nano(),
            };
            for (name, child) in children.take(keep) {
                self.string(name);
                self.node(child, times, depth + 1);
            }
        }
    }

    /// Takes up to `n` attribute values from the budget; returns how many it may store.
    fn room(&mut self, n: usize) -> usize {
        let n = n.min(MAX_VALUES.saturating_sub(self.values));
        self.values += n;
        n
    }

    fn attributes(&mut self, attrs: &'a [Attribute], depth: usize) {
        let attrs = &attrs[..self.room(attrs.len())];
        self.varint(attrs.len() as u64);
        for a in attrs {
            self.string(&a.key);
            self.value(&a.value, depth);
        }
    }

    fn value(&mut self, v: &'a AttrValue, depth: usize) {
        // Nested values count towards the same depth limit as components.
        if depth >= MAX_DEPTH {
            self.out.push(NULL);
            return;
        }
        match v {
            AttrValue::Null => self.out.push(NULL),
            AttrValue::String(s) => {
                self.out.push(STRING);
                self.string(s);
            }
            AttrValue::Bool(b) => self.out.push(if *b { TRUE } else { FALSE }),
            AttrValue::Int(i) => {
                self.out.push(INT);
                self.varint(((i << 1) ^ (i >> 63)) as u64);
            }
            AttrValue::Double(d) => {
                self.out.push(DOUBLE);
                self.out.extend_from_slice(&d.to_le_bytes());
            }
            AttrValue::Bytes(b) => {
                self.out.push(BYTES);
                self.varint(b.len() as u64);
                self.out.extend_from_slice(b);
            }
            AttrValue::Array(items) => {
                let items = &items[..self.room(items.len())];
                self.out.push(ARRAY);
                self.varint(items.len() as u64);
                for item in items {
                    self.value(item, depth + 1);
                }
            }
            AttrValue::Map(kvs) => {
                self.out.push(MAP);
                self.attributes(kvs, depth + 1);
            }
        }
    }
}

/// Components below `h` (to `MAX_DEPTH`), for what is dropped.
fn count_all<T: HealthTree>(h: &T, depth: usize) -> usize {
    count_unhealthy(h, depth).1
}

/// The blob did not decode: only possible if `Encoder` and `Decoder` disagree.
#[derive(Debug)]
struct Corrupt;

struct Decoder<'a> {
    bytes: &'a [u8],
    at: usize,
    strings: &'a [Text],
}

impl Decoder<'_> {
    fn byte(&mut self) -> Result<u8, Corrupt> {
        let b = *self.bytes.get(self.at).ok_or(Corrupt)?;
        self.at += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64, Corrupt> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            v |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(Corrupt)
    }

    fn zigzag(&mut self) -> Result<i64, Corrupt> {
        let v = self.varint()?;
        Ok((v >> 1) as i64 ^ -((v & 1) as i64))
    }

    fn delta(&mut self, parent: u64) -> Result<u64, Corrupt> {
        Ok(parent.wrapping_add(self.zigzag()? as u64))
    }

    fn string(&mut self) -> Result<Text, Corrupt> {
        let i = usize::try_from(self.varint()?).map_err(|_| Corrupt)?;
        self.strings.get(i).cloned().ok_or(Corrupt)
    }

    fn take(&mut self, n: usize) -> Result<&[u8], Corrupt> {
        let end = self.at.checked_add(n).ok_or(Corrupt)?;
        let s = self.bytes.get(self.at..end).ok_or(Corrupt)?;
        self.at = end;
        Ok(s)
    }

    /// A count, checked against the bytes left (each item takes at least one).
    fn count(&mut self) -> Result<usize, Corrupt> {
        let n = usize::try_from(self.varint()?).map_err(|_| Corrupt)?;
        if n > self.bytes.len() - self.at {
            return Err(Corrupt);
        }
        Ok(n)
    }

    fn node(&mut self, parent: Times, depth: usize) -> Result<ComponentHealth, Corrupt> {
        if depth >= MAX_DEPTH {
            return Err(Corrupt);
        }
        let flags = self.byte()?;
        let status = if flags & HAS_STATUS != 0 {
            self.string()?
        } else {
            Text::default()
        };
        let last_error = if flags & HAS_ERROR != 0 {
            self.string()?
        } else {
            Text::default()
        };
        let times = Times {
            start: self.delta(parent.start)?,
            status: self.delta(parent.status)?,
        };
        let attributes = if flags & HAS_ATTRS != 0 {
            self.attributes(depth)?
        } else {
            Vec::new()
        };
        let components = if flags & HAS_CHILDREN != 0 {
            let n = self.count()?;
            let mut children = Vec::with_capacity(n);
            for _ in 0..n {
                let name = self.string()?;
                children.push((name, self.node(times, depth + 1)?));
            }
            children.into_iter().collect()
        } else {
            Components::default()
        };
        Ok(ComponentHealth {
            healthy: flags & HEALTHY != 0,
            start_time_unix_nano: times.start,
            last_error,
            status,
            status_time_unix_nano: times.status,
            components,
            attributes,
        })
    }

    fn attributes(&mut self, depth: usize) -> Result<Vec<Attribute>, Corrupt> {
        let n = self.count()?;
        let mut out = Vec::with_capacity(n);
        for _ in 0..n {
            let key = self.string()?;
            out.push(Attribute {
                key,
                value: self.value(depth)?,
            });
        }
        Ok(out)
    }

    fn value(&mut self, depth: usize) -> Result<AttrValue, Corrupt> {
        if depth > MAX_DEPTH {
            return Err(Corrupt);
        }
        Ok(match self.byte()? {
            NULL => AttrValue::Null,
            STRING => AttrValue::String(self.string()?),
            FALSE => AttrValue::Bool(false),
            TRUE => AttrValue::Bool(true),
            INT => AttrValue::Int(self.zigzag()?),
            DOUBLE => {
                let b: [u8; 8] = self.take(8)?.try_into().map_err(|_| Corrupt)?;
                AttrValue::Double(f64::from_le_bytes(b))
            }
            BYTES => {
                let n = self.count()?;
                AttrValue::Bytes(self.take(n)?.into())
            }
            ARRAY => {
                let n = self.count()?;
                let mut items = Vec::with_capacity(n);
                for _ in 0..n {
                    items.push(self.value(depth + 1)?);
                }
                AttrValue::Array(items.into())
            }
            MAP => AttrValue::Map(self.attributes(depth + 1)?.into()),
            _ => return Err(Corrupt),
        })
    }
}

/// Tables longer than this are not pooled (they are one agent's oddity).
const MAX_POOLED_STRINGS: usize = 512;
/// Beyond this many distinct tables, new ones are held on their own.
const MAX_POOLED_TABLES: usize = 4096;

/// Pooled tables by their strings joined with NUL (which no pooled string holds: a
/// table with one is not pooled), so a table is found from borrowed strings.
static TABLES: Mutex<Option<TablePool>> = Mutex::new(None);

type TablePool = HashMap<Box<str>, Arc<[Text]>>;

/// The pooled table equal to `strings` when there is one (or room for one). Only a table
/// new to the pool makes [`Text`]s: a fleet's agents mostly report the same one.
fn pooled_table(strings: &[&str]) -> Arc<[Text]> {
    let own =
        |strings: &[&str]| -> Arc<[Text]> { strings.iter().map(|s| Text::shared(s)).collect() };
    if strings.is_empty()
        || strings.len() > MAX_POOLED_STRINGS
        || strings.iter().any(|s| s.contains('\0'))
    {
        return own(strings);
    }
    let key = strings.join("\0");
    let mut guard = TABLES.lock().unwrap_or_else(PoisonError::into_inner);
    let pool = guard.get_or_insert_with(HashMap::new);
    if let Some(found) = pool.get(key.as_str()) {
        return found.clone();
    }
    let table = own(strings);
    if pool.len() < MAX_POOLED_TABLES {
        pool.insert(key.into_boxed_str(), table.clone());
    }
    table
}

/// Forgets pooled string tables no tree uses any more; returns how many stay pooled.
pub fn sweep() -> usize {
    let mut guard = TABLES.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(pool) = guard.as_mut() else {
        return 0;
    };
    pool.retain(|_, t| Arc::strong_count(t) > 1);
    pool.len()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(healthy: bool, status: &str, start: u64, at: u64) -> ComponentHealth {
        ComponentHealth {
            healthy,
            start_time_unix_nano: start,
            status: status.into(),
            status_time_unix_nano: at,
            ..ComponentHealth::default()
        }
    }

    /// Shaped like a Collector's report: pipelines with their components, extensions.
    fn collector(start: u64, failing: Option<&str>) -> ComponentHealth {
        let mut root = node(failing.is_none(), "StatusOK", start, start + 5);
        for p in ["pipeline:logs", "pipeline:metrics", "pipeline:traces"] {
            let mut pipe = node(true, "StatusOK", start, start + 5);
            for c in ["receiver:otlp", "processor:batch", "exporter:otlp"] {
                let mut n = node(true, "StatusOK", start, start + 7);
                if let Some(err) =
                    failing.filter(|_| p == "pipeline:traces" && c == "exporter:otlp")
                {
                    n.healthy = false;
                    n.status = "StatusRecoverableError".into();
                    n.last_error = Text::shared(err);
                    pipe.healthy = false;
                }
                pipe.components.insert(c.into(), n);
            }
            root.components.insert(p.into(), pipe);
        }
        if let Some(err) = failing {
            root.last_error = Text::shared(err);
        }
        root
    }

    #[test]
    fn a_collector_tree_round_trips_with_its_summary() {
        for failing in [None, Some("connection refused: otel-gateway:4317")] {
            let tree = collector(1_700_000_000_000_000_000, failing);
            let h = Health::new(&tree);
            assert_eq!(h.tree(), tree);
            assert_eq!(h.healthy(), tree.healthy);
            assert_eq!(h.unhealthy_count(), tree.unhealthy_count());
            assert_eq!(h.component_count(), 12);
            assert_eq!(h.last_error(), &tree.last_error);
            assert_eq!(h.dropped(), 0);
        }
        let sick = Health::new(&collector(1, Some("boom")));
        assert_eq!(sick.unhealthy_count(), 2, "the exporter and its pipeline");
    }

    #[test]
    fn a_collector_tree_is_small_and_agents_alike_share_its_strings() {
        let a = Health::new(&collector(1_700_000_000_000_000_000, None));
        let b = Health::new(&collector(1_700_000_000_123_456_789, None));
        assert!(
            Arc::ptr_eq(&a.0.strings, &b.0.strings),
            "one table for both"
        );
        // 13 nodes: a few bytes each once the times are differences.
        assert!(a.own_bytes() < 200, "{} bytes", a.own_bytes());
        assert_ne!(a.tree(), b.tree(), "each keeps its own times");
    }

    #[test]
    fn every_field_and_attribute_kind_round_trips() {
        let mut tree = node(false, "", u64::MAX, 0);
        tree.last_error = Text::shared(&"e".repeat(10_000));
        tree.attributes = vec![
            Attribute::string("", ""),
            Attribute {
                key: "n".into(),
                value: AttrValue::Int(i64::MIN),
            },
            Attribute {
                key: "d".into(),
                value: AttrValue::Double(-0.5),
            },
            Attribute {
                key: "b".into(),
                value: AttrValue::Bytes([0, 255, 7].into()),
            },
            Attribute {
                key: "a".into(),
                value: AttrValue::Array(
                    vec![
                        AttrValue::Bool(true),
                        AttrValue::Bool(false),
                        AttrValue::Null,
                        AttrValue::Map([Attribute::string("k", "v")].into()),
                    ]
                    .into(),
                ),
            },
        ];
        // Times far from the parent's in both directions, an empty and a huge name.
        tree.components
            .insert(Text::default(), node(true, "StatusOK", 0, u64::MAX));
        tree.components
            .insert(Text::shared(&"n".repeat(100_000)), node(false, "x", 3, 1));
        let h = Health::new(&tree);
        assert_eq!(h.tree(), tree);
        assert_eq!(h.unhealthy_count(), 1);
        assert_eq!(h.component_count(), 2);
        assert_eq!(format!("{h:?}"), format!("{tree:?}"));
        assert_eq!(
            serde_json::to_value(&h).unwrap(),
            serde_json::to_value(&tree).unwrap()
        );
        let empty = Health::new(&ComponentHealth::default());
        assert_eq!(empty.tree(), ComponentHealth::default());
        assert!(!empty.healthy());
    }

    /// A chain of `depth` components below the root, the deepest unhealthy.
    fn chain(depth: usize) -> ComponentHealth {
        let mut h = node(false, "deepest", 1, 1);
        for i in 0..depth {
            let mut parent = node(true, "StatusOK", 1, 1);
            parent.components.insert(Text::shared(&format!("c{i}")), h);
            h = parent;
        }
        h
    }

    #[test]
    fn deep_trees_round_trip_to_the_depth_limit_and_are_cut_beyond() {
        let fits = chain(MAX_DEPTH - 1);
        let h = Health::new(&fits);
        assert_eq!(h.tree(), fits);
        assert_eq!(h.unhealthy_count(), 1);
        assert_eq!(h.dropped(), 0);

        let deep = chain(1000);
        let h = Health::new(&deep);
        assert_eq!(h.component_count(), MAX_DEPTH - 1);
        assert!(h.dropped() > 0);
        let back = h.tree();
        let mut depth = 0;
        let mut at = &back;
        while let Some(child) = at.components.values().next() {
            depth += 1;
            at = child;
        }
        assert_eq!(depth, MAX_DEPTH - 1, "stored to the limit, not beyond");
        // Deep values in attributes are cut the same way instead of recursing on.
        let mut v = AttrValue::Null;
        for _ in 0..1000 {
            v = AttrValue::Array([v].into());
        }
        let mut with_attr = node(true, "", 0, 0);
        with_attr.attributes = vec![Attribute {
            key: "deep".into(),
            value: v,
        }];
        assert!(Health::new(&with_attr).tree().attributes.len() == 1);
    }

    #[test]
    fn wide_trees_keep_a_bounded_number_of_components() {
        let mut wide = node(true, "StatusOK", 1, 2);
        for i in 0..(MAX_COMPONENTS + 500) {
            let sick = i % 2 == 0;
            wide.components.insert(
                Text::unshared(&format!("receiver:r{i:05}")),
                node(!sick, "s", 1, 2),
            );
        }
        let h = Health::new(&wide);
        assert_eq!(h.component_count(), MAX_COMPONENTS);
        assert_eq!(h.dropped(), 500);
        assert_eq!(
            h.unhealthy_count(),
            (MAX_COMPONENTS + 500) / 2,
            "the count covers the whole report"
        );
        assert_eq!(h.tree().components.len(), MAX_COMPONENTS);
        // A few bytes per stored component, not a struct each.
        assert!(h.own_bytes() < 16 * MAX_COMPONENTS, "{}", h.own_bytes());
    }

    #[test]
    fn attribute_values_are_bounded_per_tree() {
        let many = |n: usize| -> Vec<Attribute> {
            (0..n)
                .map(|i| Attribute {
                    key: Text::unshared(&format!("k{i}")),
                    value: AttrValue::Int(i as i64),
                })
                .collect()
        };
        let mut tree = node(true, "", 0, 0);
        tree.attributes = many(MAX_VALUES + 10);
        let mut child = node(true, "", 0, 0);
        child.attributes = many(3);
        tree.components.insert("c".into(), child);
        let back = Health::new(&tree).tree();
        assert_eq!(back.attributes.len(), MAX_VALUES);
        assert_eq!(back.attributes[..], tree.attributes[..MAX_VALUES]);
        let c = back.components.get("c").expect("the component is kept");
        assert!(c.attributes.is_empty(), "no budget left for its attributes");

        let mut arrays = node(true, "", 0, 0);
        arrays.attributes = vec![Attribute {
            key: "list".into(),
            value: AttrValue::Array(vec![AttrValue::Bool(true); 2 * MAX_VALUES].into()),
        }];
        let back = Health::new(&arrays).tree();
        match &back.attributes[0].value {
            AttrValue::Array(items) => assert_eq!(items.len(), MAX_VALUES - 1),
            other => panic!("not an array: {other:?}"),
        }
    }

    #[test]
    fn unused_tables_are_swept() {
        let h = Health::new(&node(true, "health-test: only here", 0, 0));
        let weak = Arc::downgrade(&h.0.strings);
        drop(h);
        sweep();
        assert!(weak.upgrade().is_none());
    }
}
