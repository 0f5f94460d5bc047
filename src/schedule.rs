//! What a running stage holds (cores, the GPU, memory) and the bookkeeping that keeps
//! `run -j N` from handing out more than the machine has.

/// What a stage kind holds while it runs (`StageKind::resources`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Resources {
    /// CPU threads: the size of the rayon pool the stage runs in; 0 = every core.
    pub threads: usize,
    /// Whether it runs on the GPU (one slot: every stage uses device 0).
    pub gpu: bool,
    /// A rough estimate of its peak memory, in MiB.
    pub memory_mib: u64,
}

impl Default for Resources {
    /// A light stage: one thread, little memory.
    fn default() -> Resources {
        Resources { threads: 1, gpu: false, memory_mib: 256 }
    }
}

impl Resources {
    pub const fn cpu(threads: usize, memory_mib: u64) -> Resources {
        Resources { threads, gpu: false, memory_mib }
    }
}

/// What the scheduler may hand out.
#[derive(Debug, Clone, Copy)]
pub struct Machine {
    pub cores: usize,
    /// GPU slots: 1, since every CUDA stage runs on device 0.
    pub gpus: usize,
    pub memory_mib: u64,
}

impl Machine {
    /// This machine: `cores` (from `--threads`) or every core, and its physical memory.
    pub fn detect(cores: Option<usize>) -> Machine {
        let cores = cores.filter(|&n| n > 0).unwrap_or_else(|| std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1));
        Machine { cores, gpus: 1, memory_mib: physical_memory_mib().unwrap_or(u64::MAX) }
    }

    /// What a stage gets: what it asks, but never more than the machine has (a stage that asks
    /// for more gets all of it, and so runs alone).
    pub fn grant(&self, ask: Resources) -> Resources {
        let threads = if ask.threads == 0 { self.cores } else { ask.threads.min(self.cores) };
        Resources { threads, gpu: ask.gpu, memory_mib: ask.memory_mib.min(self.memory_mib) }
    }
}

/// `MemTotal` of /proc/meminfo: the same figure whatever else runs, so that scheduling does
/// not depend on the load.
fn physical_memory_mib() -> Option<u64> {
    let text = std::fs::read_to_string("/proc/meminfo").ok()?;
    let line = text.lines().find(|l| l.starts_with("MemTotal:"))?;
    let kib: u64 = line.split_whitespace().nth(1)?.parse().ok()?;
    Some(kib / 1024)
}

/// The stages running now and what they hold.
pub struct Pool {
    machine: Machine,
    /// At most this many stages at once (`-j`).
    jobs: usize,
    running: Vec<(String, Resources)>,
}

impl Pool {
    pub fn new(machine: Machine, jobs: usize) -> Pool {
        Pool { machine, jobs: jobs.max(1), running: Vec::new() }
    }

    pub fn is_empty(&self) -> bool {
        self.running.is_empty()
    }

    /// Why a stage granted `want` cannot start now (`None`: it can).
    pub fn blocked(&self, want: &Resources) -> Option<String> {
        let holders = |pred: &dyn Fn(&Resources) -> bool| {
            self.running.iter().filter(|(_, r)| pred(r)).map(|(n, _)| n.as_str()).collect::<Vec<_>>().join(", ")
        };
        if self.running.len() >= self.jobs {
            return Some(format!("-j {}: {} running ({})", self.jobs, self.running.len(), holders(&|_| true)));
        }
        let cores: usize = self.running.iter().map(|(_, r)| r.threads).sum();
        if cores + want.threads > self.machine.cores {
            return Some(format!(
                "needs {} core(s); {cores} of {} held by {}",
                want.threads,
                self.machine.cores,
                holders(&|r| r.threads > 0)
            ));
        }
        let gpus = self.running.iter().filter(|(_, r)| r.gpu).count();
        if want.gpu && gpus >= self.machine.gpus {
            return Some(format!("needs the GPU, held by {}", holders(&|r| r.gpu)));
        }
        let memory: u64 = self.running.iter().map(|(_, r)| r.memory_mib).sum();
        if memory + want.memory_mib > self.machine.memory_mib {
            return Some(format!(
                "needs about {} of memory; {} of {} estimated for {}",
                gib(want.memory_mib),
                gib(memory),
                gib(self.machine.memory_mib),
                holders(&|_| true)
            ));
        }
        None
    }

    pub fn take(&mut self, stage: &str, grant: Resources) {
        self.running.push((stage.to_string(), grant));
    }

    pub fn give_back(&mut self, stage: &str) {
        self.running.retain(|(n, _)| n != stage);
    }
}

fn gib(mib: u64) -> String {
    format!("{:.1} GiB", mib as f64 / 1024.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TWO_CORES: Machine = Machine { cores: 2, gpus: 1, memory_mib: 8192 };

    #[test]
    fn grants_never_exceed_the_machine() {
        assert_eq!(TWO_CORES.grant(Resources::cpu(0, 100)).threads, 2, "0 = every core");
        assert_eq!(TWO_CORES.grant(Resources::cpu(8, 100)).threads, 2, "more than there is: all of it");
        assert_eq!(TWO_CORES.grant(Resources::cpu(1, 100_000)).memory_mib, 8192);
    }

    #[test]
    fn two_trainings_of_two_threads_on_two_cores_run_one_at_a_time() {
        let mut pool = Pool::new(TWO_CORES, 4);
        let train = TWO_CORES.grant(Resources::cpu(2, 3072));
        assert_eq!(pool.blocked(&train), None);
        pool.take("train", train);
        assert_eq!(pool.blocked(&train).as_deref(), Some("needs 2 core(s); 2 of 2 held by train"));
        pool.give_back("train");
        assert_eq!(pool.blocked(&train), None);
    }

    #[test]
    fn a_sixteen_core_gpu_box_fits_four_cpu_trainings_and_one_on_the_gpu() {
        let machine = Machine { cores: 16, gpus: 1, memory_mib: 128 * 1024 };
        let mut pool = Pool::new(machine, 16);
        let cpu = machine.grant(Resources::cpu(2, 3072));
        let gpu = machine.grant(Resources { threads: 1, gpu: true, memory_mib: 1024 });
        for i in 0..4 {
            assert_eq!(pool.blocked(&cpu), None);
            pool.take(&format!("train{i}"), cpu);
        }
        assert_eq!(pool.blocked(&gpu), None);
        pool.take("train_gpu", gpu);
        assert!(pool.blocked(&gpu).unwrap().contains("needs the GPU, held by train_gpu"));
    }

    #[test]
    fn jobs_and_memory_limit_too() {
        let mut pool = Pool::new(TWO_CORES, 1);
        pool.take("a", Resources::cpu(1, 100));
        assert!(pool.blocked(&Resources::cpu(1, 100)).unwrap().starts_with("-j 1: 1 running (a)"));
        let mut pool = Pool::new(TWO_CORES, 2);
        pool.take("a", Resources::cpu(1, 6000));
        assert!(pool.blocked(&Resources::cpu(1, 4000)).unwrap().contains("needs about 3.9 GiB of memory"));
    }
}
