//! Rules of the source that keep promises the tests cannot check one call at a time, read from
//! the crates' own files.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// The `.rs` files under `dir`, recursively.
fn rust_files(dir: &Path) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            files.extend(rust_files(&path));
        } else if path.extension().is_some_and(|e| e == "rs") {
            files.push(path);
        }
    }
    files.sort();
    files
}

/// This crate's folder, as cargo names it when it runs the test: not `env!`'s, which is where the
/// test was compiled (a build folder shared by two clones would read the other clone's files).
fn crate_dir() -> PathBuf {
    PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("run through cargo test"))
}

/// The crates' source folders: this crate's and the command's.
fn sources() -> Vec<PathBuf> {
    let crates = crate_dir();
    let crates = crates.parent().unwrap();
    ["catsdogs/src", "catsdogs-cli/src"]
        .iter()
        .flat_map(|dir| rust_files(&crates.join(dir)))
        .collect()
}

/// Every file that any command writes goes through `fsutil`'s one atomic write: no other
/// module creates, copies or writes a file's content itself.
#[test]
fn every_file_is_written_through_the_atomic_write() {
    let forbidden = [
        "fs::write(",
        "File::create(",
        "fs::copy(",
        ".write_npy(",
        "save_safetensors(",
        "write_safetensors(",
    ];
    let mut found = Vec::new();
    for file in sources() {
        if file.ends_with("fsutil.rs") {
            continue;
        }
        let text = std::fs::read_to_string(&file).unwrap();
        let code = text.split("#[cfg(test)]").next().unwrap_or_default();
        for (number, line) in code.lines().enumerate() {
            let line = line.trim_start();
            if line.starts_with("//") {
                continue;
            }
            let called = |f: &&str| {
                line.match_indices(*f).any(|(at, _)| {
                    let before = line[..at].chars().next_back();
                    !before.is_some_and(|c| c.is_alphanumeric() || c == '_')
                })
            };
            if let Some(call) = forbidden.iter().find(|f| called(f)) {
                found.push(format!("{}:{}: {call}", file.display(), number + 1));
            }
        }
    }
    assert!(
        found.is_empty(),
        "write through catsdogs::fsutil instead:\n{}",
        found.join("\n")
    );
}

/// The crate's modules by layer, from the bottom: a module may use modules of its own layer
/// and below, never above (the picture in `lib.rs`).
const LAYERS: [(&str, &[&str]); 5] = [
    (
        "utilities",
        &[
            "error",
            "fsutil",
            "hashing",
            "console",
            "interrupt",
            "device",
            "precision",
            "progress",
            "tensor_file",
            "cache_file",
        ],
    ),
    ("data", &["data"]),
    (
        "network",
        &[
            "model",
            "optimizers",
            "losses",
            "history",
            "applications",
            "weights",
            "imagenet",
        ],
    ),
    ("training", &["features", "train"]),
    (
        "presentation",
        &[
            "plot",
            "display",
            "notebook",
            "bench",
            "experiments",
            "gradcam",
        ],
    ),
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS
        .iter()
        .position(|(_, modules)| modules.contains(&module))
}

/// The top-level module a source file belongs to (`data` for `src/data/split/mod.rs`).
fn module_of(file: &Path) -> String {
    let src = crate_dir().join("src");
    let relative = file.strip_prefix(&src).unwrap();
    let first = relative.components().next().unwrap().as_os_str();
    first.to_string_lossy().trim_end_matches(".rs").to_string()
}

/// The modules that `module`'s code (not its comments or tests) names with `crate::`.
fn used_modules(text: &str) -> Vec<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or_default();
    let mut used = Vec::new();
    for line in code.lines() {
        let line = line.split("//").next().unwrap_or_default();
        for (at, _) in line.match_indices("crate::") {
            let rest = &line[at + "crate::".len()..];
            if let Some(group) = rest.strip_prefix('{') {
                // `use crate::{a::x, b::{y, z}}`: the first segment of each top-level item.
                used.extend(top_level_items(group).into_iter().map(first_segment));
                continue;
            }
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            // `crate::say!` is console's macro; `crate::Error` and `crate::Result` are error's.
            let name = match name.as_str() {
                "say" => "console".to_string(),
                "Error" | "Result" => "error".to_string(),
                "device" if rest.starts_with("device()") => "device".to_string(),
                _ => name,
            };
            used.push(name);
        }
    }
    used
}

/// The items of a `use` group up to its closing brace, split at its own commas only.
fn top_level_items(group: &str) -> Vec<&str> {
    let (mut depth, mut start, mut items) = (0, 0, Vec::new());
    for (at, c) in group.char_indices() {
        match c {
            '{' => depth += 1,
            '}' if depth == 0 => {
                items.push(&group[start..at]);
                return items;
            }
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(&group[start..at]);
                start = at + 1;
            }
            _ => {}
        }
    }
    items.push(&group[start..]);
    items
}

/// `data` of ` data::Flow`.
fn first_segment(item: &str) -> String {
    item.trim()
        .split("::")
        .next()
        .unwrap_or_default()
        .to_string()
}

/// No module uses one of a layer above its own, so the layers' picture stays true.
#[test]
fn modules_only_look_down() {
    let mut upward = Vec::new();
    for file in rust_files(&crate_dir().join("src")) {
        let module = module_of(&file);
        if module == "lib" {
            continue;
        }
        let own =
            layer_of(&module).unwrap_or_else(|| panic!("module {module} is in no layer of LAYERS"));
        let text = std::fs::read_to_string(&file).unwrap();
        for used in used_modules(&text) {
            let Some(layer) = layer_of(&used) else {
                continue;
            };
            if layer > own {
                upward.push(format!(
                    "{}: {module} ({}) uses {used} ({})",
                    file.display(),
                    LAYERS[own].0,
                    LAYERS[layer].0
                ));
            }
        }
    }
    upward.sort();
    upward.dedup();
    assert!(
        upward.is_empty(),
        "modules that look up:\n{}",
        upward.join("\n")
    );
}

/// The layer check reads what it should: an upward use is found, a comment is not.
#[test]
fn the_layer_check_sees_uses_and_skips_comments() {
    let text =
        "use crate::{data::Flow, plot::{a, b}};\n// crate::notebook\nlet x = crate::say!(\"\");";
    assert_eq!(used_modules(text), ["data", "plot", "console"]);
    assert_eq!(layer_of("plot"), Some(4));
    assert_eq!(layer_of("fsutil"), Some(0));
}

/// No two modules use each other, even through others (the crate's modules form no cycle), so
/// that changing one part shows what else moves.
#[test]
fn modules_form_no_cycle() {
    let mut uses: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for file in rust_files(&crate_dir().join("src")) {
        let module = module_of(&file);
        let text = std::fs::read_to_string(&file).unwrap();
        let used: Vec<String> = used_modules(&text)
            .into_iter()
            .filter(|m| *m != module)
            .collect();
        uses.entry(module).or_default().extend(used);
    }
    uses.remove("lib");
    // Peel off modules that use nothing left; what cannot be peeled is on a cycle.
    loop {
        let leaves: Vec<String> = uses
            .iter()
            .filter(|(_, used)| used.iter().all(|m| !uses.contains_key(m)))
            .map(|(module, _)| module.clone())
            .collect();
        if leaves.is_empty() {
            break;
        }
        for leaf in leaves {
            uses.remove(&leaf);
        }
    }
    assert!(uses.is_empty(), "modules on a cycle: {uses:?}");
}
