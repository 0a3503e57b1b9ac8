//! A fake Telegram Bot API on loopback, for the Telegram tests and the
//! Telegram benchmark.
//!
//! It speaks enough of the real API for the bot's whole code path (teloxide's
//! dispatcher, polling, throttling and our rendering) to run against it:
//! getMe, getUpdates with offset semantics and long polling, getWebhookInfo,
//! deleteWebhook, setMyCommands, sendMessage, editMessageText,
//! editMessageReplyMarkup, answerCallbackQuery, deleteMessage and
//! deleteMessages. Faults can be queued per method: 429 with `retry_after`,
//! 500, or a dropped connection.
//!
//! Updates are built from the fixture files in `tests/telegram/updates/`,
//! which are real Update JSON in the current Bot API format.

#![allow(dead_code)] // Each test binary uses a different part of it.

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use http_body_util::{BodyExt, Full};
use hyper::body::{Bytes, Incoming};
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tokio::task::JoinHandle;

/// The token the bot under test is given. It looks like a real one.
pub const TOKEN: &str = "7000000001:AAH-fake-token-for-tests_only";
pub const BOT_ID: i64 = 7_000_000_001;
pub const BOT_USERNAME: &str = "signpost_test_bot";

/// How long [`FakeTelegram::wait_until`] waits before failing the test.
const DEADLINE: Duration = Duration::from_secs(30);

/// A fault to answer one request with, instead of the real answer.
#[derive(Debug, Clone, Copy)]
pub enum Fault {
    /// 429 Too Many Requests with `parameters.retry_after` in seconds.
    TooManyRequests { retry_after: u32 },
    /// 500 Internal Server Error.
    ServerError,
    /// The connection is closed before any answer.
    Disconnect,
    /// The request is answered normally, but only after this long.
    Delay(Duration),
}

/// One request the bot made.
#[derive(Debug, Clone)]
pub struct Call {
    pub method: String,
    pub body: Value,
}

/// A message the bot sent, as it stands now.
#[derive(Debug, Clone)]
pub struct Sent {
    pub chat_id: i64,
    pub message_id: i64,
    pub text: String,
    pub parse_mode: Option<String>,
    /// Inline buttons, row by row flattened: (label, callback data or URL).
    pub buttons: Vec<(String, String)>,
    pub deleted: bool,
}

#[derive(Default)]
struct Inner {
    /// Updates not yet confirmed by an offset, oldest first.
    queue: VecDeque<Value>,
    next_update_id: i64,
    next_message_id: i64,
    calls: Vec<Call>,
    faults: HashMap<String, VecDeque<Fault>>,
    sent: Vec<Sent>,
    /// Messages the person sent (chat, message id) that were deleted.
    deleted_incoming: Vec<(i64, i64)>,
    /// The highest offset confirmed by getUpdates.
    confirmed: i64,
    /// The webhook URL and secret token set, if any.
    webhook: Option<(String, Option<String>)>,
    /// Benchmarks count messages instead of keeping them and the requests,
    /// so the fake's own memory does not count against the bot's.
    counting_only: bool,
    sent_total: usize,
}

struct Shared {
    inner: Mutex<Inner>,
    /// Woken whenever anything changes, for long polling and waiting.
    changed: Notify,
}

/// A running fake Bot API. Dropping it stops the server.
pub struct FakeTelegram {
    address: SocketAddr,
    shared: Arc<Shared>,
    server: JoinHandle<()>,
}

impl Drop for FakeTelegram {
    fn drop(&mut self) {
        self.server.abort();
    }
}

impl FakeTelegram {
    /// Starts a fake API on a free loopback port.
    pub async fn start() -> FakeTelegram {
        FakeTelegram::start_with(false).await
    }

    /// Starts a fake API that only counts what the bot sends, for benchmarks.
    pub async fn start_counting() -> FakeTelegram {
        FakeTelegram::start_with(true).await
    }

