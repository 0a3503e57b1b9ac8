//! Channel-neutral messages: what a person sends and what the bot replies.
//!
//! Invariant: text a person typed only ever travels inside [`UserText`],
//! whose `Debug` output is redacted and which has no `Display`, so it cannot
//! slip into a log line or a panic message by accident.

use std::fmt;

/// Messages longer than this (in bytes) get a short "too long" reply. It is
/// Telegram's own limit, so no real message from Telegram goes over it.
pub const MAX_MESSAGE_BYTES: usize = 4096;

/// Text a person sent, with control characters removed.
#[derive(Clone, PartialEq, Eq)]
pub struct UserText(String);

impl UserText {
    /// Removes control characters (a tab or line break becomes a space) so
    /// that nothing a person sends can disturb a terminal or a log.
    pub fn new(raw: &str) -> Self {
        let cleaned = raw
            .chars()
            .filter_map(|c| match c {
                '\t' | '\n' | '\r' => Some(' '),
                c if c.is_control() => None,
                c => Some(c),
            })
            .collect();
        UserText(cleaned)
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn is_too_long(&self) -> bool {
        self.0.len() > MAX_MESSAGE_BYTES
    }
}

impl fmt::Debug for UserText {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UserText(<redacted, {} bytes>)", self.0.len())
    }
}

/// Identifies one option on one reply, so that a button pressed on an old
/// message can be told apart from one on the latest.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct OptionKey {
    /// Which set of options this is: the session counts every set it shows.
    pub turn: u32,
    /// Which option in the set, from 0.
    pub index: u8,
}

impl OptionKey {
    /// A key that matches no option, for a button whose data cannot be
    /// read: it is handled like a button from an old message. Sets of
    /// options are numbered from 1, so turn 0 is never current.
    pub const UNKNOWN: OptionKey = OptionKey {
        turn: 0,
        index: u8::MAX,
    };
}

/// Something a person did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Inbound {
    /// They typed or said something.
    Text(UserText),
    /// They pressed a button.
    Choice(OptionKey),
    /// They shared a location. Where it is does not come along: the bot
    /// does not use locations (it asks for a town or a postcode's first half).
    Location,
    /// They sent something the bot cannot read: a sticker, photo, voice
    /// note, file or contact.
    NotText,
}

/// One message from the bot, with options to choose from (usually only on
/// the last message of a turn).
#[derive(Clone, PartialEq, Eq)]
pub struct Reply {
    /// Plain text; channels escape it for their own markup.
    pub text: String,
    pub options: Vec<ReplyOption>,
}

#[derive(Clone, PartialEq, Eq)]
pub struct ReplyOption {
    pub label: String,
    pub key: OptionKey,
}

impl fmt::Debug for Reply {
    // Replies can repeat what a person typed (such as their town).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "Reply(<redacted, {} bytes, {} options>)",
            self.text.len(),
            self.options.len()
        )
    }
}

impl fmt::Debug for ReplyOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "ReplyOption({:?})", self.key)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_characters_are_removed_and_line_breaks_become_spaces() {
        let text = UserText::new("a\u{0}b\u{1b}[31mc\td\r\ne\u{85}");
        assert_eq!(text.as_str(), "ab[31mc d  e");
    }

    #[test]
    fn debug_output_never_shows_the_text() {
        let shown = format!("{:?}", UserText::new("I live in Marsden"));
        assert!(!shown.contains("Marsden"), "{shown}");
        let reply = Reply {
            text: "Near Marsden".into(),
            options: vec![],
        };
        assert!(!format!("{reply:?}").contains("Marsden"));
    }
}
