//! The Telegram channel: the real bot, with teloxide.
//!
//! A person's private chat with the bot is one conversation:
//!
//! ```text
//! person: /start
//! bot:    Hello. I'm Signpost, ... [Find something to do] [Someone to talk to] ...
//! person: (presses "Find something to do")
//! bot:    (the pressed message gains "✓ Find something to do", loses its buttons)
//!         Let's find something near you. Which area would suit you? [Huddersfield] ...
//! ```
//!
//! [`run`] gets updates by long polling (or a webhook), hands each to the
//! channel-neutral [`Bot`] and sends back what it says, rendered by
//! [`render`]. teloxide's dispatcher keeps each chat's messages in order
//! while different chats are handled at the same time, and its throttle
//! keeps within Telegram's rate limits.
//!
//! Invariants:
//! - Only this module imports teloxide. Nothing here logs or stores a chat
//!   id, a user, a message or its text: conversations live in memory
//!   ([`Sessions`]), keyed by chat id, and are forgotten when idle, on
//!   `/forget`, or when the person blocks the bot.
//! - Every button press is answered, and a press that cannot be matched to
//!   the conversation (after a restart or expiry) restarts it kindly.
//! - In groups the bot does not read along: it answers only a command
//!   addressed to it, with one message suggesting a private chat.

pub mod deliver;
pub mod render;

use std::collections::{HashSet, VecDeque};
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use chrono::NaiveDate;
use futures_util::future::BoxFuture;
use secrecy::{ExposeSecret, SecretString};
use teloxide::adaptors::Throttle;
use teloxide::adaptors::throttle::Limits;
use teloxide::dispatching::{Dispatcher, UpdateFilterExt, UpdateHandler};
use teloxide::error_handlers::ErrorHandler;
use teloxide::payloads::{EditMessageTextSetters, SendMessageSetters};
use teloxide::prelude::Requester;
use teloxide::requests::Request;
use teloxide::types::{
    BotCommand, CallbackQuery, ChatId, ChatMemberUpdated, InlineKeyboardButton,
    InlineKeyboardMarkup, Message, MessageId, ParseMode, Update,
};
use teloxide::update_listeners::Polling;
use teloxide::{ApiError, RequestError, dptree};

use crate::bot::{Bot, Outcome, Session};
use crate::message::{Inbound, OptionKey, UserText};
use crate::session::Sessions;
use render::Outgoing;

/// The Bot API requester every handler uses.
type Api = Throttle<teloxide::Bot>;

/// Telegram lets bots delete messages for 48 hours; stay well inside that.
const DELETABLE_FOR: Duration = Duration::from_secs(47 * 60 * 60);

/// The most messages of one conversation remembered for `/forget`.
const MAX_REMEMBERED: usize = 500;

/// How many recent update ids are remembered to ignore duplicates.
const RECENT_UPDATES: usize = 4096;

/// How long shutdown waits for replies in flight.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(8);

/// The long-polling timeout: how long Telegram holds a getUpdates request
/// open when there is nothing new.
const POLL_TIMEOUT: Duration = Duration::from_secs(10);

/// Limits so high that the throttle never holds a message back, for
/// benchmarks against a local fake Bot API. (teloxide's throttle sizes its
/// queues by these numbers, so they are large but not unbounded.)
pub const UNTHROTTLED: Limits = Limits {
    messages_per_sec_chat: 10_000,
    messages_per_min_chat: 600_000,
    messages_per_min_channel_or_supergroup: 600_000,
    messages_per_sec_overall: 10_000,
};

/// The commands shown in Telegram's menu, with their descriptions.
const COMMANDS: [(&str, &str); 6] = [
    ("start", "Start, or start again"),
    ("menu", "Show the main menu"),
    ("urgent", "Numbers to call or text if you need help now"),
    ("help", "What I can do"),
    ("privacy", "What I keep (only counts) and what I don't"),
    ("forget", "Wipe this conversation now"),
];

