//! Finding and loading the ONNX Runtime shared library (once per process).
//!
//! Discovery order: an explicit path (`RuntimeOptions::dylib`), `ORT_DYLIB_PATH`, the
//! `onnxruntime` Python package (located with `importlib.util.find_spec`, without importing it, so
//! numpy need not be installed; the library is `capi/libonnxruntime.so*`), then the system library
//! path (`LD_LIBRARY_PATH` folders, /usr/local/lib, /usr/lib, /usr/lib/x86_64-linux-gnu). An
//! explicit path or `ORT_DYLIB_PATH` that does not work is an error, not a reason to look further.
//!
//! Each candidate is opened here first and asked for its version (`OrtGetApiBase()->
//! GetVersionString()`), because `ort` panics on a library it cannot load or use.

use std::ffi::CStr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Mutex, OnceLock};

use ort::environment::Environment;
use ort::ep::ExecutionProvider;

use crate::error::CometError;

/// The oldest ONNX Runtime this crate can drive (`ort` is built with its `api-31` feature).
pub const MIN_ORT_VERSION: (u32, u32) = (1, 31);

/// Where to find ONNX Runtime.
#[derive(Debug, Clone, Default)]
pub struct RuntimeOptions {
    /// An explicit `libonnxruntime.so` (or a folder holding one); wins over everything else.
    pub dylib: Option<PathBuf>,
}

/// The loaded ONNX Runtime: one per process.
pub struct Runtime {
    pub(crate) env: Environment,
    path: PathBuf,
    version: String,
}

impl std::fmt::Debug for Runtime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Runtime").field("path", &self.path).field("version", &self.version).finish()
    }
}

impl Runtime {
    /// The library that was loaded.
    pub fn dylib(&self) -> &Path {
        &self.path
    }

    /// Its version string, e.g. `1.32.0`.
    pub fn version(&self) -> &str {
        &self.version
    }

    /// `ONNX Runtime 1.32.0 (/path/libonnxruntime.so.1.32.0)`, for manifests and logs.
    pub fn describe(&self) -> String {
        format!("ONNX Runtime {} ({})", self.version, self.path.display())
    }

    /// Whether this build of ONNX Runtime has the CUDA execution provider (the GPU wheel does).
    pub fn cuda_available(&self) -> bool {
        ort::ep::CUDA::is_available().unwrap_or(false)
    }
}

static RUNTIME: OnceLock<Runtime> = OnceLock::new();
static INIT: Mutex<()> = Mutex::new(());

/// Loads ONNX Runtime (the first call) or returns the one already loaded.
pub fn runtime(opts: &RuntimeOptions) -> Result<&'static Runtime, CometError> {
    // A poisoned lock only means another thread panicked while holding it; the state is a OnceLock.
    let _guard = INIT.lock().unwrap_or_else(|e| e.into_inner());
    if let Some(rt) = RUNTIME.get() {
        if let Some(requested) = &opts.dylib {
            let same = match (requested.canonicalize(), rt.path.canonicalize()) {
                (Ok(a), Ok(b)) => a == b || (a.is_dir() && b.starts_with(&a)),
                _ => false,
            };
            if !same {
                return Err(CometError::OrtAlreadyLoaded { loaded: rt.path.clone(), requested: requested.clone() });
            }
        }
        return Ok(rt);
    }
    let (path, version) = discover(opts)?;
    let builder =
        ort::init_from(&path).map_err(|e| CometError::OrtUnloadable { path: path.clone(), reason: e.to_string() })?;
    let env = builder
        .with_name("iamm-comet")
        .with_telemetry(false)
        .build()
        .map_err(|e| CometError::ort("creating the environment", e))?;
    Ok(RUNTIME.get_or_init(|| Runtime { env, path, version }))
}

/// Finds a usable library; see the module docs for the order.
pub fn discover(opts: &RuntimeOptions) -> Result<(PathBuf, String), CometError> {
    if let Some(p) = &opts.dylib {
        return check_explicit(p);
    }
    if let Some(p) = std::env::var_os("ORT_DYLIB_PATH").filter(|v| !v.is_empty()) {
        return check_explicit(Path::new(&p));
    }
    let mut searched = Vec::new();
    let mut rejected: Option<CometError> = None;
    let mut dirs = Vec::new();
    match python_package_dir() {
        Some(pkg) => dirs.push(pkg.join("capi")),
        None => searched.push("the python3 package `onnxruntime` (not installed)".to_string()),
    }
    if let Some(ld) = std::env::var_os("LD_LIBRARY_PATH") {
        dirs.extend(std::env::split_paths(&ld).filter(|p| !p.as_os_str().is_empty()));
    }
    dirs.extend(["/usr/local/lib", "/usr/lib", "/usr/lib/x86_64-linux-gnu"].map(PathBuf::from));
    for dir in dirs {
        searched.push(dir.display().to_string());
        for cand in library_files(&dir) {
            match check(&cand) {
                Ok(found) => return Ok(found),
                // Keep looking, but report the first unusable one if nothing better turns up.
                Err(e) => {
                    rejected.get_or_insert(e);
                }
            }
        }
    }
    Err(rejected.unwrap_or(CometError::OrtNotFound { searched: searched.join(", ") }))
}

