//! What makes two observations the same one: a message delivered to two folders, an mbox
//! given twice, or last night's message met again tonight is one row (dedupe) and one entry
//! in the state database (`--state`).
//!
//! The key is a 128-bit digest of:
//! - a message with a Message-ID: the Message-ID, who recorded the verdict, the client IP
//!   and the arrival date;
//! - a message without one: its source and locator (a Maildir file's unique name without
//!   its `:2,` flags, in the folder above `cur/`/`new/`, so that reading and flagging it does
//!   not make it new) and the same fields as above plus the other envelope data;
//! - a log event without a Message-ID: its content only (date, recorder, IP, envelope data,
//!   result), because log rotation moves the same line to another file and line number
//!   (`mail.log` -> `mail.log.1`).
//!
//! The digest is SHA-256 (truncated), which stays the same across builds and platforms, as a
//! key kept in a database for years must.

use std::collections::HashSet;

use chrono::SecondsFormat;
use sha2::{Digest, Sha256};

use crate::extract::Observation;
use crate::input::Locator;
use crate::model::canonical_ip;

/// The identity of one observation across inputs and runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ObservationKey(pub [u8; 16]);

impl ObservationKey {
    /// The key of `obs` (see the module documentation for what it covers).
    pub fn of(obs: &Observation) -> ObservationKey {
        let mut digest = Fields::default();
        let message_id = obs
            .message_id
            .as_deref()
            .map(|m| {
                m.trim()
                    .trim_start_matches('<')
                    .trim_end_matches('>')
                    .trim()
            })
            .filter(|m| !m.is_empty());
        let date = obs
            .date
            .map(|d| d.to_rfc3339_opts(SecondsFormat::Secs, true))
            .unwrap_or_default();
        let ip = obs
            .client_ip
            .map(|ip| canonical_ip(ip).to_string())
            .unwrap_or_default();
        let recorder = obs.recorder();
        match message_id {
            Some(id) => {
                digest.add("message-id", id);
                digest.add("recorded-by", &recorder);
                digest.add("client-ip", &ip);
                digest.add("date", &date);
            }
            None => {
                let log = matches!(obs.locator, Some(Locator::Line(_)));
                if !log {
                    let (folder, name) = stable_place(&obs.source, obs.locator.as_ref());
                    digest.add("source", &folder);
                    digest.add("locator", &name);
                }
                digest.add("recorded-by", &recorder);
                digest.add("client-ip", &ip);
                digest.add("date", &date);
                digest.add("helo", obs.helo.as_deref().unwrap_or(""));
                digest.add("envelope-from", obs.envelope_from.as_deref().unwrap_or(""));
                digest.add("header-from", obs.header_from.as_deref().unwrap_or(""));
                let result = obs
                    .verdict
                    .as_ref()
                    .and_then(|v| v.result)
                    .map(|r| r.as_str())
                    .unwrap_or("");
                digest.add("result", result);
            }
        }
        digest.finish()
    }

    /// Lower-case hexadecimal, for people and logs.
    pub fn to_hex(self) -> String {
        self.0.iter().map(|b| format!("{b:02x}")).collect()
    }
}

/// Length-prefixed fields, so that ("ab", "c") and ("a", "bc") differ.
#[derive(Default)]
struct Fields(Sha256);

impl Fields {
    fn add(&mut self, name: &str, value: &str) {
        for part in [name.as_bytes(), value.as_bytes()] {
            self.0.update((part.len() as u64).to_be_bytes());
            self.0.update(part);
        }
    }

    fn finish(self) -> ObservationKey {
        let full = self.0.finalize();
        let mut key = [0u8; 16];
        key.copy_from_slice(&full[..16]);
        ObservationKey(key)
    }
}

/// Source and locator in a form that survives what mail clients do to a Maildir: a message
/// moves from `new/` to `cur/` and gets `:2,FLAGS` appended when it is read or flagged.
fn stable_place(source: &str, locator: Option<&Locator>) -> (String, String) {
    let name = locator.map(ToString::to_string).unwrap_or_default();
    match locator {
        Some(Locator::File(file)) => {
            let folder = source
                .strip_suffix("/cur")
                .or_else(|| source.strip_suffix("/new"));
            match folder {
                Some(folder) => {
                    let unique = file.split_once(':').map_or(file.as_str(), |(u, _)| u);
                    (folder.to_string(), unique.to_string())
                }
                None => (source.to_string(), name),
            }
        }
        _ => (source.to_string(), name),
    }
}

/// The keys met so far in one run: the first observation with a key is kept, later ones are
/// duplicates. Sixteen bytes per distinct observation.
#[derive(Debug, Default)]
pub struct Seen {
    keys: HashSet<ObservationKey>,
}

impl Seen {
    /// True the first time `key` is offered.
    pub fn first(&mut self, key: ObservationKey) -> bool {
        self.keys.insert(key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    fn message(source: &str, locator: Locator, id: Option<&str>) -> Observation {
        Observation {
            source: Arc::from(source),
            locator: Some(locator),
            message_id: id.map(String::from),
            client_ip: "192.0.2.1".parse().ok(),
            helo: Some("mx.example".into()),
            ..Observation::default()
        }
    }

    #[test]
    fn the_same_message_in_two_folders_is_one() {
        let a = message(
            "a/cur",
            Locator::File("1.M1.host:2,S".into()),
            Some("<x@y>"),
        );
        let b = message("spam.mbox", Locator::Offset(1234), Some("x@y"));
        assert_eq!(ObservationKey::of(&a), ObservationKey::of(&b));
        let other_ip = Observation {
            client_ip: "192.0.2.2".parse().ok(),
            ..b.clone()
        };
        assert_ne!(ObservationKey::of(&a), ObservationKey::of(&other_ip));
    }

    #[test]
    fn without_message_id_the_place_counts_but_not_maildir_flags() {
        let new = message("box/new", Locator::File("1.M1.host".into()), None);
        let read = message("box/cur", Locator::File("1.M1.host:2,RS".into()), None);
        assert_eq!(ObservationKey::of(&new), ObservationKey::of(&read));
        let elsewhere = message("other/cur", Locator::File("1.M1.host:2,S".into()), None);
        assert_ne!(ObservationKey::of(&new), ObservationKey::of(&elsewhere));
    }

    #[test]
    fn a_rotated_log_line_keeps_its_key() {
        let today = message("mail.log", Locator::Line(10), None);
        let rotated = message("mail.log.1", Locator::Line(99), None);
        assert_eq!(ObservationKey::of(&today), ObservationKey::of(&rotated));
    }

    #[test]
    fn keys_are_stable_across_builds() {
        // A key stored in a state database must not change with the compiler or platform.
        let key = ObservationKey::of(&message("m", Locator::Offset(0), Some("<a@b>")));
        assert_eq!(
            key.to_hex(),
            ObservationKey::of(&message("n", Locator::Line(3), Some("a@b"))).to_hex()
        );
        assert_eq!(key.to_hex().len(), 32);
        let mut seen = Seen::default();
        assert!(seen.first(key));
        assert!(!seen.first(key));
    }
}
