//! The console channel: one message per line in, replies out.
//!
//! It works piped as well as in a terminal, and its output depends only on
//! its input and the date, so conversations can be scripted and compared:
//!
//! ```text
//! $ printf '/start\n1\n' | signpost chat --demo --date 2026-11-24
//! ```
//!
//! Options are numbered; typing the number or the label chooses one. Blank
//! lines are skipped. Bytes that are not UTF-8 are replaced, and lines longer
//! than [`MAX_LINE_BYTES`] are cut there (the bot then says the message is
//! too long), so no input can make it fail.

use std::time::Instant;

use chrono::NaiveDate;
use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncWrite, AsyncWriteExt};

use crate::bot::{Bot, Outcome, Session};
use crate::engine::Event;
use crate::message::{Inbound, MAX_MESSAGE_BYTES, Reply, UserText};
use crate::session::Sessions;

/// The most of one line that is read; the rest of the line is skipped.
/// Anything over [`MAX_MESSAGE_BYTES`] is answered as too long anyway.
pub const MAX_LINE_BYTES: usize = 4 * MAX_MESSAGE_BYTES;

/// One console conversation.
pub struct Console {
    bot: Bot,
    today: NaiveDate,
    /// The console has a single conversation, which still expires when idle.
    sessions: Sessions<(), Session>,
}

impl Console {
    pub fn new(bot: Bot, today: NaiveDate, idle: std::time::Duration) -> Self {
        Console {
            bot,
            today,
            sessions: Sessions::new(idle),
        }
    }

    /// Handles one line (without its line ending) and returns what to print
    /// (empty for a blank line) and what happened.
    pub async fn send(&mut self, line: &[u8]) -> (String, Vec<Event>) {
        let text = String::from_utf8_lossy(line);
        let text = UserText::new(&text);
        if text.as_str().trim().is_empty() {
            return (String::new(), Vec::new());
        }
        let session = self.sessions.take(&(), Instant::now());
        let response = self
            .bot
            .respond(session, Inbound::Text(text), self.today)
            .await;
        match response.outcome {
            Outcome::Continue(session) => self.sessions.put((), session, Instant::now()),
            Outcome::Ended | Outcome::Forgotten => self.sessions.remove(&()),
        }
        (render(&response.replies), response.events)
    }
}

/// Writes replies as plain text: messages separated by a blank line, options
/// numbered from 1.
pub fn render(replies: &[Reply]) -> String {
    let mut out = String::new();
    for reply in replies {
        if !out.is_empty() {
            out.push_str("\n\n");
        }
        out.push_str(reply.text.trim_end());
        if !reply.options.is_empty() {
            if !reply.text.trim().is_empty() {
                out.push_str("\n\n");
            }
            let options: Vec<String> = reply
                .options
                .iter()
                .enumerate()
                .map(|(i, option)| format!("{}. {}", i + 1, option.label))
                .collect();
            out.push_str(&options.join("\n"));
        }
    }
    out
}

/// Runs a conversation from `input` to `output` until the input ends.
pub async fn run<R, W>(mut console: Console, mut input: R, mut output: W) -> std::io::Result<()>
where
    R: AsyncBufRead + Unpin,
    W: AsyncWrite + Unpin,
{
    let mut line = Vec::new();
    while read_line(&mut input, &mut line).await? {
        let (text, _events) = console.send(&line).await;
        if !text.is_empty() {
            output.write_all(text.as_bytes()).await?;
            output.write_all(b"\n\n").await?;
            output.flush().await?;
        }
    }
    Ok(())
}

/// Reads one line into `line` without its ending, keeping at most
/// [`MAX_LINE_BYTES`]; returns false at the end of the input.
async fn read_line<R: AsyncBufRead + Unpin>(
    input: &mut R,
    line: &mut Vec<u8>,
) -> std::io::Result<bool> {
    line.clear();
    let mut read_any = false;
    loop {
        let buffer = input.fill_buf().await?;
        if buffer.is_empty() {
            return Ok(read_any);
        }
        read_any = true;
        let (chunk, found_end) = match buffer.iter().position(|&b| b == b'\n') {
            Some(end) => (&buffer[..end], Some(end + 1)),
            None => (buffer, None),
        };
        let room = MAX_LINE_BYTES.saturating_sub(line.len());
        line.extend_from_slice(&chunk[..chunk.len().min(room)]);
        let consumed = found_end.unwrap_or(buffer.len());
        input.consume(consumed);
        if found_end.is_some() {
            if line.last() == Some(&b'\r') {
                line.pop();
            }
            return Ok(true);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn lines_are_split_and_cut_to_the_limit() {
        let mut long = vec![b'a'; MAX_LINE_BYTES * 2];
        long.extend_from_slice(b"\r\nnext\nlast");
        let mut input = tokio::io::BufReader::with_capacity(64, long.as_slice());
        let mut line = Vec::new();
        assert!(read_line(&mut input, &mut line).await.unwrap());
        assert_eq!(line.len(), MAX_LINE_BYTES);
        assert!(read_line(&mut input, &mut line).await.unwrap());
        assert_eq!(line, b"next");
        assert!(read_line(&mut input, &mut line).await.unwrap());
        assert_eq!(line, b"last");
        assert!(!read_line(&mut input, &mut line).await.unwrap());
    }
}
