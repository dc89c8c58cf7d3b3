//! Unit tests of the whole tree against a model and in scenarios.

mod model;
mod scenarios;
