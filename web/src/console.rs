//! Line splitting for Lua output sent to the browser console.
//!
//! The console shows one entry per call, so bytes are buffered until a
//! newline. A line longer than [`MAX_LINE`] is emitted in pieces so that
//! output without newlines cannot grow memory without bound.

/// Longest line kept in the buffer before it is emitted anyway.
pub const MAX_LINE: usize = 16 * 1024;

/// Accumulates a byte stream and emits it line by line (without the
/// newline), decoding UTF-8 lossily.
#[derive(Debug, Default)]
pub struct LineSplitter {
    pending: Vec<u8>,
}

impl LineSplitter {
    /// An empty splitter.
    pub fn new() -> Self {
        Self::default()
    }

    /// Appends `bytes`, calling `emit` for every line completed.
    pub fn push(&mut self, bytes: &[u8], mut emit: impl FnMut(&str)) {
        for &b in bytes {
            if b == b'\n' {
                self.flush_with(&mut emit);
            } else {
                self.pending.push(b);
                if self.pending.len() >= MAX_LINE {
                    self.flush_with(&mut emit);
                }
            }
        }
    }

    /// Emits what is buffered, if anything, as a final partial line.
    pub fn flush(&mut self, mut emit: impl FnMut(&str)) {
        if !self.pending.is_empty() {
            self.flush_with(&mut emit);
        }
    }

    fn flush_with(&mut self, emit: &mut impl FnMut(&str)) {
        emit(&String::from_utf8_lossy(&self.pending));
        self.pending.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(chunks: &[&[u8]]) -> Vec<String> {
        let mut s = LineSplitter::new();
        let mut lines = Vec::new();
        for c in chunks {
            s.push(c, |l| lines.push(l.to_owned()));
        }
        s.flush(|l| lines.push(l.to_owned()));
        lines
    }

    #[test]
    fn splits_on_newlines_across_chunks() {
        assert_eq!(
            run(&[b"ab", b"c\nd", b"\n\n", b"tail"]),
            ["abc", "d", "", "tail"]
        );
    }

    #[test]
    fn long_lines_are_cut() {
        let long = vec![b'x'; MAX_LINE + 3];
        let lines = run(&[&long]);
        assert_eq!(lines.len(), 2);
        assert_eq!(lines[0].len(), MAX_LINE);
        assert_eq!(lines[1], "xxx");
    }

    #[test]
    fn invalid_utf8_is_replaced_not_dropped() {
        assert_eq!(run(&[b"a\xffb\n"]), ["a\u{fffd}b"]);
    }
}
