//! JSON written the way JavaScript's `JSON.stringify(JSON.parse(text))` writes it:
//! no whitespace, keys in first-seen order (a repeated key keeps its first place and
//! its last value), strings with JavaScript's escapes, numbers in JavaScript's
//! shortest form. An Express handler that rebuilds the body with
//! `JSON.stringify(req.body)` (the article's) then gets back exactly these bytes, so
//! a signature over them verifies whatever was posted to the simulator.

/// How deeply arrays and objects may nest (serde_json's limit).
const MAX_DEPTH: usize = 128;

/// Why the text is not JSON.
#[derive(Debug, PartialEq, Eq, thiserror::Error)]
#[error("not JSON at byte {0}")]
pub(crate) struct NotJson(usize);

/// Re-writes `text` as JavaScript would.
pub(crate) fn stringify(text: &[u8]) -> Result<Vec<u8>, NotJson> {
    let mut p = Parser { s: text, at: 0 };
    let mut out = Vec::with_capacity(text.len());
    p.ws();
    p.value(&mut out, 0)?;
    p.ws();
    if p.at != text.len() {
        return Err(NotJson(p.at));
    }
    Ok(out)
}

struct Parser<'a> {
    s: &'a [u8],
    at: usize,
}

impl Parser<'_> {
    fn err<T>(&self) -> Result<T, NotJson> {
        Err(NotJson(self.at))
    }

    fn peek(&self) -> Option<u8> {
        self.s.get(self.at).copied()
    }

    fn ws(&mut self) {
        while matches!(self.peek(), Some(b' ' | b'\n' | b'\r' | b'\t')) {
            self.at += 1;
        }
    }

    fn eat(&mut self, b: u8) -> Result<(), NotJson> {
        if self.peek() == Some(b) {
            self.at += 1;
            Ok(())
        } else {
            self.err()
        }
    }

    fn value(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), NotJson> {
        if depth > MAX_DEPTH {
            return self.err();
        }
        match self.peek() {
            Some(b'{') => self.object(out, depth),
            Some(b'[') => {
                self.at += 1;
                out.push(b'[');
                self.ws();
                if self.peek() == Some(b']') {
                    self.at += 1;
                    out.push(b']');
                    return Ok(());
                }
                loop {
                    self.ws();
                    self.value(out, depth + 1)?;
                    self.ws();
                    match self.peek() {
                        Some(b',') => {
                            self.at += 1;
                            out.push(b',');
                        }
                        Some(b']') => {
                            self.at += 1;
                            out.push(b']');
                            return Ok(());
                        }
                        _ => return self.err(),
                    }
                }
            }
            Some(b'"') => {
                let units = self.string()?;
                write_string(out, &units);
                Ok(())
            }
            Some(b't') => self.literal(out, b"true"),
            Some(b'f') => self.literal(out, b"false"),
            Some(b'n') => self.literal(out, b"null"),
            Some(b'-' | b'0'..=b'9') => self.number(out),
            _ => self.err(),
        }
    }

    fn literal(&mut self, out: &mut Vec<u8>, word: &[u8]) -> Result<(), NotJson> {
        if self.s[self.at..].starts_with(word) {
            self.at += word.len();
            out.extend_from_slice(word);
            Ok(())
        } else {
            self.err()
        }
    }

    fn object(&mut self, out: &mut Vec<u8>, depth: usize) -> Result<(), NotJson> {
        self.eat(b'{')?;
        let mut entries: Vec<(Vec<u16>, Vec<u8>)> = Vec::new();
        self.ws();
        if self.peek() == Some(b'}') {
            self.at += 1;
        } else {
            loop {
                self.ws();
                if self.peek() != Some(b'"') {
                    return self.err();
                }
                let key = self.string()?;
                self.ws();
                self.eat(b':')?;
                self.ws();
                let mut value = Vec::new();
                self.value(&mut value, depth + 1)?;
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(entry) => entry.1 = value,
                    None => entries.push((key, value)),
                }
                self.ws();
                match self.peek() {
                    Some(b',') => self.at += 1,
                    Some(b'}') => {
                        self.at += 1;
                        break;
                    }
                    _ => return self.err(),
                }
            }
        }
        out.push(b'{');
        for (i, (key, value)) in entries.iter().enumerate() {
            if i > 0 {
                out.push(b',');
            }
            write_string(out, key);
            out.push(b':');
            out.extend_from_slice(value);
        }
        out.push(b'}');
        Ok(())
    }

    /// A string as UTF-16 code units, as JavaScript holds it (lone surrogates kept).
    fn string(&mut self) -> Result<Vec<u16>, NotJson> {
        self.eat(b'"')?;
        let mut units = Vec::new();
        loop {
            let start = self.at;
            while let Some(b) = self.peek() {
                if b == b'"' || b == b'\\' || b < 0x20 {
                    break;
                }
                self.at += 1;
            }
            let Ok(run) = std::str::from_utf8(&self.s[start..self.at]) else {
                return Err(NotJson(start));
            };
            units.extend(run.encode_utf16());
            match self.peek() {
                Some(b'"') => {
                    self.at += 1;
                    return Ok(units);
                }
                Some(b'\\') => {
                    self.at += 1;
                    let c = self.peek().ok_or(NotJson(self.at))?;
                    self.at += 1;
                    units.push(match c {
                        b'"' => 0x22,
                        b'\\' => 0x5c,
                        b'/' => 0x2f,
                        b'b' => 0x08,
                        b'f' => 0x0c,
                        b'n' => 0x0a,
                        b'r' => 0x0d,
                        b't' => 0x09,
                        b'u' => {
                            let hex = self.s.get(self.at..self.at + 4).ok_or(NotJson(self.at))?;
                            let hex = std::str::from_utf8(hex).map_err(|_| NotJson(self.at))?;
                            let unit =
                                u16::from_str_radix(hex, 16).map_err(|_| NotJson(self.at))?;
                            self.at += 4;
                            unit
                        }
                        _ => return self.err(),
                    });
                }
                _ => return self.err(),
            }
        }
    }

    fn number(&mut self, out: &mut Vec<u8>) -> Result<(), NotJson> {
        let start = self.at;
        if self.peek() == Some(b'-') {
            self.at += 1;
        }
        let digits = |p: &mut Self| {
            let from = p.at;
            while matches!(p.peek(), Some(b'0'..=b'9')) {
                p.at += 1;
            }
            p.at - from
        };
        match self.peek() {
            Some(b'0') => self.at += 1,
            Some(b'1'..=b'9') => {
                digits(self);
            }
            _ => return self.err(),
        }
        if self.peek() == Some(b'.') {
            self.at += 1;
            if digits(self) == 0 {
                return self.err();
            }
        }
        if matches!(self.peek(), Some(b'e' | b'E')) {
            self.at += 1;
            if matches!(self.peek(), Some(b'+' | b'-')) {
                self.at += 1;
            }
            if digits(self) == 0 {
                return self.err();
            }
        }
        let text = std::str::from_utf8(&self.s[start..self.at]).map_err(|_| NotJson(start))?;
        let value: f64 = text.parse().map_err(|_| NotJson(start))?;
        out.extend_from_slice(js_number(value).as_bytes());
        Ok(())
    }
}

