//! Signpost: an anonymous chat bot that helps lonely people find local
//! support.
//!
//! A person writes to the bot; the [`engine`] runs the conversation flows
//! written in TOML (see `flows/README.md`) and, when a flow asks for it, the
//! [`bot`] searches the [`directory`] of local groups and services. Channels
//! such as the [`channel::console`] carry messages in and out.
//!
//! # Layout
//!
//! - [`flow`]: loading and checking flow files into a [`flow::FlowSet`].
//! - [`engine`]: the pure conversation engine (no I/O, no clock).
//! - [`safety`]: the crisis check run first on every message, and the
//!   support lines shown in a crisis.
//! - [`message`]: channel-neutral messages in and out.
//! - [`search`]: what can be searched for: categories, areas, times.
//! - [`database`]: the one database (SQLite or PostgreSQL) and its schema.
//! - [`directory`]: the directory of services and its sample data.
//! - [`bot`]: runs the engine and performs its searches.
//! - [`session`]: conversations in memory, with idle expiry.
//! - [`stats`]: service-wide usage counts and the reports made from them.
//! - [`channel`]: adapters for messaging services (the console so far).
//! - [`web`]: the web portal: pages, and the open data API.
//! - [`config`] and [`telemetry`]: settings and logs.
//! - [`accounts`]: staff and organisation accounts for the web portal.
//! - [`moderation`]: the queue of listings organisations propose, and staff
//!   decisions on them.
//! - [`activity`]: the portal's activity form, checked, and the HSDS listing
//!   it becomes.
//! - [`feeds`]: organisations' calendar feeds, fetched on a schedule into
//!   the moderation queue.
//! - [`app`]: what each command-line command does.
//!
//! # Privacy
//!
//! Nothing a person types and nothing that identifies them is written to
//! disk or to a log. See the invariants in [`message`], [`session`],
//! [`stats`] and [`telemetry`].

pub mod accounts;
pub mod activity;
pub mod app;
pub mod bot;
pub mod channel;
pub mod config;
pub mod database;
pub mod directory;
pub mod engine;
pub mod feeds;
pub mod flow;
pub mod message;
pub mod moderation;
pub mod safety;
pub mod search;
pub mod session;
pub mod stats;
pub mod telemetry;
pub mod web;
