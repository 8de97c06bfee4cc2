//! The settings there are, read off the structs the file and the environment are deserialized
//! into, so a new field is a new setting (with its `IDP_*` variable) without a list to update;
//! and the nearest one to a mistyped name.

use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, Visitor};
use serde::Deserialize;

use super::raw::RawSettings;

/// One setting: its key (`tokens.access_token_lifetime`) and what its field takes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Setting {
    pub key: String,
    pub kind: Kind,
}

/// What a setting's field deserializes from, which decides how an environment value is typed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    /// A string, taken as written.
    Text,
    /// A whole number.
    Integer,
    /// `true` or `false`.
    Bool,
    /// Whatever is written (a duration: whole seconds or text such as `10m`).
    NumberOrText,
}

/// Every setting, in the order of the struct fields.
pub(super) fn settings() -> Vec<Setting> {
    let mut found = Vec::new();
    RawSettings::deserialize(Tracer { key: String::new(), found: &mut found })
        .unwrap_or_else(|e| panic!("a settings field has no environment form: {e}"));
    found
}

/// The first key in `tree` (a file, with the environment laid over it) that is no setting, as
/// `section.key`; inside an unknown section, its first key.
pub(super) fn unknown_key(tree: &toml::Table, settings: &[Setting]) -> Option<String> {
    unknown_key_in("", tree, settings)
}

fn unknown_key_in(section: &str, table: &toml::Table, settings: &[Setting]) -> Option<String> {
    for (name, value) in table {
        let key = if section.is_empty() { name.clone() } else { format!("{section}.{name}") };
        let is_section = settings.iter().any(|s| s.key.starts_with(&format!("{key}.")));
        match value {
            _ if settings.iter().any(|s| s.key == key) => {}
            toml::Value::Table(inner) if is_section => {
                if let Some(unknown) = unknown_key_in(&key, inner, settings) {
                    return Some(unknown);
                }
            }
            // A section written as a plain value: the deserializer's message says what it wants.
            _ if is_section => {}
            toml::Value::Table(inner) => {
                return Some(match inner.keys().next() {
                    Some(first) => format!("{key}.{first}"),
                    None => key,
                })
            }
            _ => return Some(key),
        }
    }
    None
}

/// The setting `typed` (a key, or an `IDP_*` name turned into one) most probably meant: the one
/// sharing most of its words, each allowed a typo or two, then the one fewest edits away.
/// `None` unless more than half of the typed words match.
pub(super) fn nearest<'a>(typed: &str, settings: &'a [Setting]) -> Option<&'a Setting> {
    let typed_words = words(typed);
    settings
        .iter()
        .map(|setting| {
            let setting_words = words(&setting.key);
            let matched = typed_words.iter().filter(|w| setting_words.iter().any(|s| near(w, s))).count();
            (setting, matched)
        })
        .filter(|(_, matched)| 2 * matched > typed_words.len())
        .max_by_key(|(setting, matched)| {
            (*matched, std::cmp::Reverse(edits(&typed.to_ascii_lowercase(), &setting.key)))
        })
        .map(|(setting, _)| setting)
}

fn words(name: &str) -> Vec<String> {
    name.split(['.', '_']).filter(|w| !w.is_empty()).map(str::to_ascii_lowercase).collect()
}

/// Two words are near when a short word matches exactly and a longer one within a typo or two.
fn near(typed: &str, word: &str) -> bool {
    let allowed = match typed.len() {
        0..=2 => 0,
        3..=5 => 1,
        _ => 2,
    };
    edits(typed, word) <= allowed
}

/// Levenshtein distance.
fn edits(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let substitution = diagonal + usize::from(ca != *cb);
            diagonal = row[j + 1];
            row[j + 1] = substitution.min(row[j] + 1).min(diagonal + 1);
        }
    }
    row[b.len()]
}

/// A deserializer that hands every struct all its fields and records, for each leaf, the type
/// its field asked for.
struct Tracer<'a> {
    key: String,
    found: &'a mut Vec<Setting>,
}

impl Tracer<'_> {
    fn leaf(self, kind: Kind) {
        self.found.push(Setting { key: self.key, kind });
    }

    fn unsupported<T>(self, what: &str) -> Result<T, de::value::Error> {
        Err(de::Error::custom(format!("`{}` is {what}", self.key)))
    }
}

macro_rules! unsupported {
    ($($method:ident => $what:literal),* $(,)?) => {
        $(fn $method<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Self::Error> {
            self.unsupported($what)
        })*
    };
}

impl<'de> de::Deserializer<'de> for Tracer<'_> {
    type Error = de::value::Error;

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_map(Fields { section: self.key, fields: fields.iter(), current: "", found: self.found })
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        visitor.visit_some(self)
    }

    fn deserialize_str<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.leaf(Kind::Text);
        visitor.visit_str("")
    }

    fn deserialize_string<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.deserialize_str(visitor)
    }

    fn deserialize_i64<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.leaf(Kind::Integer);
        visitor.visit_i64(1)
    }

    fn deserialize_bool<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.leaf(Kind::Bool);
        visitor.visit_bool(true)
    }

    /// Asked for by a field that looks at what was written (an untagged enum such as a duration).
    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Self::Error> {
        self.leaf(Kind::NumberOrText);
        visitor.visit_i64(1)
    }

    // Settings are i64 when whole numbers; lists and the rest would need an environment syntax
    // decided first.
    unsupported! {
        deserialize_i8 => "an i8 (settings use i64)",
        deserialize_i16 => "an i16 (settings use i64)",
        deserialize_i32 => "an i32 (settings use i64)",
        deserialize_u8 => "a u8 (settings use i64)",
        deserialize_u16 => "a u16 (settings use i64)",
        deserialize_u32 => "a u32 (settings use i64)",
        deserialize_u64 => "a u64 (settings use i64)",
        deserialize_f32 => "a float",
        deserialize_f64 => "a float",
        deserialize_char => "a char",
        deserialize_bytes => "bytes",
        deserialize_byte_buf => "bytes",
        deserialize_unit => "a unit",
        deserialize_seq => "a list",
        deserialize_map => "a map",
        deserialize_identifier => "an identifier",
        deserialize_ignored_any => "ignored",
    }

    fn deserialize_unit_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("a unit struct")
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(self, _: &'static str, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("a newtype struct")
    }

    fn deserialize_tuple<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Self::Error> {
        self.unsupported("a tuple")
    }

    fn deserialize_tuple_struct<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: usize,
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.unsupported("a tuple struct")
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _: &'static str,
        _: &'static [&'static str],
        _: V,
    ) -> Result<V::Value, Self::Error> {
        self.unsupported("an enum")
    }
}

/// A section's fields, each followed by a [`Tracer`] for its value.
struct Fields<'a> {
    section: String,
    fields: std::slice::Iter<'static, &'static str>,
    current: &'static str,
    found: &'a mut Vec<Setting>,
}

impl<'de> MapAccess<'de> for Fields<'_> {
    type Error = de::value::Error;

    fn next_key_seed<K: DeserializeSeed<'de>>(&mut self, seed: K) -> Result<Option<K::Value>, Self::Error> {
        let Some(field) = self.fields.next() else {
            return Ok(None);
        };
        self.current = field;
        seed.deserialize(IntoDeserializer::<Self::Error>::into_deserializer(*field)).map(Some)
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, Self::Error> {
        let key = match self.section.as_str() {
            "" => self.current.to_owned(),
            section => format!("{section}.{}", self.current),
        };
        seed.deserialize(Tracer { key, found: &mut *self.found })
    }
}
