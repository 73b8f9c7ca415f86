//! The migration benchmark of issue 5 (see BENCHMARKS.md): `haven-migrate` against the
//! psql floor and the diesel CLI, on a private PostgreSQL cluster, interleaved A B A B.
//!
//! Run it with `scripts/bench.sh` (add `--quick` for a smoke run). It measures the release
//! binary beside this example (`target/release/haven-migrate`), which the script builds.

mod cluster;
mod measure;
mod report;
mod workload;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitCode};

use cluster::Cluster;
use measure::{Contender, Database, Samples};
use report::{Memory, Row};
use workload::Workload;

/// Errors are reported once, at the top.
type Result<T> = std::result::Result<T, Box<dyn std::error::Error>>;

const USAGE: &str = "usage: bench [--quick] [--sizes N,N] [--write-rounds K] [--read-rounds K]
             [--only upgrade,status,rss] [--haven PATH] [--diesel PATH | --no-diesel]";

/// The command line.
struct Options {
    sizes: Vec<usize>,
    write_rounds: usize,
    read_rounds: usize,
    only: Vec<String>,
    haven: PathBuf,
    diesel: Option<PathBuf>,
}

fn main() -> ExitCode {
    match parse_options().and_then(|opts| run(&opts)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bench: {e}");
            ExitCode::FAILURE
        }
    }
}

fn parse_options() -> Result<Options> {
    let mut opts = Options {
        sizes: vec![500, 2000],
        write_rounds: 15,
        read_rounds: 21,
        only: vec!["upgrade".into(), "status".into(), "rss".into()],
        haven: default_haven()?,
        diesel: find_diesel(),
    };
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        let mut value = || {
            args.next()
                .ok_or_else(|| format!("{arg} needs a value\n{USAGE}"))
        };
        match arg.as_str() {
            "--quick" => {
                opts.sizes = vec![100, 400];
                opts.write_rounds = 2;
                opts.read_rounds = 5;
            }
            "--sizes" => opts.sizes = list(&value()?)?,
            "--write-rounds" => opts.write_rounds = value()?.parse()?,
            "--read-rounds" => opts.read_rounds = value()?.parse()?,
            "--only" => opts.only = value()?.split(',').map(str::to_owned).collect(),
            "--haven" => opts.haven = value()?.into(),
            "--diesel" => opts.diesel = Some(value()?.into()),
            "--no-diesel" => opts.diesel = None,
            _ => return Err(format!("unknown argument {arg}\n{USAGE}").into()),
        }
    }
    Ok(opts)
}

fn list(text: &str) -> Result<Vec<usize>> {
    Ok(text
        .split(',')
        .map(str::parse)
        .collect::<std::result::Result<_, _>>()?)
}

/// `target/release/haven-migrate`, beside `target/release/examples/bench`.
fn default_haven() -> Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let release = exe.parent().and_then(Path::parent).ok_or("no target dir")?;
    Ok(release.join("haven-migrate"))
}

fn find_diesel() -> Option<PathBuf> {
    let home = std::env::var_os("CARGO_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| Path::new(&h).join(".cargo")));
    cluster::find_on_path("diesel").or_else(|| {
        home.map(|h| h.join("bin/diesel"))
            .filter(|path| path.is_file())
    })
}

fn run(opts: &Options) -> Result<()> {
    if !opts.haven.is_file() {
        return Err(format!(
            "{} not found; build it with `cargo build --release`",
            opts.haven.display()
        )
        .into());
    }
    let cluster = Cluster::start()?;
    let result = measure_all(&cluster, opts);
    cluster.stop()?;
    let (rows, memory) = result?;
    println!("\n{}", report::render(&rows, &memory));
    Ok(())
}

fn measure_all(cluster: &Cluster, opts: &Options) -> Result<(Vec<Row>, Vec<Memory>)> {
    print_machine(cluster, opts)?;
    let (mut rows, mut memory) = (Vec::new(), Vec::new());
    for &n in &opts.sizes {
        let work = workload::generate(&cluster.dir.join("workloads"), n)?;
        let bench = Bench {
            cluster,
            opts,
            work: &work,
        };
        if opts.only.iter().any(|m| m == "upgrade") {
            rows.extend(bench.upgrade()?);
        }
        if opts.only.iter().any(|m| m == "status") {
            rows.extend(bench.status()?);
        }
        if opts.only.iter().any(|m| m == "rss") {
            memory.push(bench.memory()?);
        }
    }
    Ok((rows, memory))
}

fn print_machine(cluster: &Cluster, opts: &Options) -> Result<()> {
    let server = cluster.psql("postgres", "SHOW server_version")?;
    let fsync = cluster.psql("postgres", "SHOW fsync")?;
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    eprintln!(
        "PostgreSQL {server} (fsync {fsync}), {cpus} CPUs; haven-migrate: {}; diesel: {}",
        opts.haven.display(),
        opts.diesel
            .as_ref()
            .map_or("not installed".into(), |d| d.display().to_string()),
    );
    eprintln!(
        "sizes {:?}; {} write rounds, {} read rounds",
        opts.sizes, opts.write_rounds, opts.read_rounds
    );
    Ok(())
}

/// Which ratios a measure reports.
#[derive(Clone, Copy)]
enum Pairs {
    /// haven-migrate (first) over each baseline.
    FirstAgainstEachOther,
    /// Each haven-migrate command over the one baseline (last).
    EachAgainstLast,
}

/// The measures of one workload size.
struct Bench<'a> {
    cluster: &'a Cluster,
    opts: &'a Options,
    work: &'a Workload,
}

