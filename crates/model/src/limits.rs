//! Hard limits of the compact state representation.  A scenario beyond one
//! of these is refused by the loader with a clear error.  Shared by every
//! layer (hardware, kernel, scenarios), so it depends on nothing.
pub const CPUS_MAX: usize = 4;
pub const FRAMES_MAX: usize = 16;
pub const USER_SLOTS_MAX: usize = 4;
pub const PTES_PER_TABLE_MAX: usize = 4;
pub const VPNS_MAX: usize = USER_SLOTS_MAX * PTES_PER_TABLE_MAX;
pub const PROCESSES_MAX: usize = 3;
/// mm_structs: the processes' plus the new ones `exec_mmap` allocates
/// when a thread of a multi-threaded process execs (one spare per such
/// `exec` op).
pub const MMS_MAX: usize = 4;
/// User threads plus named kernel threads (the per-CPU idle tasks are
/// extra and not counted).
pub const TASKS_MAX: usize = 6;
pub const PROGRAM_OPS_MAX: usize = 64;
pub const GATHER_BATCH_MAX: usize = 508;
