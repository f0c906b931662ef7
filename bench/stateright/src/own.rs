//! The mail race written for Stateright: a compact state of its own and
//! the transitions of `bench/spin/mail_race.pml`, ported line by line
//! (that file says what it models and leaves out; its state counts equal
//! shootdown's).  Unlike `main.rs`'s adapter, which runs shootdown's own
//! model, this is a model written for the tool, as the Promela is for
//! SPIN: a state of 172 plain bytes (shootdown's Machine, which the adapter
//! checks, is 796 with its mark), one action per shootdown action.
//!
//! A task step runs on a copy of the state and is dropped when the task
//! cannot move (`Flow::Disabled`), as shootdown's `System::apply` does, so
//! no guard has to predict it.

use stateright::{Model, Property};

const NONE: u8 = 255;
const NOF: u8 = 255;
const FLUSH_ALL: u8 = 254;
const PGD: u8 = 1;
const MM: u8 = 0;
const USERS: u8 = 2;
const BATCH: u16 = 508;
const QL_MAX: u8 = 2;

const EP: u8 = 16;
const EA: u8 = 32;
const ED: u8 = 64;
const EG: u8 = 128;

const R_FREE: u8 = 0;
const R_SWAPPER: u8 = 1;
const R_PAGEDIR: u8 = 2;
const R_PT: u8 = 3;
const R_DETACHED: u8 = 4;
const R_ALLOC: u8 = 5;
const R_DATA: u8 = 6;
const R_CACHED: u8 = 7;
const R_FOREIGN: u8 = 8;

const RUNNING: u8 = 0;
const RUNNABLE: u8 = 1;
const BLOCKED: u8 = 2;
const DEAD: u8 = 3;

const IRQ_NONE: u8 = 0;
const IRQ_FLUSH: u8 = 1;
const IRQ_LEAVE: u8 = 2;
const IRQ_LEAVE_CR3: u8 = 3;

const WW: u8 = 128;

fn present(e: u8) -> bool {
    e & EP != 0
}
fn frame_of(e: u8) -> u8 {
    e & 15
}
fn present_e(f: u8, dirty: bool) -> u8 {
    EP | EA | f | if dirty { ED } else { 0 }
}
fn garbage(f: u8) -> u8 {
    EP | EG | f
}
fn role(tag: u8, arg: u8) -> u8 {
    tag * 16 + arg
}
fn range(lo: u8, hi: u8) -> u8 {
    (((1u16 << hi) - (1u16 << lo)) & 0xff) as u8
}
fn slot_mask(s: u8) -> u8 {
    3 << (2 * s)
}

/// Kernel positions (kernel/kpc.rs), those this scenario reaches.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[repr(u8)]
enum K {
    User,
    WaitWalk,
    FaultFindVma,
    FaultPteAlloc,
    FaultAllocTable,
    FaultRelock,
    FaultPopulate,
    FaultPte,
    FaultAnonAlloc,
    FaultAnonRelock,
    FaultUnlock,
    FaultUpRead,
    FaultSegv,
    MunmapDetach,
    MunmapFreePgtables,
    MunmapFlushPgtables,
    MunmapDone,
    MunmapUpWrite,
    MmapUpWrite,
    ZapLock,
    ZapLoop,
    ZapClearAfterFree,
    ZapFreeAfterClear,
    ZapUnlock,
    FinishFlush,
    FinishFree,
    FlushLocal,
    FlushPageLocal,
    FlushOthersSend,
    FlushOthersWait,
    CptLock,
    CptSlot,
    CptFree,
    CptUnlock,
    CptAfterUnlock,
    Return,
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Op {
    Read(u8),
    Write(u8),
    Mmap(u8, u8),
    Munmap(u8, u8),
}

/// t0 (task 0, CPU0) and t1 (task 1, CPU1); tasks 2 and 3 are the idle
/// tasks of CPU0 and CPU1.
fn op(t: usize, pc: u8) -> Option<Op> {
    const T0: [Op; 3] = [Op::Munmap(2, 4), Op::Mmap(4, 5), Op::Write(4)];
    const T1: [Op; 2] = [Op::Read(2), Op::Read(3)];
    if t == 0 {
        T0.get(pc as usize).copied()
    } else {
        T1.get(pc as usize).copied()
    }
}
fn plen(t: usize) -> u8 {
    if t == 0 { 3 } else { 2 }
}

/// The kernel variant and hardware profile.
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub pde: bool,
    pub spec: bool,
    /// 2.4.20 (else 2.4.18).
    pub v2420: bool,
    /// Properties checked (bit n = property n).
    pub props: u16,
}

impl Config {
    fn p(&self, n: u8) -> bool {
        self.props & (1 << n) != 0
    }
}

