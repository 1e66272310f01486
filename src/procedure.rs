//! The vendor's procedure as data: step ids in their fixed order, which node each touches, and
//! what each does and why, in plain words. The planner, the executor and the TUI all read this
//! one list, so the order can never differ between them.

use serde::Serialize;

/// Which node a step acts on.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum StepNode {
    /// The master.
    Master,
    /// The replicant.
    Replicant,
    /// Both nodes.
    Both,
}

impl StepNode {
    /// Lower-case name, as in JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            StepNode::Master => "master",
            StepNode::Replicant => "replicant",
            StepNode::Both => "both",
        }
    }
}

/// A step of the procedure. Serialised as its stable id (`replicant.prune`), as in JSON,
/// `--until` and the journal; its definition is [`Step::def`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, serde::Deserialize)]
pub enum Step {
    /// `preflight`.
    #[serde(rename = "preflight")]
    Preflight,
    /// `backup`.
    #[serde(rename = "backup")]
    Backup,
    /// `replicant.stop`.
    #[serde(rename = "replicant.stop")]
    ReplicantStop,
    /// `replicant.prune`.
    #[serde(rename = "replicant.prune")]
    ReplicantPrune,
    /// `replicant.dbconfig`.
    #[serde(rename = "replicant.dbconfig")]
    ReplicantDbconfig,
    /// `master.stop`.
    #[serde(rename = "master.stop")]
    MasterStop,
    /// `master.dbconfig`.
    #[serde(rename = "master.dbconfig")]
    MasterDbconfig,
    /// `master.regions`.
    #[serde(rename = "master.regions")]
    MasterRegions,
    /// `master.start`.
    #[serde(rename = "master.start")]
    MasterStart,
    /// `replicant.start`.
    #[serde(rename = "replicant.start")]
    ReplicantStart,
    /// `verify`.
    #[serde(rename = "verify")]
    Verify,
}

impl Step {
    /// The stable id (`replicant.prune`).
    pub fn as_str(self) -> &'static str {
        match self {
            Step::Preflight => "preflight",
            Step::Backup => "backup",
            Step::ReplicantStop => "replicant.stop",
            Step::ReplicantPrune => "replicant.prune",
            Step::ReplicantDbconfig => "replicant.dbconfig",
            Step::MasterStop => "master.stop",
            Step::MasterDbconfig => "master.dbconfig",
            Step::MasterRegions => "master.regions",
            Step::MasterStart => "master.start",
            Step::ReplicantStart => "replicant.start",
            Step::Verify => "verify",
        }
    }

    /// The step with this id.
    pub fn parse(id: &str) -> Option<Step> {
        STEPS.iter().map(|d| d.id).find(|s| s.as_str() == id)
    }

    /// Its definition: the variants are declared in the procedure's order, so a step's
    /// discriminant is its index in [`STEPS`] (checked by `each_step_is_defined_at_its_index`).
    pub fn def(self) -> &'static StepDef {
        &STEPS[self as usize]
    }

    /// Which node it acts on.
    pub fn node(self) -> StepNode {
        self.def().node
    }
}

impl std::fmt::Display for Step {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A step equals its id (for callers holding ids as text: journal records, `--until`).
impl PartialEq<&str> for Step {
    fn eq(&self, id: &&str) -> bool {
        self.as_str() == *id
    }
}

impl From<Step> for String {
    fn from(s: Step) -> String {
        s.as_str().to_string()
    }
}

/// One step of the procedure.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct StepDef {
    /// The step (its stable id, `replicant.prune`, is used in JSON, `--until` and the journal).
    pub id: Step,
    /// The node it acts on.
    pub node: StepNode,
    /// One-line title.
    pub title: &'static str,
    /// The vendor's instruction and its reason, in plain words.
    pub why: &'static str,
    /// True when the step changes a server (stops it, moves files, edits DB_CONFIG).
    pub destructive: bool,
}

