//! Locks between concurrent iamm-pipe commands on one store.
//!
//! - `artifacts/.lock` (the store lock): every `run` holds it shared for its whole duration;
//!   `gc`, `clean` and `verify` hold it exclusively, so they never delete or read under a
//!   running stage, and runs wait while they work.
//! - `artifacts/<stage>/.lock-<key>` (a stage lock): held while a run builds that artifact,
//!   so two runs never build the same one; other stages and other keys proceed in parallel.
//!
//! These are flock(2) locks (std's `File::lock*`): the kernel releases them when the holder
//! exits, however it exits, so a lock file left behind is stale, not held. An exclusive holder
//! writes `pid N since unix time T` into the file so that a waiting command can name it, and
//! empties it when it lets go: a file that still names a holder nobody holds was left by a
//! process that died.
//!
//! What is relied on: flock between the processes of one machine. A store shared by several
//! machines over a network filesystem may give flock only per machine (Lustre's `localflock`,
//! NFS mounted with `local_lock`), so nothing that several machines do at once depends on these
//! locks: every file is written under a temporary name unique to its writer
//! (`iamm_core::writer_tag`: process and host) and renamed into place, which is atomic within
//! one folder on NFS too; a cluster job graph runs each stage in exactly one job
//! (`executor/`); row-cache shards of one stage from many machines need no lock
//! (`kinds/shards.rs`); and a run sweeps only leftovers whose writer it knows to be dead
//! (`writer_gone`).

use std::fs::{File, OpenOptions, TryLockError};
use std::io::{Read, Seek, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};

/// How long a waiting command sleeps between two tries.
pub const POLL: Duration = Duration::from_millis(200);
/// What a run that holds the store exclusively for a moment says it does.
const SWEEPING: &str = ", sweeping leftovers";
/// File name prefix of stage locks inside `artifacts/<stage>/`.
pub const STAGE_LOCK_PREFIX: &str = ".lock-";

/// The store lock (see the module doc).
pub struct StoreLock {
    file: File,
    exclusive: bool,
}

impl StoreLock {
    /// Shared, for a run: waits while `gc`, `clean` or `verify` hold the store, unless `wait`
    /// is false. A run that finds no other command in the store holds it exclusively for a
    /// moment first and calls `sweep`: with nobody else writing, every temporary folder is a
    /// leftover of an interrupted run.
    pub fn shared(artifacts: &Path, wait: bool, sweep: impl FnOnce()) -> Result<StoreLock> {
        let (mut file, path) = open(artifacts, ".lock")?;
        if file.try_lock().is_ok() {
            claim(&mut file, &path, SWEEPING)?;
            sweep();
            release(&mut file);
            // Not atomic: a `gc` may take the store in between, and this run then waits for it.
            file.lock_shared().with_context(|| format!("cannot lock {}", path.display()))?;
            return Ok(StoreLock { file, exclusive: false });
        }
        let mut announced = false;
        loop {
            match file.try_lock_shared() {
                Ok(()) => return Ok(StoreLock { file, exclusive: false }),
                Err(TryLockError::WouldBlock) => {
                    let holder = read_holder(&mut file);
                    // A run sweeping leftovers holds the store for milliseconds: worth a wait.
                    if !wait && !holder.ends_with(SWEEPING) {
                        bail!(
                            "another iamm-pipe command ({holder}) is working in {}; wait for it to finish, or stop it \
                             (the lock is released when it exits)",
                            artifacts.display()
                        );
                    }
                    if !announced {
                        eprintln!("waiting for another iamm-pipe command ({holder}) to finish...");
                        announced = true;
                    }
                    std::thread::sleep(POLL);
                }
                Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
            }
        }
    }

    /// Exclusive, for a command that deletes or reads everything (`what` it is, for the
    /// message): waits until no other command works in the store.
    pub fn exclusive(artifacts: &Path, what: &str) -> Result<StoreLock> {
        let (mut file, path) = open(artifacts, ".lock")?;
        let mut announced = false;
        loop {
            match file.try_lock() {
                Ok(()) => break,
                Err(TryLockError::WouldBlock) => {
                    if !announced {
                        let holder = read_holder(&mut file);
                        let who = if holder.is_empty() { "running iamm-pipe commands".to_string() } else { format!("another iamm-pipe command ({holder})") };
                        eprintln!("waiting for {who} to finish: {what} needs {} to itself...", artifacts.display());
                        announced = true;
                    }
                    std::thread::sleep(POLL);
                }
                Err(TryLockError::Error(e)) => return Err(e).with_context(|| format!("cannot lock {}", path.display())),
            }
        }
        claim(&mut file, &path, "")?;
        Ok(StoreLock { file, exclusive: true })
    }
}

