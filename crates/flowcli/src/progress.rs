//! Progress on stderr for long runs: bytes and files done, packets per second and ETA, only
//! when stderr is a terminal and `--quiet` is not given (cron and pipes see nothing).

use std::io::IsTerminal;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::Relaxed};
use std::sync::Arc;
use std::time::{Duration, Instant};

use flowcore::input::InputSpec;
use flowcore::pipeline::Progress;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

/// A progress bar redrawn by its own thread from the pipelines' counters.
pub(crate) struct Ui {
    pub(crate) counters: Arc<Progress>,
    files_done: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    bar: ProgressBar,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts the display for a run over `specs`, or `None` when it should stay silent.
pub(crate) fn start(specs: &[InputSpec], quiet: bool) -> Option<Ui> {
    if quiet || !std::io::stderr().is_terminal() {
        return None;
    }
    let total: u64 = specs
        .iter()
        .filter_map(|s| std::fs::metadata(s.path()).ok())
        .map(|m| m.len())
        .sum();
    let files = specs.len();
    let bar = ProgressBar::with_draw_target(Some(total.max(1)), ProgressDrawTarget::stderr());
    let style = ProgressStyle::with_template("{bar:30} {bytes}/{total_bytes} {msg} ETA {eta}")
        .unwrap_or_else(|_| ProgressStyle::default_bar());
    bar.set_style(style);
    let counters = Arc::new(Progress::default());
    let files_done = Arc::new(AtomicU64::new(0));
    let stop = Arc::new(AtomicBool::new(false));
    let thread = {
        let (c, f, s, b) = (
            counters.clone(),
            files_done.clone(),
            stop.clone(),
            bar.clone(),
        );
        std::thread::Builder::new()
            .name("flowcli-progress".into())
            .spawn(move || {
                let started = Instant::now();
                while !s.load(Relaxed) {
                    std::thread::sleep(Duration::from_millis(200));
                    let packets = c.packets.load(Relaxed);
                    let secs = started.elapsed().as_secs_f64().max(0.001);
                    b.set_position(c.bytes.load(Relaxed).min(total));
                    b.set_message(format!(
                        "files {}/{files}, {packets} packets, {:.2} M packets/s",
                        f.load(Relaxed),
                        packets as f64 / secs / 1e6
                    ));
                }
            })
            .ok()
    };
    Some(Ui {
        counters,
        files_done,
        stop,
        bar,
        thread,
    })
}

impl Ui {
    /// One more input is finished.
    pub(crate) fn file_done(&self) {
        self.files_done.fetch_add(1, Relaxed);
    }

    /// Runs `f` (which prints to stderr) with the bar out of the way.
    pub(crate) fn suspend<R>(&self, f: impl FnOnce() -> R) -> R {
        self.bar.suspend(f)
    }

    /// Removes the bar.
    pub(crate) fn finish(mut self) {
        self.stop.store(true, Relaxed);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
        self.bar.finish_and_clear();
    }
}

/// Prints through the bar when there is one.
pub(crate) fn quietly<R>(ui: &Option<Ui>, f: impl FnOnce() -> R) -> R {
    match ui {
        Some(u) => u.suspend(f),
        None => f(),
    }
}

/// The pipeline, advancing the display's counters when there is one.
pub(crate) fn with_progress(
    p: flowcore::pipeline::Pipeline,
    ui: &Option<Ui>,
) -> flowcore::pipeline::Pipeline {
    match ui {
        Some(u) => p.progress(u.counters.clone()),
        None => p,
    }
}

/// An input is finished: its accounting line (through the bar), and one more file done.
pub(crate) fn input_done(ui: &Option<Ui>, summary: &flowcore::pipeline::InputSummary, quiet: bool) {
    quietly(ui, || crate::report_input(summary, quiet));
    if let Some(u) = ui {
        u.file_done();
    }
}
