//! Timing commands: interleaved rounds (A B A B ..., with the first contender rotating), per-
//! round ratios and their medians, and the peak resident memory of one run.
//!
//! The disks of these machines drift by up to 3x within minutes, so an absolute time means
//! little; a ratio of two runs made back to back means much more.

use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use super::cluster::Cluster;
use super::Result;

/// Builds the command of one contender for a database URL.
pub type MakeCommand<'a> = Box<dyn Fn(&str) -> Command + 'a>;

/// Checks a fresh database after a run (given its name).
pub type Verify<'a> = &'a dyn Fn(&str) -> Result<()>;

/// One of the commands compared.
pub struct Contender<'a> {
    /// A short name, e.g. `psql -f`.
    pub label: &'static str,
    /// The command, given the database URL.
    pub command: MakeCommand<'a>,
    /// Called after a run on a fresh database, to check it did the whole job.
    pub verify: Option<Verify<'a>>,
}

/// Where the runs happen.
pub enum Database<'a> {
    /// A new empty database per run, dropped afterwards.
    Fresh,
    /// One existing database shared by every run (read-only commands).
    Shared(&'a str),
}

/// The samples of each contender, in round order.
pub struct Samples {
    /// `times[c][r]`: contender `c`, round `r`.
    pub times: Vec<Vec<Duration>>,
}

impl Samples {
    /// The median time of contender `c`.
    pub fn median(&self, c: usize) -> Duration {
        let secs: Vec<f64> = self.times[c].iter().map(Duration::as_secs_f64).collect();
        Duration::from_secs_f64(median(secs))
    }

    /// The median over rounds of `time(a) / time(b)`.
    pub fn ratio(&self, a: usize, b: usize) -> f64 {
        median(self.ratios(a, b))
    }

    /// The first and third quartiles over rounds of `time(a) / time(b)`: how much the
    /// per-round ratios spread around their median.
    pub fn ratio_quartiles(&self, a: usize, b: usize) -> (f64, f64) {
        let mut ratios = self.ratios(a, b);
        ratios.sort_by(f64::total_cmp);
        (quantile(&ratios, 0.25), quantile(&ratios, 0.75))
    }

    fn ratios(&self, a: usize, b: usize) -> Vec<f64> {
        self.times[a]
            .iter()
            .zip(&self.times[b])
            .map(|(x, y)| x.as_secs_f64() / y.as_secs_f64())
            .collect()
    }
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    quantile(&values, 0.5)
}

/// The `q` quantile of sorted `values`, interpolated linearly between neighbours.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let Some(last) = sorted.len().checked_sub(1) else {
        return f64::NAN;
    };
    let position = q * last as f64;
    let (below, above) = (position.floor() as usize, position.ceil() as usize);
    let weight = position - below as f64;
    sorted[below] * (1.0 - weight) + sorted[above] * weight
}

/// Runs `rounds` rounds; in round `r` the contenders run in turn, starting with `r % k`.
pub fn interleave(
    cluster: &Cluster,
    db: &Database<'_>,
    contenders: &[Contender<'_>],
    rounds: usize,
) -> Result<Samples> {
    let k = contenders.len();
    let mut times = vec![Vec::with_capacity(rounds); k];
    for round in 0..rounds {
        for offset in 0..k {
            let c = (round + offset) % k;
            times[c].push(run_once(cluster, db, &contenders[c])?);
        }
    }
    Ok(Samples { times })
}

fn run_once(cluster: &Cluster, db: &Database<'_>, contender: &Contender<'_>) -> Result<Duration> {
    let name = match db {
        Database::Shared(name) => return time(&mut (contender.command)(&cluster.url(name))),
        Database::Fresh => "bench_run",
    };
    cluster.create_db(name)?;
    // The file system still has the previous run's work to write (thousands of files
    // created, then dropped): flush it now, or the run that follows pays for it.
    #[cfg(unix)]
    rustix::fs::sync();
    let url = cluster.url(name);
    let elapsed = time(&mut (contender.command)(&url))?;
    if let Some(verify) = contender.verify {
        verify(name)?;
    }
    cluster.drop_db(name)?;
    Ok(elapsed)
}

/// The wall time of one successful run; stdout is discarded, stderr kept for errors.
pub fn time(command: &mut Command) -> Result<Duration> {
    command.stdin(Stdio::null()).stdout(Stdio::null());
    command.stderr(Stdio::piped());
    let started = Instant::now();
    let output = command.spawn()?.wait_with_output()?;
    let elapsed = started.elapsed();
    if !output.status.success() {
        return Err(format!(
            "{command:?} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        )
        .into());
    }
    Ok(elapsed)
}

/// The peak resident set size of one run, in KiB, and how it was measured.
pub fn peak_rss(command: Command) -> Result<(u64, &'static str)> {
    let gnu_time = Path::new("/usr/bin/time");
    if gnu_time.is_file() {
        return Ok((rss_by_gnu_time(gnu_time, command)?, "/usr/bin/time (wait4)"));
    }
    Ok((rss_by_polling(command)?, "VmHWM polled every ms"))
}

// GNU time reads ru_maxrss from wait4(2): exact, and nothing extra runs in the child.
fn rss_by_gnu_time(gnu_time: &Path, command: Command) -> Result<u64> {
    let out_file = std::env::temp_dir().join(format!("haven-bench-rss-{}", std::process::id()));
    let mut wrapped = Command::new(gnu_time);
    wrapped.args(["-f", "%M", "-o"]).arg(&out_file);
    wrapped.arg(command.get_program()).args(command.get_args());
    copy_env_and_dir(&command, &mut wrapped);
    time(&mut wrapped)?;
    let text = std::fs::read_to_string(&out_file)?;
    let _ = std::fs::remove_file(&out_file);
    Ok(text.trim().parse()?)
}

fn copy_env_and_dir(from: &Command, to: &mut Command) {
    for (key, value) in from.get_envs() {
        match value {
            Some(v) => to.env(key, v),
            None => to.env_remove(key),
        };
    }
    if let Some(dir) = from.get_current_dir() {
        to.current_dir(dir);
    }
}

// Without GNU time: VmHWM (the kernel's high-water mark) read until the child exits. It
// can miss growth in the last millisecond of the run, never report more than the truth.
fn rss_by_polling(mut command: Command) -> Result<u64> {
    let mut child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()?;
    let status_file = format!("/proc/{}/status", child.id());
    let mut peak = 0;
    loop {
        if let Some(status) = child.try_wait()? {
            if !status.success() {
                return Err(format!("{command:?} failed ({status})").into());
            }
            return Ok(peak);
        }
        peak = peak.max(vm_hwm(&status_file).unwrap_or(0));
        std::thread::sleep(Duration::from_millis(1));
    }
}

fn vm_hwm(status_file: &str) -> Option<u64> {
    let text = std::fs::read_to_string(status_file).ok()?;
    let line = text.lines().find(|l| l.starts_with("VmHWM:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}