impl Drop for StoreLock {
    fn drop(&mut self) {
        if self.exclusive {
            release(&mut self.file);
        }
        let _ = self.file.unlock();
    }
}

/// A stage lock (see the module doc).
pub struct StageLock {
    file: File,
}

/// What trying a stage lock found.
pub enum Attempt {
    Got(StageLock),
    /// Another process builds it; who, as its lock file says.
    Held(String),
}

impl StageLock {
    /// Takes the lock of `artifacts/<stage>` for `key` if it is free.
    pub fn try_acquire(stage_dir: &Path, key: &str) -> Result<Attempt> {
        let (mut file, path) = open(stage_dir, &format!("{STAGE_LOCK_PREFIX}{key}"))?;
        match file.try_lock() {
            Ok(()) => {
                claim(&mut file, &path, "")?;
                Ok(Attempt::Got(StageLock { file }))
            }
            Err(TryLockError::WouldBlock) => {
                let holder = read_holder(&mut file);
                Ok(Attempt::Held(if holder.is_empty() { "starting".to_string() } else { holder }))
            }
            Err(TryLockError::Error(e)) => Err(e).with_context(|| format!("cannot lock {}", path.display())),
        }
    }
}

impl Drop for StageLock {
    fn drop(&mut self) {
        release(&mut self.file);
        let _ = self.file.unlock();
    }
}

fn open(dir: &Path, name: &str) -> Result<(File, PathBuf)> {
    std::fs::create_dir_all(dir).with_context(|| format!("cannot create {}", dir.display()))?;
    let path = dir.join(name);
    let file = OpenOptions::new()
        .read(true)
        .write(true)
        .create(true)
        .truncate(false)
        .open(&path)
        .with_context(|| format!("cannot open lock file {}", path.display()))?;
    Ok((file, path))
}

/// Writes this process (and `doing`) into a lock just taken, after saying so if a dead holder
/// left its name.
fn claim(file: &mut File, path: &Path, doing: &str) -> Result<()> {
    let previous = read_holder(file);
    if !previous.is_empty() {
        eprintln!("note: taking over a stale lock left by {previous} ({})", path.display());
    }
    file.set_len(0)?;
    file.rewind()?;
    write!(file, "pid {} since unix time {}{doing}", std::process::id(), unix_now_ms() / 1000)?;
    file.flush()?;
    Ok(())
}

/// Empty file = released cleanly, so the next taker does not call it stale.
fn release(file: &mut File) {
    let _ = file.set_len(0);
}

fn read_holder(file: &mut File) -> String {
    let mut text = String::new();
    let _ = file.rewind().and_then(|_| file.read_to_string(&mut text));
    text.trim().to_string()
}

pub fn unix_now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

/// Whether the writer of a leftover named `...-PID@HOST` is known to be gone: a process of
/// this machine that no longer runs. A writer on another machine may still be writing, so its
/// leftovers are not this run's to sweep (`gc` removes them); a name without a tag is from an
/// older version of iamm-pipe, whose writers are gone.
pub fn writer_gone(name: &str) -> bool {
    let Some((left, host)) = name.rsplit_once('@') else { return true };
    let pid = left.rsplit(['-', '.']).next().and_then(|p| p.parse::<i32>().ok());
    match pid {
        Some(pid) if host == iamm_core::host_name() => !alive(pid),
        Some(_) => false,
        None => true,
    }
}

fn alive(pid: i32) -> bool {
    // SAFETY: signal 0 only checks whether the process exists.
    unsafe { libc::kill(pid, 0) == 0 || std::io::Error::last_os_error().raw_os_error() == Some(libc::EPERM) }
}

#[cfg(test)]
mod tests {
    use super::*;
    use iamm_core::{host_name, writer_tag};

    #[test]
    fn only_dead_writers_of_this_machine_are_gone() {
        let me = format!(".tmp-abc-{}", writer_tag());
        assert!(!writer_gone(&me), "this process is alive");
        let mut child = std::process::Command::new("true").spawn().unwrap();
        let pid = child.id();
        child.wait().unwrap();
        assert!(writer_gone(&format!(".tmp-abc-{pid}@{}", host_name())), "a reaped child is gone");
        assert!(!writer_gone(&format!(".tmp-abc-{pid}@another-host.example")), "another machine's writer may live");
        assert!(writer_gone(".tmp-abc-123"), "untagged: left by an older version");
    }
}
