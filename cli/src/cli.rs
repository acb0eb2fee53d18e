//! Command-line definition and the commands.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use detscript_engine::{Compiled, Mode, Reveal, compile};

use crate::input::{Script, read_script, usage_error};
use crate::output::print_diagnostics;
use crate::{Exit, exit};

/// The exit-code table shown by every `--help`.
macro_rules! exit_codes {
    () => {
        "Exit codes:\n  0  success\n  1  the script or its inputs are invalid (syntax, runtime or validation error, bad parameter)\n  2  usage error (unknown flag, missing argument, unreadable file)"
    };
}

#[derive(Debug, Parser)]
#[command(
    name = "detscript",
    version,
    about = "Deploy Determined AI clusters on AWS from a parameterized Rhai script",
    long_about = "detscript turns a Rhai script describing a Determined AI cluster on AWS (security groups, \
IAM roles and instance profiles, a PostgreSQL database, the checkpoint bucket and the master node with its \
master.yaml) into a deployment plan that you can review, render and graph without AWS credentials.",
    after_help = concat!("Examples:\n  detscript plan scripts/deploy.rhai --param keypair=my-key\n  detscript render scripts/deploy.rhai master.yaml -o master.yaml --params prod.yaml\n  detscript graph scripts/deploy.rhai | dot -Tsvg > plan.svg\n  detscript params scripts/deploy.rhai\n\n",
exit_codes!()),
)]
pub struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Compile a script into a deployment plan and show it (no AWS credentials needed)
    #[command(
        long_about = "Compile a script into a deployment plan and show it: every resource with its properties, \
the rules and policies spelled out, values known only after apply shown with where they come from, secrets as \
(sensitive). Parameters without a value are shown as unset, with a warning.",
        after_help = concat!("Examples:\n  detscript plan scripts/deploy.rhai --param keypair=my-key\n  detscript plan scripts/deploy.rhai --params prod.yaml --output json > plan.json\n\n",
exit_codes!())
    )]
    Plan {
        #[command(flatten)]
        script: ScriptArgs,
        /// Output format: text for people, json for tools (canonical, with a sha256)
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Write a file the plan generates: the master's master.yaml or its EC2 user-data
    #[command(
        long_about = "Write a file the plan generates: the master's master.yaml or its EC2 user-data. \
Secret parameters are written only into the file given with -o (created with mode 0600); on standard \
output they read (sensitive) unless --show-secrets is given. Values known only after apply read ${kind.name.attr}.",
        after_help = concat!("Examples:\n  detscript render scripts/deploy.rhai master.yaml\n  detscript render scripts/deploy.rhai master.yaml -o master.yaml --param db_password=...\n  detscript render scripts/deploy.rhai user-data\n\n",
exit_codes!())
    )]
    Render {
        #[command(flatten)]
        script: ScriptArgs,
        /// Which file to render
        #[arg(value_enum)]
        what: RenderTarget,
        /// Write to this file (mode 0600, secrets included) instead of standard output
        #[arg(long, short = 'o', value_name = "PATH")]
        out: Option<PathBuf>,
        /// Print secret values on standard output instead of (sensitive)
        #[arg(long)]
        show_secrets: bool,
    },
    /// Print the plan's dependency graph in Graphviz DOT (an edge a -> b: a depends on b)
    #[command(after_help = concat!("Example:\n  detscript graph scripts/deploy.rhai | dot -Tsvg > plan.svg\n\n",
exit_codes!()))]
    Graph {
        #[command(flatten)]
        script: ScriptArgs,
    },
    /// List the parameters a script declares, with kind, default and doc
    #[command(after_help = concat!("Example:\n  detscript params scripts/deploy.rhai\n\n",
exit_codes!()))]
    Params {
        /// The script
        file: PathBuf,
        /// Output format
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
        output: Format,
    },
}

#[derive(Debug, Args)]
struct ScriptArgs {
    /// The deployment script (.rhai)
    file: PathBuf,
    /// Set a parameter, e.g. --param keypair=my-key (repeatable; wins over --params)
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    param: Vec<String>,
    /// Read parameter values from a YAML or JSON file of NAME: VALUE
    #[arg(long = "params", value_name = "FILE")]
    params: Option<PathBuf>,
}

