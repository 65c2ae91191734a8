//! `--zone FILE`: RFC 1035 master files, read as BIND and NSD read them, loaded into a
//! [`MemoryZone`] so that zone files and the in-memory zone answer through the same code.
//!
//! What is understood (RFC 1035 §5.1, RFC 2308 §4 for `$TTL`, RFC 3597 for `TYPEnnn`):
//! `$ORIGIN`, `$TTL`, `$INCLUDE file [origin]` (the file is relative to the including file;
//! the parent's origin is restored afterwards), `@`, relative and absolute names, a blank
//! owner meaning the previous owner, an optional TTL and class in either order, parentheses
//! across lines, `;` comments (not inside quotes), quoted strings with `\"`, `\\` and `\DDD`
//! escapes, TXT with several strings (quoted or bare words), A, AAAA, MX, PTR and CNAME.
//! Other record types (SOA, NS, SPF, HINFO, ...) are accepted and ignored, but make their
//! owner name exist, so asking it for TXT is "no data" rather than NXDOMAIN. A class other
//! than IN is an error, as in BIND. Names below an SOA owner that only exist because of
//! names under them (empty non-terminals) exist too, as in BIND. `*.name` is a wildcard.
//!
//! One addition, invisible to BIND (it is a comment): lines
//! `;; spfsleuth: KIND NAME TYPE ["detail"]` make queries for (NAME, TYPE) fail, so that a
//! `--save-dns` snapshot replays timeouts and server failures too. KIND is `TIMEOUT`,
//! `SERVFAIL`, `ERROR`, `INVALID` or `NXDOMAIN`; TYPE is A, AAAA, MX, TXT, PTR or `ANY`.
//!
//! Every error is `file:line: message` and fatal: the user gave the file.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::path::{Path, PathBuf};

use super::memory::MemoryZone;
use super::{DnsError, RecordType, SetupError, normalize_name};

/// The marker that starts our failure directives inside a comment.
pub const DIRECTIVE_PREFIX: &str = ";; spfsleuth:";

/// How deep `$INCLUDE` may nest before we call it a loop.
const MAX_INCLUDE_DEPTH: usize = 16;

/// Load every file into one zone. A name in none of the files does not exist.
pub fn load(paths: &[PathBuf]) -> Result<MemoryZone, SetupError> {
    let mut loader = ZoneLoader::new();
    for path in paths {
        loader.load_file(path)?;
    }
    Ok(loader.finish())
}

/// Parse zone text (as if read from a file called `display_name`, with `$INCLUDE` relative
/// to the current directory). For tests and small tools.
pub fn parse_str(display_name: &str, text: &str) -> Result<MemoryZone, SetupError> {
    let mut loader = ZoneLoader::new();
    loader.load_bytes(display_name, text.as_bytes(), Path::new("."), None, 0)?;
    Ok(loader.finish())
}

/// Accumulates records from one or more files into a [`MemoryZone`].
#[derive(Default)]
pub struct ZoneLoader {
    zone: MemoryZone,
    /// Records already added, to drop exact duplicates as a server does (one RRset).
    seen: HashSet<(String, RecordType, Vec<u8>)>,
    /// Owners of a CNAME, with its target (RFC 1034 §3.6.2: a CNAME stands alone).
    cname_targets: HashMap<String, String>,
    /// Owners of A/AAAA/MX/TXT/PTR records.
    data_owners: HashSet<String>,
    /// Every owner name seen (for empty non-terminals).
    owners: HashSet<String>,
    /// SOA owners: zone apexes under which empty non-terminals exist.
    apexes: HashSet<String>,
}

/// Parsing state that lives for one file.
struct FileState<'a> {
    display: &'a str,
    base_dir: &'a Path,
    origin: Option<String>,
    last_owner: Option<String>,
    depth: usize,
}

impl ZoneLoader {
    pub fn new() -> Self {
        Self::default()
    }

    /// Read and load one file.
    pub fn load_file(&mut self, path: &Path) -> Result<(), SetupError> {
        let bytes = std::fs::read(path).map_err(|e| {
            SetupError::Zone(format!("{}: cannot read zone file: {e}", path.display()))
        })?;
        let base = path.parent().unwrap_or(Path::new("."));
        let display = path.display().to_string();
        self.load_bytes(&display, &bytes, base, None, 0)
    }