#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct State {
    mem: [u8; 32],
    role: [u8; 8],
    cr3: [u8; 2],
    tlb: [u8; 12],
    pde: [u8; 6],
    wvpn: [u8; 4],
    wtab: [u8; 4],
    wwr: [bool; 4],
    mcount: u8,
    vmmask: u8,
    vmas: u8,
    unmapped: u8,
    sem_writer: u8,
    sem_readers: u8,
    sem_w: [u8; 2],
    sem_nwait: u8,
    ptl: u8,
    current: [u8; 2],
    lazy: [bool; 2],
    in_sched: [bool; 2],
    ipi: [bool; 2],
    irq: [u8; 2],
    irq_ack: [bool; 2],
    irq_va: [u8; 2],
    ql: [u8; 4],
    ql_len: [u8; 2],
    status: [u8; 4],
    pc: [u8; 2],
    at: [K; 2],
    stk: [K; 8],
    sp: [u8; 2],
    fault_vpn: [u8; 2],
    fwrite: [bool; 2],
    new_table: [u8; 2],
    new_page: [u8; 2],
    kmm: [u8; 2],
    lo: [u8; 2],
    hi: [u8; 2],
    zap_vpn: [u8; 2],
    zpage: [u8; 2],
    slots: [u8; 2],
    slot: [u8; 2],
    table: [u8; 2],
    tlb_fast: [bool; 2],
    tlb_nr: [u16; 2],
    tlb_pages: [u8; 2],
    flush_mask: [u8; 2],
    flush_va: [u8; 2],
    flock: u8,
    fmm: u8,
    fva: u8,
    fmask: u8,
    afree: [u8; 8],
    alen: u8,
    foreign: u8,
    /// The property a step into this state violated (then no actions).
    pub bad: u8,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Action {
    Task { cpu: u8, pte_like: bool },
    Switch { cpu: u8, next: u8 },
    Ipi { cpu: u8 },
    Walk { cpu: u8, w: u8, pte_like: bool },
    Speculate { cpu: u8, vpn: u8 },
    Scribble { cpu: u8 },
}

/// A violated property, carried out of a step.
type Bad = u8;
enum Flow {
    Step,
    Cont,
    Disabled,
}

/// What a pte read saw.
struct Read {
    vpn: u8,
    tab: u8,
    entry: u8,
    filled: bool,
    wrote: bool,
}

fn is_user(t: u8) -> bool {
    t < 2
}

impl State {
    fn initial() -> State {
        let mut s = State {
            mem: [0; 32],
            role: [0; 8],
            cr3: [PGD; 2],
            tlb: [0; 12],
            pde: [NOF; 6],
            wvpn: [NONE; 4],
            wtab: [NOF; 4],
            wwr: [false; 4],
            mcount: 1,
            vmmask: 3,
            vmas: 12,
            unmapped: 0,
            sem_writer: NONE,
            sem_readers: 0,
            sem_w: [NONE; 2],
            sem_nwait: 0,
            ptl: NONE,
            current: [0, 1],
            lazy: [false; 2],
            in_sched: [false; 2],
            ipi: [false; 2],
            irq: [IRQ_NONE; 2],
            irq_ack: [false; 2],
            irq_va: [NONE; 2],
            ql: [NOF; 4],
            ql_len: [0; 2],
            status: [RUNNING, RUNNING, BLOCKED, BLOCKED],
            pc: [0; 2],
            at: [K::User; 2],
            stk: [K::Return; 8],
            sp: [0; 2],
            fault_vpn: [0; 2],
            fwrite: [false; 2],
            new_table: [NOF; 2],
            new_page: [NOF; 2],
            kmm: [NONE; 2],
            lo: [0; 2],
            hi: [0; 2],
            zap_vpn: [0; 2],
            zpage: [NOF; 2],
            slots: [0; 2],
            slot: [0; 2],
            table: [NOF; 2],
            tlb_fast: [false; 2],
            tlb_nr: [0; 2],
            tlb_pages: [0; 2],
            flush_mask: [0; 2],
            flush_va: [FLUSH_ALL; 2],
            flock: NONE,
            fmm: NONE,
            fva: NONE,
            fmask: 0,
            afree: [7, 6, 5, NOF, NOF, NOF, NOF, NOF],
            alen: 3,
            foreign: 0,
            bad: 0,
        };
        *s.m(1, 1) = present_e(2, true);
        *s.m(2, 0) = present_e(3, true);
        *s.m(2, 1) = present_e(4, true);
        s.role[0] = role(R_SWAPPER, 0);
        s.role[1] = role(R_PAGEDIR, 0);
        s.role[2] = role(R_PT, 1);
        s.role[3] = role(R_DATA, 2);
        s.role[4] = role(R_DATA, 3);
        s
    }

    fn m(&mut self, f: u8, i: u8) -> &mut u8 {
        &mut self.mem[f as usize * 4 + i as usize]
    }
    fn w(&self, f: u8, i: u8) -> u8 {
        self.mem[f as usize * 4 + i as usize]
    }
    fn in_irq(&self, c: usize) -> bool {
        self.irq[c] != IRQ_NONE || self.irq_ack[c]
    }
    fn at_of(&self, t: u8) -> K {
        if is_user(t) { self.at[t as usize] } else { K::User }
    }
    fn interruptible(&self, c: usize) -> bool {
        self.at_of(self.current[c]) != K::WaitWalk && !self.in_irq(c)
    }
    fn fin(&self, t: usize) -> bool {
        self.status[t] == DEAD || (self.at[t] == K::User && self.pc[t] >= plen(t))
    }

    // ---- properties ----------------------------------------------------
    fn check_pte_read(&self, cfg: &Config, c: usize, r: &Read) -> Result<(), Bad> {
        let ok = self.role[r.tab as usize] == role(R_PT, r.vpn / 2) && self.cr3[c] == PGD;
        if cfg.p(1) && r.filled && !ok {
            return Err(1);
        }
        if cfg.p(2) && r.wrote && !ok {
            return Err(2);
        }
        Ok(())
    }
    fn check_access(&self, cfg: &Config, c: usize, vpn: u8, fr: u8) -> Result<(), Bad> {
        if cfg.p(3) && self.role[fr as usize] != role(R_DATA, vpn) {
            return Err(3);
        }
        if cfg.p(4) && (self.unmapped >> vpn) & 1 != 0 {
            return Err(4);
        }
        if cfg.p(8) && self.cr3[c] != PGD {
            return Err(8);
        }
        Ok(())
    }
    fn check_rtu(&self, cfg: &Config, c: usize) -> Result<(), Bad> {
        if cfg.p(8) && self.cr3[c] != PGD {
            return Err(8);
        }
        Ok(())
    }
    fn bug(cfg: &Config) -> Result<(), Bad> {
        if cfg.p(5) { Err(5) } else { Ok(()) }
    }

