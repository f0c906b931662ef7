//! Patch files for `shootdown today --patch FILE`: a change to Linux 6.x's
//! x86 TLB code, written as the decisions of the model's kernel
//! ([`Spec`]): start from a named variant (`base`), then reorder
//! `switch_mm_irqs_off()`, add or drop barriers, change whom a flush IPIs.
//! docs/tutorial.md ("Checking a patch of your own") walks through one.
//!
//! Errors are [`ScenarioError`]s: file, line, column, what was expected,
//! and the closest known name for a misspelt one (exit code 2).

use std::ops::Range;
use std::sync::Arc;

use serde::Deserialize;
use toml::Spanned;

use crate::kernel6::collapse::Variant22045;
use crate::kernel6::gen_rule::VariantGen;
use crate::kernel6::{EarlyReturn, LazyIpi, PartialRule, Spec, SwitchOp, Variant};
use crate::scenario::{ScenarioError, closest};

/// A loaded patch: its name and one-line description, and the kernel.
#[derive(Clone, Debug)]
pub struct Patch {
    pub name: String,
    pub description: String,
    /// The variant it applies to (command-line name).
    pub base: String,
    pub spec: Spec,
}

/// Every variant a patch may start from: (command-line name, spec, the
/// kernel's long name).  The default base is mainline, `83b0177a`.
pub fn bases() -> Vec<(&'static str, Spec, &'static str)> {
    Variant::ALL
        .into_iter()
        .map(|v| (variant_name(v), v.spec(), v.name()))
        .chain(
            Variant22045::ALL
                .into_iter()
                .map(|v| (variant_name_22045(v), v.spec(), v.name())),
        )
        .chain(
            VariantGen::ALL
                .into_iter()
                .map(|v| (variant_name_gen(v), v.spec(), v.name())),
        )
        .collect()
}

/// A concurrent-flush variant's command-line name.
pub fn variant_name_gen(v: VariantGen) -> &'static str {
    match v {
        VariantGen::BeforeAa442849 => "before-aa442849",
        VariantGen::Aa442849 => "aa442849",
        VariantGen::Fix8f1d56f6 => "8f1d56f6",
    }
}

/// A COW-shape variant's command-line name.
pub fn variant_name(v: Variant) -> &'static str {
    match v {
        Variant::Before209954cb => "before-209954cb",
        Variant::BeforeFea4e317 => "before-fea4e317",
        Variant::Fea4e317 => "fea4e317",
        Variant::Fix83b0177a => "83b0177a",
        Variant::StableWrongOrder => "stable-wrong-order",
        Variant::StableReordered => "stable-reordered",
        Variant::V614 => "v6.14",
        Variant::Stable614 => "stable-6.14.y",
    }
}

