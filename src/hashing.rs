//! Content hashes of input files, folders and published artifact files, remembered by what
//! `stat` says of each file so that big files are read once and a no-op run only stats them.
//!
//! The memo trusts a hash while the file's (device, inode, size, mtime, ctime) are unchanged,
//! as git's index does: tools that restore an mtime (`touch -r`, `tar`, `rsync -t`, `cp -p`)
//! cannot restore the ctime, which the kernel sets on every change of content or metadata.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::Mutex;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, PartialEq)]
struct MemoEntry {
    // Not flattened: serde's flatten cannot read back the i128 fields, which left every run
    // with an empty memo (and so re-hashing every file).
    stamp: Stamp,
    hash: String,
}

/// What `stat` says of a file; any change means its content may have changed.
#[derive(Serialize, Deserialize, Clone, Copy, PartialEq, Debug)]
pub struct Stamp {
    dev: u64,
    ino: u64,
    size: u64,
    mtime_ns: i128,
    ctime_ns: i128,
}

impl Stamp {
    pub fn of(meta: &fs::Metadata) -> Stamp {
        use std::os::unix::fs::MetadataExt;
        let ns = |s: i64, n: i64| s as i128 * 1_000_000_000 + n as i128;
        Stamp {
            dev: meta.dev(),
            ino: meta.ino(),
            size: meta.len(),
            mtime_ns: ns(meta.mtime(), meta.mtime_nsec()),
            ctime_ns: ns(meta.ctime(), meta.ctime_nsec()),
        }
    }
}

/// The memo, shared by the threads of one run (`&self` everywhere) and by concurrent runs:
/// each save merges this process's changes into what is on disk under an OS lock, so no
/// entry another run wrote is lost. (An entry lost anyway, say in a crash, only costs
/// hashing that file again.)
pub struct HashMemo {
    file: PathBuf,
    state: Mutex<MemoState>,
}

#[derive(Default)]
struct MemoState {
    entries: BTreeMap<String, MemoEntry>,
    /// Entries added or replaced since the last save...
    changed: BTreeMap<String, MemoEntry>,
    /// ...and folders whose entries were dropped (`forget_under`).
    forgotten: Vec<String>,
}

/// Content hash and total size of one input.
#[derive(Debug, Clone)]
pub struct Hashed {
    pub hash: String,
    pub bytes: u64,
}

impl HashMemo {
    pub fn load(file: PathBuf) -> HashMemo {
        let entries = read_entries(&file);
        HashMemo { file, state: Mutex::new(MemoState { entries, ..MemoState::default() }) }
    }

    fn state(&self) -> std::sync::MutexGuard<'_, MemoState> {
        // A panic elsewhere while holding the lock leaves the maps whole (each update is one insert).
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Hashes a file, or a folder as the sorted list of its files' relative paths and hashes.
    pub fn hash_path(&self, path: &Path) -> Result<Hashed> {
        let meta = fs::metadata(path)
            .with_context(|| format!("no such file or folder: {}", path.display()))?;
        if meta.is_file() {
            return self.hash_file(path, &meta);
        }
        if !meta.is_dir() {
            bail!("{} is neither a file nor a folder", path.display());
        }
        let mut files = Vec::new();
        collect_files(path, path, &mut files)?;
        files.sort();
        let mut hasher = blake3::Hasher::new();
        let mut bytes = 0;
        for rel in files {
            let full = path.join(&rel);
            let meta = fs::metadata(&full).with_context(|| format!("cannot read {}", full.display()))?;
            let h = self.hash_file(&full, &meta)?;
            bytes += h.bytes;
            hasher.update(rel.as_bytes());
            hasher.update(b"\0");
            hasher.update(h.hash.as_bytes());
            hasher.update(b"\n");
        }
        Ok(Hashed { hash: hasher.finalize().to_hex().to_string(), bytes })
    }

    /// The content hash of one file, read only when its stamp changed since it was last hashed.
    pub fn hash_file(&self, path: &Path, meta: &fs::Metadata) -> Result<Hashed> {
        let key = memo_key(path);
        let stamp = Stamp::of(meta);
        if let Some(e) = self.state().entries.get(&key)
            && e.stamp == stamp
        {
            return Ok(Hashed { hash: e.hash.clone(), bytes: stamp.size });
        }
        // Read without holding the lock: other threads go on meanwhile.
        let hash = hash_file_content(path)?;
        self.remember(path, stamp, &hash);
        Ok(Hashed { hash, bytes: stamp.size })
    }

    /// Records a hash computed elsewhere (while publishing) for the file as `stat` saw it.
    pub fn remember(&self, path: &Path, stamp: Stamp, hash: &str) {
        let entry = MemoEntry { stamp, hash: hash.to_string() };
        let key = memo_key(path);
        let mut state = self.state();
        state.entries.insert(key.clone(), entry.clone());
        state.changed.insert(key, entry);
    }

    /// Forgets every file under `dir` (after it was deleted), so the memo does not grow forever.
    pub fn forget_under(&self, dir: &Path) {
        let prefix = format!("{}/", memo_key(dir));
        let mut state = self.state();
        state.entries.retain(|k, _| !k.starts_with(&prefix));
        state.changed.retain(|k, _| !k.starts_with(&prefix));
        state.forgotten.push(prefix);
    }

