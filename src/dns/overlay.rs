//! One TXT answer laid over another [`Lookup`]: how a proposed SPF record is tried with the
//! run's own DNS answers (and cache) before the tool proposes it to anybody.

use std::sync::Arc;

use super::{Answer, Lookup, LookupFuture, RecordType, normalize_name};

/// Answers `name` TXT with `record` (split into 255-byte strings, RFC 7208 §3.3), and every
/// other question from `base`.
pub struct TxtOverlay<'a> {
    base: &'a dyn Lookup,
    name: String,
    answer: Arc<Answer>,
}

impl<'a> TxtOverlay<'a> {
    pub fn new(base: &'a dyn Lookup, name: &str, record: &str) -> TxtOverlay<'a> {
        let strings = record
            .as_bytes()
            .chunks(255)
            .map(<[u8]>::to_vec)
            .collect::<Vec<_>>();
        TxtOverlay {
            base,
            name: normalize_name(name),
            answer: Arc::new(Answer::Txt(vec![strings])),
        }
    }
}

impl Lookup for TxtOverlay<'_> {
    fn lookup<'b>(&'b self, name: &'b str, rtype: RecordType) -> LookupFuture<'b> {
        if rtype == RecordType::Txt && normalize_name(name) == self.name {
            let answer = self.answer.clone();
            return Box::pin(async move { Ok(answer) });
        }
        self.base.lookup(name, rtype)
    }
}
