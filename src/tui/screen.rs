//! Which screen is shown and where the keys act: the two small facts that the key map, the
//! layout, the app and the view all need, kept apart so none of them imports another for them.

/// Which screen is shown.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Screen {
    /// First run: collect the site's values and write `tt-ha.toml`.
    Setup,
    /// The procedure, step by step.
    Wizard,
    /// The guided rollback of the newest run.
    Rollback,
    /// Both message files full-height.
    Monitor,
}

/// Where ↑↓, PgUp/PgDn, `f` and `/` act.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Focus {
    /// The step list and the step's details.
    Detail,
    /// A live pane: 0 master, 1 replicant.
    Pane(usize),
}