    /// Load zone text; `base_dir` resolves relative `$INCLUDE` paths.
    pub fn load_bytes(
        &mut self,
        display: &str,
        bytes: &[u8],
        base_dir: &Path,
        origin: Option<String>,
        depth: usize,
    ) -> Result<(), SetupError> {
        let mut state = FileState {
            display,
            base_dir,
            origin,
            last_owner: None,
            depth,
        };
        let mut lexer = Lexer::new(bytes);
        loop {
            let item = lexer
                .next_item()
                .map_err(|(line, msg)| zone_error(display, line, &msg))?;
            match item {
                None => return Ok(()),
                Some(Item::Directive { line, tokens }) => {
                    self.failure_directive(&state, &tokens)
                        .map_err(|msg| zone_error(display, line, &msg))?
                }
                Some(Item::Entry {
                    line,
                    blank_owner,
                    tokens,
                }) => self.entry(&mut state, line, blank_owner, &tokens)?,
            }
        }
    }

    /// The loaded zone, with empty non-terminals under SOA owners made to exist.
    pub fn finish(mut self) -> MemoryZone {
        if !self.apexes.is_empty() {
            let mut extra = Vec::new();
            for owner in &self.owners {
                let mut rest = owner.as_str();
                while let Some((_, parent)) = rest.split_once('.') {
                    if self.apexes.contains(parent) || self.owners.contains(parent) {
                        break;
                    }
                    if self.apexes.iter().any(|apex| is_below(parent, apex)) {
                        extra.push(parent.to_owned());
                    }
                    rest = parent;
                }
            }
            for name in extra {
                self.zone.add_empty_name(&name);
            }
        }
        self.zone
    }

    fn entry(
        &mut self,
        state: &mut FileState<'_>,
        line: usize,
        blank_owner: bool,
        tokens: &[Token],
    ) -> Result<(), SetupError> {
        let display = state.display;
        let Some(first) = tokens.first() else {
            return Ok(());
        };
        if !first.quoted && first.text.first() == Some(&b'$') {
            return self.control(state, line, tokens);
        }
        self.record(state, blank_owner, tokens)
            .map_err(|(line, msg)| zone_error(display, line, &msg))
    }

    /// `$ORIGIN`, `$TTL`, `$INCLUDE` (RFC 1035 §5.1, RFC 2308 §4).
    fn control(
        &mut self,
        state: &mut FileState<'_>,
        line: usize,
        tokens: &[Token],
    ) -> Result<(), SetupError> {
        let err = |msg: &str| zone_error(state.display, line, msg);
        let Some((first, args)) = tokens.split_first() else {
            return Ok(());
        };
        let directive = String::from_utf8_lossy(&first.text).to_ascii_uppercase();
        match directive.as_str() {
            "$ORIGIN" => {
                let [name] = args else {
                    return Err(err("$ORIGIN takes exactly one name"));
                };
                let origin = parse_name(name, state.origin.as_deref()).map_err(|m| err(&m))?;
                state.origin = Some(origin);
                Ok(())
            }
            "$TTL" => {
                let [ttl] = args else {
                    return Err(err("$TTL takes exactly one value"));
                };
                parse_ttl(&ttl.text).ok_or_else(|| {
                    err(&format!(
                        "bad TTL \"{}\"",
                        String::from_utf8_lossy(&ttl.text)
                    ))
                })?;
                Ok(())
            }
            "$INCLUDE" => {
                let (file, origin) = match args {
                    [file] => (file, state.origin.clone()),
                    [file, origin] => (
                        file,
                        Some(parse_name(origin, state.origin.as_deref()).map_err(|m| err(&m))?),
                    ),
                    _ => return Err(err("$INCLUDE takes a file name and an optional origin")),
                };
                if state.depth + 1 >= MAX_INCLUDE_DEPTH {
                    return Err(err("$INCLUDE nested too deeply (a loop?)"));
                }
                let file = if file.quoted {
                    file.text.clone()
                } else {
                    decode_escapes(&file.text).map_err(|m| err(&m))?
                };
                let file = PathBuf::from(String::from_utf8_lossy(&file).into_owned());
                let path = if file.is_absolute() {
                    file
                } else {
                    state.base_dir.join(file)
                };
                let bytes = std::fs::read(&path).map_err(|e| {
                    err(&format!(
                        "cannot read included file {}: {e}",
                        path.display()
                    ))
                })?;
                let base = path.parent().unwrap_or(Path::new(".")).to_path_buf();
                let display = path.display().to_string();
                self.load_bytes(&display, &bytes, &base, origin, state.depth + 1)
            }
            other => Err(err(&format!("unsupported directive {other}"))),
        }
    }

