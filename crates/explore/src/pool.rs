//! A pool of worker threads that lives as long as a parallel search: a
//! job is broadcast to every thread (the caller's included) and the call
//! returns when all of them have finished it.  No thread is spawned per
//! job, so a search may run thousands of short phases.
//!
//! A job borrows whatever the caller has (the search, per-phase buffers):
//! [`Pool::broadcast`] does not return before every worker is done with
//! it, also when a worker or the caller panics, so the borrow never
//! outlives the call.  That is the one `unsafe` step here: the job's
//! lifetime is erased while it is handed to the workers.

use std::panic::{AssertUnwindSafe, catch_unwind};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::thread::JoinHandle;

/// A job as the workers see it: thread number (1 and up; the caller is 0).
type Job = dyn Fn(usize) + Sync;

/// The job of the current round, its lifetime erased (see `broadcast`).
#[derive(Clone, Copy)]
struct JobPtr(*const Job);

// SAFETY: the pointer is only dereferenced by workers while `broadcast`
// waits for them, and the job is `Sync`.
unsafe impl Send for JobPtr {}

struct Round {
    /// Bumped for every job; a worker runs each round once.
    generation: u64,
    job: Option<JobPtr>,
    /// Workers still running the current job.
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

/// Worker threads for [`Pool::broadcast`].
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

    /// Runs `job(t)` on every thread `t` (the caller is 0) and returns
    /// when all have returned.  A panic in any of them is raised here,
    /// after every thread has finished.
    pub(crate) fn broadcast(&self, job: &(dyn Fn(usize) + Sync)) {
        // SAFETY: the pointer is erased to 'static only to cross into the
        // workers; `Wait` below (also run when `job(0)` unwinds) does not
        // let this function return before every worker has finished the
        // round and dropped it.
        let ptr: *const Job = unsafe { std::mem::transmute::<&(dyn Fn(usize) + Sync), &Job>(job) };
        {
            let mut r = self.shared.lock();
            r.generation += 1;
            r.job = Some(JobPtr(ptr));
            r.running = self.handles.len();
            r.panicked = false;
        }
        self.shared.start.notify_all();
        struct Wait<'a>(&'a Shared);
        impl Drop for Wait<'_> {
            fn drop(&mut self) {
                let mut r = self.0.lock();
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
            r.job.expect("a job in every round")
        };
        // SAFETY: `broadcast` keeps the job alive until `running` is 0.
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
