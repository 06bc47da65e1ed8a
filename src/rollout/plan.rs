//! A rollout as a pure state machine: which agents get the new version in which phase,
//! when to halt, and what to roll back. The runner feeds it agent states and carries out
//! the actions it returns; nothing here touches the network, the clock or the disk.

use std::collections::{BTreeMap, HashMap};

use serde::{Deserialize, Serialize};

use super::watch::{Verdict, WatchFigures, WatchPolicy};
use crate::fleet::AgentId;
use crate::fleet::delivery::{ApplyState, ConfigRef};

/// How fast to go and when to stop.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct RolloutOptions {
    /// Agents in the first phase.
    pub initial: usize,
    /// Each phase is this many times the previous one (≥ 1).
    pub multiplier: f64,
    /// No phase is larger than this.
    pub max_per_phase: usize,
    /// Failures (failed or stalled agents) tolerated before the rollout halts.
    pub max_failures: usize,
    pub rollback: RollbackPolicy,
    /// Watch each agent's telemetry after it applied; an agent whose exports fail or whose
    /// throughput falls counts as a failure. Off unless asked for.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchPolicy>,
}

impl Default for RolloutOptions {
    fn default() -> Self {
        RolloutOptions {
            initial: 3,
            multiplier: 5.0,
            max_per_phase: 1000,
            max_failures: 0,
            rollback: RollbackPolicy::Failed,
            watch: None,
        }
    }
}

impl RolloutOptions {
    /// Everything in one phase (what the convergence benchmark measures).
    pub fn all_at_once() -> Self {
        RolloutOptions {
            initial: usize::MAX,
            max_per_phase: usize::MAX,
            ..Self::default()
        }
    }

    /// Size of phase `k` (0-based): initial × multiplier^k, capped, at least 1.
    pub fn phase_size(&self, k: usize) -> usize {
        let grown = self.initial.max(1) as f64 * self.multiplier.max(1.0).powi(k.min(64) as i32);
        let capped = grown.min(self.max_per_phase.max(1) as f64);
        if capped >= usize::MAX as f64 {
            usize::MAX
        } else {
            capped.ceil() as usize
        }
    }
}

/// What to do when the rollout halts on failures.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RollbackPolicy {
    /// Leave everything as it is for an operator to decide.
    None,
    /// Put the agents that failed back on the last version they applied.
    Failed,
    /// Put every agent the rollout touched back on the last version it applied.
    All,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "status", content = "reason")]
pub enum RolloutStatus {
    Running,
    Paused,
    /// Stopped by the failure threshold.
    Halted(String),
    Completed,
    Cancelled,
    RolledBack,
}

impl RolloutStatus {
    pub fn finished(&self) -> bool {
        matches!(
            self,
            RolloutStatus::Completed | RolloutStatus::Cancelled | RolloutStatus::RolledBack
        )
    }
}

impl std::fmt::Display for RolloutStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RolloutStatus::Running => f.write_str("running"),
            RolloutStatus::Paused => f.write_str("paused"),
            RolloutStatus::Halted(r) => write!(f, "halted: {r}"),
            RolloutStatus::Completed => f.write_str("completed"),
            RolloutStatus::Cancelled => f.write_str("cancelled"),
            RolloutStatus::RolledBack => f.write_str("rolled back"),
        }
    }
}

/// Where one agent is in the rollout.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "state", content = "error")]
pub enum AgentStep {
    /// Not reached by a phase yet.
    #[default]
    Waiting,
    /// Sent the new version; waiting for its answer.
    InFlight,
    /// Applied, and its telemetry is being watched before it counts as a success.
    Watching,
    Applied,
    Failed(String),
    Stalled,
    /// Put back on its previous version.
    RolledBack,
    /// The rollout ended (cancelled) before reaching it.
    Skipped,
}

