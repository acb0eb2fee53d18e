//! The command line's definition (clap); what each command does is in [`crate::commands`].

use std::path::PathBuf;

use clap::{Args, Parser, Subcommand, ValueEnum};

use crate::exit;

#[derive(Debug, Parser)]
#[command(
    name = "detscript",
    version,
    about = "Deploy Determined AI clusters on AWS from a parameterized Rhai script",
    long_about = "detscript turns a Rhai script describing a Determined AI cluster on AWS (security groups, \
IAM roles and instance profiles, a PostgreSQL database, the checkpoint bucket and the master node with its \
master.yaml) into a deployment plan that you can review, render and graph without AWS credentials.",
    after_help = exit::after_help("Parameters: --param NAME=VALUE wins over the environment variable DETSCRIPT_PARAM_NAME, which wins over\n--params FILE (keep secrets out of shell history: export DETSCRIPT_PARAM_db_password=...).\n\nExamples:\n  detscript plan scripts/deploy.rhai --param keypair=my-key\n  cat deploy.rhai | detscript plan - --param keypair=my-key\n  detscript render scripts/deploy.rhai master.yaml -o master.yaml --params prod.yaml\n  detscript graph scripts/deploy.rhai | dot -Tsvg > plan.svg\n  detscript params scripts/deploy.rhai",
exit::OFFLINE),
)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Compile a script into a deployment plan and show it (no AWS credentials needed)
    #[command(
        long_about = "Compile a script into a deployment plan and show it: every resource with its properties, \
the rules and policies spelled out, values known only after apply shown with where they come from, secrets as \
(sensitive). Parameters without a value are shown as unset, with a warning.",
        after_help = exit::after_help("Examples:\n  detscript plan scripts/deploy.rhai --param keypair=my-key\n  detscript plan scripts/deploy.rhai --params prod.yaml --format json > plan.json\n  detscript plan scripts/deploy.rhai --params prod.yaml --refresh --detailed-exitcode\n  detscript plan scripts/deploy.rhai --params prod.yaml --refresh -o saved.json",
exit::WITH_AWS)
    )]
    Plan(PlanArgs),
    /// Create or update the deployment in AWS so that it matches the script
    #[command(
        visible_alias = "apply",
        long_about = "Create or update the deployment in AWS so that it matches the script. Reads live state by the \
ownership tags detscript:deployment and detscript:id (there is no state file), shows the diff, asks for confirmation \
(--yes when standard input is not a terminal), then runs the plan's DAG: independent resources concurrently, dependents \
once the values they reference exist. Same-named resources that this deployment does not own are never touched: the run \
stops before changing anything. A second run of an unchanged script changes nothing. A run that failed half-way is \
completed by running it again. Credentials come from the standard AWS chain (environment, profile, SSO, instance role). \
Given a plan saved by `plan --refresh --out FILE`, run applies exactly that plan without asking, and refuses when the \
script, its parameters or the changes against live AWS differ from the saved ones (secret parameters are not saved: \
pass them again, e.g. as DETSCRIPT_PARAM_NAME).",
        after_help = exit::after_help("Examples:\n  detscript run scripts/deploy.rhai --param keypair=my-key --params secrets.yaml\n  detscript run scripts/deploy.rhai --params prod.yaml --yes --format json > events.jsonl\n  DETSCRIPT_PARAM_db_password=... detscript run saved.json\n  detscript run scripts/deploy.rhai --params prod.yaml --endpoint-url http://127.0.0.1:5000 --region us-west-2",
exit::WITH_AWS)
    )]
    Run(RunArgs),
    /// Delete everything the deployment owns in AWS, agents launched by the master first
    #[command(
        long_about = "Delete everything the deployment owns in AWS: first the agent instances the master launched \
(EC2 instances and spot requests tagged with each resource pool's tag_key:tag_value), then the master, the bucket \
(only if empty, unless --delete-data), the database (with a final snapshot unless --skip-final-snapshot), instance \
profiles, roles and their policies, security group rules and groups, in reverse dependency order. Only resources \
tagged detscript:deployment=<name> are deleted. Running it twice is harmless.",
        after_help = exit::after_help("Examples:\n  detscript destroy scripts/deploy.rhai\n  detscript destroy scripts/deploy.rhai --yes --delete-data --skip-final-snapshot",
exit::WITH_AWS)
    )]
    Destroy(DestroyArgs),
    /// Write a file the plan generates: the master's master.yaml or its EC2 user-data
    #[command(
        long_about = "Write a file the plan generates: the master's master.yaml or its EC2 user-data. \
Secret parameters are written only into the file given with -o (created with mode 0600); on standard \
output they read (sensitive) unless --show-secrets is given. Values known only after apply read ${kind.name.attr}.",
        after_help = exit::after_help("Examples:\n  detscript render scripts/deploy.rhai master.yaml\n  detscript render scripts/deploy.rhai master.yaml -o master.yaml --param db_password=...\n  detscript render scripts/deploy.rhai user-data",
exit::OFFLINE)
    )]
    Render(RenderArgs),
    /// Print the plan's dependency graph in Graphviz DOT (an edge a -> b: a depends on b)
    #[command(after_help = exit::after_help("Example:\n  detscript graph scripts/deploy.rhai | dot -Tsvg > plan.svg",