    /// One resource record: `[owner] [ttl] [class] type rdata...` (TTL and class in either
    /// order, RFC 1035 §5.1).
    fn record(
        &mut self,
        state: &mut FileState<'_>,
        blank_owner: bool,
        tokens: &[Token],
    ) -> Result<(), (usize, String)> {
        let mut rest = tokens;
        let first_line = tokens.first().map_or(0, |t| t.line);
        let owner = if blank_owner {
            state.last_owner.clone().ok_or((
                first_line,
                "record without an owner name and no previous owner".to_owned(),
            ))?
        } else {
            let Some((owner_token, after)) = rest.split_first() else {
                return Ok(());
            };
            rest = after;
            parse_name(owner_token, state.origin.as_deref()).map_err(|m| (owner_token.line, m))?
        };
        state.last_owner = Some(owner.clone());

        let mut class: Option<String> = None;
        let mut ttl_seen = false;
        let type_token = loop {
            let Some((token, after)) = rest.split_first() else {
                return Err((
                    first_line,
                    format!("missing record type for {}", shown(&owner)),
                ));
            };
            rest = after;
            let word = String::from_utf8_lossy(&token.text).to_ascii_uppercase();
            if !token.quoted && !ttl_seen && parse_ttl(&token.text).is_some() {
                ttl_seen = true;
            } else if !token.quoted && class.is_none() && is_class(&word) {
                class = Some(word);
            } else {
                break token;
            }
        };
        let rtype = String::from_utf8_lossy(&type_token.text).to_ascii_uppercase();
        let line = type_token.line;
        if let Some(class) = class.as_deref()
            && class != "IN"
            && class != "CLASS1"
        {
            // BIND refuses a class other than the zone's ("bad class").
            return Err((line, format!("class {class} is not supported (only IN)")));
        }
        let kind = match rtype.as_str() {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
            "MX" => Some(RecordType::Mx),
            "TXT" => Some(RecordType::Txt),
            "PTR" => Some(RecordType::Ptr),
            "CNAME" => None,
            other if is_other_type(other) => {
                if rest.is_empty() {
                    return Err((line, format!("missing data for {other} record")));
                }
                if other == "SOA" {
                    self.apexes.insert(owner.clone());
                }
                self.owners.insert(owner.clone());
                self.zone.add_empty_name(&owner);
                return Ok(());
            }
            other => return Err((line, format!("unknown record type \"{other}\""))),
        };
        if rest.first().is_some_and(|t| !t.quoted && t.text == b"\\#") {
            return Err((
                line,
                format!("generic (\\#) data is not supported for {rtype} records"),
            ));
        }
        let origin = state.origin.as_deref();
        match kind {
            None => {
                let target = single_name(rest, origin, line, "CNAME")?;
                if self.data_owners.contains(&owner) {
                    return Err((line, format!("CNAME and other data at {}", shown(&owner))));
                }
                match self.cname_targets.get(&owner) {
                    Some(existing) if *existing == target => return Ok(()),
                    Some(_) => {
                        return Err((line, format!("more than one CNAME at {}", shown(&owner))));
                    }
                    None => {}
                }
                self.cname_targets.insert(owner.clone(), target.clone());
                self.owners.insert(owner.clone());
                self.zone.add_cname(&owner, &target);
                Ok(())
            }
            Some(kind) => {
                let data = parse_rdata(kind, rest, origin, line)?;
                if self.cname_targets.contains_key(&owner) {
                    return Err((line, format!("CNAME and other data at {}", shown(&owner))));
                }
                self.data_owners.insert(owner.clone());
                self.owners.insert(owner.clone());
                if !self.seen.insert((owner.clone(), kind, data.key())) {
                    return Ok(());
                }
                match data {
                    RData::A(ip) => self.zone.add_a(&owner, ip),
                    RData::Aaaa(ip) => self.zone.add_aaaa(&owner, ip),
                    RData::Mx(pref, exchange) => self.zone.add_mx(&owner, pref, &exchange),
                    RData::Txt(strings) => self.zone.add_txt_strings(&owner, strings),
                    RData::Ptr(target) => self.zone.add_ptr(&owner, &target),
                };
                Ok(())
            }
        }
    }

