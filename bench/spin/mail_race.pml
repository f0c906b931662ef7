/*
 * The built-in `mail-race` scenario of shootdown, written for SPIN.
 *
 *   shootdown scenario show mail-race
 *
 * Two threads of one process p, t0 pinned to CPU0 and t1 to CPU1;
 * frames = 8, user_slots = 3, ptes_per_table = 2, other allocators on
 * (at most one frame).  t0: munmap 0x00400000 2; mmap 0x00800000 1;
 * write 0x00800000.  t1: read 0x00400000; read 0x00401000.
 *
 * This is a transcription of shootdown's Rust model (crates/model/src:
 * hw/cpu.rs, kernel/*.rs, system/mod.rs) restricted to what this scenario
 * reaches, with the same state and the same atomicity:
 *   - every shootdown action (system::Action: Task, Switch, Ipi, Walk,
 *     Speculate, Scribble) is one d_step here, so one SPIN transition;
 *   - a task step runs the kernel handlers from the task's position up to
 *     the next interleaving point (Flow::Step), through the local work
 *     shootdown folds (Flow::Continue), exactly as Machine::task_step;
 *   - the state holds the same variables as shootdown's packed state
 *     (memory words, ghost roles, MMUs, mm, per-CPU, tasks with their
 *     stale locals and return stacks, flush globals, page allocator), less
 *     the ones that are constant in this scenario (see "Left out" below).
 * So the number of states SPIN stores should equal shootdown's state count
 * (plus the states of the init process that starts the actors).
 *
 * Compile-time switches (spin -a -D...):
 *   HW=2 | HW=3 | HW=4      hardware profile: 2 split, 3 pde-cache,
 *                           4 speculative (the default, as the scenario)
 *   V2420                   kernel 2.4.20 (pte-free-fast, flush-pgtables-
 *                           in-free, leave-mm-cr3, switch-mm-cr3,
 *                           remove-page-reorder); else 2.4.18 as released
 *   SPIN_BFS                for pan -DBFS (see the scratch variables)
 *   NO_P1 NO_P2 NO_P3 NO_P4 NO_P5 NO_P6 NO_P8
 *                           leave that property unchecked (shootdown's
 *                           --property selects the checked ones)
 *
 * Properties (docs/background.md section 4) are assertions, each tagged
 * with its number in a comment on the same line:
 *   1 garbage translation, 2 stray write, 3 use after free, 4 munmap
 *   broken, 5 kernel BUG, 6 deadlock, 8 wrong address space.
 *   7 (leak) needs every thread to exit, which no thread here does.
 *
 * Left out (constant here, or unreachable in this scenario; asserted where
 * reaching it would show): a second mm (switch_mm between two mms, exec,
 * exit), pte-free-tlb and Intel's flush placement, kernel threads,
 * eviction, interrupt_aborts_walks, spec_walks_per_cpu = 2 (walk slot 2),
 * the quicklist trim (never above its high-water mark of 50), the Limit
 * cut (the allocator never runs dry here), atomic walks (profile 1).
 * Constant: mm.pgd = frame 1, mm_users = 2, every task's mm, VMA tails,
 * cpu_tlbstate.active_mm = p's mm, irqs_off, sw_prev, sw_drop,
 * tlb_tables, trimming.
 */

#ifndef HW
#define HW 4
#endif

#if HW == 2
#define SPLIT 1
#define PDE 0
#define SPEC 0
#elif HW == 3
#define SPLIT 1
#define PDE 1
#define SPEC 0
#elif HW == 4
#define SPLIT 1
#define PDE 1
#define SPEC 1
#else
#error "HW must be 2, 3 or 4"
#endif
/* The profiles' common switches. */
#define SPEC_A_WRITES 1
#define FOREIGN_MAX 1

#ifdef V2420
#define PTE_FREE_FAST 1
#define FLUSH_IN_FREE 1
#define LEAVE_CR3 1
#define SWITCH_CR3 1
#define FAST_REORDER 1
#else
#define PTE_FREE_FAST 0
#define FLUSH_IN_FREE 0
#define LEAVE_CR3 0
#define SWITCH_CR3 0
#define FAST_REORDER 0
#endif
#define ACK_FIRST 0

/* ---- constants ------------------------------------------------------- */
#define NONE 255
#define NOF 255
#define FLUSH_ALL 254
#define PGD 1          /* p's page directory */
#define MM 0           /* p's mm */
#define USERS 2        /* p's mm_users */
#define BATCH 508      /* FREE_PTE_NR */
#define QL_MAX 2       /* quicklist slots kept per CPU */

/* An entry (hw/mem.rs): Present, Accessed, Dirty, Global, frame. */
#define EP 16
#define EA 32
#define ED 64
#define EG 128
#define PRESENT(e) (((e) & EP) != 0)
#define ACCESSED(e) (((e) & EA) != 0)
#define DIRTYB(e) (((e) & ED) != 0)
#define GLOBALB(e) (((e) & EG) != 0)
#define FRAMEOF(e) ((e) & 15)
#define PRESENT_E(f, d) (EP | EA | (f) | ((d) -> ED : 0))
#define GARBAGE(f) (EP | EG | (f))

/* A TLB entry (hw/cpu.rs): 0 or (frame + 1) | DIRTY | GLOBAL. */
#define T_VALID(x) ((x) != 0)
#define T_FRAME(x) (((x) & 63) - 1)
#define T_GLOBAL(x) (((x) & 128) != 0)
#define T_DIRTY(x) (((x) & 64) != 0)

/* Ghost roles (kernel/ghost.rs); the root is always PGD. */
#define R_FREE 0
#define R_SWAPPER 1
#define R_PAGEDIR 2
#define R_PT 3
#define R_DETACHED 4
#define R_ALLOC 5
#define R_DATA 6
#define R_CACHED 7
#define R_FOREIGN 8
#define ROLE(tag, arg) ((tag) * 16 + (arg))

/* Task status. */
#define RUNNING 0
#define RUNNABLE 1
#define BLOCKED 2
#define DEAD 3

