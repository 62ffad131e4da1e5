//! hako (箱): build a Linux container by hand, one lesson at a time, for real.
//!
//! The library holds every layer (see ARCHITECTURE.md); `src/main.rs` only parses the command
//! line, dispatches, and maps errors to exit codes.

pub mod agent;
pub mod bench;
pub mod book;
pub mod cli;
pub mod commands;
pub mod demos;
pub mod doctor;
pub mod error;
pub mod journal;
pub mod lessons;
pub mod practice;
pub mod rootfs;
pub mod script;
pub mod spec;
pub mod sys;
pub mod ui;
pub mod walk;