    async fn start_with(counting_only: bool) -> FakeTelegram {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port for the fake Bot API");
        let address = listener.local_addr().expect("the fake API's address");
        let shared = Arc::new(Shared {
            inner: Mutex::new(Inner {
                next_update_id: 1,
                next_message_id: 1000,
                counting_only,
                ..Inner::default()
            }),
            changed: Notify::new(),
        });
        let server_shared = Arc::clone(&shared);
        let server = tokio::spawn(async move {
            loop {
                let Ok((stream, _)) = listener.accept().await else {
                    continue;
                };
                let shared = Arc::clone(&server_shared);
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |request| {
                        let shared = Arc::clone(&shared);
                        async move { answer(&shared, request).await }
                    });
                    // A connection ends with an error when a fault drops it.
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .await;
                });
            }
        });
        FakeTelegram {
            address,
            shared,
            server,
        }
    }

    /// The base URL to give the bot as `telegram.api_url`.
    pub fn url(&self) -> String {
        format!("http://{}/", self.address)
    }

    /// Reads the state. (It does not wake waiters: a waiting condition
    /// that reads would otherwise wake itself for ever.)
    fn with<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let mut inner = self.shared.inner.lock().expect("fake API state");
        f(&mut inner)
    }

    /// Changes the state and wakes whoever waits for a change.
    fn change<T>(&self, f: impl FnOnce(&mut Inner) -> T) -> T {
        let result = self.with(f);
        self.shared.changed.notify_waiters();
        result
    }

    /// Queues an update, giving it the next update id; returns the id.
    pub fn push(&self, mut update: Value) -> i64 {
        self.change(|inner| {
            let id = inner.next_update_id;
            inner.next_update_id += 1;
            update["update_id"] = json!(id);
            inner.queue.push_back(update);
            id
        })
    }

    /// Queues an update with the id it already has (to send a duplicate).
    pub fn push_as_is(&self, update: Value) {
        self.change(|inner| inner.queue.push_back(update));
    }

    /// Queues a text message from a private chat.
    pub fn text(&self, chat: i64, text: &str) -> i64 {
        let mut update = private(fixture("private-text"), chat);
        let message_id = self.with(|inner| {
            inner.next_message_id += 1;
            inner.next_message_id
        });
        update["message"]["message_id"] = json!(message_id);
        update["message"]["text"] = json!(text);
        if text.starts_with('/') {
            let length = text.split_whitespace().next().unwrap_or(text);
            update["message"]["entities"] = json!([{
                "offset": 0,
                "length": length.encode_utf16().count(),
                "type": "bot_command"
            }]);
        }
        self.push(update);
        message_id
    }

    /// Queues a press of the button labelled `label` on the latest message
    /// in `chat` that shows it.
    pub fn press(&self, chat: i64, label: &str) -> i64 {
        let (message, data) = self
            .sent_to(chat)
            .into_iter()
            .rev()
            .find_map(|m| {
                let data = m.buttons.iter().find(|(l, _)| l == label)?.1.clone();
                Some((m, data))
            })
            .unwrap_or_else(|| panic!("no message in chat {chat} has a button {label:?}"));
        self.press_data(chat, &message, &data)
    }

    /// Queues a press of a button with this callback data on `message`.
    pub fn press_data(&self, chat: i64, message: &Sent, data: &str) -> i64 {
        let mut update = fixture("button-press");
        let query = &mut update["callback_query"];
        query["id"] = json!(format!("q{}-{}", chat, message.message_id));
        query["from"]["id"] = json!(chat);
        query["message"]["chat"]["id"] = json!(chat);
        query["message"]["message_id"] = json!(message.message_id);
        query["message"]["text"] = json!(message.text);
        let keyboard: Vec<Value> = message
            .buttons
            .iter()
            .map(|(label, data)| json!([{"text": label, "callback_data": data}]))
            .collect();
        query["message"]["reply_markup"] = json!({ "inline_keyboard": keyboard });
        query["data"] = json!(data);
        self.push(update)
    }

    /// Queues a fault for the next request to `method` (or "*" for any).
    pub fn fail_next(&self, method: &str, fault: Fault) {
        self.change(|inner| {
            inner
                .faults
                .entry(method.to_owned())
                .or_default()
                .push_back(fault)
        });
    }

    /// Every request made so far to `method`.
    pub fn calls(&self, method: &str) -> Vec<Call> {
        self.with(|inner| {
            inner
                .calls
                .iter()
                .filter(|c| c.method == method)
                .cloned()
                .collect()
        })
    }

    /// The messages sent to `chat` that still stand, oldest first.
    pub fn sent_to(&self, chat: i64) -> Vec<Sent> {
        self.with(|inner| {
            inner
                .sent
                .iter()
                .filter(|m| m.chat_id == chat && !m.deleted)
                .cloned()
                .collect()
        })
    }

    /// Every message sent to `chat`, deleted or not.
    pub fn all_sent_to(&self, chat: i64) -> Vec<Sent> {
        self.with(|inner| {
            inner
                .sent
                .iter()
                .filter(|m| m.chat_id == chat)
                .cloned()
                .collect()
        })
    }

    /// How many messages have been sent in all.
    pub fn sent_count(&self) -> usize {
        self.with(|inner| inner.sent_total)
    }

    /// The incoming messages of `chat` that the bot deleted.
    pub fn deleted_incoming(&self, chat: i64) -> Vec<i64> {
        self.with(|inner| {
            inner
                .deleted_incoming
                .iter()
                .filter(|(c, _)| *c == chat)
                .map(|(_, m)| *m)
                .collect()
        })
    }

    /// The webhook URL and secret token the bot set, if it set one.
    pub fn webhook(&self) -> Option<(String, Option<String>)> {
        self.with(|inner| inner.webhook.clone())
    }

    /// Whether every queued update has been confirmed by an offset.
    pub fn all_confirmed(&self) -> bool {
        self.with(|inner| inner.queue.is_empty())
    }

    /// Waits until `condition` holds, checking whenever the fake changes.
    /// Fails the test with `what` if it does not hold within 30 seconds.
    pub async fn wait_until(&self, what: &str, mut condition: impl FnMut(&FakeTelegram) -> bool) {
        let deadline = tokio::time::Instant::now() + DEADLINE;
        loop {
            let changed = self.shared.changed.notified();
            if condition(self) {
                return;
            }
            // Also look again now and then: the bot's own work (not a
            // request) can be what the condition waits for.
            let step = tokio::time::Instant::now() + Duration::from_millis(50);
            if tokio::time::timeout_at(step.min(deadline), changed)
                .await
                .is_err()
                && tokio::time::Instant::now() >= deadline
            {
                let methods: Vec<String> =
                    self.with(|inner| inner.calls.iter().map(|c| c.method.clone()).collect());
                panic!("timed out waiting until {what}; requests so far: {methods:?}");
            }
        }
    }

    /// Waits until `chat` has at least `count` messages standing, then
    /// returns them.
    pub async fn wait_for_messages(&self, chat: i64, count: usize) -> Vec<Sent> {
        self.wait_until(&format!("chat {chat} has {count} messages"), |fake| {
            fake.sent_to(chat).len() >= count
        })
        .await;
        self.sent_to(chat)
    }
}

