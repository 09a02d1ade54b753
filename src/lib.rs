//! contacts-agent: keeps a company address book on a managed phone.
#![cfg_attr(test, allow(clippy::unwrap_used))]

pub mod client;
pub mod db;
pub mod diff;
pub mod schedule;
pub mod state;
pub mod store;
