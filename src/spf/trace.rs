//! The trace tree: every record visited, every directive tried, nested includes and
//! redirects, with the DNS questions each asked. [`Trace::render`] writes it as an indented
//! tree a person can follow (`spfsleuth check`).

use std::borrow::Cow;
use std::fmt::Write as _;

use crate::model::SpfResult;

/// One record evaluated (the top level, or an include/redirect target).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Trace {
    pub domain: String,
    /// The record text, if one was found.
    pub record: Option<String>,
    /// Each DNS question asked to find the record, with a short summary of the answer.
    pub lookups: Vec<DnsStep>,
    pub steps: Vec<Step>,
    /// Result of this record (for includes: the result of the nested check_host).
    pub result: Option<SpfResult>,
    /// A note for the reader when the record was not evaluated to the end.
    pub note: Option<String>,
}

/// One directive or modifier tried.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Step {
    /// The term as written in the record.
    pub term: String,
    /// The target after macro expansion (domain-spec), if any.
    pub target: Option<String>,
    /// DNS questions this term asked, with their answers.
    pub lookups: Vec<DnsStep>,
    pub outcome: Outcome,
    /// For include and redirect: the nested evaluation.
    pub nested: Option<Box<Trace>>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    Matched,
    NotMatched,
    /// The term ended the evaluation with this error text.
    Error(String),
    /// Modifier applied (redirect/exp), or informational.
    Applied,
    /// The term was looked at but had no effect, and why (e.g. an `exp=` whose TXT record
    /// is missing: the explanation is left out, RFC 7208 §6.2).
    Skipped(String),
}

/// One DNS question and a readable summary of its answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsStep {
    pub name: String,
    pub rtype: crate::dns::RecordType,
    /// e.g. `192.0.2.1, 192.0.2.2`, `NXDOMAIN (void)`, `no data (void)`, `timed out`.
    pub answer: String,
}

impl Trace {
    /// The tree as indented text, one line per record, DNS question and term.
    pub fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out, 0);
        out
    }

    /// Append the tree to `out`, indented by `depth` levels of two spaces:
    ///
    /// ```text
    /// example.com => softfail
    ///   dns TXT example.com: "v=spf1 include:_spf.example.net ~all"
    ///   record: v=spf1 include:_spf.example.net ~all
    ///   include:_spf.example.net -> _spf.example.net: no match
    ///     _spf.example.net => fail
    ///       ...
    ///   ~all: MATCH
    /// ```
    pub fn render_into(&self, out: &mut String, depth: usize) {
        let pad = "  ".repeat(depth);
        out.push_str(&pad);
        out.push_str(&printable(&self.domain));
        if let Some(result) = self.result {
            let _ = write!(out, " => {result}");
        }
        out.push('\n');
        for lookup in &self.lookups {
            render_dns(out, &pad, lookup);
        }
        match &self.record {
            Some(record) => {
                let _ = writeln!(out, "{pad}  record: {}", printable(record));
            }
            None => {
                let _ = writeln!(out, "{pad}  record: none");
            }
        }
        for step in &self.steps {
            let _ = write!(out, "{pad}  {}", printable(&step.term));
            if let Some(target) = &step.target {
                let _ = write!(out, " -> {}", printable(target));
            }
            out.push_str(": ");
            match &step.outcome {
                Outcome::Matched => out.push_str("MATCH"),
                Outcome::NotMatched => out.push_str("no match"),
                Outcome::Error(e) => {
                    let _ = write!(out, "error: {}", printable(e));
                }
                Outcome::Applied => out.push_str("applied"),
                Outcome::Skipped(why) => {
                    let _ = write!(out, "ignored: {}", printable(why));
                }
            }
            out.push('\n');
            let inner = format!("{pad}  ");
            for lookup in &step.lookups {
                render_dns(out, &inner, lookup);
            }
            if let Some(nested) = &step.nested {
                nested.render_into(out, depth + 2);
            }
        }
        if let Some(note) = &self.note {
            let _ = writeln!(out, "{pad}  note: {}", printable(note));
        }
    }

    /// Every record visited, depth first (this one included).
    pub fn records(&self) -> Vec<&Trace> {
        let mut all = vec![self];
        for step in &self.steps {
            if let Some(nested) = &step.nested {
                all.extend(nested.records());
            }
        }
        all
    }
}

fn render_dns(out: &mut String, pad: &str, step: &DnsStep) {
    let _ = writeln!(
        out,
        "{pad}  dns {} {}: {}",
        step.rtype,
        printable(&step.name),
        printable(&step.answer)
    );
}

/// Text safe to print on a terminal: control characters (an escape sequence in a TXT
/// record, a newline in a sender) are shown escaped (`\n`, `\u{1b}`).
pub fn printable(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let quoted = super::record::quote(text);
    Cow::Owned(quoted[1..quoted.len() - 1].to_string())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::dns::RecordType;

    #[test]
    fn render_nests_includes() {
        let inner = Trace {
            domain: "_spf.example.net".into(),
            record: Some("v=spf1 -all".into()),
            lookups: vec![DnsStep {
                name: "_spf.example.net".into(),
                rtype: RecordType::Txt,
                answer: "\"v=spf1 -all\"".into(),
            }],
            steps: vec![Step {
                term: "-all".into(),
                target: None,
                lookups: vec![],
                outcome: Outcome::Matched,
                nested: None,
            }],
            result: Some(SpfResult::Fail),
            note: None,
        };
        let outer = Trace {
            domain: "example.com".into(),
            record: Some("v=spf1 include:_spf.example.net ~all".into()),
            lookups: vec![],
            steps: vec![Step {
                term: "include:_spf.example.net".into(),
                target: Some("_spf.example.net".into()),
                lookups: vec![],
                outcome: Outcome::NotMatched,
                nested: Some(Box::new(inner)),
            }],
            result: Some(SpfResult::SoftFail),
            note: None,
        };
        let text = outer.render();
        assert_eq!(
            text,
            "example.com => softfail\n\
             \x20 record: v=spf1 include:_spf.example.net ~all\n\
             \x20 include:_spf.example.net -> _spf.example.net: no match\n\
             \x20   _spf.example.net => fail\n\
             \x20     dns TXT _spf.example.net: \"v=spf1 -all\"\n\
             \x20     record: v=spf1 -all\n\
             \x20     -all: MATCH\n"
        );
        assert_eq!(outer.records().len(), 2);
        assert_eq!(printable("a\u{1b}[31mb\r\n"), "a\\u{1b}[31mb\\r\\n");
    }
}
