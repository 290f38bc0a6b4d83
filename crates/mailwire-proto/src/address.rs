//! Email addresses as the services send them: `"Name <addr>"` strings or
//! `{"name", "email"}` objects.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A mailbox: an address with an optional display name.
///
/// Deserializes from `"Ada Lovelace <ada@example.com>"`, `"ada@example.com"` or
/// `{"name": "Ada Lovelace", "email": "ada@example.com"}`; serializes as the string
/// form, which every client accepts, unless that form would not parse back to the same
/// address (e.g. a name with surrounding whitespace): then as the object form.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct Address {
    /// The display name, when there is one.
    pub name: Option<String>,
    /// The address itself, e.g. `ada@example.com`.
    pub email: String,
}

impl Address {
    /// An address without a display name.
    pub fn new(email: impl Into<String>) -> Self {
        Address {
            name: None,
            email: email.into(),
        }
    }

    /// An address with a display name.
    pub fn named(name: impl Into<String>, email: impl Into<String>) -> Self {
        Address {
            name: Some(name.into()),
            email: email.into(),
        }
    }

    /// Parses `"Name <addr>"`, `"<addr>"` or a bare `"addr"`. Quotes around the name
    /// are removed. Returns `None` for an empty string or an unclosed `<`.
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.is_empty() {
            return None;
        }
        match s.rfind('<') {
            Some(open) => {
                let rest = &s[open + 1..];
                let close = rest.find('>')?;
                if !rest[close + 1..].trim().is_empty() {
                    return None;
                }
                let email = rest[..close].trim();
                if email.is_empty() {
                    return None;
                }
                let name = unquote(s[..open].trim());
                Some(Address {
                    name: (!name.is_empty()).then_some(name),
                    email: email.to_owned(),
                })
            }
            None => Some(Address::new(s)),
        }
    }
}

/// The display name of `"Name" <addr>`: a quoted string loses its quotes and
/// backslash escapes; anything else is taken as it is, stray quotes trimmed.
fn unquote(name: &str) -> String {
    let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        return name.trim_matches('"').trim().to_owned();
    };
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    out.trim().to_owned()
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.name {
            Some(name) if name.contains([',', '"', '<', '>', '@', ';', ':', '\\']) => {
                // An RFC 5322 quoted string, so that `parse` gives the same name back.
                let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
                write!(f, "\"{escaped}\" <{}>", self.email)
            }
            Some(name) => write!(f, "{name} <{}>", self.email),
            None => f.write_str(&self.email),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let text = self.to_string();
        if Address::parse(&text).as_ref() == Some(self) {
            return s.serialize_str(&text);
        }
        // A name or address the string form cannot carry (surrounding whitespace, an
        // address with `<` or `>`, ...): the object form keeps it exactly.
        use serde::ser::SerializeStruct;
        let mut obj = s.serialize_struct("Address", 2)?;
        obj.serialize_field("name", &self.name)?;
        obj.serialize_field("email", &self.email)?;
        obj.end()
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AddressVisitor;

        impl<'de> Visitor<'de> for AddressVisitor {
            type Value = Address;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an address: "Name <addr>" or {"name", "email"}"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
                Address::parse(v).ok_or_else(|| E::custom("malformed address"))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Address, A::Error> {
                let mut name: Option<Option<String>> = None;
                let mut email: Option<String> = None;
                while let Some(key) = map.next_key::<std::borrow::Cow<'de, str>>()? {
                    match &*key {
                        "name" => {
                            if name.is_some() {
                                return Err(de::Error::duplicate_field("name"));
                            }
                            name = Some(map.next_value()?);
                        }
                        "email" | "address" => {
                            if email.is_some() {
                                return Err(de::Error::duplicate_field("email"));
                            }
                            email = Some(map.next_value()?);
                        }
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                let email = email.ok_or_else(|| de::Error::missing_field("email"))?;
                if email.trim().is_empty() {
                    return Err(de::Error::custom("empty email"));
                }
                Ok(Address {
                    name: name.flatten().filter(|n| !n.is_empty()),
                    email,
                })
            }
        }

        d.deserialize_any(AddressVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_string_forms() {
        assert_eq!(
            Address::parse("Ada Lovelace <ada@example.com>"),
            Some(Address::named("Ada Lovelace", "ada@example.com"))
        );
        assert_eq!(
            Address::parse("\"Lovelace, Ada\" <ada@example.com>"),
            Some(Address::named("Lovelace, Ada", "ada@example.com"))
        );
        assert_eq!(
            Address::parse("<ada@example.com>"),
            Some(Address::new("ada@example.com"))
        );
        assert_eq!(
            Address::parse("ada@example.com"),
            Some(Address::new("ada@example.com"))
        );
        assert_eq!(Address::parse(""), None);
        assert_eq!(Address::parse("Ada <ada@example.com"), None);
        assert_eq!(Address::parse("Ada <> "), None);
        assert_eq!(Address::parse("Ada <a@b> trailing"), None);
    }

    #[test]
    fn accepts_objects_and_strings() {
        let a: Address =
            serde_json::from_str(r#"{"name":"Ada","email":"ada@example.com"}"#).unwrap();
        assert_eq!(a, Address::named("Ada", "ada@example.com"));
        let b: Address = serde_json::from_str(r#"{"email":"ada@example.com"}"#).unwrap();
        assert_eq!(b, Address::new("ada@example.com"));
        let c: Address = serde_json::from_str(r#""Ada <ada@example.com>""#).unwrap();
        assert_eq!(c, a);
        assert!(serde_json::from_str::<Address>(r#"{"name":"Ada"}"#).is_err());
        assert!(serde_json::from_str::<Address>("42").is_err());
    }

    #[test]
    fn serializes_as_an_object_only_when_the_string_would_not_parse_back() {
        let plain = Address::named("Ada Lovelace", "ada@example.com");
        assert_eq!(
            serde_json::to_string(&plain).unwrap(),
            r#""Ada Lovelace <ada@example.com>""#
        );
        for odd in [
            Address::named("Ada\t", "ada@example.com"),
            Address::named(" ", "ada@example.com"),
            Address::named("Ada", "a>b@example.com"),
            Address::new("Ada <ada@example.com>"),
        ] {
            let json = serde_json::to_string(&odd).unwrap();
            assert!(json.starts_with('{'), "{json}");
            assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), odd);
        }
    }

    #[test]
    fn display_round_trips() {
        for a in [
            Address::named("Ada Lovelace", "ada@example.com"),
            Address::named("Lovelace, Ada", "ada@example.com"),
            Address::named("Ada \"the Countess\" Lovelace", "ada@example.com"),
            Address::named(r"Back\slash", "ada@example.com"),
            Address::new("ada@example.com"),
        ] {
            assert_eq!(Address::parse(&a.to_string()), Some(a));
        }
    }
}
