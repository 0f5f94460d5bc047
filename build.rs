//! Fingerprints each stage kind's code, derived from the crate graph (see
//! `build/fingerprint.rs`), so that editing a stage's code re-keys exactly the stages that can
//! run it.

use std::fmt::Write;
use std::path::Path;

#[path = "build/fingerprint.rs"]
mod fingerprint;

fn main() {
    // Read when the script runs, not when it was compiled: a build script compiled in another
    // checkout (a target folder copied from it) must fingerprint this one.
    let root = std::path::PathBuf::from(std::env::var_os("CARGO_MANIFEST_DIR").expect("cargo sets CARGO_MANIFEST_DIR"));
    let derived = fingerprint::derive(&root).unwrap_or_else(|e| panic!("stage fingerprints: {e}"));
    println!("cargo:rerun-if-changed=src/kinds");
    println!("cargo:rerun-if-changed=build/fingerprint.rs");
    for rel in &derived.read {
        println!("cargo:rerun-if-changed={rel}");
    }
    let mut out = String::new();
    for k in &derived.kinds {
        let list = |items: &[String]| items.iter().map(|s| format!("{s:?}")).collect::<Vec<_>>().join(", ");
        writeln!(
            out,
            "pub const {}: Code = Code {{ hash: {:?}, adapters: &[{}], crates: &[{}], locked: &[{}] }};",
            k.module.to_uppercase(),
            k.hash,
            list(&k.adapters),
            list(&k.crates),
            list(&k.locked)
        )
        .expect("write to a String");
    }
    let dest = Path::new(&std::env::var("OUT_DIR").expect("OUT_DIR")).join("fingerprints.rs");
    std::fs::write(dest, out).expect("write fingerprints.rs");
}
