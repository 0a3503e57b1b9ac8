//! Turning the bot's replies into Telegram messages, and button presses back
//! into options.
//!
//! Invariant: every piece of text is HTML-escaped before it is sent (we use
//! HTML parse mode, and directory data is written by other people), no
//! message is longer than Telegram's 4,096 characters, and callback data is
//! a short opaque key that never holds anything a person typed.

use crate::message::{OptionKey, Reply};

/// Telegram's limit on a message's text, in characters after parsing.
pub const MAX_CHARS: usize = 4096;

/// Telegram's limit on a button's callback data, in bytes.
pub const MAX_CALLBACK_BYTES: usize = 64;

/// One Telegram message to send: escaped HTML and, on the last message of a
/// turn, the buttons as (label, callback data), one per row.
#[derive(Clone, PartialEq, Eq)]
pub struct Outgoing {
    pub html: String,
    pub buttons: Vec<(String, String)>,
}

impl std::fmt::Debug for Outgoing {
    // The text can repeat what a person typed.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Outgoing(<redacted, {} bytes, {} buttons>)",
            self.html.len(),
            self.buttons.len()
        )
    }
}

/// The callback data for an option: `o<turn>.<index>`, at most 15 bytes.
pub fn callback_data(key: OptionKey) -> String {
    format!("o{}.{}", key.turn, key.index)
}

/// The option a button's callback data stands for, if it is one of ours.
pub fn parse_callback_data(data: &str) -> Option<OptionKey> {
    let (turn, index) = data.strip_prefix('o')?.split_once('.')?;
    Some(OptionKey {
        turn: turn.parse().ok()?,
        index: index.parse().ok()?,
    })
}

/// Escapes text for Telegram's HTML parse mode.
pub fn escape(text: &str) -> String {
    let mut escaped = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '<' => escaped.push_str("&lt;"),
            '>' => escaped.push_str("&gt;"),
            '&' => escaped.push_str("&amp;"),
            '"' => escaped.push_str("&quot;"),
            c => escaped.push(c),
        }
    }
    escaped
}

/// Renders one turn's replies as few Telegram messages as fit: consecutive
/// replies are joined with a blank line (a phone shows one message, not a
/// burst of six), long text is split at paragraph boundaries, and the
/// options of the last reply become buttons under the last message.
pub fn render(replies: &[Reply]) -> Vec<Outgoing> {
    let mut paragraphs: Vec<&str> = Vec::new();
    let mut messages = Vec::new();
    for (i, reply) in replies.iter().enumerate() {
        paragraphs.extend(
            reply
                .text
                .split("\n\n")
                .map(str::trim_end)
                .filter(|p| !p.trim().is_empty()),
        );
        // Options in the middle of a turn (which the engine does not make
        // today) keep their own message, so each set stays under its text.
        let last = i + 1 == replies.len();
        if !reply.options.is_empty() || last {
            let buttons: Vec<(String, String)> = reply
                .options
                .iter()
                .map(|option| (option.label.clone(), callback_data(option.key)))
                .collect();
            let mut chunks = pack(&paragraphs);
            if chunks.is_empty() && !buttons.is_empty() {
                // Telegram needs some text under which to show buttons.
                chunks.push("…".to_owned());
            }
            let count = chunks.len();
            for (n, chunk) in chunks.into_iter().enumerate() {
                messages.push(Outgoing {
                    html: escape(&chunk),
                    buttons: if n + 1 == count {
                        buttons.clone()
                    } else {
                        Vec::new()
                    },
                });
            }
            paragraphs.clear();
        }
    }
    messages
}

/// Packs paragraphs into texts of at most [`MAX_CHARS`] characters each,
/// splitting a paragraph that is too long on its own at a line break or
/// space where it can.
fn pack(paragraphs: &[&str]) -> Vec<String> {
    let mut chunks = Vec::new();
    let mut current = String::new();
    let mut current_chars = 0;
    for paragraph in paragraphs {
        for piece in split_long(paragraph) {
            let chars = piece.chars().count();
            let joined = if current.is_empty() {
                chars
            } else {
                current_chars + 2 + chars
            };
            if joined > MAX_CHARS && !current.is_empty() {
                chunks.push(std::mem::take(&mut current));
                current_chars = 0;
            }
            if !current.is_empty() {
                current.push_str("\n\n");
                current_chars += 2;
            }
            current.push_str(piece);
            current_chars += chars;
        }
    }
    if !current.is_empty() {
        chunks.push(current);
    }
    chunks
}

