//! Step 5: the rendered Collector YAML (secrets masked), its problems, and a diff with the
//! stored version or what an agent runs; `$EDITOR` edits the YAML itself.

use crate::fleet::AgentId;
use crate::fleet::snapshot::FleetSnapshot;
use crate::pipeline::DiffLine;
use crate::pipeline::builder::DestinationItem;
use crate::tui::action::{Action, WizardAction as W};

use super::{Cx, Level, Outcome, SaveState, Tip, Wizard, WizardEffect};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DiffWith {
    Nothing,
    /// The stored version of the configuration with the same name.
    Previous,
    /// The effective config an agent reports.
    Agent(AgentId),
}

/// The review step's content, computed when it is entered or the draft changes there.
#[derive(Debug, Clone, Default)]
pub struct Review {
    /// The rendered Collector YAML (masked), when it renders.
    pub yaml: Option<String>,
    /// Every problem, naming the component and parameter.
    pub problems: Vec<String>,
    pub diff: Option<Vec<DiffLine>>,
    /// What the diff compares with, or why there is nothing to compare.
    pub diff_title: String,
    /// Which label each rendered ID stands for (`source1 = filelog/2`), when labels
    /// are needed to tell the parts apart.
    pub legend: Option<String>,
    pub scroll: usize,
}

impl Review {
    /// Lines above the YAML when drawn `width` columns wide: the verdict, the problems
    /// (wrapped), the legend (wrapped) and the title. `draw/review.rs` draws the same.
    pub fn head_lines(&self, width: usize) -> usize {
        let wrapped = |text: &str, less: usize| {
            crate::tui::fmt::wrap(text, width.saturating_sub(less))
                .len()
                .max(1)
        };
        let problems: usize = self.problems.iter().map(|p| wrapped(p, 5)).sum();
        let legend = self.legend.as_deref().map_or(0, |l| wrapped(l, 3));
        1 + problems + legend + usize::from(self.yaml.is_some())
    }

    /// Lines of the YAML or of the diff.
    pub fn body_len(&self) -> usize {
        match (&self.yaml, &self.diff) {
            (Some(_), Some(diff)) => {
                let same = diff.iter().all(|l| matches!(l, DiffLine::Same(_)));
                diff.len() + usize::from(same)
            }
            (Some(yaml), None) => yaml.lines().count(),
            (None, _) => 0,
        }
    }
}

impl Wizard {
    /// The review's keys: scroll, what to compare with, `$EDITOR`, drop the edited YAML.
    pub(super) fn review_key(&mut self, action: Option<Action>, cx: &Cx) -> Outcome {
        // The rows the YAML gets: the screen less header, footer, frame, the steps line
        // and the blank under it, the message line, and the lines above the YAML. A page
        // is exactly that, so paging neither skips a line nor repeats one.
        let (w, h) = cx.size;
        let inner = usize::from(w.saturating_sub(2));
        let rows = usize::from(h)
            .saturating_sub(7 + self.review.head_lines(inner))
            .max(1);
        let max = self.review.body_len().saturating_sub(rows);
        let page = rows;
        let r = &mut self.review;
        r.scroll = r.scroll.min(max);
        match action {
            Some(Action::Up) => r.scroll = r.scroll.saturating_sub(1),
            Some(Action::Down) => r.scroll = (r.scroll + 1).min(max),
            Some(Action::PageUp) => r.scroll = r.scroll.saturating_sub(page),
            Some(Action::PageDown) => r.scroll = (r.scroll + page).min(max),
            Some(Action::Top) => r.scroll = 0,
            Some(Action::Bottom) => r.scroll = max,
            Some(Action::Wizard(W::Compare)) => {
                self.diff_with = match self.diff_with {
                    DiffWith::Nothing => DiffWith::Previous,
                    DiffWith::Previous => match agents_with_config(cx.snapshot).first() {
                        Some(id) => DiffWith::Agent(*id),
                        None => DiffWith::Nothing,
                    },
                    DiffWith::Agent(_) => DiffWith::Nothing,
                };
                self.review.scroll = 0;
                self.refresh_review(cx.snapshot);
            }
            Some(Action::Wizard(w @ (W::PrevAgent | W::NextAgent))) => {
                if let DiffWith::Agent(id) = self.diff_with {
                    let ids = agents_with_config(cx.snapshot);
                    if !ids.is_empty() {
                        let at = ids.iter().position(|x| *x == id).unwrap_or(0);
                        let next = if w == W::NextAgent {
                            at + 1
                        } else {
                            at + ids.len() - 1
                        } % ids.len();
                        self.diff_with = DiffWith::Agent(ids[next]);
                        self.refresh_review(cx.snapshot);
                    }
                }
            }
            Some(Action::Wizard(W::EditRaw)) => {
                return Outcome::effect(WizardEffect::EditRaw {
                    text: self.raw_text(),
                });
            }
            Some(Action::Wizard(W::Save)) => return self.save_from_review(),
            Some(Action::Wizard(W::DropRaw)) if self.draft.raw.is_some() => {
                self.draft.raw = None;
                self.refresh_review(cx.snapshot);
                self.say(Level::Info, "raw YAML dropped: the built pipeline is back");
            }
            _ => {}
        }
        Outcome::default()
    }

