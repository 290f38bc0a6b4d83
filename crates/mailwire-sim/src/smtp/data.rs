//! The message after DATA: dot-unstuffing and its end, over input in pieces.

/// Where [`DataDecoder`] is in the message.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum DataState {
    /// At the start of a line: after CRLF, or at the very start.
    LineStart,
    /// After a `.` that began a line (removed: dot-stuffing).
    Dot,
    /// After `.` and CR at the start of a line: LF ends the message.
    DotCr,
    /// Inside a line, after anything but CR.
    Middle,
    /// Inside a line, after CR.
    Cr,
}

/// Undoes dot-stuffing (RFC 5321 §4.5.2) and finds the `CRLF.CRLF` that ends a
/// message, over input that comes in pieces. Only CRLF ends a line: a `.` after a bare
/// LF is text, as it is for the client that stuffed it. The message is kept up to a
/// limit; past it only its size is counted.
#[derive(Debug)]
pub(super) struct DataDecoder {
    /// Where in the message the next byte falls.
    state: DataState,
    /// The message so far, while within the limit; empty past it.
    body: Vec<u8>,
    /// The message's size so far, dot-unstuffed.
    size: usize,
    /// The largest message kept.
    limit: usize,
}

impl DataDecoder {
    /// A decoder at the start of a message that keeps at most `limit` bytes.
    pub(super) fn new(limit: usize) -> Self {
        Self {
            state: DataState::LineStart,
            body: Vec::new(),
            size: 0,
            limit,
        }
    }

    /// Decodes the next piece of input: `Some(n)` when the message ended after the
    /// first `n` bytes of it (the rest is the client's next command), `None` when all
    /// of it was message.
    pub(super) fn feed(&mut self, input: &[u8]) -> Option<usize> {
        let mut i = 0;
        while let Some(&byte) = input.get(i) {
            if self.state == DataState::Middle && byte != b'\r' {
                // Most of a message is the inside of lines: copied a run at a time.
                let run = input[i..]
                    .iter()
                    .position(|&b| b == b'\r')
                    .unwrap_or(input.len() - i);
                self.emit(&input[i..i + run]);
                i += run;
                continue;
            }
            i += 1;
            if self.step(byte) {
                return Some(i);
            }
        }
        None
    }

    /// The message, or its size when it was over the limit.
    pub(super) fn finish(self) -> Result<Vec<u8>, usize> {
        if self.size > self.limit {
            Err(self.size)
        } else {
            Ok(self.body)
        }
    }

    /// Takes one byte; true when it ended the message.
    fn step(&mut self, byte: u8) -> bool {
        match self.state {
            DataState::LineStart if byte == b'.' => self.state = DataState::Dot,
            DataState::Dot if byte == b'\r' => self.state = DataState::DotCr,
            DataState::DotCr if byte == b'\n' => return true,
            DataState::DotCr => {
                // `.` CR and something else: the CR was text.
                self.emit(b"\r");
                self.state = DataState::Cr;
                self.text(byte);
            }
            _ => self.text(byte),
        }
        false
    }

    /// Keeps one byte of text and moves to the state after it.
    fn text(&mut self, byte: u8) {
        self.emit(&[byte]);
        self.state = match (self.state, byte) {
            (DataState::Cr, b'\n') => DataState::LineStart,
            (_, b'\r') => DataState::Cr,
            _ => DataState::Middle,
        };
    }

    /// Keeps text while within the limit, growing the buffer no further than it.
    fn emit(&mut self, bytes: &[u8]) {
        self.size = self.size.saturating_add(bytes.len());
        if self.size > self.limit {
            if self.body.capacity() > 0 {
                self.body = Vec::new();
            }
            return;
        }
        if self.body.capacity() - self.body.len() < bytes.len() {
            let wanted = (self.body.capacity().saturating_mul(2))
                .max(self.size)
                .max(4096)
                .min(self.limit);
            self.body
                .reserve_exact(wanted.saturating_sub(self.body.len()));
        }
        self.body.extend_from_slice(bytes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Decodes `input` fed in pieces of `piece` bytes: the message and how much of the
    /// input it took.
    fn decode(input: &[u8], piece: usize, limit: usize) -> (Result<Vec<u8>, usize>, Option<usize>) {
        let mut decoder = DataDecoder::new(limit);
        let mut offset = 0;
        for chunk in input.chunks(piece) {
            if let Some(end) = decoder.feed(chunk) {
                return (decoder.finish(), Some(offset + end));
            }
            offset += chunk.len();
        }
        (decoder.finish(), None)
    }

    #[test]
    fn the_decoder_gives_the_same_message_however_the_input_is_split() {
        let cases: &[(&[u8], &[u8])] = &[
            (b".\r\n", b""),
            (b"hello\r\n.\r\n", b"hello\r\n"),
            (b"..x\r\n...\r\n..\r\n.\r\n", b".x\r\n..\r\n.\r\n"),
            // A lone leading dot is removed too (RFC 5321 4.5.2).
            (b".x\r\n.\r\n", b"x\r\n"),
            (b"a\r\n.\rb\r\n.\r\n", b"a\r\n\rb\r\n"),
            (b"a\r\n.\r\r\n.\r\n", b"a\r\n\r\r\n"),
            (b"a\r\r\n.\r\n", b"a\r\r\n"),
            // Only CRLF starts a line: a dot after a bare LF is text.
            (b"a\n.\r\nb\r\n.\r\n", b"a\n.\r\nb\r\n"),
            (b"a\r\n.\n.\r\n.\r\n", b"a\r\n\n.\r\n"),
            (b"\xff\x00\x80\r\n.\r\n", b"\xff\x00\x80\r\n"),
        ];
        for (input, message) in cases {
            for piece in 1..=input.len() {
                let (decoded, end) = decode(input, piece, 100);
                assert_eq!(
                    decoded.as_deref(),
                    Ok(*message),
                    "{input:?} in pieces of {piece}"
                );
                assert_eq!(end, Some(input.len()), "{input:?} in pieces of {piece}");
            }
        }
    }

    #[test]
    fn the_decoder_stops_at_the_end_and_leaves_what_follows() {
        let input = b"one\r\n.\r\nQUIT\r\n";
        for piece in 1..=input.len() {
            let (decoded, end) = decode(input, piece, 100);
            assert_eq!(decoded.as_deref(), Ok(&b"one\r\n"[..]));
            assert_eq!(end, Some(8));
        }
        assert_eq!(decode(b"no end\r\n", 3, 100).1, None);
    }

    #[test]
    fn the_decoder_counts_but_does_not_keep_a_message_over_the_limit() {
        let mut decoder = DataDecoder::new(10);
        assert_eq!(decoder.feed(b"0123456789"), None);
        assert_eq!(decoder.body.capacity(), 10);
        assert_eq!(decoder.feed(&[b'x'; 5000]), None);
        assert_eq!(decoder.body.capacity(), 0);
        assert_eq!(decoder.feed(b"\r\n.\r\n"), Some(5));
        assert_eq!(decoder.finish(), Err(5012));
        // Exactly at the limit is kept.
        assert_eq!(
            decode(b"01234567\r\n.\r\n", 4, 10).0.as_deref(),
            Ok(&b"01234567\r\n"[..])
        );
    }
}