    /// `;; spfsleuth: KIND NAME TYPE ["detail"]`.
    fn failure_directive(&mut self, state: &FileState<'_>, tokens: &[Token]) -> Result<(), String> {
        let (kind, name, rtype, detail) = match tokens {
            [kind, name, rtype] => (kind, name, rtype, None),
            [kind, name, rtype, detail] => (kind, name, rtype, Some(detail)),
            _ => {
                return Err(format!(
                    "spfsleuth directive needs KIND NAME TYPE [\"detail\"]: {DIRECTIVE_PREFIX} TIMEOUT example.com. TXT"
                ));
            }
        };
        let detail = detail
            .map(|d| decode_escapes(&d.text).map(|b| String::from_utf8_lossy(&b).into_owned()))
            .transpose()?;
        let kind_word = String::from_utf8_lossy(&kind.text).to_ascii_uppercase();
        let error = match kind_word.as_str() {
            "TIMEOUT" => DnsError::Timeout,
            "NXDOMAIN" => DnsError::NxDomain,
            "SERVFAIL" => DnsError::ServerFailure(detail.unwrap_or_else(|| "SERVFAIL".into())),
            "ERROR" => DnsError::Other(detail.unwrap_or_else(|| "error".into())),
            "INVALID" => DnsError::InvalidName(detail.unwrap_or_default()),
            other => {
                return Err(format!(
                    "unknown spfsleuth directive \"{other}\" (TIMEOUT, SERVFAIL, ERROR, INVALID or NXDOMAIN)"
                ));
            }
        };
        let name = parse_name(name, state.origin.as_deref())?;
        let type_word = String::from_utf8_lossy(&rtype.text).to_ascii_uppercase();
        let rtype = match type_word.as_str() {
            "A" => Some(RecordType::A),
            "AAAA" => Some(RecordType::Aaaa),
            "MX" => Some(RecordType::Mx),
            "TXT" => Some(RecordType::Txt),
            "PTR" => Some(RecordType::Ptr),
            "ANY" | "*" => None,
            other => return Err(format!("spfsleuth directive: unsupported type \"{other}\"")),
        };
        match rtype {
            Some(rtype) => self.zone.fail(&name, rtype, error),
            None => self.zone.fail_name(&name, error),
        };
        Ok(())
    }
}

fn zone_error(display: &str, line: usize, msg: &str) -> SetupError {
    SetupError::Zone(format!("{display}:{line}: {msg}"))
}

/// A name as the user would write it, absolute.
fn shown(name: &str) -> String {
    format!("{name}.")
}

fn is_below(name: &str, apex: &str) -> bool {
    apex.is_empty()
        || name
            .strip_suffix(apex)
            .is_some_and(|head| head.ends_with('.') && head.len() > 1)
}

/// RFC 1035 §3.2.4 classes, plus RFC 3597 `CLASSnnn`.
fn is_class(word: &str) -> bool {
    matches!(
        word,
        "IN" | "CH" | "CHAOS" | "HS" | "HESIOD" | "CS" | "NONE" | "ANY"
    ) || word
        .strip_prefix("CLASS")
        .is_some_and(|n| !n.is_empty() && n.parse::<u16>().is_ok())
}

