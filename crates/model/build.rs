//! Build script: a hash of the model's source, so that checkpoints and
//! trace files made by a different model are refused even when the
//! package version did not change.

use std::hash::{Hash, Hasher};
use std::path::Path;

fn visit(dir: &Path, files: &mut Vec<std::path::PathBuf>) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for e in entries.flatten() {
        let p = e.path();
        if p.is_dir() {
            visit(&p, files);
        } else if p.extension().is_some_and(|x| x == "rs") {
            files.push(p);
        }
    }
}

fn main() {
    let mut files = Vec::new();
    // The parts whose change can change what an action means or what a
    // state holds.
    // Relative to the model's own directory: this script also builds
    // `shootdown-model-large`, whose manifest sits in crates/model-large.
    let manifest = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let here = Path::new(&manifest).join("../model");
    for d in [
        "src/hw",
        "src/kernel",
        "src/system",
        "src/kernel6",
        "src/system6",
        "../explore/src",
    ] {
        let d = here.join(d);
        visit(&d, &mut files);
        let d = d.display();
        println!("cargo:rerun-if-changed={d}");
    }
    files.sort();
    let mut h = std::collections::hash_map::DefaultHasher::new();
    for f in &files {
        if f.file_name().is_some_and(|n| n == "tests.rs") {
            continue;
        }
        // The path inside the model's directory, so that every checkout
        // (and both packages) get the same hash.
        f.strip_prefix(&here)
            .unwrap_or(f)
            .to_string_lossy()
            .hash(&mut h);
        std::fs::read(f).unwrap_or_default().hash(&mut h);
    }
    println!("cargo:rustc-env=SHOOTDOWN_MODEL_HASH={:016x}", h.finish());
}
