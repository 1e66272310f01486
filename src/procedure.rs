//! The vendor's procedure as data: step ids in their fixed order, which node each touches, and
//! what each does and why, in plain words. The planner, the executor and the TUI all read this
//! one list, so the order can never differ between them.

pub use crate::dbconfig::Role;
use serde::Serialize;

/// The node a step acts on, in JSON: `master`, `replicant`, or `both` (`None`: a step of both
/// nodes, such as preflight and verify). One [`Role`] type names a node everywhere; a step
/// that is not one node's says so with `None` rather than a third kind of node.
pub fn serialize_node<S: serde::Serializer>(node: &Option<Role>, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(node_str(*node))
}

/// `master`, `replicant` or `both`.
pub fn node_str(node: Option<Role>) -> &'static str {
    node.map_or("both", Role::as_str)
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

    /// Which node it acts on (`None`: both).
    pub fn node(self) -> Option<Role> {
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
    /// The node it acts on (`None`: both).
    #[serde(serialize_with = "serialize_node")]
    pub node: Option<Role>,
    /// One-line title.
    pub title: &'static str,
    /// The vendor's instruction and its reason, in plain words.
    pub why: &'static str,
    /// True when the step changes a server (stops it, moves files, edits DB_CONFIG).
    pub destructive: bool,
}

/// The procedure, in the vendor's order. Never reorder. Each step's definition lives with its
/// rules in [`crate::steps`].
pub const STEPS: &[StepDef] = &[
    crate::steps::preflight::DEF,
    crate::steps::backup::DEF,
    crate::steps::replicant_stop::DEF,
    crate::steps::replicant_prune::DEF,
    crate::steps::replicant_dbconfig::DEF,
    crate::steps::master_stop::DEF,
    crate::steps::master_dbconfig::DEF,
    crate::steps::master_regions::DEF,
    crate::steps::master_start::DEF,
    crate::steps::replicant_start::DEF,
    crate::steps::verify::DEF,
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