/* Kernel positions (kernel/kpc.rs), those this scenario reaches. */
#define K_USER 0
#define K_WAIT_WALK 1
#define K_FAULT_FIND_VMA 2
#define K_FAULT_PTE_ALLOC 3
#define K_FAULT_ALLOC_TABLE 4
#define K_FAULT_RELOCK 5
#define K_FAULT_POPULATE 6
#define K_FAULT_PTE 7
#define K_FAULT_ANON_ALLOC 8
#define K_FAULT_ANON_RELOCK 9
#define K_FAULT_UNLOCK 10
#define K_FAULT_UP_READ 11
#define K_FAULT_SEGV 12
#define K_MUNMAP_DETACH 13
#define K_MUNMAP_FREE_PGTABLES 14
#define K_MUNMAP_FLUSH_PGTABLES 15
#define K_MUNMAP_DONE 16
#define K_MUNMAP_UP_WRITE 17
#define K_MMAP_UP_WRITE 18
#define K_ZAP_LOCK 19
#define K_ZAP_LOOP 20
#define K_ZAP_CLEAR_AFTER_FREE 21
#define K_ZAP_FREE_AFTER_CLEAR 22
#define K_ZAP_UNLOCK 23
#define K_FINISH_FLUSH 24
#define K_FINISH_FREE 25
#define K_FLUSH_LOCAL 26
#define K_FLUSH_PAGE_LOCAL 27
#define K_FLUSH_OTHERS_SEND 28
#define K_FLUSH_OTHERS_WAIT 29
#define K_CPT_LOCK 30
#define K_CPT_SLOT 31
#define K_CPT_FREE 32
#define K_CPT_UNLOCK 33
#define K_CPT_AFTER_UNLOCK 34
#define K_CPT_CHECK_CACHE 35
#define K_RETURN 36

/* Flow of a handler (kernel/machine.rs). */
#define STEP 0
#define CONT 1

/* The flush-IPI handler's work (kernel/state.rs IrqWork). */
#define IRQ_NONE 0
#define IRQ_FLUSH 1
#define IRQ_LEAVE 2
#define IRQ_LEAVE_CR3 3

/* What a user store writes (kernel/machine.rs Data). */
#define PLAIN 0
#define PTELIKE 1

/* rwsem waiter bit (kernel/rwsem.rs). */
#define WW 128

/* The programs: t0 = task 0 on CPU0, t1 = task 1 on CPU1; tasks 2 and 3
 * are the idle tasks of CPU0 and CPU1. */
#define OP_NONE 0
#define OP_READ 1
#define OP_WRITE 2
#define OP_MMAP 3
#define OP_MUNMAP 4
#define PLEN(t) ((t) == 0 -> 3 : 2)
#define OPK(t, p) ((t) == 0 -> ((p) == 0 -> OP_MUNMAP : ((p) == 1 -> OP_MMAP : ((p) == 2 -> OP_WRITE : OP_NONE))) : ((p) < 2 -> OP_READ : OP_NONE))
#define OPV(t, p) ((t) == 0 -> 4 : 2 + (p))
#define OPLO(t, p) ((p) == 0 -> 2 : 4)
#define OPHI(t, p) ((p) == 0 -> 4 : 5)
#define RANGE(l, h) ((1 << (h)) - (1 << (l)))
#define SM(s) (3 << (2 * (s)))

/* ---- the state ------------------------------------------------------- */
/* Memory: 8 frames of 4 words (hw::mem::ENTRIES), frame f word i. */
byte mem[32];
#define M(f, i) mem[(f) * 4 + (i)]
/* Ghost roles. */
byte role[8];
/* MMUs: CR3, TLB (6 pages), PDE cache (3 slots), walks (0 demand,
 * 1 speculative). */
byte cr3[2];
byte tlb[12];
byte pde[6];
byte wvpn[4];
byte wtab[4];
bit wwr[4];
/* p's mm_struct. */
byte mcount;
byte vmmask;
byte vmas;
byte unmapped;
byte sem_writer;
byte sem_readers;
byte sem_w[2];
byte sem_nwait;
byte ptl;
/* Per CPU. */
byte current[2];
bit lazy[2];
bit in_sched[2];
bit ipi[2];
byte irq[2];
bit irq_ack[2];
byte irq_va[2];
byte ql[4];
byte ql_len[2];
/* Tasks: status of all four, the rest of the two user threads. */
byte status[4];
byte pc[2];
byte at[2];
byte stk[8];
byte sp[2];
byte fault_vpn[2];
bit fwrite[2];
byte new_table[2];
byte new_page[2];
byte kmm[2];
byte lo[2];
byte hi[2];
byte zap_vpn[2];
byte zpage[2];
byte slots[2];
byte slot[2];
byte table[2];
bit tlb_fast[2];
short tlb_nr[2];
byte tlb_pages[2];
byte flush_mask[2];
byte flush_va[2];
/* Flush globals of smp.c. */
byte flock;
byte fmm;
byte fva;
byte fmask;
/* The page allocator. */
byte afree[8];
byte alen;
byte foreign;

/* Scratch of the d_steps: not part of the state vector.  SPIN's
 * breadth-first search (pan -DBFS) refuses hidden variables: with
 * -DSPIN_BFS they are ordinary ones, zeroed at the end of every step
 * (reset_scratch), so that they add no state. */
#ifdef SPIN_BFS
#define HIDDEN
#else
#define HIDDEN hidden
#endif
HIDDEN byte hflow, ht, he, hf, hv, hs, hx, hj, htab, hslot, hvpn, hop;
HIDDEN byte hws, hr_entry, hr_tab, hr_vpn, hupd, hwoken, hpop, hprev;
HIDDEN byte hmask, hva, hfound, hdata, hr3, hfr, hnext;
HIDDEN byte hwr, hr_filled, hr_wrote, hok;

inline reset_scratch() {
#ifdef SPIN_BFS
  hflow = 0; ht = 0; he = 0; hf = 0; hv = 0; hs = 0; hx = 0; hj = 0; htab = 0; hslot = 0;
  hvpn = 0; hop = 0; hws = 0; hr_entry = 0; hr_tab = 0; hr_vpn = 0; hupd = 0; hwoken = 0;
  hpop = 0; hprev = 0; hmask = 0; hva = 0; hfound = 0; hdata = 0; hr3 = 0; hfr = 0;
  hnext = 0; hwr = 0; hr_filled = 0; hr_wrote = 0; hok = 0;
#endif
  skip
}

/* ---- predicates ------------------------------------------------------ */
#define IS_USER(t) ((t) < 2)
#define IS_IDLE(t) ((t) >= 2)
#define AT(t) (IS_USER(t) -> at[t] : K_USER)
#define IN_IRQ(c) (irq[c] != IRQ_NONE || irq_ack[c])
/* entry.rs interruptible */
#define INTERRUPTIBLE(c) (AT(current[c]) != K_WAIT_WALK && !IN_IRQ(c))
#define FIN(t) (status[t] == DEAD || (at[t] == K_USER && pc[t] >= PLEN(t)))
/* free_pgtables' slots: touched by [lo, hi) and used by no VMA. */
#define FS1(t, s) (((RANGE(lo[t], hi[t]) & SM(s)) != 0 && (vmas & SM(s)) == 0) -> (1 << (s)) : 0)
#define FREE_SLOTS(t) (FS1(t, 0) | FS1(t, 1) | FS1(t, 2))
/* Whether the task's step from its position is enabled (not Flow::
 * Disabled, after any Flow::Continue): the lock it spins on is free. */