    // ---- hardware -------------------------------------------------------
    fn write_cr3(&mut self, c: usize, root: u8) {
        self.cr3[c] = root;
        for v in 0..6 {
            if self.tlb[c * 6 + v] & 128 == 0 {
                self.tlb[c * 6 + v] = 0;
            }
        }
        self.pde[c * 3..c * 3 + 3].fill(NOF);
        self.drop_walks(c);
    }
    fn invlpg(&mut self, c: usize, vpn: u8) {
        self.tlb[c * 6 + vpn as usize] = 0;
        self.pde[c * 3..c * 3 + 3].fill(NOF);
        self.drop_walks(c);
    }
    fn drop_walks(&mut self, c: usize) {
        for w in 0..2 {
            self.wvpn[c * 2 + w] = NONE;
            self.wtab[c * 2 + w] = NOF;
            self.wwr[c * 2 + w] = false;
        }
    }
    fn read_pte(&mut self, c: usize, vpn: u8, tab: u8, wr: bool) -> Read {
        let entry = self.w(tab, vpn % 2);
        let mut r = Read {
            vpn,
            tab,
            entry,
            filled: false,
            wrote: false,
        };
        if present(entry) {
            // speculative_accessed_writes is on in every profile.
            let upd = entry | EA | if wr { ED } else { 0 };
            if upd != entry {
                *self.m(tab, vpn % 2) = upd;
                r.wrote = true;
            }
            self.tlb[c * 6 + vpn as usize] = (frame_of(entry) + 1)
                | if entry & EG != 0 { 128 } else { 0 }
                | if upd & ED != 0 { 64 } else { 0 };
            r.filled = true;
        }
        r
    }
    /// Starts a walk in slot `w`: false if the pgd entry is not present.
    fn start_walk(&mut self, cfg: &Config, c: usize, w: usize, vpn: u8, wr: bool) -> bool {
        let slot = vpn / 2;
        let tab = if cfg.pde && self.pde[c * 3 + slot as usize] != NOF {
            self.pde[c * 3 + slot as usize]
        } else {
            let e = self.w(self.cr3[c], slot);
            if !present(e) {
                return false;
            }
            if e & EA == 0 {
                let r = self.cr3[c];
                *self.m(r, slot) = e | EA;
            }
            let tab = frame_of(e);
            if cfg.pde {
                self.pde[c * 3 + slot as usize] = tab;
            }
            tab
        };
        self.wvpn[c * 2 + w] = vpn;
        self.wtab[c * 2 + w] = tab;
        self.wwr[c * 2 + w] = wr;
        true
    }
    fn user_store(&mut self, fr: u8, pte_like: bool) {
        let x = if pte_like { garbage(fr) } else { 0 };
        for i in 0..4 {
            *self.m(fr, i) = x;
        }
    }

    // ---- allocator ------------------------------------------------------
    fn free_page(&mut self, cfg: &Config, f: u8) -> Result<(), Bad> {
        if self.role[f as usize] == role(R_FREE, 0) {
            return State::bug(cfg);
        }
        self.role[f as usize] = role(R_FREE, 0);
        self.afree[self.alen as usize] = f;
        self.alen += 1;
        Ok(())
    }
    fn alloc_page(&mut self, r: u8) -> u8 {
        assert!(self.alen > 0, "the mail race never runs the allocator dry");
        self.alen -= 1;
        let f = self.afree[self.alen as usize];
        self.afree[self.alen as usize] = NOF;
        for i in 0..4 {
            *self.m(f, i) = 0;
        }
        self.role[f as usize] = r;
        f
    }
    fn pte_free(&mut self, cfg: &Config, c: usize, f: u8) -> Result<(), Bad> {
        if !cfg.v2420 {
            return self.free_page(cfg, f);
        }
        let n = self.ql_len[c];
        assert!(n < QL_MAX);
        let link = if n > 0 { self.ql[c * 2 + n as usize - 1] & 15 } else { 0 };
        self.ql[c * 2 + n as usize] = f;
        self.ql_len[c] += 1;
        *self.m(f, 0) = link;
        self.role[f as usize] = role(R_CACHED, c as u8);
        Ok(())
    }

    // ---- mmap_sem -------------------------------------------------------
    fn sem_enqueue(&mut self, x: u8) {
        assert!(self.sem_nwait < 2);
        self.sem_w[self.sem_nwait as usize] = x;
        self.sem_nwait += 1;
    }
    fn sem_pop(&mut self) -> u8 {
        let x = self.sem_w[0];
        self.sem_w[0] = self.sem_w[1];
        self.sem_w[1] = NONE;
        self.sem_nwait -= 1;
        x
    }
    fn sem_wake(&mut self) {
        let mut woken = 0u8;
        if self.sem_nwait > 0 && self.sem_w[0] & WW != 0 {
            self.sem_writer = self.sem_pop() & 127;
            woken = 1 << self.sem_writer;
        } else {
            while self.sem_nwait > 0 && self.sem_w[0] & WW == 0 {
                let r = self.sem_pop();
                self.sem_readers += 1;
                woken |= 1 << r;
            }
        }
        for t in 0..2 {
            if (woken >> t) & 1 != 0 && self.status[t] == BLOCKED {
                self.status[t] = RUNNABLE;
            }
        }
    }
    fn up_read(&mut self) {
        assert!(self.sem_readers > 0);
        self.sem_readers -= 1;
        if self.sem_readers == 0 {
            self.sem_wake();
        }
    }
    fn up_write(&mut self, t: usize) {
        assert_eq!(self.sem_writer, t as u8);
        self.sem_writer = NONE;
        self.sem_wake();
    }

