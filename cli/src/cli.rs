//! Command-line definition and the commands.

use std::io::Write as _;
use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};
use detscript_engine::{Compiled, Mode, Reveal, compile_with_interrupt};

use crate::aws::AwsArgs;
use crate::input::{Script, read_script, usage_error};
use crate::output::print_diagnostics;
use crate::{Exit, exit};

/// The exit-code table shown by every `--help`.
macro_rules! exit_codes {
    () => {
        "Exit codes:\n  0  success\n  1  the script or its inputs are invalid (syntax, runtime or validation error, bad parameter)\n  2  usage error (unknown flag, missing argument, unreadable file)"
    };
}

/// The exit-code table of the commands that talk to AWS.
macro_rules! exit_codes_aws {
    () => {
        "Exit codes:\n  0  success (for plan --detailed-exitcode: no changes pending)\n  1  the script or its inputs are invalid, or the confirmation was declined\n  2  usage error (unknown flag, missing argument, unreadable file, --yes missing without a terminal); \
with plan --detailed-exitcode: changes are pending\n  3  AWS error: no credentials or region, an API call failed, a run failed half-way, or a same-named \
resource not owned by this deployment blocks the run"
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
        after_help = concat!("Examples:\n  detscript plan scripts/deploy.rhai --param keypair=my-key\n  detscript plan scripts/deploy.rhai --params prod.yaml --output json > plan.json\n  detscript plan scripts/deploy.rhai --params prod.yaml --refresh --detailed-exitcode\n\n",
exit_codes!())
    )]
    Plan {
        #[command(flatten)]
        script: ScriptArgs,
        /// Output format: text for people, json for tools (canonical, with a sha256)
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
        output: Format,
        /// Read live state from AWS and show the diff (+ create, ~ update, -/+ replace, - delete)
        #[arg(long)]
        refresh: bool,
        /// With --refresh: exit 2 when changes are pending, 0 when none (as terraform plan)
        #[arg(long, requires = "refresh")]
        detailed_exitcode: bool,
        #[command(flatten)]
        aws: AwsArgs,
    },
    /// Create or update the deployment in AWS so that it matches the script
    #[command(
        visible_alias = "apply",
        long_about = "Create or update the deployment in AWS so that it matches the script. Reads live state by the \
ownership tags detscript:deployment and detscript:id (there is no state file), shows the diff, asks for confirmation \
(--yes when standard input is not a terminal), then runs the plan's DAG: independent resources concurrently, dependents \
once the values they reference exist. Same-named resources that this deployment does not own are never touched: the run \
stops before changing anything. A second run of an unchanged script changes nothing. A run that failed half-way is \
completed by running it again. Credentials come from the standard AWS chain (environment, profile, SSO, instance role).",
        after_help = concat!("Examples:\n  detscript run scripts/deploy.rhai --param keypair=my-key --params secrets.yaml\n  detscript run scripts/deploy.rhai --params prod.yaml --yes --output json > events.jsonl\n  detscript run scripts/deploy.rhai --params prod.yaml --endpoint-url http://127.0.0.1:5000 --region us-west-2\n\n",
exit_codes_aws!())
    )]
    Run {
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Do not ask for confirmation (required when standard input is not a terminal)
        #[arg(long, short = 'y')]
        yes: bool,
        /// How many resources to create or change at the same time
        #[arg(long, default_value_t = 10, value_name = "N")]
        parallelism: usize,
        /// Progress format: text lines on standard error, or a JSON event stream on standard output
        #[arg(long, short = 'o', value_enum, default_value_t = Format::Text)]
        output: Format,
    },
    /// Delete everything the deployment owns in AWS, agents launched by the master first
    #[command(
        long_about = "Delete everything the deployment owns in AWS: first the agent instances the master launched \
(EC2 instances and spot requests tagged with each resource pool's tag_key:tag_value), then the master, the bucket \
(only if empty, unless --delete-data), the database (with a final snapshot unless --skip-final-snapshot), instance \
profiles, roles and their policies, security group rules and groups, in reverse dependency order. Only resources \
tagged detscript:deployment=<name> are deleted. Running it twice is harmless.",
        after_help = concat!("Examples:\n  detscript destroy scripts/deploy.rhai\n  detscript destroy scripts/deploy.rhai --yes --delete-data --skip-final-snapshot\n\n",
exit_codes_aws!())
    )]
    Destroy {
        #[command(flatten)]
        script: ScriptArgs,
        #[command(flatten)]
        aws: AwsArgs,
        /// Do not ask for confirmation (required when standard input is not a terminal)
        #[arg(long, short = 'y')]
        yes: bool,
        /// Also delete the objects (checkpoints) in the bucket; without it a non-empty bucket stops destroy
        #[arg(long)]
        delete_data: bool,
        /// Delete the database without taking a final snapshot
        #[arg(long)]
        skip_final_snapshot: bool,
        /// How many resources to delete at the same time
        #[arg(long, default_value_t = 10, value_name = "N")]
        parallelism: usize,
        /// Progress format: text lines on standard error, or a JSON event stream on standard output
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
    /// Export the plan as an AWS CloudFormation template (YAML or JSON)
    #[command(
        long_about = "Export the plan as an AWS CloudFormation template, deployable with `aws cloudformation deploy` \
(with --capabilities CAPABILITY_NAMED_IAM, as the IAM roles are named). Every resource becomes its AWS::* resource, \
references become Ref/Fn::GetAtt/Fn::Sub so that CloudFormation orders them as the plan does, and the master's \
user-data embeds master.yaml with the database endpoint filled in by CloudFormation. Secret parameters become NoEcho \
template parameters (their values never enter the template) and parameters without a value become template \
parameters; the others are resolved. A construct the exporter cannot express is an error naming the resource.",
        after_help = concat!("Examples:\n  detscript export scripts/deploy.rhai --param keypair=my-key -o template.yaml\n  detscript export scripts/deploy.rhai --params prod.yaml --format json > template.json\n  aws cloudformation deploy --template-file template.yaml --stack-name det-demo --capabilities CAPABILITY_NAMED_IAM --parameter-overrides VpcId=vpc-... DbPassword=...\n\n",
exit_codes!())
    )]
    Export {
        #[command(flatten)]
        script: ScriptArgs,
        /// Template format: cloudformation (YAML) or json
        #[arg(long, short = 'f', value_enum, default_value_t = ExportFormat::Cloudformation)]
        format: ExportFormat,
        /// Write the template to this file instead of standard output
        #[arg(long, short = 'o', value_name = "PATH")]
        out: Option<PathBuf>,
    },
    /// Check a script for what would break the cluster or fail a security review
    #[command(
        long_about = "Check a script, before anything is created, for what AWS or Determined's master would \
reject, what would keep the cluster from working, and what a security reviewer would flag. Each finding has a \
stable id (DS001...), a severity, the script line and a one-line fix. Silence one in the script with \
allow(\"DS003\", \"why it is fine here\"); add rules of your own with policy(\"name\", |plan| [...]). \
The same findings appear in `detscript plan` and in the browser preview.",
        after_help = concat!("Examples:\n  detscript lint scripts/deploy.rhai\n  detscript lint scripts/secure.rhai --deny warnings\n  detscript lint scripts/deploy.rhai --output sarif > detscript.sarif\n\n",
"Exit codes:\n  0  no error (and, with --deny warnings, no warning)\n  1  findings that fail the check, or the script is invalid\n  2  usage error (unknown flag, missing argument, unreadable file)")
    )]
    Lint {
        #[command(flatten)]
        script: ScriptArgs,
        /// Output format: text for people, json or sarif (SARIF 2.1.0) for tools
        #[arg(long, short = 'o', value_enum, default_value_t = crate::lint::LintFormat::Text)]
        output: crate::lint::LintFormat,
        /// Fail (exit 1) on warnings too
        #[arg(long, value_enum, value_name = "LEVEL")]
        deny: Option<crate::lint::Deny>,
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
enum ExportFormat {
    /// CloudFormation YAML
    #[value(alias = "yaml")]
    Cloudformation,
    /// CloudFormation JSON
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
        Command::Plan {
            script,
            output,
            refresh: true,
            detailed_exitcode,
            aws,
        } => {
            let script = script.read()?;
            let compiled = compile_or_report(&script, Mode::Apply)?;
            print_diagnostics(&compiled.diagnostics);
            crate::aws::command::plan_refresh(
                compiled.plan,
                &aws,
                output == Format::Json,
                detailed_exitcode,
            )
        }
        Command::Run {
            script,
            aws,
            yes,
            parallelism,
            output,
        } => {
            let script = script.read()?;
            let compiled = compile_or_report(&script, Mode::Apply)?;
            print_diagnostics(&compiled.diagnostics);
            let opts = crate::aws::command::RunOpts {
                yes,
                parallelism,
                json: output == Format::Json,
            };
            crate::aws::command::run(compiled.plan, &aws, &opts)
        }
        Command::Destroy {
            script,
            aws,
            yes,
            delete_data,
            skip_final_snapshot,
            parallelism,
            output,
        } => {
            let script = script.read()?;
            // Destroy needs names and tags only: unset parameters (e.g. secrets) are fine.
            let compiled = compile_or_report(&script, Mode::Preview)?;
            let opts = crate::aws::command::DestroyOpts {
                yes,
                parallelism,
                json: output == Format::Json,
                delete_data,
                skip_final_snapshot,
            };
            crate::aws::command::destroy(compiled.plan, &aws, &opts)
        }
        Command::Plan { script, output, .. } => {
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
        Command::Export {
            script,
            format,
            out,
        } => {
            let script = script.read()?;
            // Unset parameters and secrets become template parameters.
            let compiled = compile_or_report(&script, Mode::Preview)?;
            print_diagnostics(&compiled.diagnostics);
            let template = match detscript_engine::cfn::export(&compiled.plan, &compiled.params) {
                Ok(t) => t,
                Err(errors) => {
                    print_diagnostics(&errors);
                    return Err(Exit(exit::SCRIPT));
                }
            };
            let text = match format {
                ExportFormat::Cloudformation => detscript_engine::cfn::to_yaml(&template),
                ExportFormat::Json => detscript_engine::cfn::to_json(&template),
            };
            match out {
                Some(path) => {
                    std::fs::write(&path, &text).map_err(|e| {
                        usage_error(format!("cannot write {}: {e}", path.display()))
                    })?;
                    eprintln!("wrote {}", path.display());
                    Ok(())
                }
                None => print_out(&text),
            }
        }
        Command::Lint {
            script,
            output,
            deny,
        } => {
            let script = script.read()?;
            crate::lint::run(&script, output, deny.is_some())
        }
        Command::Params { file, output } => {
            let script = read_script(&file, &[], None)?;
            let specs = match detscript_engine::declared_params(&script.request(Mode::Preview)) {
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

/// Wall-clock budget of one script run; the operation limit usually ends runaway scripts first.
const SCRIPT_DEADLINE: std::time::Duration = std::time::Duration::from_secs(10);

/// Stops a script that runs longer than [`SCRIPT_DEADLINE`] from now.
pub(crate) fn script_deadline() -> detscript_engine::Interrupt {
    let started = std::time::Instant::now();
    std::rc::Rc::new(move || {
        (started.elapsed() > SCRIPT_DEADLINE)
            .then(|| format!("it ran longer than {} s", SCRIPT_DEADLINE.as_secs()))
    })
}

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

pub(crate) fn print_out(text: &str) -> Result<(), Exit> {
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
