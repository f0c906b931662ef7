//! From the raw TOML tables to a validated [`Config`]: every range, name,
//! address and resource check of the scenario format.

use std::collections::BTreeSet;
use std::ops::Range;
use std::sync::Arc;

use toml::Spanned;

use super::closest as suggest;
use super::error::ScenarioError;
use super::hw::profile::Profile;
use super::hw::{Frame, Index, Vpn};
use super::kernel::variant::{Atom, PRESETS, Variant};
use super::op::{self, OpKind};
use super::raw::{RawItem, RawKthread, RawProcess, RawScenario, RawThread, StrOrInt};
use super::system::config::limits::Pages;
use super::system::config::{
    Bounds, Config, KthreadCfg, Op, PAGE_BYTES, Placement, ProcessCfg, Properties, SLOT_BYTES,
    ThreadCfg, VmaCfg, limits,
};
use super::text::{self, quoted, ticked};

type Result<T> = std::result::Result<T, ScenarioError>;

/// How deeply `repeat` loops may nest.
const REPEAT_NESTING_MAX: usize = 8;

/// Default quicklist marks and gather batch of Linux 2.4.18.
const QUICKLIST_LOW_DEFAULT: u8 = 25;
const QUICKLIST_HIGH_DEFAULT: u8 = 50;
const QUICKLIST_MARK_MAX: i64 = 250;

pub(crate) fn load(file: &str, text: &str) -> Result<Config> {
    let source: Arc<str> = Arc::from(text);
    let raw: RawScenario = match toml::from_str(text) {
        Ok(raw) => raw,
        Err(e) => return Err(toml_error(file, &source, &e)),
    };
    Loader { file, source }.build(raw)
}

/// A TOML syntax or shape error, keeping toml's message (which lists the
/// expected fields) and adding a "did you mean" for unknown fields.
pub(crate) fn toml_error(file: &str, source: &Arc<str>, e: &toml::de::Error) -> ScenarioError {
    // serde names the Rust type; say what the file should hold.  The
    // message may quote the user's text (an unknown key, a string value):
    // shortened and escaped.
    let message = text::shorten_quotes(
        &e.message()
            .trim_end()
            .replace("expected i64", "expected an integer"),
    );
    let span = e.span().unwrap_or(0..0);
    let mut err = ScenarioError::at(file, source, span, message.clone());
    if let Some(rest) = message.strip_prefix("unknown field `") {
        let found = rest.split('`').next().unwrap_or("");
        let known: Vec<&str> = match rest.split_once("expected ") {
            Some((_, list)) => list.split('`').skip(1).step_by(2).collect(),
            None => Vec::new(),
        };
        err = err
            .label("unknown field")
            .suggest(suggest(found, known.iter().copied()));
    } else if message.starts_with("missing field") {
        err = err.label("in this table");
    }
    err
}

fn hex(a: u64) -> String {
    format!("{a:#010x}")
}

fn plural(n: u64, one: &str, many: &str) -> String {
    if n == 1 {
        format!("{n} {one}")
    } else {
        format!("{n} {many}")
    }
}

/// Names as a list for "expected one of ...".
fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(ticked).collect();
    match names.len() {
        0 => "nothing".to_string(),
        1 => names.concat(),
        _ => format!("one of {}", names.join(", ")),
    }
}

struct Loader<'a> {
    file: &'a str,
    source: Arc<str>,
}

