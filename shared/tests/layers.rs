//! The architecture, checked: `shared`'s folders are layers, and imports point
//! down (or sideways within a folder), never up; no two files of `shared`,
//! `edge` or `frontend` import each other in a circle.
//!
//! An import is any `crate::a::b` path outside comments, a `super::a` path,
//! or, in a folder's `mod.rs` (or `lib.rs`), a path through one of the
//! modules it declares (`site::x`). A file's inline
//! `#[cfg(test)] mod tests { … }` is a module of its own (compiled only for tests), so it may use a
//! test harness that drives the code it tests; it must still respect the
//! layers.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// `shared/src`'s folders from the bottom up. A folder may import from
/// folders of a lower rank; folders of the same rank are independent of each
/// other (an import between them is refused too, so two of them cannot grow
/// a circle).
const LAYERS: &[(&str, u32)] = &[
    ("wire", 0),
    ("input", 1),
    ("view", 1),
    ("extract", 1),
    ("engine", 2),
    ("history", 3),
    ("load", 3),
    ("demo", 3),
    ("crawl", 3),
    ("jobs", 4),
    ("watch", 4),
    ("contract", 5),
];

/// A module: a file, or the `tests` module at its end.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Node {
    file: String,
    tests: bool,
}

impl std::fmt::Display for Node {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}{}", self.file, if self.tests { " (tests)" } else { "" })
    }
}

fn rs_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir).expect("source folder").map(|e| e.expect("entry").path()).collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rs_files(&p, out);
        } else if p.extension().is_some_and(|e| e == "rs") {
            out.push(p);
        }
    }
}

/// The file a `crate::` path names: the longest prefix that is a module file.
fn resolve(src: &Path, segments: &[&str]) -> Option<PathBuf> {
    (1..=segments.len()).rev().find_map(|n| {
        let rel: PathBuf = segments[..n].iter().collect();
        [src.join(&rel).with_extension("rs"), src.join(&rel).join("mod.rs")].into_iter().find(|p| p.is_file())
    })
}

/// Every `crate::…` path in `line`, as segments.
fn crate_paths(line: &str) -> Vec<Vec<&str>> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // `fanout_crate::`, not ours
        }
        assert!(!rest.starts_with('{'), "write `use crate::a::b` paths one by one, not `crate::{{…}}`: {line}");
        let end = rest.find(|c: char| !(c.is_alphanumeric() || c == '_' || c == ':')).unwrap_or(rest.len());
        let segs: Vec<&str> = rest[..end].split("::").filter(|s| !s.is_empty()).collect();
        out.push(segs);
    }
    out
}

/// Whether `code` uses a path that starts with module `child` (`child::`,
/// not `x_child::` or `a::child::`).
fn bare_paths(code: &str, child: &str) -> bool {
    let pat = format!("{child}::");
    code.match_indices(&pat).any(|(i, _)| {
        let before = code[..i].chars().last();
        !before.is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':')
    })
}

/// The modules of one crate and what each imports.
fn graph(crate_dir: &str) -> BTreeMap<Node, BTreeSet<Node>> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(crate_dir);
    let src = root.join("src");
    let mut files = Vec::new();
    rs_files(&src, &mut files);
    let name = |p: &Path| p.strip_prefix(&root).expect("inside the crate").to_string_lossy().replace('\\', "/");
    let mut g: BTreeMap<Node, BTreeSet<Node>> = BTreeMap::new();
    for file in &files {
        let text = fs::read_to_string(file).expect("readable source");
        let this = name(file);
        let folder = file.parent().expect("a folder").to_path_buf();
        let is_index = file.ends_with("mod.rs") || file.ends_with("lib.rs");
        // The modules an index declares, whose paths it may use bare.
        let children: Vec<String> = if is_index {
            text.lines()
                .filter_map(|l| {
                    let l = l.trim_start();
                    let l = l.strip_prefix("pub(crate) ").or_else(|| l.strip_prefix("pub ")).unwrap_or(l);
                    l.strip_prefix("mod ")?.strip_suffix(';').map(str::to_owned)
                })
                .collect()
        } else {
            Vec::new()
        };
        let mut in_tests = false;
        let mut cfg_test = false;
        for line in text.lines() {
            let code = line.trim_start();
            if in_tests && line.starts_with('}') {
                in_tests = false;
                continue;
            }
            if cfg_test && code.starts_with("mod ") && code.ends_with('{') && !line.starts_with(' ') {
                in_tests = true;
            }
            cfg_test = code.starts_with("#[cfg(test)]");
            if code.starts_with("//") {
                continue;
            }
            let from = Node { file: this.clone(), tests: in_tests };
            g.entry(from.clone()).or_default();
            let mut targets: Vec<PathBuf> = crate_paths(code).iter().filter_map(|segs| resolve(&src, segs)).collect();
            // Bare paths through a module the index declares.
            for child in &children {
                if !code.starts_with("mod ")
                    && !code.starts_with("pub mod ")
                    && !code.starts_with("pub(crate) mod ")
                    && bare_paths(code, child)
                    && let Some(p) = resolve(&folder, &[child.as_str()])
                {
                    targets.push(p);
                }
            }
            // `super::x` outside a test module: the parent module's `x`.
            if !in_tests && !is_index && code.contains("super::") {
                let parent = folder.join("mod.rs");
                let parent = if parent.is_file() { parent } else { folder.join("lib.rs") };
                for at in code.match_indices("super::").map(|(i, _)| i) {
                    let rest = &code[at + "super::".len()..];
                    let seg: String = rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect();
                    targets.push(resolve(&folder, &[seg.as_str()]).unwrap_or_else(|| parent.clone()));
                }
            }
            for t in targets {
                let to = Node { file: name(&t), tests: false };
                if to.file != from.file {
                    g.entry(from.clone()).or_default().insert(to);
                }
            }
        }
    }
    g
}