impl ScriptArgs {
    fn read(&self) -> Result<Script, Exit> {
        read_script(&self.file, &self.param, self.params.as_deref())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
enum RenderTarget {
    #[value(name = "master.yaml")]
    MasterYaml,
    #[value(name = "user-data")]
    UserData,
}

pub fn run(cli: Cli) -> Result<(), Exit> {
    match cli.command {
        Command::Plan { script, output } => {
            let script = script.read()?;
            let compiled = compile_or_report(&script, Mode::Preview)?;
            match output {
                Format::Text => {
                    print_diagnostics(&compiled.diagnostics);
                    print_out(&compiled.plan.render_text())
                }
                Format::Json => {
                    print_diagnostics(&compiled.diagnostics);
                    print_out(&compiled.plan.to_json())
                }
            }
        }
        Command::Render {
            script,
            what,
            out,
            show_secrets,
        } => {
            let script = script.read()?;
            let mode = if out.is_some() {
                Mode::Apply
            } else {
                Mode::Preview
            };
            let compiled = compile_or_report(&script, mode)?;
            print_diagnostics(&compiled.diagnostics);
            let reveal = if out.is_some() || show_secrets {
                Reveal::Secrets
            } else {
                Reveal::Redact
            };
            let text = match what {
                RenderTarget::MasterYaml => compiled.plan.master_yaml(reveal),
                RenderTarget::UserData => compiled.plan.user_data(reveal),
            };
            let Some(text) = text else {
                eprintln!(
                    "error: the script declares no master_instance(...).config(...), so there is no {}",
                    match what {
                        RenderTarget::MasterYaml => "master.yaml",
                        RenderTarget::UserData => "user-data",
                    }
                );
                return Err(Exit(exit::SCRIPT));
            };
            match out {
                Some(path) => {
                    write_private(&path, &text).map_err(|e| {
                        usage_error(format!("cannot write {}: {e}", path.display()))
                    })?;
                    let secrets: Vec<&str> = compiled.plan.secret_names().collect();
                    if secrets.is_empty() {
                        eprintln!("wrote {}", path.display());
                    } else {
                        eprintln!(
                            "wrote {} (mode 0600; contains the secret parameters {})",
                            path.display(),
                            secrets.join(", ")
                        );
                    }
                    Ok(())
                }
                None => print_out(&text),
            }
        }
        Command::Graph { script } => {
            let script = script.read()?;
            let compiled = compile_or_report(&script, Mode::Preview)?;
            print_diagnostics(&compiled.diagnostics);
            print_out(&compiled.plan.to_dot())
        }
        Command::Params { file, output } => {
            let script = read_script(&file, &[], None)?;
            let specs = match detscript_engine::declared_params(&script.display, &script.source) {
                Ok(s) => s,
                Err(f) => {
                    print_diagnostics(&f.diagnostics);
                    return Err(Exit(exit::SCRIPT));
                }
            };
            match output {
                Format::Json => {
                    print_out(&(serde_json::to_string_pretty(&specs).unwrap_or_default() + "\n"))
                }
                Format::Text => print_out(&params_table(&specs)),
            }
        }
    }
}

fn compile_or_report(script: &Script, mode: Mode) -> Result<Compiled, Exit> {
    let req = script.request(mode);
    match compile(&req) {
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

fn params_table(specs: &[detscript_engine::ParamSpec]) -> String {
    if specs.is_empty() {
        return "This script declares no parameters.\n".to_string();
    }
    let rows: Vec<[String; 4]> = specs
        .iter()
        .map(|s| {
            let default = match (&s.default, s.secret) {
                (Some(_), true) => "(secret, has default)".to_string(),
                (None, true) => "(required, secret)".to_string(),
                (None, false) => "(required)".to_string(),
                (Some(v), false) => v.to_string(),
            };
            let mut doc = s.doc.clone().unwrap_or_default();
            if let Some(c) = &s.choices {
                let list: Vec<String> = c.iter().map(|v| v.to_string()).collect();
                doc = format!("{doc} [one of {}]", list.join(", "))
                    .trim()
                    .to_string();
            }
            [s.name.clone(), s.kind.clone(), default, doc]
        })
        .collect();
    let w0 = rows.iter().map(|r| r[0].len()).max().unwrap_or(0).max(4);
    let w1 = rows.iter().map(|r| r[1].len()).max().unwrap_or(0).max(4);
    let w2 = rows.iter().map(|r| r[2].len()).max().unwrap_or(0).max(7);
    let mut out = format!(
        "{:<w0$}  {:<w1$}  {:<w2$}  DOC\n",
        "NAME", "KIND", "DEFAULT"
    );
    for r in rows {
        out.push_str(format!("{:<w0$}  {:<w1$}  {:<w2$}  {}\n", r[0], r[1], r[2], r[3]).trim_end());
        out.push('\n');
    }
    out
}

fn print_out(text: &str) -> Result<(), Exit> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|_| stdout.flush())
    {
        Ok(()) => Ok(()),
        // A closed pipe (`detscript plan ... | head`) is not an error of ours.
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        Err(e) => Err(usage_error(format!("cannot write to standard output: {e}"))),
    }
}

fn write_private(path: &std::path::Path, text: &str) -> std::io::Result<()> {
    let mut opts = std::fs::OpenOptions::new();
    opts.write(true).create(true).truncate(true);
    #[cfg(unix)]
    {
        use std::os::unix::fs::OpenOptionsExt;
        opts.mode(0o600);
    }
    let mut f = opts.open(path)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        f.set_permissions(std::fs::Permissions::from_mode(0o600))?;
    }
    f.write_all(text.as_bytes())
}