/// Record types we accept and ignore (they make the owner exist), plus RFC 3597 `TYPEnnn`.
fn is_other_type(word: &str) -> bool {
    const KNOWN: &[&str] = &[
        "NS",
        "MD",
        "MF",
        "SOA",
        "MB",
        "MG",
        "MR",
        "NULL",
        "WKS",
        "HINFO",
        "MINFO",
        "RP",
        "AFSDB",
        "X25",
        "ISDN",
        "RT",
        "NSAP",
        "NSAP-PTR",
        "SIG",
        "KEY",
        "PX",
        "GPOS",
        "LOC",
        "NXT",
        "EID",
        "NIMLOC",
        "SRV",
        "ATMA",
        "NAPTR",
        "KX",
        "CERT",
        "A6",
        "DNAME",
        "SINK",
        "APL",
        "DS",
        "SSHFP",
        "IPSECKEY",
        "RRSIG",
        "NSEC",
        "DNSKEY",
        "DHCID",
        "NSEC3",
        "NSEC3PARAM",
        "TLSA",
        "SMIMEA",
        "HIP",
        "NINFO",
        "RKEY",
        "TALINK",
        "CDS",
        "CDNSKEY",
        "OPENPGPKEY",
        "CSYNC",
        "ZONEMD",
        "SVCB",
        "HTTPS",
        "SPF",
        "UINFO",
        "UID",
        "GID",
        "UNSPEC",
        "NID",
        "L32",
        "L64",
        "LP",
        "EUI48",
        "EUI64",
        "URI",
        "CAA",
        "AVC",
        "DOA",
        "AMTRELAY",
        "RESINFO",
        "WALLET",
        "TA",
        "DLV",
    ];
    KNOWN.contains(&word)
        || word
            .strip_prefix("TYPE")
            .is_some_and(|n| !n.is_empty() && n.parse::<u16>().is_ok())
}

/// A TTL: seconds, or BIND's `1w2d3h4m5s` form.
fn parse_ttl(text: &[u8]) -> Option<u32> {
    if text.is_empty() {
        return None;
    }
    if text.iter().all(u8::is_ascii_digit) {
        return std::str::from_utf8(text).ok()?.parse().ok();
    }
    let mut total: u64 = 0;
    let mut number: Option<u64> = None;
    for &b in text {
        if b.is_ascii_digit() {
            number = Some(number.unwrap_or(0).checked_mul(10)? + u64::from(b - b'0'));
            if number? > u64::from(u32::MAX) {
                return None;
            }
        } else {
            let unit = match b.to_ascii_lowercase() {
                b'w' => 604_800,
                b'd' => 86_400,
                b'h' => 3_600,
                b'm' => 60,
                b's' => 1,
                _ => return None,
            };
            total += number.take()? * unit;
        }
    }
    total += number.unwrap_or(0);
    u32::try_from(total).ok()
}

/// The data of one record of a type we answer.
enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Mx(u16, String),
    Txt(Vec<Vec<u8>>),
    Ptr(String),
}

impl RData {
    /// Bytes that identify the record, to drop duplicates.
    fn key(&self) -> Vec<u8> {
        match self {
            RData::A(ip) => ip.octets().to_vec(),
            RData::Aaaa(ip) => ip.octets().to_vec(),
            RData::Mx(pref, exchange) => {
                let mut key = pref.to_be_bytes().to_vec();
                key.extend_from_slice(exchange.as_bytes());
                key
            }
            RData::Txt(strings) => {
                let mut key = Vec::new();
                for s in strings {
                    key.extend_from_slice(&(s.len() as u32).to_be_bytes());
                    key.extend_from_slice(s);
                }
                key
            }
            RData::Ptr(target) => target.as_bytes().to_vec(),
        }
    }
}

