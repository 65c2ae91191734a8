//! An in-memory zone for tests and the RFC 7208 suite: answers from a map, no network.

use std::collections::{HashMap, HashSet};
use std::net::{Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use super::{Answer, DnsError, Lookup, LookupFuture, Mx, RecordType, TxtStrings, normalize_name};

/// What a name holds for one record type.
#[derive(Debug, Clone)]
enum Entry {
    Records(Answer),
    Failure(DnsError),
}

/// A set of records keyed by (name, type). A name that holds nothing at all is NXDOMAIN;
/// a name that holds something else is "no data". CNAMEs are followed (up to 8 links).
/// A name `*.parent` is a wildcard (RFC 4592): it answers for names under `parent` that do
/// not exist, as long as no existing name lies between them.
#[derive(Debug, Default, Clone)]
pub struct MemoryZone {
    entries: HashMap<(String, RecordType), Entry>,
    cnames: HashMap<String, String>,
    names: HashSet<String>,
    /// Names for which every query fails this way (e.g. a TIMEOUT in the test suite).
    failing: HashMap<String, DnsError>,
}

impl MemoryZone {
    pub fn new() -> Self {
        Self::default()
    }

    fn push(&mut self, name: &str, answer: Answer) {
        let name = normalize_name(name);
        self.names.insert(name.clone());
        let key = (name, answer.record_type());
        match (self.entries.get_mut(&key), answer) {
            (Some(Entry::Records(Answer::A(v))), Answer::A(mut n)) => v.append(&mut n),
            (Some(Entry::Records(Answer::Aaaa(v))), Answer::Aaaa(mut n)) => v.append(&mut n),
            (Some(Entry::Records(Answer::Mx(v))), Answer::Mx(mut n)) => v.append(&mut n),
            (Some(Entry::Records(Answer::Txt(v))), Answer::Txt(mut n)) => v.append(&mut n),
            (Some(Entry::Records(Answer::Ptr(v))), Answer::Ptr(mut n)) => v.append(&mut n),
            (_, answer) => {
                self.entries.insert(key, Entry::Records(answer));
            }
        }
    }

    pub fn add_a(&mut self, name: &str, ip: Ipv4Addr) -> &mut Self {
        self.push(name, Answer::A(vec![ip]));
        self
    }

    pub fn add_aaaa(&mut self, name: &str, ip: Ipv6Addr) -> &mut Self {
        self.push(name, Answer::Aaaa(vec![ip]));
        self
    }

    pub fn add_mx(&mut self, name: &str, preference: u16, exchange: &str) -> &mut Self {
        let mx = Mx {
            preference,
            exchange: normalize_name(exchange),
        };
        self.push(name, Answer::Mx(vec![mx]));
        self
    }

    /// Add one TXT record made of one character-string.
    pub fn add_txt(&mut self, name: &str, text: &str) -> &mut Self {
        self.add_txt_strings(name, vec![text.as_bytes().to_vec()])
    }

    /// Add one TXT record made of several character-strings.
    pub fn add_txt_strings(&mut self, name: &str, strings: TxtStrings) -> &mut Self {
        self.push(name, Answer::Txt(vec![strings]));
        self
    }

    pub fn add_ptr(&mut self, name: &str, target: &str) -> &mut Self {
        self.push(name, Answer::Ptr(vec![normalize_name(target)]));
        self
    }

    pub fn add_cname(&mut self, name: &str, target: &str) -> &mut Self {
        let name = normalize_name(name);
        self.names.insert(name.clone());
        self.cnames.insert(name, normalize_name(target));
        self
    }

    /// Make the name exist without any records of the types we ask for.
    pub fn add_empty_name(&mut self, name: &str) -> &mut Self {
        self.names.insert(normalize_name(name));
        self
    }

    /// Every query for `name` (any type) fails with `error`.
    pub fn fail_name(&mut self, name: &str, error: DnsError) -> &mut Self {
        let name = normalize_name(name);
        self.names.insert(name.clone());
        self.failing.insert(name, error);
        self
    }

    /// Queries for (`name`, `rtype`) fail with `error`.
    pub fn fail(&mut self, name: &str, rtype: RecordType, error: DnsError) -> &mut Self {
        let name = normalize_name(name);
        self.names.insert(name.clone());
        self.entries.insert((name, rtype), Entry::Failure(error));
        self
    }

    /// Whether `name` exists in the zone (it owns something, even a record type SPF never
    /// asks for), without wildcard synthesis.
    pub fn contains_name(&self, name: &str) -> bool {
        self.names.contains(&normalize_name(name))
    }

    /// Every name that exists in the zone (unordered).
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }

    /// The owner whose data answers for `name`: the name itself when it exists, else the
    /// wildcard `*.<closest encloser>` when there is one (RFC 4592 §4.1), else `None`.
    fn owner_for(&self, name: &str) -> Option<String> {
        if self.names.contains(name) {
            return Some(name.to_owned());
        }
        let mut rest = name;
        while let Some((_, parent)) = rest.split_once('.') {
            let wildcard = format!("*.{parent}");
            if self.names.contains(&wildcard) {
                return Some(wildcard);
            }
            if self.names.contains(parent) {
                // The closest encloser exists and has no wildcard child.
                return None;
            }
            rest = parent;
        }
        None
    }

    /// Answer synchronously (the zone never waits).
    pub fn answer(&self, name: &str, rtype: RecordType) -> Result<Answer, DnsError> {
        self.resolve(name, rtype).result
    }

    /// Answer synchronously and tell which CNAME links were followed on the way (RFC 1034
    /// §4.3.2 step 3a), so that a DNS server can put them in the answer section.
    pub fn resolve(&self, name: &str, rtype: RecordType) -> Resolution {
        let mut current = normalize_name(name);
        let mut cnames = Vec::new();
        for _ in 0..8 {
            let Some(owner) = self.owner_for(&current) else {
                return Resolution {
                    cnames,
                    final_name: current,
                    result: Err(DnsError::NxDomain),
                };
            };
            if let Some(err) = self.failing.get(&owner) {
                return Resolution {
                    cnames,
                    final_name: current,
                    result: Err(err.clone()),
                };
            }
            if let Some(entry) = self.entries.get(&(owner.clone(), rtype)) {
                let result = match entry {
                    Entry::Records(a) => Ok(a.clone()),
                    Entry::Failure(e) => Err(e.clone()),
                };
                return Resolution {
                    cnames,
                    final_name: current,
                    result,
                };
            }
            match self.cnames.get(&owner) {
                Some(target) => {
                    cnames.push((current, target.clone()));
                    current = target.clone();
                }
                None => {
                    return Resolution {
                        cnames,
                        final_name: current,
                        result: Ok(Answer::empty(rtype)),
                    };
                }
            }
        }
        Resolution {
            cnames,
            final_name: current,
            result: Err(DnsError::ServerFailure(
                "CNAME chain too long or looping".into(),
            )),
        }
    }
}

