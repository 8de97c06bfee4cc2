//! The layers (docs/architecture.md), checked against the source: every `crate::…` and
//! `super::…` path in `src/` is an arrow from one file to another. An arrow may not point up a
//! floor, and no two files may reach each other (no import cycle), so the direction a newcomer
//! reads in the docs is the one the code has.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// The floors, lowest first; a module may use its own floor and those below.
const FLOORS: &[(&str, &[&str])] = &[
    ("foundations", &["clock", "config", "crypto", "domain", "error", "store", "telemetry"]),
    ("services", &["services"]),
    ("state", &["state"]),
    ("edge helpers", &["http"]),
    ("edges", &["oauth", "session", "admin", "scim", "ops", "cli"]),
    ("assembly", &["startup", "lib"]),
];

fn floor_of(module: &str) -> usize {
    let top = module.split("::").next().unwrap_or(module);
    FLOORS
        .iter()
        .position(|(_, modules)| modules.contains(&top))
        .unwrap_or_else(|| panic!("src/{top} is in no floor of tests/suite/architecture.rs; add it to FLOORS"))
}

/// Every module of `src/` (as `a::b`, the crate root as `lib`), from its files.
fn modules(src: &Path) -> BTreeMap<String, String> {
    fn walk(dir: &Path, prefix: &str, out: &mut BTreeMap<String, String>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let path = entry.unwrap().path();
            let name = path.file_stem().unwrap().to_str().unwrap().to_owned();
            let module = if prefix.is_empty() { name.clone() } else { format!("{prefix}::{name}") };
            if path.is_dir() {
                walk(&path, &module, out);
            } else if path.extension().is_some_and(|e| e == "rs") {
                let module = match name.as_str() {
                    "mod" => prefix.to_owned(),
                    "main" if prefix.is_empty() => continue, // the binary: `idp::`, not `crate::`
                    _ => module,
                };
                out.insert(module, std::fs::read_to_string(&path).unwrap());
            }
        }
    }
    let mut out = BTreeMap::new();
    walk(src, "", &mut out);
    out
}

/// The code without comments and string literals, so a path in a doc line or a message is no
/// arrow.
fn code_only(source: &str) -> String {
    let mut out = String::with_capacity(source.len());
    for line in source.lines() {
        let line = match line.find("//") {
            Some(at) => &line[..at],
            None => line,
        };
        let mut in_string = false;
        let mut previous = ' ';
        for c in line.chars() {
            if c == '"' && previous != '\\' {
                in_string = !in_string;
            } else if !in_string {
                out.push(c);
            }
            previous = c;
        }
        out.push('\n');
    }
    out
}

/// The paths a `use` tree names, braces expanded: `a::{b, c::{d, e}}` gives `a::b`, `a::c::d`, ...
fn expand(tree: &str) -> Vec<String> {
    let tree: String = tree.chars().filter(|c| !c.is_whitespace()).collect();
    let Some(open) = tree.find('{') else { return vec![tree] };
    let (prefix, rest) = (&tree[..open], &tree[open + 1..tree.rfind('}').unwrap_or(tree.len())]);
    let mut parts = Vec::new();
    let (mut depth, mut start) = (0, 0);
    for (i, c) in rest.char_indices() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                parts.push(&rest[start..i]);
                start = i + 1;
            }
            _ => {}
        }
    }
    parts.push(&rest[start..]);
    parts
        .into_iter()
        .filter(|p| !p.is_empty())
        .flat_map(|p| expand(p).into_iter().map(move |t| format!("{prefix}{t}")))
        .collect()
}

/// The module a path names: its longest prefix that is a module of `src/`, seen through a
/// `mod.rs` that re-exports a child's item (`crate::domain::ScopeSet` is `domain::scope`), so a
/// cycle cannot hide behind a re-export.
fn target(path: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let segments: Vec<&str> = path.split("::").collect();
    let (found, len) =
        (1..=segments.len()).rev().map(|n| (segments[..n].join("::"), n)).find(|(m, _)| known.contains_key(m))?;
    let Some(item) = segments.get(len) else { return Some(found) };
    Some(reexported_from(&found, item, known).unwrap_or(found))
}

/// The child module of `module` whose `item` it re-exports (`pub use child::{Item, ..}`).
fn reexported_from(module: &str, item: &str, known: &BTreeMap<String, String>) -> Option<String> {
    let code = code_only(known.get(module)?);
    for statement in code.split(';') {
        let Some(tree) = statement.trim().strip_prefix("pub use ") else { continue };
        for path in expand(tree) {
            let path = path.strip_prefix("self::").unwrap_or(&path);
            let (from, name) = path.rsplit_once("::")?;
            let name = name.rsplit_once(" as ").map_or(name, |(_, alias)| alias);
            let child = format!("{module}::{from}");
            if name == item && known.contains_key(&child) {
                return Some(child);
            }
        }
    }
    None
}