impl AgentStep {
    fn is_failure(&self) -> bool {
        matches!(self, AgentStep::Failed(_) | AgentStep::Stalled)
    }
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct AgentProgress {
    pub id: AgentId,
    pub step: AgentStep,
    /// The version this agent had applied before the rollout, to roll back to.
    pub previous: Option<ConfigRef>,
    /// Phase in which it was sent the new version.
    pub phase: Option<usize>,
    /// It failed (or stalled) in this rollout; kept when it is then rolled back, so the
    /// counts still say it failed.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub failed: bool,
    /// Why it failed, kept with `failed` through a rollback (the step then says only
    /// that it was rolled back).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// Unix second it was sent the new version (stamped by the runner).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<u64>,
    /// Unix second its APPLIED was seen (stamped by the runner; watched rollouts only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<u64>,
    /// What the watch measured: final once judged, live while watching (in views).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub watch: Option<WatchFigures>,
    /// Watched, but it reports no telemetry, so it counted as applied unjudged.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub unwatched: bool,
}

/// Counts for display.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Progress {
    pub total: usize,
    pub waiting: usize,
    pub in_flight: usize,
    /// Applied and still inside their watch window.
    #[serde(default)]
    pub watching: usize,
    pub applied: usize,
    pub failed: usize,
    pub rolled_back: usize,
}

/// What the runner must do.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// Send `config` to these agents.
    Assign {
        config: ConfigRef,
        agents: Vec<AgentId>,
    },
    /// Send these agents back to `config`, the version they had before the rollout (what
    /// they have now shows as rolled back in their history).
    RollBack {
        config: ConfigRef,
        agents: Vec<AgentId>,
    },
    Note(RolloutNote),
}

/// Things worth telling operators (they become events).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum RolloutNote {
    PhaseStarted {
        config: ConfigRef,
        phase: usize,
        agents: usize,
    },
    Halted {
        config: ConfigRef,
        failures: usize,
        reason: String,
    },
    RolledBack {
        config: ConfigRef,
        agents: usize,
        /// Agents with no earlier version to go back to.
        without_previous: usize,
    },
    Completed {
        config: ConfigRef,
        applied: usize,
        failed: usize,
    },
    Paused {
        config: ConfigRef,
    },
    Resumed {
        config: ConfigRef,
    },
    Cancelled {
        config: ConfigRef,
    },
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rollout {
    pub config: ConfigRef,
    pub options: RolloutOptions,
    pub status: RolloutStatus,
    /// Phases started so far.
    pub phases_started: usize,
    /// Agents in the order phases reach them.
    pub agents: Vec<AgentProgress>,
    /// When it was started, in Unix seconds (set by whoever starts it: the plan keeps no
    /// clock; absent in rollouts stored before it was recorded).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RolloutError {
    #[error("the rollout of {config} is {status}; it cannot be {verb}")]
    WrongState {
        config: ConfigRef,
        status: String,
        verb: &'static str,
    },
}

impl Rollout {
    /// A rollout of `config` to `targets` (each with the version it runs now, if any).
    pub fn new(
        config: ConfigRef,
        targets: Vec<(AgentId, Option<ConfigRef>)>,
        options: RolloutOptions,
    ) -> Rollout {
        Rollout {
            config,
            options,
            status: RolloutStatus::Running,
            phases_started: 0,
            started_at: None,
            agents: targets
                .into_iter()
                .map(|(id, previous)| AgentProgress {
                    id,
                    step: AgentStep::Waiting,
                    previous,
                    phase: None,
                    failed: false,
                    error: None,
                    sent_at: None,
                    applied_at: None,
                    watch: None,
                    unwatched: false,
                })
                .collect(),
        }
    }

    pub fn progress(&self) -> Progress {
        let mut p = Progress {
            total: self.agents.len(),
            ..Progress::default()
        };
        for a in &self.agents {
            match a.step {
                AgentStep::Waiting | AgentStep::Skipped => p.waiting += 1,
                AgentStep::InFlight => p.in_flight += 1,
                AgentStep::Watching => p.watching += 1,
                AgentStep::Applied => p.applied += 1,
                AgentStep::Failed(_) | AgentStep::Stalled => p.failed += 1,
                // One that failed and was rolled back counts under both.
                AgentStep::RolledBack => {
                    p.rolled_back += 1;
                    p.failed += usize::from(a.failed);
                }
            }
        }
        p
    }

    fn failures(&self) -> usize {
        self.agents.iter().filter(|a| a.step.is_failure()).count()
    }

