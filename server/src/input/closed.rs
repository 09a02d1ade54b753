//! Reading a request body as a closed schema: the protocol's types ignore fields they do not
//! know (a device must survive a newer server), but the reference server refuses them in what
//! it is sent, so an admin's typo is a 422 rather than a silently dropped field.
//!
//! A `Deserializer` over a parsed `serde_json::Value` that compares every object's keys with
//! the field list serde gives for the struct being read, and records the first unknown one.

use serde::de::value::{Error, MapDeserializer, SeqDeserializer};
use serde::de::{self, DeserializeOwned, IntoDeserializer, Visitor};
use serde::forward_to_deserialize_any;
use serde_json::Value;
use std::cell::RefCell;

/// `T` from `value`, or where the first field `T` does not know sits: the path of the object
/// holding it (`contact.phones[]`, empty for the body itself). The unknown key itself is not
/// named: it is the client's text, and may be anything.
pub fn from_value<T: DeserializeOwned>(value: Value) -> Result<T, Refusal> {
    let unknown = RefCell::new(None);
    let t = T::deserialize(Closed {
        value,
        path: String::new(),
        unknown: &unknown,
    });
    if let Some(path) = unknown.into_inner() {
        return Err(Refusal::UnknownField(path));
    }
    t.map_err(Refusal::Shape)
}

#[derive(Debug)]
pub enum Refusal {
    UnknownField(String),
    Shape(Error),
}

struct Closed<'u> {
    value: Value,
    path: String,
    unknown: &'u RefCell<Option<String>>,
}

impl<'u> Closed<'u> {
    fn child(&self, value: Value, key: &str) -> Closed<'u> {
        let path = if self.path.is_empty() {
            key.to_owned()
        } else if key.is_empty() {
            format!("{}[]", self.path)
        } else {
            format!("{}.{key}", self.path)
        };
        Closed {
            value,
            path,
            unknown: self.unknown,
        }
    }
}

struct MapIter<'u> {
    inner: serde_json::map::IntoIter,
    parent: Closed<'u>,
}

impl<'u> Iterator for MapIter<'u> {
    type Item = (String, Closed<'u>);
    fn next(&mut self) -> Option<Self::Item> {
        let (k, v) = self.inner.next()?;
        let child = self.parent.child(v, &k);
        Some((k, child))
    }
}

impl<'de, 'u> IntoDeserializer<'de, Error> for Closed<'u> {
    type Deserializer = Self;
    fn into_deserializer(self) -> Self {
        self
    }
}

impl<'de, 'u> de::Deserializer<'de> for Closed<'u> {
    type Error = Error;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        let parent = Closed {
            value: Value::Null,
            path: self.path,
            unknown: self.unknown,
        };
        match self.value {
            Value::Null => visitor.visit_unit(),
            Value::Bool(b) => visitor.visit_bool(b),
            Value::Number(n) => {
                if let Some(u) = n.as_u64() {
                    visitor.visit_u64(u)
                } else if let Some(i) = n.as_i64() {
                    visitor.visit_i64(i)
                } else {
                    visitor.visit_f64(n.as_f64().unwrap_or(f64::NAN))
                }
            }
            Value::String(s) => visitor.visit_string(s),
            Value::Array(a) => {
                let items: Vec<Closed<'u>> = a.into_iter().map(|v| parent.child(v, "")).collect();
                let mut seq = SeqDeserializer::new(items.into_iter());
                let out = visitor.visit_seq(&mut seq)?;
                seq.end()?;
                Ok(out)
            }
            Value::Object(m) => {
                let mut map = MapDeserializer::new(MapIter {
                    inner: m.into_iter(),
                    parent,
                });
                let out = visitor.visit_map(&mut map)?;
                map.end()?;
                Ok(out)
            }
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Error> {
        match self.value {
            Value::Null => visitor.visit_none(),
            _ => visitor.visit_some(self),
        }
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        if let Value::Object(m) = &self.value {
            if m.keys().any(|k| !fields.contains(&k.as_str())) {
                let mut first = self.unknown.borrow_mut();
                if first.is_none() {
                    *first = Some(self.path.clone());
                }
            }
        }
        self.deserialize_any(visitor)
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Error> {
        match self.value {
            Value::String(s) => visitor.visit_enum(s.into_deserializer()),
            _ => Err(de::Error::invalid_type(
                de::Unexpected::Other("not a string"),
                &visitor,
            )),
        }
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Error> {
        visitor.visit_newtype_struct(self)
    }

    forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map identifier ignored_any
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use contacts_agent_protocol::ContactData;
    use serde::Deserialize;
    use serde_json::json;

    #[derive(Deserialize, Debug)]
    #[allow(dead_code)]
    struct NewUser {
        #[serde(default)]
        id: Option<String>,
        contact: ContactData,
        #[serde(default)]
        groups: Vec<String>,
    }

    #[test]
    fn an_unknown_field_anywhere_is_named_by_its_path() {
        let body = json!({"contact": {"given_name": "A", "family_name": "B", "display_name": "",
            "phones": [{"number": "1", "kind": "work", "extension": "x"}]}});
        let err = from_value::<NewUser>(body).err();
        assert!(
            matches!(&err, Some(Refusal::UnknownField(p)) if p == "contact.phones[]"),
            "{err:?}"
        );
        let err = from_value::<NewUser>(json!({"contact": {}, "extra": 1})).err();
        assert!(
            matches!(&err, Some(Refusal::UnknownField(p)) if p.is_empty()),
            "{err:?}"
        );
    }

    #[test]
    fn a_known_shape_reads_as_serde_json_would() {
        let body = json!({"id": "u1", "groups": ["g"], "contact": {"given_name": "A",
            "family_name": "B", "display_name": "A B", "organization": null,
            "phones": [{"number": "1", "kind": "mobile"}], "address": {"city": "C"}}});
        let user = from_value::<NewUser>(body.clone()).ok();
        let plain = serde_json::from_value::<NewUser>(body).ok();
        assert_eq!(user.map(|u| u.contact), plain.map(|u| u.contact));
        let missing = from_value::<NewUser>(json!({"contact": {"given_name": "A"}})).err();
        assert!(matches!(missing, Some(Refusal::Shape(_))));
    }
}