    // ---- kernel plumbing ------------------------------------------------
    fn call(&mut self, t: usize, target: K, ret: K) {
        assert!(self.sp[t] < 4);
        self.stk[t * 4 + self.sp[t] as usize] = ret;
        self.sp[t] += 1;
        self.at[t] = target;
    }
    fn pop_returns(&mut self, t: usize) {
        while self.at[t] == K::Return {
            assert!(self.sp[t] > 0);
            self.sp[t] -= 1;
            self.at[t] = self.stk[t * 4 + self.sp[t] as usize];
        }
    }
    fn block(&mut self, c: usize, t: usize, resume: K) {
        self.at[t] = resume;
        self.status[t] = BLOCKED;
        self.in_sched[c] = true;
    }
    fn return_to_user(&mut self, cfg: &Config, c: usize, t: usize, skip: bool) -> Result<(), Bad> {
        self.at[t] = K::User;
        if skip {
            self.pc[t] += 1;
        }
        self.check_rtu(cfg, c)
    }
    fn ptl_try(&mut self, c: usize) -> bool {
        if self.ptl != NONE {
            return false;
        }
        self.ptl = c as u8;
        true
    }
    fn ptl_release(&mut self, c: usize) {
        assert_eq!(self.ptl, c as u8);
        self.ptl = NONE;
    }
    fn pte_clear(&mut self, vpn: u8) {
        let tab = frame_of(self.w(PGD, vpn / 2));
        *self.m(tab, vpn % 2) = 0;
    }
    fn free_slots(&self, t: usize) -> u8 {
        let r = range(self.lo[t], self.hi[t]);
        (0..3)
            .filter(|&s| r & slot_mask(s) != 0 && self.vmas & slot_mask(s) == 0)
            .fold(0, |m, s| m | 1 << s)
    }

    // ---- user mode, faults ----------------------------------------------
    fn page_fault(&mut self, c: usize, t: usize, vpn: u8, wr: bool) {
        self.tlb[c * 6 + vpn as usize] = 0;
        self.pde[c * 3 + vpn as usize / 2] = NOF;
        self.fault_vpn[t] = vpn;
        self.fwrite[t] = wr;
        if self.sem_writer == NONE && self.sem_nwait == 0 {
            self.sem_readers += 1;
            self.at[t] = K::FaultFindVma;
        } else {
            self.sem_enqueue(t as u8);
            self.block(c, t, K::FaultFindVma);
        }
    }
    fn access(&mut self, cfg: &Config, c: usize, t: usize, vpn: u8, wr: bool, pte_like: bool) -> Result<Flow, Bad> {
        let e = self.tlb[c * 6 + vpn as usize];
        if e != 0 && (!wr || e & 64 != 0) {
            let fr = (e & 63) - 1;
            self.check_access(cfg, c, vpn, fr)?;
            if wr {
                self.user_store(fr, pte_like);
            }
            self.pc[t] += 1;
        } else if self.start_walk(cfg, c, 0, vpn, wr) {
            self.at[t] = K::WaitWalk;
        } else {
            self.page_fault(c, t, vpn, wr);
        }
        Ok(Flow::Step)
    }
    fn down_write_sem(&mut self, c: usize, t: usize, lo: u8, hi: u8, next: K) -> Flow {
        self.kmm[t] = MM;
        self.lo[t] = lo;
        self.hi[t] = hi;
        if self.sem_writer == NONE && self.sem_readers == 0 && self.sem_nwait == 0 {
            self.sem_writer = t as u8;
            self.at[t] = next;
        } else {
            self.sem_enqueue(t as u8 | WW);
            self.block(c, t, next);
        }
        Flow::Step
    }
    fn finish_walk(&mut self, cfg: &Config, c: usize, w: usize, pte_like: bool) -> Result<(), Bad> {
        let (vpn, tab, wr) = (self.wvpn[c * 2 + w], self.wtab[c * 2 + w], self.wwr[c * 2 + w]);
        self.wvpn[c * 2 + w] = NONE;
        self.wtab[c * 2 + w] = NOF;
        self.wwr[c * 2 + w] = false;
        let r = self.read_pte(c, vpn, tab, wr);
        self.check_pte_read(cfg, c, &r)?;
        if w == 0 {
            let t = self.current[c] as usize;
            assert!(t < 2 && self.at[t] == K::WaitWalk);
            if r.filled {
                let fr = frame_of(r.entry);
                self.check_access(cfg, c, vpn, fr)?;
                if wr {
                    self.user_store(fr, pte_like);
                }
                self.at[t] = K::User;
                self.pc[t] += 1;
            } else {
                self.page_fault(c, t, vpn, wr);
            }
        }
        Ok(())
    }