#define POS_EN(t) ( \
  (at[t] == K_USER && pc[t] < PLEN(t)) || \
  (at[t] == K_FAULT_FIND_VMA && (((vmas >> fault_vpn[t]) & 1) == 0 || ptl == NONE)) || \
  ((at[t] == K_FAULT_RELOCK || at[t] == K_FAULT_ANON_RELOCK || at[t] == K_ZAP_LOCK || \
    at[t] == K_CPT_LOCK || at[t] == K_MUNMAP_DETACH) && ptl == NONE) || \
  (at[t] == K_MUNMAP_FREE_PGTABLES && (FREE_SLOTS(t) == 0 || ptl == NONE)) || \
  (at[t] == K_MMAP_UP_WRITE && ((vmas & RANGE(lo[t], hi[t])) == 0 || ptl == NONE)) || \
  (at[t] == K_FLUSH_OTHERS_SEND && flock == NONE) || \
  (at[t] == K_FLUSH_OTHERS_WAIT && fmask == 0) || \
  (at[t] != K_USER && at[t] != K_WAIT_WALK && at[t] != K_FAULT_FIND_VMA && \
   at[t] != K_FAULT_RELOCK && at[t] != K_FAULT_ANON_RELOCK && at[t] != K_ZAP_LOCK && \
   at[t] != K_CPT_LOCK && at[t] != K_MUNMAP_DETACH && at[t] != K_MUNMAP_FREE_PGTABLES && \
   at[t] != K_MMAP_UP_WRITE && at[t] != K_FLUSH_OTHERS_SEND && at[t] != K_FLUSH_OTHERS_WAIT))
/* Action::Task is enabled (machine.rs task_step_storing). */
#define TASK_EN(c) (!in_sched[c] && !IN_IRQ(c) && IS_USER(current[c]) && POS_EN(current[c]))
/* entry.rs next_op_stores, and the store happening: a TLB hit with Dirty
 * (with split walks a miss starts a walk and stores nothing). */
#define OPVPN(c) OPV(current[c], pc[current[c]])
#define NEXT_STORES(c) (!in_sched[c] && !IN_IRQ(c) && IS_USER(current[c]) && \
  at[current[c]] == K_USER && OPK(current[c], pc[current[c]]) == OP_WRITE)
#define WILL_STORE(c) (T_VALID(tlb[(c) * 6 + OPVPN(c)]) && T_DIRTY(tlb[(c) * 6 + OPVPN(c)]))
/* sched.rs switch_choices, for the two tasks CPU c may run. */
#define RUNNABLE_ON(c, n) ((n) != current[c] && status[n] == RUNNABLE && !IS_IDLE(n) && \
  current[0] != (n) && current[1] != (n))
#define PREEMPTIBLE(c) (IS_USER(current[c]) -> at[current[c]] == K_USER : 1)
#define CUR_RUNS(c) (status[current[c]] == RUNNING || status[current[c]] == RUNNABLE)
#define SW_EN(c, n) (!IN_IRQ(c) && \
  (in_sched[c] -> \
    (RUNNABLE_ON(c, n) || ((n) == current[c] && CUR_RUNS(c)) || \
     ((n) == 2 + (c) && !RUNNABLE_ON(c, c) && !CUR_RUNS(c))) : \
    (PREEMPTIBLE(c) && RUNNABLE_ON(c, n))))
/* smp.rs ipi_deliverable */
#define IPI_EN(c) (IN_IRQ(c) || (ipi[c] && INTERRUPTIBLE(c)))
/* A speculative walk of a page of slot s would get past the pgd. */
#define REACHES(c, s) ((PDE && pde[(c) * 3 + (s)] != NOF) || PRESENT(M(cr3[c], s)))
/* system/mod.rs is_progress: task steps, switches, IPIs, demand walks. */
#define PROGRESS(c) (TASK_EN(c) || SW_EN(c, c) || SW_EN(c, 2 + (c)) || IPI_EN(c) || wvpn[(c) * 2] != NONE)

/* ---- properties -------------------------------------------------------- */
/* A walk's pte read: the frame must be the page table of that slot under
 * the walking CPU's CR3 when it fills the TLB (1) or writes flags (2). */
inline check_pte_read(c) {
  hok = (role[hr_tab] == ROLE(R_PT, hr_vpn / 2) && cr3[c] == PGD);
#ifndef NO_P1
  assert(hok || !hr_filled);   /* property 1: garbage translation */
#endif
#ifndef NO_P2
  assert(hok || !hr_wrote);    /* property 2: stray write */
#endif
  skip
}

/* A user load or store reached frame fr for page vpn. */
inline check_access(c, vpn, fr) {
#ifndef NO_P8
  assert(cr3[c] == PGD);                      /* property 8: wrong address space */
#endif
#ifndef NO_P4
  assert(((unmapped >> vpn) & 1) == 0);       /* property 4: munmap broken */
#endif
#ifndef NO_P3
  assert(role[fr] == ROLE(R_DATA, vpn));      /* property 3: use after free */
#endif
  skip
}

/* A thread returns to user mode. */
inline check_rtu(c) {
#ifndef NO_P8
  assert(cr3[c] == PGD);                      /* property 8: wrong address space */
#endif
  skip
}

inline bug() {
#ifndef NO_P5
  assert(0);                                  /* property 5: kernel BUG */
#endif
  skip
}

/* After every step: the state is checked as shootdown's check_state. */
inline post() {
#ifndef NO_P6
  assert(PROGRESS(0) || PROGRESS(1) || (FIN(0) && FIN(1)));   /* property 6: deadlock */
#endif
  reset_scratch()
}

/* ---- hardware (hw/cpu.rs) ---------------------------------------------- */
inline write_cr3(c, root) {
  hr3 = root;
  cr3[c] = hr3;
  for (hj : 0 .. 5) {
    if
    :: !T_GLOBAL(tlb[c * 6 + hj]) -> tlb[c * 6 + hj] = 0
    :: else -> skip
    fi
  }
  for (hj : 0 .. 2) { pde[c * 3 + hj] = NOF }
  for (hj : 0 .. 1) { wvpn[c * 2 + hj] = NONE; wtab[c * 2 + hj] = NOF; wwr[c * 2 + hj] = 0 }
}

inline invlpg(c, vpn) {
  tlb[c * 6 + vpn] = 0;
  for (hj : 0 .. 2) { pde[c * 3 + hj] = NOF }
  for (hj : 0 .. 1) { wvpn[c * 2 + hj] = NONE; wtab[c * 2 + hj] = NOF; wwr[c * 2 + hj] = 0 }
}

