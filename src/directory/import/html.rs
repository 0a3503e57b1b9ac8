//! Turning untrusted HTML from directory feeds into safe plain text.
//!
//! Council feeds write descriptions in HTML (`<p>`, `<br>`, `&nbsp;`,
//! sometimes pasted-in scripts). The bot shows plain text, so importers turn
//! HTML into text before a record reaches the model.
//!
//! Invariant: what [`to_text`] returns holds no markup: no tag (even one
//! written as `&lt;script&gt;` in the source, which decoding would otherwise
//! bring back to life), no `javascript:` or `vbscript:` scheme, no control
//! characters except line breaks, and no characters that reorder text. No
//! `<` or `>` at all: one left in the text ("income <£750") becomes the
//! look-alike `‹` or `›`, so no renderer can mistake it for markup.

use std::sync::LazyLock;

use html2text::render::TextDecorator;
use regex::Regex;

/// Wide enough that html2text never wraps a paragraph: line breaks in the
/// result are the document's own, not the renderer's.
const NO_WRAP_WIDTH: usize = 1_000_000;

/// Something that opens, closes or declares an element: `<p>`, `</div >`,
/// `<br/>`, `<!-- -->`, `<!DOCTYPE`, `<?xml`.
static TAG: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"<\s*/?\s*[A-Za-z][A-Za-z0-9:-]*(\s[^<>]*)?/?\s*>|<!--|<![A-Za-z\[]|<\?[A-Za-z]")
        .expect("tag pattern compiles")
});

/// A named or numbered character reference: `&amp;`, `&#163;`, `&#x2019;`.
static ENTITY: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"&(#[0-9]{1,7}|#[xX][0-9A-Fa-f]{1,6}|[A-Za-z][A-Za-z0-9]{1,31});")
        .expect("entity pattern compiles")
});

/// Script schemes, also when split by spaces or tabs as browsers allow.
static SCRIPT_SCHEME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(j\s*a\s*v\s*a|v\s*b)\s*s\s*c\s*r\s*i\s*p\s*t\s*:")
        .expect("scheme pattern compiles")
});

/// Whether `text` looks like HTML rather than plain text: it has a tag or a
/// character reference. "Ages 5 < 11 & over" is plain text; "<p>Hi</p>" and
/// "Tea &amp; cake" are HTML.
pub fn looks_like_html(text: &str) -> bool {
    TAG.is_match(text) || ENTITY.is_match(text)
}

/// `text` as plain text: through [`to_text`] when it looks like HTML, as it
/// is otherwise (so plain text from a publisher comes back unchanged).
pub fn to_text_if_html(text: &str) -> String {
    if looks_like_html(text) {
        to_text(text)
    } else {
        text.to_owned()
    }
}

/// Plain text for people to read, from untrusted HTML.
///
/// Script and style content is dropped, entities are decoded, paragraphs,
/// `<br>` and list items become line breaks (list items keep a `- ` or `1. `
/// in front, so a list still reads as one), runs of spaces become one space,
/// more than one blank line becomes one, and the ends are trimmed. Links keep
/// their words and lose their addresses. `<p><br></p>` gives "".
pub fn to_text(html: &str) -> String {
    let rendered = html2text::config::with_decorator(PlainText)
        .allow_width_overflow()
        .string_from_read(html.as_bytes(), NO_WRAP_WIDTH)
        // html2text only fails on a width too narrow, which cannot happen at
        // this width; should it ever, stripping tags by hand is still safe.
        .unwrap_or_else(|_| TAG.replace_all(html, " ").into_owned());
    tidy(&rendered)
}

/// Makes rendered text safe and tidy: see the module invariant.
fn tidy(rendered: &str) -> String {
    // Decoding can turn `&lt;b&gt;` into a real-looking tag, and a tag can
    // hide inside another (`<<b>script>`), so strip until nothing is left.
    let mut text = rendered.to_string();
    loop {
        let stripped = TAG.replace_all(&text, "");
        let stripped = SCRIPT_SCHEME.replace_all(&stripped, "");
        if stripped == text {
            break;
        }
        text = stripped.into_owned();
    }

    // What is left of `<` and `>` is text ("under <£750 a month"), but a
    // renderer that forgets to escape would still read it as markup: the
    // look-alike angle quotes read the same to people and to no parser.
    let text = text.replace('<', "\u{2039}").replace('>', "\u{203a}");

    let mut lines: Vec<String> = Vec::new();
    let mut blank_run = 0;
    for line in text.lines() {
        let line = collapse_spaces(line);
        if line.is_empty() {
            blank_run += 1;
            if blank_run == 1 && !lines.is_empty() {
                lines.push(String::new());
            }
        } else {
            blank_run = 0;
            lines.push(line);
        }
    }
    while lines.last().is_some_and(String::is_empty) {
        lines.pop();
    }
    lines.join("\n")
}

/// One line with runs of spaces (including no-break spaces and tabs) made
/// one, control and bidirectional-override characters removed, and the ends
/// trimmed.
fn collapse_spaces(line: &str) -> String {
    let mut out = String::with_capacity(line.len());
    let mut pending_space = false;
    for c in line.chars() {
        if c.is_whitespace() {
            pending_space = true;
        } else if c.is_control() || is_reordering(c) || c == '\u{200b}' || c == '\u{feff}' {
            continue;
        } else {
            if pending_space && !out.is_empty() {
                out.push(' ');
            }
            pending_space = false;
            out.push(c);
        }
    }
    out
}

