//! Decompressed bytes in fixed chunks, read on a helper thread or inline. A gzip or zstd
//! input is inflated on a helper thread when it has a core of its own (which also reads,
//! and hands to the hash, the stored bytes) and handed on in buffers: on two cores the
//! inflating and the parsing overlap, where on one thread they add up (inflating a gzip of
//! encrypted traffic is three quarters of reading it: benches/README.md).
//!
//! Either way the decompressor is read in the same chunks: where a damaged stream fails
//! depends on how much is asked of it at a time (a zstd frame's checksum is checked once
//! the frame is read to its end, so a small read may return bytes that a large one would
//! not), and one thread or two must give the same packets and the same damage.

use std::io::{self, Read};
use std::sync::mpsc;

/// Bytes asked of the decompressor at a time.
const CHUNK: usize = 1 << 18;

/// Buffers filled ahead of the reader: with the one being read and the one being filled,
/// at most a megabyte and a half per input.
const IN_FLIGHT: usize = 4;

/// The next part of the stream.
enum Msg {
    /// `buf[..n]` are the next bytes.
    Data(Vec<u8>, usize),
    /// The stream ended cleanly.
    End,
    /// Reading failed here (after the bytes sent before).
    Failed(io::Error),
}

/// How the stream ended, for reads after the end.
enum Ending {
    Clean,
    Failed(io::ErrorKind, String),
}

/// Where the chunks come from.
enum Source {
    /// A helper thread, and the channel its buffers go back by.
    Thread {
        rx: mpsc::Receiver<Msg>,
        spare: mpsc::SyncSender<Vec<u8>>,
    },
    /// This thread, and how the last chunk read ended (sent after its bytes).
    Inline {
        inner: Box<dyn Read + Send>,
        next: Option<Msg>,
    },
}

/// A reader over another, read in chunks of [`CHUNK`] bytes, on a helper thread or inline.
pub(crate) struct Chunks {
    source: Source,
    cur: Vec<u8>,
    pos: usize,
    len: usize,
    ended: Option<Ending>,
}

impl Chunks {
    /// Reads `inner` on this thread.
    pub(crate) fn inline(inner: Box<dyn Read + Send>) -> Chunks {
        Chunks::from(Source::Inline { inner, next: None })
    }

    /// Reads `inner` on a helper thread (named `name`), `IN_FLIGHT` chunks ahead; gives
    /// `inner` back when no thread can be started. The thread stops at the end of `inner`,
    /// at its first error, or once this reader is dropped and its next chunk is read.
    pub(crate) fn spawn(
        name: &str,
        inner: Box<dyn Read + Send>,
    ) -> Result<Chunks, Box<dyn Read + Send>> {
        let (tx, rx) = mpsc::sync_channel::<Msg>(IN_FLIGHT);
        let (spare, spare_rx) = mpsc::sync_channel::<Vec<u8>>(IN_FLIGHT + 2);
        // The reader goes over once the thread runs, so that a failed start keeps it.
        let (give, take) = mpsc::sync_channel::<Box<dyn Read + Send>>(1);
        let started = std::thread::Builder::new()
            .name(name.into())
            .spawn(move || {
                if let Ok(inner) = take.recv() {
                    fill_ahead(inner, &tx, &spare_rx);
                }
            });
        if started.is_err() {
            return Err(inner);
        }
        if let Err(mpsc::SendError(inner)) = give.send(inner) {
            return Err(inner);
        }
        Ok(Chunks::from(Source::Thread { rx, spare }))
    }

    fn from(source: Source) -> Chunks {
        Chunks {
            source,
            cur: Vec::new(),
            pos: 0,
            len: 0,
            ended: None,
        }
    }

    /// Whether a helper thread reads the stream.
    pub(crate) fn on_thread(&self) -> bool {
        matches!(self.source, Source::Thread { .. })
    }

    /// The next part of the stream (`spent`, the buffer just read, for reuse).
    fn next(&mut self, spent: Vec<u8>) -> Option<Msg> {
        match &mut self.source {
            Source::Thread { rx, spare } => {
                if !spent.is_empty() {
                    let _ = spare.try_send(spent);
                }
                rx.recv().ok()
            }
            Source::Inline { inner, next } => {
                if let Some(m) = next.take() {
                    return Some(m);
                }
                let (buf, n, end) = fill_chunk(inner.as_mut(), spent);
                if n == 0 {
                    return Some(end.unwrap_or(Msg::End));
                }
                *next = end;
                Some(Msg::Data(buf, n))
            }
        }
    }
}