/* read_pte: sets hr_entry, hr_filled, hr_wrote, hr_tab, hr_vpn. */
inline read_pte(c, spec, vpn, tab, wr) {
  hr_tab = tab;
  hr_vpn = vpn;
  hr_entry = M(hr_tab, hr_vpn % 2);
  hr_filled = 0;
  hr_wrote = 0;
  if
  :: PRESENT(hr_entry) ->
     hupd = hr_entry | EA | (wr -> ED : 0);
     if
     :: spec && !SPEC_A_WRITES && hupd != hr_entry -> skip
     :: else ->
        if
        :: hupd != hr_entry -> M(hr_tab, hr_vpn % 2) = hupd; hr_wrote = 1
        :: else -> skip
        fi;
        tlb[c * 6 + hr_vpn] = (FRAMEOF(hr_entry) + 1) | (GLOBALB(hr_entry) -> 128 : 0) | (DIRTYB(hupd) -> 64 : 0);
        hr_filled = 1
     fi
  :: else -> skip
  fi
}

/* start_walk in slot w: hws = 0 pgd not present, 1 in flight. */
inline start_walk(c, w, vpn, wr) {
  hslot = vpn / 2;
  hws = 2;
  if
  :: PDE && pde[c * 3 + hslot] != NOF -> htab = pde[c * 3 + hslot]
  :: else ->
     he = M(cr3[c], hslot);
     if
     :: !PRESENT(he) -> hws = 0
     :: else ->
        if
        :: !ACCESSED(he) -> M(cr3[c], hslot) = he | EA
        :: else -> skip
        fi;
        htab = FRAMEOF(he);
        if
        :: PDE -> pde[c * 3 + hslot] = htab
        :: else -> skip
        fi
     fi
  fi;
  if
  :: hws == 2 ->
     assert(SPLIT);
     wvpn[c * 2 + w] = vpn; wtab[c * 2 + w] = htab; wwr[c * 2 + w] = wr;
     hws = 1
  :: else -> skip
  fi
}

/* A user store fills the frame with one word (machine.rs Data). */
inline user_store(fr, dat) {
  hx = (dat == PTELIKE -> GARBAGE(fr) : 0);
  for (hj : 0 .. 3) { M(fr, hj) = hx }
}

/* ---- page allocator (page_alloc.rs, pgalloc.rs) ------------------------ */
inline free_page(c, f) {
  if
  :: role[f] == ROLE(R_FREE, 0) -> bug()
  :: else ->
     role[f] = ROLE(R_FREE, 0);
     afree[alen] = f;
     alen++
  fi
}

/* alloc_page: sets hf.  The scenario never runs the allocator dry. */
inline alloc_page(r) {
  assert(alen > 0);
  alen--;
  hf = afree[alen];
  afree[alen] = NOF;
  for (hj : 0 .. 3) { M(hf, hj) = 0 }
  role[hf] = r
}

inline pte_free(c, f) {
  if
  :: PTE_FREE_FAST ->
     assert(ql_len[c] < QL_MAX);
     hx = (ql_len[c] > 0 -> (ql[c * 2 + ql_len[c] - 1] & 15) : 0);
     ql[c * 2 + ql_len[c]] = f;
     ql_len[c]++;
     M(f, 0) = hx;
     role[f] = ROLE(R_CACHED, c)
  :: else -> free_page(c, f)
  fi
}

/* ---- mmap_sem (rwsem.rs) ----------------------------------------------- */
inline sem_enqueue(x) {
  assert(sem_nwait < 2);
  sem_w[sem_nwait] = x;
  sem_nwait++
}

inline sem_pop() {
  hpop = sem_w[0];
  sem_w[0] = sem_w[1];
  sem_w[1] = NONE;
  sem_nwait--
}

/* The lock is free: hand it to the head waiters and wake them. */
inline sem_wake() {
  hwoken = 0;
  if
  :: sem_nwait == 0 -> skip
  :: sem_nwait > 0 && (sem_w[0] & WW) != 0 ->
     sem_pop();
     sem_writer = hpop & 127;
     hwoken = 1 << sem_writer
  :: else ->
     do
     :: sem_nwait > 0 && (sem_w[0] & WW) == 0 ->
        sem_pop();
        sem_readers++;
        hwoken = hwoken | (1 << hpop)
     :: else -> break
     od
  fi;
  for (hj : 0 .. 1) {
    if
    :: ((hwoken >> hj) & 1) && status[hj] == BLOCKED -> status[hj] = RUNNABLE
    :: else -> skip
    fi
  }
}

inline up_read() {
  assert(sem_readers > 0);
  sem_readers--;
  if
  :: sem_readers == 0 -> sem_wake()
  :: else -> skip
  fi
}

inline up_write(t) {
  assert(sem_writer == t);
  sem_writer = NONE;
  sem_wake()
}

/* ---- kernel plumbing (machine.rs, sched.rs) ------------------------------ */
inline call(t, target, ret) {
  assert(sp[t] < 4);
  stk[t * 4 + sp[t]] = ret;
  sp[t]++;
  at[t] = target
}

inline pop_returns(t) {
  do
  :: at[t] == K_RETURN -> assert(sp[t] > 0); sp[t]--; at[t] = stk[t * 4 + sp[t]]
  :: else -> break
  od
}

inline block(c, t, resume) {
  at[t] = resume;
  status[t] = BLOCKED;
  in_sched[c] = 1
}

inline return_to_user(c, t, skipop) {
  at[t] = K_USER;
  if
  :: skipop -> pc[t]++
  :: else -> skip
  fi;
  check_rtu(c)
}

inline ptl_take(c) {
  assert(ptl == NONE);   /* the guard (POS_EN) said so */
  ptl = c
}

inline ptl_release(c) {
  assert(ptl == c);
  ptl = NONE
}

inline pte_clear(t, vpn) {
  htab = FRAMEOF(M(PGD, vpn / 2));
  M(htab, vpn % 2) = 0
}

/* ---- entry.rs, fault.rs: user mode, accesses, page faults -------------- */
inline page_fault(c, t, vpn, wr) {
  tlb[c * 6 + vpn] = 0;
  pde[c * 3 + vpn / 2] = NOF;
  fault_vpn[t] = vpn;
  fwrite[t] = wr;
  if
  :: sem_writer == NONE && sem_nwait == 0 -> sem_readers++; at[t] = K_FAULT_FIND_VMA
  :: else -> sem_enqueue(t); block(c, t, K_FAULT_FIND_VMA)
  fi
}