/// Characters that change the order text is shown in, which can make a
/// listing say something other than what it holds.
fn is_reordering(c: char) -> bool {
    matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
}

/// html2text's plain decorator marks links and emphasis with brackets and
/// stars, which read as noise in a chat; this one keeps only the words, and
/// list markers.
#[derive(Clone, Debug)]
struct PlainText;

impl TextDecorator for PlainText {
    type Annotation = ();

    fn decorate_link_start(&mut self, _url: &str) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_link_end(&mut self) -> String {
        String::new()
    }

    fn decorate_em_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_em_end(&self) -> String {
        String::new()
    }

    fn decorate_strong_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_strong_end(&self) -> String {
        String::new()
    }

    fn decorate_strikeout_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_strikeout_end(&self) -> String {
        String::new()
    }

    fn decorate_code_start(&self) -> (String, Self::Annotation) {
        (String::new(), ())
    }

    fn decorate_code_end(&self) -> String {
        String::new()
    }

    fn decorate_preformat_first(&self) -> Self::Annotation {}

    fn decorate_preformat_cont(&self) -> Self::Annotation {}

    fn decorate_image(&mut self, _src: &str, title: &str) -> (String, Self::Annotation) {
        (title.to_string(), ())
    }

    fn header_prefix(&self, _level: usize) -> String {
        String::new()
    }

    fn quote_prefix(&self) -> String {
        String::new()
    }

    fn unordered_item_prefix(&self) -> String {
        "- ".to_string()
    }

    fn ordered_item_prefix(&self, i: i64) -> String {
        format!("{i}. ")
    }

    fn make_subblock_decorator(&self) -> Self {
        PlainText
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_empty_paragraph_with_a_break_is_nothing() {
        assert_eq!(to_text("<p><br></p>"), "");
        assert_eq!(to_text("<p>&nbsp;</p><p><br/></p>"), "");
    }

    #[test]
    fn paragraphs_and_breaks_become_lines_and_blank_runs_collapse() {
        let html = "<p>Tea   and\n cake.</p><p><br></p><p><br></p><p>Every <b>Tuesday</b>.<br>Bring a friend.</p>";
        assert_eq!(
            to_text(html),
            "Tea and cake.\n\nEvery Tuesday.\nBring a friend."
        );
    }

    #[test]
    fn entities_are_decoded_and_no_break_spaces_become_spaces() {
        assert_eq!(
            to_text("<p>Drug &amp; Alcohol&nbsp;&nbsp;support &#163;2 &#x2019;n&rsquo;</p>"),
            "Drug & Alcohol support £2 ’n’"
        );
    }

    #[test]
    fn script_and_style_content_is_dropped_entirely() {
        let html = "<p>Hello</p><script>alert('x')</script><style>p{color:red}</style><p>there</p>";
        let text = to_text(html);
        assert!(!text.contains("alert"), "{text}");
        assert!(!text.contains("color"), "{text}");
        assert!(text.contains("Hello") && text.contains("there"), "{text}");
    }

    #[test]
    fn no_tag_or_script_scheme_gets_through_even_when_encoded() {
        for html in [
            "<a href=\"javascript:alert(1)\">Click</a>",
            "&lt;script&gt;alert(1)&lt;/script&gt;",
            "&lt;img src=x onerror=alert(1)&gt;",
            "<<b>script>alert(1)<</b>/script>",
            "Visit javascript:alert(1) or JaVa\tScRiPt:alert(2)",
            "<img src=x onerror=\"alert(1)\">",
            "<svg><script>alert(1)</script></svg>",
            "&lt;&lt;b&gt;script&gt;",
        ] {
            let text = to_text(html);
            assert!(!TAG.is_match(&text), "{html:?} gave {text:?}");
            assert!(
                !text.to_lowercase().contains("script:"),
                "{html:?} gave {text:?}"
            );
            assert!(
                !text.contains('<') || !text.contains('>'),
                "{html:?} gave {text:?}"
            );
        }
    }

    #[test]
    fn links_keep_their_words_not_their_addresses() {
        assert_eq!(
            to_text("<p>See <a href=\"https://example.org\">our site</a>.</p>"),
            "See our site."
        );
    }

    #[test]
    fn nested_lists_become_one_item_per_line() {
        let html = "<ul><li>Walks<ul><li>Short</li><li>Long</li></ul></li><li>Crafts</li></ul><ol><li>Ring</li><li>Come</li></ol>";
        assert_eq!(
            to_text(html),
            "- Walks\n- Short\n- Long\n- Crafts\n1. Ring\n2. Come"
        );
    }

    #[test]
    fn angle_brackets_left_in_the_text_become_look_alikes() {
        assert_eq!(
            to_text("<p>Income &lt;750 a month, ages 5&gt;11</p>"),
            "Income \u{2039}750 a month, ages 5\u{203a}11"
        );
    }

    #[test]
    fn control_and_reordering_characters_are_removed() {
        assert_eq!(to_text("<p>a\u{7}b\u{202e}c\u{200b}d</p>"), "abcd");
    }

    #[test]
    fn plain_text_is_not_taken_for_html() {
        assert!(!looks_like_html("Ages 5 < 11 & over, 3 > 2"));
        assert!(!looks_like_html("Tea and cake\nEvery Tuesday"));
        assert!(looks_like_html("<p>Hi</p>"));
        assert!(looks_like_html("Tea &amp; cake"));
        assert!(looks_like_html("line<br/>line"));
    }
}