/// A path the user named: a library file, or a folder with one.
fn check_explicit(p: &Path) -> Result<(PathBuf, String), CometError> {
    if p.is_dir() {
        let files = library_files(p);
        if files.is_empty() {
            return Err(CometError::OrtUnloadable {
                path: p.to_path_buf(),
                reason: "the folder has no libonnxruntime shared library".into(),
            });
        }
        let mut first_err = None;
        for f in files {
            match check(&f) {
                Ok(found) => return Ok(found),
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
        }
        return Err(first_err.unwrap_or(CometError::OrtNotFound { searched: p.display().to_string() }));
    }
    check(p)
}

/// `python3` says where the `onnxruntime` package is, without importing it.
fn python_package_dir() -> Option<PathBuf> {
    let script = "import importlib.util as u\n\
                  s = u.find_spec('onnxruntime')\n\
                  print(s.submodule_search_locations[0] if s and s.submodule_search_locations else '')";
    let out = Command::new("python3").args(["-c", script]).output().ok()?;
    let dir = String::from_utf8(out.stdout).ok()?;
    let dir = dir.trim();
    (out.status.success() && !dir.is_empty()).then(|| PathBuf::from(dir))
}

/// `libonnxruntime.so`, `libonnxruntime.so.1.32.0`, … in a folder, newest version first.
fn library_files(dir: &Path) -> Vec<PathBuf> {
    let Ok(entries) = std::fs::read_dir(dir) else { return Vec::new() };
    let prefix = format!("{}onnxruntime", std::env::consts::DLL_PREFIX);
    let suffix = std::env::consts::DLL_SUFFIX;
    let mut found: Vec<(Vec<u32>, PathBuf)> = entries
        .filter_map(Result::ok)
        .filter_map(|e| {
            let name = e.file_name().to_str()?.to_string();
            let rest = name.strip_prefix(&prefix)?;
            // libonnxruntime.so[.X.Y.Z] on Linux, libonnxruntime[.X.Y.Z].dylib on macOS.
            let version = if let Some(v) = rest.strip_prefix(suffix) { v } else { rest.strip_suffix(suffix)? };
            if !(version.is_empty() || version.starts_with('.')) {
                return None; // e.g. libonnxruntime_providers_shared.so
            }
            let v: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
            Some((v, e.path()))
        })
        .collect();
    found.sort_by(|a, b| b.0.cmp(&a.0));
    found.into_iter().map(|(_, p)| p).collect()
}

/// Opens a candidate and checks its version.
fn check(path: &Path) -> Result<(PathBuf, String), CometError> {
    let unloadable = |reason: String| CometError::OrtUnloadable { path: path.to_path_buf(), reason };
    if !path.exists() {
        return Err(unloadable("no such file".into()));
    }
    let path = path.canonicalize().map_err(|e| unloadable(e.to_string()))?;
    // SAFETY: loading runs the library's initialisers; this is the library the user asked for (or
    // ONNX Runtime's own file name), and it is what `ort` would load next anyway.
    let lib = unsafe { libloading::Library::new(&path) }.map_err(|e| unloadable(e.to_string()))?;
    let version = {
        // SAFETY: OrtGetApiBase is ONNX Runtime's stable C entry point with this signature.
        let get_base =
            unsafe { lib.get::<unsafe extern "system" fn() -> *const ort::sys::OrtApiBase>(b"OrtGetApiBase") }
                .map_err(|_| unloadable("it does not export OrtGetApiBase, so it is not ONNX Runtime".into()))?;
        // SAFETY: the function takes no arguments and returns a pointer to a static struct.
        let base = unsafe { get_base() };
        if base.is_null() {
            return Err(unloadable("OrtGetApiBase returned null".into()));
        }
        // SAFETY: non-null, and GetVersionString returns a static NUL-terminated string.
        let v = unsafe { ((*base).GetVersionString)() };
        if v.is_null() {
            return Err(unloadable("GetVersionString returned null".into()));
        }
        // SAFETY: as above.
        unsafe { CStr::from_ptr(v) }.to_string_lossy().into_owned()
    };
    // Unloading ONNX Runtime can crash at exit (it registers atexit handlers); keep it mapped.
    std::mem::forget(lib);
    let mut parts = version.split('.').map(|p| p.parse::<u32>().unwrap_or(0));
    let major = parts.next().unwrap_or(0);
    let minor = parts.next().unwrap_or(0);
    if (major, minor) < MIN_ORT_VERSION {
        return Err(CometError::OrtTooOld { path, version });
    }
    Ok((path, version))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn library_files_newest_first_and_skips_providers() {
        let d = tempfile::tempdir().unwrap();
        for n in [
            "libonnxruntime.so.1.9.0",
            "libonnxruntime.so.1.32.0",
            "libonnxruntime_providers_shared.so",
            "libonnxruntime.so",
            "other.so",
        ] {
            std::fs::write(d.path().join(n), b"").unwrap();
        }
        let names: Vec<String> =
            library_files(d.path()).iter().map(|p| p.file_name().unwrap().to_string_lossy().into_owned()).collect();
        assert_eq!(names, ["libonnxruntime.so.1.32.0", "libonnxruntime.so.1.9.0", "libonnxruntime.so"]);
    }

    #[test]
    fn a_file_that_is_not_a_library_is_a_clear_error() {
        let d = tempfile::tempdir().unwrap();
        let p = d.path().join("libonnxruntime.so");
        std::fs::write(&p, b"not an ELF file").unwrap();
        let e = discover(&RuntimeOptions { dylib: Some(p) }).unwrap_err().to_string();
        assert!(e.contains("cannot load") && e.contains("pip install --no-deps onnxruntime==1.32.0"), "{e}");
        let e = discover(&RuntimeOptions { dylib: Some(d.path().join("nope.so")) }).unwrap_err().to_string();
        assert!(e.contains("no such file"), "{e}");
    }
}
