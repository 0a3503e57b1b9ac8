//! Words the bot says: templates with `{placeholders}` and their translations.
//!
//! Invariant: a [`LocalText`] always has English, and a [`Template`] has been
//! parsed once at load time, so rendering cannot fail.

use std::collections::BTreeMap;
use std::fmt;

/// A language code such as `en` or `cy`, as used in flow files.
#[derive(Clone, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Language(String);

impl Language {
    /// The language every text must have.
    pub fn english() -> Self {
        Language("en".to_owned())
    }

    /// Accepts two or three lowercase letters, optionally followed by a region
    /// (`en`, `cy`, `pt-br`).
    pub fn parse(code: &str) -> Option<Self> {
        let (primary, region) = match code.split_once('-') {
            Some((primary, region)) => (primary, Some(region)),
            None => (code, None),
        };
        let lower = |s: &str, range: std::ops::RangeInclusive<usize>| {
            range.contains(&s.len()) && s.bytes().all(|b| b.is_ascii_lowercase())
        };
        let ok = lower(primary, 2..=3) && region.is_none_or(|r| lower(r, 2..=8));
        ok.then(|| Language(code.to_owned()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl fmt::Display for Language {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// One piece of a [`Template`].
#[derive(Debug, Clone, PartialEq, Eq)]
enum Piece {
    Literal(String),
    Variable(String),
}

/// Text with `{name}` placeholders, parsed once when flows are loaded.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Template {
    pieces: Vec<Piece>,
}

/// Why a template could not be parsed; `offset` is a byte offset into it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateError {
    pub offset: usize,
    pub message: String,
}

impl Template {
    /// Parses `{name}` placeholders; `{{` and `}}` stand for literal brackets.
    pub fn parse(source: &str) -> Result<Self, TemplateError> {
        let mut pieces = Vec::new();
        let mut literal = String::new();
        let mut chars = source.char_indices().peekable();
        while let Some((offset, c)) = chars.next() {
            match c {
                '{' if chars.peek().map(|&(_, c)| c) == Some('{') => {
                    chars.next();
                    literal.push('{');
                }
                '}' if chars.peek().map(|&(_, c)| c) == Some('}') => {
                    chars.next();
                    literal.push('}');
                }
                '{' => {
                    let mut name = String::new();
                    loop {
                        match chars.next() {
                            Some((_, '}')) => break,
                            Some((_, c)) if c.is_ascii_alphanumeric() || c == '_' => name.push(c),
                            Some((_, other)) => {
                                return Err(TemplateError {
                                    offset,
                                    message: format!(
                                        "placeholder has '{other}' in it: use only letters, digits and _ between {{ and }}, or write {{{{ for a real bracket"
                                    ),
                                });
                            }
                            None => {
                                return Err(TemplateError {
                                    offset,
                                    message: "placeholder is not closed: add } or write {{ for a real bracket".to_owned(),
                                });
                            }
                        }
                    }
                    if name.is_empty() {
                        return Err(TemplateError {
                            offset,
                            message: "empty placeholder {}: put a variable name inside".to_owned(),
                        });
                    }
                    if !literal.is_empty() {
                        pieces.push(Piece::Literal(std::mem::take(&mut literal)));
                    }
                    pieces.push(Piece::Variable(name));
                }
                '}' => {
                    return Err(TemplateError {
                        offset,
                        message: "} without a matching {: write }} for a real bracket".to_owned(),
                    });
                }
                c => literal.push(c),
            }
        }
        if !literal.is_empty() {
            pieces.push(Piece::Literal(literal));
        }
        Ok(Template { pieces })
    }

    /// A template with no placeholders, for text written in code.
    pub fn literal(text: &str) -> Self {
        Template {
            pieces: vec![Piece::Literal(text.to_owned())],
        }
    }

    /// The names of the variables this template uses, in order.
    pub fn variables(&self) -> impl Iterator<Item = &str> {
        self.pieces.iter().filter_map(|piece| match piece {
            Piece::Variable(name) => Some(name.as_str()),
            Piece::Literal(_) => None,
        })
    }

    /// Fills in placeholders; a variable that has no value renders as nothing.
    pub fn render(&self, lookup: impl Fn(&str) -> Option<String>) -> String {
        let mut out = String::new();
        for piece in &self.pieces {
            match piece {
                Piece::Literal(text) => out.push_str(text),
                Piece::Variable(name) => {
                    if let Some(value) = lookup(name) {
                        out.push_str(&value);
                    }
                }
            }
        }
        out
    }
}

/// Text in English and, optionally, other languages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalText {
    english: Template,
    translations: BTreeMap<Language, Template>,
}

impl LocalText {
    pub fn new(english: Template, translations: BTreeMap<Language, Template>) -> Self {
        LocalText {
            english,
            translations,
        }
    }

    /// English-only text written in code.
    pub fn english(text: &str) -> Self {
        LocalText::new(Template::literal(text), BTreeMap::new())
    }

    /// The template for `language`, falling back to English.
    pub fn get(&self, language: &Language) -> &Template {
        self.translations.get(language).unwrap_or(&self.english)
    }

    /// Every version, English first.
    pub fn versions(&self) -> impl Iterator<Item = (Option<&Language>, &Template)> {
        std::iter::once((None, &self.english))
            .chain(self.translations.iter().map(|(lang, t)| (Some(lang), t)))
    }

    /// The languages other than English that this text has.
    pub fn languages(&self) -> impl Iterator<Item = &Language> {
        self.translations.keys()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn render(source: &str) -> String {
        Template::parse(source)
            .unwrap()
            .render(|name| (name == "area").then(|| "Batley".to_owned()))
    }

    #[test]
    fn placeholders_are_filled_and_doubled_brackets_are_kept() {
        assert_eq!(render("Near {area}."), "Near Batley.");
        assert_eq!(render("{{area}} {area}"), "{area} Batley");
        assert_eq!(render("{missing}!"), "!");
    }

    #[test]
    fn broken_placeholders_are_reported_at_their_offset() {
        let err = Template::parse("Hi {area").unwrap_err();
        assert_eq!(err.offset, 3);
        assert!(err.message.contains("not closed"), "{}", err.message);
        assert_eq!(Template::parse("a } b").unwrap_err().offset, 2);
        assert!(Template::parse("{}").unwrap_err().message.contains("empty"));
        assert!(
            Template::parse("{a b}")
                .unwrap_err()
                .message
                .contains("' '")
        );
    }

    #[test]
    fn language_codes_are_checked() {
        assert!(Language::parse("en").is_some());
        assert!(Language::parse("pt-br").is_some());
        assert!(Language::parse("EN").is_none());
        assert!(Language::parse("e").is_none());
        assert!(Language::parse("english").is_none());
    }
}