/// Reads a fixture from `tests/telegram/updates/NAME.json`.
pub fn fixture(name: &str) -> Value {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/telegram/updates")
        .join(format!("{name}.json"));
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|err| panic!("cannot read {}: {err}", path.display()));
    serde_json::from_str(&text)
        .unwrap_or_else(|err| panic!("{} is not JSON: {err}", path.display()))
}

/// Moves a private-chat fixture into `chat` (the person's user id is the
/// chat id in private chats).
pub fn private(mut update: Value, chat: i64) -> Value {
    for kind in ["message", "edited_message"] {
        if update.get(kind).is_some() {
            update[kind]["chat"]["id"] = json!(chat);
            update[kind]["from"]["id"] = json!(chat);
        }
    }
    update
}

type Answer = Result<Response<Full<Bytes>>, std::io::Error>;

async fn answer(shared: &Shared, request: Request<Incoming>) -> Answer {
    let path = request.uri().path().to_owned();
    // Telegram reads method names without regard to case (teloxide sends
    // "SendMessage"): keep them as the documentation writes them.
    let Some(method) = path.strip_prefix(&format!("/bot{TOKEN}/")).map(|name| {
        let mut chars = name.chars();
        chars
            .next()
            .map(|first| first.to_ascii_lowercase().to_string() + chars.as_str())
            .unwrap_or_default()
    }) else {
        return Ok(reply(
            StatusCode::NOT_FOUND,
            json!({"ok": false, "error_code": 404, "description": "Not Found"}),
        ));
    };
    let boundary = request
        .headers()
        .get(hyper::header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once("boundary="))
        .map(|(_, b)| b.trim_matches('"').to_owned());
    let bytes = request
        .into_body()
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let body: Value = if bytes.is_empty() {
        json!({})
    } else if let Some(boundary) = boundary {
        // teloxide sends requests that may carry a file (setWebhook) as
        // multipart forms.
        form_fields(&String::from_utf8_lossy(&bytes), &boundary)
    } else {
        match serde_json::from_slice(&bytes) {
            Ok(body) => body,
            Err(_) => {
                return Ok(reply(
                    StatusCode::BAD_REQUEST,
                    json!({"ok": false, "error_code": 400, "description": "Bad Request: the fake API takes JSON bodies only"}),
                ));
            }
        }
    };

    let fault = {
        let mut inner = shared.inner.lock().expect("fake API state");
        if !inner.counting_only {
            inner.calls.push(Call {
                method: method.clone(),
                body: body.clone(),
            });
        }
        let mut take = |key: &str| inner.faults.get_mut(key).and_then(VecDeque::pop_front);
        take(&method).or_else(|| take("*"))
    };
    shared.changed.notify_waiters();
    match fault {
        Some(Fault::TooManyRequests { retry_after }) => {
            return Ok(reply(
                StatusCode::TOO_MANY_REQUESTS,
                json!({
                    "ok": false,
                    "error_code": 429,
                    "description": format!("Too Many Requests: retry after {retry_after}"),
                    "parameters": {"retry_after": retry_after}
                }),
            ));
        }
        Some(Fault::ServerError) => {
            return Ok(reply(
                StatusCode::INTERNAL_SERVER_ERROR,
                json!({"ok": false, "error_code": 500, "description": "Internal Server Error"}),
            ));
        }
        Some(Fault::Disconnect) => {
            return Err(std::io::Error::other("the fake API dropped the connection"));
        }
        Some(Fault::Delay(pause)) => tokio::time::sleep(pause).await,
        None => {}
    }

    if method == "getUpdates" {
        return Ok(get_updates(shared, &body).await);
    }
    let result = {
        let mut inner = shared.inner.lock().expect("fake API state");
        perform(&mut inner, &method, &body)
    };
    shared.changed.notify_waiters();
    Ok(match result {
        Ok(result) => reply(StatusCode::OK, json!({"ok": true, "result": result})),
        Err((code, description)) => reply(
            StatusCode::from_u16(code).unwrap_or(StatusCode::BAD_REQUEST),
            json!({"ok": false, "error_code": code, "description": description}),
        ),
    })
}

