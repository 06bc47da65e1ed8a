//! Which of the builder's types some targets cannot run: a type whose components a
//! target's Collector build lacks is marked where the builder lists types ("missing on 3
//! of 12 targets"). Targets are the agents the builder will push to once chosen; before
//! that, every connected agent. Only agents that report their components count.
//!
//! Pure and cheap: what each type needs is worked out once per builder, the targets are
//! grouped by build only when the snapshot or the choice of targets changes, and a row
//! then costs a few lookups per build.

use std::collections::{BTreeSet, HashMap};

use super::{TargetMode, TargetsState};
use crate::fleet::AgentId;
use crate::fleet::components::ComponentKind;
use crate::fleet::selector::Selector;
use crate::fleet::snapshot::{AgentView, FleetSnapshot};
use crate::pipeline::types::Section;
use crate::pipeline::{TypeKind, TypeRegistry};
use crate::rollout::components::{
    BuildGroups, ComponentCheck, UsedComponent, check_targets, used_components,
};

/// What the targets were, the last time they were grouped.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Basis {
    /// The snapshot (its address and version: tests and the registry may reuse either).
    snapshot: (usize, u64),
    mode: TargetMode,
    marks: BTreeSet<AgentId>,
    selector: String,
    /// The rendered configuration, once the review has it.
    yaml: Option<String>,
}

/// How many targets lack a type's components.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Lacking {
    pub missing: usize,
    /// Targets that report their components.
    pub of: usize,
    /// Whether those are the chosen targets (else every connected agent).
    pub chosen: bool,
}

impl Lacking {
    /// `missing on 3 of 12 targets`
    pub fn text(&self) -> String {
        format!(
            "missing on {} of {} {}",
            self.missing,
            self.of,
            if self.chosen { "targets" } else { "agents" }
        )
    }

    /// `3/12 lack it`, for narrow rows.
    pub fn short(&self) -> String {
        format!("{}/{} lack it", self.missing, self.of)
    }
}

#[derive(Debug, Clone, Default)]
pub struct Coverage {
    /// What each type needs from a build, by kind and name.
    needs: HashMap<(TypeKind, String), Vec<UsedComponent>>,
    builds: BuildGroups,
    chosen: bool,
    basis: Option<Basis>,
    /// The rendered configuration against the chosen targets, agent by agent: what the
    /// push would be refused for.
    pub push_check: Option<ComponentCheck>,
}

fn kind_of(s: Section) -> ComponentKind {
    match s {
        Section::Receivers => ComponentKind::Receiver,
        Section::Processors => ComponentKind::Processor,
        Section::Exporters => ComponentKind::Exporter,
        Section::Extensions => ComponentKind::Extension,
    }
}

impl Coverage {
    pub fn new(types: &TypeRegistry) -> Coverage {
        let needs = types
            .iter()
            .map(|t| {
                let used = t
                    .default_component_types()
                    .into_iter()
                    .map(|(s, type_name)| UsedComponent {
                        kind: kind_of(s),
                        type_name,
                    })
                    .collect();
                ((t.kind(), t.name().to_string()), used)
            })
            .collect();
        Coverage {
            needs,
            ..Default::default()
        }
    }

    /// Groups the targets by build again when the snapshot, the targets or the rendered
    /// configuration (`yaml`) changed.
    pub fn refresh(&mut self, snap: &FleetSnapshot, targets: &TargetsState, yaml: Option<&str>) {
        let basis = Basis {
            snapshot: (std::ptr::from_ref(snap) as usize, snap.version),
            mode: targets.mode,
            marks: targets.marks.clone(),
            selector: targets.selector.clone(),
            yaml: yaml.map(str::to_string),
        };
        if self.basis.as_ref() == Some(&basis) {
            return;
        }
        let chosen: Option<Vec<&AgentView>> = match targets.mode {
            TargetMode::Agents if !targets.marks.is_empty() => Some(
                targets
                    .marks
                    .iter()
                    .filter_map(|id| snap.get(id).map(|a| &**a))
                    .collect(),
            ),
            TargetMode::Selector => targets
                .selector
                .parse::<Selector>()
                .ok()
                .filter(|s| !s.is_empty())
                .map(|s| {
                    snap.agents
                        .iter()
                        .filter(|a| s.matches(&a.labels))
                        .map(|a| &**a)
                        .collect()
                }),
            TargetMode::Agents => None,
        };
        self.chosen = chosen.is_some();
        self.push_check = chosen
            .as_ref()
            .zip(yaml.and_then(|y| used_components(y).ok()))
            .map(|(agents, used)| check_targets(&used, agents.iter().copied()));
        self.builds = match chosen {
            Some(agents) => BuildGroups::of(agents),
            None => BuildGroups::of(
                snap.agents
                    .iter()
                    .filter(|a| a.is_connected())
                    .map(|a| &**a),
            ),
        };
        self.basis = Some(basis);
    }

    /// How many targets lack what type `name` of `kind` needs; `None` when none do (or
    /// none report their components, or the type needs nothing we can tell).
    pub fn lacking(&self, kind: TypeKind, name: &str) -> Option<Lacking> {
        let used = self.needs.get(&(kind, name.to_string()))?;
        let missing = self.builds.lacking(used);
        (missing > 0).then_some(Lacking {
            missing,
            of: self.builds.reporting,
            chosen: self.chosen,
        })
    }
}
