//! `mmap_sem`: a read-write semaphore with FIFO hand-off to waiters.
//!
//! Follows lib/rwsem.c of Linux 2.4.18 (`__rwsem_do_wake`): `up_*` grants
//! the lock to the waiters it wakes, a writer at the head alone, else every
//! reader up to the next waiting writer; readers queue behind a waiting
//! writer so that writers do not starve.  Left out: the spinlock-based
//! fast paths and the counter encoding of the lock (only who holds it and
//! who waits in what order matter here).

use super::packed::packed;
use super::sets::TaskSet;
use super::state::NONE;
use crate::limits;

/// A waiter entry with this bit set waits to write.
pub const WAIT_WRITE: u8 = 0x80;

packed! {
    /// A read-write semaphore (`mmap_sem`).
    #[derive(Clone, Debug, PartialEq, Eq, Hash)]
    #[cfg_attr(not(feature = "large"), derive(serde::Serialize, serde::Deserialize))]
    pub struct RwSem {
        /// Task holding it for writing, or NONE.
        pub writer: u8 = NONE,
        pub readers: u8 = 0,
        /// Waiting tasks in FIFO order; bit 7 set = waiting to write.
        pub waiters: [u8; limits::TASKS_MAX] = [NONE; limits::TASKS_MAX],
        pub nwait: u8 = 0,
    }
}

impl RwSem {
    pub fn new() -> RwSem {
        RwSem::default()
    }

    /// `down_read`: true if taken, false if the caller must sleep (it is
    /// then queued).  Readers queue behind a waiting writer (no starvation).
    pub fn down_read(&mut self, task: u8) -> bool {
        if self.writer == NONE && self.nwait == 0 {
            self.readers += 1;
            true
        } else {
            self.enqueue(task);
            false
        }
    }

    pub fn down_write(&mut self, task: u8) -> bool {
        if self.writer == NONE && self.readers == 0 && self.nwait == 0 {
            self.writer = task;
            true
        } else {
            self.enqueue(task | WAIT_WRITE);
            false
        }
    }

    fn enqueue(&mut self, w: u8) {
        self.waiters[self.nwait as usize] = w;
        self.nwait += 1;
    }

    fn pop(&mut self) -> u8 {
        let w = self.waiters[0];
        self.waiters.copy_within(1.., 0);
        self.waiters[limits::TASKS_MAX - 1] = NONE;
        self.nwait -= 1;
        w
    }

    /// Hands the free lock to the waiters at the head of the queue; returns
    /// the woken tasks.
    fn wake(&mut self) -> TaskSet {
        let mut woken = TaskSet::EMPTY;
        if self.nwait == 0 {
            return woken;
        }
        if self.waiters[0] & WAIT_WRITE != 0 {
            let w = self.pop() & !WAIT_WRITE;
            self.writer = w;
            woken.insert(w);
        } else {
            while self.nwait > 0 && self.waiters[0] & WAIT_WRITE == 0 {
                let r = self.pop();
                self.readers += 1;
                woken.insert(r);
            }
        }
        woken
    }

    pub fn up_read(&mut self) -> TaskSet {
        assert!(self.readers > 0, "up_read without readers");
        self.readers -= 1;
        if self.readers == 0 {
            self.wake()
        } else {
            TaskSet::EMPTY
        }
    }

    pub fn up_write(&mut self, task: u8) -> TaskSet {
        assert_eq!(
            self.writer, task,
            "up_write by a task that does not hold it"
        );
        self.writer = NONE;
        self.wake()
    }
}
