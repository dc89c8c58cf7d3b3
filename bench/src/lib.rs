//! Data sets shared by the benches, so every peer is measured on the same
//! bytes, and the report generator (timings, facts, the product's floors).

#![forbid(unsafe_code)]

pub mod facts;
pub mod floors;
pub mod report;
pub mod setup;

/// A deterministic xorshift generator: reproducible data without a crate.
#[derive(Clone, Debug)]
pub struct Rng(u64);

impl Rng {
    /// A generator from a non-zero seed.
    pub fn new(seed: u64) -> Rng {
        Rng(seed | 1)
    }

    /// The next pseudo-random number.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }

    /// A number below `n`.
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }
}

/// The `i`-th key of the storage benches: 17 bytes, ordered by `i`.
pub fn key(i: u64) -> Vec<u8> {
    format!("user:{i:012}").into_bytes()
}

/// The `i`-th value: about 100-150 bytes of record-like text.
pub fn value(i: u64) -> Vec<u8> {
    let mut rng = Rng::new(i.wrapping_mul(0x9E37_79B9_7F4A_7C15) ^ 0xABCD);
    let target = 100 + rng.below(51) as usize;
    let mut v = format!(
        "{{\"name\":\"User {i}\",\"age\":{},\"score\":{},\"city\":\"City {}\",\"note\":\"",
        20 + i % 50,
        i * 10,
        rng.below(1000)
    );
    // Pad the note so the whole value lands in 100..=150 bytes.
    while v.len() + 2 < target {
        v.push((b'a' + rng.below(26) as u8) as char);
    }
    v.push_str("\"}");
    v.into_bytes()
}

/// `n` distinct key indexes below `records`, in random order.
pub fn random_indexes(records: u64, n: usize, seed: u64) -> Vec<u64> {
    let mut rng = Rng::new(seed);
    (0..n).map(|_| rng.below(records)).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn data_has_the_documented_shape() {
        assert_eq!(key(5).len(), 17);
        assert!(key(1) < key(2));
        for i in (0..100_000).step_by(997) {
            let len = value(i).len();
            assert!((100..=150).contains(&len), "value {i} has {len} bytes");
        }
    }
}

/// The seed's users data set, shared by the engine benches and the report.
pub mod users {
    use moonvault_engine::codec::Key;
    use moonvault_engine::{Input, Result, Store, TableId};

    /// `{name = "User "..i, age = 20 + i % 50, score = i * 10}`.
    pub fn record(i: i64) -> Input {
        Input::table([
            ("name", Input::from(format!("User {i}"))),
            ("age", Input::from(20 + i % 50)),
            ("score", Input::from(i * 10)),
        ])
    }

    /// Fill `Memory.users[1..=n]` in one transaction; returns the table.
    pub fn load(store: &Store, n: i64, index_age: bool) -> Result<TableId> {
        let users = store.write(|tx| {
            let users = tx.ensure_path(&[Key::from("users")])?;
            for i in 1..=n {
                tx.set(users, Key::Int(i), record(i))?;
            }
            Ok(users)
        })?;
        if index_age {
            store.create_index(users, "age", false)?;
        }
        Ok(users)
    }
}