/// How to reach Telegram and how to behave there.
pub struct Options {
    /// The bot token from BotFather.
    pub token: SecretString,
    /// The Bot API base URL, for tests and self-hosted Bot API servers.
    pub api_url: Option<url::Url>,
    /// Receive updates on a webhook instead of long polling.
    pub webhook: Option<Webhook>,
    /// Telegram's rate limits to keep to: [`Limits::default`] in service,
    /// [`UNTHROTTLED`] for benchmarks.
    pub limits: Limits,
    /// How long a quiet conversation is kept.
    pub idle: Duration,
    /// Today's date in the UK, asked for on every message.
    pub today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
}

/// Where Telegram sends updates in webhook mode.
pub struct Webhook {
    /// The public https URL Telegram posts to.
    pub url: url::Url,
    /// The local address to listen on (behind a TLS-terminating proxy).
    pub listen: SocketAddr,
}

/// Why the Telegram channel could not start.
#[derive(Debug, thiserror::Error)]
pub enum TelegramError {
    #[error(
        "Telegram refused the bot token: check SIGNPOST_TELEGRAM__TOKEN (BotFather gives the token when you create the bot)"
    )]
    TokenRefused,
    #[error("cannot reach the Telegram Bot API ({0}): check the network and telegram.api_url")]
    Unreachable(String),
    #[error("cannot listen for the webhook on {address}: {reason}")]
    WebhookListen { address: SocketAddr, reason: String },
    #[error("Telegram refused the webhook ({0}): check telegram.webhook_url")]
    WebhookRefused(String),
}

/// One private conversation, in memory only.
#[derive(Default)]
struct Conversation {
    session: Session,
    /// The messages of this conversation, both sides, with when they were
    /// sent, so `/forget` can delete them. Oldest first, bounded.
    messages: VecDeque<(MessageId, Instant)>,
}

impl Conversation {
    fn remember(&mut self, id: MessageId, at: Instant) {
        if self.messages.len() == MAX_REMEMBERED {
            self.messages.pop_front();
        }
        self.messages.push_back((id, at));
    }
}

/// Update ids seen lately, to ignore an update delivered twice.
struct RecentUpdates {
    order: VecDeque<u32>,
    seen: HashSet<u32>,
}

impl RecentUpdates {
    fn new() -> Self {
        RecentUpdates {
            order: VecDeque::with_capacity(RECENT_UPDATES),
            seen: HashSet::with_capacity(RECENT_UPDATES),
        }
    }

    /// True the first time an id is offered.
    fn first_sight(&mut self, id: u32) -> bool {
        if !self.seen.insert(id) {
            return false;
        }
        if self.order.len() == RECENT_UPDATES
            && let Some(oldest) = self.order.pop_front()
        {
            self.seen.remove(&oldest);
        }
        self.order.push_back(id);
        true
    }
}

/// What the handlers share.
struct Channel {
    bot: Bot,
    /// The bot's own username, to recognise commands addressed to it.
    username: String,
    today: Arc<dyn Fn() -> NaiveDate + Send + Sync>,
    conversations: Mutex<Sessions<ChatId, Conversation>>,
    recent: Mutex<RecentUpdates>,
}

