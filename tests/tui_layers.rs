//! The TUI's modules import one way (the rule is written in `src/tui/mod.rs`): each module
//! belongs to a layer and may use only modules of lower layers, so keys become actions the app
//! applies, the view only reads the app, and nothing imports back. This test reads the source
//! of `src/tui/` and fails on an import against the rule, and on a module with no layer.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

/// The layers, lowest first. Keep in step with the table in `src/tui/mod.rs`.
const LAYERS: &[&[&str]] = &[
    &["paste"],
    &["screen", "theme", "frames", "pane", "setup"],
    &["layout", "live"],
    &["keymap", "messages"],
    &["app", "worker"],
    &["view"],
    &["runtime"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|l| l.contains(&module))
}

fn tui_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src/tui")
}

/// Every `.rs` file under `dir`.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The module path of a file below `src/tui` (`["view", "panes"]`; `mod.rs` is its folder).
fn module_path(file: &Path) -> Vec<String> {
    let rel = file.strip_prefix(tui_dir()).unwrap();
    let mut parts: Vec<String> = rel
        .iter()
        .map(|c| c.to_string_lossy().trim_end_matches(".rs").to_string())
        .collect();
    if parts.last().is_some_and(|l| l == "mod") {
        parts.pop();
    }
    parts
}

/// The source without `//` comments (doc comments name modules freely).
fn code_of(text: &str) -> String {
    text.lines()
        .map(|l| match l.find("//") {
            Some(i) => &l[..i],
            None => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> &str {
    let end = s
        .find(|c: char| !(c.is_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    &s[..end]
}

/// The first name of each item of a path's tail: `x::y` → `x`; `{a::b, c}` → `a`, `c`.
fn heads(tail: &str) -> Vec<String> {
    let tail = tail.trim_start();
    if let Some(inner) = tail.strip_prefix('{') {
        let mut depth = 0;
        let mut items = vec![String::new()];
        for ch in inner.chars() {
            match ch {
                '{' => depth += 1,
                '}' if depth == 0 => break,
                '}' => depth -= 1,
                ',' if depth == 0 => {
                    items.push(String::new());
                    continue;
                }
                _ => {}
            }
            items.last_mut().unwrap().push(ch);
        }
        items
            .iter()
            .map(|i| ident_at(i.trim()).to_string())
            .filter(|i| !i.is_empty())
            .collect()
    } else {
        vec![ident_at(tail).to_string()]
    }
}

/// The `src/tui` modules a file's code names, through `crate::tui::` or `super::`.
fn imports(file: &Path) -> Vec<String> {
    let code = code_of(&std::fs::read_to_string(file).unwrap());
    let here = module_path(file);
    let mut out = Vec::new();
    for (i, _) in code.match_indices("crate::tui::") {
        out.extend(heads(&code[i + "crate::tui::".len()..]));
    }
    let mut at = 0;
    while let Some(i) = code[at..].find("super::") {
        let start = at + i;
        // A `super::` inside a longer path (`super::super::`) is counted from its first one.
        let preceded = code[..start].ends_with("::");
        let mut rest = &code[start..];
        let mut ups = 0;
        while let Some(r) = rest.strip_prefix("super::") {
            ups += 1;
            rest = r;
        }
        at = start + (code[start..].len() - rest.len());
        if preceded || ups > here.len() {
            continue;
        }
        // `super` of a file's module; reaching `tui` itself, the next name is a tui module.
        let base = &here[..here.len() - ups];
        if base.is_empty() {
            out.extend(heads(rest));
        } else {
            out.push(base[0].clone());
        }
    }
    out.retain(|m| !m.is_empty() && m != "*");
    out
}

fn tui_modules() -> Vec<String> {
    let mut names: Vec<String> = std::fs::read_dir(tui_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_dir() || p.extension().is_some_and(|x| x == "rs"))
        .map(|p| p.file_stem().unwrap().to_string_lossy().into_owned())
        .filter(|n| n != "mod")
        .collect();
    names.sort();
    names.dedup();
    names
}

#[test]
fn every_tui_module_has_a_layer() {
    for m in tui_modules() {
        assert!(
            layer_of(&m).is_some(),
            "src/tui/{m}: no layer. Place it in LAYERS here and in the table of src/tui/mod.rs"
        );
    }
}

#[test]
fn tui_modules_import_only_lower_layers() {
    let modules = tui_modules();
    let mut files = Vec::new();
    rust_files(&tui_dir(), &mut files);
    files.sort();
    let mut bad: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut checked = 0;
    for f in &files {
        let path = module_path(f);
        let Some(owner) = path.first() else {
            continue; // src/tui/mod.rs: the module list itself.
        };
        let Some(mine) = layer_of(owner) else {
            continue; // reported by every_tui_module_has_a_layer
        };
        for m in imports(f) {
            if &m == owner || !modules.contains(&m) {
                continue;
            }
            checked += 1;
            if layer_of(&m).is_none_or(|l| l >= mine) {
                bad.entry(f.display().to_string()).or_default().push(m);
            }
        }
    }
    assert!(
        checked > 20,
        "only {checked} imports found: is the scanner broken?"
    );
    assert!(
        bad.is_empty(),
        "imports against the TUI's one-way rule (src/tui/mod.rs): {bad:#?}"
    );
}

#[test]
fn the_scanner_sees_every_way_of_naming_a_module() {
    assert_eq!(
        heads("{app::{App, Screen}, keymap, view::draw};"),
        ["app", "keymap", "view"]
    );
    assert_eq!(heads("keymap::help(x)"), ["keymap"]);
    assert_eq!(code_of("use a; // super::view"), "use a; ");
}