/// How the zone answered one question: the CNAME links followed (owner, target), the name
/// that finally answered, and the answer or error.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Resolution {
    pub cnames: Vec<(String, String)>,
    pub final_name: String,
    pub result: Result<Answer, DnsError>,
}

impl Lookup for MemoryZone {
    fn lookup<'a>(&'a self, name: &'a str, rtype: RecordType) -> LookupFuture<'a> {
        let result = self.answer(name, rtype).map(Arc::new);
        Box::pin(async move { result })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn nxdomain_and_nodata_differ() {
        let mut z = MemoryZone::new();
        z.add_a("mail.example.com.", Ipv4Addr::new(192, 0, 2, 1));
        assert_eq!(
            z.answer("MAIL.example.com", RecordType::Txt),
            Ok(Answer::Txt(vec![]))
        );
        assert_eq!(
            z.answer("nope.example.com", RecordType::Txt),
            Err(DnsError::NxDomain)
        );
    }

    #[test]
    fn cname_followed_and_loops_stop() {
        let mut z = MemoryZone::new();
        z.add_cname("alias.example.com", "real.example.com");
        z.add_txt("real.example.com", "v=spf1 -all");
        assert!(
            matches!(z.answer("alias.example.com", RecordType::Txt), Ok(Answer::Txt(v)) if v.len() == 1)
        );
        z.add_cname("loop1.example.com", "loop2.example.com");
        z.add_cname("loop2.example.com", "loop1.example.com");
        assert!(z.answer("loop1.example.com", RecordType::A).is_err());
    }

    #[test]
    fn wildcards_answer_below_the_closest_encloser_only() {
        let mut z = MemoryZone::new();
        z.add_txt("*.example.com", "wild");
        z.add_txt("sub.example.com", "sub");
        assert!(
            matches!(z.answer("a.example.com", RecordType::Txt), Ok(Answer::Txt(v)) if v.len() == 1)
        );
        assert!(
            matches!(z.answer("a.b.example.com", RecordType::Txt), Ok(Answer::Txt(v)) if v.len() == 1)
        );
        // sub.example.com exists and has no wildcard child (RFC 4592 §2.2.1).
        assert_eq!(
            z.answer("x.sub.example.com", RecordType::Txt),
            Err(DnsError::NxDomain)
        );
        assert_eq!(
            z.answer("a.example.com", RecordType::A),
            Ok(Answer::A(vec![]))
        );
        assert_eq!(
            z.answer("example.com", RecordType::Txt),
            Err(DnsError::NxDomain)
        );
    }

    #[test]
    fn resolve_reports_the_cname_links() {
        let mut z = MemoryZone::new();
        z.add_cname("a.example", "b.example");
        z.add_cname("b.example", "c.example");
        z.add_a("c.example", Ipv4Addr::new(192, 0, 2, 1));
        let r = z.resolve("A.example.", RecordType::A);
        assert_eq!(r.final_name, "c.example");
        assert_eq!(r.cnames.len(), 2);
        assert!(r.result.is_ok());
    }
}