    /// flush_tlb_mm (va = FLUSH_ALL) or flush_tlb_page.
    fn flush_here_then_others(&mut self, c: usize, t: usize, va: u8) -> Flow {
        let mask = self.vmmask & !(1 << c);
        self.flush_mask[t] = mask;
        self.flush_va[t] = va;
        assert_eq!(self.kmm[t], MM);
        if va == FLUSH_ALL {
            self.write_cr3(c, self.cr3[c]);
        } else {
            self.invlpg(c, va);
        }
        self.at[t] = if mask == 0 { K::Return } else { K::FlushOthersSend };
        Flow::Step
    }

    /// One kernel handler: the task's position decides.
    fn handler(&mut self, cfg: &Config, c: usize, t: usize, pte_like: bool) -> Result<Flow, Bad> {
        Ok(match self.at[t] {
            K::User => match op(t, self.pc[t]) {
                None => Flow::Disabled,
                Some(Op::Read(v)) => return self.access(cfg, c, t, v, false, pte_like),
                Some(Op::Write(v)) => return self.access(cfg, c, t, v, true, pte_like),
                Some(Op::Munmap(lo, hi)) => self.down_write_sem(c, t, lo, hi, K::MunmapDetach),
                Some(Op::Mmap(lo, hi)) => self.down_write_sem(c, t, lo, hi, K::MmapUpWrite),
            },
            K::WaitWalk => Flow::Disabled,
            K::FaultFindVma => {
                if (self.vmas >> self.fault_vpn[t]) & 1 == 0 {
                    self.at[t] = K::FaultSegv;
                    Flow::Cont
                } else if !self.ptl_try(c) {
                    Flow::Disabled
                } else {
                    self.at[t] = K::FaultPteAlloc;
                    Flow::Step
                }
            }
            K::FaultPteAlloc => {
                let slot = self.fault_vpn[t] / 2;
                if present(self.w(PGD, slot)) {
                    self.at[t] = K::FaultPte;
                    Flow::Cont
                } else {
                    if self.ql_len[c] > 0 {
                        self.ql_len[c] -= 1;
                        let i = c * 2 + self.ql_len[c] as usize;
                        let f = self.ql[i];
                        self.ql[i] = NOF;
                        *self.m(f, 0) = self.w(f, 1);
                        self.role[f as usize] = role(R_PT, slot);
                        *self.m(PGD, slot) = present_e(f, true);
                        self.at[t] = K::FaultPte;
                    } else {
                        self.ptl_release(c);
                        self.at[t] = K::FaultAllocTable;
                    }
                    Flow::Step
                }
            }
            K::FaultAllocTable => {
                self.new_table[t] = self.alloc_page(role(R_ALLOC, 0));
                self.at[t] = K::FaultRelock;
                Flow::Step
            }
            K::FaultRelock => {
                if !self.ptl_try(c) {
                    return Ok(Flow::Disabled);
                }
                self.at[t] = K::FaultPopulate;
                Flow::Step
            }
            K::FaultPopulate => {
                let slot = self.fault_vpn[t] / 2;
                let f = self.new_table[t];
                self.new_table[t] = NOF;
                if present(self.w(PGD, slot)) {
                    self.pte_free(cfg, c, f)?;
                } else {
                    self.role[f as usize] = role(R_PT, slot);
                    *self.m(PGD, slot) = present_e(f, true);
                }
                self.at[t] = K::FaultPte;
                Flow::Step
            }
            K::FaultPte => {
                let vpn = self.fault_vpn[t];
                let tab = frame_of(self.w(PGD, vpn / 2));
                let e = self.w(tab, vpn % 2);
                if present(e) {
                    *self.m(tab, vpn % 2) = e | EA | if self.fwrite[t] { ED } else { 0 };
                    self.kmm[t] = MM;
                    self.call(t, K::FlushPageLocal, K::FaultUnlock);
                } else if self.fwrite[t] {
                    self.ptl_release(c);
                    self.at[t] = K::FaultAnonAlloc;
                } else {
                    let d = self.alloc_page(role(R_DATA, vpn));
                    *self.m(tab, vpn % 2) = present_e(d, false);
                    self.at[t] = K::FaultUnlock;
                }
                Flow::Step
            }
            K::FaultAnonAlloc => {
                self.new_page[t] = self.alloc_page(role(R_ALLOC, 0));
                self.at[t] = K::FaultAnonRelock;
                Flow::Step
            }
            K::FaultAnonRelock => {
                if !self.ptl_try(c) {
                    return Ok(Flow::Disabled);
                }
                let vpn = self.fault_vpn[t];
                let tab = frame_of(self.w(PGD, vpn / 2));
                let f = self.new_page[t];
                self.new_page[t] = NOF;
                if present(self.w(tab, vpn % 2)) {
                    self.free_page(cfg, f)?;
                } else {
                    self.role[f as usize] = role(R_DATA, vpn);
                    *self.m(tab, vpn % 2) = present_e(f, true);
                }
                self.at[t] = K::FaultUnlock;
                Flow::Step
            }
            K::FaultUnlock => {
                self.ptl_release(c);
                self.at[t] = K::FaultUpRead;
                Flow::Step
            }
            K::FaultUpRead => {
                self.up_read();
                self.return_to_user(cfg, c, t, false)?;
                Flow::Step
            }
            K::FaultSegv => {
                self.up_read();
                self.return_to_user(cfg, c, t, true)?;
                Flow::Step
            }
            K::MunmapDetach => {
                if self.ptl != NONE {
                    return Ok(Flow::Disabled);
                }
                self.vmas &= !range(self.lo[t], self.hi[t]);
                self.call(t, K::ZapLock, K::MunmapFreePgtables);
                Flow::Cont
            }
            K::MunmapFreePgtables => {
                let slots = self.free_slots(t);
                if slots == 0 {
                    self.at[t] = K::MunmapDone;
                } else {
                    self.slots[t] = slots;
                    self.call(t, K::CptLock, K::MunmapFlushPgtables);
                }
                Flow::Cont
            }
            K::MunmapFlushPgtables => {
                if cfg.v2420 {
                    self.call(t, K::FlushLocal, K::MunmapDone);
                } else {
                    self.at[t] = K::MunmapDone;
                }
                Flow::Cont
            }
            K::MunmapDone => {
                self.at[t] = if self.sp[t] > 0 { K::Return } else { K::MunmapUpWrite };
                Flow::Cont
            }
            K::MunmapUpWrite => {
                self.unmapped |= range(self.lo[t], self.hi[t]);
                self.up_write(t);
                self.return_to_user(cfg, c, t, true)?;
                Flow::Step
            }
            K::MmapUpWrite => {
                let r = range(self.lo[t], self.hi[t]);
                if self.vmas & r != 0 {
                    self.call(t, K::MunmapDetach, K::MmapUpWrite);
                    Flow::Cont
                } else {
                    self.vmas |= r;
                    self.unmapped &= !r;
                    self.up_write(t);
                    self.return_to_user(cfg, c, t, true)?;
                    Flow::Step
                }
            }
            K::ZapLock => {
                if !self.ptl_try(c) {
                    return Ok(Flow::Disabled);
                }
                self.tlb_fast[t] = USERS == 1;
                self.tlb_nr[t] = 0;
                self.tlb_pages[t] = 0;
                self.zap_vpn[t] = self.lo[t];
                self.at[t] = K::ZapLoop;
                Flow::Step
            }
            K::ZapLoop => {
                let found = (self.zap_vpn[t]..self.hi[t]).find(|&v| {
                    let e = self.w(PGD, v / 2);
                    present(e) && present(self.w(frame_of(e), v % 2))
                });
                match found {
                    None => {
                        self.call(t, K::FinishFlush, K::ZapUnlock);
                        Flow::Cont
                    }
                    Some(v) => {
                        self.zap_vpn[t] = v + 1;
                        let data = frame_of(self.w(frame_of(self.w(PGD, v / 2)), v % 2));
                        if self.tlb_fast[t] && cfg.v2420 {
                            self.pte_clear(v);
                            self.zpage[t] = data;
                            self.at[t] = K::ZapFreeAfterClear;
                        } else if self.tlb_fast[t] {
                            self.free_page(cfg, data)?;
                            self.at[t] = K::ZapClearAfterFree;
                        } else {
                            self.pte_clear(v);
                            self.tlb_pages[t] |= 1 << data;
                            self.tlb_nr[t] += 1;
                            assert!(self.tlb_nr[t] < BATCH);
                        }
                        Flow::Step
                    }
                }
            }
            K::ZapClearAfterFree => {
                self.pte_clear(self.zap_vpn[t] - 1);
                self.at[t] = K::ZapLoop;
                Flow::Step
            }
            K::ZapFreeAfterClear => {
                let f = self.zpage[t];
                self.zpage[t] = NOF;
                self.free_page(cfg, f)?;
                self.at[t] = K::ZapLoop;
                Flow::Step
            }
            K::ZapUnlock => {
                self.ptl_release(c);
                self.at[t] = K::Return;
                Flow::Step
            }
            K::FinishFlush => {
                if self.tlb_fast[t] {
                    self.at[t] = K::FlushLocal;
                } else if self.tlb_nr[t] == 0 {
                    self.at[t] = K::Return;
                } else {
                    self.tlb_nr[t] = 0;
                    self.call(t, K::FlushLocal, K::FinishFree);
                }
                Flow::Cont
            }
            K::FinishFree => {
                if self.tlb_pages[t] == 0 {
                    self.at[t] = K::Return;
                    Flow::Cont
                } else {
                    let f = self.tlb_pages[t].trailing_zeros() as u8;
                    self.tlb_pages[t] &= !(1 << f);
                    self.free_page(cfg, f)?;
                    Flow::Step
                }
            }
            K::FlushLocal => self.flush_here_then_others(c, t, FLUSH_ALL),
            K::FlushPageLocal => {
                let va = self.fault_vpn[t];
                self.flush_here_then_others(c, t, va)
            }
            K::FlushOthersSend => {
                if self.flock != NONE {
                    return Ok(Flow::Disabled);
                }
                self.flock = c as u8;
                self.fmm = self.kmm[t];
                self.fva = self.flush_va[t];
                self.fmask = self.flush_mask[t];
                for o in 0..2 {
                    if (self.fmask >> o) & 1 != 0 {
                        self.ipi[o] = true;
                    }
                }
                self.at[t] = K::FlushOthersWait;
                Flow::Step
            }
            K::FlushOthersWait => {
                if self.fmask != 0 {
                    return Ok(Flow::Disabled);
                }
                self.flock = NONE;
                self.fmm = NONE;
                self.fva = NONE;
                self.at[t] = K::Return;
                Flow::Step
            }
            K::CptLock => {
                if !self.ptl_try(c) {
                    return Ok(Flow::Disabled);
                }
                self.tlb_fast[t] = false;
                self.tlb_nr[t] = 0;
                self.tlb_pages[t] = 0;
                self.slot[t] = 0;
                self.at[t] = K::CptSlot;
                Flow::Step
            }
            K::CptSlot => {
                let found = (self.slot[t]..3)
                    .find(|&s| (self.slots[t] >> s) & 1 != 0 && present(self.w(PGD, s)));
                match found {
                    None => {
                        self.at[t] = K::CptUnlock;
                        Flow::Cont
                    }
                    Some(s) => {
                        let tab = frame_of(self.w(PGD, s));
                        *self.m(PGD, s) = 0;
                        self.role[tab as usize] = role(R_DETACHED, s);
                        self.slot[t] = s + 1;
                        self.table[t] = tab;
                        self.at[t] = K::CptFree;
                        Flow::Step
                    }
                }
            }
            K::CptFree => {
                let f = self.table[t];
                self.table[t] = NOF;
                self.pte_free(cfg, c, f)?;
                self.at[t] = K::CptSlot;
                Flow::Step
            }
            K::CptUnlock => {
                self.ptl_release(c);
                self.at[t] = K::CptAfterUnlock;
                Flow::Step
            }
            K::CptAfterUnlock => {
                // No flush here (Intel's placement), and the quicklist
                // never reaches its high-water mark: check_pgt_cache returns.
                assert!(self.ql_len[c] <= 50);
                self.at[t] = K::Return;
                Flow::Cont
            }
            K::Return => unreachable!("returns are popped eagerly"),
        })
    }

