//! Tidy: checks on the source tree itself, not on what it computes.
//!
//! Cheap habits that review would otherwise have to catch (rust-analyzer's
//! `tidy.rs` is the model): every module opens with a `//!` comment saying
//! what it is; the layering of ARCHITECTURE.md holds, comments included;
//! committed text never points into the workspace outside the repository;
//! the README states the `rust-version` Cargo checks and the test command
//! CI runs.
//!
//! Where a rule has offenders today in files this test's author does not
//! own, they are listed as known exceptions.  The lists may only shrink: an
//! entry that no longer offends fails the test until it is removed.

use std::path::{Path, PathBuf};

/// Modules that do not open with a `//!` comment yet.  Remove an entry once
/// its module has one.
const MODULES_WITHOUT_DOC: &[&str] = &[];

/// Files that still mention the shared workspace directory.  Remove an entry
/// once its file no longer does.
const FILES_NAMING_SHARED: &[&str] = &[];

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// Every file under `dir` (relative to the repository root), recursively,
/// as root-relative paths with `/` separators, sorted.
fn files_under(dir: &str) -> Vec<String> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("directory entry").path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                let rel = path.strip_prefix(root).expect("under the root");
                let rel: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(rel.join("/"));
            }
        }
    }
    let root = root();
    let mut out = Vec::new();
    walk(&root, &root.join(dir), &mut out);
    out.sort();
    out
}