fn parse_rdata(
    kind: RecordType,
    rest: &[Token],
    origin: Option<&str>,
    line: usize,
) -> Result<RData, (usize, String)> {
    let one = |what: &str| -> Result<&Token, (usize, String)> {
        match rest {
            [token] => Ok(token),
            [] => Err((line, format!("missing data for {what} record"))),
            [_, extra, ..] => Err((
                extra.line,
                format!(
                    "unexpected \"{}\" after {what} data",
                    String::from_utf8_lossy(&extra.text)
                ),
            )),
        }
    };
    match kind {
        RecordType::A => {
            let token = one("A")?;
            let text = String::from_utf8_lossy(&token.text);
            text.parse()
                .map(RData::A)
                .map_err(|_| (token.line, format!("bad IPv4 address \"{text}\"")))
        }
        RecordType::Aaaa => {
            let token = one("AAAA")?;
            let text = String::from_utf8_lossy(&token.text);
            text.parse()
                .map(RData::Aaaa)
                .map_err(|_| (token.line, format!("bad IPv6 address \"{text}\"")))
        }
        RecordType::Mx => {
            let [pref, exchange] = rest else {
                return Err((
                    line,
                    "MX needs a preference and an exchange name".to_owned(),
                ));
            };
            let pref_text = String::from_utf8_lossy(&pref.text);
            let preference: u16 = pref_text
                .parse()
                .map_err(|_| (pref.line, format!("bad MX preference \"{pref_text}\"")))?;
            let exchange = parse_name(exchange, origin).map_err(|m| (exchange.line, m))?;
            Ok(RData::Mx(preference, exchange))
        }
        RecordType::Ptr => Ok(RData::Ptr(single_name(rest, origin, line, "PTR")?)),
        RecordType::Txt => {
            if rest.is_empty() {
                return Err((line, "missing data for TXT record".to_owned()));
            }
            let mut strings = Vec::with_capacity(rest.len());
            for token in rest {
                let bytes = if token.quoted {
                    token.text.clone()
                } else {
                    decode_escapes(&token.text).map_err(|m| (token.line, m))?
                };
                if bytes.len() > 255 {
                    return Err((
                        token.line,
                        format!(
                            "TXT string of {} bytes is longer than 255 (split it into several quoted strings)",
                            bytes.len()
                        ),
                    ));
                }
                strings.push(bytes);
            }
            Ok(RData::Txt(strings))
        }
    }
}

fn single_name(
    rest: &[Token],
    origin: Option<&str>,
    line: usize,
    what: &str,
) -> Result<String, (usize, String)> {
    match rest {
        [token] => parse_name(token, origin).map_err(|m| (token.line, m)),
        [] => Err((line, format!("missing data for {what} record"))),
        [_, extra, ..] => Err((
            extra.line,
            format!(
                "unexpected \"{}\" after {what} data",
                String::from_utf8_lossy(&extra.text)
            ),
        )),
    }
}

/// A domain name token: `@`, absolute (`name.`), or relative to `origin`; `\X` and `\DDD`
/// escapes (RFC 1035 §5.1). Returns the normalised form (lower-case, no trailing dot; the
/// root is the empty string).
fn parse_name(token: &Token, origin: Option<&str>) -> Result<String, String> {
    let text = &token.text;
    if token.quoted {
        return Err(format!(
            "expected a domain name, found the quoted string \"{}\"",
            String::from_utf8_lossy(text)
        ));
    }
    if text.as_slice() == b"@" {
        return origin
            .map(str::to_owned)
            .ok_or_else(|| "\"@\" used before any $ORIGIN".to_owned());
    }
    if text.as_slice() == b"." {
        return Ok(String::new());
    }
    let mut labels: Vec<Vec<u8>> = Vec::new();
    let mut label = Vec::new();
    let mut absolute = false;
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        match b {
            b'\\' => {
                let (byte, used) = escape_at(text, i)?;
                label.push(byte);
                i += used;
                continue;
            }
            b'.' => {
                if label.is_empty() {
                    return Err(format!(
                        "empty label in name \"{}\"",
                        String::from_utf8_lossy(text)
                    ));
                }
                labels.push(std::mem::take(&mut label));
                if i + 1 == text.len() {
                    absolute = true;
                }
            }
            _ => label.push(b),
        }
        i += 1;
    }
    if !label.is_empty() {
        labels.push(label);
    }
    if let Some(long) = labels.iter().find(|l| l.len() > 63) {
        return Err(format!(
            "label \"{}\" is longer than 63 bytes",
            String::from_utf8_lossy(long)
        ));
    }
    let mut name = Vec::new();
    for (n, l) in labels.iter().enumerate() {
        if n > 0 {
            name.push(b'.');
        }
        name.extend_from_slice(l);
    }
    let mut name = String::from_utf8(name)
        .map_err(|_| format!("name \"{}\" is not UTF-8", String::from_utf8_lossy(text)))?;
    if !absolute {
        let Some(origin) = origin else {
            return Err(format!(
                "relative name \"{name}\" used before any $ORIGIN (write it with a final dot, or set $ORIGIN)"
            ));
        };
        if !origin.is_empty() {
            name.push('.');
            name.push_str(origin);
        }
    }
    if name.len() > 253 {
        return Err(format!("name \"{name}\" is longer than 253 bytes"));
    }
    Ok(normalize_name(&name))
}