fn write_string(out: &mut Vec<u8>, units: &[u16]) {
    out.push(b'"');
    for c in char::decode_utf16(units.iter().copied()) {
        match c {
            Ok('"') => out.extend_from_slice(b"\\\""),
            Ok('\\') => out.extend_from_slice(b"\\\\"),
            Ok('\u{8}') => out.extend_from_slice(b"\\b"),
            Ok('\u{c}') => out.extend_from_slice(b"\\f"),
            Ok('\n') => out.extend_from_slice(b"\\n"),
            Ok('\r') => out.extend_from_slice(b"\\r"),
            Ok('\t') => out.extend_from_slice(b"\\t"),
            Ok(c) if (c as u32) < 0x20 => {
                out.extend_from_slice(format!("\\u{:04x}", c as u32).as_bytes());
            }
            Ok(c) => {
                let mut buf = [0; 4];
                out.extend_from_slice(c.encode_utf8(&mut buf).as_bytes());
            }
            // A lone surrogate: well-formed JSON.stringify escapes it.
            Err(e) => {
                out.extend_from_slice(format!("\\u{:04x}", e.unpaired_surrogate()).as_bytes());
            }
        }
    }
    out.push(b'"');
}

/// `Number.prototype.toString()` for a finite value; `null` otherwise, as
/// `JSON.stringify` writes an infinite number.
fn js_number(v: f64) -> String {
    if !v.is_finite() {
        return "null".into();
    }
    if v == 0.0 {
        return "0".into();
    }
    let sign = if v < 0.0 { "-" } else { "" };
    // Rust's `{:e}` is the shortest round-trip form: `d[.ddd]e<exp>`.
    let e = format!("{:e}", v.abs());
    let (mantissa, exp) = e.split_once('e').unwrap_or((&e, "0"));
    let digits: String = mantissa.chars().filter(char::is_ascii_digit).collect();
    let k = digits.len() as i32;
    let n = exp.parse::<i32>().unwrap_or(0) + 1;
    let body = if k <= n && n <= 21 {
        format!("{digits}{}", "0".repeat((n - k) as usize))
    } else if 0 < n && n <= 21 {
        format!("{}.{}", &digits[..n as usize], &digits[n as usize..])
    } else if -6 < n && n <= 0 {
        format!("0.{}{digits}", "0".repeat((-n) as usize))
    } else {
        let exp = n - 1;
        let exp = if exp < 0 {
            format!("-{}", -exp)
        } else {
            format!("+{exp}")
        };
        match digits.len() {
            1 => format!("{digits}e{exp}"),
            _ => format!("{}.{}e{exp}", &digits[..1], &digits[1..]),
        }
    };
    format!("{sign}{body}")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn js(s: &str) -> String {
        String::from_utf8(stringify(s.as_bytes()).unwrap()).unwrap()
    }

    #[test]
    fn writes_what_json_stringify_writes() {
        assert_eq!(
            js(" { \"b\" : [1, 2.50, -0, 1e2] , \"a\":null } "),
            r#"{"b":[1,2.5,0,100],"a":null}"#
        );
        assert_eq!(js(r#"{"a":1,"b":2,"a":3}"#), r#"{"a":3,"b":2}"#);
        assert_eq!(
            js(r#""\u0041\/\u00e9\u001F\ud83d\ude00\ud800""#),
            "\"A/é\\u001f😀\\ud800\""
        );
        assert_eq!(js("1e21"), "1e+21");
        assert_eq!(js("123456789012345678901"), "123456789012345680000");
        assert_eq!(js("0.000001"), "0.000001");
        assert_eq!(js("1.5e-7"), "1.5e-7");
        assert_eq!(js("1e400"), "null");
        assert_eq!(js("[true,false,{}]"), "[true,false,{}]");
        assert_eq!(js("\"tab\\there\""), "\"tab\\there\"");
    }

    #[test]
    fn refuses_what_json_parse_refuses() {
        for bad in [
            "", "{", "[1,]", "01", "1.", "{\"a\"}", "\"\t\"", "nul", "{} x", "\"\\x\"", "-",
        ] {
            assert!(stringify(bad.as_bytes()).is_err(), "{bad:?}");
        }
        assert!(stringify("[".repeat(200).as_bytes()).is_err());
    }
}
