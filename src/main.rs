use shootdown::cli::{self, Io};
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
    let stdout = std::io::stdout();
    let stderr = std::io::stderr();
    let mut out = stdout.lock();
    let mut err = stderr.lock();
    let mut io = Io {
        out: &mut out,
        err: &mut err,
        progress: cli::stderr_is_terminal(),
        stop,
    };
    let code = cli::run(std::env::args_os(), &mut io);
    drop(io);
    std::process::exit(code);
}