impl Loader<'_> {
    fn err(&self, span: Range<usize>, message: impl Into<String>) -> ScenarioError {
        ScenarioError::at(self.file, &self.source, span, message)
    }

    /// An integer in `lo..=hi`.
    fn int(&self, v: &Spanned<i64>, what: &str, lo: i64, hi: i64) -> Result<i64> {
        let n = *v.get_ref();
        if n < lo || n > hi {
            return Err(self
                .err(v.span(), format!("{what} = {n} is out of range"))
                .label(format!("must be {lo}..={hi}"))
                .expected(format!("an integer in {lo}..={hi}")));
        }
        Ok(n)
    }

    /// A name: not blank, and no control character or bidirectional
    /// override (names are printed as they are).
    fn name(&self, v: &Spanned<String>, what: &str) -> Result<String> {
        let s = v.get_ref();
        if s.trim().is_empty() || s.chars().any(text::is_hostile) {
            return Err(self
                .err(
                    v.span(),
                    format!("{what} {} is not a usable name", quoted(s)),
                )
                .expected("a non-empty name without control characters"));
        }
        Ok(s.clone())
    }

    /// The one-line description (printed as it is by `check`): no control
    /// character or bidirectional override, newlines and tabs included.
    fn description(&self, v: &Spanned<String>) -> Result<String> {
        let s = v.get_ref();
        if let Some((i, c)) = s.chars().enumerate().find(|(_, c)| text::is_hostile(*c)) {
            let span = match self.string_body(&v.span(), s) {
                Some(b) => {
                    let at = s.char_indices().nth(i).map_or(0, |(at, _)| at);
                    b + at..b + at + c.len_utf8()
                }
                None => v.span(),
            };
            return Err(self
                .err(
                    span,
                    format!(
                        "the description {} holds the control character {} (character {})",
                        quoted(s),
                        ticked(&c.to_string()),
                        i + 1
                    ),
                )
                .label("control character")
                .expected("a one-line description without control characters"));
        }
        Ok(s.clone())
    }

    fn build(&self, raw: RawScenario) -> Result<Config> {
        let name = self.name(&raw.name, "scenario name")?;
        let description = self.description(&raw.description)?;

        let m = &raw.machine;
        let cpus = self.int(&m.cpus, "cpus", 1, limits::CPUS_MAX as i64)? as u8;
        let frames = self.int(&m.frames, "frames", 2, limits::FRAMES_MAX as i64)? as Frame;
        let user_slots = self.int(
            &m.user_slots,
            "user_slots",
            1,
            limits::USER_SLOTS_MAX as i64,
        )? as Index;
        let ptes_per_table = self.int(
            &m.ptes_per_table,
            "ptes_per_table",
            1,
            limits::PTES_PER_TABLE_MAX as i64,
        )? as Index;

        let mut cfg = Config {
            name,
            description,
            cpus,
            frames,
            user_slots,
            ptes_per_table,
            hw: Profile::Speculative.features(),
            profile: Some(Profile::Speculative.number()),
            variant: Variant::base(),
            quicklist_low: QUICKLIST_LOW_DEFAULT,
            quicklist_high: QUICKLIST_HIGH_DEFAULT,
            gather_batch: limits::GATHER_BATCH_MAX as u16,
            processes: Vec::new(),
            threads: Vec::new(),
            kthreads: Vec::new(),
            properties: Properties::ALL_DEFAULT,
            bounds: Bounds::default(),
            unfold: false,
            cost_table: Default::default(),
            symmetry: false,
            por: false,
        };

        self.hardware(&raw, &mut cfg)?;
        self.kernel(&raw, &mut cfg)?;
        self.processes(&raw.process, &mut cfg)?;
        self.frames_needed(&raw, &cfg)?;
        self.tasks(&raw, &mut cfg)?;
        self.check(&raw, &mut cfg)?;
        self.bounds(&raw, &mut cfg)?;
        self.cost(&raw, &mut cfg)?;
        Ok(cfg)
    }

    fn hardware(&self, raw: &RawScenario, cfg: &mut Config) -> Result<()> {
        let Some(h) = &raw.hardware else {
            return Ok(());
        };
        let profile = h.0.iter().find(|(k, _)| k.get_ref() == "profile");
        if let Some((_, p)) = profile {
            let text = match p.get_ref() {
                toml::Value::String(s) => s.clone(),
                toml::Value::Integer(n) => n.to_string(),
                other => other.to_string(),
            };
            let Some(profile) = Profile::parse(&text) else {
                let names: Vec<&str> = Profile::ALL.iter().map(|p| p.name()).collect();
                let listed: Vec<String> = Profile::ALL
                    .iter()
                    .map(|p| format!("`{}` ({})", p.name(), p.number()))
                    .collect();
                return Err(self
                    .err(
                        p.span(),
                        format!("unknown hardware profile {}", ticked(&text)),
                    )
                    .label("unknown profile")
                    .expected(format!("a profile name or number: {}", listed.join(", ")))
                    .suggest(suggest(&text, names)));
            };
            cfg.hw = profile.features();
            cfg.profile = Some(profile.number());
        }
        for (key, value) in h.0.iter().filter(|(k, _)| k.get_ref() != "profile") {
            self.switch(key, value, &mut cfg.hw)?;
        }
        Ok(())
    }

    /// One `[hardware]` switch: a known name (from the switch table), a
    /// flag or an integer in the switch's range.
    fn switch(
        &self,
        key: &Spanned<String>,
        value: &Spanned<toml::Value>,
        hw: &mut super::hw::HwFeatures,
    ) -> Result<()> {
        let (span, key) = (key.span(), key.get_ref().as_str());
        let switches = super::hw::HwFeatures::SWITCHES;
        let Some(sw) = switches.iter().find(|sw| sw.name == key) else {
            let mut known: Vec<&str> = vec!["profile"];
            known.extend(switches.iter().map(|sw| sw.name));
            return Err(self
                .err(span, format!("unknown hardware switch {}", ticked(key)))
                .label("unknown switch")
                .expected(format!(
                    "`profile` or a switch: {}",
                    one_of(known.iter().copied())
                ))
                .suggest(suggest(key, known)));
        };
        let v = match (sw.is_flag, value.get_ref()) {
            (true, toml::Value::Boolean(b)) => *b as u8,
            (false, toml::Value::Integer(n)) => {
                let spanned = Spanned::new(value.span(), *n);
                self.int(&spanned, key, sw.lo as i64, sw.hi as i64)? as u8
            }
            _ => {
                let want = if sw.is_flag {
                    "true or false".to_string()
                } else {
                    format!("an integer in {}..={}", sw.lo, sw.hi)
                };
                return Err(self
                    .err(value.span(), format!("{key} must be {want}"))
                    .expected(want));
            }
        };
        hw.set(key, v);
        Ok(())
    }

    fn kernel(&self, raw: &RawScenario, cfg: &mut Config) -> Result<()> {
        let Some(k) = &raw.kernel else {
            return Ok(());
        };
        if let Some(v) = &k.variant {
            cfg.variant = self.variant(v)?;
        }
        for p in &k.patches {
            let Some(atom) = Atom::parse(p.get_ref()) else {
                return Err(self.unknown_patch(p.span(), p.get_ref()));
            };
            cfg.variant = cfg.variant.with(atom);
            if let Err(e) = cfg.variant.policy() {
                return Err(self.err(p.span(), e).label("contradicting patch"));
            }
        }
        if let Some(v) = &k.quicklist_low {
            cfg.quicklist_low = self.int(v, "quicklist_low", 0, QUICKLIST_MARK_MAX)? as u8;
        }
        if let Some(v) = &k.quicklist_high {
            cfg.quicklist_high = self.int(v, "quicklist_high", 0, QUICKLIST_MARK_MAX)? as u8;
        }
        if cfg.quicklist_low > cfg.quicklist_high {
            let span = match (&k.quicklist_low, &k.quicklist_high) {
                (Some(l), _) => l.span(),
                (None, Some(h)) => h.span(),
                (None, None) => 0..0,
            };
            let mut e = self
                .err(
                    span,
                    format!(
                        "quicklist_low = {} is above quicklist_high = {}",
                        cfg.quicklist_low, cfg.quicklist_high
                    ),
                )
                .expected("quicklist_low <= quicklist_high");
            if let (Some(_), Some(h)) = (&k.quicklist_low, &k.quicklist_high) {
                e = e.also(h.span(), "the high-water mark");
            }
            return Err(e);
        }
        if let Some(v) = &k.gather_batch {
            cfg.gather_batch =
                self.int(v, "gather_batch", 1, limits::GATHER_BATCH_MAX as i64)? as u16;
        }
        Ok(())
    }

    fn unknown_patch(&self, span: Range<usize>, text: &str) -> ScenarioError {
        let names = Atom::ALL.iter().map(|a| a.name());
        self.err(span, format!("unknown patch {}", ticked(text)))
            .label("unknown patch")
            .expected(one_of(names.clone()))
            .suggest(suggest(&text.replace('_', "-"), names))
    }

    /// A preset name, optionally followed by `+atom` patches (the form
    /// `Variant::label` prints).
    fn variant(&self, v: &Spanned<String>) -> Result<Variant> {
        let text = v.get_ref().as_str();
        if let Some(variant) = Variant::preset(text) {
            return Ok(variant);
        }
        // The longest preset that is a `+`-prefix of the text.
        let base = PRESETS
            .iter()
            .filter(|(n, _, _)| {
                text.strip_prefix(n)
                    .is_some_and(|rest| rest.starts_with('+'))
            })
            .max_by_key(|(n, _, _)| n.len());
        let Some((base_name, _, atoms)) = base else {
            return Err(self
                .err(v.span(), format!("unknown kernel variant {}", ticked(text)))
                .label("unknown variant")
                .expected(format!(
                    "a preset, {}, optionally followed by `+patch`",
                    one_of(Variant::preset_names())
                ))
                .suggest(suggest(text, Variant::preset_names())));
        };
        let mut variant = Variant::from_atoms(atoms);
        let rest = text.get(base_name.len() + 1..).unwrap_or("");
        for a in rest.split('+') {
            match Atom::parse(a) {
                Some(atom) => variant = variant.with(atom),
                None => {
                    let mut e = self
                        .unknown_patch(v.span(), a)
                        .note(format!("in kernel variant {}", ticked(text)));
                    // "2.4.18+andera": a misspelt preset, not a patch.
                    if let Some(p) = suggest(text, Variant::preset_names())
                        && !text.starts_with(&format!("{p}+"))
                    {
                        e = e.note(format!("or did you mean the preset `{p}`?"));
                    }
                    return Err(e);
                }
            }
        }
        if let Err(e) = variant.policy() {
            return Err(self
                .err(v.span(), format!("kernel variant {}: {e}", ticked(text)))
                .label("contradicting patches"));
        }
        Ok(variant)
    }

    // ---- addresses --------------------------------------------------

    /// The modelled address ranges, for error messages.
    fn modelled(&self, cfg: &Config) -> String {
        let ranges: Vec<String> = (0..cfg.user_slots as u64)
            .map(|s| {
                let start = s * SLOT_BYTES;
                let end = start + cfg.ptes_per_table as u64 * PAGE_BYTES - 1;
                format!("{}-{}", hex(start), hex(end))
            })
            .collect();
        format!(
            "this machine models slots 0..{} of 4 MiB with {} each ({})",
            cfg.user_slots,
            plural(cfg.ptes_per_table as u64, "page", "pages"),
            ranges.join(", ")
        )
    }

    /// Why `addr` is not a modelled page: (message, expected).
    fn address_problem(&self, cfg: &Config, addr: u64) -> (String, String) {
        if !addr.is_multiple_of(PAGE_BYTES) {
            let down = addr - addr % PAGE_BYTES;
            return (
                format!(
                    "address {} is not page aligned (pages are 4 KiB; the page holding it starts at {})",
                    hex(addr),
                    hex(down)
                ),
                format!(
                    "a page-aligned address (a multiple of 0x1000) such as {}",
                    hex(down)
                ),
            );
        }
        let slot = addr / SLOT_BYTES;
        let expected = "an address in one of the modelled ranges".to_string();
        if slot >= cfg.user_slots as u64 {
            return (
                format!(
                    "address {} is outside every slot: {}",
                    hex(addr),
                    self.modelled(cfg)
                ),
                expected,
            );
        }
        let start = slot * SLOT_BYTES;
        (
            format!(
                "address {} is outside every modelled page: slot {} ({}-{}) models only its first {} ({}-{}); {}",
                hex(addr),
                slot,
                hex(start),
                hex(start + SLOT_BYTES - 1),
                plural(cfg.ptes_per_table as u64, "page", "pages"),
                hex(start),
                hex(start + cfg.ptes_per_table as u64 * PAGE_BYTES - 1),
                self.modelled(cfg)
            ),
            expected,
        )
    }

    fn page(&self, cfg: &Config, addr: u64, span: Range<usize>) -> Result<Vpn> {
        match cfg.vpn_of(addr) {
            Some(vpn) => Ok(vpn),
            None => {
                let (message, expected) = self.address_problem(cfg, addr);
                Err(self
                    .err(span, message)
                    .label("not a modelled page")
                    .expected(expected))
            }
        }
    }

    /// A range of `pages` pages from `addr`, as (first user page, pages):
    /// inside the user slots, and covering each slot's unmodelled pages (its
    /// tail, past the first `ptes_per_table`) whole or not at all, so that
    /// one bit per slot tells whether a VMA still covers part of the slot.
    fn range(
        &self,
        cfg: &Config,
        addr: u64,
        addr_span: Range<usize>,
        pages: u64,
        pages_span: Range<usize>,
    ) -> Result<(Pages, Pages)> {
        let user_end = cfg.user_slots as u64 * SLOT_BYTES;
        let ppt = cfg.ptes_per_table as u64;
        let tail_of = |a: u64| {
            let first = a - a % SLOT_BYTES;
            first + ppt * PAGE_BYTES..first + SLOT_BYTES
        };
        if !addr.is_multiple_of(PAGE_BYTES) || addr >= user_end {
            let (message, expected) = self.address_problem(cfg, addr);
            return Err(self
                .err(addr_span, message)
                .label("not a modelled page")
                .expected(expected));
        }
        if pages == 0 {
            return Err(self
                .err(pages_span, "a range of 0 pages")
                .label("empty range")
                .expected(format!("1..={} pages", (user_end - addr) / PAGE_BYTES)));
        }
        let end = addr.saturating_add(pages.saturating_mul(PAGE_BYTES));
        let tail = tail_of(addr);
        if tail.contains(&addr) && addr != tail.start {
            let (message, _) = self.address_problem(cfg, addr);
            return Err(self
                .err(addr_span, message)
                .label("not a modelled page")
                .expected(format!(
                    "an address in one of the modelled ranges, or {} (where slot {}'s unmodelled pages start: a range covers them all or none)",
                    hex(tail.start),
                    addr / SLOT_BYTES
                )));
        }
        let last = end - 1;
        let last_tail = tail_of(last.min(user_end - 1));
        if end > user_end || (last_tail.contains(&last) && end != last_tail.end) {
            let (i, why, expected) = if end > user_end {
                let (why, expected) = self.address_problem(cfg, user_end);
                ((user_end - addr) / PAGE_BYTES + 1, why, expected)
            } else {
                (
                    (last_tail.start.max(addr) - addr) / PAGE_BYTES + 1,
                    format!(
                        "it covers only part of slot {}'s unmodelled pages ({}-{}), which a range covers all or none of",
                        last / SLOT_BYTES,
                        hex(last_tail.start),
                        hex(last_tail.end - 1)
                    ),
                    format!(
                        "a range ending at a modelled page or at {}",
                        hex(last_tail.end - 1)
                    ),
                )
            };
            return Err(self
                .err(
                    pages_span,
                    format!(
                        "{} from {} run to {}, but page {} of them is not modelled: {}",
                        plural(pages, "page", "pages"),
                        hex(addr),
                        hex(end - 1),
                        i,
                        why
                    ),
                )
                .label("too many pages")
                .expected(format!(
                    "a range of modelled pages and whole runs of unmodelled ones ({expected})"
                )));
        }
        Ok(((addr / PAGE_BYTES) as Pages, pages as Pages))
    }

    // ---- processes --------------------------------------------------

    fn processes(&self, raw: &[RawProcess], cfg: &mut Config) -> Result<()> {
        for (i, p) in raw.iter().enumerate() {
            let name = self.name(&p.name, "process name")?;
            if i >= limits::PROCESSES_MAX {
                return Err(self
                    .err(
                        p.name.span(),
                        format!(
                            "too many processes: this is process {} and the limit is {}",
                            i + 1,
                            limits::PROCESSES_MAX
                        ),
                    )
                    .expected(format!(
                        "at most {} [[process]] tables",
                        limits::PROCESSES_MAX
                    )));
            }
            if let Some(prev) = raw
                .get(..i)
                .and_then(|r| r.iter().find(|q| *q.name.get_ref() == name))
            {
                return Err(self
                    .err(
                        p.name.span(),
                        format!("a second process named {}", ticked(&name)),
                    )
                    .label("duplicate name")
                    .also(prev.name.span(), "first defined here")
                    .expected("a unique process name"));
            }
            let mut vmas: Vec<(VmaCfg, Range<u64>, Range<usize>)> = Vec::new();
            for v in &p.vmas {
                let r = v.get_ref();
                let start = *r.start.get_ref();
                let pages = *r.pages.get_ref();
                let (Ok(start), Ok(pages)) = (u64::try_from(start), u64::try_from(pages)) else {
                    let (span, what) = if start < 0 {
                        (r.start.span(), format!("vma start {start} is negative"))
                    } else {
                        (r.pages.span(), format!("vma pages = {pages} is negative"))
                    };
                    return Err(self.err(span, what).expected("a non-negative integer"));
                };
                let (page, pages) =
                    self.range(cfg, start, r.start.span(), pages, r.pages.span())?;
                let m = super::kernel::program::modelled(
                    page,
                    pages,
                    cfg.ptes_per_table,
                    cfg.user_slots,
                );
                let new = page as u64..page as u64 + pages as u64;
                if let Some((_, old, old_span)) = vmas
                    .iter()
                    .find(|(_, o, _)| o.start < new.end && new.start < o.end)
                {
                    return Err(self
                        .err(
                            v.span(),
                            format!(
                                "this vma ({}-{}) overlaps another vma of process {} ({}-{})",
                                hex(start),
                                hex(start + pages as u64 * PAGE_BYTES - 1),
                                ticked(&name),
                                hex(old.start * PAGE_BYTES),
                                hex(old.end * PAGE_BYTES - 1)
                            ),
                        )
                        .label("overlapping vma")
                        .also(old_span.clone(), "the other vma")
                        .expected("disjoint vmas within one process"));
                }
                vmas.push((
                    VmaCfg {
                        first_vpn: m.lo,
                        pages: m.hi - m.lo,
                        tails: m.tails,
                        populated: r.populated,
                    },
                    new,
                    v.span(),
                ));
            }
            cfg.processes.push(ProcessCfg {
                name,
                vmas: vmas.into_iter().map(|(v, _, _)| v).collect(),
            });
        }
        Ok(())
    }

    /// Frames the initial state takes: swapper_pg_dir, a pgd per process,
    /// a page table per (process, slot) with a populated vma, a frame per
    /// populated page; at least one frame must stay free.
    fn frames_needed(&self, raw: &RawScenario, cfg: &Config) -> Result<()> {
        let budget = cfg.frames as usize - 1; // one must stay free
        let mut used = 1usize; // swapper_pg_dir
        let (mut pgds, mut tables, mut pages) = (0usize, 0usize, 0usize);
        let mut culprit: Option<Range<usize>> = None;
        for (p, rp) in cfg.processes.iter().zip(&raw.process) {
            pgds += 1;
            used += 1;
            if used > budget && culprit.is_none() {
                culprit = Some(rp.name.span());
            }
            let mut slots = BTreeSet::new();
            for (v, rv) in p.vmas.iter().zip(&rp.vmas) {
                if !v.populated {
                    continue;
                }
                for vpn in v.first_vpn..v.first_vpn.saturating_add(v.pages) {
                    if slots.insert(cfg.slot_of(vpn)) {
                        tables += 1;
                        used += 1;
                    }
                    pages += 1;
                    used += 1;
                }
                if used > budget && culprit.is_none() {
                    culprit = Some(rv.span());
                }
            }
        }
        let Some(span) = culprit else {
            return Ok(());
        };
        let what = if pages > 0 {
            "pre-populated mappings"
        } else {
            "the processes' page directories"
        };
        Err(self
            .err(
                span,
                format!(
                    "{what} need {} frames but the machine has {}",
                    used + 1,
                    cfg.frames
                ),
            )
            .label("this does not fit")
            .also(
                raw.machine.frames.span(),
                format!("the machine has {} frames", cfg.frames),
            )
            .expected(format!("frames >= {} or fewer populated pages", used + 1))
            .note(format!(
                "1 swapper_pg_dir + {} + {} + {} + 1 frame that must stay free = {}",
                plural(pgds as u64, "pgd", "pgds"),
                plural(tables as u64, "page table", "page tables"),
                plural(pages as u64, "data page", "data pages"),
                used + 1
            )))
    }

    // ---- threads ----------------------------------------------------

    fn process_ref(&self, cfg: &Config, v: &Spanned<String>, who: &str) -> Result<u8> {
        let name = v.get_ref();
        if let Some(i) = cfg.processes.iter().position(|p| p.name == *name) {
            return Ok(i as u8);
        }
        let names: Vec<&str> = cfg.processes.iter().map(|p| p.name.as_str()).collect();
        let expected = if names.is_empty() {
            format!("a [[process]] table with name = {}", quoted(name))
        } else {
            format!("a process name: {}", one_of(names.iter().copied()))
        };
        Err(self
            .err(
                v.span(),
                format!(
                    "{who} names process {}, but there is no such [[process]]",
                    ticked(name)
                ),
            )
            .label("no such process")
            .expected(expected)
            .suggest(suggest(name, names)))
    }

    fn cpu_range(&self, cfg: &Config) -> String {
        if cfg.cpus == 1 {
            "0".to_string()
        } else {
            format!("0..={}", cfg.cpus - 1)
        }
    }

    fn cpu(&self, cfg: &Config, v: &Spanned<StrOrInt>, kernel: bool) -> Result<Placement> {
        let expected = if kernel {
            format!(
                "a CPU number {} (kernel threads are pinned)",
                self.cpu_range(cfg)
            )
        } else {
            format!("a CPU number {} or \"any\"", self.cpu_range(cfg))
        };
        match v.get_ref() {
            StrOrInt::Int(n) if *n >= 0 && *n < cfg.cpus as i64 => Ok(Placement::Pinned(*n as u8)),
            StrOrInt::Int(n) => Err(self
                .err(
                    v.span(),
                    format!(
                        "cpu {n} is out of range: this machine has {}",
                        plural(cfg.cpus as u64, "CPU", "CPUs")
                    ),
                )
                .label("no such CPU")
                .expected(expected)),
            StrOrInt::Str(s) if s == "any" && !kernel => Ok(Placement::Any),
            StrOrInt::Str(s) if s == "any" => Err(self
                .err(v.span(), "a kernel thread cannot have cpu = \"any\"")
                .label("kernel threads are pinned")
                .expected(expected)),
            StrOrInt::Str(s) => {
                let mut e = self
                    .err(v.span(), format!("cpu = {} is not a CPU", quoted(s)))
                    .expected(expected);
                if !kernel {
                    e = e.suggest(suggest(s, ["any"]));
                }
                Err(e)
            }
        }
    }

    fn tasks(&self, raw: &RawScenario, cfg: &mut Config) -> Result<()> {
        if raw.thread.is_empty() {
            return Err(self
                .err(0..0, "the scenario has no [[thread]]")
                .expected("at least one [[thread]] table with name, process, cpu and program"));
        }
        let task_names: Vec<&Spanned<String>> = raw
            .thread
            .iter()
            .map(|t| &t.name)
            .chain(raw.kthread.iter().map(|k| &k.name))
            .collect();
        for (i, n) in task_names.iter().enumerate() {
            let name = self.name(n, "task name")?;
            if let Some(prev) = task_names
                .get(..i)
                .and_then(|p| p.iter().find(|q| *q.get_ref() == name))
            {
                return Err(self
                    .err(n.span(), format!("a second thread named {}", ticked(&name)))
                    .label("duplicate name")
                    .also(prev.span(), "first defined here")
                    .expected("a unique name among [[thread]] and [[kthread]] tables"));
            }
            if i >= limits::TASKS_MAX {
                return Err(self
                    .err(
                        n.span(),
                        format!(
                            "too many threads: {} is task {} and the limit is {} ([[thread]] plus [[kthread]])",
                            ticked(&name),
                            i + 1,
                            limits::TASKS_MAX
                        ),
                    )
                    .expected(format!("at most {} tasks", limits::TASKS_MAX)));
            }
        }
        for t in &raw.thread {
            cfg.threads.push(self.thread(cfg, t)?);
        }
        for k in &raw.kthread {
            let kt = self.kthread(cfg, k)?;
            if kt.lazy_on.is_some()
                && let Some((other, raw_other)) = cfg
                    .kthreads
                    .iter()
                    .zip(&raw.kthread)
                    .find(|(o, _)| o.cpu == kt.cpu && o.lazy_on.is_some())
            {
                let span_of =
                    |r: &RawKthread| r.lazy_on.as_ref().map_or(r.name.span(), |l| l.span());
                return Err(self
                    .err(
                        span_of(k),
                        format!(
                            "kernel threads {} and {} both start running lazily on CPU {}",
                            ticked(&other.name),
                            ticked(&kt.name),
                            kt.cpu
                        ),
                    )
                    .label("second lazy start on this CPU")
                    .also(span_of(raw_other), "the first")
                    .expected("at most one kernel thread with lazy_on per CPU"));
            }
            cfg.kthreads.push(kt);
        }
        self.starts(raw, cfg)?;
        let mms = cfg.processes.len() + super::system::spare_mms(cfg);
        if mms > limits::MMS_MAX {
            let (t, rt) = cfg
                .threads
                .iter()
                .zip(&raw.thread)
                .rfind(|(t, _)| t.program.contains(&Op::Exec))
                .expect("spare mms come from exec ops");
            return Err(self
                .err(
                    rt.name.span(),
                    format!(
                        "too many mms: {} processes and {} exec of a multi-threaded process (each may allocate a new mm) make {mms}, and the limit is {}",
                        cfg.processes.len(),
                        super::system::spare_mms(cfg),
                        limits::MMS_MAX
                    ),
                )
                .label(format!("thread {} execs", ticked(&t.name)))
                .expected(format!(
                    "processes plus execs in multi-threaded processes <= {}",
                    limits::MMS_MAX
                )));
        }
        for (i, (p, rp)) in cfg.processes.iter().zip(&raw.process).enumerate() {
            if !cfg.threads.iter().any(|t| t.process as usize == i) {
                return Err(self
                    .err(
                        rp.name.span(),
                        format!("process {} has no thread", ticked(&p.name)),
                    )
                    .label("no [[thread]] runs in this process")
                    .expected(format!("a [[thread]] with process = {}", quoted(&p.name))));
            }
        }
        Ok(())
    }

    /// At most one task claims to be running on a CPU when the run
    /// starts: a thread's `start` or a kernel thread's `lazy_on`.
    fn starts(&self, raw: &RawScenario, cfg: &Config) -> Result<()> {
        for (i, (t, rt)) in cfg.threads.iter().zip(&raw.thread).enumerate() {
            let (Some(cpu), Some(span)) = (t.start, rt.start.as_ref().map(|s| s.span())) else {
                continue;
            };
            let earlier = cfg.threads[..i]
                .iter()
                .zip(&raw.thread)
                .find(|(o, _)| o.start == Some(cpu))
                .map(|(o, ro)| {
                    (
                        &o.name,
                        ro.start.as_ref().map_or(ro.name.span(), |s| s.span()),
                    )
                });
            let lazy = cfg
                .kthreads
                .iter()
                .zip(&raw.kthread)
                .find(|(k, _)| k.cpu == cpu && k.lazy_on.is_some())
                .map(|(k, rk)| {
                    (
                        &k.name,
                        rk.lazy_on.as_ref().map_or(rk.name.span(), |l| l.span()),
                    )
                });
            let (other, other_span, what) = match (earlier, lazy) {
                (Some((n, s)), _) => (n, s, "starts there too"),
                (None, Some((n, s))) => (n, s, "starts there lazily (lazy_on)"),
                (None, None) => continue,
            };
            return Err(self
                .err(
                    span,
                    format!(
                        "thread {} starts on CPU {cpu}, but {} {what}: one task runs on a CPU when the run starts",
                        ticked(&t.name),
                        ticked(other)
                    ),
                )
                .label("second start on this CPU")
                .also(other_span, "the first")
                .expected("at most one thread with start = N or kernel thread with lazy_on per CPU"));
        }
        Ok(())
    }

    fn thread(&self, cfg: &Config, t: &RawThread) -> Result<ThreadCfg> {
        let name = t.name.get_ref().clone();
        let process = self.process_ref(cfg, &t.process, &format!("thread {}", ticked(&name)))?;
        let placement = self.cpu(cfg, &t.cpu, false)?;
        let start = match (&t.start, placement) {
            (None, _) => None,
            (Some(v), Placement::Any) => Some(self.int(v, "start", 0, cfg.cpus as i64 - 1)? as u8),
            (Some(v), Placement::Pinned(c)) => {
                return Err(self
                    .err(
                        v.span(),
                        format!(
                            "thread {} is pinned to CPU {c}: `start` is for a thread with cpu = \"any\"",
                            ticked(&name)
                        ),
                    )
                    .label("start of a pinned thread")
                    .also(t.cpu.span(), "pinned here")
                    .expected("cpu = \"any\" with start = N, or cpu = N without start"));
            }
        };
        let program = self.program(cfg, &t.program, None)?;
        Ok(ThreadCfg {
            name,
            process,
            placement,
            start,
            program,
        })
    }

    fn kthread(&self, cfg: &Config, k: &RawKthread) -> Result<KthreadCfg> {
        let name = k.name.get_ref().clone();
        let cpu = match self.cpu(cfg, &k.cpu, true)? {
            Placement::Pinned(c) => c,
            Placement::Any => 0, // refused by `cpu` for kernel threads
        };
        let lazy_on = match &k.lazy_on {
            Some(l) => {
                Some(self.process_ref(cfg, l, &format!("kernel thread {}", ticked(&name)))?)
            }
            None => None,
        };
        let warm = match &k.warm {
            Some(w) if *w.get_ref() && lazy_on.is_none() => {
                return Err(self
                    .err(
                        w.span(),
                        format!(
                            "kernel thread {} starts warm but not lazily on a process: a warm TLB holds some process's pages",
                            ticked(&name)
                        ),
                    )
                    .label("warm without lazy_on")
                    .expected("lazy_on = \"PROCESS\" next to warm = true"));
            }
            Some(w) => *w.get_ref(),
            None => false,
        };
        let program = self.program(cfg, &k.program, Some(&name))?;
        Ok(KthreadCfg {
            name,
            cpu,
            lazy_on,
            warm,
            program,
        })
    }

    /// The unrolled program; `kthread` names the kernel thread whose
    /// program this is (only `yield` allowed).
    fn program(
        &self,
        cfg: &Config,
        items: &[Spanned<RawItem>],
        kthread: Option<&str>,
    ) -> Result<Vec<Op>> {
        let ops = self.unroll(cfg, items, kthread, 0)?;
        if let Some(i) = ops.iter().position(|(op, _)| *op == Op::Exit)
            && let Some((_, after)) = ops.get(i + 1)
        {
            let exit_span = ops.get(i).map_or(0..0, |o| o.1.clone());
            return Err(self
                .err(after.clone(), "an op after `exit` would never run")
                .label("after exit")
                .also(exit_span, "the thread exits here")
                .expected("`exit` as the last op of a program"));
        }
        Ok(ops.into_iter().map(|(op, _)| op).collect())
    }

    fn unroll(
        &self,
        cfg: &Config,
        items: &[Spanned<RawItem>],
        kthread: Option<&str>,
        depth: usize,
    ) -> Result<Vec<(Op, Range<usize>)>> {
        let max = limits::PROGRAM_OPS_MAX;
        let mut out: Vec<(Op, Range<usize>)> = Vec::new();
        for item in items {
            match item.get_ref() {
                RawItem::Op(s) => {
                    if out.len() >= max {
                        return Err(self
                            .err(item.span(), format!("this program has more than {max} ops"))
                            .label(format!("op {}", out.len() + 1))
                            .expected(format!("at most {max} ops once loops are unrolled")));
                    }
                    let ops = self.op(cfg, s, item.span(), kthread, max - out.len())?;
                    out.extend(ops.into_iter().map(|op| (op, item.span())));
                }
                RawItem::Repeat(r) => {
                    if depth >= REPEAT_NESTING_MAX {
                        return Err(self
                            .err(
                                item.span(),
                                format!("loops nested more than {REPEAT_NESTING_MAX} deep"),
                            )
                            .expected(format!(
                                "at most {REPEAT_NESTING_MAX} nested repeat loops"
                            )));
                    }
                    let count = self.int(&r.repeat, "repeat", 1, max as i64)? as usize;
                    if r.body.is_empty() {
                        return Err(self
                            .err(item.span(), "a loop with an empty body")
                            .label("empty body")
                            .expected("body = [ at least one op ]"));
                    }
                    let body = self.unroll(cfg, &r.body, kthread, depth + 1)?;
                    let total = out.len() + body.len() * count;
                    if total > max {
                        return Err(self
                            .err(
                                r.repeat.span(),
                                format!(
                                    "repeat = {count} of a {}-op body makes {total} ops, more than the limit of {max}",
                                    body.len()
                                ),
                            )
                            .label("too many repetitions")
                            .expected(format!(
                                "at most {max} ops once loops are unrolled (here repeat <= {})",
                                (max - out.len()) / body.len().max(1)
                            )));
                    }
                    for _ in 0..count {
                        out.extend(body.iter().cloned());
                    }
                }
            }
        }
        Ok(out)
    }

    /// Where the text of the string value at `span` starts, when the TOML
    /// spelling is the value itself between quotes (no escapes).
    fn string_body(&self, span: &Range<usize>, value: &str) -> Option<usize> {
        let raw = self.source.get(span.clone())?;
        for q in ['"', '\''] {
            if raw.len() >= 2
                && raw.starts_with(q)
                && raw.ends_with(q)
                && raw.get(1..raw.len() - 1) == Some(value)
            {
                return Some(span.start + 1);
            }
        }
        None
    }

    fn sub_span(&self, span: &Range<usize>, value: &str, rel: &Range<usize>) -> Range<usize> {
        match self.string_body(span, value) {
            Some(b) => b + rel.start..b + rel.end,
            None => span.clone(),
        }
    }

    /// The ops of one op string: one, or one access per page of `read
    /// ADDR PAGES` / `write ADDR PAGES` (at most `room`, what the program
    /// has left of its limit).
    fn op(
        &self,
        cfg: &Config,
        s: &str,
        span: Range<usize>,
        kthread: Option<&str>,
        room: usize,
    ) -> Result<Vec<Op>> {
        let parsed = match op::parse_op(s) {
            Ok(p) => p,
            Err(e) => {
                return Err(self
                    .err(
                        self.sub_span(&span, s, &e.at),
                        format!("in op {}: {}", quoted(s), e.message),
                    )
                    .expected(e.expected)
                    .suggest(e.suggestion));
            }
        };
        if let Some(k) = kthread
            && parsed.kind != OpKind::Yield
        {
            return Err(self
                .err(
                    span,
                    format!(
                        "kernel thread {} cannot `{}`: it has no mm of its own",
                        ticked(k),
                        parsed.kind.name()
                    ),
                )
                .label("not allowed in a kernel thread")
                .expected("only \"yield\" in a [[kthread]] program"));
        }
        let addr_page = |n: &op::Num| self.page(cfg, n.value, self.sub_span(&span, s, &n.at));
        let addr_range = |a: &op::Num, p: &op::Num| {
            self.range(
                cfg,
                a.value,
                self.sub_span(&span, s, &a.at),
                p.value,
                self.sub_span(&span, s, &p.at),
            )
        };
        let missing = || self.err(span.clone(), format!("malformed op {}", quoted(s)));
        // `read ADDR PAGES`, `write ADDR PAGES`: each page, in order.
        let accesses = |a: &op::Num, p: &op::Num, write: bool| -> Result<Vec<Op>> {
            let at = self.sub_span(&span, s, &p.at);
            if p.value == 0 || p.value > room as u64 {
                return Err(self
                    .err(
                        at,
                        format!(
                            "{} pages to {}",
                            p.value,
                            if write { "write" } else { "read" }
                        ),
                    )
                    .label("page count")
                    .expected(format!(
                        "1..={room} pages (what is left of the program's {} ops)",
                        limits::PROGRAM_OPS_MAX
                    )));
            }
            (0..p.value)
                .map(|i| {
                    let addr = a.value.saturating_add(i.saturating_mul(PAGE_BYTES));
                    // The first page is the address's; a later one that is
                    // not modelled is the count's fault.
                    let at = if i == 0 { &a.at } else { &p.at };
                    let vpn = self.page(cfg, addr, self.sub_span(&span, s, at))?;
                    Ok(if write {
                        Op::Write { vpn }
                    } else {
                        Op::Read { vpn }
                    })
                })
                .collect()
        };
        Ok(match (parsed.kind, &parsed.addr, &parsed.pages) {
            (OpKind::Mmap, Some(a), Some(p)) => {
                let (page, pages) = addr_range(a, p)?;
                vec![Op::Mmap { page, pages }]
            }
            (OpKind::Munmap, Some(a), Some(p)) => {
                let (page, pages) = addr_range(a, p)?;
                vec![Op::Munmap { page, pages }]
            }
            (OpKind::Read, Some(a), None) => vec![Op::Read { vpn: addr_page(a)? }],
            (OpKind::Write, Some(a), None) => vec![Op::Write { vpn: addr_page(a)? }],
            (OpKind::Read, Some(a), Some(p)) => accesses(a, p, false)?,
            (OpKind::Write, Some(a), Some(p)) => accesses(a, p, true)?,
            (OpKind::Exec, None, None) => vec![Op::Exec],
            (OpKind::Exit, None, None) => vec![Op::Exit],
            (OpKind::Yield, None, None) => vec![Op::Yield],
            _ => return Err(missing()),
        })
    }

    // ---- check and bounds -------------------------------------------

    fn check(&self, raw: &RawScenario, cfg: &mut Config) -> Result<()> {
        let Some(c) = &raw.check else {
            return Ok(());
        };
        if let Some(props) = &c.properties {
            let mut bits = 0u16;
            for p in props {
                let n = *p.get_ref();
                if !(0..=8).contains(&n) {
                    return Err(self
                        .err(p.span(), format!("there is no property {n}"))
                        .label("unknown property")
                        .expected(
                            "property numbers 0..=8 (docs/background.md section 4; 0 is strict mode)",
                        ));
                }
                bits |= 1 << n;
            }
            cfg.properties = Properties { bits };
        }
        if c.strict == Some(true) {
            cfg.properties.bits |= 1;
        }
        Ok(())
    }

    fn bounds(&self, raw: &RawScenario, cfg: &mut Config) -> Result<()> {
        let Some(b) = &raw.bounds else {
            return Ok(());
        };
        let big = |v: &Option<Spanned<i64>>, what: &str| -> Result<Option<u64>> {
            match v {
                Some(v) => Ok(Some(self.int(v, what, 1, i64::MAX)? as u64)),
                None => Ok(None),
            }
        };
        cfg.bounds.states_max = big(&b.states_max, "states_max")?;
        cfg.bounds.depth_max = match &b.depth_max {
            Some(v) => Some(self.int(v, "depth_max", 1, u32::MAX as i64)? as u32),
            None => None,
        };
        cfg.bounds.time_max = big(&b.time_max_s, "time_max_s")?.map(std::time::Duration::from_secs);
        cfg.bounds.memory_max_mb = big(&b.memory_max_mb, "memory_max_mb")?;
        Ok(())
    }

    /// `[cost]`: unit costs for the model estimate, each 0-1000000000
    /// cycles.
    fn cost(&self, raw: &RawScenario, cfg: &mut Config) -> Result<()> {
        let Some(c) = &raw.cost else {
            return Ok(());
        };
        let t = &mut cfg.cost_table;
        for (v, what, field) in [
            (&c.ipi_send, "ipi_send", &mut t.ipi_send),
            (&c.ipi_handler, "ipi_handler", &mut t.ipi_handler),
            (&c.ack_wait, "ack_wait", &mut t.ack_wait),
            (&c.local_flush, "local_flush", &mut t.local_flush),
            (&c.cr3_load, "cr3_load", &mut t.cr3_load),
            (&c.invlpg, "invlpg", &mut t.invlpg),
            (&c.walk_level, "walk_level", &mut t.walk_level),
            (&c.refill, "refill", &mut t.refill),
        ] {
            if let Some(v) = v {
                *field = self.int(v, what, 0, 1_000_000_000)? as u64;
            }
        }
        Ok(())
    }
}
