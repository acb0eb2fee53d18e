//! The master's user-data for CloudFormation: the script `run` writes, with master.yaml in
//! its heredoc; references and parameters in it are filled in by the template's `Fn::Sub`.

use std::collections::BTreeSet;

use crate::plan::MasterFiles;
use crate::value::Tmpl;

/// The user-data of the master and the parameters substituted into its master.yaml.
pub(super) fn user_data(m: &MasterFiles) -> Result<(Tmpl, BTreeSet<String>), String> {
    let ud = m.render_user_data(&|_| None, true);
    Ok((Tmpl::from_marked(&ud), BTreeSet::new()))
}