    /// Action::Task: None if the task cannot move.
    fn task_step(&mut self, cfg: &Config, c: usize, pte_like: bool) -> Option<Result<(), Bad>> {
        if self.in_sched[c] || self.in_irq(c) || !is_user(self.current[c]) {
            return None;
        }
        let t = self.current[c] as usize;
        loop {
            match self.handler(cfg, c, t, pte_like) {
                Err(b) => return Some(Err(b)),
                Ok(Flow::Disabled) => return None,
                Ok(Flow::Step) => {
                    self.pop_returns(t);
                    return Some(Ok(()));
                }
                Ok(Flow::Cont) => self.pop_returns(t),
            }
        }
    }

    // ---- sched.rs --------------------------------------------------------
    fn switch_ok(&self, c: usize, n: u8) -> bool {
        if self.in_irq(c) {
            return false;
        }
        let cur = self.current[c];
        let runnable = |n: u8| {
            n != cur && self.status[n as usize] == RUNNABLE && is_user(n) && self.current[0] != n && self.current[1] != n
        };
        let cur_runs = matches!(self.status[cur as usize], RUNNING | RUNNABLE);
        if self.in_sched[c] {
            runnable(n) || (n == cur && cur_runs) || (n == 2 + c as u8 && !runnable(c as u8) && !cur_runs)
        } else {
            let preemptible = if is_user(cur) { self.at[cur as usize] == K::User } else { true };
            preemptible && runnable(n)
        }
    }
    fn mmdrop(&mut self, cfg: &Config) -> Result<(), Bad> {
        if self.mcount == 0 {
            return State::bug(cfg);
        }
        self.mcount -= 1;
        if self.mcount == 0 {
            self.free_page(cfg, PGD)?;
        }
        Ok(())
    }
    fn switch_to(&mut self, cfg: &Config, c: usize, next: u8) -> Result<(), Bad> {
        let prev = self.current[c];
        self.in_sched[c] = false;
        if prev == next {
            self.status[prev as usize] = RUNNING;
            if is_user(prev) && self.at[prev as usize] == K::User {
                self.check_rtu(cfg, c)?;
            }
            return Ok(());
        }
        if is_user(next) {
            self.lazy[c] = false;
            if (self.vmmask >> c) & 1 == 0 {
                self.vmmask |= 1 << c;
                let root = if cfg.v2420 { PGD } else { self.cr3[c] };
                self.write_cr3(c, root);
            }
        } else {
            self.mcount += 1;
            self.lazy[c] = true;
        }
        if !is_user(prev) {
            self.mmdrop(cfg)?;
        }
        if self.status[prev as usize] == RUNNING {
            self.status[prev as usize] = RUNNABLE;
        }
        if !is_user(prev) {
            self.status[prev as usize] = BLOCKED;
        }
        self.status[next as usize] = RUNNING;
        self.current[c] = next;
        if is_user(next) && self.at[next as usize] == K::User {
            self.check_rtu(cfg, c)?;
        }
        Ok(())
    }