exit::OFFLINE))]
    Graph(GraphArgs),
    /// Export the plan as an AWS CloudFormation template (YAML or JSON)
    #[command(
        long_about = "Export the plan as an AWS CloudFormation template, deployable with `aws cloudformation deploy` \
(with --capabilities CAPABILITY_NAMED_IAM, as the IAM roles are named). Every resource becomes its AWS::* resource, \
references become Ref/Fn::GetAtt/Fn::Sub so that CloudFormation orders them as the plan does, and the master's \
user-data embeds master.yaml with the database endpoint filled in by CloudFormation. Secret parameters become NoEcho \
template parameters (their values never enter the template) and parameters without a value become template \
parameters; the others are resolved. A construct the exporter cannot express is an error naming the resource.",
        after_help = exit::after_help("Examples:\n  detscript export scripts/deploy.rhai --param keypair=my-key -o template.yaml\n  detscript export scripts/deploy.rhai --params prod.yaml --format json > template.json\n  aws cloudformation deploy --template-file template.yaml --stack-name det-demo --capabilities CAPABILITY_NAMED_IAM --parameter-overrides VpcId=vpc-... DbPassword=...",
exit::OFFLINE)
    )]
    Export(ExportArgs),
    /// Check a script for what would break the cluster or fail a security review
    #[command(
        long_about = "Check a script, before anything is created, for what AWS or Determined's master would \
reject, what would keep the cluster from working, and what a security reviewer would flag. Each finding has a \
stable id (DS001...), a severity, the script line and a one-line fix. Silence one in the script with \
allow(\"DS003\", \"why it is fine here\"); add rules of your own with policy(\"name\", |plan| [...]). \
The same findings appear in `detscript plan` and in the browser preview.",
        after_help = exit::after_help("Examples:\n  detscript lint scripts/deploy.rhai\n  detscript lint scripts/secure.rhai --deny warnings\n  detscript lint scripts/deploy.rhai --format sarif -o detscript.sarif",
exit::LINT)
    )]
    Lint(LintArgs),
    /// List the parameters a script declares, with kind, default and doc
    #[command(after_help = exit::after_help("Example:\n  detscript params scripts/deploy.rhai",
exit::OFFLINE))]
    Params(ParamsArgs),
    /// Print the live deployment's outputs (master IP and URL, group ids, bucket, database endpoint)
    #[command(
        long_about = "Print the outputs of the live deployment: the script's outputs (master IP and URL, security \
group ids, bucket, database endpoint, agent tag) with the values read from AWS. An output whose resource does \
not exist reads (known after apply: ...).",
        after_help = exit::after_help("Examples:\n  detscript outputs scripts/deploy.rhai --params prod.yaml\n  detscript outputs scripts/deploy.rhai --params prod.yaml --format json | jq -r .master_url",
exit::WITH_AWS)
    )]
    Outputs(InspectArgs),
    /// Show what exists in AWS, whether it drifted from the script, and the master's health
    #[command(
        long_about = "Show the live deployment: each resource of the script with whether it exists and its AWS id, \
the drift (what `detscript run` would change, as `plan --refresh` shows it) and the master's health (GET /info \
on the master's URL, or on --master-url).",
        after_help = exit::after_help("Examples:\n  detscript status scripts/deploy.rhai --params prod.yaml\n  detscript status scripts/deploy.rhai --params prod.yaml --format json",
exit::WITH_AWS)
    )]
    Status(StatusArgs),
    /// Explain a lint finding (DS001...), or list them all
    #[command(after_help = "Examples:\n  detscript explain DS003\n  detscript explain")]
    Explain(ExplainArgs),
    /// Print a shell completion script (bash, zsh, fish, elvish, powershell)
    #[command(
        after_help = "Examples:\n  detscript completions bash > ~/.local/share/bash-completion/completions/detscript\n  detscript completions zsh > ~/.zfunc/_detscript"
    )]
    Completions(CompletionsArgs),
    /// Print the manual page (roff), e.g. detscript man > detscript.1
    #[command(after_help = "Example:\n  detscript man > /usr/local/share/man/man1/detscript.1")]
    Man,
}

