//! The `shootdown` binary: installs the Ctrl-C handler, runs the command
//! line (`cli::run`) on the real stdout and stderr, and turns a failed write
//! to stdout into exit code 2.

use shootdown::cli::{self, CheckedWriter, Io};
use std::io::Write;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

fn main() {
    let stop = Arc::new(AtomicBool::new(false));
    let flag = stop.clone();
    // Ctrl-C stops the run cleanly: the explorer returns what it has learnt
    // and the command exits with 3.  A second Ctrl-C kills at once.
    let _ = ctrlc::set_handler(move || {
        if flag.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
    });
    // Unlocked handles: each write takes the lock for that write only.
    // Holding `stderr().lock()` for the whole run deadlocked every progress
    // bar drawn from a worker thread (the v0 `matrix` hang in a terminal).
    let mut out = CheckedWriter::new(std::io::stdout());
    let mut err = std::io::stderr();
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        progress: cli::stderr_is_terminal(),
        stop,
    };
    let mut code = cli::run(std::env::args_os(), &mut io);
    drop(io);
    let _ = out.flush();
    if let Some(e) = out.error() {
        // A failed write to stdout (a full disk, /dev/full) is an error; a
        // closed pipe (`| head`) is not.
        let _ = writeln!(err, "error: cannot write to standard output: {e}");
        code = cli::EXIT_BAD_INPUT;
    }
    std::process::exit(code);
}
