//! One module per command; [`run`] dispatches to them.

pub mod destroy;
pub mod export;
pub mod graph;
pub mod lint;
pub mod params;
pub mod plan;
pub mod render;
pub mod run;

use detscript_engine::budget::{self, MAX_MEMORY};
use detscript_engine::{Compiled, Interrupt, Mode, compile_with_interrupt};

use crate::cli::AwsArgs;
use crate::cli::{Cli, Command, ScriptArgs};
use crate::exit::{self, Exit};
use crate::input::{Script, quote, read_script, usage_error};
use crate::output::print_diagnostics;

pub fn run(cli: Cli) -> Result<(), Exit> {
    match cli.command {
        Command::Plan(args) => plan::run(args),
        Command::Run(args) => run::run(args),
        Command::Destroy(args) => destroy::run(args),
        Command::Render(args) => render::run(args),
        Command::Graph(args) => graph::run(args),
        Command::Export(args) => export::run(args),
        Command::Lint(args) => lint::run(args),
        Command::Params(args) => params::run(args),
    }
}

impl ScriptArgs {
    /// Reads the script and its parameter values.
    fn read(&self) -> Result<Script, Exit> {
        read_script(&self.file, &self.param, self.params.as_deref())
    }
}

/// Wall-clock budget of one script run; the operation limit usually ends runaway scripts first.
const SCRIPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops a script that runs longer than [`SCRIPT_DEADLINE`] from now, or makes the process
/// use more than [`MAX_MEMORY`].
fn script_deadline() -> Interrupt {
    let started = std::time::Instant::now();
    let memory = MemoryWatch::new();
    std::rc::Rc::new(move || {
        if memory.as_ref().is_some_and(MemoryWatch::over) {
            return Some(budget::memory_exceeded());
        }
        (started.elapsed() > SCRIPT_DEADLINE)
            .then(|| format!("it ran longer than {} s", SCRIPT_DEADLINE.as_secs()))
    })
}

/// The process's resident memory, from `/proc/self/statm` (Linux; elsewhere only the
/// engine's own limits apply). Read less often while far below the limit: one call of the
/// interrupt covers [`budget::INTERRUPT_EVERY`] operations, and one operation allocates at
/// most [`GROWTH_PER_OPERATION`].
struct MemoryWatch {
    statm: std::fs::File,
    page: usize,
    skip: std::cell::Cell<usize>,
}

const GROWTH_PER_OPERATION: usize = 2 << 20;

impl MemoryWatch {
    fn new() -> Option<Self> {
        let statm = std::fs::File::open("/proc/self/statm").ok()?;
        // The page size, without libc: VmRSS (kB) over the resident pages.
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let kb: usize = status
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))?
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .ok()?;
        let mut watch = MemoryWatch {
            statm,
            page: 1,
            skip: std::cell::Cell::new(0),
        };
        let pages = watch.resident()?.max(1);
        watch.page = (kb * 1024 / pages).max(4096).next_power_of_two();
        Some(watch)
    }

    /// Resident pages.
    #[cfg(not(unix))]
    fn resident(&self) -> Option<usize> {
        None
    }

    /// Resident pages.
    #[cfg(unix)]
    fn resident(&self) -> Option<usize> {
        use std::os::unix::fs::FileExt;
        let mut buf = [0u8; 128];
        let n = self.statm.read_at(&mut buf, 0).ok()?;
        let text = std::str::from_utf8(&buf[..n]).ok()?;
        text.split_whitespace().nth(1)?.parse().ok()
    }

    fn over(&self) -> bool {
        let skip = self.skip.get();
        if skip > 0 {
            self.skip.set(skip - 1);
            return false;
        }
        let Some(bytes) = self.resident().map(|p| p * self.page) else {
            return false;
        };
        if bytes > MAX_MEMORY {
            return true;
        }
        let per_call = budget::INTERRUPT_EVERY as usize * GROWTH_PER_OPERATION;
        self.skip.set((MAX_MEMORY - bytes) / per_call);
        false
    }
}

