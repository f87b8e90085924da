//! The documentation a clone ships: every relative link in the README and in `docs/` resolves,
//! and the contracts the code cites are there to read.

use std::path::PathBuf;

mod common;

use common::*;

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
    let root = repo();
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
    let root = repo();
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
    let root = repo();
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

/// The first fenced block of `lang` after the heading `heading`, as lines.
fn fenced_block_after<'a>(markdown: &'a str, heading: &str, lang: &str) -> Vec<&'a str> {
    let start = markdown
        .find(heading)
        .unwrap_or_else(|| panic!("README has no heading {heading:?}"));
    let rest = &markdown[start..];
    let open = format!("```{lang}\n");
    let body_at = rest
        .find(&open)
        .unwrap_or_else(|| panic!("no ```{lang} block after {heading:?}"))
        + open.len();
    let body = &rest[body_at..];
    let end = body.find("```").expect("the block is closed");
    body[..end].lines().collect()
}

/// Checks that the excerpt's lines (bar the `…` elisions) appear in `real`, in order.
fn assert_excerpt_of(excerpt: &[&str], real: &[&str], what: &str) {
    let mut at = 0;
    let mut shown = 0;
    for line in excerpt {
        let line = line.trim_end();
        if line.trim() == "…" {
            continue;
        }
        shown += 1;
        match real[at..].iter().position(|r| r.trim_end() == line) {
            Some(i) => at += i + 1,
            None => panic!(
                "README's {what} shows a line the real output does not have (in this order):\n{line}\n\
                 update the README from the real output"
            ),
        }
    }
    assert!(shown >= 3, "README's {what} shows too little to check");
}

#[test]
fn readme_demo_output_is_what_the_demo_prints() {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let excerpt = fenced_block_after(&readme, "## Quick start", "text");
    // Run from a scratch copy so the trace the run writes lands outside the repository, while
    // the paths it prints read as they do for a user in a clone.
    let scratch = Dir::new("readme");
    let dir = scratch.root();
    std::fs::create_dir_all(dir.join("traces")).expect("scratch dir");
    std::fs::copy(root.join("traces/demo.toml"), dir.join("traces/demo.toml")).expect("copy");
    // As `cargo run --release` runs it (the README's command): the binary under
    // target/release, CARGO set; it prints its commands that way.
    std::fs::create_dir_all(dir.join("target/release")).expect("scratch target");
    let exe = dir.join("target/release/nspsim");
    std::fs::copy(env!("CARGO_BIN_EXE_nspsim"), &exe).expect("copy the binary");
    let out = std::process::Command::new(&exe)
        .args(["run", "traces/demo.toml"])
        .current_dir(dir)
        .env("CARGO", "cargo")
        .env_remove("RUST_LOG")
        .output()
        .expect("nspsim runs");
    assert!(out.status.success(), "the demo exits 0: {out:?}");
    let mut real = String::from_utf8_lossy(&out.stdout).into_owned();
    real.push_str(&String::from_utf8_lossy(&out.stderr));
    let real: Vec<&str> = real.lines().collect();
    assert_excerpt_of(&excerpt, &real, "demo output (Quick start)");
}

#[test]
fn readme_trace_excerpt_is_lines_of_the_demo_trace() {
    let root = repo();
    let readme = std::fs::read_to_string(root.join("README.md")).expect("README.md");
    let excerpt = fenced_block_after(&readme, "## Reading a trace", "text");
    let golden = std::fs::read_to_string(root.join("traces/demo.jsonl")).expect("demo trace");
    let real: Vec<&str> = golden.lines().collect();
    assert_excerpt_of(&excerpt, &real, "trace excerpt (Reading a trace)");
}
