//! Addresses in the message header: the header From domain (RFC 5322 §3.4 address lists),
//! Return-Path (RFC 5321 §4.4 `Return-path-line`, the MAIL FROM of the final delivery) and
//! Message-ID (RFC 5322 §3.6.4).
//!
//! Header values are attacker-controlled and often invalid, so the scanners here are
//! lenient single passes over the text: quoted strings, comments (nested) and angle
//! brackets are tracked so that a `,` or `@` inside them does not mislead us; encoded words
//! (RFC 2047) are plain atoms of a display name and never decoded, because an address only
//! counts if it is outside them.

use std::borrow::Cow;

/// The domain of the first mailbox of a `From:` value that has one, lower-cased, without a
/// trailing dot: `"Doe, J." <j@Example.COM>` -> `example.com`. Groups (`list: a@b, c@d;`),
/// comments, quoted local parts (`"a@b"@c`) and `<>` are handled; a mailbox without a
/// usable domain is skipped in favour of the next one.
pub fn header_from_domain(value: &str) -> Option<String> {
    let text = strip_comments_cow(value);
    let mut found = None;
    for_each_mailbox(&text, |mailbox| {
        found = domain_of(mailbox);
        found.is_some()
    });
    found
}

/// The domain part of an address (after the last `@`), lower-cased, trailing dot removed;
/// `None` when there is no `@` or the domain is not a plausible host name or literal.
pub fn domain_of(address: &str) -> Option<String> {
    let (_, domain) = address.rsplit_once('@')?;
    let domain = domain.trim().trim_end_matches('.');
    if domain.is_empty() {
        return None;
    }
    let literal = domain.starts_with('[') && domain.ends_with(']');
    let plausible = literal
        || domain
            .chars()
            .all(|c| c.is_alphanumeric() || matches!(c, '-' | '.' | '_'));
    plausible.then(|| domain.to_lowercase())
}

/// The Message-ID without angle brackets (and without any whitespace a fold left inside).
/// `None` when the value holds nothing.
pub fn message_id(value: &str) -> Option<String> {
    let text = strip_comments_cow(value);
    let inner = match text.find('<') {
        Some(open) => {
            let rest = text.get(open + 1..).unwrap_or("");
            match rest.find('>') {
                Some(close) => rest.get(..close).unwrap_or(rest),
                None => rest,
            }
        }
        None => text.split_whitespace().next().unwrap_or(""),
    };
    let id: String = if inner.bytes().all(|b| b.is_ascii_graphic()) {
        inner.to_string()
    } else {
        inner.chars().filter(|c| !c.is_whitespace()).collect()
    };
    (!id.is_empty()).then_some(id)
}

/// The address of a `Return-Path:` value: `Some("")` for the null sender `<>`, the bare
/// address otherwise (brackets, quotes and any source route removed); `None` when the
/// value holds nothing.
pub fn return_path(value: &str) -> Option<String> {
    let text = strip_comments_cow(value);
    let text = text.trim();
    if text.is_empty() {
        return None;
    }
    let address = match text.find('<') {
        Some(open) => {
            let rest = text.get(open + 1..).unwrap_or("");
            let inner = match rest.find('>') {
                Some(close) => rest.get(..close).unwrap_or(rest),
                None => rest,
            };
            strip_route(inner.trim()).to_string()
        }
        None => text.split_whitespace().next().unwrap_or("").to_string(),
    };
    Some(normalise_envelope_from(&address))
}

/// An envelope sender as written by a verdict or a Received clause, without surrounding
/// whitespace, quotes or angle brackets: `"<a@b>"` -> `a@b`, `<>` -> empty (null sender).
pub fn normalise_envelope_from(value: &str) -> String {
    let mut s = value.trim();
    for _ in 0..2 {
        s = strip_pair(s, '"', '"');
        s = strip_pair(s, '\'', '\'');
        s = strip_pair(s, '<', '>');
        s = s.trim();
    }
    s.to_string()
}

fn strip_pair(s: &str, open: char, close: char) -> &str {
    if s.len() >= 2 && s.starts_with(open) && s.ends_with(close) {
        s.get(open.len_utf8()..s.len() - close.len_utf8())
            .unwrap_or(s)
    } else {
        s
    }
}

/// `@relay1,@relay2:user@example.com` -> `user@example.com` (RFC 5321 §4.1.2 source route).
fn strip_route(address: &str) -> &str {
    if address.starts_with('@') {
        match address.find(':') {
            Some(colon) => address.get(colon + 1..).unwrap_or(address),
            None => address,
        }
    } else {
        address
    }
}

