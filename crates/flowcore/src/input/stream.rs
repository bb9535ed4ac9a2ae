//! A buffered byte stream that hands out borrowed windows of its buffer and knows the
//! absolute offset of every byte: the zero-copy base of the capture readers.

use std::io::{self, Read};

/// Default read size; large enough that typical packets are sliced, never copied.
pub(crate) const CHUNK: usize = 1 << 20;

pub(crate) struct ByteStream {
    inner: Box<dyn Read + Send>,
    buf: Vec<u8>,
    start: usize,
    end: usize,
    /// Absolute stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
}

impl ByteStream {
    pub(crate) fn new(inner: Box<dyn Read + Send>) -> Self {
        ByteStream {
            inner,
            buf: vec![0; CHUNK],
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
        }
    }

    /// Absolute offset of the next unconsumed byte.
    #[inline]
    pub(crate) fn offset(&self) -> u64 {
        self.offset
    }

    /// The unconsumed bytes currently buffered.
    #[inline]
    pub(crate) fn available(&self) -> &[u8] {
        &self.buf[self.start..self.end]
    }

    /// Makes at least `n` bytes available unless the stream ends first. Returns the number
    /// of bytes available (less than `n` only at end of stream). Callers bound `n`.
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<usize> {
        if self.end - self.start >= n {
            return Ok(self.end - self.start);
        }
        if self.start > 0 {
            self.buf.copy_within(self.start..self.end, 0);
            self.end -= self.start;
            self.start = 0;
        }
        if n > self.buf.len() {
            self.buf.resize(n.div_ceil(CHUNK) * CHUNK, 0);
        }
        while self.end < n && !self.eof {
            match self.inner.read(&mut self.buf[self.end..]) {
                Ok(0) => self.eof = true,
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => return Err(e),
            }
        }
        Ok(self.end - self.start)
    }

    /// Consumes `n` buffered bytes. `n` must not exceed [`Self::available`].
    #[inline]
    pub(crate) fn consume(&mut self, n: usize) {
        debug_assert!(n <= self.end - self.start);
        self.start += n;
        self.offset += n as u64;
    }

    /// Consumes `n` buffered bytes and returns them; they stay valid until the next fill.
    #[inline]
    pub(crate) fn take(&mut self, n: usize) -> &[u8] {
        let s = self.start;
        self.consume(n);
        &self.buf[s..s + n]
    }

    /// Skips `n` bytes, reading through the stream without buffering them all.
    /// Returns the number of bytes actually skipped (less at end of stream).
    pub(crate) fn skip(&mut self, mut n: u64) -> io::Result<u64> {
        let total = n;
        loop {
            let have = (self.end - self.start) as u64;
            let take = have.min(n);
            self.consume(take as usize);
            n -= take;
            if n == 0 {
                return Ok(total);
            }
            if self.fill(1)? == 0 {
                return Ok(total - n);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A reader that returns at most 3 bytes per call, to exercise refills.
    struct Trickle(Vec<u8>, usize);
    impl Read for Trickle {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            let n = out.len().min(3).min(self.0.len() - self.1);
            out[..n].copy_from_slice(&self.0[self.1..self.1 + n]);
            self.1 += n;
            Ok(n)
        }
    }

    #[test]
    fn fill_consume_skip_track_offsets() {
        let data: Vec<u8> = (0..=255u8).cycle().take(3 * CHUNK + 17).collect();
        let mut s = ByteStream::new(Box::new(Trickle(data.clone(), 0)));
        assert_eq!(s.fill(10).unwrap(), 10.max(s.available().len()));
        assert_eq!(&s.available()[..10], &data[..10]);
        s.consume(7);
        assert_eq!(s.offset(), 7);
        // A window larger than the buffer grows it.
        assert!(s.fill(2 * CHUNK).unwrap() >= 2 * CHUNK);
        assert_eq!(&s.available()[..5], &data[7..12]);
        assert_eq!(s.skip(CHUNK as u64).unwrap(), CHUNK as u64);
        assert_eq!(s.offset(), 7 + CHUNK as u64);
        let rest = data.len() as u64 - s.offset();
        assert_eq!(s.skip(u64::MAX).unwrap(), rest);
        assert_eq!(s.fill(1).unwrap(), 0);
    }
}