inline access(c, t, dat) {
  he = tlb[c * 6 + hvpn];
  if
  :: T_VALID(he) && (!hwr || T_DIRTY(he)) ->
     hfr = T_FRAME(he);
     check_access(c, hvpn, hfr);
     if
     :: hwr -> user_store(hfr, dat)
     :: else -> skip
     fi;
     pc[t]++
  :: else ->
     start_walk(c, 0, hvpn, hwr);
     if
     :: hws == 0 -> page_fault(c, t, hvpn, hwr)
     :: else -> at[t] = K_WAIT_WALK
     fi
  fi;
  hflow = STEP
}

inline down_write_sem(c, t, next) {
  kmm[t] = MM;
  lo[t] = OPLO(t, pc[t]);
  hi[t] = OPHI(t, pc[t]);
  if
  :: sem_writer == NONE && sem_readers == 0 && sem_nwait == 0 -> sem_writer = t; at[t] = next
  :: else -> sem_enqueue(t | WW); block(c, t, next)
  fi;
  hflow = STEP
}

inline user_op(c, t, dat) {
  hop = OPK(t, pc[t]);
  if
  :: hop == OP_READ -> hvpn = OPV(t, pc[t]); hwr = 0; access(c, t, dat)
  :: hop == OP_WRITE -> hvpn = OPV(t, pc[t]); hwr = 1; access(c, t, dat)
  :: hop == OP_MUNMAP -> down_write_sem(c, t, K_MUNMAP_DETACH)
  :: hop == OP_MMAP -> down_write_sem(c, t, K_MMAP_UP_WRITE)
  :: else -> assert(0)
  fi
}

/* The demand walk's (w = 0) or speculative walk's (w = 1) pte read. */
inline finish_walk(c, w, dat) {
  hvpn = wvpn[c * 2 + w];
  htab = wtab[c * 2 + w];
  hwr = wwr[c * 2 + w];
  wvpn[c * 2 + w] = NONE; wtab[c * 2 + w] = NOF; wwr[c * 2 + w] = 0;
  read_pte(c, w != 0, hvpn, htab, hwr);
  check_pte_read(c);
  if
  :: w == 0 ->
     ht = current[c];
     assert(IS_USER(ht) && at[ht] == K_WAIT_WALK);
     if
     :: hr_filled ->
        hfr = FRAMEOF(hr_entry);
        check_access(c, hvpn, hfr);
        if
        :: hwr -> user_store(hfr, dat)
        :: else -> skip
        fi;
        at[ht] = K_USER;
        pc[ht]++
     :: else -> page_fault(c, ht, hvpn, hwr)
     fi
  :: else -> skip
  fi
}

/* ---- memory.rs: handle_mm_fault ------------------------------------------ */
inline fault_find_vma(c, t) {
  if
  :: ((vmas >> fault_vpn[t]) & 1) == 0 -> at[t] = K_FAULT_SEGV; hflow = CONT
  :: else -> ptl_take(c); at[t] = K_FAULT_PTE_ALLOC; hflow = STEP
  fi
}

inline fault_pte_alloc(c, t) {
  hslot = fault_vpn[t] / 2;
  if
  :: PRESENT(M(PGD, hslot)) -> at[t] = K_FAULT_PTE; hflow = CONT
  :: else ->
     if
     :: ql_len[c] > 0 ->
        ql_len[c]--;
        hf = ql[c * 2 + ql_len[c]];
        ql[c * 2 + ql_len[c]] = NOF;
        M(hf, 0) = M(hf, 1);
        role[hf] = ROLE(R_PT, hslot);
        M(PGD, hslot) = PRESENT_E(hf, 1);
        at[t] = K_FAULT_PTE
     :: else -> ptl_release(c); at[t] = K_FAULT_ALLOC_TABLE
     fi;
     hflow = STEP
  fi
}

inline fault_alloc_table(c, t) {
  alloc_page(ROLE(R_ALLOC, 0));
  new_table[t] = hf;
  at[t] = K_FAULT_RELOCK;
  hflow = STEP
}

inline fault_relock(c, t) {
  ptl_take(c);
  at[t] = K_FAULT_POPULATE;
  hflow = STEP
}

inline fault_populate(c, t) {
  hslot = fault_vpn[t] / 2;
  hf = new_table[t];
  new_table[t] = NOF;
  if
  :: PRESENT(M(PGD, hslot)) -> pte_free(c, hf)
  :: else -> role[hf] = ROLE(R_PT, hslot); M(PGD, hslot) = PRESENT_E(hf, 1)
  fi;
  at[t] = K_FAULT_PTE;
  hflow = STEP
}

inline fault_pte(c, t) {
  hvpn = fault_vpn[t];
  htab = FRAMEOF(M(PGD, hvpn / 2));
  he = M(htab, hvpn % 2);
  if
  :: PRESENT(he) ->
     M(htab, hvpn % 2) = he | EA | (fwrite[t] -> ED : 0);
     kmm[t] = MM;
     call(t, K_FLUSH_PAGE_LOCAL, K_FAULT_UNLOCK)
  :: !PRESENT(he) && fwrite[t] -> ptl_release(c); at[t] = K_FAULT_ANON_ALLOC
  :: else ->
     alloc_page(ROLE(R_DATA, hvpn));
     M(htab, hvpn % 2) = PRESENT_E(hf, 0);
     at[t] = K_FAULT_UNLOCK
  fi;
  hflow = STEP
}

inline fault_anon_alloc(c, t) {
  alloc_page(ROLE(R_ALLOC, 0));
  new_page[t] = hf;
  at[t] = K_FAULT_ANON_RELOCK;
  hflow = STEP
}

inline fault_anon_relock(c, t) {
  ptl_take(c);
  hvpn = fault_vpn[t];
  htab = FRAMEOF(M(PGD, hvpn / 2));
  hf = new_page[t];
  new_page[t] = NOF;
  if
  :: PRESENT(M(htab, hvpn % 2)) -> free_page(c, hf)
  :: else -> role[hf] = ROLE(R_DATA, hvpn); M(htab, hvpn % 2) = PRESENT_E(hf, 1)
  fi;
  at[t] = K_FAULT_UNLOCK;
  hflow = STEP
}

inline fault_unlock(c, t) {
  ptl_release(c);
  at[t] = K_FAULT_UP_READ;
  hflow = STEP
}

inline fault_up_read(c, t) {
  up_read();
  return_to_user(c, t, 0);
  hflow = STEP
}

inline fault_segv(c, t) {
  up_read();
  return_to_user(c, t, 1);
  hflow = STEP
}

/* ---- mmap.rs: munmap, mmap ------------------------------------------------- */
inline munmap_detach(c, t) {
  assert(ptl == NONE);
  vmas = vmas & (255 ^ RANGE(lo[t], hi[t]));
  call(t, K_ZAP_LOCK, K_MUNMAP_FREE_PGTABLES);
  hflow = CONT
}