    /// Enter on a review without problems: saves at once, under the name given or the one
    /// suggested (the save step, `n`, is where another name is typed).
    fn save_from_review(&mut self) -> Outcome {
        if !self.review.problems.is_empty() {
            let back = self.key_of(Action::Wizard(W::PrevStep));
            self.say(
                Level::Warn,
                format!("fix the problems listed first ({back} goes back to the forms)"),
            );
            return Outcome::default();
        }
        if self.name.is_empty() {
            self.name = self.suggested_name();
        }
        // Saved, then changed again: that save is not what would be pushed.
        if matches!(self.save, super::SaveState::Saved { .. }) && self.changed() {
            self.save = super::SaveState::NotSaved;
        }
        self.step = super::Step::Save;
        self.message = None;
        self.save_now()
    }

    /// The review's footer.
    pub(super) fn review_tips(&self) -> Vec<Tip> {
        let mut v = Vec::new();
        if self.review.problems.is_empty() {
            v.push(Tip::One(Action::Wizard(W::Save)));
        }
        v.extend([
            Tip::Pair(Action::Down, Action::Up, '/'),
            Tip::One(Action::Wizard(W::Compare)),
            Tip::One(Action::Wizard(W::EditRaw)),
        ]);
        if matches!(self.diff_with, DiffWith::Agent(_)) {
            v.push(Tip::Pair(
                Action::Wizard(W::PrevAgent),
                Action::Wizard(W::NextAgent),
                ' ',
            ));
        }
        v
    }

    /// Renders the draft and builds the diff. Pure CPU work, done on entering the review
    /// step (never while drawing).
    pub fn refresh_review(&mut self, snap: &FleetSnapshot) {
        let mut cfg = self.configuration();
        if cfg.metadata.name.is_empty() {
            cfg.metadata.name = "untitled".into();
        }
        let scroll = self.review.scroll;
        let mut review = Review {
            scroll,
            ..Review::default()
        };
        match crate::pipeline::render_masked(&cfg, &self.types, &self.destinations) {
            Ok(r) => review.yaml = Some(r.yaml),
            Err(problems) => review.problems = problems.iter().map(|p| p.to_string()).collect(),
        }
        review.legend = self.legend();
        // What the forms say is wrong, though it renders (an endpoint that is no URL);
        // when it does not render, the renderer has named the problems already.
        if self.draft.raw.is_none() && review.problems.is_empty() {
            let inline = self.draft.destinations.iter().filter_map(|d| match d {
                DestinationItem::Inline(c) => Some(c),
                DestinationItem::Named(_) => None,
            });
            let attached = self
                .attached
                .iter()
                .chain(self.dest_attached.iter())
                .flatten()
                .filter_map(|a| a.form.as_ref());
            for c in self
                .draft
                .sources
                .iter()
                .chain(self.draft.processors.iter())
                .chain(inline)
                .chain(attached)
            {
                for (param, message) in c.problems() {
                    let p = format!("{} {}: {param} {message}", c.kind.noun(), c.type_name);
                    if !review.problems.contains(&p) {
                        review.problems.push(p);
                    }
                }
            }
        }
        if self.draft.raw.is_none() && self.draft.sources.is_empty() {
            review
                .problems
                .insert(0, "no sources: step 1 chooses them".into());
        }
        if let Some(yaml) = &review.yaml {
            match self.diff_with {
                DiffWith::Nothing => {
                    review.diff_title =
                        format!("{}: compare", self.key_of(Action::Wizard(W::Compare)))
                }
                DiffWith::Previous => match self.existing.get(&self.name) {
                    Some((version, prev)) => {
                        let before =
                            crate::pipeline::render_masked(prev, &self.types, &self.destinations)
                                .map(|r| r.yaml)
                                .unwrap_or_default();
                        review.diff = Some(crate::pipeline::diff(&before, yaml));
                        review.diff_title = format!("diff with {} version {version}", self.name);
                    }
                    None => {
                        review.diff_title = if self.name.is_empty() {
                            "no earlier version (not named yet)".into()
                        } else {
                            format!("{} has no earlier version", self.name)
                        }
                    }
                },
                DiffWith::Agent(id) => match snap.get(&id) {
                    Some(a) => {
                        let body =
                            a.effective_config
                                .as_ref()
                                .and_then(|c| c.main_body())
                                .map(|b| {
                                    let text = String::from_utf8_lossy(b);
                                    self.redactor.mask(&text).into_owned()
                                });
                        match body {
                            Some(before) => {
                                review.diff = Some(crate::pipeline::diff(&before, yaml));
                                review.diff_title =
                                    format!("diff with {}'s effective config", a.name);
                            }
                            None => {
                                review.diff_title =
                                    format!("{} reports no effective config", a.name)
                            }
                        }
                    }
                    None => review.diff_title = format!("agent {id} is gone"),
                },
            }
        }
        self.review = review;
    }

