//! Channels: adapters between a messaging service and the channel-neutral
//! [`crate::bot::Bot`].
//!
//! Invariant: a channel turns what its service sends into
//! [`crate::message::Inbound`] and renders [`crate::message::Reply`]; it
//! holds no conversation logic of its own.

pub mod console;
pub mod telegram;