inline munmap_free_pgtables(c, t) {
  hx = FREE_SLOTS(t);
  if
  :: hx == 0 -> at[t] = K_MUNMAP_DONE
  :: else -> slots[t] = hx; call(t, K_CPT_LOCK, K_MUNMAP_FLUSH_PGTABLES)
  fi;
  hflow = CONT
}

inline munmap_flush_pgtables(c, t) {
  if
  :: FLUSH_IN_FREE -> call(t, K_FLUSH_LOCAL, K_MUNMAP_DONE)
  :: else -> at[t] = K_MUNMAP_DONE
  fi;
  hflow = CONT
}

inline munmap_done(c, t) {
  at[t] = (sp[t] > 0 -> K_RETURN : K_MUNMAP_UP_WRITE);
  hflow = CONT
}

inline munmap_up_write(c, t) {
  unmapped = unmapped | RANGE(lo[t], hi[t]);
  up_write(t);
  return_to_user(c, t, 1);
  hflow = STEP
}

inline mmap_up_write(c, t) {
  if
  :: (vmas & RANGE(lo[t], hi[t])) != 0 ->
     call(t, K_MUNMAP_DETACH, K_MMAP_UP_WRITE);
     hflow = CONT
  :: else ->
     vmas = vmas | RANGE(lo[t], hi[t]);
     unmapped = unmapped & (255 ^ RANGE(lo[t], hi[t]));
     up_write(t);
     return_to_user(c, t, 1);
     hflow = STEP
  fi
}

/* ---- memory.rs, tlb.rs: zap_page_range and the mmu_gather --------------- */
inline zap_lock(c, t) {
  ptl_take(c);
  tlb_fast[t] = (USERS == 1);
  tlb_nr[t] = 0;
  tlb_pages[t] = 0;
  zap_vpn[t] = lo[t];
  at[t] = K_ZAP_LOOP;
  hflow = STEP
}

inline zap_loop(c, t) {
  hfound = NONE;
  hv = zap_vpn[t];
  do
  :: hv < hi[t] && hfound == NONE ->
     he = M(PGD, hv / 2);
     if
     :: PRESENT(he) && PRESENT(M(FRAMEOF(he), hv % 2)) -> hfound = hv
     :: else -> skip
     fi;
     hv++
  :: else -> break
  od;
  if
  :: hfound == NONE ->
     call(t, K_FINISH_FLUSH, K_ZAP_UNLOCK);
     hflow = CONT
  :: else ->
     zap_vpn[t] = hfound + 1;
     hdata = FRAMEOF(M(FRAMEOF(M(PGD, hfound / 2)), hfound % 2));
     /* tlb_remove_page */
     if
     :: tlb_fast[t] && FAST_REORDER ->
        pte_clear(t, hfound); zpage[t] = hdata; at[t] = K_ZAP_FREE_AFTER_CLEAR
     :: tlb_fast[t] && !FAST_REORDER ->
        free_page(c, hdata); at[t] = K_ZAP_CLEAR_AFTER_FREE
     :: else ->
        pte_clear(t, hfound);
        tlb_pages[t] = tlb_pages[t] | (1 << hdata);
        tlb_nr[t]++;
        assert(tlb_nr[t] < BATCH)
     fi;
     hflow = STEP
  fi
}

inline zap_clear_after_free(c, t) {
  hvpn = zap_vpn[t] - 1;
  pte_clear(t, hvpn);
  at[t] = K_ZAP_LOOP;
  hflow = STEP
}

inline zap_free_after_clear(c, t) {
  hf = zpage[t];
  zpage[t] = NOF;
  free_page(c, hf);
  at[t] = K_ZAP_LOOP;
  hflow = STEP
}

inline zap_unlock(c, t) {
  ptl_release(c);
  at[t] = K_RETURN;
  hflow = STEP
}

inline finish_flush(c, t) {
  if
  :: tlb_fast[t] -> at[t] = K_FLUSH_LOCAL
  :: !tlb_fast[t] && tlb_nr[t] == 0 -> at[t] = K_RETURN
  :: else -> tlb_nr[t] = 0; call(t, K_FLUSH_LOCAL, K_FINISH_FREE)
  fi;
  hflow = CONT
}

inline finish_free(c, t) {
  if
  :: tlb_pages[t] == 0 -> at[t] = K_RETURN; hflow = CONT
  :: else ->
     hf = 0;
     do
     :: ((tlb_pages[t] >> hf) & 1) == 0 -> hf++
     :: else -> break
     od;
     tlb_pages[t] = tlb_pages[t] & (255 ^ (1 << hf));
     free_page(c, hf);
     hflow = STEP
  fi
}

/* ---- smp.rs: flush_tlb_mm, flush_tlb_page, flush_tlb_others ------------- */
inline flush_here_then_others(c, t, va) {
  hmask = vmmask & (255 ^ (1 << c));
  flush_mask[t] = hmask;
  flush_va[t] = va;
  /* active_mm is p's mm on both CPUs, and the task has an mm: flush here. */
  assert(kmm[t] == MM);
  if
  :: va == FLUSH_ALL -> write_cr3(c, cr3[c])
  :: else -> invlpg(c, va)
  fi;
  at[t] = (hmask == 0 -> K_RETURN : K_FLUSH_OTHERS_SEND);
  hflow = STEP
}

inline flush_others_send(c, t) {
  assert(flock == NONE);
  flock = c;
  fmm = kmm[t];
  fva = flush_va[t];
  fmask = flush_mask[t];
  for (hj : 0 .. 1) {
    if
    :: (fmask >> hj) & 1 -> ipi[hj] = 1
    :: else -> skip
    fi
  }
  at[t] = K_FLUSH_OTHERS_WAIT;
  hflow = STEP
}

inline flush_others_wait(c, t) {
  assert(fmask == 0);
  flock = NONE;
  fmm = NONE;
  fva = NONE;
  at[t] = K_RETURN;
  hflow = STEP
}

/* ---- memory.rs: clear_page_tables ---------------------------------------- */
inline cpt_lock(c, t) {
  ptl_take(c);
  tlb_fast[t] = 0;
  tlb_nr[t] = 0;
  tlb_pages[t] = 0;
  slot[t] = 0;
  at[t] = K_CPT_SLOT;
  hflow = STEP
}

inline cpt_slot(c, t) {
  hs = NONE;
  hv = slot[t];
  do
  :: hv < 3 && hs == NONE ->
     if
     :: ((slots[t] >> hv) & 1) && PRESENT(M(PGD, hv)) -> hs = hv
     :: else -> skip
     fi;
     hv++
  :: else -> break
  od;
  if
  :: hs == NONE -> at[t] = K_CPT_UNLOCK; hflow = CONT
  :: else ->
     htab = FRAMEOF(M(PGD, hs));
     M(PGD, hs) = 0;
     role[htab] = ROLE(R_DETACHED, hs);
     slot[t] = hs + 1;
     table[t] = htab;
     at[t] = K_CPT_FREE;
     hflow = STEP
  fi
}