impl Channel {
    fn conversations(&self) -> MutexGuard<'_, Sessions<ChatId, Conversation>> {
        // A panic while the lock was held cannot leave a session half
        // written in a way that matters: carry on with what is there.
        self.conversations
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// Runs the Telegram channel until `shutdown` completes, then stops taking
/// updates, lets replies in flight finish (for a few seconds at most) and
/// returns.
pub async fn run(
    options: Options,
    bot: Bot,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), TelegramError> {
    let mut raw = teloxide::Bot::new(options.token.expose_secret());
    if let Some(url) = options.api_url.clone() {
        raw = raw.set_api_url(url);
    }
    let me = deliver::with_retries("getMe", || raw.get_me().send())
        .await
        .map_err(|err| match err {
            RequestError::Api(ApiError::InvalidToken) => TelegramError::TokenRefused,
            other => TelegramError::Unreachable(deliver::describe(&other)),
        })?;
    let username = me.username.clone().unwrap_or_default();
    let commands: Vec<BotCommand> = COMMANDS
        .iter()
        .map(|(name, description)| BotCommand::new(*name, *description))
        .collect();
    if let Err(err) = deliver::with_retries("setMyCommands", || {
        raw.set_my_commands(commands.clone()).send()
    })
    .await
    {
        // The bot works without the menu of commands; say so and go on.
        tracing::warn!(
            problem = deliver::describe(&err),
            "could not register the bot's commands"
        );
    }

    let api: Api = Throttle::new_spawn(raw.clone(), options.limits);
    let channel = Arc::new(Channel {
        bot,
        username,
        today: options.today,
        conversations: Mutex::new(Sessions::new(options.idle)),
        recent: Mutex::new(RecentUpdates::new()),
    });

    let expiry = tokio::spawn(expire_quiet_conversations(Arc::clone(&channel)));
    let mut dispatcher = Dispatcher::builder(api.clone(), schema())
        .dependencies(dptree::deps![Arc::clone(&channel)])
        // Updates no handler takes (channel posts, polls, ...) are ignored,
        // without teloxide's default of logging the whole update.
        .default_handler(|_| Box::pin(async {}))
        .error_handler(Arc::new(QuietErrors))
        .build();
    let token = dispatcher.shutdown_token();
    let stopper = tokio::spawn(async move {
        shutdown.await;
        tracing::info!("shutting down: no new updates; finishing replies in flight");
        // `shutdown` fails only while the dispatcher is not running yet.
        loop {
            match token.shutdown() {
                Ok(done) => {
                    if tokio::time::timeout(SHUTDOWN_GRACE, done).await.is_err() {
                        tracing::warn!("replies still in flight after the grace period");
                    }
                    return;
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(20)).await,
            }
        }
    });

    let result = match options.webhook {
        None => {
            let polling = Polling::builder(api.clone())
                .timeout(POLL_TIMEOUT)
                .delete_webhook()
                .await
                .build();
            tracing::info!("Telegram channel running (long polling)");
            dispatcher
                .dispatch_with_listener(polling, Arc::new(QuietErrors))
                .await;
            Ok(())
        }
        Some(webhook) => run_webhook(&mut dispatcher, api, webhook).await,
    };
    stopper.abort();
    expiry.abort();
    let _ = stopper.await;
    result
}

async fn run_webhook(
    dispatcher: &mut Dispatcher<Api, Infallible, teloxide::dispatching::DefaultKey>,
    api: Api,
    webhook: Webhook,
) -> Result<(), TelegramError> {
    use teloxide::update_listeners::webhooks;
    let listener = tokio::net::TcpListener::bind(webhook.listen)
        .await
        .map_err(|err| TelegramError::WebhookListen {
            address: webhook.listen,
            reason: err.to_string(),
        })?;
    // teloxide sets the webhook with a random secret token, and its router
    // refuses any request without it.
    let options = webhooks::Options::new(webhook.listen, webhook.url);
    let (updates, stop, router) = webhooks::axum_to_router(api, options)
        .await
        .map_err(|err| TelegramError::WebhookRefused(deliver::describe(&err)))?;
    let server = tokio::spawn(async move {
        if let Err(err) = axum::serve(listener, router)
            .with_graceful_shutdown(stop)
            .await
        {
            tracing::error!(error = %err, "the webhook server stopped");
        }
    });
    tracing::info!("Telegram channel running (webhook)");
    dispatcher
        .dispatch_with_listener(updates, Arc::new(QuietErrors))
        .await;
    let _ = server.await;
    Ok(())
}

/// Forgets conversations that have gone quiet, once a minute.
async fn expire_quiet_conversations(channel: Arc<Channel>) {
    let mut every = tokio::time::interval(Duration::from_secs(60));
    loop {
        every.tick().await;
        let forgotten = channel.conversations().expire(Instant::now());
        if forgotten > 0 {
            tracing::debug!(forgotten, "quiet conversations forgotten");
        }
    }
}

/// Logs dispatcher and listener errors by kind only.
struct QuietErrors;

impl ErrorHandler<RequestError> for QuietErrors {
    fn handle_error(self: Arc<Self>, error: RequestError) -> BoxFuture<'static, ()> {
        tracing::warn!(
            problem = deliver::describe(&error),
            "could not get updates from Telegram; trying again"
        );
        Box::pin(async {})
    }
}