#[derive(Debug, Args)]
pub struct InspectArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    #[command(flatten)]
    pub format: FormatArgs,
}

#[derive(Debug, Args)]
pub struct StatusArgs {
    #[command(flatten)]
    pub inspect: InspectArgs,
    /// Check the master's health at this URL instead of the deployment's master_url output
    #[arg(long, value_name = "URL")]
    pub master_url: Option<String>,
}

#[derive(Debug, Args)]
pub struct ExplainArgs {
    /// The finding's id, e.g. DS003; without it, every rule is listed
    pub id: Option<String>,
}

#[derive(Debug, Args)]
pub struct CompletionsArgs {
    /// The shell
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

#[derive(Debug, Args)]
pub struct PlanArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub format: FormatArgs,
    /// With --refresh: save the plan to this file, for `detscript run FILE` to apply exactly it
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<String>,
    /// Read live state from AWS and show the diff (+ create, ~ update, -/+ replace, - delete)
    #[arg(long)]
    pub refresh: bool,
    /// With --refresh: exit 2 when changes are pending, 0 when none (as terraform plan)
    #[arg(long, requires = "refresh")]
    pub detailed_exitcode: bool,
    #[command(flatten)]
    pub aws: AwsArgs,
}

/// What `run` and `destroy` change: the script, the AWS account, and the confirmation.
#[derive(Debug, Args)]
pub struct LiveArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    #[command(flatten)]
    pub aws: AwsArgs,
    /// Do not ask for confirmation (required when standard input is not a terminal)
    #[arg(long, short = 'y')]
    pub yes: bool,
}

#[derive(Debug, Args)]
pub struct RunArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// How many resources to create or change at the same time
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub parallelism: usize,
    #[command(flatten)]
    pub format: ProgressFormat,
    #[command(flatten)]
    pub upgrade: UpgradeArgs,
}

/// `run`'s flags for upgrades of Determined and for the wait until the master answers.
#[derive(Debug, Clone, clap::Args)]
pub struct UpgradeArgs {
    /// On an upgrade of Determined, do not snapshot the database before the master is replaced
    #[arg(long)]
    pub skip_db_snapshot: bool,
    /// Allow a lower Determined version than the live master's (its database migrations only go forward)
    #[arg(long)]
    pub allow_downgrade: bool,
    /// Do not wait for the master's /info to answer after the run
    #[arg(long)]
    pub no_wait: bool,
    /// How long to wait for the master's /info to answer
    #[arg(long, value_name = "SECONDS", default_value_t = 900)]
    pub wait_timeout: u64,
}

impl Default for UpgradeArgs {
    fn default() -> Self {
        UpgradeArgs {
            skip_db_snapshot: false,
            allow_downgrade: false,
            no_wait: false,
            wait_timeout: 900,
        }
    }
}

#[derive(Debug, Args)]
pub struct DestroyArgs {
    #[command(flatten)]
    pub live: LiveArgs,
    /// Also delete the objects (checkpoints) in the bucket; without it a non-empty bucket stops destroy
    #[arg(long)]
    pub delete_data: bool,
    /// Delete the database without taking a final snapshot
    #[arg(long)]
    pub skip_final_snapshot: bool,
    /// Delete the Secrets Manager secrets at once instead of after their recovery window (7 days by default; restorable until then)
    #[arg(long)]
    pub delete_secrets_now: bool,
    /// How many resources to delete at the same time
    #[arg(long, default_value_t = 10, value_name = "N")]
    pub parallelism: usize,
    #[command(flatten)]
    pub format: ProgressFormat,
}

#[derive(Debug, Args)]
pub struct RenderArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Which file to render
    #[arg(value_enum)]
    pub what: RenderTarget,
    /// Write to this file (mode 0600, secrets included) instead of standard output
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,
    /// Print secret values on standard output instead of (sensitive)
    #[arg(long)]
    pub show_secrets: bool,
}

