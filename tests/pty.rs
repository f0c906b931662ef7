//! The binary in a terminal.  Every other test runs `shootdown` with pipes,
//! where no progress bar is drawn; v0's `matrix` deadlocked only when
//! stderr was a terminal (issue 6, defect 1: the bars, drawn from worker
//! threads, waited forever on a stderr lock that main held).  Here each run
//! gets a pseudo-terminal as its controlling terminal (stdin, stdout and
//! stderr), a thread reads the master side into a buffer, and every wait
//! has a hard deadline: a hang fails the test with the screen so far
//! instead of hanging CI.  Ctrl-C is the byte 0x03 written to the master;
//! the line discipline turns it into SIGINT for the foreground process
//! group, as when a user presses it.
//!
//! The runs take turns (one lock): each uses every core, and the Ctrl-C
//! tests are easier to read when nothing else competes.  About 15 s in all.

use portable_pty::{Child, CommandBuilder, MasterPty, PtySize, native_pty_system};
use std::io::{Read, Write};
use std::sync::{Arc, Mutex, MutexGuard};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

/// The longest any run may take before the test calls it a hang.
const TIMEOUT: Duration = Duration::from_secs(60);
/// How long a run may take to stop after one Ctrl-C (it stops within 1024
/// expansions, milliseconds; this is generous for a loaded CI machine).
const AFTER_CTRL_C: Duration = Duration::from_secs(20);
/// How long the reader may take to drain the terminal once the child exited.
const DRAIN: Duration = Duration::from_secs(10);

/// mail-race made slower: a matrix of a few seconds, every cell complete.
const SLOW_MATRIX: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/pty/slow-matrix.toml"
);
/// Three threads on three CPUs: a check far longer than any test.
const LONG_CHECK: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/tests/data/pty/long-check.toml"
);

/// One run at a time (see the module comment).
static TURN: Mutex<()> = Mutex::new(());

/// `shootdown` running in a pseudo-terminal.
struct Term {
    what: String,
    child: Box<dyn Child + Send + Sync>,
    screen: Arc<Mutex<Vec<u8>>>,
    reader: Option<JoinHandle<()>>,
    writer: Box<dyn Write + Send>,
    // Kept open while the child runs: closing the master hangs up the
    // terminal (SIGHUP), which is not what these tests are about.
    _master: Box<dyn MasterPty + Send>,
    started: Instant,
    _turn: MutexGuard<'static, ()>,
}

/// How a run ended.
struct Exit {
    code: u32,
    signal: Option<String>,
    /// Everything the terminal showed, escape sequences removed.
    text: String,
}

