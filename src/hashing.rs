//! Content hashes of input files and folders, remembered by (path, size, mtime) so that
//! big inputs are read once and a no-op run only stats them.

use std::collections::BTreeMap;
use std::fs;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::time::UNIX_EPOCH;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};

#[derive(Serialize, Deserialize, Clone, PartialEq)]
struct MemoEntry {
    size: u64,
    mtime_ns: u128,
    hash: String,
}

pub struct HashMemo {
    file: PathBuf,
    entries: BTreeMap<String, MemoEntry>,
    dirty: bool,
}

/// Content hash and total size of one input.
#[derive(Debug, Clone)]
pub struct Hashed {
    pub hash: String,
    pub bytes: u64,
}

impl HashMemo {
    pub fn load(file: PathBuf) -> HashMemo {
        // A missing or unreadable memo only costs re-hashing.
        let entries = fs::read(&file)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .unwrap_or_default();
        HashMemo { file, entries, dirty: false }
    }

    /// Hashes a file, or a folder as the sorted list of its files' relative paths and hashes.
    pub fn hash_path(&mut self, path: &Path) -> Result<Hashed> {
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

    fn hash_file(&mut self, path: &Path, meta: &fs::Metadata) -> Result<Hashed> {
        let key = fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf()).display().to_string();
        let mtime_ns = meta
            .modified()
            .ok()
            .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
            .map(|d| d.as_nanos())
            .unwrap_or(0);
        let size = meta.len();
        if let Some(e) = self.entries.get(&key)
            && e.size == size && e.mtime_ns == mtime_ns {
                return Ok(Hashed { hash: e.hash.clone(), bytes: size });
            }
        let hash = hash_file_content(path)?;
        self.entries.insert(key, MemoEntry { size, mtime_ns, hash: hash.clone() });
        self.dirty = true;
        Ok(Hashed { hash, bytes: size })
    }

    /// Writes the memo back (atomically) if anything was hashed.
    pub fn save(&mut self) {
        if !self.dirty {
            return;
        }
        let tmp = self.file.with_extension(format!("tmp{}", std::process::id()));
        let ok = serde_json::to_vec(&self.entries)
            .ok()
            .and_then(|b| fs::write(&tmp, b).ok())
            .and_then(|_| fs::rename(&tmp, &self.file).ok());
        if ok.is_none() {
            let _ = fs::remove_file(&tmp);
        }
        self.dirty = false;
    }
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
        let mut memo = HashMemo::load(dir.path().join(".memo.json"));
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
        let mut again = HashMemo::load(dir.path().join(".memo.json"));
        assert_eq!(again.hash_path(&f).unwrap().hash, h2);
        // The folder hash covers its files (hidden files such as the memo are not).
        fs::write(dir.path().join("b.csv"), "x").unwrap();
        assert_ne!(again.hash_path(dir.path()).unwrap().hash, d1.hash);
    }
}
