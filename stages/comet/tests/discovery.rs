//! Finding ONNX Runtime. One test in its own binary: it changes environment variables.

use std::path::PathBuf;
use std::process::Command;

use iamm_comet::{RuntimeOptions, discover};

const HINT: &str = "python3 -m pip install --no-deps onnxruntime==1.32.0";

fn set(key: &str, value: Option<&str>) {
    // SAFETY: this binary has a single test, so no other thread reads the environment meanwhile.
    unsafe {
        match value {
            Some(v) => std::env::set_var(key, v),
            None => std::env::remove_var(key),
        }
    }
}

/// A fake libonnxruntime.so that reports an old version (needs a C compiler; None without one).
fn fake_old_library(dir: &std::path::Path) -> Option<PathBuf> {
    let src = dir.join("fake.c");
    std::fs::write(
        &src,
        "static const char* v(void) { return \"1.20.1\"; }\n\
         static const void* api(unsigned x) { (void)x; return 0; }\n\
         struct base { const void* (*get_api)(unsigned); const char* (*get_version)(void); };\n\
         static const struct base b = { api, v };\n\
         const struct base* OrtGetApiBase(void) { return &b; }\n",
    )
    .ok()?;
    let lib = dir.join("libonnxruntime.so.1.20.1");
    let ok = Command::new("cc").args(["-shared", "-fPIC", "-o"]).arg(&lib).arg(&src).status().ok()?.success();
    ok.then_some(lib)
}

#[test]
fn discovery_order_and_errors() {
    let saved: Vec<(&str, Option<String>)> =
        ["ORT_DYLIB_PATH", "PATH", "LD_LIBRARY_PATH"].iter().map(|k| (*k, std::env::var(k).ok())).collect();
    set("ORT_DYLIB_PATH", None);

    // The normal way: found by itself (the wheel, or the system), new enough.
    let (found, version) = discover(&RuntimeOptions::default()).unwrap_or_else(|e| panic!("{e}"));
    assert!(found.is_file(), "{}", found.display());
    let minor: u32 = version.split('.').nth(1).and_then(|m| m.parse().ok()).unwrap_or(0);
    assert!(minor >= 31, "version {version}");

    // ORT_DYLIB_PATH wins, and a wrong one is an error rather than a silent fallback.
    set("ORT_DYLIB_PATH", Some("/nonexistent/libonnxruntime.so"));
    let e = discover(&RuntimeOptions::default()).unwrap_err().to_string();
    assert!(e.contains("/nonexistent/libonnxruntime.so") && e.contains("no such file") && e.contains(HINT), "{e}");
    // The explicit path wins over ORT_DYLIB_PATH.
    let (p, _) = discover(&RuntimeOptions { dylib: Some(found.clone()) }).expect("explicit path");
    assert_eq!(p, found);
    // A folder holding the library works too.
    let folder = found.parent().expect("parent").to_path_buf();
    set("ORT_DYLIB_PATH", Some(folder.to_str().expect("utf-8 path")));
    assert!(discover(&RuntimeOptions::default()).is_ok());

    // Too old: refused with the install hint, before `ort` would panic on it.
    let tmp = tempfile::tempdir().expect("tempdir");
    if let Some(old) = fake_old_library(tmp.path()) {
        let e = discover(&RuntimeOptions { dylib: Some(old) }).unwrap_err().to_string();
        assert!(e.contains("version 1.20.1") && e.contains("1.31 or newer") && e.contains(HINT), "{e}");
    } else {
        eprintln!("no C compiler: the too-old library case was not checked");
    }

    // Nothing to find (no python3 on PATH, no library path): the error says how to get it.
    set("ORT_DYLIB_PATH", None);
    set("PATH", Some(tmp.path().to_str().expect("utf-8 path")));
    set("LD_LIBRARY_PATH", None);
    match discover(&RuntimeOptions::default()) {
        Err(e) => {
            let e = e.to_string();
            assert!(e.contains("not found") && e.contains(HINT) && e.contains("ORT_DYLIB_PATH"), "{e}");
        }
        // A system-wide install is the last place looked at; that is fine too.
        Ok((p, _)) => assert!(p.starts_with("/usr"), "{}", p.display()),
    }

    for (k, v) in saved {
        set(k, v.as_deref());
    }
}
