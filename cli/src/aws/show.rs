//! What the diff shows beyond the action: the consequence of each replacement (new ids and
//! addresses, the outputs that change, what stops), the property-level change of a policy
//! document, and colour for `+`, `~`, `-/+` and `-` on a terminal (never with `NO_COLOR`).

use std::io::IsTerminal as _;

use detscript_engine::{Kind, Plan};
use serde_json::Value;

use super::diff::{Action, Diff};

/// Adds to each replacement the lines that say what it costs.
pub fn annotate(d: &mut Diff, plan: &Plan) {
    let outputs = plan.output_values();
    for c in &mut d.changes {
        if !matches!(c.action, Action::Replace(_)) {
            continue;
        }
        let mut notes = Vec::new();
        if let Some(what) = consequence(c.kind) {
            notes.push(format!("consequence: {what}"));
        }
        let changed: Vec<&str> = outputs
            .iter()
            .filter(|(_, t)| t.refs().any(|r| r.resource == c.id))
            .map(|(k, _)| k.as_str())
            .collect();
        if !changed.is_empty() {
            notes.push(format!("outputs that change: {}", changed.join(", ")));
        }
        let users = plan.dependents(&c.id);
        if !users.is_empty() {
            notes.push(format!("also changes what uses it: {}", users.join(", ")));
        }
        c.notes.extend(notes);
    }
}

/// What replacing a resource of `kind` means for the people using the cluster.
fn consequence(kind: Kind) -> Option<&'static str> {
    Some(match kind {
        Kind::Ec2Instance => {
            "a new master instance: its public and private IP and the master URL change; running experiments, \
notebooks and commands stop, agents launched by the old master lose it, and users must use the new URL"
        }
        Kind::SecurityGroup => {
            "a new security group id: its rules are created again, and instances using it switch to the new group"
        }
        Kind::RdsCluster | Kind::RdsInstance => {
            "a new database: the data of the old one is lost unless restored from its final snapshot"
        }
        Kind::S3Bucket => "a new bucket: checkpoints in the old one are not moved",
        _ => return None,
    })
}

/// The lines of a changed policy document: `~ {title}`, then the changed lines of its
/// JSON (`- old`, `+ new`) with one line of context.
pub fn policy_change(title: &str, have: &Value, want: &Value) -> Vec<String> {
    let old = serde_json::to_string_pretty(have).unwrap_or_default();
    let new = serde_json::to_string_pretty(want).unwrap_or_default();
    let diff = similar::TextDiff::from_lines(&old, &new);
    let mut out = vec![format!("~ {title}")];
    for (i, group) in diff.grouped_ops(1).iter().enumerate() {
        if i > 0 {
            out.push("    ...".into());
        }
        for op in group {
            for change in diff.iter_changes(op) {
                let sign = match change.tag() {
                    similar::ChangeTag::Delete => '-',
                    similar::ChangeTag::Insert => '+',
                    similar::ChangeTag::Equal => ' ',
                };
                out.push(format!("    {sign} {}", change.value().trim_end()));
            }
        }
    }
    out
}

/// True when standard output is a terminal and `NO_COLOR` is unset or empty
/// (<https://no-color.org>).
pub fn color_enabled() -> bool {
    let no_color = std::env::var_os("NO_COLOR").is_some_and(|v| !v.is_empty());
    !no_color && std::io::stdout().is_terminal()
}

const GREEN: &str = "\x1b[32m";
const YELLOW: &str = "\x1b[33m";
const RED: &str = "\x1b[31m";
const MAGENTA: &str = "\x1b[35m";
const RESET: &str = "\x1b[0m";

/// The diff's text with its markers coloured: `+` green, `~` yellow, `-/+` magenta, `-` red,
/// and the `- old` / `+ new` lines of a policy change likewise.
pub fn paint(text: &str, color: bool) -> String {
    if !color {
        return text.to_string();
    }
    let mut out = String::with_capacity(text.len() + 64);
    for line in text.split_inclusive('\n') {
        let body = line.trim_start();
        let c = if body.starts_with("-/+ ") {
            Some(MAGENTA)
        } else if body.starts_with("+ ") {
            Some(GREEN)
        } else if body.starts_with("~ ") {
            Some(YELLOW)
        } else if body.starts_with("- ") {
            Some(RED)
        } else {
            None
        };
        match c {
            Some(c) => {
                let (l, nl) = line.strip_suffix('\n').map_or((line, ""), |l| (l, "\n"));
                out.push_str(&format!("{c}{l}{RESET}{nl}"));
            }
            None => out.push_str(line),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::aws::diff::Change;

    #[test]
    fn a_policy_change_shows_the_lines_that_change() {
        let have = json!({"Statement": [{"Action": "s3:*", "Effect": "Allow", "Resource": "*"}]});
        let want =
            json!({"Statement": [{"Action": "s3:GetObject", "Effect": "Allow", "Resource": "*"}]});
        let lines = policy_change("inline policy agent-s3", &have, &want);
        assert_eq!(lines[0], "~ inline policy agent-s3");
        assert!(
            lines.contains(&"    -       \"Action\": \"s3:*\",".to_string()),
            "{lines:#?}"
        );
        assert!(
            lines.contains(&"    +       \"Action\": \"s3:GetObject\",".to_string()),
            "{lines:#?}"
        );
        // Context only next to the change, not the whole document.
        assert!(!lines.iter().any(|l| l.contains("Statement")), "{lines:#?}");
    }

    #[test]
    fn replacing_the_master_says_its_address_changes_and_experiments_stop() {
        let plan = crate::aws::diff::tests::plan("0.0.0.0/0");
        let mut d = Diff::default();
        d.changes.push(Change {
            id: "ec2_instance.master".into(),
            kind: Kind::Ec2Instance,
            action: Action::Replace("image ami-1 -> ami-2".into()),
            notes: vec![],
        });
        annotate(&mut d, &plan);
        let text = d.render(&plan);
        assert!(text.contains("-/+ ec2_instance.master"), "{text}");
        assert!(text.contains("master URL change"), "{text}");
        assert!(text.contains("running experiments"), "{text}");
        assert!(
            text.contains("outputs that change: master_instance_id, master_private_ip, master_public_ip, master_url"),
            "{text}"
        );
    }

    #[test]
    fn colour_marks_each_action_and_only_when_enabled() {
        let text = "  +   a\n  ~   b\n        - old\n  -/+ c\n  -   d\nsummary\n";
        assert_eq!(paint(text, false), text);
        let c = paint(text, true);
        assert!(c.starts_with("\x1b[32m  +   a\x1b[0m\n"), "{c:?}");
        assert!(c.contains("\x1b[33m  ~   b\x1b[0m\n"));
        assert!(c.contains("\x1b[31m        - old\x1b[0m\n"));
        assert!(c.contains("\x1b[35m  -/+ c\x1b[0m\n"));
        assert!(c.contains("\x1b[31m  -   d\x1b[0m\n"));
        assert!(c.ends_with("summary\n"));
    }
}
