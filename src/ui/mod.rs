//! Text for people: line breaking (UAX #14) and Markdown for the terminal.

pub mod markdown;
pub mod wrap;
