//! Every fuzz target over its committed seed corpus (`fuzz/corpus/<target>`) and every input that ever
//! crashed it (`fuzz/regressions/<target>`), as plain tests: CI replays them without a fuzzer.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};

fn root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz")
}

fn inputs(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let mut files: Vec<PathBuf> = entries.filter_map(Result::ok).map(|e| e.path()).filter(|p| p.is_file()).collect();
    files.sort();
    files
}

#[test]
fn every_target_has_a_seed_corpus_and_survives_it() {
    for (name, target) in gatehouse_fuzz::TARGETS {
        let seeds = inputs(&root().join("corpus").join(name));
        assert!(!seeds.is_empty(), "no seed corpus for {name}");
        for file in seeds {
            let data = std::fs::read(&file).unwrap();
            target(&data);
        }
    }
}

#[test]
fn every_crash_found_stays_fixed() {
    let mut replayed = 0;
    for (name, target) in gatehouse_fuzz::TARGETS {
        for file in inputs(&root().join("regressions").join(name)) {
            let data = std::fs::read(&file).unwrap();
            let outcome = std::panic::catch_unwind(|| target(&data));
            assert!(outcome.is_ok(), "{name}: {} crashes again", file.display());
            replayed += 1;
        }
    }
    println!("replayed {replayed} past crashes");
}