impl ErrorHandler<Infallible> for QuietErrors {
    fn handle_error(self: Arc<Self>, error: Infallible) -> BoxFuture<'static, ()> {
        match error {}
    }
}

/// The handler tree: duplicates are dropped, then each kind of update goes
/// to its handler. Anything else falls to the silent default handler.
fn schema() -> UpdateHandler<Infallible> {
    dptree::filter(|update: Update, channel: Arc<Channel>| {
        channel
            .recent
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .first_sight(update.id.0)
    })
    .branch(Update::filter_message().endpoint(on_message))
    .branch(Update::filter_edited_message().endpoint(on_edited_message))
    .branch(Update::filter_callback_query().endpoint(on_button))
    .branch(Update::filter_my_chat_member().endpoint(on_membership))
}

type HandlerResult = Result<(), Infallible>;

async fn on_message(api: Api, message: Message, channel: Arc<Channel>) -> HandlerResult {
    if message.chat.is_private() {
        // A caption is words the person typed too, so it is read (and
        // checked for crisis) like a message; the picture itself is not.
        let inbound = match message.text().or(message.caption()) {
            Some(text) => Inbound::Text(UserText::new(&command_or_text(text, &channel.username))),
            None if message.location().is_some() || message.venue().is_some() => Inbound::Location,
            None => Inbound::NotText,
        };
        converse(&api, &channel, message.chat.id, Some(message.id), inbound).await;
    } else if (message.chat.is_group() || message.chat.is_supergroup())
        && let Some(text) = message.text()
        && is_command_for_us(text, &channel.username)
    {
        invite_to_private_chat(&api, &channel, message.chat.id).await;
    }
    Ok(())
}

/// An edited message is read as a new one, so that what it now says is
/// checked (for crisis first, as every message is).
async fn on_edited_message(api: Api, message: Message, channel: Arc<Channel>) -> HandlerResult {
    if message.chat.is_private()
        && let Some(text) = message.text().or(message.caption())
    {
        let inbound = Inbound::Text(UserText::new(&command_or_text(text, &channel.username)));
        converse(&api, &channel, message.chat.id, None, inbound).await;
    }
    Ok(())
}

async fn on_button(api: Api, query: CallbackQuery, channel: Arc<Channel>) -> HandlerResult {
    // Answer first, so the button stops spinning whatever happens next.
    if let Err(err) = deliver::with_retries("answerCallbackQuery", || {
        api.answer_callback_query(query.id.clone()).send()
    })
    .await
    {
        tracing::warn!(
            problem = deliver::describe(&err),
            "could not answer a button press"
        );
    }
    let Some(message) = &query.message else {
        // A button on an inline message: not one of ours.
        return Ok(());
    };
    let chat = message.chat().id;
    if !message.chat().is_private() {
        return Ok(());
    }
    // Data we cannot read is treated like a button from an old message.
    let key = query
        .data
        .as_deref()
        .and_then(render::parse_callback_data)
        .unwrap_or(OptionKey::UNKNOWN);
    let current = channel
        .conversations()
        .peek(&chat, Instant::now())
        .is_some_and(|c| c.session.accepts(key));
    if current
        && let Some(pressed) = message.regular_message()
        && let Some(data) = query.data.as_deref()
    {
        mark_choice(&api, chat, pressed, data).await;
    }
    converse(&api, &channel, chat, None, Inbound::Choice(key)).await;
    Ok(())
}

