//! Lines of a JSON log parsed on a helper thread as well as on the reading one.
//!
//! Parsing an eve.json line is most of reading it (JSON, then the record), and each line
//! stands alone ([`super::json_line`]). The reading thread cuts the stream into blocks of
//! lines, in order, and queues them; a helper thread parses queued blocks, and the reading
//! thread parses the block it needs next itself when the helper has not begun it. The items
//! come out in line order, the same as read on one thread.

use std::collections::VecDeque;
use std::sync::{mpsc, Arc, Condvar, Mutex};

use super::{json_line, LogFormat, LogItem};

/// Lines per block, and bytes: a block is closed by whichever comes first.
const BLOCK_LINES: usize = 1024;
const BLOCK_BYTES: usize = 1 << 20;

/// Blocks queued ahead of the one being handed out: with lines of at most `MAX_LINE`
/// (1 MiB), at most about 10 MiB of text held.
pub(super) const QUEUED: usize = 4;

/// One line of a block, or an item the reading thread already made (an overlong line).
pub(super) enum Entry {
    /// `bytes[at..at + len]`, at `offset` in the input, line `line_no`.
    Line {
        at: usize,
        len: usize,
        offset: u64,
        line_no: u64,
    },
    Item(LogItem),
}

/// Consecutive lines of the log.
pub(super) struct Block {
    format: LogFormat,
    bytes: Vec<u8>,
    entries: Vec<Entry>,
}

impl Block {
    pub(super) fn new(format: LogFormat) -> Block {
        Block {
            format,
            bytes: Vec::new(),
            entries: Vec::new(),
        }
    }

    /// Whether the block takes no more lines.
    pub(super) fn full(&self) -> bool {
        self.entries.len() >= BLOCK_LINES || self.bytes.len() >= BLOCK_BYTES
    }

    pub(super) fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    pub(super) fn push_line(&mut self, line: &[u8], offset: u64, line_no: u64) {
        let at = self.bytes.len();
        self.bytes.extend_from_slice(line);
        self.entries.push(Entry::Line {
            at,
            len: line.len(),
            offset,
            line_no,
        });
    }

    pub(super) fn push_item(&mut self, item: LogItem) {
        self.entries.push(Entry::Item(item));
    }

    /// Each entry as [`json_line`] reads it (`None`: not a flow record).
    fn parse(self) -> Vec<Option<LogItem>> {
        let Block {
            format,
            bytes,
            entries,
        } = self;
        entries
            .into_iter()
            .map(|e| match e {
                Entry::Line {
                    at,
                    len,
                    offset,
                    line_no,
                } => json_line(
                    format,
                    bytes.get(at..at + len).unwrap_or_default(),
                    offset,
                    line_no,
                ),
                Entry::Item(i) => Some(i),
            })
            .collect()
    }
}

/// Where a queued block stands.
enum State {
    Queued(Block),
    /// Being parsed by the helper.
    Taken,
    Parsed(Vec<Option<LogItem>>),
    /// The helper panicked parsing it (the payload, to go on unwinding on the reading thread).
    Panicked(Box<dyn std::any::Any + Send>),
}

/// A queued block and how it stands.
struct Job {
    state: Mutex<State>,
    done: Condvar,
}

impl Job {
    /// Its block, unless a thread has taken it already.
    fn take(&self) -> Option<Block> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        match std::mem::replace(&mut *s, State::Taken) {
            State::Queued(b) => Some(b),
            other => {
                *s = other;
                None
            }
        }
    }

    /// Whether the helper is parsing it now.
    fn being_parsed(&self) -> bool {
        matches!(
            *self.state.lock().unwrap_or_else(|e| e.into_inner()),
            State::Taken
        )
    }

    /// Parses `b`, taken from this job, and leaves the items for whoever hands them out.
    fn parse_taken(&self, b: Block) {
        let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| b.parse()));
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        *s = match result {
            Ok(v) => State::Parsed(v),
            Err(p) => State::Panicked(p),
        };
        self.done.notify_all();
    }

    /// Its items: parsed here if the helper has not begun it, else waited for.
    fn items(&self) -> Vec<Option<LogItem>> {
        let mut s = self.state.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            match std::mem::replace(&mut *s, State::Taken) {
                State::Queued(b) => {
                    drop(s);
                    return b.parse();
                }
                State::Parsed(v) => return v,
                State::Panicked(p) => std::panic::resume_unwind(p),
                State::Taken => {
                    s = self.done.wait(s).unwrap_or_else(|e| e.into_inner());
                }
            }
        }
    }

    /// On the helper: parses it unless the reading thread took it first.
    fn help(&self) {
        if let Some(b) = self.take() {
            self.parse_taken(b);
        }
    }
}

/// The blocks queued, in order, and the helper they are offered to.
pub(super) struct Ahead {
    queue: VecDeque<Arc<Job>>,
    helper: Option<mpsc::SyncSender<Arc<Job>>>,
    /// The items of the block being handed out.
    ready: std::vec::IntoIter<Option<LogItem>>,
}

impl Ahead {
    /// Starts the helper thread; `None` when it cannot be started.
    pub(super) fn start() -> Option<Ahead> {
        let (tx, rx) = mpsc::sync_channel::<Arc<Job>>(QUEUED);
        std::thread::Builder::new()
            .name("flowcore-parse".into())
            .spawn(move || {
                for job in rx {
                    job.help();
                }
            })
            .ok()?;
        Some(Ahead {
            queue: VecDeque::new(),
            helper: Some(tx),
            ready: Vec::new().into_iter(),
        })
    }

    /// Whether fewer than [`QUEUED`] blocks wait.
    pub(super) fn wants_more(&self) -> bool {
        self.queue.len() < QUEUED
    }

    /// Queues a block and offers it to the helper.
    pub(super) fn queue(&mut self, b: Block) {
        let job = Arc::new(Job {
            state: Mutex::new(State::Queued(b)),
            done: Condvar::new(),
        });
        if let Some(tx) = &self.helper {
            // Full: the helper is behind, and this block is left to the reading thread.
            match tx.try_send(Arc::clone(&job)) {
                Ok(()) | Err(mpsc::TrySendError::Full(_)) => {}
                Err(mpsc::TrySendError::Disconnected(_)) => self.helper = None,
            }
        }
        self.queue.push_back(job);
    }

    /// The next item, in line order (`Some(None)`: a line that is not a flow record);
    /// `None` once every queued block is handed out.
    pub(super) fn next(&mut self) -> Option<Option<LogItem>> {
        loop {
            if let Some(i) = self.ready.next() {
                return Some(i);
            }
            let front = self.queue.front()?;
            // While the helper parses the next block, this thread parses a later one
            // rather than wait: both keep parsing, whichever is ahead.
            if front.being_parsed() {
                let later = self
                    .queue
                    .iter()
                    .skip(1)
                    .find_map(|j| j.take().map(|b| (j, b)));
                if let Some((job, b)) = later {
                    job.parse_taken(b);
                    continue;
                }
            }
            let job = self.queue.pop_front()?;
            self.ready = job.items().into_iter();
        }
    }
}