/// Reads one chunk from `inner` into `buf` (reused): the bytes read, and how the stream
/// ended if it did (`None`: the chunk is full).
fn fill_chunk(inner: &mut dyn Read, mut buf: Vec<u8>) -> (Vec<u8>, usize, Option<Msg>) {
    if buf.len() < CHUNK {
        buf.resize(CHUNK, 0);
    }
    let mut n = 0;
    while n < CHUNK {
        match inner.read(buf.get_mut(n..CHUNK).unwrap_or_default()) {
            Ok(0) => return (buf, n, Some(Msg::End)),
            Ok(k) => n = (n + k).min(CHUNK),
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) => return (buf, n, Some(Msg::Failed(e))),
        }
    }
    (buf, n, None)
}

/// The helper thread's loop: reads chunks from `inner` and sends them, then how it ended.
fn fill_ahead(
    mut inner: Box<dyn Read + Send>,
    tx: &mpsc::SyncSender<Msg>,
    spare: &mpsc::Receiver<Vec<u8>>,
) {
    loop {
        let buf = spare.try_recv().unwrap_or_default();
        let (buf, n, end) = fill_chunk(inner.as_mut(), buf);
        // A failed send: the reader is gone, so is any use for more bytes.
        if n > 0 && tx.send(Msg::Data(buf, n)).is_err() {
            return;
        }
        if let Some(end) = end {
            let _ = tx.send(end);
            return;
        }
    }
}

impl Read for Chunks {
    fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
        while self.pos >= self.len {
            match &self.ended {
                Some(Ending::Clean) => return Ok(0),
                Some(Ending::Failed(kind, what)) => {
                    return Err(io::Error::new(*kind, what.clone()))
                }
                None => {}
            }
            let spent = std::mem::take(&mut self.cur);
            match self.next(spent) {
                Some(Msg::Data(buf, n)) => {
                    self.cur = buf;
                    (self.pos, self.len) = (0, n.min(self.cur.len()));
                }
                Some(Msg::End) => self.ended = Some(Ending::Clean),
                Some(Msg::Failed(e)) => {
                    self.ended = Some(Ending::Failed(e.kind(), e.to_string()));
                    return Err(e);
                }
                // Never a silent end: only a panic stops the thread without saying how.
                None => {
                    self.ended = Some(Ending::Failed(
                        io::ErrorKind::Other,
                        "the decompressing thread stopped".into(),
                    ))
                }
            }
        }
        let src = self.cur.get(self.pos..self.len).unwrap_or_default();
        let n = out.len().min(src.len());
        out[..n].copy_from_slice(&src[..n]);
        self.pos += n;
        Ok(n)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Gives `data` in pieces of varying size, then fails with `fail` once (or ends).
    struct Pieces {
        data: Vec<u8>,
        at: usize,
        step: usize,
        fail: Option<io::ErrorKind>,
        interrupted: bool,
    }

