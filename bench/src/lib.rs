//! Shared data generators for the benches.