/// Splits a paragraph longer than [`MAX_CHARS`] characters into pieces that
/// fit, at the last line break or space before the limit when there is one.
fn split_long(paragraph: &str) -> Vec<&str> {
    let mut pieces = Vec::new();
    let mut rest = paragraph;
    while rest.chars().count() > MAX_CHARS {
        let limit = rest
            .char_indices()
            .nth(MAX_CHARS)
            .map_or(rest.len(), |(i, _)| i);
        let head = &rest[..limit];
        let cut = head
            .rfind('\n')
            .or_else(|| head.rfind(' '))
            .filter(|&at| at > 0)
            .unwrap_or(limit);
        pieces.push(rest[..cut].trim_end());
        rest = rest[cut..].trim_start();
    }
    if !rest.is_empty() {
        pieces.push(rest);
    }
    pieces
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::message::ReplyOption;

    fn reply(text: &str, options: &[&str]) -> Reply {
        Reply {
            text: text.to_owned(),
            options: options
                .iter()
                .enumerate()
                .map(|(i, label)| ReplyOption {
                    label: (*label).to_owned(),
                    key: OptionKey {
                        turn: 7,
                        index: i as u8,
                    },
                })
                .collect(),
        }
    }

    #[test]
    fn callback_data_is_short_and_reads_back() {
        let key = OptionKey {
            turn: u32::MAX,
            index: u8::MAX,
        };
        let data = callback_data(key);
        assert!(data.len() <= 15 && data.len() <= MAX_CALLBACK_BYTES);
        assert_eq!(parse_callback_data(&data), Some(key));
        for junk in [
            "", "o", "o1", "o1.", "o.1", "x1.2", "o1.256", "o-1.0", "o1.2.3",
        ] {
            assert_eq!(parse_callback_data(junk), None, "{junk:?}");
        }
    }

    #[test]
    fn html_in_any_text_is_escaped() {
        let messages = render(&[reply(
            "Tea & <b>cake</b> at \"The Hall\" <script>alert(1)</script>",
            &[],
        )]);
        assert_eq!(
            messages[0].html,
            "Tea &amp; &lt;b&gt;cake&lt;/b&gt; at &quot;The Hall&quot; &lt;script&gt;alert(1)&lt;/script&gt;"
        );
    }

    #[test]
    fn a_turn_becomes_one_message_with_the_buttons_under_it() {
        let messages = render(&[
            reply("I found 2.", &[]),
            reply("Knit and Natter\nTuesdays", &[]),
            reply("Lunch club", &["Show more", "Main menu"]),
        ]);
        assert_eq!(messages.len(), 1);
        assert_eq!(
            messages[0].html,
            "I found 2.\n\nKnit and Natter\nTuesdays\n\nLunch club"
        );
        assert_eq!(
            messages[0].buttons,
            vec![
                ("Show more".to_owned(), "o7.0".to_owned()),
                ("Main menu".to_owned(), "o7.1".to_owned())
            ]
        );
    }

    #[test]
    fn long_text_is_split_at_paragraphs_and_each_part_fits() {
        let paragraph = "word ".repeat(300); // 1,500 characters
        let text = [paragraph.as_str(); 6].join("\n\n");
        let messages = render(&[reply(&text, &["OK"])]);
        assert_eq!(messages.len(), 3);
        for message in &messages {
            assert!(message.html.chars().count() <= MAX_CHARS);
            assert!(!message.html.starts_with('\n') && !message.html.ends_with(' '));
        }
        assert!(messages[..2].iter().all(|m| m.buttons.is_empty()));
        assert_eq!(messages[2].buttons.len(), 1);
    }

    #[test]
    fn one_paragraph_longer_than_a_message_is_split_at_spaces() {
        let text = "ü".repeat(3000) + " " + &"ä".repeat(3000);
        let messages = render(&[reply(&text, &[])]);
        assert_eq!(messages.len(), 2);
        assert_eq!(messages[0].html, "ü".repeat(3000));
        assert_eq!(messages[1].html, "ä".repeat(3000));

        let unbroken = "x".repeat(MAX_CHARS * 2 + 10);
        let messages = render(&[reply(&unbroken, &[])]);
        let lengths: Vec<usize> = messages.iter().map(|m| m.html.chars().count()).collect();
        assert_eq!(lengths, vec![MAX_CHARS, MAX_CHARS, 10]);
    }

    #[test]
    fn escaping_never_makes_a_message_too_long_to_read() {
        // Telegram counts characters after parsing entities, so "&amp;"
        // counts as one: splitting is done on the plain text.
        let text = "&".repeat(MAX_CHARS);
        let messages = render(&[reply(&text, &[])]);
        assert_eq!(messages.len(), 1);
    }

    #[test]
    fn options_with_no_text_still_get_a_message_to_sit_under() {
        let messages = render(&[reply("", &["Main menu"])]);
        assert_eq!(messages.len(), 1);
        assert!(!messages[0].html.is_empty());
    }
}