/// Shows which option was pressed under the message it was on, and removes
/// that message's buttons, so the chat reads like the conversation it was.
async fn mark_choice(api: &Api, chat: ChatId, pressed: &Message, data: &str) {
    let Some(text) = pressed.text() else { return };
    let label = pressed
        .reply_markup()
        .into_iter()
        .flat_map(|markup| markup.inline_keyboard.iter().flatten())
        .find(|button| {
            matches!(&button.kind,
                teloxide::types::InlineKeyboardButtonKind::CallbackData(d) if d == data)
        })
        .map(|button| button.text.clone());
    let Some(label) = label else { return };
    let html = format!("{}\n\n✓ {}", render::escape(text), render::escape(&label));
    let result = deliver::with_retries("editMessageText", || {
        api.edit_message_text(chat, pressed.id, html.clone())
            .parse_mode(ParseMode::Html)
            .send()
    })
    .await;
    if let Err(err) = result {
        tracing::debug!(
            problem = deliver::describe(&err),
            "could not mark the chosen option"
        );
    }
}

/// A person blocking the bot ends their conversation at once.
async fn on_membership(update: ChatMemberUpdated, channel: Arc<Channel>) -> HandlerResult {
    if update.chat.is_private() && update.new_chat_member.is_banned() {
        channel.conversations().remove(&update.chat.id);
    }
    Ok(())
}

/// Hands one inbound message to the bot and sends its replies.
async fn converse(
    api: &Api,
    channel: &Channel,
    chat: ChatId,
    incoming: Option<MessageId>,
    inbound: Inbound,
) {
    let now = Instant::now();
    let mut conversation = channel.conversations().take(&chat, now);
    if let Some(id) = incoming {
        conversation.remember(id, now);
    }
    let session = std::mem::take(&mut conversation.session);
    let response = channel
        .bot
        .respond(session, inbound, (channel.today)())
        .await;
    let outgoing = render::render(&response.replies);
    match response.outcome {
        Outcome::Forgotten => {
            // Delete first, then confirm: the confirmation is all that stays.
            delete_messages(api, chat, &conversation.messages).await;
            send_all(api, chat, &outgoing, None).await;
        }
        Outcome::Ended => {
            // The conversation starts afresh next time, but `/forget` can
            // still delete what was said until it goes quiet.
            send_all(api, chat, &outgoing, Some(&mut conversation)).await;
            channel
                .conversations()
                .put(chat, conversation, Instant::now());
        }
        Outcome::Continue(session) => {
            conversation.session = session;
            send_all(api, chat, &outgoing, Some(&mut conversation)).await;
            channel
                .conversations()
                .put(chat, conversation, Instant::now());
        }
    }
}

/// Sends messages in order, remembering each in `conversation` for
/// `/forget`. Stops at the first message Telegram refuses for good (such as
/// when the person has blocked the bot).
async fn send_all(
    api: &Api,
    chat: ChatId,
    messages: &[Outgoing],
    mut conversation: Option<&mut Conversation>,
) {
    for message in messages {
        let keyboard = keyboard(&message.buttons);
        let result = deliver::with_retries("sendMessage", || {
            let request = api
                .send_message(chat, message.html.clone())
                .parse_mode(ParseMode::Html);
            match &keyboard {
                Some(keyboard) => request.reply_markup(keyboard.clone()).send(),
                None => request.send(),
            }
        })
        .await;
        match result {
            Ok(sent) => {
                if let Some(conversation) = conversation.as_deref_mut() {
                    conversation.remember(sent.id, Instant::now());
                }
            }
            Err(err) => {
                tracing::warn!(
                    problem = deliver::describe(&err),
                    "could not send a reply; the rest of this turn is dropped"
                );
                return;
            }
        }
    }
}

fn keyboard(buttons: &[(String, String)]) -> Option<InlineKeyboardMarkup> {
    if buttons.is_empty() {
        return None;
    }
    let rows = buttons
        .iter()
        .map(|(label, data)| vec![InlineKeyboardButton::callback(label.clone(), data.clone())]);
    Some(InlineKeyboardMarkup::new(rows))
}