/// The value with every comment removed (nested comments, quoted-pairs; comments inside a
/// quoted string are text). Linear.
pub fn strip_comments(value: &str) -> String {
    strip_comments_cow(value).into_owned()
}

/// [`strip_comments`], borrowing the value when it has no `(` (then nothing changes).
fn strip_comments_cow(value: &str) -> Cow<'_, str> {
    if memchr::memchr(b'(', value.as_bytes()).is_none() {
        return Cow::Borrowed(value);
    }
    let mut out = String::with_capacity(value.len());
    let mut depth = 0usize;
    let mut in_quotes = false;
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            escaped = false;
            if depth == 0 {
                out.push(c);
            }
            continue;
        }
        match c {
            '\\' => {
                escaped = true;
                if depth == 0 {
                    out.push(c);
                }
            }
            '"' if depth == 0 => {
                in_quotes = !in_quotes;
                out.push(c);
            }
            '(' if !in_quotes => {
                if depth == 0 {
                    out.push(' ');
                }
                depth += 1;
            }
            ')' if !in_quotes && depth > 0 => depth -= 1,
            _ if depth == 0 => out.push(c),
            _ => {}
        }
    }
    Cow::Owned(out)
}

/// The addresses of an address list (comments already removed), in order, handed to `each`
/// until it returns `true`: for each mailbox the content of its angle brackets, or its bare
/// addr-spec. Group names (`name:`) and group ends (`;`) separate mailboxes like commas.
/// One pass; the addresses are slices of `text`.
fn for_each_mailbox<'t>(text: &'t str, mut each: impl FnMut(&'t str) -> bool) {
    // The bare text of the current mailbox starts here (it is only used when the mailbox
    // has no angle brackets, and then it is every character since the last separator).
    let mut bare_start = 0usize;
    // The angle brackets' content: its start, and its end once the `>` is seen.
    let mut angle: Option<(usize, Option<usize>)> = None;
    let mut in_angle = false;
    let mut in_quotes = false;
    let mut escaped = false;
    // Hand over the mailbox that ends at `end`; `true` when `each` wants no more.
    let mut flush = |angle: &mut Option<(usize, Option<usize>)>, bare_start: usize, end: usize| {
        let address = match angle.take() {
            Some((start, close)) => {
                strip_route(text.get(start..close.unwrap_or(end)).unwrap_or("").trim())
            }
            None => last_token_with_at(text.get(bare_start..end).unwrap_or("")),
        };
        !address.is_empty() && each(address)
    };
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            continue;
        }
        if in_quotes {
            if c == '"' {
                in_quotes = false;
            }
            continue;
        }
        match c {
            '"' => in_quotes = true,
            // A second `<...>` in one mailbox replaces nothing: the first one counts.
            '<' if !in_angle && angle.is_none() => {
                in_angle = true;
                angle = Some((i + 1, None));
            }
            '>' if in_angle => {
                in_angle = false;
                if let Some((_, close)) = angle.as_mut() {
                    *close = Some(i);
                }
            }
            ',' | ';' if !in_angle => {
                if flush(&mut angle, bare_start, i) {
                    return;
                }
                bare_start = i + 1;
            }
            // End of a group's display name: what came before was not an address.
            ':' if !in_angle && angle.is_none() => bare_start = i + 1,
            _ => {}
        }
    }
    flush(&mut angle, bare_start, text.len());
}

