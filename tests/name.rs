//! The crate is `palisade`: no tracked file still says its old name, apart
//! from the one CHANGELOG line that records the rename.

use std::path::{Path, PathBuf};
use std::process::Command;

/// The old name, spelled so that this file does not contain it.
const OLD: &str = concat!("para", "pet");

/// The files git tracks (the tests run from a git checkout; the packaged
/// crate ships no tests).
fn tracked_files(root: &Path) -> Vec<PathBuf> {
    let out = Command::new("git")
        .arg("-C")
        .arg(root)
        .args(["ls-files", "-z"])
        .output()
        .expect("git runs");
    assert!(out.status.success(), "git ls-files failed: {out:?}");
    out.stdout
        .split(|b| *b == 0)
        .filter(|p| !p.is_empty())
        .map(|p| root.join(String::from_utf8_lossy(p).as_ref()))
        .collect()
}

#[test]
fn no_tracked_file_says_the_old_name() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut stale = Vec::new();
    let mut changelog_lines = 0;
    for path in tracked_files(root) {
        let Ok(text) = std::fs::read(&path) else {
            continue; // deleted in the work tree
        };
        let text = String::from_utf8_lossy(&text).to_lowercase();
        let hits = text.lines().filter(|line| line.contains(OLD)).count();
        if path.file_name().is_some_and(|n| n == "CHANGELOG.md") && path.parent() == Some(root) {
            changelog_lines += hits;
        } else if hits > 0 || path.to_string_lossy().to_lowercase().contains(OLD) {
            stale.push(
                path.strip_prefix(root)
                    .unwrap_or(&path)
                    .display()
                    .to_string(),
            );
        }
    }
    assert!(
        stale.is_empty(),
        "files still naming the crate {OLD}: {stale:?}"
    );
    assert!(
        changelog_lines <= 1,
        "CHANGELOG.md names {OLD} on {changelog_lines} lines; only the rename entry may"
    );
}