/// Decode `\X` and `\DDD` escapes in a bare word.
fn decode_escapes(text: &[u8]) -> Result<Vec<u8>, String> {
    let mut out = Vec::with_capacity(text.len());
    let mut i = 0;
    while let Some(&b) = text.get(i) {
        if b == b'\\' {
            let (byte, used) = escape_at(text, i)?;
            out.push(byte);
            i += used;
        } else {
            out.push(b);
            i += 1;
        }
    }
    Ok(out)
}

/// The escape starting at `text[i] == '\\'`: the byte it stands for and its length.
fn escape_at(text: &[u8], i: usize) -> Result<(u8, usize), String> {
    let rest = text.get(i + 1..).unwrap_or_default();
    match rest {
        [] => Err("backslash at the end of a word".to_owned()),
        [a, b, c, ..] if a.is_ascii_digit() && b.is_ascii_digit() && c.is_ascii_digit() => {
            let value = u32::from(a - b'0') * 100 + u32::from(b - b'0') * 10 + u32::from(c - b'0');
            let byte = u8::try_from(value).map_err(|_| format!("escape \\{value} is over 255"))?;
            Ok((byte, 4))
        }
        [a, ..] if a.is_ascii_digit() => Err("escape \\D needs exactly three digits".to_owned()),
        [other, ..] => Ok((*other, 2)),
    }
}

/// One token: a bare word (escapes kept as written) or a quoted string (escapes decoded).
#[derive(Debug, Clone)]
struct Token {
    text: Vec<u8>,
    quoted: bool,
    line: usize,
}

/// One logical entry of a master file (parentheses joined), or one of our directives.
enum Item {
    Entry {
        line: usize,
        blank_owner: bool,
        tokens: Vec<Token>,
    },
    Directive {
        line: usize,
        tokens: Vec<Token>,
    },
}

/// Splits a master file into entries (RFC 1035 §5.1).
struct Lexer<'a> {
    src: &'a [u8],
    pos: usize,
    line: usize,
}

impl<'a> Lexer<'a> {
    fn new(src: &'a [u8]) -> Self {
        Lexer {
            src,
            pos: 0,
            line: 1,
        }
    }

    fn next_item(&mut self) -> Result<Option<Item>, (usize, String)> {
        loop {
            if self.pos >= self.src.len() {
                return Ok(None);
            }
            let line = self.line;
            let blank_owner = matches!(self.src.get(self.pos), Some(b' ' | b'\t'));
            let mut tokens = Vec::new();
            let mut open_paren: Option<usize> = None;
            let mut directive: Option<Vec<u8>> = None;
            loop {
                let Some(&b) = self.src.get(self.pos) else {
                    if let Some(opened) = open_paren {
                        return Err((opened, "'(' is never closed".to_owned()));
                    }
                    break;
                };
                match b {
                    b'\n' => {
                        self.pos += 1;
                        self.line += 1;
                        if open_paren.is_none() {
                            break;
                        }
                    }
                    b' ' | b'\t' | b'\r' => self.pos += 1,
                    b';' => {
                        let start = self.pos;
                        while self.src.get(self.pos).is_some_and(|&c| c != b'\n') {
                            self.pos += 1;
                        }
                        let comment = self.src.get(start..self.pos).unwrap_or_default();
                        if tokens.is_empty()
                            && open_paren.is_none()
                            && let Some(rest) = comment.strip_prefix(DIRECTIVE_PREFIX.as_bytes())
                        {
                            directive = Some(rest.to_vec());
                        }
                    }
                    b'(' => {
                        if open_paren.is_some() {
                            return Err((self.line, "nested '('".to_owned()));
                        }
                        open_paren = Some(self.line);
                        self.pos += 1;
                    }
                    b')' => {
                        if open_paren.is_none() {
                            return Err((self.line, "')' without '('".to_owned()));
                        }
                        open_paren = None;
                        self.pos += 1;
                    }
                    b'"' => tokens.push(self.quoted()?),
                    _ => tokens.push(self.word()?),
                }
            }
            if let Some(text) = directive {
                let mut inner = Lexer::new(&text);
                let mut directive_tokens = Vec::new();
                while let Some(item) = inner.next_item().map_err(|(_, m)| (line, m))? {
                    if let Item::Entry { tokens, .. } = item {
                        directive_tokens.extend(tokens);
                    }
                }
                return Ok(Some(Item::Directive {
                    line,
                    tokens: directive_tokens,
                }));
            }
            if !tokens.is_empty() {
                return Ok(Some(Item::Entry {
                    line,
                    blank_owner,
                    tokens,
                }));
            }
        }
    }