/// The arrows of `module`: modules it names by `crate::` or `super::` paths.
fn arrows(module: &str, source: &str, known: &BTreeMap<String, String>) -> BTreeSet<String> {
    let code = code_only(source);
    let mut paths = Vec::new();
    // `use` statements, with their brace groups.
    for statement in code.split(';') {
        let statement = statement.trim();
        let Some(tree) = statement
            .strip_prefix("use ")
            .or_else(|| statement.strip_prefix("pub use "))
            .or_else(|| statement.strip_prefix("pub(crate) use "))
        else {
            continue;
        };
        paths.extend(expand(tree));
    }
    // Paths written inline in the code.
    for (at, _) in code.match_indices("crate::").chain(code.match_indices("super::")) {
        let tail: String = code[at..].chars().take_while(|c| c.is_alphanumeric() || *c == '_' || *c == ':').collect();
        paths.push(tail);
    }
    let parent = |m: &str| m.rsplit_once("::").map(|(p, _)| p.to_owned()).unwrap_or_default();
    let is_mod_rs = known.keys().any(|k| k.starts_with(&format!("{module}::")));
    let mut out = BTreeSet::new();
    for path in paths {
        let absolute = if let Some(rest) = path.strip_prefix("crate::") {
            rest.to_owned()
        } else if let Some(rest) = path.strip_prefix("super::") {
            // In a `mod.rs` (or the crate root), `super` is the parent of its own directory.
            let base = if is_mod_rs { parent(module) } else { parent(&parent(module)) };
            let base = if is_mod_rs { base } else { parent(module) };
            if base.is_empty() {
                rest.to_owned()
            } else {
                format!("{base}::{rest}")
            }
        } else {
            continue;
        };
        if let Some(to) = target(&absolute, known) {
            out.insert(to);
        }
    }
    out.remove(module);
    out
}

fn graph() -> BTreeMap<String, BTreeSet<String>> {
    let known = modules(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    known.iter().map(|(module, source)| (module.clone(), arrows(module, source, &known))).collect()
}

/// One module contains the other (a `mod.rs` re-exporting its children, a child using its
/// parent's items): that is nesting, not an arrow between rooms.
fn nested(a: &str, b: &str) -> bool {
    a == "lib" || b == "lib" || a.starts_with(&format!("{b}::")) || b.starts_with(&format!("{a}::"))
}

fn no_module_uses_one_on_a_higher_floor() {
    let mut upward = Vec::new();
    for (from, to_all) in graph() {
        for to in to_all {
            if floor_of(&to) > floor_of(&from) {
                upward.push(format!("{from} ({}) -> {to} ({})", FLOORS[floor_of(&from)].0, FLOORS[floor_of(&to)].0));
            }
        }
    }
    assert!(upward.is_empty(), "arrows pointing up a floor:\n{}", upward.join("\n"));
}

fn no_two_modules_reach_each_other() {
    let graph = graph();
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(at) = todo.pop() {
            for next in graph.get(&at).into_iter().flatten() {
                if !nested(&at, next) && seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let mut cycles = BTreeSet::new();
    for (from, to_all) in &graph {
        for to in to_all.iter().filter(|to| !nested(from, to)) {
            if reaches(to).contains(from) {
                let pair = if from < to { (from.clone(), to.clone()) } else { (to.clone(), from.clone()) };
                cycles.insert(pair);
            }
        }
    }
    let listed: Vec<String> = cycles.iter().map(|(a, b)| format!("{a} <-> {b}")).collect();
    assert!(listed.is_empty(), "import cycles:\n{}", listed.join("\n"));
}

/// The same at the level of `src/`'s top modules (`config`, `domain`, `store`, …): two rooms of
/// one floor may use each other's submodules without a submodule cycle, and still import each
/// other in a circle (config -> domain -> store -> config was one).
fn no_top_modules_import_each_other_in_a_circle() {
    let top = |module: &str| module.split("::").next().unwrap_or(module).to_owned();
    let mut rooms: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for (from, to_all) in graph() {
        for to in to_all {
            let (a, b) = (top(&from), top(&to));
            if a != b && a != "lib" && b != "lib" {
                rooms.entry(a).or_default().insert(b);
            }
        }
    }
    let reaches = |from: &str| {
        let mut seen = BTreeSet::new();
        let mut todo = vec![from.to_owned()];
        while let Some(at) = todo.pop() {
            for next in rooms.get(&at).into_iter().flatten() {
                if seen.insert(next.clone()) {
                    todo.push(next.clone());
                }
            }
        }
        seen
    };
    let circles: Vec<String> = rooms
        .iter()
        .flat_map(|(from, to_all)| to_all.iter().map(move |to| (from, to)))
        .filter(|(from, to)| reaches(to).contains(*from))
        .map(|(from, to)| format!("{from} -> {to} -> … -> {from}"))
        .collect();
    assert!(circles.is_empty(), "top modules in a circle:\n{}", circles.join("\n"));
}

fn the_checker_sees_nested_use_trees_and_relative_paths() {
    let known: BTreeMap<String, String> =
        ["a", "a::b", "a::c", "d", "d::e"].iter().map(|m| (m.to_string(), String::new())).collect();
    let source = "use crate::{a::b::Thing, d::{e::f, g}};\nuse super::c;\nfn x() { crate::d::e::call(); }\n// crate::a::c in a comment\n";
    let found = arrows("a::b", source, &known);
    assert_eq!(found, ["a::b", "a::c", "d", "d::e"].iter().map(|s| s.to_string()).filter(|m| m != "a::b").collect());
    assert_eq!(expand("x::{y, z::{w, v}}"), ["x::y", "x::z::w", "x::z::v"]);
    let mut known = known;
    known.insert("d".into(), "mod e;\npub use self::e::{Thing, Other};\n".into());
    assert_eq!(target("d::Thing", &known).as_deref(), Some("d::e"), "through a re-export");
    assert_eq!(target("d::Nothing", &known).as_deref(), Some("d"));
}

crate::suite_tests! {
    sync_test:
        no_module_uses_one_on_a_higher_floor,
        no_two_modules_reach_each_other,
        no_top_modules_import_each_other_in_a_circle,
        the_checker_sees_nested_use_trees_and_relative_paths;
}
