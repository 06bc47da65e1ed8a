//! Short strings that many agents report alike (attribute keys and values, health component
//! names and statuses), held once and shared.
//!
//! 10,000 Collectors send the same `service.name`, `os.type`, `pipeline:traces`,
//! `StatusOK`…; as owned `String`s each agent kept its own copy of every one. A [`Text`] is
//! an `Arc<str>`: [`Text::shared`] looks the string up in a process-wide pool first, so equal
//! strings point to one allocation. The pool only takes short strings and only so many of
//! them, and [`sweep`] forgets the ones no agent holds any more, so agents sending unique or
//! hostile strings cannot grow it without bound.

use std::collections::HashSet;
use std::fmt;
use std::ops::Deref;
use std::sync::{Arc, Mutex, PoisonError};

/// An immutable, cheaply cloned string.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Text(Arc<str>);

/// Longer strings (error messages, unique ids) are rarely shared: they are not pooled.
const MAX_POOLED_LEN: usize = 64;
/// Beyond this many distinct strings, new ones are allocated on their own.
const MAX_POOLED: usize = 1 << 16;

static POOL: Mutex<Option<HashSet<Arc<str>>>> = Mutex::new(None);

impl Text {
    /// The pooled copy of `s` when there is one (or room for one), else a new allocation.
    pub fn shared(s: &str) -> Text {
        if s.is_empty() {
            return Text::default();
        }
        if s.len() > MAX_POOLED_LEN {
            return Text(Arc::from(s));
        }
        let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
        let pool = guard.get_or_insert_with(HashSet::new);
        if let Some(found) = pool.get(s) {
            return Text(found.clone());
        }
        let text: Arc<str> = Arc::from(s);
        if pool.len() < MAX_POOLED {
            pool.insert(text.clone());
        }
        Text(text)
    }

    /// A string of its own, not pooled: for values known to differ per agent (its host
    /// name, its instance id), which would only fill the pool.
    pub fn unshared(s: &str) -> Text {
        Text(Arc::from(s))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

/// Forgets pooled strings nobody else holds any more; returns how many stay pooled.
pub fn sweep() -> usize {
    let mut guard = POOL.lock().unwrap_or_else(PoisonError::into_inner);
    let Some(pool) = guard.as_mut() else {
        return 0;
    };
    pool.retain(|s| Arc::strong_count(s) > 1);
    pool.len()
}

impl From<Text> for Arc<str> {
    fn from(t: Text) -> Arc<str> {
        t.0
    }
}

impl Deref for Text {
    type Target = str;
    fn deref(&self) -> &str {
        &self.0
    }
}

impl AsRef<str> for Text {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

impl std::borrow::Borrow<str> for Text {
    fn borrow(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Text {
    /// Like `str`: honours width and alignment (`{:<28}`), as tables rely on.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(&self.0)
    }
}

impl fmt::Debug for Text {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&*self.0, f)
    }
}

impl From<&str> for Text {
    fn from(s: &str) -> Self {
        Text::shared(s)
    }
}

impl From<String> for Text {
    fn from(s: String) -> Self {
        Text::shared(&s)
    }
}

impl From<&String> for Text {
    fn from(s: &String) -> Self {
        Text::shared(s)
    }
}

impl From<Text> for String {
    fn from(t: Text) -> Self {
        t.0.to_string()
    }
}

impl PartialEq<str> for Text {
    fn eq(&self, other: &str) -> bool {
        &*self.0 == other
    }
}

impl PartialEq<&str> for Text {
    fn eq(&self, other: &&str) -> bool {
        &*self.0 == *other
    }
}

impl PartialEq<String> for Text {
    fn eq(&self, other: &String) -> bool {
        *self.0 == **other
    }
}

impl PartialEq<Text> for String {
    fn eq(&self, other: &Text) -> bool {
        **self == *other.0
    }
}

impl PartialEq<Text> for &str {
    fn eq(&self, other: &Text) -> bool {
        **self == *other.0
    }
}

impl serde::Serialize for Text {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> serde::Deserialize<'de> for Text {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        Ok(Text::shared(&s))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn equal_short_strings_share_one_allocation() {
        let a = Text::shared("pipeline:text-test");
        let b = Text::from(String::from("pipeline:text-test"));
        assert_eq!(a, b);
        assert!(Arc::ptr_eq(&a.0, &b.0), "the second copy is the pooled one");
        assert_eq!(a, "pipeline:text-test");
        assert_eq!(a.to_string(), "pipeline:text-test");
        assert_eq!(format!("[{:<20}]", a), "[pipeline:text-test  ]");
    }

    #[test]
    fn long_strings_are_not_pooled_and_unused_ones_are_swept() {
        let long = "x".repeat(MAX_POOLED_LEN + 1);
        let a = Text::shared(&long);
        let b = Text::shared(&long);
        assert_eq!(a, b);
        assert!(!Arc::ptr_eq(&a.0, &b.0));

        let gone = Text::shared("text-test: held only by the pool after the drop");
        let weak = Arc::downgrade(&gone.0);
        drop(gone);
        sweep();
        assert!(
            weak.upgrade().is_none(),
            "the sweep freed the unused string"
        );
    }

    #[test]
    fn serializes_as_a_plain_string() {
        let t = Text::shared("StatusOK");
        assert_eq!(serde_json::to_string(&t).unwrap(), r#""StatusOK""#);
        let back: Text = serde_json::from_str(r#""StatusOK""#).unwrap();
        assert_eq!(back, t);
    }
}
