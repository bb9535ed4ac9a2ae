//! A buffered byte stream that hands out borrowed windows of its buffer and knows the
//! absolute offset of every byte: the zero-copy base of the capture readers.

use std::io::{self, Read};
use std::ops::Range;
use std::sync::Arc;

/// Default read size; large enough that typical packets are sliced, never copied.
pub(crate) const CHUNK: usize = 1 << 20;

/// Read size of a tapped stream: its buffers go round through the tap's thread, and
/// smaller ones stay in cache between the kernel's copy and the hash.
const TAP_CHUNK: usize = 1 << 18;

/// Buffers kept for reuse once a [`Tap`] has let go of them: a few more than the chunks a
/// tap holds at once (the hash queue's), so that refills seldom allocate.
const RETIRED: usize = 12;

/// Sees every byte the stream reads, once, in order, as a range of a shared buffer that
/// stays unchanged while the tap holds it: so the bytes can go to another thread (the
/// input's SHA-256) without being copied.
pub(crate) trait Tap: Send {
    /// `buf[range]` was just read.
    fn bytes(&mut self, buf: &Arc<Vec<u8>>, range: Range<usize>);
}

pub(crate) struct ByteStream {
    inner: Box<dyn Read + Send>,
    /// Shared only with the tap: a refill then moves the unconsumed bytes to another buffer.
    buf: Arc<Vec<u8>>,
    start: usize,
    end: usize,
    /// Absolute stream offset of `buf[start]`.
    offset: u64,
    eof: bool,
    tap: Option<Box<dyn Tap>>,
    /// End of the bytes shown to the tap (`buf[tapped..end]` are not yet).
    tapped: usize,
    /// Buffers given to the tap, reused once it has dropped them.
    retired: Vec<Arc<Vec<u8>>>,
}

impl ByteStream {
    pub(crate) fn new(inner: Box<dyn Read + Send>) -> Self {
        ByteStream {
            inner,
            buf: Arc::new(vec![0; CHUNK]),
            start: 0,
            end: 0,
            offset: 0,
            eof: false,
            tap: None,
            tapped: 0,
            retired: Vec::new(),
        }
    }

    /// A stream whose every read byte is also shown to `tap`.
    pub(crate) fn tapped(inner: Box<dyn Read + Send>, tap: Box<dyn Tap>) -> Self {
        ByteStream {
            tap: Some(tap),
            buf: Arc::new(vec![0; TAP_CHUNK]),
            ..ByteStream::new(inner)
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
    #[inline]
    pub(crate) fn fill(&mut self, n: usize) -> io::Result<usize> {
        // Twice per packet, and almost always already true: inlined, without the refill.
        if self.end - self.start >= n {
            return Ok(self.end - self.start);
        }
        self.refill(n)
    }

    /// [`ByteStream::fill`] when the buffered bytes are too few.
    #[inline(never)]
    fn refill(&mut self, n: usize) -> io::Result<usize> {
        // A tapped stream reads on after its last bytes while they fit: its buffer goes to
        // the tap once full (or at the end), whatever the size of each read.
        let in_place = self.tap.is_some()
            && self.start + n <= self.buf.len()
            && Arc::get_mut(&mut self.buf).is_some();
        if !in_place {
            self.hand_off();
            let size = if n > self.buf.len() {
                n.div_ceil(CHUNK) * CHUNK
            } else {
                self.buf.len()
            };
            self.compact(size);
        }
        while self.end - self.start < n && !self.eof {
            // Not shared: compacted, or checked above. This borrows, never copies.
            let buf = Arc::make_mut(&mut self.buf);
            match self.inner.read(buf.get_mut(self.end..).unwrap_or_default()) {
                Ok(0) => {
                    self.eof = true;
                    self.hand_off();
                }
                Ok(k) => self.end += k,
                Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
                Err(e) => {
                    self.hand_off();
                    return Err(e);
                }
            }
        }
        Ok(self.end - self.start)
    }

    /// Shows the tap the bytes read since it was last shown some. The buffer is then
    /// shared, and [`ByteStream::compact`] moves on to another before the next read.
    fn hand_off(&mut self) {
        if let (Some(tap), true) = (&mut self.tap, self.end > self.tapped) {
            tap.bytes(&self.buf, self.tapped..self.end);
            self.tapped = self.end;
        }
    }

    /// Moves the unconsumed bytes to the start of a buffer at least `size` long: this one,
    /// or another when the tap still holds this one.
    fn compact(&mut self, size: usize) {
        let (start, end) = (self.start, self.end);
        (self.start, self.end, self.tapped) = (0, end - start, end - start);
        if let Some(b) = Arc::get_mut(&mut self.buf) {
            b.copy_within(start..end, 0);
            if b.len() < size {
                b.resize(size, 0);
            }
            return;
        }
        let free = self
            .retired
            .iter()
            .position(|b| Arc::strong_count(b) == 1 && Arc::weak_count(b) == 0);
        let fresh = match free {
            Some(i) => self.retired.swap_remove(i),
            None => Arc::new(Vec::new()),
        };
        let old = std::mem::replace(&mut self.buf, fresh);
        let b = Arc::make_mut(&mut self.buf);
        if b.len() < size {
            b.resize(size, 0);
        }
        if let (Some(to), Some(from)) = (b.get_mut(..end - start), old.get(start..end)) {
            to.copy_from_slice(from);
        }
        if self.retired.len() >= RETIRED {
            self.retired.remove(0);
        }
        self.retired.push(old);
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

    /// Keeps every buffer it is shown, with what the range held then.
    type Kept = Vec<(Arc<Vec<u8>>, Range<usize>, Vec<u8>)>;
    struct Keep(std::sync::Arc<std::sync::Mutex<Kept>>);
    impl Tap for Keep {
        fn bytes(&mut self, buf: &Arc<Vec<u8>>, range: Range<usize>) {
            let seen = buf[range.clone()].to_vec();
            self.0.lock().unwrap().push((Arc::clone(buf), range, seen));
        }
    }

    #[test]
    fn a_tap_sees_every_byte_once_in_buffers_left_unchanged() {
        // Short reads, windows larger than the buffer, skips, and a tap that holds every
        // buffer to the end (a hasher far behind) or lets go at once: the ranges shown
        // are the stream's bytes in order, and a buffer held is never written again.
        let data: Vec<u8> = (0..5 * TAP_CHUNK + 33)
            .map(|i| (i * 7 % 251) as u8)
            .collect();
        for hold in [true, false] {
            let kept = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
            let mut s = ByteStream::tapped(
                Box::new(Trickle(data.clone(), 0)),
                Box::new(Keep(kept.clone())),
            );
            let mut at = 0usize;
            let mut step = 1usize;
            while s.fill(step.min(3 * TAP_CHUNK)).unwrap() > 0 {
                let n = s.available().len().min(step);
                assert_eq!(s.take(n), &data[at..at + n]);
                at += n;
                if step.is_multiple_of(5) {
                    at += s.skip(step as u64 * 3).unwrap() as usize;
                }
                step = step * 3 % 1_000_003 + 1;
                if !hold {
                    kept.lock().unwrap().clear();
                }
            }
            assert_eq!(at, data.len());
            if hold {
                let kept = kept.lock().unwrap();
                let mut all = Vec::new();
                for (buf, range, seen) in kept.iter() {
                    assert_eq!(&buf[range.clone()], &seen[..], "a held buffer was written");
                    all.extend_from_slice(seen);
                }
                assert!(all == data, "every byte once, in order");
            }
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