    // ---- smp.rs: the flush-IPI handler -------------------------------------
    fn ipi_ok(&self, c: usize) -> bool {
        self.in_irq(c) || (self.ipi[c] && self.interruptible(c))
    }
    fn ipi_step(&mut self, cfg: &Config, c: usize) -> Result<(), Bad> {
        if !self.in_irq(c) {
            self.ipi[c] = false;
            self.irq[c] = IRQ_NONE;
            if (self.fmask >> c) & 1 != 0 {
                self.irq_ack[c] = true;
                if self.fmm == MM {
                    if !self.lazy[c] {
                        self.irq[c] = IRQ_FLUSH;
                        self.irq_va[c] = self.fva;
                    } else {
                        self.irq[c] = IRQ_LEAVE;
                    }
                }
            }
        } else if self.irq_ack[c] && self.irq[c] == IRQ_NONE {
            self.fmask &= !(1 << c);
            self.irq_ack[c] = false;
        } else {
            match self.irq[c] {
                IRQ_FLUSH => {
                    let va = self.irq_va[c];
                    self.irq[c] = IRQ_NONE;
                    self.irq_va[c] = NONE;
                    if va == FLUSH_ALL {
                        self.write_cr3(c, self.cr3[c]);
                    } else {
                        self.invlpg(c, va);
                    }
                }
                IRQ_LEAVE => {
                    self.irq[c] = if cfg.v2420 { IRQ_LEAVE_CR3 } else { IRQ_NONE };
                    if !self.lazy[c] {
                        State::bug(cfg)?;
                    }
                    self.vmmask &= !(1 << c);
                }
                IRQ_LEAVE_CR3 => {
                    self.irq[c] = IRQ_NONE;
                    self.write_cr3(c, 0);
                }
                _ => unreachable!("a handler with nothing left"),
            }
        }
        Ok(())
    }

