//! Tests: the pinned §4 table and extra rows, selector rules, status lists, incremental
//! re-evaluation, and property tests (with a JSON transcription of upstream's reflective
//! algorithm as the reference for partial equality).
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod affected;
mod fixtures;
mod pinned;
mod props;
mod reference;
mod rows;
mod selector;
mod strategies;
