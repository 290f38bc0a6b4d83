//! Best-effort reading of payload fields.
//!
//! A payload field that does not have the type the definition gives (a number where a
//! string was expected, a timestamp that is not RFC 3339, a list of objects where a
//! list of strings was expected) is read as absent, so that the rest of the payload
//! stays readable and the event is never an error because of it. The same derived
//! `Deserialize` runs in a strict mode (see [`strict`]) when a caller asks why a field
//! is absent: then each of these functions fails where it would have given up.

use std::cell::Cell;
use std::fmt;
use std::marker::PhantomData;

use serde::Deserialize;
use serde::de::{self, DeserializeOwned, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};
use time::OffsetDateTime;

thread_local! {
    static STRICT: Cell<bool> = const { Cell::new(false) };
}

/// Runs `f` with every field read strictly: the first field that does not fit fails
/// the parse, with serde's reason.
pub(crate) fn strict<T>(f: impl FnOnce() -> T) -> T {
    struct Reset(bool);
    impl Drop for Reset {
        fn drop(&mut self) {
            STRICT.with(|s| s.set(self.0));
        }
    }
    let _reset = Reset(STRICT.with(|s| s.replace(true)));
    f()
}

pub(crate) fn is_strict() -> bool {
    STRICT.with(Cell::get)
}

/// Implements the visitor methods for every JSON value a field did not expect: each
/// is consumed (nested values skipped unread) and gives `$none`.
macro_rules! give_up_on_the_rest {
    ($none:expr; $($skip:ident),*) => {
        $(give_up_on_the_rest!(@one $skip, $none);)*
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            while seq.next_element::<IgnoredAny>()?.is_some() {}
            Ok($none)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok($none)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one str, $none:expr) => {
        fn visit_str<E: de::Error>(self, _: &str) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one bool, $none:expr) => {
        fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one i64, $none:expr) => {
        fn visit_i64<E: de::Error>(self, _: i64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one u64, $none:expr) => {
        fn visit_u64<E: de::Error>(self, _: u64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
    (@one f64, $none:expr) => {
        fn visit_f64<E: de::Error>(self, _: f64) -> Result<Self::Value, E> {
            Ok($none)
        }
    };
}

/// A string, or absent.
pub(crate) fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    if is_strict() {
        return Option::<String>::deserialize(d);
    }
    Ok(LStr::deserialize(d)?.0)
}

/// A string when the value is one, `None` otherwise.
struct LStr(Option<String>);

impl<'de> Deserialize<'de> for LStr {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(StrVisitor).map(LStr)
    }
}

struct StrVisitor;

impl<'de> Visitor<'de> for StrVisitor {
    type Value = Option<String>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string")
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(v.to_owned()))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    give_up_on_the_rest!(None; bool, i64, u64, f64);
}

/// A non-negative integer, or absent.
pub(crate) fn uint<'de, D: Deserializer<'de>>(d: D) -> Result<Option<u64>, D::Error> {
    if is_strict() {
        return Option::<u64>::deserialize(d);
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<u64>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a non-negative integer")
        }
        fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        give_up_on_the_rest!(None; str, bool, i64, f64);
    }
    d.deserialize_any(V)
}

/// A boolean, or absent.
pub(crate) fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    if is_strict() {
        return Option::<bool>::deserialize(d);
    }
    struct V;
    impl<'de> Visitor<'de> for V {
        type Value = Option<bool>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a boolean")
        }
        fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
            Ok(Some(v))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        give_up_on_the_rest!(None; str, i64, u64, f64);
    }
    d.deserialize_any(V)
}

/// An RFC 3339 timestamp, or absent.
pub(crate) fn timestamp<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<OffsetDateTime>, D::Error> {
    if is_strict() {
        return crate::timestamp::option::deserialize(d);
    }
    Ok(string(d)?.and_then(|s| crate::timestamp::parse(&s)))
}

/// A list of strings; elements that are not strings are left out, and anything but a
/// list reads as an empty one.
pub(crate) fn strings<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    if is_strict() {
        return Ok(Option::<Vec<String>>::deserialize(d)?.unwrap_or_default());
    }
    Ok(list::<D, LStr>(d)?
        .into_iter()
        .filter_map(|s| s.0)
        .collect())
}

/// An optional list of strings, elements that are not strings left out.
pub(crate) fn opt_strings<'de, D: Deserializer<'de>>(
    d: D,
) -> Result<Option<Vec<String>>, D::Error> {
    if is_strict() {
        return Option::<Vec<String>>::deserialize(d);
    }
    Ok(opt_list::<D, LStr>(d)?.map(|v| v.into_iter().filter_map(|s| s.0).collect()))
}

/// A list of `T`; elements that are not a `T` are left out, and anything but a list
/// reads as an empty one.
pub(crate) fn items<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Vec<T>, D::Error> {
    Ok(opt_items(d)?.unwrap_or_default())
}

/// An optional list of `T`, elements that are not a `T` left out.
pub(crate) fn opt_items<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    if is_strict() {
        return Option::<Vec<T>>::deserialize(d);
    }
    Ok(opt_list::<D, Maybe<T>>(d)?.map(|v| v.into_iter().filter_map(|m| m.0).collect()))
}

/// Any `T`, or absent when the value is not one.
pub(crate) fn any<'de, D: Deserializer<'de>, T: DeserializeOwned>(
    d: D,
) -> Result<Option<T>, D::Error> {
    if is_strict() {
        return Option::<T>::deserialize(d);
    }
    Ok(Maybe::<T>::deserialize(d)?.0)
}

fn list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(d: D) -> Result<Vec<T>, D::Error> {
    Ok(opt_list(d)?.unwrap_or_default())
}

fn opt_list<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    d: D,
) -> Result<Option<Vec<T>>, D::Error> {
    struct V<T>(PhantomData<T>);
    impl<'de, T: Deserialize<'de>> Visitor<'de> for V<T> {
        type Value = Option<Vec<T>>;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("a list")
        }
        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
            // Capacity from the hint is capped: the hint comes from the input.
            let mut out = Vec::with_capacity(seq.size_hint().unwrap_or(0).min(64));
            while let Some(item) = seq.next_element()? {
                out.push(item);
            }
            Ok(Some(out))
        }
        fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
            d.deserialize_any(self)
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
            while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
            Ok(None)
        }
        fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
            Ok(None)
        }
        give_up_on_the_rest!(@one str, None);
        give_up_on_the_rest!(@one bool, None);
        give_up_on_the_rest!(@one i64, None);
        give_up_on_the_rest!(@one u64, None);
        give_up_on_the_rest!(@one f64, None);
    }
    d.deserialize_any(V(PhantomData))
}

/// A `T` when the value is one, `None` when it is not. The value is read into a
/// `serde_json::Value` first, so a mismatch deep inside it does not end the parse of
/// what surrounds it.
struct Maybe<T>(Option<T>);

impl<'de, T: DeserializeOwned> Deserialize<'de> for Maybe<T> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let value = serde_json::Value::deserialize(d)?;
        Ok(Maybe(T::deserialize(value).ok()))
    }
}