/// The text fields of a multipart form, as a JSON object of strings.
fn form_fields(body: &str, boundary: &str) -> Value {
    let mut fields = serde_json::Map::new();
    for part in body.split(&format!("--{boundary}")) {
        let Some((headers, value)) = part.split_once("\r\n\r\n") else {
            continue;
        };
        let name = headers
            .split("name=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next());
        if let Some(name) = name {
            let value = value.strip_suffix("\r\n").unwrap_or(value);
            fields.insert(name.to_owned(), json!(value));
        }
    }
    Value::Object(fields)
}

fn reply(status: StatusCode, body: Value) -> Response<Full<Bytes>> {
    let mut response = Response::new(Full::new(Bytes::from(body.to_string())));
    *response.status_mut() = status;
    response.headers_mut().insert(
        hyper::header::CONTENT_TYPE,
        hyper::header::HeaderValue::from_static("application/json"),
    );
    response
}

/// getUpdates: confirms everything below `offset`, then returns what is
/// queued, waiting up to `timeout` seconds for something to arrive.
async fn get_updates(shared: &Shared, body: &Value) -> Response<Full<Bytes>> {
    let offset = body["offset"].as_i64().unwrap_or(0);
    let limit = body["limit"].as_u64().unwrap_or(100).clamp(1, 100) as usize;
    let timeout = Duration::from_secs(body["timeout"].as_u64().unwrap_or(0));
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        let changed = shared.changed.notified();
        let updates: Vec<Value> = {
            let mut inner = shared.inner.lock().expect("fake API state");
            if offset > inner.confirmed {
                inner.confirmed = offset;
            }
            let confirmed = inner.confirmed;
            inner
                .queue
                .retain(|u| u["update_id"].as_i64().unwrap_or(0) >= confirmed);
            inner.queue.iter().take(limit).cloned().collect()
        };
        if !updates.is_empty() || tokio::time::Instant::now() >= deadline {
            shared.changed.notify_waiters();
            return reply(StatusCode::OK, json!({"ok": true, "result": updates}));
        }
        let _ = tokio::time::timeout_at(deadline, changed).await;
    }
}