/// A CVE-2025-22045 variant's command-line name.
pub fn variant_name_22045(v: Variant22045) -> &'static str {
    match v {
        Variant22045::BeforeD86564a2 => "before-d86564a2",
        Variant22045::Before145f573b => "before-145f573b",
        Variant22045::Before3ef938c3 => "before-3ef938c3",
        Variant22045::Fix3ef938c3 => "3ef938c3",
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawPatch {
    name: Spanned<String>,
    description: Option<Spanned<String>>,
    base: Option<Spanned<String>>,
    switch_mm_irqs_off: Option<RawSwitch>,
    should_flush_tlb: Option<RawShould>,
    flush: Option<RawFlush>,
    flush_tlb_func: Option<RawFunc>,
    mmu_gather: Option<RawGather>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawGather {
    freed_tables: Option<bool>,
    table_invalidate: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFunc {
    partial: Option<Spanned<String>>,
    early_return: Option<Spanned<String>>,
    local_tlb_gen: Option<Spanned<String>>,
}

/// `[flush_tlb_func] local_tlb_gen`'s values: what the flush writes into
/// `ctxs[asid].tlb_gen` (true: `mm_tlb_gen`).
const LOCAL_GEN: [(&str, bool); 2] = [("mm-tlb-gen", true), ("new-tlb-gen", false)];

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSwitch {
    steps: Option<Spanned<Vec<Spanned<String>>>>,
    lazy_steps: Option<Spanned<Vec<Spanned<String>>>>,
    lazy_cpumask: Option<bool>,
    smp_mb_when_bit_set: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawShould {
    checks_loaded_mm: Option<bool>,
    ipi_switching: Option<bool>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawFlush {
    ipi_lazy: Option<Spanned<String>>,
    flush_tlb_range_freed_tables: Option<bool>,
}

fn ticked(s: &str) -> String {
    format!("`{s}`")
}

fn one_of<'a>(names: impl IntoIterator<Item = &'a str>) -> String {
    let names: Vec<String> = names.into_iter().map(ticked).collect();
    format!("one of {}", names.join(", "))
}

/// Parses a patch file's text; `file` names it in errors.
pub fn load_str(file: &str, text: &str) -> Result<Patch, ScenarioError> {
    let source: Arc<str> = Arc::from(text);
    let at = |span: Range<usize>, msg: String| ScenarioError::at(file, &source, span, msg);
    let raw: RawPatch =
        toml::from_str(text).map_err(|e| crate::scenario::toml_error(file, &source, &e))?;
    let bases = bases();
    let (base, mut spec) = match &raw.base {
        None => ("83b0177a".to_string(), Variant::Fix83b0177a.spec()),
        Some(b) => {
            let name = b.get_ref().as_str();
            match bases.iter().find(|(n, _, _)| *n == name) {
                Some((n, s, _)) => (n.to_string(), *s),
                None => {
                    return Err(
                        at(b.span(), format!("unknown base variant {}", ticked(name)))
                            .label("not a variant of `shootdown today`")
                            .expected(one_of(bases.iter().map(|(n, _, _)| *n)))
                            .suggest(closest(name, bases.iter().map(|(n, _, _)| *n))),
                    );
                }
            }
        }
    };
    // A list of step names, each checked against the known steps.
    let ops_of = |steps: &Spanned<Vec<Spanned<String>>>| -> Result<Vec<SwitchOp>, ScenarioError> {
        let mut ops = Vec::new();
        for st in steps.get_ref() {
            let key = st.get_ref().as_str();
            match SwitchOp::from_key(key) {
                Some(op) => ops.push(op),
                None => {
                    let keys = SwitchOp::ALL.map(SwitchOp::key);
                    return Err(at(
                        st.span(),
                        format!("unknown switch_mm_irqs_off() step {}", ticked(key)),
                    )
                    .label("unknown step")
                    .expected(one_of(keys))
                    .suggest(closest(key, keys)));
                }
            }
        }
        Ok(ops)
    };
    if let Some(sw) = &raw.switch_mm_irqs_off {
        if let Some(steps) = &sw.steps {
            let ops = ops_of(steps)?;
            spec.set_switch_ops(&ops).map_err(|why| {
                at(
                    steps.span(),
                    format!("these steps are not a switch_mm_irqs_off(): {why}"),
                )
                .label("in these steps")
            })?;
        }
        if let Some(steps) = &sw.lazy_steps {
            let ops = ops_of(steps)?;
            spec.set_lazy_ops(&ops).map_err(|why| {
                at(
                    steps.span(),
                    format!("these steps are not the lazy path of switch_mm_irqs_off(): {why}"),
                )
                .label("in these steps")
            })?;
        }
        if let Some(v) = sw.lazy_cpumask {
            spec.lazy_cpumask = v;
        }
        if let Some(v) = sw.smp_mb_when_bit_set {
            spec.mb_when_bit_set = v;
        }
    }
    if let Some(sh) = &raw.should_flush_tlb {
        if let Some(v) = sh.checks_loaded_mm {
            spec.ipi_checks_loaded_mm = v;
        }
        if let Some(v) = sh.ipi_switching {
            spec.ipi_switching = v;
        }
    }
    if let Some(fl) = &raw.flush {
        if let Some(l) = &fl.ipi_lazy {
            let key = l.get_ref().as_str();
            spec.ipi_lazy = match LazyIpi::ALL.into_iter().find(|x| x.key() == key) {
                Some(x) => x,
                None => {
                    let keys = LazyIpi::ALL.map(LazyIpi::key);
                    return Err(at(l.span(), format!("unknown ipi_lazy {}", ticked(key)))
                        .label("unknown value")
                        .expected(one_of(keys))
                        .suggest(closest(key, keys)));
                }
            };
        }
        if let Some(v) = fl.flush_tlb_range_freed_tables {
            spec.range_freed_tables = v;
        }
    }
    if let Some(g) = &raw.mmu_gather {
        if let Some(v) = g.freed_tables {
            spec.gather_freed_tables = v;
        }
        if let Some(v) = g.table_invalidate {
            spec.table_invalidate = v;
        }
    }
    if let Some(fu) = &raw.flush_tlb_func {
        // One `key = "value"` of this section, checked against its values.
        fn pick<T: Copy>(
            at: &dyn Fn(Range<usize>, String) -> ScenarioError,
            v: &Spanned<String>,
            what: &str,
            all: &[(&'static str, T)],
        ) -> Result<T, ScenarioError> {
            let key = v.get_ref().as_str();
            match all.iter().find(|(k, _)| *k == key) {
                Some(&(_, x)) => Ok(x),
                None => {
                    let keys = all.iter().map(|(k, _)| *k);
                    Err(at(v.span(), format!("unknown {what} {}", ticked(key)))
                        .label("unknown value")
                        .expected(one_of(keys.clone()))
                        .suggest(closest(key, keys)))
                }
            }
        }
        if let Some(v) = &fu.partial {
            let all = PartialRule::ALL.map(|r| (r.key(), r));
            spec.partial_rule = pick(&at, v, "partial", &all)?;
        }
        if let Some(v) = &fu.early_return {
            let all = EarlyReturn::ALL.map(|r| (r.key(), r));
            spec.early_return = pick(&at, v, "early_return", &all)?;
        }
        if let Some(v) = &fu.local_tlb_gen {
            spec.local_gen_is_mm_gen = pick(&at, v, "local_tlb_gen", &LOCAL_GEN)?;
        }
    }
    let name = raw.name.get_ref().trim();
    if name.is_empty() || name.chars().any(char::is_control) || name.chars().count() > 60 {
        return Err(at(raw.name.span(), "bad patch name".into())
            .expected("a name of 1 to 60 characters on one line"));
    }
    let description = match &raw.description {
        None => String::new(),
        Some(d) => {
            let t = d.get_ref().trim();
            if t.chars().any(char::is_control) || t.chars().count() > 200 {
                return Err(at(d.span(), "bad description".into())
                    .expected("one line of at most 200 characters"));
            }
            t.to_string()
        }
    };
    Ok(Patch {
        name: name.to_string(),
        description,
        base,
        spec,
    })
}

/// The patch file that reproduces `spec` exactly (`today --variant NAME
/// --as-patch`): every decision written out, with a comment naming the
/// commit that made it.
pub fn render(name: &str, base: &str, spec: &Spec) -> String {
    let quoted = |ops: &[SwitchOp]| -> String {
        ops.iter()
            .map(|o| format!("\"{}\"", o.key()))
            .collect::<Vec<_>>()
            .join(", ")
    };
    let keys = SwitchOp::ALL.map(SwitchOp::key).join(", ");
    let lazy = LazyIpi::ALL.map(LazyIpi::key).join(", ");
    let partials = PartialRule::ALL.map(PartialRule::key).join(", ");
    let earlies = EarlyReturn::ALL.map(EarlyReturn::key).join(", ");
    format!(
        "# A Linux 6.x x86 TLB kernel for `shootdown today --patch FILE`.\n\
         # Edit the decisions below to describe your patch; see docs/tutorial.md,\n\
         # \"Checking a patch of your own\".\n\
         name = \"{name}\"\n\
         description = \"\"\n\
         # The variant this patch applies to (`shootdown today` lists them);\n\
         # anything not set below keeps its value.\n\
         base = \"{base}\"\n\
         \n\
         [switch_mm_irqs_off]\n\
         # The steps of the prev != next path, in program order (interrupts off).\n\
         # Known steps: {keys}.\n\
         steps = [{}]\n\
         # The lazy path (prev == next after lazy mode) up to its decision: is_lazy = false,\n\
         # smp_mb(), tlb_gen compared; a flushing reload follows if it went out of date.\n\
         lazy_steps = [{}]\n\
         # 209954cbc7d0: keep the CPU's bit in the old mm's mask; set it only if clear.\n\
         lazy_cpumask = {}\n\
         # 83b0177a6c48: smp_mb() where the lazy cpumask skips cpumask_set_cpu().\n\
         smp_mb_when_bit_set = {}\n\
         \n\
         [should_flush_tlb]\n\
         # 6db2526c1d69: IPI a non-lazy CPU only if its loaded_mm is the flushed mm\n\
         # (before it: every non-lazy CPU in the mask).\n\
         checks_loaded_mm = {}\n\
         # fea4e317f9e7: also IPI a CPU whose loaded_mm is LOADED_MM_SWITCHING.\n\
         ipi_switching = {}\n\
         \n\
         [flush]\n\
         # 145f573b89a6: which lazy CPUs a flush IPIs ({lazy}).\n\
         ipi_lazy = \"{}\"\n\
         # 3ef938c35035: flush_tlb_range() passes freed_tables = true (THP collapse).\n\
         flush_tlb_range_freed_tables = {}\n\
         \n\
         [flush_tlb_func]\n\
         # When a flush may be partial (INVLPG of its range) instead of full ({partials}):\n\
         # next-and-latest is f->new_tlb_gen == local_tlb_gen + 1 && f->new_tlb_gen == mm_tlb_gen\n\
         # (every kernel since the generations, 2017: \"We wouldn't be skipping a tlb_gen\").\n\
         partial = \"{}\"\n\
         # The return on a request already covered, before mm_tlb_gen is read ({earlies}):\n\
         # none before aa44284960d5; stale (f->new_tlb_gen <= local_tlb_gen) from aa44284960d5;\n\
         # stale-valid (also f->new_tlb_gen != TLB_GENERATION_INVALID) from 8f1d56f64f8d.\n\
         early_return = \"{}\"\n\
         # What ctxs[asid].tlb_gen becomes after the flush (mm-tlb-gen, new-tlb-gen):\n\
         # \"Both paths above update our state to mm_tlb_gen.\"\n\
         local_tlb_gen = \"{}\"\n\
         \n\
         [mmu_gather]\n\
         # 016c4d92cd16: tlb_flush() passes tlb->freed_tables (set by pte_free_tlb()) to\n\
         # flush_tlb_mm_range(), so a munmap() that frees page tables IPIs lazy CPUs too.\n\
         freed_tables = {}\n\
         # d86564a2f085, tlb_table_invalidate(): when tlb_remove_table() cannot allocate its\n\
         # batch page it flushes before tlb_remove_table_one() frees the table (false: free\n\
         # first, as x86 did in 4.14..4.18 and Linux 2.4 did; tlb_needs_table_invalidate()).\n\
         table_invalidate = {}\n",
        quoted(spec.switch_ops()),
        quoted(spec.lazy_ops()),
        spec.lazy_cpumask,
        spec.mb_when_bit_set,
        spec.ipi_checks_loaded_mm,
        spec.ipi_switching,
        spec.ipi_lazy.key(),
        spec.range_freed_tables,
        spec.partial_rule.key(),
        spec.early_return.key(),
        if spec.local_gen_is_mm_gen {
            "mm-tlb-gen"
        } else {
            "new-tlb-gen"
        },
        spec.gather_freed_tables,
        spec.table_invalidate,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_variant_renders_to_a_patch_that_loads_back_to_it() {
        for (name, spec, _) in bases() {
            let text = render(name, name, &spec);
            let p = load_str("p.toml", &text).unwrap_or_else(|e| panic!("{}", e.render()));
            assert_eq!(p.spec, spec, "{name}");
            assert_eq!(p.base, name);
            // The same text on another base gives the same kernel: every
            // decision is written out.
            let other = text.replace(&format!("base = \"{name}\""), "base = \"before-145f573b\"");
            assert_eq!(
                load_str("p.toml", &other).expect("loads").spec,
                spec,
                "{name}"
            );
        }
    }

    #[test]
    fn a_patch_changes_only_what_it_sets() {
        let p = load_str(
            "p.toml",
            "name = \"drop the mb\"\nbase = \"83b0177a\"\n[switch_mm_irqs_off]\nsmp_mb_when_bit_set = false\n",
        )
        .expect("loads");
        let mut want = Variant::Fix83b0177a.spec();
        want.mb_when_bit_set = false;
        assert_eq!(p.spec, want);
        assert_eq!(
            p.spec,
            Variant::Fea4e317.spec(),
            "that is fea4e317f9e7 again"
        );
    }

    #[test]
    fn the_generation_rule_is_a_decision_of_a_patch() {
        let p = load_str(
            "p.toml",
            "name = \"x\"\nbase = \"aa442849\"\n[flush_tlb_func]\nearly_return = \"stale-valid\"\n",
        )
        .expect("loads");
        assert_eq!(
            p.spec,
            VariantGen::Fix8f1d56f6.spec(),
            "that is 8f1d56f64f8d"
        );
        let p = load_str(
            "p.toml",
            "name = \"x\"\n[flush_tlb_func]\npartial = \"latest\"\nlocal_tlb_gen = \"new-tlb-gen\"\n",
        )
        .expect("loads");
        assert_eq!(p.spec.partial_rule, PartialRule::Latest);
        assert!(!p.spec.local_gen_is_mm_gen);
        let text = render("n", "aa442849", &VariantGen::Aa442849.spec());
        assert!(text.contains("early_return = \"stale\""), "{text}");
        assert!(text.contains("aa44284960d5"), "{text}");
        assert!(text.contains("8f1d56f64f8d"), "{text}");
    }

    fn err(text: &str) -> ScenarioError {
        load_str("p.toml", text).expect_err("a bad patch")
    }

    #[test]
    fn bad_patches_are_located() {
        let e = err("name = \"x\"\nbase = \"83b0177\"\n");
        assert_eq!((e.line, e.column), (2, 8));
        assert!(e.message.contains("unknown base variant"), "{}", e.message);
        assert_eq!(e.suggestion(), Some("83b0177a"));

        let e =
            err("name = \"x\"\n[switch_mm_irqs_off]\nsteps = [\"load-cr3\", \"red-tlb-gen\"]\n");
        assert_eq!(e.line, 3);
        assert_eq!(e.suggestion(), Some("read-tlb-gen"));

        let e = err(
            "name = \"x\"\n[switch_mm_irqs_off]\nsteps = [\"load-cr3\", \"read-tlb-gen\", \"cpumask-set\", \"store-loaded-mm\"]\n",
        );
        assert_eq!(e.line, 3);
        assert!(e.message.contains("must come before"), "{}", e.message);

        let e = err(
            "name = \"x\"\n[switch_mm_irqs_off]\nsteps = [\"cpumask-set\", \"read-tlb-gen\", \"load-cr3\"]\n",
        );
        assert!(
            e.message.contains("`store-loaded-mm` is missing"),
            "{}",
            e.message
        );

        let e = err(
            "name = \"x\"\n[switch_mm_irqs_off]\nsteps = [\"cpumask-set\", \"read-tlb-gen\", \"load-cr3\", \"store-loaded-mm\", \"store-switching\"]\n",
        );
        assert!(
            e.message.contains("only barriers may follow"),
            "{}",
            e.message
        );

        let e = err(
            "name = \"x\"\n[switch_mm_irqs_off]\nlazy_steps = [\"store-not-lazy\", \"load-cr3\", \"read-tlb-gen\"]\n",
        );
        assert_eq!(e.line, 3);
        assert!(
            e.message.contains("not a step of the lazy path"),
            "{}",
            e.message
        );

        let e = err("name = \"x\"\n[flush]\nipi_lazy = \"sometimes\"\n");
        assert_eq!(e.line, 3);
        assert!(
            e.expected
                .as_deref()
                .unwrap_or("")
                .contains("when-tables-freed")
        );

        let e = err("name = \"x\"\n[should_flush_tlb]\nipi_switchin = true\n");
        assert_eq!(e.line, 3);
        assert_eq!(e.suggestion(), Some("ipi_switching"));

        let e = err("name = \"x\"\n[flush_tlb_func]\npartial = \"next-and-lates\"\n");
        assert_eq!((e.line, e.column), (3, 11));
        assert_eq!(e.suggestion(), Some("next-and-latest"));

        let e = err("name = \"x\"\n[flush_tlb_func]\nlocal_tlb_gen = \"mm\"\n");
        assert_eq!(e.line, 3);
        assert!(
            e.expected.as_deref().unwrap_or("").contains("new-tlb-gen"),
            "{:?}",
            e.expected
        );

        let e = err("name = \"x\"\n[flush_tlb_func]\nparital = \"next\"\n");
        assert_eq!(e.line, 3);
        assert_eq!(e.suggestion(), Some("partial"));

        let e = err("base = \"83b0177a\"\n");
        assert!(e.message.contains("missing field `name`"), "{}", e.message);

        let e = err("name = \"\"\n");
        assert_eq!(e.line, 1);
    }
}