fn read(rel: &str) -> String {
    std::fs::read_to_string(root().join(rel)).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// The source directories: the application's and each crate's.
fn source_dirs() -> Vec<String> {
    let mut dirs = vec!["src".to_string()];
    for c in std::fs::read_dir(root().join("crates")).expect("crates/") {
        let c = c.expect("directory entry").path();
        if c.join("src").is_dir() {
            let name = c
                .file_name()
                .expect("a name")
                .to_string_lossy()
                .into_owned();
            dirs.push(format!("crates/{name}/src"));
        }
    }
    dirs.sort();
    dirs
}

fn rust_files(dir: &str) -> Vec<String> {
    files_under(dir)
        .into_iter()
        .filter(|f| f.ends_with(".rs"))
        .collect()
}

/// Compares the offenders of a rule with its exception list: new offenders
/// and stale exceptions both fail, each with what to do about it.
fn check_exceptions(rule: &str, offenders: &[String], exceptions: &[&str], fix: &str) {
    let new: Vec<&String> = offenders
        .iter()
        .filter(|o| !exceptions.contains(&o.as_str()))
        .collect();
    let stale: Vec<&&str> = exceptions
        .iter()
        .filter(|e| !offenders.iter().any(|o| o == *e))
        .collect();
    let mut problems = String::new();
    if !new.is_empty() {
        problems += &format!("{rule}: {fix}:\n");
        for o in &new {
            problems += &format!("    {o}\n");
        }
    }
    if !stale.is_empty() {
        problems += &format!(
            "{rule}: these known exceptions are fixed; remove them from the list in tests/tidy.rs:\n"
        );
        for s in &stale {
            problems += &format!("    {s}\n");
        }
    }
    assert!(problems.is_empty(), "\n{problems}");
}

#[test]
fn every_module_opens_with_a_doc_comment() {
    let mut offenders = Vec::new();
    // The integration tests too: each says which concern it covers.
    let mut dirs = source_dirs();
    dirs.push("tests".to_string());
    for dir in dirs {
        for file in rust_files(&dir) {
            let text = read(&file);
            let first = text.lines().map(str::trim).find(|l| !l.is_empty());
            if !first.is_some_and(|l| l.starts_with("//!")) {
                offenders.push(file);
            }
        }
    }
    check_exceptions(
        "module docs",
        &offenders,
        MODULES_WITHOUT_DOC,
        "open each of these modules with a `//!` comment saying what it is (and, in hw/ and kernel/, what it models, after which source, and what it leaves out)",
    );
}

/// The files of `dir` that mention any of `needles` (code or comment), with
/// the first line that does.
fn mentions(dir: &str, needles: &[&str]) -> Vec<String> {
    let mut found = Vec::new();
    for file in files_under(dir) {
        let Ok(text) = std::fs::read_to_string(root().join(&file)) else {
            continue;
        };
        for (n, line) in text.lines().enumerate() {
            if let Some(needle) = needles.iter().find(|needle| line.contains(*needle)) {
                found.push(format!(
                    "{file}:{}: mentions `{needle}`: {}",
                    n + 1,
                    line.trim()
                ));
                break;
            }
        }
    }
    found
}

/// The names of the path dependencies a crate's Cargo.toml declares.
fn dependencies(manifest: &str) -> Vec<String> {
    let table: toml::Table = read(manifest)
        .parse()
        .unwrap_or_else(|e| panic!("{manifest}: {e}"));
    let mut names = Vec::new();
    for section in ["dependencies", "dev-dependencies", "build-dependencies"] {
        if let Some(deps) = table.get(section).and_then(|d| d.as_table()) {
            names.extend(deps.keys().cloned());
        }
    }
    names
}

#[test]
fn layers_point_one_way() {
    let mut broken = Vec::new();
    // The explorer and the reports name no domain type: neither the model
    // nor the application.
    for c in ["crates/explore", "crates/report"] {
        broken.extend(mentions(
            c,
            &["shootdown_model", "shootdown-model", "shootdown::"],
        ));
        for d in dependencies(&format!("{c}/Cargo.toml")) {
            if d == "shootdown" || d == "shootdown-model" {
                broken.push(format!("{c}/Cargo.toml: depends on {d}"));
            }
        }
    }
    // The model never sees the application: not its CLI, not its scenario
    // files (the system layer builds the model from a `Config`).
    broken.extend(mentions(
        "crates/model",
        &["shootdown::", "scenario::", "mod scenario"],
    ));
    if dependencies("crates/model/Cargo.toml")
        .iter()
        .any(|d| d == "shootdown")
    {
        broken.push("crates/model/Cargo.toml: depends on the application".into());
    }
    // Inside the model: hw <- kernel <- system.
    broken.extend(mentions(
        "crates/model/src/hw",
        &[
            "crate::kernel",
            "crate::system",
            "super::kernel",
            "super::system",
        ],
    ));
    broken.extend(mentions(
        "crates/model/src/kernel",
        &["crate::system", "super::system"],
    ));
    // Today's x86 (issue 11) is a family of its own: hw::x86_64 <- kernel6
    // <- system6, never the 2002 kernel or system (`crate::system` also
    // catches system6 in kernel6).
    broken.extend(mentions(
        "crates/model/src/kernel6",
        &[
            "crate::system",
            "super::system",
            "crate::kernel::",
            "super::kernel::",
        ],
    ));
    broken.extend(mentions(
        "crates/model/src/system6",
        &[
            "crate::system::",
            "super::system::",
            "crate::kernel::",
            "super::kernel::",
        ],
    ));
    assert!(
        broken.is_empty(),
        "\nthe layering of ARCHITECTURE.md is broken:\n    {}\n",
        broken.join("\n    ")
    );
}

#[test]
fn committed_text_does_not_point_outside_the_repository() {
    // Built so that this file does not name it itself.
    let shared = ["..", "shared"].join("/");
    let mut offenders = Vec::new();
    let mut files = vec!["README.md".to_string(), "ARCHITECTURE.md".to_string()];
    for dir in ["docs", "scenarios", "src", "crates"] {
        files.extend(files_under(dir));
    }
    for file in files {
        let bytes = std::fs::read(root().join(&file)).unwrap_or_else(|e| panic!("{file}: {e}"));
        if bytes.windows(shared.len()).any(|w| w == shared.as_bytes()) {
            offenders.push(file);
        }
    }
    check_exceptions(
        "links outside the repository",
        &offenders,
        FILES_NAMING_SHARED,
        &format!(
            "these files name `{shared}`, which readers of the repository do not have; cite the source itself (a mail, a kernel file, an SDM section) or a file under docs/"
        ),
    );
}

/// The README's "Set-up and the two commands" section.
fn readme_setup() -> String {
    let readme = read("README.md");
    let start = readme
        .find("\n## Set-up")
        .expect("README.md has a `## Set-up` section");
    let rest = &readme[start + 1..];
    let end = rest[3..].find("\n## ").map_or(rest.len(), |e| e + 3);
    rest[..end].to_string()
}

#[test]
fn the_readme_states_the_rust_version_cargo_checks() {
    let setup = readme_setup();
    let marker = "Rust toolchain (";
    let at = setup
        .find(marker)
        .expect("the set-up section says `Rust toolchain (X or later`")
        + marker.len();
    let stated: String = setup[at..]
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '.')
        .collect();
    assert!(
        setup[at + stated.len()..].starts_with(" or later"),
        "the set-up section should say `Rust toolchain ({stated} or later`"
    );
    for manifest in [
        "Cargo.toml",
        "crates/explore/Cargo.toml",
        "crates/model/Cargo.toml",
        "crates/report/Cargo.toml",
    ] {
        let table: toml::Table = read(manifest)
            .parse()
            .unwrap_or_else(|e| panic!("{manifest}: {e}"));
        let version = table
            .get("package")
            .and_then(|p| p.get("rust-version"))
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{manifest}: no package.rust-version"));
        assert_eq!(
            version, stated,
            "{manifest}'s rust-version and the README's set-up section disagree"
        );
    }
}

#[test]
fn ci_runs_the_readmes_test_command() {
    let setup = readme_setup();
    let block = setup
        .split("```sh\n")
        .nth(1)
        .and_then(|b| b.split("```").next())
        .expect("the set-up section shows its commands in a ```sh block");
    let commands: Vec<&str> = block
        .lines()
        .map(|l| l.split(" #").next().expect("a command").trim())
        .filter(|l| !l.is_empty())
        .collect();
    assert_eq!(
        commands.len(),
        2,
        "the set-up section shows two commands, the main job and the tests: {commands:?}"
    );
    let test_command = commands[1];
    assert!(
        test_command.starts_with("cargo test"),
        "the second command is the tests: {test_command}"
    );
    let ci = read(".ci/run");
    assert!(
        ci.lines().any(|l| l.trim() == test_command),
        ".ci/run must run the README's test command exactly as written: `{test_command}`"
    );
}