    /// Agents the runner should watch: those sent the new version and not yet answered.
    pub fn in_flight(&self) -> impl Iterator<Item = AgentId> + '_ {
        self.agents
            .iter()
            .filter(|a| a.step == AgentStep::InFlight)
            .map(|a| a.id)
    }

    /// Agents that applied and are inside their watch window.
    pub fn watching(&self) -> impl Iterator<Item = &AgentProgress> + '_ {
        self.agents.iter().filter(|a| a.step == AgentStep::Watching)
    }

    /// Mutable access to one agent's progress, for the runner's time stamps.
    pub fn agent_mut(&mut self, id: AgentId) -> Option<&mut AgentProgress> {
        self.agents.iter_mut().find(|a| a.id == id)
    }

    /// Advances: starts the next phase when the current one has settled (answered and, in
    /// a watched rollout, judged), completes when everyone is done. Call it after feeding
    /// new states.
    pub fn advance(&mut self) -> Vec<Action> {
        if self.status != RolloutStatus::Running {
            return Vec::new();
        }
        if self
            .agents
            .iter()
            .any(|a| matches!(a.step, AgentStep::InFlight | AgentStep::Watching))
        {
            return Vec::new();
        }
        let size = self.options.phase_size(self.phases_started);
        let phase = self.phases_started;
        let next: Vec<AgentId> = self
            .agents
            .iter_mut()
            .filter(|a| a.step == AgentStep::Waiting)
            .take(size)
            .map(|a| {
                a.step = AgentStep::InFlight;
                a.phase = Some(phase);
                a.id
            })
            .collect();
        if next.is_empty() {
            let p = self.progress();
            self.status = RolloutStatus::Completed;
            return vec![Action::Note(RolloutNote::Completed {
                config: self.config.clone(),
                applied: p.applied,
                failed: p.failed,
            })];
        }
        self.phases_started += 1;
        vec![
            Action::Note(RolloutNote::PhaseStarted {
                config: self.config.clone(),
                phase: phase + 1,
                agents: next.len(),
            }),
            Action::Assign {
                config: self.config.clone(),
                agents: next,
            },
        ]
    }

    /// Feeds what an agent reports about the rollout's version. Returns rollback actions
    /// when this pushes failures past the threshold.
    pub fn observe(&mut self, id: AgentId, state: ApplyState, error: &str) -> Vec<Action> {
        let Some(at) = self.agents.iter().position(|a| a.id == id) else {
            return Vec::new();
        };
        let mut failures = self.failures();
        self.observe_at(at, state, error, &mut failures)
    }

    /// [`Rollout::observe`] for many agents at once, in order: the same outcome, without a
    /// pass over all agents per observation (10,000 answers in one tick are common).
    pub fn observe_all<'a>(
        &mut self,
        observations: impl IntoIterator<Item = (AgentId, ApplyState, &'a str)>,
    ) -> Vec<Action> {
        let index: HashMap<AgentId, usize> = self
            .agents
            .iter()
            .enumerate()
            .map(|(i, a)| (a.id, i))
            .collect();
        let mut failures = self.failures();
        let mut actions = Vec::new();
        for (id, state, error) in observations {
            if let Some(&at) = index.get(&id) {
                actions.extend(self.observe_at(at, state, error, &mut failures));
            }
        }
        actions
    }

    /// Records agent `at`'s answer; `failures` is the count of failed agents, kept current.
    fn observe_at(
        &mut self,
        at: usize,
        state: ApplyState,
        error: &str,
        failures: &mut usize,
    ) -> Vec<Action> {
        let agent = &mut self.agents[at];
        if agent.step != AgentStep::InFlight {
            return Vec::new();
        }
        agent.step = match state {
            ApplyState::Applied if self.options.watch.is_some() => AgentStep::Watching,
            ApplyState::Applied => AgentStep::Applied,
            ApplyState::Failed => AgentStep::Failed(error.to_string()),
            ApplyState::Stalled => AgentStep::Stalled,
            ApplyState::Pending | ApplyState::Sent | ApplyState::Applying => return Vec::new(),
        };
        if agent.step.is_failure() {
            agent.failed = true;
            agent.error = Some(match &agent.step {
                AgentStep::Failed(e) => e.clone(),
                _ => "no answer from the agent".to_string(),
            });
            *failures += 1;
        }
        self.halt_if_over(*failures)
    }

    /// Records the watch's verdict on an agent that applied. An unhealthy one becomes a
    /// failure like a refused configuration (halting the rollout past the threshold, and
    /// rolled back under the same policy).
    pub fn judge(&mut self, id: AgentId, verdict: Verdict, figures: WatchFigures) -> Vec<Action> {
        let Some(agent) = self.agents.iter_mut().find(|a| a.id == id) else {
            return Vec::new();
        };
        if agent.step != AgentStep::Watching {
            return Vec::new();
        }
        agent.watch = Some(figures);
        match verdict {
            Verdict::Healthy => agent.step = AgentStep::Applied,
            Verdict::Unwatched => {
                agent.step = AgentStep::Applied;
                agent.unwatched = true;
            }
            Verdict::Unhealthy(why) => {
                let why = format!("unhealthy after applying: {why}");
                agent.step = AgentStep::Failed(why.clone());
                agent.failed = true;
                agent.error = Some(why);
                let failures = self.failures();
                let actions = self.halt_if_over(failures);
                // Halted earlier and rolling failures back: this one goes back too.
                if actions.is_empty()
                    && matches!(self.status, RolloutStatus::Halted(_))
                    && self.options.rollback == RollbackPolicy::Failed
                {
                    return self.roll_back(|s| s.is_failure());
                }
                return actions;
            }
        }
        Vec::new()
    }

    /// Halts (and rolls back as configured) once `failures` pass the threshold.
    fn halt_if_over(&mut self, failures: usize) -> Vec<Action> {
        if failures > self.options.max_failures
            && matches!(self.status, RolloutStatus::Running | RolloutStatus::Paused)
        {
            let reason = format!(
                "{failures} agent(s) failed, more than the {} tolerated",
                self.options.max_failures
            );
            self.status = RolloutStatus::Halted(reason.clone());
            let mut actions = vec![Action::Note(RolloutNote::Halted {
                config: self.config.clone(),
                failures,
                reason,
            })];
            match self.options.rollback {
                RollbackPolicy::None => {}
                RollbackPolicy::Failed => actions.extend(self.roll_back(|s| s.is_failure())),
                RollbackPolicy::All => actions.extend(self.roll_back_everyone()),
            }
            return actions;
        }
        Vec::new()
    }

    fn touched(step: &AgentStep) -> bool {
        matches!(
            step,
            AgentStep::InFlight
                | AgentStep::Watching
                | AgentStep::Applied
                | AgentStep::Failed(_)
                | AgentStep::Stalled
        )
    }

    fn roll_back_everyone(&mut self) -> Vec<Action> {
        let actions = self.roll_back(Self::touched);
        for a in &mut self.agents {
            if a.step == AgentStep::Waiting {
                a.step = AgentStep::Skipped;
            }
        }
        self.status = RolloutStatus::RolledBack;
        actions
    }

    /// Sends each selected agent back to its previous version, grouped by version.
    fn roll_back(&mut self, select: impl Fn(&AgentStep) -> bool) -> Vec<Action> {
        let mut by_version: BTreeMap<ConfigRef, Vec<AgentId>> = BTreeMap::new();
        let mut without_previous = 0;
        let mut count = 0;
        for a in &mut self.agents {
            if !select(&a.step) {
                continue;
            }
            match &a.previous {
                Some(prev) => {
                    by_version.entry(prev.clone()).or_default().push(a.id);
                    a.step = AgentStep::RolledBack;
                    count += 1;
                }
                None => without_previous += 1,
            }
        }
        let mut actions: Vec<Action> = by_version
            .into_iter()
            .map(|(config, agents)| Action::RollBack { config, agents })
            .collect();
        actions.push(Action::Note(RolloutNote::RolledBack {
            config: self.config.clone(),
            agents: count,
            without_previous,
        }));
        actions
    }

    pub fn pause(&mut self) -> Result<Vec<Action>, RolloutError> {
        if self.status != RolloutStatus::Running {
            return Err(self.wrong("paused"));
        }
        self.status = RolloutStatus::Paused;
        Ok(vec![Action::Note(RolloutNote::Paused {
            config: self.config.clone(),
        })])
    }

    /// Resumes a paused rollout, or a halted one (the operator accepts the failures).
    pub fn resume(&mut self) -> Result<Vec<Action>, RolloutError> {
        if !matches!(
            self.status,
            RolloutStatus::Paused | RolloutStatus::Halted(_)
        ) {
            return Err(self.wrong("resumed"));
        }
        // Failures so far are accepted: the threshold applies to new ones from here on.
        self.options.max_failures = self.options.max_failures.max(self.failures());
        self.status = RolloutStatus::Running;
        let mut actions = vec![Action::Note(RolloutNote::Resumed {
            config: self.config.clone(),
        })];
        actions.extend(self.advance());
        Ok(actions)
    }

    /// Stops sending the new version; agents that have it keep it.
    pub fn cancel(&mut self) -> Result<Vec<Action>, RolloutError> {
        if self.status.finished() {
            return Err(self.wrong("cancelled"));
        }
        for a in &mut self.agents {
            match a.step {
                AgentStep::Waiting => a.step = AgentStep::Skipped,
                // Cancelling ends the watch: those that applied keep the version.
                AgentStep::Watching => a.step = AgentStep::Applied,
                _ => {}
            }
        }
        self.status = RolloutStatus::Cancelled;
        Ok(vec![Action::Note(RolloutNote::Cancelled {
            config: self.config.clone(),
        })])
    }

    /// Puts every agent the rollout reached back on the version it had applied before.
    pub fn rollback(&mut self) -> Result<Vec<Action>, RolloutError> {
        if self.status == RolloutStatus::RolledBack {
            return Err(self.wrong("rolled back again"));
        }
        Ok(self.roll_back_everyone())
    }

    fn wrong(&self, verb: &'static str) -> RolloutError {
        RolloutError::WrongState {
            config: self.config.clone(),
            status: self.status.to_string(),
            verb,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cref(v: u64) -> ConfigRef {
        ConfigRef {
            name: "web".into(),
            version: v,
        }
    }

    fn ids(n: u8) -> Vec<(AgentId, Option<ConfigRef>)> {
        (1..=n).map(|i| (AgentId([i; 16]), Some(cref(1)))).collect()
    }

    fn assigned(actions: &[Action]) -> Vec<AgentId> {
        actions
            .iter()
            .filter_map(|a| match a {
                Action::Assign { agents, .. } | Action::RollBack { agents, .. } => {
                    Some(agents.clone())
                }
                _ => None,
            })
            .flatten()
            .collect()
    }

    #[test]
    fn phases_grow_by_the_multiplier_up_to_the_cap() {
        let o = RolloutOptions {
            initial: 2,
            multiplier: 3.0,
            max_per_phase: 10,
            ..Default::default()
        };
        let sizes: Vec<usize> = (0..4).map(|k| o.phase_size(k)).collect();
        assert_eq!(sizes, vec![2, 6, 10, 10]);
        assert_eq!(RolloutOptions::all_at_once().phase_size(0), usize::MAX);
    }

    #[test]
    fn a_phase_starts_only_when_the_previous_one_settled() {
        let mut r = Rollout::new(
            cref(2),
            ids(7),
            RolloutOptions {
                initial: 2,
                multiplier: 2.0,
                max_per_phase: 100,
                ..Default::default()
            },
        );
        let first = assigned(&r.advance());
        assert_eq!(first, vec![AgentId([1; 16]), AgentId([2; 16])]);
        assert!(r.advance().is_empty(), "phase 1 still in flight");
        r.observe(AgentId([1; 16]), ApplyState::Applied, "");
        assert!(r.advance().is_empty());
        r.observe(AgentId([2; 16]), ApplyState::Sent, "");
        assert!(r.advance().is_empty(), "sent is not an answer");
        r.observe(AgentId([2; 16]), ApplyState::Applied, "");
        assert_eq!(assigned(&r.advance()).len(), 4, "phase 2 doubles");
        for i in 3..=6 {
            r.observe(AgentId([i; 16]), ApplyState::Applied, "");
        }
        assert_eq!(assigned(&r.advance()), vec![AgentId([7; 16])]);
        r.observe(AgentId([7; 16]), ApplyState::Applied, "");
        let end = r.advance();
        assert_eq!(r.status, RolloutStatus::Completed);
        assert!(matches!(
            end[0],
            Action::Note(RolloutNote::Completed {
                applied: 7,
                failed: 0,
                ..
            })
        ));
    }

    #[test]
    fn observing_many_at_once_ends_like_observing_one_by_one() {
        let options = RolloutOptions {
            initial: 8,
            max_failures: 2,
            rollback: RollbackPolicy::Failed,
            ..Default::default()
        };
        let answers = [
            (AgentId([3; 16]), ApplyState::Applied, ""),
            (AgentId([1; 16]), ApplyState::Failed, "bad exporter"),
            (AgentId([9; 16]), ApplyState::Failed, "not a target"),
            (AgentId([5; 16]), ApplyState::Stalled, ""),
            (AgentId([3; 16]), ApplyState::Failed, "answered already"),
            (AgentId([6; 16]), ApplyState::Applying, ""),
            (AgentId([7; 16]), ApplyState::Failed, "third failure halts"),
            (AgentId([8; 16]), ApplyState::Failed, "after the halt"),
            (AgentId([2; 16]), ApplyState::Applied, ""),
        ];
        let mut one_by_one = Rollout::new(cref(2), ids(8), options.clone());
        one_by_one.advance();
        let mut at_once = one_by_one.clone();
        let mut expected = Vec::new();
        for (id, state, error) in answers {
            expected.extend(one_by_one.observe(id, state, error));
        }
        let actions = at_once.observe_all(answers);
        assert!(matches!(at_once.status, RolloutStatus::Halted(_)));
        assert!(!actions.is_empty(), "the halt is reported");
        assert_eq!(actions, expected);
        assert_eq!(at_once, one_by_one);
    }

    #[test]
    fn failures_past_the_threshold_halt_and_roll_back_the_failed_agents() {
        let mut targets = ids(4);
        targets[1].1 = None; // agent 2 never had a version
        let mut r = Rollout::new(
            cref(2),
            targets,
            RolloutOptions {
                initial: 4,
                max_failures: 1,
                ..Default::default()
            },
        );
        r.advance();
        assert!(
            r.observe(AgentId([1; 16]), ApplyState::Failed, "bad exporter")
                .is_empty()
        );
        r.observe(AgentId([3; 16]), ApplyState::Applied, "");
        let actions = r.observe(AgentId([2; 16]), ApplyState::Stalled, "");
        assert!(matches!(r.status, RolloutStatus::Halted(_)));
        assert!(matches!(
            actions[0],
            Action::Note(RolloutNote::Halted { failures: 2, .. })
        ));
        assert_eq!(
            actions[1],
            Action::RollBack {
                config: cref(1),
                agents: vec![AgentId([1; 16])]
            },
            "back to the version it had"
        );
        assert!(matches!(
            actions[2],
            Action::Note(RolloutNote::RolledBack {
                agents: 1,
                without_previous: 1,
                ..
            })
        ));
        assert!(
            r.advance().is_empty(),
            "a halted rollout sends nothing more"
        );
        assert_eq!(r.agents[2].step, AgentStep::Applied, "successes stay");
        // The counts agree with "2 agent(s) failed" after the rollback.
        let p = r.progress();
        assert_eq!((p.failed, p.rolled_back, p.applied), (2, 1, 1));
        // Why each failed survives the rollback, for the rollout view.
        let rolled_back = r.agents.iter().find(|a| a.step == AgentStep::RolledBack);
        assert_eq!(
            rolled_back.and_then(|a| a.error.as_deref()),
            Some("bad exporter")
        );
        let stalled = r.agents.iter().find(|a| a.id == AgentId([2; 16]));
        assert_eq!(
            stalled.and_then(|a| a.error.as_deref()),
            Some("no answer from the agent")
        );
    }

    #[test]
    fn pause_resume_cancel_and_full_rollback() {
        let mut r = Rollout::new(
            cref(2),
            ids(3),
            RolloutOptions {
                initial: 1,
                multiplier: 1.0,
                ..Default::default()
            },
        );
        r.advance();
        r.pause().unwrap();
        r.observe(AgentId([1; 16]), ApplyState::Applied, "");
        assert!(r.advance().is_empty(), "paused");
        assert!(r.pause().is_err());
        let resumed = r.resume().unwrap();
        assert_eq!(assigned(&resumed), vec![AgentId([2; 16])]);
        let back = r.rollback().unwrap();
        assert_eq!(
            assigned(&back),
            vec![AgentId([1; 16]), AgentId([2; 16])],
            "everyone reached goes back"
        );
        assert_eq!(r.status, RolloutStatus::RolledBack);
        assert_eq!(r.agents[2].step, AgentStep::Skipped);
        let err = r.cancel().unwrap_err().to_string();
        assert!(err.contains("rolled back"), "{err}");
    }

    fn watched(initial: usize) -> RolloutOptions {
        RolloutOptions {
            initial,
            multiplier: 1.0,
            watch: Some(WatchPolicy::for_window(60)),
            ..Default::default()
        }
    }

    #[test]
    fn in_a_watched_rollout_a_phase_ends_only_when_its_agents_are_judged() {
        let mut r = Rollout::new(cref(2), ids(2), watched(1));
        assert_eq!(assigned(&r.advance()), vec![AgentId([1; 16])]);
        r.observe(AgentId([1; 16]), ApplyState::Applied, "");
        assert_eq!(r.agents[0].step, AgentStep::Watching);
        assert_eq!(r.progress().watching, 1);
        assert!(r.advance().is_empty(), "applied but still watched");
        let healthy = r.judge(AgentId([1; 16]), Verdict::Healthy, WatchFigures::default());
        assert!(healthy.is_empty());
        assert_eq!(r.agents[0].step, AgentStep::Applied);
        assert_eq!(assigned(&r.advance()), vec![AgentId([2; 16])]);
        r.observe(AgentId([2; 16]), ApplyState::Applied, "");
        r.judge(
            AgentId([2; 16]),
            Verdict::Unwatched,
            WatchFigures::default(),
        );
        assert!(r.agents[1].unwatched, "said it was not watched");
        r.advance();
        assert_eq!(r.status, RolloutStatus::Completed);
        assert_eq!(r.progress().applied, 2);
    }

    #[test]
    fn an_unhealthy_agent_halts_the_rollout_and_goes_back_to_its_version() {
        let mut r = Rollout::new(cref(2), ids(5), watched(2));
        r.advance();
        r.observe(AgentId([1; 16]), ApplyState::Applied, "");
        r.observe(AgentId([2; 16]), ApplyState::Applied, "");
        let actions = r.judge(
            AgentId([2; 16]),
            Verdict::Unhealthy("export failures 100%".into()),
            WatchFigures::default(),
        );
        assert!(matches!(r.status, RolloutStatus::Halted(_)));
        assert!(matches!(
            actions[0],
            Action::Note(RolloutNote::Halted { failures: 1, .. })
        ));
        assert_eq!(
            actions[1],
            Action::RollBack {
                config: cref(1),
                agents: vec![AgentId([2; 16])]
            }
        );
        let failed = &r.agents[1];
        assert_eq!(
            failed.error.as_deref(),
            Some("unhealthy after applying: export failures 100%")
        );
        assert!(r.advance().is_empty(), "no new phase after a halt");
        // The other one is still judged; failing later, it goes back as well.
        let later = r.judge(
            AgentId([1; 16]),
            Verdict::Unhealthy("a 90% drop".into()),
            WatchFigures::default(),
        );
        assert_eq!(assigned(&later), vec![AgentId([1; 16])]);
        assert_eq!(r.progress().failed, 2);
    }

    #[test]
    fn cancelling_ends_the_watch_and_keeps_the_version() {
        let mut r = Rollout::new(cref(2), ids(3), watched(1));
        r.advance();
        r.observe(AgentId([1; 16]), ApplyState::Applied, "");
        r.cancel().unwrap();
        assert_eq!(r.agents[0].step, AgentStep::Applied);
        assert_eq!(r.watching().count(), 0);
    }

    #[test]
    fn rollouts_stored_before_watching_existed_still_load() {
        let old = r#"{"config":{"name":"web","version":2},"options":{"initial":3,"multiplier":5.0,"max_per_phase":1000,"max_failures":0,"rollback":"failed"},"status":{"status":"running"},"phases_started":1,"agents":[{"id":"01010101-0101-0101-0101-010101010101","step":{"state":"in_flight"},"previous":{"name":"web","version":1},"phase":0}]}"#;
        let r: Rollout = serde_json::from_str(old).expect("an older rollout loads");
        assert_eq!(r.options.watch, None);
        assert_eq!(r.agents[0].sent_at, None);
    }

    #[test]
    fn a_rollout_survives_serialization() {
        let mut r = Rollout::new(cref(2), ids(2), RolloutOptions::default());
        r.advance();
        r.observe(AgentId([1; 16]), ApplyState::Failed, "boom");
        let json = serde_json::to_string(&r).unwrap();
        let back: Rollout = serde_json::from_str(&json).unwrap();
        assert_eq!(back, r);
    }
}