fn bot_user() -> Value {
    json!({
        "id": BOT_ID,
        "is_bot": true,
        "first_name": "Signpost",
        "username": BOT_USERNAME,
        "can_join_groups": true,
        "can_read_all_group_messages": false,
        "supports_inline_queries": false,
        "can_connect_to_business": false,
        "has_main_web_app": false
    })
}

fn buttons(body: &Value) -> Vec<(String, String)> {
    body["reply_markup"]["inline_keyboard"]
        .as_array()
        .into_iter()
        .flatten()
        .flat_map(|row| row.as_array().into_iter().flatten())
        .map(|button| {
            let label = button["text"].as_str().unwrap_or_default().to_owned();
            let target = button["callback_data"]
                .as_str()
                .or_else(|| button["url"].as_str())
                .unwrap_or_default()
                .to_owned();
            (label, target)
        })
        .collect()
}

fn message_json(sent: &Sent, reply_markup: &Value) -> Value {
    let mut message = json!({
        "message_id": sent.message_id,
        "from": bot_user(),
        "chat": {"id": sent.chat_id, "type": if sent.chat_id > 0 { "private" } else { "group" }, "first_name": "Someone", "title": "A group"},
        "date": 1_764_662_400,
        "text": sent.text,
    });
    if !reply_markup.is_null() {
        message["reply_markup"] = reply_markup.clone();
    }
    message
}

type Performed = Result<Value, (u16, String)>;

