//! MAIL's and RCPT's arguments: the path in brackets and the parameters after it.

use super::Reply;

/// Splits `FROM:<a@b> SIZE=1` (with `prefix` `FROM:`) into the address without `<>`
/// and the parameters. Lenient as most servers are: spaces after the colon, and an
/// address without brackets. A source route (`<@a,@b:c@d>`) is dropped, as RFC 5321
/// §4.1.1.3 asks. `None` for a syntax error.
pub(super) fn parse_path<'a>(args: &'a str, prefix: &str) -> Option<(&'a str, &'a str)> {
    let args = args.trim_start_matches(' ');
    if !args.get(..prefix.len())?.eq_ignore_ascii_case(prefix) {
        return None;
    }
    let rest = args.get(prefix.len()..)?.trim_start_matches(' ');
    let (path, params) = match rest.strip_prefix('<') {
        Some(inner) => {
            let end = closing_bracket(inner)?;
            let params = inner.get(end + 1..)?;
            if !params.is_empty() && !params.starts_with(' ') {
                return None;
            }
            (inner.get(..end)?, params)
        }
        None => {
            let (path, params) = rest.split_once(' ').unwrap_or((rest, ""));
            if path.is_empty() || path.contains('>') {
                return None;
            }
            (path, params)
        }
    };
    let path = match path.strip_prefix('@') {
        Some(routed) => routed.split_once(':')?.1,
        None => path,
    };
    Some((path, params.trim()))
}

/// Where the `>` closing a path is, outside quoted local parts (`"a>b"@c`).
fn closing_bracket(path: &str) -> Option<usize> {
    let mut quoted = false;
    let mut escaped = false;
    for (i, c) in path.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            '>' if !quoted => return Some(i),
            _ => {}
        }
    }
    None
}

/// Checks MAIL FROM's parameters (RFC 1870 SIZE, RFC 6152 BODY, RFC 6531 SMTPUTF8):
/// whether SMTPUTF8 was declared, or the refusal.
pub(super) fn mail_params(params: &str, max_size: usize) -> Result<bool, Reply> {
    let mut smtputf8 = false;
    for param in params.split(' ').filter(|p| !p.is_empty()) {
        let (key, value) = match param.split_once('=') {
            Some((key, value)) => (key, Some(value)),
            None => (param, None),
        };
        if key.eq_ignore_ascii_case("SIZE") {
            let size = value.filter(|v| !v.is_empty() && v.bytes().all(|b| b.is_ascii_digit()));
            let Some(size) = size else {
                return Err(Reply::new(501, "5.5.4", "Bad SIZE parameter"));
            };
            // Too many digits for a u64 is too big as well.
            let max = u64::try_from(max_size).unwrap_or(u64::MAX);
            if size.parse::<u64>().map_or(true, |size| size > max) {
                return Err(Reply::new(
                    552,
                    "5.3.4",
                    "Message size exceeds fixed maximum message size",
                ));
            }
        } else if key.eq_ignore_ascii_case("BODY") {
            let known = value.is_some_and(|v| {
                v.eq_ignore_ascii_case("7BIT") || v.eq_ignore_ascii_case("8BITMIME")
            });
            if !known {
                return Err(Reply::new(501, "5.5.4", "Bad BODY parameter"));
            }
        } else if key.eq_ignore_ascii_case("SMTPUTF8") && value.is_none() {
            smtputf8 = true;
        } else {
            return Err(Reply::new(555, "5.5.4", "Unsupported parameter"));
        }
    }
    Ok(smtputf8)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn paths_are_parsed_leniently_but_not_loosely() {
        assert_eq!(parse_path("FROM:<a@b>", "FROM:"), Some(("a@b", "")));
        assert_eq!(
            parse_path("from: <a@b>  SIZE=1 ", "FROM:"),
            Some(("a@b", "SIZE=1"))
        );
        assert_eq!(parse_path("FROM:<>", "FROM:"), Some(("", "")));
        assert_eq!(
            parse_path("FROM:a@b SIZE=1", "FROM:"),
            Some(("a@b", "SIZE=1"))
        );
        assert_eq!(parse_path("TO:<@r1,@r2:c@d>", "TO:"), Some(("c@d", "")));
        assert_eq!(
            parse_path(r#"TO:<"a>\"b"@d> X"#, "TO:"),
            Some((r#""a>\"b"@d"#, "X"))
        );
        assert_eq!(parse_path("TO:<ü@d>", "TO:"), Some(("ü@d", "")));
        assert_eq!(parse_path("FROM:<a@b", "FROM:"), None);
        assert_eq!(parse_path("FROM:<a@b>x", "FROM:"), None);
        assert_eq!(parse_path("FROM:", "FROM:"), None);
        assert_eq!(parse_path("TO:<a@b>", "FROM:"), None);
        assert_eq!(parse_path("FRü", "FROM:"), None);
    }
}
