//! Where header values come from: an `http::HeaderMap` or plain pairs.

use http::{HeaderMap, HeaderName};

/// The result of looking one header name up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lookup<'a> {
    /// The header is absent.
    Missing,
    /// The header appears exactly once, with this value.
    One(&'a [u8]),
    /// The header appears more than once.
    Many,
}

/// A read-only view of request headers.
///
/// Names are matched ASCII-case-insensitively (a [`HeaderName`] is always
/// lower case). Implemented for [`http::HeaderMap`], for slices, arrays and
/// vectors of `(name, value)` pairs, and for `HashMap` and `BTreeMap` (whose
/// keys may differ in case: two keys equal but for case count as a duplicate
/// header). Any other iterator of pairs can be collected into a
/// `Vec<(&str, &[u8])>`; or implement the trait for your framework's type.
///
/// ```
/// use std::collections::BTreeMap;
/// use http::HeaderName;
/// use mailwire_webhook::{Headers, Lookup};
///
/// let name = HeaderName::from_static("x-signature");
/// let map = BTreeMap::from([("X-Signature", "abc"), ("x-signature", "def")]);
/// assert_eq!(map.lookup(&name), Lookup::Many);
/// let pairs: Vec<(&str, &[u8])> = map.iter().map(|(k, v)| (*k, v.as_bytes())).take(1).collect();
/// assert_eq!(pairs.lookup(&name), Lookup::One(b"abc"));
/// ```
pub trait Headers {
    /// Every value of the header called `name`, summarised as a [`Lookup`].
    fn lookup(&self, name: &HeaderName) -> Lookup<'_>;
}

impl<H: Headers + ?Sized> Headers for &H {
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        (**self).lookup(name)
    }
}

impl<T> Headers for HeaderMap<T>
where
    T: AsRef<[u8]>,
{
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        let mut values = self.get_all(name).iter();
        match (values.next(), values.next()) {
            (None, _) => Lookup::Missing,
            (Some(v), None) => Lookup::One(v.as_ref()),
            (Some(_), Some(_)) => Lookup::Many,
        }
    }
}

fn lookup_pairs<'a, K, V, I>(pairs: I, name: &HeaderName) -> Lookup<'a>
where
    K: AsRef<str> + ?Sized + 'a,
    V: AsRef<[u8]> + ?Sized + 'a,
    I: Iterator<Item = (&'a K, &'a V)>,
{
    let mut found = Lookup::Missing;
    for (k, v) in pairs {
        if k.as_ref().eq_ignore_ascii_case(name.as_str()) {
            if found != Lookup::Missing {
                return Lookup::Many;
            }
            found = Lookup::One(v.as_ref());
        }
    }
    found
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for [(K, V)] {
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        lookup_pairs(self.iter().map(|(k, v)| (k, v)), name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, const N: usize> Headers for [(K, V); N] {
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        self.as_slice().lookup(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for Vec<(K, V)> {
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        self.as_slice().lookup(name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>, S> Headers for std::collections::HashMap<K, V, S> {
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        lookup_pairs(self.iter(), name)
    }
}

impl<K: AsRef<str>, V: AsRef<[u8]>> Headers for std::collections::BTreeMap<K, V> {
    fn lookup(&self, name: &HeaderName) -> Lookup<'_> {
        lookup_pairs(self.iter(), name)
    }
}
