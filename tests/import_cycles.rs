//! Each layer imports only the layers below it: this reads every
//! `use crate::...` and `use super::...` of `shared/`, resolves each to the
//! file that holds the module, and fails on a circle between files, naming
//! it. A `mod.rs` declaring its children is not an import, and neither is an
//! indented `use super::...` (a nested `mod tests` reaching its own file).

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Every `.rs` file under `dir`, by its module path (`["store", "shm"]`).
fn modules(root: &Path, dir: &Path, found: &mut BTreeMap<Vec<String>, PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            modules(root, &path, found);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            let relative = path.strip_prefix(root).unwrap().with_extension("");
            let mut module: Vec<String> = relative
                .components()
                .map(|part| part.as_os_str().to_string_lossy().into_owned())
                .collect();
            if matches!(module.last().map(String::as_str), Some("mod" | "lib")) {
                module.pop();
            }
            found.insert(module, path);
        }
    }
}

/// The `use` statements of a file that start with `crate::` or (unindented)
/// `super::`, each as its text up to the `;`.
fn uses(text: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut current: Option<String> = None;
    for line in text.lines() {
        let trimmed = line.trim_start();
        let statement = match current.take() {
            Some(mut started) => {
                started.push_str(trimmed);
                started
            }
            None => {
                let Some(statement) = ["pub(crate) use ", "pub(super) use ", "pub use ", "use "]
                    .iter()
                    .find_map(|prefix| trimmed.strip_prefix(prefix))
                else {
                    continue;
                };
                let indented = line.len() != trimmed.len();
                if !(statement.starts_with("crate::")
                    || (!indented && statement.starts_with("super::")))
                {
                    continue;
                }
                statement.to_owned()
            }
        };
        if statement.contains(';') {
            found.push(statement);
        } else {
            current = Some(statement);
        }
    }
    found
}

/// The paths a `use` names, brace groups expanded one level:
/// `super::{a, b::C}` gives `super::a` and `super::b::C`.
fn paths(statement: &str) -> Vec<String> {
    let statement = statement.trim_end_matches(';');
    match statement.split_once('{') {
        None => vec![statement.to_owned()],
        Some((prefix, rest)) => {
            let inner = rest.rsplit_once('}').map_or(rest, |(inner, _)| inner);
            let mut items = Vec::new();
            let mut depth = 0;
            let mut item = String::new();
            for c in inner.chars() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        items.push(std::mem::take(&mut item));
                        continue;
                    }
                    _ => {}
                }
                item.push(c);
            }
            items.push(item);
            items
                .iter()
                .map(|item| item.trim())
                .filter(|item| !item.is_empty())
                .map(|item| {
                    let item = item.split_once('{').map_or(item, |(head, _)| head);
                    format!("{prefix}{}", item.trim_end_matches("::"))
                })
                .collect()
        }
    }
}

/// The file holding the longest module prefix of `path`, seen from the
/// module `from` (a `mod.rs`'s module is its folder, so `super` is one
/// step up from any file).
fn resolve(
    path: &str,
    from: &[String],
    files: &BTreeMap<Vec<String>, PathBuf>,
) -> Option<Vec<String>> {
    let mut parts = path.split("::").map(|part| part.trim());
    let mut module: Vec<String> = match parts.next()? {
        "crate" => Vec::new(),
        "super" => {
            let mut parent = from.to_vec();
            parent.pop();
            parent
        }
        _ => return None,
    };
    let mut rest: Vec<&str> = parts.collect();
    while rest.first() == Some(&"super") {
        module.pop();
        rest.remove(0);
    }
    let mut best = module.clone();
    for part in rest {
        let part = part.split(" as ").next().unwrap().trim();
        if part == "self" || part == "*" {
            break;
        }
        module.push(part.to_owned());
        if files.contains_key(&module) {
            best = module.clone();
        }
    }
    files.contains_key(&best).then_some(best)
}

fn find_cycle(
    graph: &BTreeMap<Vec<String>, BTreeSet<Vec<String>>>,
    node: &Vec<String>,
    stack: &mut Vec<Vec<String>>,
    done: &mut BTreeSet<Vec<String>>,
) -> Option<Vec<Vec<String>>> {
    if let Some(at) = stack.iter().position(|seen| seen == node) {
        return Some(stack[at..].to_vec());
    }
    if done.contains(node) {
        return None;
    }
    stack.push(node.clone());
    for next in graph.get(node).into_iter().flatten() {
        if let Some(cycle) = find_cycle(graph, next, stack, done) {
            return Some(cycle);
        }
    }
    stack.pop();
    done.insert(node.clone());
    None
}

#[test]
fn no_file_of_shared_imports_a_file_that_imports_it_back() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("shared");
    let mut files = BTreeMap::new();
    modules(&root, &root, &mut files);
    assert!(files.len() > 50, "found only {} files", files.len());
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    for (module, path) in &files {
        let text = std::fs::read_to_string(path).unwrap();
        for statement in uses(&text) {
            for used in paths(&statement) {
                if let Some(target) = resolve(&used, module, &files) {
                    if &target != module && !target.is_empty() {
                        graph.entry(module.clone()).or_default().insert(target);
                    }
                }
            }
        }
    }
    let mut done = BTreeSet::new();
    for module in files.keys() {
        if let Some(cycle) = find_cycle(&graph, module, &mut Vec::new(), &mut done) {
            let names: Vec<String> = cycle
                .iter()
                .chain(cycle.first())
                .map(|module| {
                    files[module]
                        .strip_prefix(&root)
                        .unwrap()
                        .display()
                        .to_string()
                })
                .collect();
            panic!("an import circle: {}", names.join(" -> "));
        }
    }
}

#[test]
fn a_circle_is_found() {
    // The checker itself: two files importing each other are a circle.
    let mut graph: BTreeMap<Vec<String>, BTreeSet<Vec<String>>> = BTreeMap::new();
    let a = vec!["a".to_owned()];
    let b = vec!["b".to_owned()];
    graph.entry(a.clone()).or_default().insert(b.clone());
    graph.entry(b.clone()).or_default().insert(a.clone());
    assert!(find_cycle(&graph, &a, &mut Vec::new(), &mut BTreeSet::new()).is_some());
    let files: BTreeMap<Vec<String>, PathBuf> = [
        (vec!["store".to_owned()], PathBuf::from("store/mod.rs")),
        (
            vec!["store".to_owned(), "shm".to_owned()],
            PathBuf::from("store/shm/mod.rs"),
        ),
        (
            vec!["store".to_owned(), "shm".to_owned(), "tape".to_owned()],
            PathBuf::from("store/shm/tape.rs"),
        ),
    ]
    .into_iter()
    .collect();
    let from = vec!["store".to_owned(), "shm".to_owned(), "record".to_owned()];
    assert_eq!(
        resolve("super::tape::EntryValues", &from, &files),
        Some(vec![
            "store".to_owned(),
            "shm".to_owned(),
            "tape".to_owned()
        ])
    );
    assert_eq!(
        paths("super::{tape::{a, b}, Redo};"),
        vec!["super::tape", "super::Redo"]
    );
}