/// Circles in `g`, each as the list of modules around it.
fn circles(g: &BTreeMap<Node, BTreeSet<Node>>) -> Vec<Vec<Node>> {
    // Depth-first search; a back edge to a module on the stack closes a circle.
    fn visit(
        n: &Node,
        g: &BTreeMap<Node, BTreeSet<Node>>,
        stack: &mut Vec<Node>,
        done: &mut BTreeSet<Node>,
        out: &mut Vec<Vec<Node>>,
    ) {
        if done.contains(n) {
            return;
        }
        if let Some(at) = stack.iter().position(|s| s == n) {
            out.push(stack[at..].to_vec());
            return;
        }
        stack.push(n.clone());
        for m in g.get(n).into_iter().flatten() {
            visit(m, g, stack, done, out);
        }
        stack.pop();
        done.insert(n.clone());
    }
    let mut out = Vec::new();
    let mut done = BTreeSet::new();
    for n in g.keys() {
        visit(n, g, &mut Vec::new(), &mut done, &mut out);
    }
    out
}

fn show(circle: &[Node]) -> String {
    let mut names: Vec<String> = circle.iter().map(ToString::to_string).collect();
    names.push(circle[0].to_string());
    names.join(" → ")
}

#[test]
fn no_file_imports_another_in_a_circle() {
    let mut found = Vec::new();
    for krate in ["shared", "edge", "frontend"] {
        found.extend(circles(&graph(krate)).iter().map(|c| show(c)));
    }
    assert!(found.is_empty(), "import circles:\n{}", found.join("\n"));
}

#[test]
fn shared_imports_point_down_the_layers() {
    let rank = |file: &str| {
        let folder = file.strip_prefix("src/")?.split('/').next()?;
        LAYERS.iter().find(|(name, _)| *name == folder).map(|&(name, r)| (name, r))
    };
    let g = graph("shared");
    let mut wrong = Vec::new();
    for (from, tos) in &g {
        if from.file == "src/lib.rs" {
            continue;
        }
        let (from_layer, from_rank) =
            rank(&from.file).unwrap_or_else(|| panic!("{} is not in a layer folder listed in LAYERS", from.file));
        for to in tos {
            let Some((to_layer, to_rank)) = rank(&to.file) else {
                wrong.push(format!("{from} imports {to}, which is in no layer"));
                continue;
            };
            if to_layer != from_layer && to_rank >= from_rank {
                wrong
                    .push(format!("{from} ({from_layer}, rank {from_rank}) imports {to} ({to_layer}, rank {to_rank})"));
            }
        }
    }
    assert!(wrong.is_empty(), "imports that do not point down:\n{}", wrong.join("\n"));
}

/// The checker itself sees what it is meant to see: a circle, and an upward
/// import (on a made-up graph and on real paths).
#[test]
fn the_checker_finds_circles_and_resolves_paths() {
    let node = |f: &str| Node { file: f.to_owned(), tests: false };
    let mut g = BTreeMap::new();
    g.insert(node("a"), BTreeSet::from([node("b")]));
    g.insert(node("b"), BTreeSet::from([node("c")]));
    g.insert(node("c"), BTreeSet::from([node("a")]));
    g.insert(node("d"), BTreeSet::from([node("a")]));
    let found = circles(&g);
    assert_eq!(found.len(), 1, "{found:?}");
    assert_eq!(show(&found[0]), "a → b → c → a");
    assert_eq!(crate_paths("use crate::wire::protocol::{Event, Millis};"), vec![vec!["wire", "protocol"]]);
    assert!(crate_paths("fanout_crate::x").is_empty());
    assert!(bare_paths("let x = site::links(1);", "site"));
    assert!(!bare_paths("let x = website::links(1); crate::site::y;", "site"));
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let p = resolve(&src, &["engine", "scheduler", "Scheduler"]).expect("resolves");
    assert!(p.ends_with("engine/scheduler.rs"), "{p:?}");
    let g = graph("shared");
    let scheduler = Node { file: "src/engine/scheduler.rs".into(), tests: false };
    assert!(g[&scheduler].contains(&node("src/wire/protocol.rs")), "{:?}", g[&scheduler]);
    let tests = Node { file: "src/engine/scheduler.rs".into(), tests: true };
    assert!(g[&tests].contains(&node("src/engine/sim.rs")), "{:?}", g.get(&tests));
    // An index's bare paths: demo/mod.rs uses site:: and catalogue::.
    let demo = Node { file: "src/demo/mod.rs".into(), tests: false };
    assert!(g[&demo].contains(&node("src/demo/site.rs")), "{:?}", g[&demo]);
    assert!(g[&demo].contains(&node("src/demo/catalogue.rs")), "{:?}", g[&demo]);
}
