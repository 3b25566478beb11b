//! `tessera`: the admin CLI. Parses the command line, opens the stores, runs one command
//! from the `tessera_cli` library and maps the outcome to an exit code (0 done, 1 failed,
//! 2 usage).

use clap::{Parser, Subcommand};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{IsTerminal, Write};
use std::process::ExitCode;
use std::time::Duration;
use tessera::BoxedStore;
use tessera_cli::error::{EXIT_FAILED, EXIT_OK, EXIT_USAGE};
use tessera_cli::inspect::{self, ListOptions};
use tessera_cli::{CliError, MigrateOptions, Target, jsonl};
use tessera_connect::{Kind, Options};

const EXAMPLES: &str = "\
Examples:
  tessera --store redis://127.0.0.1:6379 count
  tessera --store postgres://app@db/app list --user 42
  tessera --store 'sqlite://data/tessera-demo.db' list --json --limit 10
  tessera --store redis://127.0.0.1:6379 show 3fa9c2d1
  tessera --store mongodb://127.0.0.1:27017/app revoke --user 42
  tessera --store postgres://app@db/app purge-expired
  tessera migrate --from redis://127.0.0.1:6379 --to postgres://app@db/app --dry-run
  tessera --store redis://127.0.0.1:6379 export > sessions.jsonl
  tessera --store postgres://app@db/app import < sessions.jsonl

Store URLs (as the demo's SESSION_STORE): sqlite://PATH, postgres://…, mysql://…,
redis://…, redis+cluster://h:p,h:p, redis+sentinel://h:p,h:p/MASTER, mongodb://…/DB.
Tessera's own parameters: ?prefix= (Redis, default sess:), ?table= (SQL, default
session), ?collection= (MongoDB, default sessions).

Exit codes: 0 done, 1 failed, 2 usage.";

#[derive(Debug, Parser)]
#[command(
    name = "tessera",
    version,
    about = "Inspect, revoke, purge, export and migrate sessions on any Tessera or express-session store",
    after_help = EXAMPLES
)]
struct Cli {
    /// The session store (URL; credentials are never printed).
    #[arg(long, env = "SESSION_STORE", global = true, hide_env_values = true)]
    store: Option<String>,
    /// The stores' idle timeout, used to work out "last seen" (e.g. 15m, 24h).
    #[arg(long, global = true, default_value = "24h", value_parser = humantime::parse_duration)]
    idle_timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print the number of live sessions.
    Count,
    /// One line per live session: tag, user, created, last seen, expires, size.
    List {
        /// Only this user's sessions.
        #[arg(long, allow_hyphen_values = true)]
        user: Option<String>,
        /// At most this many.
        #[arg(long)]
        limit: Option<usize>,
        /// A JSON array of objects (tag, user, created_at, last_seen_at, expires_at, bytes).
        #[arg(long)]
        json: bool,
        /// Also print the session ids (bearer secrets: anyone holding one is logged in).
        #[arg(long)]
        show_ids: bool,
    },
    /// Print one session's details and data.
    Show {
        /// The session's tag (from `list`) or id (an id may start with `-`).
        #[arg(allow_hyphen_values = true)]
        tag_or_id: String,
        /// As a JSON object (the `list` fields plus `cookie` and `data`).
        #[arg(long)]
        json: bool,
        /// Also print the session id.
        #[arg(long)]
        show_ids: bool,
    },
    /// Delete every session of a user, or one session; print how many were deleted.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["user", "id"])))]
    Revoke {
        /// Every session bound to this user.
        #[arg(long, allow_hyphen_values = true)]
        user: Option<String>,
        /// The session with this id (or tag); an id may start with `-`.
        #[arg(long, allow_hyphen_values = true)]
        id: Option<String>,
    },
    /// Delete expired sessions where the store has no native expiry (SQL); print how many.
    PurgeExpired,
    /// Copy every live session to another store, never overwriting one it already has.
    Migrate {
        /// The store to copy from.
        #[arg(long)]
        from: String,
        /// The store to copy to (its table or indexes are created if missing).
        #[arg(long)]
        to: String,
        /// Write nothing; count what would be copied.
        #[arg(long)]
        dry_run: bool,
        /// Sessions read per page of the source.
        #[arg(long, default_value_t = 500, value_parser = clap::value_parser!(u32).range(1..=100_000))]
        batch: u32,
        /// Writes in flight at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
        concurrency: u32,
    },
    /// Write every live session to standard output, one JSON object per line.
    Export,
    /// Read sessions (as `export` writes them) from standard input into the store, never
    /// overwriting one it already has.
    Import {
        /// Writes in flight at once.
        #[arg(long, default_value_t = 16, value_parser = clap::value_parser!(u32).range(1..=1024))]
        concurrency: u32,
    },
}

