//! Lua tables as JS containers: an `Array` when the keys are exactly
//! `1..n`, a plain object when every key is a UTF-8 string, a `Map`
//! otherwise. The choice needs every key, so pairs are collected on the JS
//! heap (not in linear memory) and the container is built at the end.

use js_sys::{Array, Map, Object};
use wasm_bindgen::{JsCast, JsValue};

/// The keys seen so far, as far as the choice is concerned.
pub enum KeyClass {
    /// An integer key.
    Int(i64),
    /// A string key that is valid UTF-8.
    Text,
    /// Anything else (float, boolean, binary string).
    Other,
}

/// Pairs of one table on their way to a JS container.
pub struct Container {
    pairs: Array,
    /// Keys so far were 1, 2, ..., len.
    sequence: bool,
    /// Keys so far were UTF-8 strings.
    text: bool,
}

impl Default for Container {
    fn default() -> Self {
        Container::new()
    }
}

impl Container {
    /// No pairs yet.
    pub fn new() -> Container {
        Container {
            pairs: Array::new(),
            sequence: true,
            text: true,
        }
    }

    /// Adds `key = value` (`class` describes `key`).
    pub fn push(&mut self, class: KeyClass, key: JsValue, value: JsValue) {
        let next = i64::from(self.pairs.length()) + 1;
        match class {
            KeyClass::Int(n) => {
                self.sequence &= n == next;
                self.text = false;
            }
            KeyClass::Text => self.sequence = false,
            KeyClass::Other => {
                self.sequence = false;
                self.text = false;
            }
        }
        self.pairs.push(&Array::of2(&key, &value));
    }

    /// The container. An empty table is an empty object.
    pub fn finish(self) -> JsValue {
        let n = self.pairs.length();
        if n > 0 && self.sequence {
            let out = Array::new_with_length(n);
            for (i, pair) in self.pairs.iter().enumerate() {
                out.set(i as u32, pair.unchecked_ref::<Array>().get(1));
            }
            return out.into();
        }
        if self.text {
            // fromEntries defines own properties, so a key "__proto__" is
            // data, not the prototype.
            return Object::from_entries(&self.pairs)
                .map(JsValue::from)
                .unwrap_or_else(|_| Object::new().into());
        }
        let map = Map::new();
        for pair in self.pairs.iter() {
            let pair: &Array = pair.unchecked_ref();
            map.set(&pair.get(0), &pair.get(1));
        }
        map.into()
    }
}