#[derive(Debug, Args)]
pub struct GraphArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
}

#[derive(Debug, Args)]
pub struct ExportArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Template format: cloudformation (YAML) or json
    #[arg(long, short = 'f', value_enum, default_value_t = ExportFormat::Cloudformation)]
    pub format: ExportFormat,
    /// Write the template to this file instead of standard output
    #[arg(long, short = 'o', value_name = "PATH")]
    pub out: Option<PathBuf>,
}

#[derive(Debug, Args)]
pub struct LintArgs {
    #[command(flatten)]
    pub script: ScriptArgs,
    /// Report format: text for people, json or sarif (SARIF 2.1.0) for tools
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Option<LintFormat>,
    /// Deprecated spelling of --format
    #[arg(long = "output", value_enum, hide = true)]
    pub output: Option<LintFormat>,
    /// Write the report to this file instead of standard output
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<String>,
    /// Fail (exit 1) on warnings too
    #[arg(long, value_enum, value_name = "LEVEL")]
    pub deny: Option<Deny>,
}

#[derive(Debug, Args)]
pub struct ParamsArgs {
    /// The script (.rhai), or - for standard input
    pub file: PathBuf,
    #[command(flatten)]
    pub format: FormatArgs,
    /// Write the list to this file instead of standard output
    #[arg(long = "out", short = 'o', value_name = "FILE")]
    pub out: Option<String>,
}

#[derive(Debug, Args)]
pub struct ScriptArgs {
    /// The deployment script (.rhai), or - for standard input
    pub file: PathBuf,
    /// Set a parameter, e.g. --param keypair=my-key (repeatable; wins over the environment and --params)
    #[arg(long = "param", short = 'p', value_name = "NAME=VALUE")]
    pub param: Vec<String>,
    /// Read parameter values from a YAML or JSON file of NAME: VALUE
    #[arg(long = "params", value_name = "FILE")]
    pub params: Option<PathBuf>,
    /// Show errors only: no warnings or lint findings (`detscript lint` lists them)
    #[arg(long, short = 'q')]
    pub quiet: bool,
}

/// `--format text|json`, and `--output`, its deprecated spelling.
#[derive(Debug, Args)]
#[group(skip)]
pub struct FormatArgs {
    /// Output format: text for people, json for tools
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Deprecated spelling of --format
    #[arg(long = "output", value_enum, hide = true)]
    pub output: Option<Format>,
}

/// The progress format of `run` and `destroy`; `-o json` is the deprecated spelling.
#[derive(Debug, Args)]
#[group(skip)]
pub struct ProgressFormat {
    /// Progress format: text lines on standard error, or a JSON event stream on standard output
    #[arg(long, short = 'f', value_enum, value_name = "FORMAT")]
    pub format: Option<Format>,
    /// Deprecated spelling of --format
    #[arg(long = "output", short = 'o', value_enum, hide = true)]
    pub output: Option<Format>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ExportFormat {
    /// CloudFormation YAML
    #[value(alias = "yaml")]
    Cloudformation,
    /// CloudFormation JSON
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RenderTarget {
    #[value(name = "master.yaml")]
    MasterYaml,
    #[value(name = "user-data")]
    UserData,
}

impl RenderTarget {
    /// The file's name, as given on the command line.
    pub fn file_name(self) -> &'static str {
        match self {
            RenderTarget::MasterYaml => "master.yaml",
            RenderTarget::UserData => "user-data",
        }
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LintFormat {
    Text,
    Json,
    Sarif,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Deny {
    Warnings,
}

/// Where to find AWS: flags shared by `plan --refresh`, `run` and `destroy`.
#[derive(Debug, Clone, Default, clap::Args)]
pub struct AwsArgs {
    /// Use this profile of ~/.aws/config and ~/.aws/credentials (else AWS_PROFILE, else default)
    #[arg(long, value_name = "NAME")]
    pub profile: Option<String>,
    /// AWS region (else the script's deployment(..).region(..), else AWS_REGION / the profile's)
    #[arg(long, value_name = "REGION")]
    pub region: Option<String>,
    /// Send every AWS API call to this endpoint, e.g. a local emulator (else AWS_ENDPOINT_URL)
    #[arg(long, value_name = "URL")]
    pub endpoint_url: Option<String>,
}
