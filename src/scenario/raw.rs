//! The scenario file as TOML gives it: every table denies unknown fields,
//! and every value that needs a semantic check keeps its span.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, Deserializer, MapAccess, Visitor};
use toml::Spanned;

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawScenario {
    pub name: Spanned<String>,
    pub description: Spanned<String>,
    pub machine: RawMachine,
    #[serde(default)]
    pub hardware: Option<RawHardware>,
    #[serde(default)]
    pub kernel: Option<RawKernel>,
    #[serde(default)]
    pub process: Vec<RawProcess>,
    #[serde(default)]
    pub thread: Vec<RawThread>,
    #[serde(default)]
    pub kthread: Vec<RawKthread>,
    #[serde(default)]
    pub check: Option<RawCheck>,
    #[serde(default)]
    pub bounds: Option<RawBounds>,
    #[serde(default)]
    pub cost: Option<RawCost>,
}

/// `[cost]`: unit costs in cycles for the model estimate
/// (`system::cost::CostTable`); each overrides its default.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCost {
    pub ipi_send: Option<Spanned<i64>>,
    pub ipi_handler: Option<Spanned<i64>>,
    pub ack_wait: Option<Spanned<i64>>,
    pub local_flush: Option<Spanned<i64>>,
    pub cr3_load: Option<Spanned<i64>>,
    pub invlpg: Option<Spanned<i64>>,
    pub walk_level: Option<Spanned<i64>>,
    pub refill: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawMachine {
    pub cpus: Spanned<i64>,
    pub frames: Spanned<i64>,
    pub user_slots: Spanned<i64>,
    pub ptes_per_table: Spanned<i64>,
}

/// `[hardware]`: `profile` and any hardware switch by name
/// (`HwFeatures::SWITCHES`); the loader checks names, types and ranges,
/// with spans for every key and value.
#[derive(Debug, Deserialize)]
#[serde(transparent)]
pub(crate) struct RawHardware(
    pub std::collections::BTreeMap<Spanned<String>, Spanned<toml::Value>>,
);

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKernel {
    #[serde(default)]
    pub variant: Option<Spanned<String>>,
    #[serde(default)]
    pub patches: Vec<Spanned<String>>,
    #[serde(default)]
    pub quicklist_low: Option<Spanned<i64>>,
    #[serde(default)]
    pub quicklist_high: Option<Spanned<i64>>,
    #[serde(default)]
    pub gather_batch: Option<Spanned<i64>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawProcess {
    pub name: Spanned<String>,
    #[serde(default)]
    pub vmas: Vec<Spanned<RawVma>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawVma {
    pub start: Spanned<i64>,
    pub pages: Spanned<i64>,
    #[serde(default)]
    pub populated: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawThread {
    pub name: Spanned<String>,
    pub process: Spanned<String>,
    pub cpu: Spanned<StrOrInt>,
    #[serde(default)]
    pub start: Option<Spanned<i64>>,
    pub program: Vec<Spanned<RawItem>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawKthread {
    pub name: Spanned<String>,
    pub cpu: Spanned<StrOrInt>,
    #[serde(default)]
    pub lazy_on: Option<Spanned<String>>,
    #[serde(default)]
    pub warm: Option<Spanned<bool>>,
    #[serde(default)]
    pub program: Vec<Spanned<RawItem>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawCheck {
    #[serde(default)]
    pub properties: Option<Vec<Spanned<i64>>>,
    #[serde(default)]
    pub strict: Option<bool>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawBounds {
    #[serde(default)]
    pub states_max: Option<Spanned<i64>>,
    #[serde(default)]
    pub depth_max: Option<Spanned<i64>>,
    #[serde(default)]
    pub time_max_s: Option<Spanned<i64>>,
    #[serde(default)]
    pub memory_max_mb: Option<Spanned<i64>>,
}

/// A value that may be a string or an integer (`cpu = 0` / `cpu = "any"`,
/// `profile = 4` / `profile = "speculative"`).
#[derive(Debug)]
pub(crate) enum StrOrInt {
    Str(String),
    Int(i64),
}

impl<'de> Deserialize<'de> for StrOrInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = StrOrInt;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str("an integer or a string")
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<StrOrInt, E> {
                Ok(StrOrInt::Int(v))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<StrOrInt, E> {
                Ok(StrOrInt::Int(i64::try_from(v).unwrap_or(i64::MAX)))
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<StrOrInt, E> {
                Ok(StrOrInt::Str(v.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// One element of a `program` array: an op string, or a bounded loop.
#[derive(Debug)]
pub(crate) enum RawItem {
    Op(String),
    Repeat(RawRepeat),
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct RawRepeat {
    pub repeat: Spanned<i64>,
    pub body: Vec<Spanned<RawItem>>,
}

impl<'de> Deserialize<'de> for RawItem {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = RawItem;
            fn expecting(&self, f: &mut fmt::Formatter) -> fmt::Result {
                f.write_str(
                    "an op string such as \"read 0x00400000\" or a loop { repeat = N, body = [...] }",
                )
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<RawItem, E> {
                Ok(RawItem::Op(v.to_string()))
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<RawItem, A::Error> {
                RawRepeat::deserialize(de::value::MapAccessDeserializer::new(map))
                    .map(RawItem::Repeat)
            }
        }
        d.deserialize_any(V)
    }
}