impl Term {
    /// Starts `shootdown ARGS` with a fresh pseudo-terminal as its
    /// controlling terminal.
    fn spawn(args: &[&str]) -> Term {
        let turn = TURN.lock().unwrap_or_else(|e| e.into_inner());
        let what = format!("shootdown {}", args.join(" "));
        let pair = native_pty_system()
            .openpty(PtySize {
                rows: 50,
                cols: 160,
                pixel_width: 0,
                pixel_height: 0,
            })
            .expect("a pseudo-terminal");
        let mut cmd = CommandBuilder::new(env!("CARGO_BIN_EXE_shootdown"));
        cmd.args(args);
        cmd.cwd(env!("CARGO_MANIFEST_DIR"));
        // The same terminal on every machine, whatever CI sets.
        cmd.env("TERM", "xterm-256color");
        cmd.env_remove("NO_COLOR");
        cmd.env_remove("CLICOLOR_FORCE");
        let child = pair.slave.spawn_command(cmd).expect("the binary starts");
        // Only the child holds the slave side now, so the reader sees the
        // end of the terminal when the child exits.
        drop(pair.slave);
        let screen = Arc::new(Mutex::new(Vec::new()));
        let mut from = pair.master.try_clone_reader().expect("a reader");
        let to = screen.clone();
        let reader = std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            // Linux answers EIO once the slave side is closed: the end.
            while let Ok(n) = from.read(&mut buf) {
                if n == 0 {
                    break;
                }
                to.lock()
                    .unwrap_or_else(|e| e.into_inner())
                    .extend_from_slice(&buf[..n]);
            }
        });
        let writer = pair.master.take_writer().expect("a writer");
        Term {
            what,
            child,
            screen,
            reader: Some(reader),
            writer,
            _master: pair.master,
            started: Instant::now(),
            _turn: turn,
        }
    }

    /// The screen so far, escape sequences removed.
    fn text(&self) -> String {
        plain(&self.screen.lock().unwrap_or_else(|e| e.into_inner()))
    }

    /// Kills the child and fails the test, showing the screen so far.
    fn fail(&mut self, why: &str) -> ! {
        let _ = self.child.kill();
        let _ = self.child.wait();
        // The reader ends now that the child is gone; give it a moment.
        self.join_reader();
        panic!(
            "{}: {why} ({:.1} s after the start); the terminal showed:\n{}",
            self.what,
            self.started.elapsed().as_secs_f64(),
            self.text()
        );
    }

    /// Waits (until `TIMEOUT` after the start) for a line of the screen
    /// that `want` accepts, and returns it.
    fn wait_for_line(&mut self, what: &str, want: impl Fn(&str) -> bool) -> String {
        loop {
            if let Some(line) = self.text().lines().find(|l| want(l)) {
                return line.to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                self.fail(&format!("exited ({status}) before showing {what}"));
            }
            if self.started.elapsed() > TIMEOUT {
                self.fail(&format!("showed no {what} within {TIMEOUT:?}"));
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// Presses Ctrl-C once.
    fn ctrl_c(&mut self) {
        self.writer
            .write_all(&[0x03])
            .expect("write to the terminal");
        self.writer.flush().expect("write to the terminal");
    }

    /// Waits (until `deadline` from now) for the child to exit, then for
    /// the reader to drain the terminal.
    fn finish_within(mut self, deadline: Duration) -> Exit {
        let since = Instant::now();
        let status = loop {
            match self.child.try_wait() {
                Ok(Some(status)) => break status,
                Ok(None) => {}
                Err(e) => self.fail(&format!("cannot wait for it: {e}")),
            }
            if since.elapsed() > deadline {
                self.fail(&format!("still running after {deadline:?}: a hang"));
            }
            std::thread::sleep(Duration::from_millis(20));
        };
        self.join_reader();
        Exit {
            code: status.exit_code(),
            signal: status.signal().map(str::to_string),
            text: self.text(),
        }
    }

    /// Waits (until `TIMEOUT` after the start) for the child to exit.
    fn finish(self) -> Exit {
        let left = TIMEOUT.saturating_sub(self.started.elapsed());
        self.finish_within(left)
    }

    fn join_reader(&mut self) {
        let Some(reader) = self.reader.take() else {
            return;
        };
        let since = Instant::now();
        while !reader.is_finished() && since.elapsed() < DRAIN {
            std::thread::sleep(Duration::from_millis(10));
        }
        if reader.is_finished() {
            let _ = reader.join();
        }
    }
}

impl Drop for Term {
    fn drop(&mut self) {
        // A failed assertion must not leave a search running.
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

impl Exit {
    /// Fails unless the run exited (not killed by a signal) with `code`.
    fn assert_code(&self, code: u32) {
        assert!(
            self.signal.is_none() && self.code == code,
            "expected exit {code}, got exit {} (signal {:?}); the terminal showed:\n{}",
            self.code,
            self.signal,
            self.text
        );
    }

    fn assert_contains(&self, want: &str) {
        assert!(
            self.text.contains(want),
            "expected {want:?}; the terminal showed:\n{}",
            self.text
        );
    }
}

/// The terminal's bytes as text: escape sequences (CSI, OSC, two-byte)
/// removed, and both `\r\n` and a lone `\r` (a redrawn line) made line ends.
fn plain(bytes: &[u8]) -> String {
    let s = String::from_utf8_lossy(bytes);
    let mut out = String::with_capacity(s.len());
    let mut it = s.chars().peekable();
    while let Some(c) = it.next() {
        match c {
            '\u{1b}' => match it.next() {
                // CSI: parameters and intermediates, then one final byte.
                Some('[') => {
                    for c in it.by_ref() {
                        if ('\u{40}'..='\u{7e}').contains(&c) {
                            break;
                        }
                    }
                }
                // OSC: up to BEL or ESC \.
                Some(']') => {
                    while let Some(c) = it.next() {
                        if c == '\u{7}' {
                            break;
                        }
                        if c == '\u{1b}' {
                            it.next();
                            break;
                        }
                    }
                }
                _ => {}
            },
            '\r' => {
                if it.peek() != Some(&'\n') {
                    out.push('\n');
                }
            }
            c => out.push(c),
        }
    }
    out
}

/// The check spinner's line: "N states (R/s), depth D, queue Q, M MiB, T s".
fn is_check_progress(line: &str) -> bool {
    line.contains(" states (") && line.contains("/s), depth ") && line.contains(", queue ")
}

/// Cells of a whole matrix: every row on the four profiles.
fn matrix_cells() -> usize {
    shootdown::system::matrix::Selection::all().cells()
}

/// The matrix bar as drawn: the bar, then "done/N cells, elapsed" and the
/// last cell checked.
fn is_matrix_progress(line: &str) -> bool {
    line.split_once(&format!("/{} cells, ", matrix_cells()))
        .is_some_and(|(l, _)| {
            l.rsplit(' ')
                .next()
                .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
        })
}

/// Issue 6, defect 1: in v0 `shootdown matrix` never finished when stderr
/// was a terminal.
#[test]
fn matrix_in_a_terminal_finishes() {
    // The built-in mail-race: about 0.5 s, the table and its closing line.
    let run = Term::spawn(&["matrix", "--no-traces"]).finish();
    run.assert_code(0);
    run.assert_contains("2.4.18+intel");
    run.assert_contains(&format!("\n{} cells, ", matrix_cells()));

    // A matrix of a few seconds: the progress bar is drawn (from the
    // workers, the v0 deadlock) and the run still finishes.
    let mut term = Term::spawn(&["matrix", SLOW_MATRIX, "--no-traces"]);
    term.wait_for_line(
        "matrix progress bar (\"done/total cells\")",
        is_matrix_progress,
    );
    let run = term.finish();
    run.assert_code(0);
    run.assert_contains("2.4.18+intel");
    run.assert_contains(&format!("\n{} cells, ", matrix_cells()));
    assert!(
        !run.text.contains("INTERRUPTED"),
        "a complete matrix says nothing of an interruption:\n{}",
        run.text
    );
}

/// The matrix bar's message names the last cell done ("2.4.18 on split:
/// P1 ...").  It once was set 80 times and never drawn: the bar's default
/// style had no `{msg}`.
#[test]
fn matrix_progress_names_the_cells() {
    let mut term = Term::spawn(&["matrix", SLOW_MATRIX, "--no-traces"]);
    term.wait_for_line("cell name in the progress bar (\"V on P: ...\")", |l| {
        ["atomic", "split", "pde-cache", "speculative"]
            .iter()
            .any(|p| l.contains(&format!(" on {p}: ")))
    });
    term.finish().assert_code(0);
}

#[test]
fn check_in_a_terminal_shows_progress() {
    let mut term = Term::spawn(&["check", LONG_CHECK, "--time-max", "3"]);
    let line = term.wait_for_line("check progress line", is_check_progress);
    assert!(line.contains("MiB"), "{line}");
    let run = term.finish();
    run.assert_code(3);
    run.assert_contains("INCOMPLETE: time bound (3 s) ended the run after ");
}

#[test]
fn simulate_in_a_terminal_finishes() {
    let run = Term::spawn(&["simulate", "mail-race", "--seed", "1"]).finish();
    // Seed 1's first walk finds the race (as with pipes; see tests/cli.rs).
    run.assert_code(1);
    run.assert_contains("random walk 1 found a violation");
    run.assert_contains("VIOLATION of property 1 (garbage translation)");
    run.assert_contains("replay: confirmed");
}

#[test]
fn one_ctrl_c_stops_a_long_check_with_exit_3() {
    let mut term = Term::spawn(&["check", LONG_CHECK]);
    term.wait_for_line("check progress line", is_check_progress);
    term.ctrl_c();
    let run = term.finish_within(AFTER_CTRL_C);
    run.assert_code(3);
    run.assert_contains("INCOMPLETE: an interruption (Ctrl-C) ended the run after ");
}

#[test]
fn one_ctrl_c_stops_cost_schedules_with_exit_3_and_their_spread() {
    let mut term = Term::spawn(&["cost", "cost-munmap-threads", "--schedules", "1000000"]);
    term.wait_for_line("cost progress (\"N of 1000000 schedules\")", |l| {
        l.contains("of 1000000 schedules")
    });
    term.ctrl_c();
    let run = term.finish_within(AFTER_CTRL_C);
    run.assert_code(3);
    // What ran so far is reported: min / median / max of each counter.
    run.assert_contains("executions (");
    run.assert_contains("ipis_sent");
}

#[test]
fn one_ctrl_c_stops_matrix_with_exit_3() {
    let mut term = Term::spawn(&["matrix", SLOW_MATRIX, "--no-traces"]);
    term.wait_for_line(
        "matrix progress bar (\"done/total cells\")",
        is_matrix_progress,
    );
    term.ctrl_c();
    let run = term.finish_within(AFTER_CTRL_C);
    run.assert_code(3);
    // The partial table, then the closing line saying what is missing.
    run.assert_contains("2.4.18+intel");
    run.assert_contains("; INTERRUPTED: cells not run are marked incomplete");
}

#[test]
fn plain_removes_escapes_and_splits_redrawn_lines() {
    assert_eq!(
        plain(b"\x1b[2K\r\xe2\xa0\x81 12 states (3/s)\r\n\x1b]0;t\x07done\x1b[?25h"),
        "\n\u{2801} 12 states (3/s)\ndone"
    );
    assert!(is_matrix_progress(&format!(
        "\u{2588}\u{2591}\u{2591} 12/{} cells, 3s  2.4.18 on split: P1 in 17 steps",
        matrix_cells()
    )));
    assert!(!is_matrix_progress("80 cells, 1 states"));
    assert!(is_check_progress(
        "\u{2801} 1024 states (512/s), depth 3, queue 10, 0 MiB, 1.0 s"
    ));
}