inline cpt_free(c, t) {
  hf = table[t];
  table[t] = NOF;
  pte_free(c, hf);
  at[t] = K_CPT_SLOT;
  hflow = STEP
}

inline cpt_unlock(c, t) {
  ptl_release(c);
  at[t] = K_CPT_AFTER_UNLOCK;
  hflow = STEP
}

/* No flush here (that is Intel's placement); check_pgt_cache never trims
 * (the quicklist stays under its high-water mark). */
inline cpt_after_unlock(c, t) {
  assert(ql_len[c] <= 50);
  at[t] = K_RETURN;
  hflow = CONT
}

/* ---- a task step (machine.rs task_step_storing) ------------------------- */
inline task_step(c, dat) {
  ht = current[c];
  hflow = CONT;
  do
  :: hflow == CONT ->
     if
     :: at[ht] == K_USER -> user_op(c, ht, dat)
     :: at[ht] == K_FAULT_FIND_VMA -> fault_find_vma(c, ht)
     :: at[ht] == K_FAULT_PTE_ALLOC -> fault_pte_alloc(c, ht)
     :: at[ht] == K_FAULT_ALLOC_TABLE -> fault_alloc_table(c, ht)
     :: at[ht] == K_FAULT_RELOCK -> fault_relock(c, ht)
     :: at[ht] == K_FAULT_POPULATE -> fault_populate(c, ht)
     :: at[ht] == K_FAULT_PTE -> fault_pte(c, ht)
     :: at[ht] == K_FAULT_ANON_ALLOC -> fault_anon_alloc(c, ht)
     :: at[ht] == K_FAULT_ANON_RELOCK -> fault_anon_relock(c, ht)
     :: at[ht] == K_FAULT_UNLOCK -> fault_unlock(c, ht)
     :: at[ht] == K_FAULT_UP_READ -> fault_up_read(c, ht)
     :: at[ht] == K_FAULT_SEGV -> fault_segv(c, ht)
     :: at[ht] == K_MUNMAP_DETACH -> munmap_detach(c, ht)
     :: at[ht] == K_MUNMAP_FREE_PGTABLES -> munmap_free_pgtables(c, ht)
     :: at[ht] == K_MUNMAP_FLUSH_PGTABLES -> munmap_flush_pgtables(c, ht)
     :: at[ht] == K_MUNMAP_DONE -> munmap_done(c, ht)
     :: at[ht] == K_MUNMAP_UP_WRITE -> munmap_up_write(c, ht)
     :: at[ht] == K_MMAP_UP_WRITE -> mmap_up_write(c, ht)
     :: at[ht] == K_ZAP_LOCK -> zap_lock(c, ht)
     :: at[ht] == K_ZAP_LOOP -> zap_loop(c, ht)
     :: at[ht] == K_ZAP_CLEAR_AFTER_FREE -> zap_clear_after_free(c, ht)
     :: at[ht] == K_ZAP_FREE_AFTER_CLEAR -> zap_free_after_clear(c, ht)
     :: at[ht] == K_ZAP_UNLOCK -> zap_unlock(c, ht)
     :: at[ht] == K_FINISH_FLUSH -> finish_flush(c, ht)
     :: at[ht] == K_FINISH_FREE -> finish_free(c, ht)
     :: at[ht] == K_FLUSH_LOCAL -> flush_here_then_others(c, ht, FLUSH_ALL)
     :: at[ht] == K_FLUSH_PAGE_LOCAL -> hva = fault_vpn[ht]; flush_here_then_others(c, ht, hva)
     :: at[ht] == K_FLUSH_OTHERS_SEND -> flush_others_send(c, ht)
     :: at[ht] == K_FLUSH_OTHERS_WAIT -> flush_others_wait(c, ht)
     :: at[ht] == K_CPT_LOCK -> cpt_lock(c, ht)
     :: at[ht] == K_CPT_SLOT -> cpt_slot(c, ht)
     :: at[ht] == K_CPT_FREE -> cpt_free(c, ht)
     :: at[ht] == K_CPT_UNLOCK -> cpt_unlock(c, ht)
     :: at[ht] == K_CPT_AFTER_UNLOCK -> cpt_after_unlock(c, ht)
     :: else -> assert(0)   /* WaitWalk, or a position not modelled */
     fi;
     pop_returns(ht)
  :: else -> break
  od
}

/* ---- sched.rs: schedule() picking next ------------------------------------ */
inline mmdrop(c) {
  if
  :: mcount == 0 -> bug()
  :: else ->
     mcount--;
     if
     :: mcount == 0 -> free_page(c, PGD)
     :: else -> skip
     fi
  fi
}

inline switch_to(c, next) {
  hprev = current[c];
  in_sched[c] = 0;
  if
  :: hprev == next ->
     status[hprev] = RUNNING;
     if
     :: IS_USER(hprev) && at[hprev] == K_USER -> check_rtu(c)
     :: else -> skip
     fi
  :: else ->
     if
     :: IS_USER(next) ->
        /* Back to p's mm from lazy mode: switch_mm's same-mm path. */
        lazy[c] = 0;
        if
        :: ((vmmask >> c) & 1) == 0 ->
           vmmask = vmmask | (1 << c);
           if
           :: SWITCH_CR3 -> write_cr3(c, PGD)
           :: else -> write_cr3(c, cr3[c])
           fi
        :: else -> skip
        fi
     :: else ->
        /* The idle task borrows p's mm: enter_lazy_tlb. */
        mcount++;
        lazy[c] = 1
     fi;
     /* prev had no mm (the idle task): mmdrop its borrow. */
     if
     :: IS_IDLE(hprev) -> mmdrop(c)
     :: else -> skip
     fi;
     if
     :: status[hprev] == RUNNING -> status[hprev] = RUNNABLE
     :: else -> skip
     fi;
     if
     :: IS_IDLE(hprev) -> status[hprev] = BLOCKED
     :: else -> skip
     fi;
     status[next] = RUNNING;
     current[c] = next;
     if
     :: IS_USER(next) && at[next] == K_USER -> check_rtu(c)
     :: else -> skip
     fi
  fi
}

/* ---- smp.rs: smp_invalidate_interrupt, one step ---------------------------- */
inline leave_mm_clear(c) {
  if
  :: !lazy[c] -> bug()
  :: else -> skip
  fi;
  vmmask = vmmask & (255 ^ (1 << c))
}