/// Compiles the script; prints what it printed, or its errors.
fn compile_or_report(script: &Script, mode: Mode) -> Result<Compiled, Exit> {
    let req = script.request(mode);
    match compile_with_interrupt(&req, script_deadline()) {
        Ok(c) => {
            for line in &c.printed {
                eprintln!("script: {line}");
            }
            Ok(c)
        }
        Err(f) => {
            print_diagnostics(&f.diagnostics);
            Err(Exit(exit::SCRIPT))
        }
    }
}

/// Refuses an `--endpoint-url` (or `AWS_ENDPOINT_URL`) the AWS SDK could not use, before
/// anything connects: it must be an http or https URL with a host.
fn check_endpoint(aws: &AwsArgs) -> Result<(), Exit> {
    let (what, url) = match &aws.endpoint_url {
        Some(url) => ("--endpoint-url", url.clone()),
        None => match std::env::var("AWS_ENDPOINT_URL") {
            Ok(url) if !url.is_empty() => ("AWS_ENDPOINT_URL", url),
            _ => return Ok(()),
        },
    };
    endpoint_problem(&url).map_or(Ok(()), |why| {
        Err(usage_error(format!(
            "{what} {} is not a usable URL: {why} (expected e.g. http://127.0.0.1:5000)",
            quote(&url)
        )))
    })
}

/// What is wrong with an endpoint URL, if anything.
fn endpoint_problem(url: &str) -> Option<&'static str> {
    if url.chars().any(|c| c.is_whitespace() || c.is_control()) {
        return Some("it contains spaces or control characters");
    }
    let Some((scheme, rest)) = url.split_once("://") else {
        return Some("it has no http:// or https://");
    };
    if !scheme.eq_ignore_ascii_case("http") && !scheme.eq_ignore_ascii_case("https") {
        return Some("the scheme must be http or https");
    }
    let authority = rest.split(['/', '?', '#']).next().unwrap_or_default();
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let (host, port) = if let Some(v6) = host_port.strip_prefix('[') {
        match v6.split_once(']') {
            Some((h, tail)) if h.parse::<std::net::Ipv6Addr>().is_ok() => match tail {
                "" => (h, None),
                t => match t.strip_prefix(':') {
                    Some(p) => (h, Some(p)),
                    None => return Some("the host is not valid"),
                },
            },
            _ => return Some("the host is not valid"),
        }
    } else {
        match host_port.split_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (host_port, None),
        }
    };
    if host.is_empty() {
        return Some("it has no host");
    }
    let valid_name = |h: &str| {
        h.split('.').all(|label| {
            !label.is_empty()
                && label.len() <= 63
                && label
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        })
    };
    if !host_port.starts_with('[') && !valid_name(host.trim_end_matches('.')) {
        return Some("the host is not valid");
    }
    match port {
        Some(p) if !p.is_empty() && p.parse::<u16>().is_err() => {
            Some("the port must be a number up to 65535")
        }
        _ => None,
    }
}

/// Without the `aws` feature, the commands that talk to AWS explain how to get them.
#[cfg(not(feature = "aws"))]
fn without_aws(command: &str) -> Exit {
    eprintln!(
        "error: {command} needs the AWS executor, and this detscript was built without it \
(cargo feature \"aws\"); build it with: cargo install --path cli"
    );
    Exit(crate::exit::USAGE)
}

#[cfg(test)]
mod tests {
    use super::endpoint_problem;

    #[test]
    fn endpoints() {
        for ok in [
            "http://127.0.0.1:5000",
            "https://s3.us-west-2.amazonaws.com",
            "http://localhost:4566/",
            "http://[::1]:5000",
            "HTTPS://example.com.",
            "http://moto:5000/path?x=1",
            "http://moto_server:5000",
            "http://user:pw@host:1",
        ] {
            assert_eq!(endpoint_problem(ok), None, "{ok}");
        }
        for bad in [
            "not a url",
            "127.0.0.1:5000",
            "ftp://example.com",
            "http://",
            "http://:5000",
            "http://host:port",
            "http://host:99999",
            "http://[::1",
            "http://ex ample.com",
            "http://a..b",
        ] {
            assert!(endpoint_problem(bad).is_some(), "{bad}");
        }
    }
}