/// The sizes the issue sets its targets at: `upgrade head` at both, the rest at the larger.
/// Other sizes (`--quick`, `--sizes`) show no target: a smoke run is not a verdict.
const UPGRADE_TARGET_SIZES: [usize; 2] = [500, 2000];
const TARGET_SIZE: usize = 2000;

impl Bench<'_> {
    /// `target` when the issue sets it at this size (see [`TARGET_SIZE`]).
    fn at_target_size(&self, sizes: &[usize], target: f64) -> Option<f64> {
        sizes.contains(&self.work.n).then_some(target)
    }

    /// A command run in the workload's directory (so no other diesel.toml or .env is
    /// found), with DATABASE_URL set.
    fn command(&self, program: &Path, url: &str) -> Command {
        let mut command = Command::new(program);
        command.current_dir(&self.work.workdir);
        command.env("DATABASE_URL", url);
        command.env("DIESEL_CONFIG_FILE", self.work.workdir.join("diesel.toml"));
        command.env("NO_COLOR", "1");
        command
    }

    fn haven(&self, url: &str, args: &[&str]) -> Command {
        let mut command = self.command(&self.opts.haven, url);
        command.arg("--migration-dir").arg(&self.work.migrations);
        command.args(args);
        command
    }

    fn diesel(&self, url: &str, args: &[&str]) -> Option<Command> {
        let mut command = self.command(self.opts.diesel.as_deref()?, url);
        command.args(args);
        command.arg("--migration-dir").arg(&self.work.migrations);
        Some(command)
    }

    /// `upgrade head` against the psql floor and `diesel migration run`, fresh databases.
    fn upgrade(&self) -> Result<Vec<Row>> {
        let n = self.work.n;
        eprintln!("N={n}: upgrade head / psql -f / diesel migration run ...");
        let psql = self.cluster.tool("psql");
        let floor = self.work.floor_sql.clone();
        let verify_ours = |db: &str| self.expect_rows(db, true);
        let verify_theirs = |db: &str| self.expect_rows(db, false);
        let mut contenders = vec![
            Contender {
                label: "upgrade head",
                command: Box::new(|url: &str| self.haven(url, &["upgrade", "head"])),
                verify: Some(&verify_ours),
            },
            Contender {
                label: "psql -f",
                command: Box::new(move |url: &str| {
                    let mut c = self.command(&psql, url);
                    c.args(["-X", "-q", "-v", "ON_ERROR_STOP=1", "-d", url, "-f"]);
                    c.arg(&floor);
                    c
                }),
                verify: Some(&verify_theirs),
            },
        ];
        if self.opts.diesel.is_some() {
            contenders.push(Contender {
                label: "diesel migration run",
                command: Box::new(|url: &str| {
                    self.diesel(url, &["migration", "run"])
                        .unwrap_or_else(|| Command::new("false"))
                }),
                verify: Some(&verify_theirs),
            });
        }
        let rounds = self.opts.write_rounds;
        let samples = measure::interleave(self.cluster, &Database::Fresh, &contenders, rounds)?;
        let targets = [self.at_target_size(&UPGRADE_TARGET_SIZES, 1.05), None];
        Ok(self.rows(
            &samples,
            &contenders,
            Pairs::FirstAgainstEachOther,
            &targets,
        ))
    }

    /// Checks that a run recorded every migration (and, for ours, the side table too).
    fn expect_rows(&self, db: &str, side_table: bool) -> Result<()> {
        let n = self.work.n.to_string();
        let mut tables = vec!["__diesel_schema_migrations"];
        if side_table {
            tables.push("__haven_migrations");
        }
        for table in tables {
            let count = self
                .cluster
                .psql(db, &format!("SELECT count(*) FROM {table}"))?;
            if count != n {
                return Err(format!("{table} has {count} rows after a run, not {n}").into());
            }
        }
        Ok(())
    }

    /// `current`, offline `--sql` and `check` against `diesel migration list`, on one
    /// up-to-date database.
    fn status(&self) -> Result<Vec<Row>> {
        let n = self.work.n;
        let Some(_) = &self.opts.diesel else {
            eprintln!("N={n}: no diesel CLI: the status measures need `diesel migration list`");
            return Ok(Vec::new());
        };
        eprintln!("N={n}: current / upgrade base:head --sql / check vs diesel migration list ...");
        let db = "bench_ready";
        self.cluster.create_db(db)?;
        measure::time(&mut self.haven(&self.cluster.url(db), &["upgrade", "head"]))?;
        let haven = |args: &'static [&'static str]| -> measure::MakeCommand<'_> {
            Box::new(move |url: &str| self.haven(url, args))
        };
        let contenders = [
            self.read_only("current", haven(&["current"])),
            self.read_only(
                "upgrade base:head --sql",
                haven(&["upgrade", "base:head", "--sql"]),
            ),
            self.read_only("check", haven(&["check"])),
            self.read_only(
                "diesel migration list",
                Box::new(|url: &str| {
                    self.diesel(url, &["migration", "list"])
                        .unwrap_or_else(|| Command::new("false"))
                }),
            ),
        ];
        // One untimed round first: page cache and catalog caches warm for everyone.
        measure::interleave(self.cluster, &Database::Shared(db), &contenders, 1)?;
        let rounds = self.opts.read_rounds;
        let samples =
            measure::interleave(self.cluster, &Database::Shared(db), &contenders, rounds)?;
        self.cluster.drop_db(db)?;
        let targets = [0.3, 0.5, 2.0].map(|t| self.at_target_size(&[TARGET_SIZE], t));
        Ok(self.rows(&samples, &contenders, Pairs::EachAgainstLast, &targets))
    }

    fn read_only<'a>(
        &self,
        label: &'static str,
        command: measure::MakeCommand<'a>,
    ) -> Contender<'a> {
        Contender {
            label,
            command,
            verify: None,
        }
    }

    /// One row per pair compared, with the target of each pair in order.
    fn rows(
        &self,
        s: &Samples,
        c: &[Contender<'_>],
        pairs: Pairs,
        targets: &[Option<f64>],
    ) -> Vec<Row> {
        let ms = |i: usize| s.median(i).as_secs_f64() * 1000.0;
        let pairs: Vec<(usize, usize)> = match pairs {
            Pairs::FirstAgainstEachOther => (1..c.len()).map(|b| (0, b)).collect(),
            Pairs::EachAgainstLast => (0..c.len() - 1).map(|a| (a, c.len() - 1)).collect(),
        };
        pairs
            .into_iter()
            .enumerate()
            .map(|(i, (a, b))| Row {
                measure: c[a].label,
                baseline: c[b].label,
                n: self.work.n,
                ours_ms: ms(a),
                theirs_ms: ms(b),
                ratio: s.ratio(a, b),
                quartiles: s.ratio_quartiles(a, b),
                target: targets.get(i).copied().flatten(),
            })
            .collect()
    }

    /// Peak RSS of `upgrade head` on a fresh database: the largest of three runs.
    fn memory(&self) -> Result<Memory> {
        let n = self.work.n;
        eprintln!("N={n}: peak RSS of upgrade head ...");
        let db = "bench_rss";
        let mut peak = (0, "");
        for _ in 0..3 {
            self.cluster.create_db(db)?;
            let run = measure::peak_rss(self.haven(&self.cluster.url(db), &["upgrade", "head"]))?;
            self.expect_rows(db, true)?;
            self.cluster.drop_db(db)?;
            peak = peak.max(run);
        }
        Ok(Memory {
            n,
            kib: peak.0,
            method: peak.1,
            target_mib: self.at_target_size(&[TARGET_SIZE], 20.0),
        })
    }
}