    /// A quoted character-string; escapes decoded. It may not run past the end of the line
    /// unless the newline is escaped.
    fn quoted(&mut self) -> Result<Token, (usize, String)> {
        let line = self.line;
        self.pos += 1;
        let mut text = Vec::new();
        loop {
            match self.src.get(self.pos) {
                None | Some(b'\n') => {
                    return Err((line, "quoted string is not closed on its line".to_owned()));
                }
                Some(b'"') => {
                    self.pos += 1;
                    return Ok(Token {
                        text,
                        quoted: true,
                        line,
                    });
                }
                Some(b'\\') => {
                    let (byte, used) = escape_at(self.src, self.pos).map_err(|m| (line, m))?;
                    if byte == b'\n' {
                        self.line += 1;
                    }
                    text.push(byte);
                    self.pos += used;
                }
                Some(&b) => {
                    text.push(b);
                    self.pos += 1;
                }
            }
        }
    }

    /// A bare word, up to white space, `;`, `(`, `)` or `"`; escapes kept (a `\` protects
    /// the next byte from ending the word).
    fn word(&mut self) -> Result<Token, (usize, String)> {
        let line = self.line;
        let start = self.pos;
        while let Some(&b) = self.src.get(self.pos) {
            match b {
                b' ' | b'\t' | b'\r' | b'\n' | b';' | b'(' | b')' | b'"' => break,
                b'\\' => {
                    if self.src.get(self.pos + 1) == Some(&b'\n') {
                        return Err((line, "escaped line break in a word".to_owned()));
                    }
                    self.pos = (self.pos + 2).min(self.src.len());
                }
                _ => self.pos += 1,
            }
        }
        Ok(Token {
            text: self.src.get(start..self.pos).unwrap_or_default().to_vec(),
            quoted: false,
            line,
        })
    }
}

/// Write `name` (normalised, no trailing dot) as an absolute master-file name, escaping what
/// a master file would misread.
pub fn format_name(name: &str) -> String {
    if name.is_empty() {
        return ".".to_owned();
    }
    let mut out = String::with_capacity(name.len() + 1);
    for (n, label) in name.split('.').enumerate() {
        if n > 0 {
            out.push('.');
        }
        for &b in label.as_bytes() {
            push_escaped(&mut out, b, false);
        }
    }
    out.push('.');
    out
}

/// Write one TXT character-string as a quoted master-file string.
pub fn format_txt_string(bytes: &[u8]) -> String {
    let mut out = String::with_capacity(bytes.len() + 2);
    out.push('"');
    for &b in bytes {
        push_escaped(&mut out, b, true);
    }
    out.push('"');
    out
}

fn push_escaped(out: &mut String, b: u8, quoted: bool) {
    match b {
        b'"' | b'\\' => {
            out.push('\\');
            out.push(char::from(b));
        }
        b';' | b'(' | b')' | b'$' | b'@' | b' ' if !quoted => {
            out.push('\\');
            out.push(char::from(b));
        }
        0x21..=0x7e | b' ' => out.push(char::from(b)),
        _ => out.push_str(&format!("\\{b:03}")),
    }
}
