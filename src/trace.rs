//! Trace files: a counterexample as a versioned JSON document that can be
//! shared, re-rendered and replayed.
//!
//! A trace embeds the scenario's TOML text, so `replay` re-executes it from
//! the scenario alone: it rebuilds the model from that text, the variant
//! and the hardware switches, runs the recorded actions one by one, and
//! judges each step with its own oracle (`oracle.rs`), not with the
//! explorer's verdict.  A trace from another tool version is refused: the
//! meaning of an action may have changed.

use serde::{Deserialize, Serialize};
use shootdown_model::hw::HwFeatures;
use shootdown_model::kernel::variant::Variant;
use shootdown_model::system::config::Config;
use shootdown_model::system::counterexample::Counterexample;
use shootdown_model::system::replay::ReplayReport;
use shootdown_model::system::{System, Violation, property_name};

use crate::scenario;

pub const FORMAT: &str = "shootdown-trace";
pub const VERSION: u32 = 1;
/// The model's version and a hash of its source (crates/model/build.rs):
/// a trace's actions only mean the same to the same model.
pub const TOOL_VERSION: &str = shootdown_model::MODEL_VERSION;
/// Largest trace file `load` reads.
const TRACE_BYTES_MAX: u64 = 16 << 20;

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScenarioSource {
    pub name: String,
    /// Where it was loaded from (a built-in's path or the user's file).
    pub file: String,
    /// The scenario's TOML text, verbatim.
    pub text: String,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TraceFile {
    pub format: String,
    pub version: u32,
    pub tool_version: String,
    pub scenario: ScenarioSource,
    /// The variant label (`2.4.18+andrea+leave-mm-cr3`).
    pub variant: String,
    pub profile: Option<u8>,
    pub hardware: HwFeatures,
    /// Properties checked (0-8).
    pub properties: Vec<u8>,
    pub violation: Violation,
    pub counterexample: Counterexample,
    /// Where this trace was read from (for messages); not part of the file.
    #[serde(skip)]
    pub origin: Origin,
}

/// The path a trace was read from.  Not part of the trace's content, so it
/// never makes two traces differ.
#[derive(Clone, Debug, Default)]
pub struct Origin(pub String);

impl PartialEq for Origin {
    fn eq(&self, _: &Origin) -> bool {
        true
    }
}

impl TraceFile {
    pub fn new(
        cfg: &Config,
        source: ScenarioSource,
        v: &Violation,
        cx: &Counterexample,
    ) -> TraceFile {
        TraceFile {
            format: FORMAT.into(),
            version: VERSION,
            tool_version: TOOL_VERSION.into(),
            scenario: source,
            variant: cfg.variant.label(),
            profile: cfg.profile,
            hardware: cfg.hw,
            properties: cfg.properties.list(),
            violation: v.clone(),
            counterexample: cx.clone(),
            origin: Origin::default(),
        }
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a trace serializes")
    }

    /// Parses a trace, refusing other formats and versions with a clear
    /// message.
    pub fn from_json(file: &str, text: &str) -> Result<TraceFile, String> {
        let v: serde_json::Value = serde_json::from_str(text)
            .map_err(|e| format!("{file}:{}:{}: not valid JSON: {e}", e.line(), e.column()))?;
        if v.get("format").and_then(|f| f.as_str()) != Some(FORMAT) {
            return Err(format!(
                "{file}: not a shootdown trace (expected \"format\": \"{FORMAT}\")"
            ));
        }
        let version = v.get("version").and_then(|x| x.as_u64());
        if version != Some(VERSION as u64) {
            return Err(format!(
                "{file}: trace format version {} is not supported (this shootdown reads version {VERSION})",
                version
                    .map(|n| n.to_string())
                    .unwrap_or_else(|| "(missing)".into())
            ));
        }
        let tool = v
            .get("tool_version")
            .and_then(|x| x.as_str())
            .unwrap_or("(missing)");
        if tool != TOOL_VERSION {
            return Err(format!(
                "{file}: trace written by shootdown {tool}; this is shootdown {TOOL_VERSION}, whose model may differ: re-run `shootdown check --trace` to regenerate it"
            ));
        }
        let mut t: TraceFile =
            serde_json::from_value(v).map_err(|e| format!("{file}: malformed trace: {e}"))?;
        t.origin = Origin(file.to_string());
        t.check_claims()?;
        Ok(t)
    }

    /// A trace's claims must make sense before it is replayed: it checks
    /// some properties, each a known one, and claims one of them.
    fn check_claims(&self) -> Result<(), String> {
        let file = &self.origin.0;
        if self.properties.is_empty() {
            return Err(format!(
                "{file}: the trace checks no property (\"properties\": []), so there is nothing to confirm"
            ));
        }
        if let Some(p) = self.properties.iter().find(|&&p| p > 8) {
            return Err(format!(
                "{file}: the trace checks property {p}, which does not exist (expected 0-8)"
            ));
        }
        let claimed = self.violation.property;
        if claimed > 8 {
            return Err(format!(
                "{file}: the trace claims property {claimed}, which does not exist (expected 0-8)"
            ));
        }
        if !self.properties.contains(&claimed) {
            return Err(format!(
                "{file}: the trace claims property {claimed} ({}) but checks only {:?}: a replay could not confirm it",
                property_name(claimed),
                self.properties
            ));
        }
        Ok(())
    }

    pub fn load(path: &std::path::Path) -> Result<TraceFile, String> {
        let name = path.display().to_string();
        let meta = std::fs::metadata(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        if meta.len() > TRACE_BYTES_MAX {
            return Err(format!(
                "{name}: {} bytes is larger than a trace can be ({} MiB)",
                meta.len(),
                TRACE_BYTES_MAX >> 20
            ));
        }
        let text =
            std::fs::read_to_string(path).map_err(|e| format!("{name}: cannot read: {e}"))?;
        TraceFile::from_json(&name, &text)
    }

    /// The configuration the trace was recorded under, rebuilt from the
    /// embedded scenario text.
    /// Errors in the embedded scenario text are located in the trace file
    /// (the text's lines, under the trace's name), not at the path the
    /// scenario once had.
    pub fn config(&self) -> Result<Config, String> {
        let name = if self.origin.0.is_empty() {
            format!("{} (embedded in the trace)", self.scenario.file)
        } else {
            format!("{} (embedded scenario text)", self.origin.0)
        };
        let mut cfg = recorded_config(
            &name,
            &self.scenario,
            &self.variant,
            self.hardware,
            self.profile,
        )?;
        cfg.properties = crate::system::config::Properties::from_list(&self.properties)
            .map_err(|e| format!("{}: {e}", self.scenario.file))?;
        Ok(cfg)
    }

    /// Re-executes the trace and judges it with the oracle.
    pub fn replay(&self) -> Result<ReplayReport, String> {
        let cfg = self.config()?;
        let sys = System::new(cfg)?;
        Ok(sys.replay_actions(&self.counterexample.actions, self.violation.property))
    }
}

pub const SCHEDULE_FORMAT: &str = "shootdown-schedule";

/// A costed schedule: the actions of one execution and what it cost, as
/// `check --cost --trace` (the execution reaching a counter's maximum)
/// writes it; `replay` re-runs it through the model and compares the
/// counts.
#[derive(Clone, Debug, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ScheduleFile {
    pub format: String,
    pub version: u32,
    pub tool_version: String,
    pub scenario: ScenarioSource,
    pub variant: String,
    pub profile: Option<u8>,
    pub hardware: HwFeatures,
    /// What the schedule is: e.g. "the maximum of ipis_sent".
    pub what: String,
    pub actions: Vec<shootdown_model::system::Action>,
    /// Each counter's total over the schedule, by name.
    pub counts: std::collections::BTreeMap<String, u64>,
}

impl ScheduleFile {
    pub fn to_json(&self) -> String {
        serde_json::to_string_pretty(self).expect("a schedule serializes")
    }

    /// Whether `text` is a schedule file (not a trace).
    pub fn is_schedule(text: &str) -> bool {
        serde_json::from_str::<serde_json::Value>(text)
            .ok()
            .and_then(|v| {
                v.get("format")
                    .and_then(|f| f.as_str())
                    .map(|f| f == SCHEDULE_FORMAT)
            })
            .unwrap_or(false)
    }

    pub fn from_json(file: &str, text: &str) -> Result<ScheduleFile, String> {
        let s: ScheduleFile = serde_json::from_str(text).map_err(|e| {
            format!(
                "{file}:{}:{}: malformed schedule: {e}",
                e.line(),
                e.column()
            )
        })?;
        if s.version != VERSION {
            return Err(format!(
                "{file}: schedule format version {} is not supported (this shootdown reads version {VERSION})",
                s.version
            ));
        }
        if s.tool_version != TOOL_VERSION {
            return Err(format!(
                "{file}: schedule written by shootdown {}; this is shootdown {TOOL_VERSION}, whose model may differ: re-run `shootdown check --cost --trace` to regenerate it",
                s.tool_version
            ));
        }
        Ok(s)
    }

    /// The configuration the schedule was recorded under.
    pub fn config(&self, file: &str) -> Result<Config, String> {
        let name = format!("{file} (embedded scenario text)");
        recorded_config(
            &name,
            &self.scenario,
            &self.variant,
            self.hardware,
            self.profile,
        )
    }
}

/// The configuration a trace or schedule file was recorded under: its
/// embedded scenario text (errors located under `name`), with the variant
/// and hardware switches it recorded.
fn recorded_config(
    name: &str,
    scenario: &ScenarioSource,
    variant: &str,
    hw: HwFeatures,
    profile: Option<u8>,
) -> Result<Config, String> {
    let mut cfg = scenario::load_str(name, &scenario.text).map_err(|e| e.render())?;
    cfg.variant = Variant::parse_label(variant)?;
    cfg.hw = hw;
    cfg.profile = profile;
    Ok(cfg)
}