    /// `source<i> = label` for every source and `destination<j> = label` for every inline
    /// destination (the IDs the rendered YAML uses), when some label is not just its type.
    pub(super) fn legend(&self) -> Option<String> {
        if self.draft.raw.is_some() {
            return None;
        }
        let d = &self.draft;
        let sources = d.sources.iter().map(|c| c.type_name.as_str());
        let dests = d.destinations.iter().map(|x| match x {
            DestinationItem::Inline(c) => Some(c.type_name.as_str()),
            DestinationItem::Named(_) => None,
        });
        let mut parts = Vec::new();
        let mut needed = false;
        for (i, (ty, label)) in sources.zip(d.source_labels()).enumerate() {
            needed |= label != ty;
            parts.push(format!("source{i} = {label}"));
        }
        for (j, (ty, label)) in dests.zip(d.destination_labels()).enumerate() {
            if let Some(ty) = ty {
                needed |= label != ty;
                parts.push(format!("destination{j} = {label}"));
            }
        }
        needed.then(|| parts.join(" · "))
    }

    /// The Collector YAML the editor starts with: the raw text, or the current render
    /// (unmasked, so secrets survive the round trip).
    pub(super) fn raw_text(&self) -> String {
        if let Some(raw) = &self.draft.raw {
            return raw.clone();
        }
        let mut cfg = self.configuration();
        if cfg.metadata.name.is_empty() {
            cfg.metadata.name = "untitled".into();
        }
        crate::pipeline::render(&cfg, &self.types, &self.destinations)
            .map(|r| r.yaml)
            .unwrap_or_default()
    }

    pub(super) fn edited(&mut self, text: String, snap: &FleetSnapshot) {
        let before = self.raw_text();
        if text.trim_end() == before.trim_end() {
            self.say(Level::Info, "the editor returned the text unchanged");
            return;
        }
        self.draft.raw = Some(text);
        self.save = SaveState::NotSaved;
        self.refresh_review(snap);
        if self.review.problems.is_empty() {
            let drop = self.key_of(Action::Wizard(W::DropRaw));
            self.say(
                Level::Ok,
                format!("raw configuration checked: it is what will be saved ({drop} drops it)"),
            );
        } else {
            self.say(
                Level::Error,
                format!(
                    "{} problem(s) in the edited YAML; {} edits again",
                    self.review.problems.len(),
                    self.key_of(Action::Wizard(W::EditRaw))
                ),
            );
        }
    }
}

/// Agents reporting an effective config, in snapshot order.
fn agents_with_config(snap: &FleetSnapshot) -> Vec<AgentId> {
    snap.agents
        .iter()
        .filter(|a| {
            a.effective_config
                .as_ref()
                .and_then(|c| c.main_body())
                .is_some()
        })
        .map(|a| a.id)
        .collect()
}
