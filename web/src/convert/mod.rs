//! Values between JavaScript and Lua / the store.
//!
//! | JS | Lua / store | back to JS |
//! |---|---|---|
//! | `null`, `undefined` | nil (an assignment deletes; a table entry is dropped) | `null` (a missing `get`: `undefined`) |
//! | boolean | boolean | boolean |
//! | number, integral, \|x\| <= 2^53 - 1 | integer | number |
//! | other number (fraction, NaN, +-Infinity, beyond 2^53) | float | number |
//! | BigInt within 64 bits | integer | number when \|n\| <= 2^53 - 1, else BigInt |
//! | string | string (UTF-8) | string |
//! | Uint8Array, ArrayBuffer | string (the bytes) | string if valid UTF-8, else Uint8Array |
//! | Array | table, keys 1..n (holes skipped) | Array when the keys are exactly 1..n |
//! | plain object | table, string keys | object when every key is a UTF-8 string |
//! | Map | table, keys converted | Map otherwise (mixed or non-string keys) |
//! | function, Symbol, Date, class instances | error (`ConversionError`) | - |
//! | - | Lua function | error (`ConversionError`): call it in `compute` |
//!
//! Consequences worth knowing: JS cannot tell `1` from `1.0`, so an
//! integral float read from Lua arrives as a number and goes back as an
//! integer; an empty table reads as `{}`; a Uint8Array holding valid UTF-8
//! comes back as a string. Nesting is limited to 100 levels (which also
//! catches cyclic objects), and every conversion to the budgets of
//! [`budget`], charged before anything is copied or reserved: one value
//! into the module to [`budget::INPUT_LIMIT`] bytes, a compute result to
//! [`budget::OUTPUT_ENTRIES`] entries and [`budget::OUTPUT_BYTES`] of
//! strings (a table reached twice counts twice).

pub mod budget;
pub mod container;
pub mod from_lua;
pub mod from_store;
pub mod js;
pub mod names;
pub mod scalar;
pub mod to_lua;
pub mod to_store;
pub mod wire;