    fn reaches(&self, cfg: &Config, c: usize, slot: u8) -> bool {
        (cfg.pde && self.pde[c * 3 + slot as usize] != NOF) || present(self.w(self.cr3[c], slot))
    }

    /// Whether a task step, switch, IPI or demand walk is enabled.
    fn progress(&self, cfg: &Config) -> bool {
        (0..2).any(|c| {
            self.clone().task_step(cfg, c, false).is_some()
                || self.switch_ok(c, c as u8)
                || self.switch_ok(c, 2 + c as u8)
                || self.ipi_ok(c)
                || self.wvpn[c * 2] != NONE
        })
    }
}

/// The model.
pub struct MailRace {
    pub cfg: Config,
}

impl Model for MailRace {
    type State = State;
    type Action = Action;

    fn init_states(&self) -> Vec<State> {
        vec![State::initial()]
    }

    fn actions(&self, s: &State, out: &mut Vec<Action>) {
        if s.bad != 0 {
            return;
        }
        for cpu in 0..2u8 {
            let c = cpu as usize;
            out.push(Action::Task { cpu, pte_like: false });
            out.push(Action::Task { cpu, pte_like: true });
            out.push(Action::Switch { cpu, next: cpu });
            out.push(Action::Switch { cpu, next: 2 + cpu });
            out.push(Action::Ipi { cpu });
            if s.wvpn[c * 2] != NONE {
                out.push(Action::Walk { cpu, w: 0, pte_like: false });
                out.push(Action::Walk { cpu, w: 0, pte_like: true });
            }
            if self.cfg.spec {
                if s.wvpn[c * 2 + 1] == NONE {
                    for vpn in 0..6 {
                        if s.reaches(&self.cfg, c, vpn / 2) {
                            out.push(Action::Speculate { cpu, vpn });
                        }
                    }
                } else {
                    out.push(Action::Walk { cpu, w: 1, pte_like: false });
                }
            }
        }
        if s.foreign < 1 && s.alen > 0 {
            out.push(Action::Scribble { cpu: 0 });
            out.push(Action::Scribble { cpu: 1 });
        }
    }

    fn next_state(&self, s: &State, a: Action) -> Option<State> {
        let cfg = &self.cfg;
        let mut n = s.clone();
        let r = match a {
            Action::Task { cpu, pte_like } => {
                let c = cpu as usize;
                if pte_like {
                    // Only a store that completes through a Dirty TLB entry
                    // stores (a miss starts a walk and stores nothing).
                    let t = s.current[c] as usize;
                    let stores = !s.in_sched[c] && !s.in_irq(c) && is_user(t as u8) && s.at[t] == K::User
                        && matches!(op(t, s.pc[t]), Some(Op::Write(v)) if s.tlb[c * 6 + v as usize] & 64 != 0);
                    if !stores {
                        return None;
                    }
                }
                n.task_step(cfg, c, pte_like)?
            }
            Action::Switch { cpu, next } => {
                if !s.switch_ok(cpu as usize, next) {
                    return None;
                }
                n.switch_to(cfg, cpu as usize, next)
            }
            Action::Ipi { cpu } => {
                if !s.ipi_ok(cpu as usize) {
                    return None;
                }
                n.ipi_step(cfg, cpu as usize)
            }
            Action::Walk { cpu, w, pte_like } => {
                let i = cpu as usize * 2 + w as usize;
                if s.wvpn[i] == NONE {
                    return None;
                }
                if pte_like && !(s.wwr[i] && present(s.w(s.wtab[i], s.wvpn[i] % 2))) {
                    return None;
                }
                n.finish_walk(cfg, cpu as usize, w as usize, pte_like)
            }
            Action::Speculate { cpu, vpn } => {
                n.start_walk(cfg, cpu as usize, 1, vpn, false);
                Ok(())
            }
            Action::Scribble { cpu } => {
                if !s.interruptible(cpu as usize) {
                    return None;
                }
                n.alen -= 1;
                let f = n.afree[n.alen as usize];
                n.afree[n.alen as usize] = NOF;
                n.role[f as usize] = role(R_FOREIGN, 0);
                for i in 0..4 {
                    *n.m(f, i) = garbage(f);
                }
                n.foreign += 1;
                Ok(())
            }
        };
        if let Err(p) = r {
            n.bad = p;
        }
        Some(n)
    }

    fn properties(&self) -> Vec<Property<Self>> {
        vec![
            Property::always("no step violates a property (1-5, 8)", |_, s: &State| s.bad == 0),
            Property::always("no deadlock (6)", |m: &MailRace, s: &State| {
                s.bad != 0 || !m.cfg.p(6) || s.progress(&m.cfg) || (s.fin(0) && s.fin(1))
            }),
        ]
    }
}
