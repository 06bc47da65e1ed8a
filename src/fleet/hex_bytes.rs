//! Serde helper: byte strings as lowercase hex (`#[serde(with = "hex_bytes")]`).

pub fn serialize<S: serde::Serializer>(b: &[u8], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(b))
}
pub fn deserialize<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
    let s: String = serde::Deserialize::deserialize(d)?;
    hex::decode(s).map_err(serde::de::Error::custom)
}