    /// Merges this process's changes into the memo file (atomically, under `.hash-memo.lock`,
    /// an OS file lock that the kernel releases if the process dies).
    pub fn save(&self) {
        let mut state = self.state();
        if state.changed.is_empty() && state.forgotten.is_empty() {
            return;
        }
        let lock = fs::OpenOptions::new().create(true).truncate(false).write(true).open(self.file.with_extension("lock"));
        let Ok(lock) = lock else { return };
        if lock.lock().is_err() {
            return;
        }
        let mut merged = read_entries(&self.file);
        for prefix in &state.forgotten {
            merged.retain(|k, _| !k.starts_with(prefix));
        }
        merged.extend(state.changed.iter().map(|(k, e)| (k.clone(), e.clone())));
        let tmp = self.file.with_extension(format!("tmp-{}", iamm_core::writer_tag()));
        let ok = serde_json::to_vec(&merged)
            .ok()
            .and_then(|b| fs::write(&tmp, b).ok())
            .and_then(|_| fs::rename(&tmp, &self.file).ok());
        if ok.is_none() {
            let _ = fs::remove_file(&tmp);
        }
        let _ = lock.unlock();
        // What other runs hashed meanwhile is known here too now.
        state.entries = merged;
        state.changed.clear();
        state.forgotten.clear();
    }
}

/// The memo file's entries; a missing or unreadable memo only costs re-hashing.
fn read_entries(file: &Path) -> BTreeMap<String, MemoEntry> {
    fs::read(file).ok().and_then(|b| serde_json::from_slice(&b).ok()).unwrap_or_default()
}

fn memo_key(path: &Path) -> String {
    fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string()
}

pub fn hash_file_content(path: &Path) -> Result<String> {
    let mut file = fs::File::open(path).with_context(|| format!("cannot open {}", path.display()))?;
    let mut hasher = blake3::Hasher::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file.read(&mut buf).with_context(|| format!("cannot read {}", path.display()))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hasher.finalize().to_hex().to_string())
}

fn collect_files(root: &Path, dir: &Path, out: &mut Vec<String>) -> Result<()> {
    for entry in fs::read_dir(dir).with_context(|| format!("cannot list {}", dir.display()))? {
        let entry = entry?;
        let name = entry.file_name();
        if name.to_string_lossy().starts_with('.') {
            continue;
        }
        let path = entry.path();
        if path.is_dir() {
            collect_files(root, &path, out)?;
        } else {
            let rel = path.strip_prefix(root).unwrap_or(&path);
            out.push(rel.to_string_lossy().replace('\\', "/"));
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_size_edit_changes_hash_and_touch_does_not() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.csv");
        fs::write(&f, "hello").unwrap();
        let memo = HashMemo::load(dir.path().join(".memo.json"));
        let h1 = memo.hash_path(&f).unwrap().hash;
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&f, "jello").unwrap();
        let h2 = memo.hash_path(&f).unwrap().hash;
        assert_ne!(h1, h2);
        std::thread::sleep(std::time::Duration::from_millis(10));
        fs::write(&f, "jello").unwrap();
        assert_eq!(memo.hash_path(&f).unwrap().hash, h2);
        let d1 = memo.hash_path(dir.path()).unwrap();
        memo.save();
        let again = HashMemo::load(dir.path().join(".memo.json"));
        assert_eq!(again.hash_path(&f).unwrap().hash, h2);
        // The folder hash covers its files (hidden files such as the memo are not).
        fs::write(dir.path().join("b.csv"), "x").unwrap();
        assert_ne!(again.hash_path(dir.path()).unwrap().hash, d1.hash);
    }

    #[test]
    fn two_runs_saving_the_memo_keep_each_others_entries() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join(".memo.json");
        let (a, b) = (dir.path().join("a.csv"), dir.path().join("b.csv"));
        fs::write(&a, "a").unwrap();
        fs::write(&b, "b").unwrap();
        let (first, second) = (HashMemo::load(file.clone()), HashMemo::load(file.clone()));
        let ha = first.hash_path(&a).unwrap().hash;
        second.hash_path(&b).unwrap();
        first.save();
        second.save();
        let entries = read_entries(&file);
        assert_eq!(entries.len(), 2, "neither save lost the other's entry");
        assert_eq!(entries[&memo_key(&a)].hash, ha);
        // A forgotten folder's entries go from the file too, whoever wrote them.
        first.forget_under(dir.path());
        first.save();
        assert!(read_entries(&file).is_empty());
    }

    #[test]
    fn an_edit_with_its_mtime_restored_is_detected() {
        // What `touch -r`, `tar -x`, `rsync -t` and `cp -p` do: same size, the old mtime.
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("a.csv");
        fs::write(&f, "hello").unwrap();
        let mtime = fs::metadata(&f).unwrap().modified().unwrap();
        let memo = HashMemo::load(dir.path().join(".memo.json"));
        let h1 = memo.hash_path(&f).unwrap().hash;
        std::thread::sleep(std::time::Duration::from_millis(20));
        fs::write(&f, "jello").unwrap();
        fs::File::options().write(true).open(&f).unwrap().set_modified(mtime).unwrap();
        assert_eq!(fs::metadata(&f).unwrap().modified().unwrap(), mtime);
        assert_ne!(memo.hash_path(&f).unwrap().hash, h1, "the ctime moved, so the file is read again");
    }
}