/// Opens a store for the CLI: a memory store is refused (it would be a new, empty one), and
/// a SQLite file is created only for a store written to.
async fn open(url: &str, written: bool) -> Result<(BoxedStore, String), CliError> {
    let opened = tessera_connect::open(url, &Options::default().create_missing(written)).await?;
    if opened.kind == Kind::Memory {
        return Err(CliError::Usage(
            "memory: a memory store lives inside one process; tessera cannot reach it".into(),
        ));
    }
    Ok((opened.store, opened.description))
}

fn required_store(store: Option<String>) -> Result<String, CliError> {
    store.ok_or_else(|| CliError::Usage("--store URL (or SESSION_STORE) is required".into()))
}

/// A progress bar on standard error when it is a terminal; hidden otherwise.
fn progress_bar() -> ProgressBar {
    if !std::io::stderr().is_terminal() {
        return ProgressBar::hidden();
    }
    let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
    if let Ok(style) = ProgressStyle::with_template(
        "{bar:32} {human_pos}/{human_len} sessions  {elapsed} elapsed, eta {eta}",
    ) {
        bar.set_style(style);
    }
    bar
}

fn print(out: &mut impl Write, line: impl std::fmt::Display) -> Result<(), CliError> {
    writeln!(out, "{line}").map_err(CliError::io("cannot write the output"))
}

async fn run(cli: Cli) -> Result<u8, CliError> {
    let idle_timeout = cli.idle_timeout;
    if let Command::Migrate {
        from,
        to,
        dry_run,
        batch,
        concurrency,
    } = &cli.command
    {
        let (source, source_name) = open(from, false).await?;
        let (target, target_name) = open(to, !dry_run).await?;
        let opts = MigrateOptions {
            dry_run: *dry_run,
            batch: *batch as usize,
            concurrency: *concurrency as usize,
        };
        let from = Target {
            store: &source,
            description: &source_name,
        };
        let to = Target {
            store: &target,
            description: &target_name,
        };
        let summary = tessera_cli::migrate(&from, &to, opts, progress_bar()).await?;
        let verb = if *dry_run {
            "dry run: would migrate"
        } else {
            "migrated"
        };
        print(&mut std::io::stdout(), summary.line(verb))?;
        return match summary.failed {
            0 => Ok(EXIT_OK),
            n => Err(CliError::Incomplete(n)),
        };
    }
    let url = required_store(cli.store)?;
    let written = matches!(cli.command, Command::Import { .. });
    let (store, name) = open(&url, written).await?;
    let t = Target {
        store: &store,
        description: &name,
    };
    let mut out = std::io::BufWriter::new(std::io::stdout().lock());
    match cli.command {
        Command::Count => print(&mut out, inspect::count(&t).await?)?,
        Command::List {
            user,
            limit,
            json,
            show_ids,
        } => {
            let opts = ListOptions {
                user,
                limit,
                json,
                show_ids,
                idle_timeout,
            };
            inspect::list(&t, &opts, &mut out).await?;
        }
        Command::Show {
            tag_or_id,
            json,
            show_ids,
        } => {
            inspect::show(&t, &tag_or_id, json, show_ids, idle_timeout, &mut out).await?;
        }
        Command::Revoke {
            user: Some(user), ..
        } => print(&mut out, inspect::revoke_user(&t, &user).await?)?,
        Command::Revoke { id: Some(id), .. } => {
            print(&mut out, inspect::revoke_id(&t, &id).await?)?
        }
        Command::Revoke { .. } => {
            return Err(CliError::Usage("revoke needs --user or --id".into()));
        }
        Command::PurgeExpired => print(&mut out, inspect::purge_expired(&t).await?)?,
        Command::Export => {
            let n = jsonl::export(&t, &mut out).await?;
            eprintln!("exported {n}");
        }
        Command::Import { concurrency } => {
            let input = tokio::io::BufReader::new(tokio::io::stdin());
            let summary = jsonl::import(&t, input, concurrency as usize, progress_bar()).await?;
            print(&mut out, summary.line("imported"))?;
            if summary.failed > 0 {
                return Err(CliError::Incomplete(summary.failed));
            }
        }
        Command::Migrate { .. } => unreachable!("handled above"),
    }
    out.flush()
        .map_err(CliError::io("cannot write the output"))?;
    Ok(EXIT_OK)
}

fn main() -> ExitCode {
    let cli = match Cli::try_parse() {
        Ok(cli) => cli,
        Err(e) => {
            // --help and --version exit 0; usage errors exit 2.
            let _ = e.print();
            return ExitCode::from(if e.use_stderr() { EXIT_USAGE } else { EXIT_OK });
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("tessera: error: cannot start the async runtime: {e}");
            return ExitCode::from(EXIT_FAILED);
        }
    };
    match runtime.block_on(run(cli)) {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("tessera: error: {}", e.one_line());
            ExitCode::from(e.exit_code())
        }
    }
}
