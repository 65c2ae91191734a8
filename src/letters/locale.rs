//! The letters' words, in English, Japanese and Chinese, from Project Fluent resource files
//! (`locales/<lang>/letters.ftl`, built into the binary): the text a translator edits is
//! never in Rust string literals.

use fluent_bundle::{FluentArgs, FluentBundle, FluentResource, FluentValue};
use unic_langid::LanguageIdentifier;

/// A language a letter can be written in.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Language {
    En,
    Ja,
    Zh,
}

impl Language {
    pub fn code(self) -> &'static str {
        match self {
            Language::En => "en",
            Language::Ja => "ja",
            Language::Zh => "zh",
        }
    }

    fn resource(self) -> &'static str {
        match self {
            Language::En => include_str!("../../locales/en/letters.ftl"),
            Language::Ja => include_str!("../../locales/ja/letters.ftl"),
            Language::Zh => include_str!("../../locales/zh/letters.ftl"),
        }
    }

    /// The language for a sender domain by its country-code TLD: `.jp` Japanese; `.cn`,
    /// `.tw`, `.hk` Chinese; anything else English.
    pub fn for_domain(domain: &str) -> Language {
        let tld = domain
            .trim_end_matches('.')
            .rsplit('.')
            .next()
            .unwrap_or_default()
            .to_ascii_lowercase();
        match tld.as_str() {
            "jp" => Language::Ja,
            "cn" | "tw" | "hk" => Language::Zh,
            _ => Language::En,
        }
    }
}

/// The messages of one language.
pub struct Texts {
    bundle: FluentBundle<FluentResource>,
}

impl Texts {
    pub fn new(language: Language) -> Texts {
        let id: LanguageIdentifier = language.code().parse().unwrap_or_default();
        let mut bundle = FluentBundle::new(vec![id]);
        // Plain text mail: no Unicode isolation marks around the placeables.
        bundle.set_use_isolating(false);
        // The resources are ours and tested (`every_language_has_every_message`); a
        // message that failed to parse would show as its id, never as a panic.
        let resource = match FluentResource::try_new(language.resource().to_string()) {
            Ok(resource) => resource,
            Err((resource, _)) => resource,
        };
        let _ = bundle.add_resource(resource);
        Texts { bundle }
    }

    /// The message `id` with `args` (name, value) filled in; its id when it is missing.
    pub fn get(&self, id: &str, args: &[(&str, &str)]) -> String {
        let Some(pattern) = self.bundle.get_message(id).and_then(|m| m.value()) else {
            return id.to_string();
        };
        let mut fluent_args = FluentArgs::new();
        for (name, value) in args {
            fluent_args.set(*name, FluentValue::from(*value));
        }
        let mut errors = Vec::new();
        self.bundle
            .format_pattern(pattern, Some(&fluent_args), &mut errors)
            .into_owned()
    }

    /// Whether the language defines `id` (for the tests of the resource files).
    pub fn has(&self, id: &str) -> bool {
        self.bundle
            .get_message(id)
            .is_some_and(|m| m.value().is_some())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_language_has_every_message() {
        let english = Language::En.resource();
        let ids: Vec<&str> = english
            .lines()
            .filter(|l| !l.starts_with([' ', '#']) && l.contains(" = "))
            .filter_map(|l| l.split(" = ").next())
            .collect();
        assert!(ids.len() > 30, "{ids:?}");
        for language in [Language::En, Language::Ja, Language::Zh] {
            assert!(FluentResource::try_new(language.resource().to_string()).is_ok());
            let texts = Texts::new(language);
            for id in &ids {
                assert!(texts.has(id), "{} lacks {id}", language.code());
            }
        }
    }

    #[test]
    fn placeables_are_filled_without_isolation_marks() {
        let texts = Texts::new(Language::Ja);
        let text = texts.get("greeting", &[("domain", "sub.example.co.jp")]);
        assert_eq!(text, "sub.example.co.jp の postmaster 様");
        assert_eq!(Language::for_domain("trade.example.cn"), Language::Zh);
        assert_eq!(Language::for_domain("sub.example.co.jp."), Language::Ja);
        assert_eq!(Language::for_domain("example.org"), Language::En);
    }
}