    impl Read for Pieces {
        fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
            self.interrupted = !self.interrupted;
            if self.interrupted && self.at.is_multiple_of(3) {
                return Err(io::ErrorKind::Interrupted.into());
            }
            if self.at == self.data.len() {
                // Failing once, as a decoder may: an error lost on the way would look like
                // a clean end.
                return match self.fail.take() {
                    Some(k) => Err(io::Error::new(k, "bad block")),
                    None => Ok(0),
                };
            }
            self.step = (self.step * 13 + 7) % 100_003 + 1;
            let n = out.len().min(self.step).min(self.data.len() - self.at);
            out[..n].copy_from_slice(&self.data[self.at..self.at + n]);
            self.at += n;
            Ok(n)
        }
    }

    fn read_all(r: &mut impl Read, piece: usize) -> (Vec<u8>, Option<io::Error>) {
        let mut got = Vec::new();
        let mut buf = vec![0; piece];
        loop {
            match r.read(&mut buf) {
                Ok(0) => return (got, None),
                Ok(n) => got.extend_from_slice(&buf[..n]),
                Err(e) => return (got, Some(e)),
            }
        }
    }

    /// Both ways of reading `source`.
    fn both(source: impl Fn() -> Box<dyn Read + Send>) -> [Chunks; 2] {
        [
            Chunks::inline(source()),
            Chunks::spawn("t", source()).ok().unwrap(),
        ]
    }

    #[test]
    fn gives_the_same_bytes_and_the_same_error_as_the_reader_itself() {
        let data: Vec<u8> = (0..3_000_000u32)
            .map(|i| ((i * 7) ^ (i >> 9)) as u8)
            .collect();
        for fail in [None, Some(io::ErrorKind::InvalidData)] {
            for piece in [1 << 20, 4096, 7] {
                let source = || -> Box<dyn Read + Send> {
                    Box::new(Pieces {
                        data: data.clone(),
                        at: 0,
                        step: 1,
                        fail,
                        interrupted: false,
                    })
                };
                for mut chunks in both(source) {
                    let on_thread = chunks.on_thread();
                    let (got, err) = read_all(&mut chunks, piece);
                    assert!(
                        got == data,
                        "{fail:?} {piece} {on_thread}: {} bytes",
                        got.len()
                    );
                    assert_eq!(err.as_ref().map(io::Error::kind), fail);
                    // After the end, the same end again.
                    let again = chunks.read(&mut [0; 16]);
                    assert_eq!(again.as_ref().ok(), fail.is_none().then_some(&0));
                    assert_eq!(again.err().map(|e| e.kind()), fail);
                    if fail.is_some() {
                        assert!(err.unwrap().to_string().contains("bad block"));
                    }
                }
            }
        }
    }

    #[test]
    fn where_a_stream_fails_does_not_depend_on_the_readers_pieces_nor_the_thread() {
        // Like a zstd frame with a bad checksum: a read that would reach the end fails,
        // one that stops short of it succeeds. So the bytes given before the error depend
        // on the sizes asked for; in chunks, never on the caller's.
        struct Checksummed(io::Cursor<Vec<u8>>);
        impl Read for Checksummed {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                let left = self.0.get_ref().len() - self.0.position() as usize;
                if out.len() >= left {
                    return Err(io::Error::new(io::ErrorKind::InvalidData, "checksum"));
                }
                self.0.read(out)
            }
        }
        let data: Vec<u8> = (0..CHUNK * 2 + 999).map(|i| i as u8).collect();
        let mut seen = Vec::new();
        for piece in [8, 1000, CHUNK * 4] {
            let source =
                || -> Box<dyn Read + Send> { Box::new(Checksummed(io::Cursor::new(data.clone()))) };
            for mut chunks in both(source) {
                let (got, err) = read_all(&mut chunks, piece);
                seen.push((got.len(), err.map(|e| e.to_string())));
            }
        }
        assert!(seen.iter().all(|s| s == &seen[0]), "{seen:?}");
        assert_eq!(seen[0], (CHUNK * 2, Some("checksum".to_string())));
    }

    #[test]
    fn a_helper_that_dies_is_an_error_not_an_end() {
        struct Panics;
        impl Read for Panics {
            fn read(&mut self, _: &mut [u8]) -> io::Result<usize> {
                panic!("decoder bug")
            }
        }
        let mut ahead = Chunks::spawn("t", Box::new(Panics)).ok().unwrap();
        let (got, err) = read_all(&mut ahead, 100);
        assert!(got.is_empty());
        assert!(err.unwrap().to_string().contains("stopped"));
    }

    #[test]
    fn dropping_the_reader_early_stops_the_helper() {
        // An endless source: the helper stops once its buffers are not taken.
        struct Endless(std::sync::Arc<std::sync::atomic::AtomicUsize>);
        impl Read for Endless {
            fn read(&mut self, out: &mut [u8]) -> io::Result<usize> {
                self.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                out.fill(1);
                Ok(out.len())
            }
        }
        let reads = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let mut ahead = Chunks::spawn("t", Box::new(Endless(reads.clone())))
            .ok()
            .unwrap();
        assert_eq!(ahead.read(&mut [0; 10]).unwrap(), 10);
        drop(ahead);
        let settle = || {
            let before = reads.load(std::sync::atomic::Ordering::SeqCst);
            std::thread::sleep(std::time::Duration::from_millis(50));
            before == reads.load(std::sync::atomic::Ordering::SeqCst)
        };
        assert!((0..100).any(|_| settle()), "the helper kept reading");
        // Bounded: the buffers in flight and the one being filled, no more.
        let n = reads.load(std::sync::atomic::Ordering::SeqCst);
        assert!(n <= IN_FLIGHT + 3, "{n} reads");
    }
}
