//! A pool of worker threads that lives as long as a parallel search: a
//! job is run by the calling thread and by every worker that starts on it
//! before the caller is done with it, and the call returns when all of
//! those have finished.  No thread is spawned per job, so a search may
//! run thousands of short phases.
//!
//! The jobs share their work out (threads claim pieces from a common
//! counter or queue), so a job is done whoever takes part.  A worker that
//! the system has not scheduled by the time the caller has finished the
//! job skips it: on a loaded machine the search never waits for a thread
//! that is not running, it only loses that thread's help.
//!
//! A job borrows whatever the caller has (the search, per-phase buffers):
//! [`Pool::run`] does not return before every worker that took part is
//! done with it, also when a worker or the caller panics, so the borrow
//! never outlives the call.  That is the one `unsafe` step here: the
//! job's lifetime is erased while it is handed to the workers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// A job as the workers see it: thread number (1 and up; the caller is 0).
type Job = dyn Fn(usize) + Sync;

/// The job of the current round, its lifetime erased (see `Pool::run`).
#[derive(Clone, Copy)]
struct JobPtr(*const Job);

// SAFETY: the pointer is only dereferenced by workers while `Pool::run`
// waits for them, and the job is `Sync`.
unsafe impl Send for JobPtr {}

struct Round {
    /// Bumped for every job; a worker runs each round at most once.
    generation: u64,
    job: Option<JobPtr>,
    /// The caller has finished the job: workers that have not started it
    /// skip it.
    closed: bool,
    /// Workers running the current job.
    running: usize,
    panicked: bool,
    exit: bool,
}

struct Shared {
    round: Mutex<Round>,
    /// Workers wait here for the next round.
    start: Condvar,
    /// The caller waits here for `running == 0`.
    done: Condvar,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Round> {
        // A panicking job never holds the lock: it cannot be poisoned.
        self.round.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// Worker threads for [`Pool::run`].
pub(crate) struct Pool {
    shared: Arc<Shared>,
    handles: Vec<JoinHandle<()>>,
}

impl Pool {
    /// A pool of `threads` threads in all: the caller and `threads - 1`
    /// workers.
    pub(crate) fn new(threads: usize) -> Pool {
        let shared = Arc::new(Shared {
            round: Mutex::new(Round {
                generation: 0,
                job: None,
                closed: true,
                running: 0,
                panicked: false,
                exit: false,
            }),
            start: Condvar::new(),
            done: Condvar::new(),
        });
        let handles = (1..threads.max(1))
            .map(|id| {
                let shared = Arc::clone(&shared);
                std::thread::Builder::new()
                    .name(format!("explore-{id}"))
                    .spawn(move || work(&shared, id))
                    .expect("a worker thread starts")
            })
            .collect();
        Pool { shared, handles }
    }

    /// Threads in all, the caller's included.
    pub(crate) fn threads(&self) -> usize {
        self.handles.len() + 1
    }

    /// Runs `job(0)` on this thread and `job(t)` on every worker `t` that
    /// starts before `job(0)` has returned; returns when all of those have
    /// returned.  A panic in any of them is raised here, after all have
    /// finished.
    pub(crate) fn run(&self, job: &(dyn Fn(usize) + Sync)) {
        // SAFETY: the pointer is erased to 'static only to cross into the
        // workers; `Wait` below (also run when `job(0)` unwinds) closes the
        // round and does not let this function return before every worker
        // that started it has finished it and dropped the pointer.
        let ptr: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &Job>(job) };
        {
            let mut r = self.shared.lock();
            r.generation += 1;
            r.job = Some(JobPtr(ptr));
            r.closed = false;
            r.panicked = false;
        }
        self.shared.start.notify_all();
        struct Wait<'a>(&'a Shared);
        impl Drop for Wait<'_> {
            fn drop(&mut self) {
                let mut r = self.0.lock();
                r.closed = true;
                while r.running > 0 {
                    r = self.0.done.wait(r).unwrap_or_else(|e| e.into_inner());
                }
                r.job = None;
            }
        }
        let wait = Wait(&self.shared);
        job(0);
        drop(wait);
        assert!(!self.shared.lock().panicked, "a worker thread panicked");
    }
}

fn work(shared: &Shared, id: usize) {
    let mut seen = 0;
    loop {
        let job = {
            let mut r = shared.lock();
            while r.generation == seen && !r.exit {
                r = shared.start.wait(r).unwrap_or_else(|e| e.into_inner());
            }
            if r.exit {
                return;
            }
            seen = r.generation;
            if r.closed {
                continue;
            }
            r.running += 1;
            r.job.expect("a job in an open round")
        };
        // SAFETY: `Pool::run` keeps the job alive until `running` is 0, and
        // this worker is counted in it.
        let ok = catch_unwind(AssertUnwindSafe(|| unsafe { (*job.0)(id) })).is_ok();
        let mut r = shared.lock();
        r.panicked |= !ok;
        r.running -= 1;
        if r.running == 0 {
            shared.done.notify_all();
        }
    }
}

impl Drop for Pool {
    fn drop(&mut self) {
        self.shared.lock().exit = true;
        self.shared.start.notify_all();
        for h in self.handles.drain(..) {
            let _ = h.join();
        }
    }
}