/// The last whitespace-separated token (outside quotes) that contains an `@`; empty when
/// there is none.
fn last_token_with_at(text: &str) -> &str {
    let mut best = "";
    let mut start = 0usize;
    let mut in_quotes = false;
    let mut escaped = false;
    let mut done = |start: usize, end: usize| {
        let token = text.get(start..end).unwrap_or("");
        if contains_unquoted_at(token) {
            best = token;
        }
    };
    for (i, c) in text.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            c if c.is_whitespace() && !in_quotes => {
                done(start, i);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    done(start, text.len());
    best
}

fn contains_unquoted_at(token: &str) -> bool {
    let mut in_quotes = false;
    let mut escaped = false;
    for c in token.chars() {
        if escaped {
            escaped = false;
            continue;
        }
        match c {
            '\\' => escaped = true,
            '"' => in_quotes = !in_quotes,
            '@' if !in_quotes => return true,
            _ => {}
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn from(value: &str) -> Option<String> {
        header_from_domain(value)
    }

    // The copying implementation for_each_mailbox replaced, as the reference.
    /// The addresses of an address list, in order: for each mailbox the content of its angle
    /// brackets, or its bare addr-spec. Group names (`name:`) and group ends (`;`) separate
    /// mailboxes like commas.
    fn mailboxes_reference(value: &str) -> Vec<String> {
        let text = strip_comments(value);
        let mut out = Vec::new();
        let mut bare = String::new();
        let mut angle: Option<String> = None;
        let mut in_angle = false;
        let mut in_quotes = false;
        let mut escaped = false;
        let flush = |bare: &mut String, angle: &mut Option<String>, out: &mut Vec<String>| {
            let address = match angle.take() {
                Some(inside) => strip_route(inside.trim()).to_string(),
                None => last_token_with_at_reference(bare),
            };
            if !address.is_empty() {
                out.push(address);
            }
            bare.clear();
        };
        for c in text.chars() {
            if escaped {
                escaped = false;
                push_current(c, in_angle, &mut angle, &mut bare);
                continue;
            }
            if c == '\\' {
                escaped = true;
                push_current(c, in_angle, &mut angle, &mut bare);
                continue;
            }
            if in_quotes {
                if c == '"' {
                    in_quotes = false;
                }
                push_current(c, in_angle, &mut angle, &mut bare);
                continue;
            }
            match c {
                '"' => {
                    in_quotes = true;
                    push_current(c, in_angle, &mut angle, &mut bare);
                }
                '<' if !in_angle => {
                    in_angle = true;
                    // A second `<...>` in one mailbox replaces nothing: the first one counts.
                    if angle.is_none() {
                        angle = Some(String::new());
                    } else {
                        in_angle = false;
                    }
                }
                '>' if in_angle => in_angle = false,
                ',' | ';' if !in_angle => flush(&mut bare, &mut angle, &mut out),
                // End of a group's display name: what came before was not an address.
                ':' if !in_angle && angle.is_none() => bare.clear(),
                _ => push_current(c, in_angle, &mut angle, &mut bare),
            }
        }
        flush(&mut bare, &mut angle, &mut out);
        out
    }

    fn push_current(c: char, in_angle: bool, angle: &mut Option<String>, bare: &mut String) {
        match angle {
            Some(inside) if in_angle => inside.push(c),
            _ => bare.push(c),
        }
    }

    /// The last whitespace-separated token (outside quotes) that contains an `@`.
    fn last_token_with_at_reference(text: &str) -> String {
        let mut best = String::new();
        let mut current = String::new();
        let mut in_quotes = false;
        let mut escaped = false;
        let done = |current: &mut String, best: &mut String| {
            if contains_unquoted_at(current) {
                *best = std::mem::take(current);
            } else {
                current.clear();
            }
        };
        for c in text.chars() {
            if escaped {
                escaped = false;
                current.push(c);
                continue;
            }
            match c {
                '\\' => {
                    escaped = true;
                    current.push(c);
                }
                '"' => {
                    in_quotes = !in_quotes;
                    current.push(c);
                }
                c if c.is_whitespace() && !in_quotes => done(&mut current, &mut best),
                c => current.push(c),
            }
        }
        done(&mut current, &mut best);
        best
    }

    fn mailboxes_now(value: &str) -> Vec<String> {
        let text = strip_comments_cow(value);
        let mut out = Vec::new();
        for_each_mailbox(&text, |m| {
            out.push(m.to_string());
            false
        });
        out
    }

    #[test]
    fn slicing_mailbox_scanner_matches_the_copying_one() {
        let alphabet = [
            "a", "@", " ", "\t", ",", ";", ":", "<", ">", "\"", "\\", "(", ")", "é", "\u{a0}", ".",
        ];
        let mut state = 0x1357_9bdf_2468_ace0u64;
        for _ in 0..50_000 {
            let mut value = String::new();
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            for k in 0..(state % 20) {
                let pick = state.rotate_left(k as u32 * 5) % alphabet.len() as u64;
                value.push_str(alphabet[pick as usize]);
            }
            assert_eq!(
                mailboxes_now(&value),
                mailboxes_reference(&value),
                "{value:?}"
            );
            let reference = mailboxes_reference(&value)
                .into_iter()
                .find_map(|m| domain_of(&m));
            assert_eq!(header_from_domain(&value), reference, "{value:?}");
        }
    }

    #[test]
    fn from_domain_forms() {
        assert_eq!(
            from("Marc Bradshaw <marc@marcbradshaw.net>").as_deref(),
            Some("marcbradshaw.net")
        );
        assert_eq!(
            from("noreply-dmarc-support@google.com").as_deref(),
            Some("google.com")
        );
        assert_eq!(
            from("\"Doe, John <j@evil.example>\" <john@Example.COM.>").as_deref(),
            Some("example.com")
        );
        assert_eq!(
            from("\"a@b\"@quoted.example").as_deref(),
            Some("quoted.example")
        );
        assert_eq!(
            from("=?UTF-8?B?QSA8YUBiLmM+?= <x@encoded.example>").as_deref(),
            Some("encoded.example")
        );
        assert_eq!(
            from("john@example.org (John (the) Doe)").as_deref(),
            Some("example.org")
        );
        assert_eq!(
            from("(comment with a@b.c) Name <n@real.example>").as_deref(),
            Some("real.example")
        );
        assert_eq!(
            from("Life Line Screening of America | Affiliate   <info@secaccinfoacesseesp.com>")
                .as_deref(),
            Some("secaccinfoacesseesp.com")
        );
    }

    #[test]
    fn from_groups_lists_and_empties() {
        assert_eq!(
            from("undisclosed-recipients:;, Real <r@second.example>").as_deref(),
            Some("second.example")
        );
        assert_eq!(
            from("Team: a@first.example, b@other.example;").as_deref(),
            Some("first.example")
        );
        assert_eq!(
            from("<>, Next <n@next.example>").as_deref(),
            Some("next.example")
        );
        assert_eq!(
            from("a@one.example, b@two.example").as_deref(),
            Some("one.example")
        );
        assert_eq!(
            from("<@route.example:u@routed.example>").as_deref(),
            Some("routed.example")
        );
        assert_eq!(from("<>"), None);
        assert_eq!(from(""), None);
        assert_eq!(from("just a name"), None);
        assert_eq!(from("\"unterminated <x@y.z>"), None);
        assert_eq!(
            from("<unterminated@angle.example").as_deref(),
            Some("angle.example")
        );
        assert_eq!(from("bad@dom!ain"), None);
    }

    #[test]
    fn message_ids() {
        assert_eq!(
            message_id("<20220517134550.7c451a83@kernel.org>").as_deref(),
            Some("20220517134550.7c451a83@kernel.org")
        );
        assert_eq!(message_id(" (comment) <a\n b@c>").as_deref(), Some("ab@c"));
        assert_eq!(
            message_id("bare@id.example junk").as_deref(),
            Some("bare@id.example")
        );
        assert_eq!(message_id("<>"), None);
        assert_eq!(message_id("   "), None);
    }

    #[test]
    fn return_paths() {
        assert_eq!(return_path("<>").as_deref(), Some(""));
        assert_eq!(
            return_path(" <a@b.example>").as_deref(),
            Some("a@b.example")
        );
        assert_eq!(
            return_path(" 1246062002-WITPfsJCEl@5wc0f8nzjobyge527r6jj3qOJX6eI6.cuk").as_deref(),
            Some("1246062002-WITPfsJCEl@5wc0f8nzjobyge527r6jj3qOJX6eI6.cuk")
        );
        assert_eq!(
            return_path("<@hop.example:user@dest.example>").as_deref(),
            Some("user@dest.example")
        );
        assert_eq!(return_path("(only a comment)"), None);
    }

    #[test]
    fn envelope_normalisation() {
        assert_eq!(
            normalise_envelope_from("\"marc@example.net\""),
            "marc@example.net"
        );
        assert_eq!(
            normalise_envelope_from(" <kuba@kernel.org> "),
            "kuba@kernel.org"
        );
        assert_eq!(normalise_envelope_from("\"<a@b>\""), "a@b");
        assert_eq!(normalise_envelope_from("<>"), "");
        assert_eq!(normalise_envelope_from("\"\""), "");
    }

    #[test]
    fn huge_values_are_linear() {
        let many = "a@b.example, ".repeat(100_000);
        assert_eq!(from(&many).as_deref(), Some("b.example"));
        let parens = "(".repeat(1 << 20);
        assert_eq!(from(&parens), None);
        assert_eq!(message_id(&parens), None);
    }
}
