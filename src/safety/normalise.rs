//! Making differently written messages the same before patterns see them.
//!
//! Invariant: the normalised forms hold only lower-case letters, digits and
//! single spaces, so a pattern written in that alphabet means the same thing
//! whatever capitals, apostrophes, quotes, punctuation or emoji a person
//! used. It is pure and cannot fail.

use std::collections::HashMap;

/// The most words one spelling can replace ("do not" is two).
pub(crate) const MAX_SPELLING_WORDS: usize = 3;

/// Words written in another way (text-speak, common misspellings,
/// contractions) and the words patterns are written with.
#[derive(Debug, Clone, Default)]
pub(crate) struct Spellings {
    /// The words to replace, split into words, and their replacement.
    replacements: HashMap<Vec<String>, Vec<String>>,
}

impl Spellings {
    pub(crate) fn insert(&mut self, from: &str, to: &str) {
        self.replacements.insert(words(from), words(to));
    }

    fn apply(&self, tokens: &[&str]) -> Vec<String> {
        let mut out = Vec::with_capacity(tokens.len());
        let mut i = 0;
        'tokens: while i < tokens.len() {
            // The longest replacement wins, so "do not" beats "do".
            for length in (1..=MAX_SPELLING_WORDS.min(tokens.len() - i)).rev() {
                let key: Vec<String> = tokens[i..i + length]
                    .iter()
                    .map(|t| (*t).to_owned())
                    .collect();
                if let Some(replacement) = self.replacements.get(&key) {
                    out.extend(replacement.iter().cloned());
                    i += length;
                    continue 'tokens;
                }
            }
            out.push(tokens[i].to_owned());
            i += 1;
        }
        out
    }
}

fn words(text: &str) -> Vec<String> {
    text.split_whitespace().map(str::to_owned).collect()
}

/// Characters people type for an apostrophe: they are dropped, so `can't`,
/// `can’t` and `cant` are all `cant`.
fn is_apostrophe(c: char) -> bool {
    matches!(
        c,
        '\'' | '\u{2018}' | '\u{2019}' | '\u{02bc}' | '`' | '\u{00b4}' | '\u{2032}'
    )
}

/// The normalised forms of `text`: lower case, apostrophes dropped, every
/// other mark, emoji and symbol turned into a space, and spellings applied.
/// Letters repeated three or more times ("sooo", "diiie") are squeezed two
/// ways, to two letters and to one, because either may be the real word
/// ("killl" is "kill", "dieee" is "die"); the forms are returned without
/// duplicates.
pub(crate) fn normalise(text: &str, spellings: &Spellings) -> Vec<String> {
    let mut cleaned = String::with_capacity(text.len());
    for c in text.chars().flat_map(char::to_lowercase) {
        if is_apostrophe(c) {
            continue;
        }
        cleaned.push(if c.is_alphanumeric() { c } else { ' ' });
    }
    let mut forms: Vec<String> = Vec::with_capacity(2);
    for keep in [2, 1] {
        let squeezed = squeeze_repeats(&cleaned, keep);
        let tokens: Vec<&str> = squeezed.split_whitespace().collect();
        let form = spellings.apply(&tokens).join(" ");
        if !forms.contains(&form) {
            forms.push(form);
        }
    }
    forms
}

/// Cuts runs of three or more of the same letter down to `keep` letters.
/// Digits are left alone: "1000" is a number, not a typo. Linear in the
/// length of the text, whatever it holds.
fn squeeze_repeats(text: &str, keep: usize) -> String {
    let mut out = String::with_capacity(text.len());
    let mut chars = text.chars().peekable();
    while let Some(c) = chars.next() {
        let mut run = 1;
        while chars.peek() == Some(&c) {
            chars.next();
            run += 1;
        }
        let written = if c.is_alphabetic() && run >= 3 {
            keep
        } else {
            run
        };
        out.extend(std::iter::repeat_n(c, written));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn spellings() -> Spellings {
        let mut spellings = Spellings::default();
        spellings.insert("wanna", "want to");
        spellings.insert("do not", "dont");
        spellings.insert("u", "you");
        spellings
    }

    #[test]
    fn messages_are_normalised_to_lower_case_words_without_marks() {
        let cases = [
            ("I CAN'T go on!!!", vec!["i cant go on"]),
            (
                "I can\u{2019}t go on \u{1f622}\u{1f622}",
                vec!["i cant go on"],
            ),
            ("self-harm, again...", vec!["self harm again"]),
            ("\"quoted\" \u{201c}words\u{201d}", vec!["quoted words"]),
            ("i wanna   sleep", vec!["i want to sleep"]),
            ("I do not know, do u?", vec!["i dont know do you"]),
            ("", vec![""]),
            ("\u{1f600}", vec![""]),
        ];
        for (text, expected) in cases {
            assert_eq!(normalise(text, &spellings()), expected, "{text:?}");
        }
    }

    #[test]
    fn repeated_letters_are_squeezed_two_ways_and_numbers_kept() {
        assert_eq!(
            normalise("killlll meeee", &spellings()),
            vec!["kill mee", "kil me"]
        );
        assert_eq!(
            normalise("sooo 1000", &spellings()),
            vec!["soo 1000", "so 1000"]
        );
        assert_eq!(normalise("good feel", &spellings()), vec!["good feel"]);
    }

    #[test]
    fn any_text_normalises_without_panicking() {
        let odd = "\u{0}\u{202e}a\u{301}\u{1f468}\u{200d}\u{1f469} \u{130}\u{df} \u{fb01}";
        let forms = normalise(odd, &spellings());
        assert!(!forms.is_empty());
        for form in forms {
            assert!(form.chars().all(|c| c.is_alphanumeric() || c == ' '));
        }
    }
}