/// Deletes what Telegram still allows of a conversation, in batches of 100.
async fn delete_messages(api: &Api, chat: ChatId, messages: &VecDeque<(MessageId, Instant)>) {
    let now = Instant::now();
    let ids: Vec<MessageId> = messages
        .iter()
        .filter(|(_, at)| now.saturating_duration_since(*at) < DELETABLE_FOR)
        .map(|(id, _)| *id)
        .collect();
    for batch in ids.chunks(100) {
        let result = deliver::with_retries("deleteMessages", || {
            api.delete_messages(chat, batch.to_vec()).send()
        })
        .await;
        if let Err(err) = result {
            tracing::warn!(
                problem = deliver::describe(&err),
                "could not delete a conversation's messages"
            );
        }
    }
}

/// Replies once to a command in a group, inviting a private chat.
async fn invite_to_private_chat(api: &Api, channel: &Channel, chat: ChatId) {
    let flows = channel.bot.flows();
    let text = render::escape(&flows.group_notice());
    let mut request = api.send_message(chat, text).parse_mode(ParseMode::Html);
    if !channel.username.is_empty()
        && let Ok(url) = url::Url::parse(&format!("https://t.me/{}", channel.username))
    {
        request = request.reply_markup(InlineKeyboardMarkup::new([[InlineKeyboardButton::url(
            flows.group_button(),
            url,
        )]]));
    }
    if let Err(err) = deliver::with_retries("sendMessage", || request.clone().send()).await {
        tracing::warn!(
            problem = deliver::describe(&err),
            "could not answer a group"
        );
    }
}

/// A command's first word without `@botname` and without arguments (so a
/// deep link's `/start abc` is `/start`); any other text as it is.
fn command_or_text(text: &str, username: &str) -> String {
    let trimmed = text.trim_start();
    if !trimmed.starts_with('/') {
        return text.to_owned();
    }
    let word = trimmed.split_whitespace().next().unwrap_or(trimmed);
    match word.split_once('@') {
        Some((command, to)) if to.eq_ignore_ascii_case(username) => command.to_owned(),
        Some(_) => text.to_owned(),
        None => word.to_owned(),
    }
}

/// Whether a group message is one of our commands, plain (`/start`) or
/// addressed to this bot (`/start@this_bot`).
fn is_command_for_us(text: &str, username: &str) -> bool {
    let Some(word) = text.split_whitespace().next() else {
        return false;
    };
    let Some(command) = word.strip_prefix('/') else {
        return false;
    };
    let name = match command.split_once('@') {
        Some((name, to)) if to.eq_ignore_ascii_case(username) => name,
        Some(_) => return false,
        None => command,
    };
    COMMANDS.iter().any(|(known, _)| *known == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn commands_lose_the_bot_name_and_arguments() {
        assert_eq!(
            command_or_text("/start@signpost_bot", "signpost_bot"),
            "/start"
        );
        assert_eq!(
            command_or_text("/start@Signpost_Bot", "signpost_bot"),
            "/start"
        );
        assert_eq!(
            command_or_text("/start campaign-7", "signpost_bot"),
            "/start"
        );
        assert_eq!(
            command_or_text("/start@other_bot", "signpost_bot"),
            "/start@other_bot"
        );
        assert_eq!(command_or_text("Batley", "signpost_bot"), "Batley");
    }

    #[test]
    fn only_our_commands_are_answered_in_groups() {
        assert!(is_command_for_us("/start", "signpost_bot"));
        assert!(is_command_for_us(
            "/help@signpost_bot please",
            "signpost_bot"
        ));
        assert!(!is_command_for_us("/start@other_bot", "signpost_bot"));
        assert!(!is_command_for_us("/weather", "signpost_bot"));
        assert!(!is_command_for_us("anyone fancy a walk?", "signpost_bot"));
        assert!(!is_command_for_us("", "signpost_bot"));
    }

    #[test]
    fn duplicate_updates_are_seen_once_and_memory_is_bounded() {
        let mut recent = RecentUpdates::new();
        assert!(recent.first_sight(1));
        assert!(!recent.first_sight(1));
        for id in 2..(RECENT_UPDATES as u32 + 10) {
            assert!(recent.first_sight(id));
        }
        assert_eq!(recent.seen.len(), RECENT_UPDATES);
        assert!(recent.first_sight(1), "the oldest ids are let go");
    }
}
