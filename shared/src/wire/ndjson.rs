//! NDJSON lines: writing one, and splitting a byte stream into them.
//!
//! Network chunks do not respect line boundaries: a line can arrive in
//! pieces, and a piece can even end inside a multi-byte UTF-8 character. The
//! decoder buffers bytes and hands out only complete lines.

/// `value` as one NDJSON line, newline included. Serialising the wire types
/// cannot fail (map keys are strings or unit variants, and no non-finite
/// float reaches them); should it ever, the line is an `error` event rather
/// than a broken stream.
pub fn encode_line<T: serde::Serialize>(value: &T) -> String {
    let mut line = serde_json::to_string(value)
        .unwrap_or_else(|e| format!("{{\"type\":\"error\",\"message\":\"{}\"}}", e.to_string().replace('"', "'")));
    line.push('\n');
    line
}

/// Buffers bytes and yields complete `\n`-terminated lines.
#[derive(Debug, Default)]
pub struct LineDecoder {
    buf: Vec<u8>,
}

impl LineDecoder {
    /// An empty decoder.
    pub fn new() -> Self {
        Self::default()
    }

    /// Add a chunk; returns the lines it completed (without `\n` or `\r`,
    /// blank lines skipped). Invalid UTF-8 is replaced, never a panic.
    pub fn push(&mut self, chunk: &[u8]) -> Vec<String> {
        let mut lines = Vec::new();
        let mut start = 0;
        let scan_from = self.buf.len();
        self.buf.extend_from_slice(chunk);
        for i in scan_from..self.buf.len() {
            if self.buf[i] == b'\n' {
                Self::take(&self.buf[start..i], &mut lines);
                start = i + 1;
            }
        }
        self.buf.drain(..start);
        lines
    }

    /// The stream ended: whatever is left, if it is a line.
    pub fn finish(&mut self) -> Option<String> {
        let mut lines = Vec::new();
        Self::take(&self.buf, &mut lines);
        self.buf.clear();
        lines.pop()
    }

    /// Bytes waiting for their line's end.
    pub fn pending(&self) -> usize {
        self.buf.len()
    }

    fn take(bytes: &[u8], out: &mut Vec<String>) {
        let bytes = bytes.strip_suffix(b"\r").unwrap_or(bytes);
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return;
        }
        out.push(String::from_utf8_lossy(bytes).into_owned());
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn lines_split_across_chunks_are_joined() {
        let mut d = LineDecoder::new();
        assert!(d.push(b"{\"a\":").is_empty());
        assert_eq!(d.push(b"1}\n{\"b\""), vec!["{\"a\":1}"]);
        assert_eq!(d.push(b":2}\r\n\n"), vec!["{\"b\":2}"]);
        assert_eq!(d.pending(), 0);
        assert!(d.push(b"tail").is_empty());
        assert_eq!(d.finish().as_deref(), Some("tail"));
        assert_eq!(d.finish(), None);
    }

    #[test]
    fn utf8_split_inside_a_character_survives() {
        let text = "{\"name\":\"Crème brûlée\"}\n".as_bytes();
        let mut d = LineDecoder::new();
        let cut = text.iter().position(|&b| b >= 0x80).unwrap() + 1;
        assert!(d.push(&text[..cut]).is_empty());
        assert_eq!(d.push(&text[cut..]), vec!["{\"name\":\"Crème brûlée\"}"]);
    }

    proptest! {
        #[test]
        fn any_chunking_gives_the_same_lines(lines in proptest::collection::vec("[a-zé{}:\" ]{1,20}", 0..20),
                                             cuts in proptest::collection::vec(0usize..400, 0..10)) {
            let text: String = lines.iter().map(|l| format!("{l}\n")).collect();
            let bytes = text.as_bytes();
            let mut points: Vec<usize> = cuts.into_iter().map(|c| c % (bytes.len() + 1)).collect();
            points.sort_unstable();
            let mut d = LineDecoder::new();
            let mut got = Vec::new();
            let mut prev = 0;
            for p in points.into_iter().chain([bytes.len()]) {
                got.extend(d.push(&bytes[prev..p]));
                prev = p;
            }
            let want: Vec<String> = lines.into_iter().filter(|l| !l.trim().is_empty()).collect();
            prop_assert_eq!(got, want);
        }
    }
}
