//! The documentation a clone ships: every relative link in the README and in `docs/` resolves,
//! and the contracts the code cites are there to read.

use std::path::{Path, PathBuf};

fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("sim-tests sits in the workspace root")
        .to_path_buf()
}

/// The targets of Markdown links `[text](target)` that point into the repository: no scheme,
/// no pure `#anchor`; a `#fragment` is cut off.
fn relative_links(markdown: &str) -> Vec<String> {
    let mut links = Vec::new();
    let mut rest = markdown;
    while let Some(at) = rest.find("](") {
        rest = &rest[at + 2..];
        let Some(end) = rest.find(')') else { break };
        let target = &rest[..end];
        rest = &rest[end..];
        let path = target.split('#').next().unwrap_or_default().trim();
        if path.is_empty() || path.contains("://") || path.starts_with("mailto:") {
            continue;
        }
        links.push(path.to_string());
    }
    links
}

fn markdown_files() -> Vec<PathBuf> {
    let root = repo_root();
    let mut files = vec![root.join("README.md")];
    let mut docs: Vec<PathBuf> = std::fs::read_dir(root.join("docs"))
        .expect("docs/ exists")
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "md"))
        .collect();
    docs.sort();
    files.extend(docs);
    files
}

#[test]
fn every_relative_link_in_the_readme_and_docs_resolves() {
    let mut broken = Vec::new();
    let mut checked = 0;
    for file in markdown_files() {
        let text = std::fs::read_to_string(&file).expect("readable markdown");
        let dir = file.parent().expect("a file has a folder");
        for link in relative_links(&text) {
            checked += 1;
            if !dir.join(&link).exists() {
                broken.push(format!("{}: {link}", file.display()));
            }
        }
    }
    assert!(broken.is_empty(), "links that do not resolve: {broken:#?}");
    assert!(
        checked >= 5,
        "expected the README to link its docs, found {checked} links"
    );
}

#[test]
fn the_contracts_are_in_the_repository_and_linked_from_the_readme() {
    let root = repo_root();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let links = relative_links(&readme);
    for doc in [
        "docs/semantics.md",
        "docs/trace-format.md",
        "docs/scenario-format.md",
    ] {
        assert!(root.join(doc).is_file(), "{doc} is missing");
        assert!(
            links.iter().any(|l| l == doc),
            "README.md does not link {doc}"
        );
    }
}

#[test]
fn no_source_file_cites_a_contract_by_its_old_name() {
    // The contracts once lived outside the repository under these names; a reader who follows
    // a citation must find the file.
    let old = [
        "NSPV2_SEMANTICS.md",
        "TRACE_FORMAT.md",
        "SCENARIO_FORMAT.md",
    ];
    let root = repo_root();
    let mut hits = Vec::new();
    let mut stack = vec![
        root.join("runtime"),
        root.join("providers"),
        root.join("sim-tests"),
        root.join("docs"),
    ];
    stack.push(root.join("README.md"));
    while let Some(path) = stack.pop() {
        if path.is_dir() {
            if path
                .file_name()
                .is_some_and(|n| n == "target" || n == "node_modules")
            {
                continue;
            }
            for entry in std::fs::read_dir(&path).expect("readable folder").flatten() {
                stack.push(entry.path());
            }
            continue;
        }
        let is_text = path
            .extension()
            .is_some_and(|x| x == "rs" || x == "md" || x == "toml");
        if !is_text || path.ends_with("sim-tests/tests/docs.rs") {
            continue;
        }
        let Ok(text) = std::fs::read_to_string(&path) else {
            continue;
        };
        for name in old {
            if text.contains(name) {
                hits.push(format!("{} cites {name}", path.display()));
            }
        }
    }
    hits.sort();
    assert!(hits.is_empty(), "old contract names still cited: {hits:#?}");
}

#[test]
fn relative_links_are_found_and_external_ones_skipped() {
    let md = "see [a](docs/a.md#s1), [b](https://x.org/b), [c](#top) and [d](traces/)";
    assert_eq!(relative_links(md), ["docs/a.md", "traces/"]);
}
