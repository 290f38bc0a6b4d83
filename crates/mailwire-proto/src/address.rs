//! Email addresses as the services send them: strings in the form
//! `username@domain.com` or `Display Name <username@domain.com>`, kept exactly as
//! sent, with a parsed view where one can be made.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// An address field of a message: the exact string the service sent, whatever it
/// holds (an empty string, an unclosed `<`, `<>` and other odd but real values
/// included), and a parsed view of it when it is a mailbox.
///
/// ```
/// use mailwire_proto::Address;
///
/// let a = Address::new("\"Hopper, Grace\" <grace@example.com>");
/// assert_eq!(a.email(), Some("grace@example.com"));
/// assert_eq!(a.name().as_deref(), Some("Hopper, Grace"));
///
/// let odd = Address::new("Grace <grace@example.com");
/// assert_eq!(odd.as_str(), "Grace <grace@example.com"); // kept as sent
/// assert_eq!(odd.mailbox(), None); // no parsed view
/// ```
#[derive(Clone, PartialEq, Eq, Hash, Default)]
pub struct Address {
    text: String,
}

/// The parsed view of an [`Address`]: an optional display name and the address.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Mailbox<'a> {
    /// The display name, unquoted, when there is one.
    pub name: Option<Cow<'a, str>>,
    /// The address itself, e.g. `ada@example.com`.
    pub email: &'a str,
}

impl Address {
    /// An address holding exactly this text.
    pub fn new(text: impl Into<String>) -> Address {
        Address { text: text.into() }
    }

    /// `Name <email>`, the name quoted when RFC 5322 needs it, so that
    /// [`Address::mailbox`] gives both back.
    pub fn named(name: &str, email: &str) -> Address {
        let text = if name.contains([',', '"', '<', '>', '@', ';', ':', '\\', '(', ')', '.']) {
            let escaped = name.replace('\\', "\\\\").replace('"', "\\\"");
            format!("\"{escaped}\" <{email}>")
        } else {
            format!("{name} <{email}>")
        };
        Address { text }
    }

    /// The text as the service sent it.
    pub fn as_str(&self) -> &str {
        &self.text
    }

    /// The parsed view: `"Name <addr>"`, `"<addr>"` or a bare `"addr"` (quotes
    /// around the name removed). `None` when the text is none of those: empty, an
    /// unclosed `<`, `<>`, text after the `>`, or whitespace inside a bare address.
    pub fn mailbox(&self) -> Option<Mailbox<'_>> {
        let s = self.text.trim();
        if s.is_empty() {
            return None;
        }
        let Some(open) = s.rfind('<') else {
            if s.contains(char::is_whitespace) || s.contains('>') {
                return None;
            }
            return Some(Mailbox {
                name: None,
                email: s,
            });
        };
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
        Some(Mailbox {
            name: (!name.is_empty()).then_some(name),
            email,
        })
    }

    /// The address part of the parsed view.
    pub fn email(&self) -> Option<&str> {
        self.mailbox().map(|m| m.email)
    }

    /// The display name of the parsed view.
    pub fn name(&self) -> Option<Cow<'_, str>> {
        self.mailbox().and_then(|m| m.name)
    }
}

/// The display name of `"Name" <addr>`: a quoted string loses its quotes and
/// backslash escapes; anything else is taken as it is, stray quotes trimmed.
fn unquote(name: &str) -> Cow<'_, str> {
    let Some(inner) = name.strip_prefix('"').and_then(|n| n.strip_suffix('"')) else {
        return Cow::Borrowed(name.trim_matches('"').trim());
    };
    if !inner.contains('\\') {
        return Cow::Borrowed(inner.trim());
    }
    let mut out = String::with_capacity(inner.len());
    let mut chars = inner.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => out.push(chars.next().unwrap_or('\\')),
            c => out.push(c),
        }
    }
    Cow::Owned(out.trim().to_owned())
}

impl fmt::Debug for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Debug::fmt(&self.text, f)
    }
}

impl fmt::Display for Address {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.text)
    }
}