fn perform(inner: &mut Inner, method: &str, body: &Value) -> Performed {
    let chat_id = || {
        body["chat_id"]
            .as_i64()
            .ok_or((400, "Bad Request: chat_id is missing".to_owned()))
    };
    match method {
        "getMe" => Ok(bot_user()),
        "getWebhookInfo" => Ok(json!({
            "url": inner.webhook.as_ref().map(|(url, _)| url.clone()).unwrap_or_default(),
            "has_custom_certificate": false,
            "pending_update_count": inner.queue.len()
        })),
        "setWebhook" => {
            let url = body["url"].as_str().unwrap_or_default().to_owned();
            let secret = body["secret_token"].as_str().map(str::to_owned);
            inner.webhook = Some((url, secret));
            Ok(json!(true))
        }
        "deleteWebhook" => {
            inner.webhook = None;
            Ok(json!(true))
        }
        "setMyCommands" | "answerCallbackQuery" => Ok(json!(true)),
        "sendMessage" => {
            let text = body["text"].as_str().unwrap_or_default().to_owned();
            if text.is_empty() {
                return Err((400, "Bad Request: message text is empty".into()));
            }
            if body["parse_mode"] == "HTML" {
                check_html(&text)?;
            }
            if visible_chars(&text, body["parse_mode"] == "HTML") > 4096 {
                return Err((400, "Bad Request: message is too long".into()));
            }
            inner.next_message_id += 1;
            let sent = Sent {
                chat_id: chat_id()?,
                message_id: inner.next_message_id,
                text,
                parse_mode: body["parse_mode"].as_str().map(str::to_owned),
                buttons: buttons(body),
                deleted: false,
            };
            let message = message_json(&sent, &body["reply_markup"]);
            inner.sent_total += 1;
            if !inner.counting_only {
                inner.sent.push(sent);
            }
            Ok(message)
        }
        "editMessageText" | "editMessageReplyMarkup" => {
            let chat = chat_id()?;
            let id = body["message_id"].as_i64().unwrap_or_default();
            let Some(sent) = inner
                .sent
                .iter_mut()
                .find(|m| m.chat_id == chat && m.message_id == id && !m.deleted)
            else {
                return Err((400, "Bad Request: message to edit not found".into()));
            };
            if let Some(text) = body["text"].as_str() {
                if body["parse_mode"] == "HTML" {
                    check_html(text)?;
                }
                sent.text = text.to_owned();
                sent.parse_mode = body["parse_mode"].as_str().map(str::to_owned);
            }
            sent.buttons = buttons(body);
            Ok(message_json(sent, &body["reply_markup"]))
        }
        "deleteMessage" => {
            let chat = chat_id()?;
            let id = body["message_id"].as_i64().unwrap_or_default();
            delete(inner, chat, id)?;
            Ok(json!(true))
        }
        "deleteMessages" => {
            let chat = chat_id()?;
            let ids: Vec<i64> = body["message_ids"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_i64)
                .collect();
            if ids.is_empty() || ids.len() > 100 {
                return Err((400, "Bad Request: give 1 to 100 message ids".into()));
            }
            for id in ids {
                // Like Telegram, deleteMessages skips what it cannot delete.
                let _ = delete(inner, chat, id);
            }
            Ok(json!(true))
        }
        _ => Err((404, "Not Found: method not found".into())),
    }
}

/// Refuses text that Telegram's HTML parse mode would refuse: the bot uses
/// no tags, so any `<` or `>` is unescaped text, and every `&` must start
/// one of the four entities Telegram knows or a numeric one.
fn check_html(text: &str) -> Result<(), (u16, String)> {
    if text.contains('<') || text.contains('>') {
        return Err((
            400,
            "Bad Request: can't parse entities: unsupported start tag".into(),
        ));
    }
    let mut rest = text;
    while let Some(at) = rest.find('&') {
        rest = &rest[at + 1..];
        let known = ["lt;", "gt;", "amp;", "quot;"]
            .iter()
            .any(|entity| rest.starts_with(entity))
            || rest
                .strip_prefix('#')
                .and_then(|r| r.split_once(';'))
                .is_some_and(|(digits, _)| {
                    !digits.is_empty() && digits.chars().all(|c| c.is_ascii_digit())
                });
        if !known {
            return Err((
                400,
                "Bad Request: can't parse entities: unsupported entity".into(),
            ));
        }
    }
    Ok(())
}

/// The length Telegram counts: characters after entities are parsed.
fn visible_chars(text: &str, html: bool) -> usize {
    if !html {
        return text.chars().count();
    }
    text.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
        .chars()
        .count()
}

/// Turns the bot's HTML back into the text a person sees.
pub fn unescape(html: &str) -> String {
    html.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&amp;", "&")
}

fn delete(inner: &mut Inner, chat: i64, id: i64) -> Result<(), (u16, String)> {
    if let Some(sent) = inner
        .sent
        .iter_mut()
        .find(|m| m.chat_id == chat && m.message_id == id && !m.deleted)
    {
        sent.deleted = true;
        return Ok(());
    }
    if inner.deleted_incoming.contains(&(chat, id)) {
        return Err((400, "Bad Request: message to delete not found".into()));
    }
    // Any other id is taken to be a message the person sent.
    inner.deleted_incoming.push((chat, id));
    Ok(())
}