/// The procedure, in the vendor's order. Never reorder.
pub const STEPS: &[StepDef] = &[
    StepDef {
        id: Step::Preflight,
        node: StepNode::Both,
        title: "Check configuration, paths, addresses, ports and disk space",
        why: "Nothing is touched until both homes, both DB_CONFIG files, the addresses and ports and the free space for quarantine and backup have been checked, and no other run is in progress.",
        destructive: false,
    },
    StepDef {
        id: Step::Backup,
        node: StepNode::Master,
        title: "Verify (or make) a complete backup of the master",
        why: "The vendor's prerequisite: a complete backup of the master database before anything changes. tt-ha takes this master's newest backup (never one of another machine or home), verifies every database and log file against its manifest of hashes, and tops it up with the log files written since, or makes one.",
        destructive: false,
    },
    StepDef {
        id: Step::ReplicantStop,
        node: StepNode::Replicant,
        title: "Stop the replicant's server",
        why: "The replicant's database folder is emptied next; Berkeley DB must not have it open. A service stop returns before the server has stopped, so tt-ha waits until the service, the process list and the client port all agree.",
        destructive: true,
    },
    StepDef {
        id: Step::ReplicantPrune,
        node: StepNode::Replicant,
        title: "Empty the replicant's var/db except DB_CONFIG",
        why: "The replicant receives the whole database from the master (internal init), so its own files must go. tt-ha moves them into the run's quarantine; nothing is deleted.",
        destructive: true,
    },
    StepDef {
        id: Step::ReplicantDbconfig,
        node: StepNode::Replicant,
        title: "Enable the replicant block in the replicant's DB_CONFIG",
        why: "Uncomment the block that starts with rep_set_priority 0 and set the local site (this replicant) and the remote site (the master). Nothing else in the file changes.",
        destructive: true,
    },
    StepDef {
        id: Step::MasterStop,
        node: StepNode::Master,
        title: "Stop the master's server",
        why: "The master's DB_CONFIG and region files change next; Berkeley DB reads DB_CONFIG only when it opens the environment. From here on clients cannot use TapeTrack until the master starts again. Once it has stopped, tt-ha brings the backup up to date with the log files the master wrote since, and verifies it: the backup holds the master as it stopped.",
        destructive: true,
    },
    StepDef {
        id: Step::MasterDbconfig,
        node: StepNode::Master,
        title: "Enable the master block in the master's DB_CONFIG",
        why: "Uncomment the block that starts with rep_set_priority 1 and set the local site (this master) and the remote site (the replicant).",
        destructive: true,
    },
    StepDef {
        id: Step::MasterRegions,
        node: StepNode::Master,
        title: "Remove the master's region files (__db.*) only",
        why: "Region files hold the environment's shared memory; they must be rebuilt with replication on. Only files named __db.* are moved into quarantine: the master's databases and logs are never touched.",
        destructive: true,
    },
    StepDef {
        id: Step::MasterStart,
        node: StepNode::Master,
        title: "Start the master and wait until it serves",
        why: "The master opens its environment with replication on and waits for the replicant.",
        destructive: false,
    },
    StepDef {
        id: Step::ReplicantStart,
        node: StepNode::Replicant,
        title: "Start the replicant and wait for the initial copy",
        why: "The replicant is Start Pending while the master sends it the whole database (internal init); tt-ha follows both message files and shows the progress until start-up is done.",
        destructive: false,
    },
    StepDef {
        id: Step::Verify,
        node: StepNode::Both,
        title: "Verify replication",
        why: "Both message files must prove replication (the master sending, the replicant done with start-up and applying), and the replicant's client port must answer.",
        destructive: false,
    },
];

/// The step with this id.
pub fn step(id: &str) -> Option<&'static StepDef> {
    Step::parse(id).map(Step::def)
}

/// The first step after which the servers are no longer in their original state.
pub const POINT_OF_NO_RETURN: Step = Step::ReplicantStop;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn order_is_the_vendors() {
        let ids: Vec<&str> = STEPS.iter().map(|s| s.id.as_str()).collect();
        assert_eq!(
            ids,
            [
                "preflight",
                "backup",
                "replicant.stop",
                "replicant.prune",
                "replicant.dbconfig",
                "master.stop",
                "master.dbconfig",
                "master.regions",
                "master.start",
                "replicant.start",
                "verify"
            ]
        );
        assert!(POINT_OF_NO_RETURN.def().destructive);
        assert!(step("nope").is_none());
    }

    #[test]
    fn each_step_is_defined_at_its_index_and_serialises_as_its_id() {
        for (i, d) in STEPS.iter().enumerate() {
            assert_eq!(
                d.id as usize, i,
                "{} is declared out of the procedure's order",
                d.id
            );
            assert_eq!(d.id.def().id, d.id);
            assert_eq!(Step::parse(d.id.as_str()), Some(d.id));
            assert_eq!(
                serde_json::to_string(&d.id).unwrap(),
                format!("\"{}\"", d.id.as_str())
            );
        }
    }
}