impl From<&str> for Address {
    fn from(text: &str) -> Address {
        Address::new(text)
    }
}

impl From<String> for Address {
    fn from(text: String) -> Address {
        Address::new(text)
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.text)
    }
}

impl<'de> Deserialize<'de> for Address {
    /// A string, as AgentMail sends; also `{"name", "email"}` (or `"address"`), which
    /// some wire-compatible services send, read as `Name <email>`.
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct AddressVisitor;

        impl<'de> Visitor<'de> for AddressVisitor {
            type Value = Address;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"an address: "Name <addr>" or {"name", "email"}"#)
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
                Ok(Address::new(v))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<Address, E> {
                Ok(Address::new(v))
            }

            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Address, A::Error> {
                let mut name: Option<String> = None;
                let mut email: Option<String> = None;
                while let Some(key) = map.next_key::<Cow<'de, str>>()? {
                    match &*key {
                        "name" => name = map.next_value::<Option<String>>()?,
                        "email" | "address" => email = map.next_value::<Option<String>>()?,
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                let email = email.ok_or_else(|| de::Error::missing_field("email"))?;
                Ok(match name.filter(|n| !n.is_empty()) {
                    Some(name) => Address::named(&name, &email),
                    None => Address::new(email),
                })
            }
        }

        d.deserialize_any(AddressVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(s: &str) -> Option<(Option<String>, String)> {
        Address::new(s)
            .mailbox()
            .map(|m| (m.name.map(Cow::into_owned), m.email.to_owned()))
    }

    #[test]
    fn parses_the_string_forms() {
        let named = |n: &str, e: &str| Some((Some(n.to_owned()), e.to_owned()));
        let bare = |e: &str| Some((None, e.to_owned()));
        assert_eq!(
            view("Ada Lovelace <ada@example.com>"),
            named("Ada Lovelace", "ada@example.com")
        );
        assert_eq!(
            view("\"Lovelace, Ada\" <ada@example.com>"),
            named("Lovelace, Ada", "ada@example.com")
        );
        assert_eq!(view("<ada@example.com>"), bare("ada@example.com"));
        assert_eq!(view("ada@example.com"), bare("ada@example.com"));
        for odd in [
            "",
            "   ",
            "Ada <ada@example.com",
            "<>",
            "Ada <> ",
            "Ada <a@b> trailing",
            "two words",
        ] {
            assert_eq!(view(odd), None, "{odd:?}");
            assert_eq!(Address::new(odd).as_str(), odd);
        }
    }

    #[test]
    fn any_string_deserializes_and_serializes_back_unchanged() {
        for s in [
            "",
            "<>",
            "Ada <ada@example.com",
            "  spaced  ",
            "ümlaut <ü@example.com>",
        ] {
            let json = serde_json::to_string(s).unwrap();
            let a: Address = serde_json::from_str(&json).unwrap();
            assert_eq!(a.as_str(), s);
            assert_eq!(serde_json::to_string(&a).unwrap(), json);
        }
    }

    #[test]
    fn objects_read_as_the_string_form() {
        let a: Address =
            serde_json::from_str(r#"{"name":"Ada","email":"ada@example.com"}"#).unwrap();
        assert_eq!(a.as_str(), "Ada <ada@example.com>");
        let b: Address = serde_json::from_str(r#"{"email":"ada@example.com"}"#).unwrap();
        assert_eq!(b.as_str(), "ada@example.com");
        assert!(serde_json::from_str::<Address>(r#"{"name":"Ada"}"#).is_err());
        assert!(serde_json::from_str::<Address>("42").is_err());
    }

    #[test]
    fn named_round_trips_through_the_parsed_view() {
        for name in [
            "Ada Lovelace",
            "Lovelace, Ada",
            "Ada \"the Countess\" Lovelace",
            r"Back\slash",
            "Dr. Ada",
        ] {
            let a = Address::named(name, "ada@example.com");
            let m = a.mailbox().unwrap();
            assert_eq!(m.name.as_deref(), Some(name), "{a}");
            assert_eq!(m.email, "ada@example.com");
        }
    }
}