inline ipi_step(c) {
  if
  :: !IN_IRQ(c) ->
     /* Take the IPI (an interrupt changes no MMU state with the
      * profiles' switches) and decide. */
     ipi[c] = 0;
     irq[c] = IRQ_NONE;
     if
     :: (fmask >> c) & 1 ->
        irq_ack[c] = 1;
        if
        :: fmm == MM ->
           if
           :: !lazy[c] -> irq[c] = IRQ_FLUSH; irq_va[c] = fva
           :: else -> irq[c] = IRQ_LEAVE
           fi
        :: else -> skip
        fi
     :: else -> skip
     fi
  :: IN_IRQ(c) && irq_ack[c] && (ACK_FIRST || irq[c] == IRQ_NONE) ->
     fmask = fmask & (255 ^ (1 << c));
     irq_ack[c] = 0
  :: else ->
     if
     :: irq[c] == IRQ_FLUSH ->
        hva = irq_va[c];
        irq[c] = IRQ_NONE;
        irq_va[c] = NONE;
        if
        :: hva == FLUSH_ALL -> write_cr3(c, cr3[c])
        :: else -> invlpg(c, hva)
        fi
     :: irq[c] == IRQ_LEAVE ->
        irq[c] = (LEAVE_CR3 -> IRQ_LEAVE_CR3 : IRQ_NONE);
        leave_mm_clear(c)
     :: irq[c] == IRQ_LEAVE_CR3 ->
        irq[c] = IRQ_NONE;
        write_cr3(c, 0)
     :: else -> assert(0)
     fi
  fi
}

/* ---- page_alloc.rs: another allocator takes the last freed frame ---------- */
inline scribble() {
  alen--;
  hf = afree[alen];
  afree[alen] = NOF;
  role[hf] = ROLE(R_FOREIGN, 0);
  for (hj : 0 .. 3) { M(hf, hj) = GARBAGE(hf) }
  foreign++
}

/* ---- the actors (system/mod.rs Model::actor) ------------------------------- */
/* CPU c's tasks: task steps, switches, its flush-IPI handler, the demand
 * walk of its running thread's access. */
proctype Cpu(byte c) {
end:
  do
  :: d_step { TASK_EN(c) -> task_step(c, PLAIN); post() }
  :: d_step { TASK_EN(c) && NEXT_STORES(c) && WILL_STORE(c) -> task_step(c, PTELIKE); post() }
  :: d_step { SW_EN(c, c) -> hnext = c; switch_to(c, hnext); post() }
  :: d_step { SW_EN(c, 2 + c) -> hnext = 2 + c; switch_to(c, hnext); post() }
  :: d_step { IPI_EN(c) -> ipi_step(c); post() }
  :: d_step { wvpn[c * 2] != NONE -> finish_walk(c, 0, PLAIN); post() }
  :: d_step { wvpn[c * 2] != NONE && wwr[c * 2] && PRESENT(M(wtab[c * 2], wvpn[c * 2] % 2)) ->
              finish_walk(c, 0, PTELIKE); post() }
  od
}

#if SPEC
/* CPU c's MMU: a speculative walk of any page whose slot it reaches, and
 * its pte read. */
proctype Mmu(byte c) {
end:
  do
  :: d_step { wvpn[c * 2 + 1] == NONE && REACHES(c, 0) -> hvpn = 0; start_walk(c, 1, hvpn, 0); post() }
  :: d_step { wvpn[c * 2 + 1] == NONE && REACHES(c, 0) -> hvpn = 1; start_walk(c, 1, hvpn, 0); post() }
  :: d_step { wvpn[c * 2 + 1] == NONE && REACHES(c, 1) -> hvpn = 2; start_walk(c, 1, hvpn, 0); post() }
  :: d_step { wvpn[c * 2 + 1] == NONE && REACHES(c, 1) -> hvpn = 3; start_walk(c, 1, hvpn, 0); post() }
  :: d_step { wvpn[c * 2 + 1] == NONE && REACHES(c, 2) -> hvpn = 4; start_walk(c, 1, hvpn, 0); post() }
  :: d_step { wvpn[c * 2 + 1] == NONE && REACHES(c, 2) -> hvpn = 5; start_walk(c, 1, hvpn, 0); post() }
  :: d_step { wvpn[c * 2 + 1] != NONE -> finish_walk(c, 1, PLAIN); post() }
  od
}
#endif

/* The other users of the page allocator, in an interrupt on CPU0 or CPU1. */
proctype Other() {
end:
  do
  :: d_step { foreign < FOREIGN_MAX && alen > 0 && INTERRUPTIBLE(0) -> scribble(); post() }
  :: d_step { foreign < FOREIGN_MAX && alen > 0 && INTERRUPTIBLE(1) -> scribble(); post() }
  od
}

/* The initial state (kernel/boot.rs for this scenario). */
init {
  d_step {
    M(1, 1) = PRESENT_E(2, 1);          /* pgd[1] -> page table, frame 2 */
    M(2, 0) = PRESENT_E(3, 1);          /* 0x00400000 -> frame 3 */
    M(2, 1) = PRESENT_E(4, 1);          /* 0x00401000 -> frame 4 */
    role[0] = ROLE(R_SWAPPER, 0);
    role[1] = ROLE(R_PAGEDIR, 0);
    role[2] = ROLE(R_PT, 1);
    role[3] = ROLE(R_DATA, 2);
    role[4] = ROLE(R_DATA, 3);
    cr3[0] = PGD; cr3[1] = PGD;
    for (hj : 0 .. 5) { pde[hj] = NOF }
    for (hj : 0 .. 3) { wvpn[hj] = NONE; wtab[hj] = NOF }
    mcount = 1; vmmask = 3; vmas = 12;
    sem_writer = NONE; sem_w[0] = NONE; sem_w[1] = NONE; ptl = NONE;
    current[0] = 0; current[1] = 1;
    irq_va[0] = NONE; irq_va[1] = NONE;
    for (hj : 0 .. 3) { ql[hj] = NOF }
    status[0] = RUNNING; status[1] = RUNNING; status[2] = BLOCKED; status[3] = BLOCKED;
    for (hj : 0 .. 7) { stk[hj] = K_RETURN }
    for (hj : 0 .. 1) {
      new_table[hj] = NOF; new_page[hj] = NOF; kmm[hj] = NONE; zpage[hj] = NOF;
      table[hj] = NOF; flush_va[hj] = FLUSH_ALL
    }
    flock = NONE; fmm = NONE; fva = NONE;
    afree[0] = 7; afree[1] = 6; afree[2] = 5;
    for (hj : 3 .. 7) { afree[hj] = NOF }
    alen = 3;
    reset_scratch()
  };
  atomic {
    run Cpu(0); run Cpu(1);
#if SPEC
    run Mmu(0); run Mmu(1);
#endif
    run Other()
  }
}
