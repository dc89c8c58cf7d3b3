//! Unit tests of the whole tree against a model and in scenarios.

mod attack;
mod format_one;
mod model;
mod scenarios;
