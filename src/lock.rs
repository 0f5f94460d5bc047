//! One `run` at a time per workspace: an OS file lock, released by the kernel even when
//! the holder is killed, so a leftover lock file is recognised as stale and reused.

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::Path;
use std::time::Duration;

use anyhow::{Context, Result, bail};

pub struct WorkspaceLock {
    file: File,
}

impl WorkspaceLock {
    /// Takes the lock, waiting for another run to finish unless `wait` is false.
    pub fn acquire(artifacts: &Path, wait: bool) -> Result<WorkspaceLock> {
        std::fs::create_dir_all(artifacts)
            .with_context(|| format!("cannot create {}", artifacts.display()))?;
        let path = artifacts.join(".lock");
        let mut file = OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(&path)
            .with_context(|| format!("cannot open lock file {}", path.display()))?;
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    if !wait {
                        bail!(
                            "another iamm-pipe command ({holder}) is working in {}; wait for it to \
                             finish, or stop it (the lock is released when it exits)",
                            artifacts.display()
                        );
                    }
                    if !announced {
                        eprintln!("waiting for another iamm-pipe command ({holder}) to finish...");
                        announced = true;
                    }
                    std::thread::sleep(Duration::from_millis(200));
                }
                Err(TryLockError::Error(e)) => {
                    return Err(e).with_context(|| format!("cannot lock {}", path.display()));
                }
            }
        }
        let previous = read_holder(&mut file);
        if !previous.is_empty() {
            // The file names a holder, yet nobody holds the lock: that process died.
            eprintln!("note: taking over a stale lock left by {previous}");
        }
        file.set_len(0)?;
        file.rewind()?;
        write!(file, "pid {} since unix time {}", std::process::id(), unix_now_ms() / 1000)?;
        file.flush()?;
        Ok(WorkspaceLock { file })
    }
}

impl Drop for WorkspaceLock {
    fn drop(&mut self) {
        // Empty file = released cleanly, so the next taker does not call it stale.
        let _ = self.file.set_len(0);
        let _ = self.file.unlock();
    }
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    if text.trim().is_empty() { String::new() } else { text.trim().to_string() }
}

pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}
