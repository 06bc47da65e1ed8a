//! Keys → actions, per context, with a description for every binding. The footer hints
//! and the `?` overlay are generated from this table, so they cannot drift from the real
//! bindings. Users override bindings by action name from a TOML table; anything that
//! does not parse becomes a warning shown in the UI, never a crash.

use std::fmt;

use crossterm::event::{KeyCode, KeyEvent, KeyEventKind, KeyModifiers};

use super::action::{Action, SortKey, WizardAction};

/// Where a binding applies. A view looks keys up in its own contexts first, then in
/// `List` (if it is a list) and finally `Global`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Context {
    Global,
    /// Moving through anything that scrolls.
    Scroll,
    /// Lists whose rows can be opened.
    List,
    Agents,
    Detail,
    /// The detail of an agent that can be tapped (io.fleetdeck.tap).
    DetailTap,
    /// A tap on an agent's pipeline.
    Tap,
    /// The configurations list and a configuration's detail.
    Configs,
    /// Every step of the pipeline builder.
    Wizard,
    /// Step 1 of the builder: choosing source types.
    WizardSources,
    /// The builder's form steps (sources' forms, processors, destinations).
    WizardForm,
    /// The builder's review of the rendered YAML.
    WizardReview,
    /// The builder's save step.
    WizardSave,
    /// The builder's push step, while choosing targets.
    WizardPush,
    /// The builder's push step, while following the rollout.
    WizardFollow,
    /// A question on screen (quit, restart, push…): it has the keyboard.
    Confirm,
}

impl Context {
    pub fn title(self) -> &'static str {
        match self {
            Context::Global => "Everywhere",
            Context::Scroll => "Moving",
            Context::List => "Lists",
            Context::Agents => "Agents",
            Context::Detail => "Agent detail",
            Context::DetailTap => "Agent detail (agents that can be tapped)",
            Context::Tap => "Tap",
            Context::Configs => "Configurations",
            Context::Wizard => "Pipeline builder",
            Context::WizardSources => "Pipeline builder sources",
            Context::WizardForm => "Pipeline builder forms",
            Context::WizardReview => "Pipeline builder review",
            Context::WizardSave => "Pipeline builder save",
            Context::WizardPush => "Pipeline builder push",
            Context::WizardFollow => "Pipeline builder rollout",
            Context::Confirm => "Questions",
        }
    }
}

/// One key with its modifiers, normalised so that `G` and `Shift+g` are the same chord.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct KeyChord {
    pub code: KeyCode,
    pub ctrl: bool,
    pub alt: bool,
}

impl KeyChord {
    pub const fn plain(code: KeyCode) -> Self {
        KeyChord {
            code,
            ctrl: false,
            alt: false,
        }
    }

    pub const fn ch(c: char) -> Self {
        Self::plain(KeyCode::Char(c))
    }

    pub const fn ctrl(c: char) -> Self {
        KeyChord {
            code: KeyCode::Char(c),
            ctrl: true,
            alt: false,
        }
    }

    /// `None` for key releases and repeats of keys we do not act on.
    pub fn from_event(ev: &KeyEvent) -> Option<Self> {
        if ev.kind == KeyEventKind::Release {
            return None;
        }
        let ctrl = ev.modifiers.contains(KeyModifiers::CONTROL);
        let alt = ev.modifiers.contains(KeyModifiers::ALT);
        let code = match ev.code {
            // Shift is already in the character; Ctrl chords are case-insensitive.
            KeyCode::Char(c) if ctrl => KeyCode::Char(c.to_ascii_lowercase()),
            KeyCode::Tab if ev.modifiers.contains(KeyModifiers::SHIFT) => KeyCode::BackTab,
            other => other,
        };
        Some(KeyChord { code, ctrl, alt })
    }

    /// Parses `q`, `G`, `?`, `ctrl+d`, `alt+x`, `shift+tab`, `enter`, `esc`, `space`,
    /// `up`, `pgdn`, `home`, `f5`…
    pub fn parse(text: &str) -> Result<Self, String> {
        let mut ctrl = false;
        let mut alt = false;
        let mut shift = false;
        let mut rest = text.trim();
        if rest.is_empty() {
            return Err("empty key".into());
        }
        // A lone "+" or "-" is a key, not a separator.
        while rest.len() > 1 {
            let Some((prefix, tail)) = rest.split_once(['+', '-']) else {
                break;
            };
            match prefix.to_ascii_lowercase().as_str() {
                "ctrl" | "c" => ctrl = true,
                "alt" | "a" | "m" | "meta" => alt = true,
                "shift" | "s" => shift = true,
                _ => return Err(format!("unknown modifier '{prefix}' in '{text}'")),
            }
            if tail.is_empty() {
                return Err(format!("'{text}' has a modifier but no key"));
            }
            rest = tail;
        }
        let lower = rest.to_ascii_lowercase();
        let code = match lower.as_str() {
            "enter" | "return" | "cr" => KeyCode::Enter,
            "esc" | "escape" => KeyCode::Esc,
            "tab" if shift => KeyCode::BackTab,
            "tab" => KeyCode::Tab,
            "backtab" => KeyCode::BackTab,
            "space" => KeyCode::Char(' '),
            "backspace" | "bs" => KeyCode::Backspace,
            "delete" | "del" => KeyCode::Delete,
            "insert" | "ins" => KeyCode::Insert,
            "up" => KeyCode::Up,
            "down" => KeyCode::Down,
            "left" => KeyCode::Left,
            "right" => KeyCode::Right,
            "home" => KeyCode::Home,
            "end" => KeyCode::End,
            "pgup" | "pageup" => KeyCode::PageUp,
            "pgdn" | "pgdown" | "pagedown" => KeyCode::PageDown,
            _ if lower.len() > 1 && lower.starts_with('f') && lower[1..].parse::<u8>().is_ok() => {
                match lower[1..].parse::<u8>() {
                    Ok(n @ 1..=24) => KeyCode::F(n),
                    _ => return Err(format!("no function key '{rest}'")),
                }
            }
            _ => {
                let mut chars = rest.chars();
                match (chars.next(), chars.next()) {
                    (Some(c), None) => {
                        let c = if ctrl {
                            c.to_ascii_lowercase()
                        } else if shift {
                            c.to_ascii_uppercase()
                        } else {
                            c
                        };
                        KeyCode::Char(c)
                    }
                    _ => return Err(format!("unknown key '{rest}'")),
                }
            }
        };
        Ok(KeyChord { code, ctrl, alt })
    }
}

impl fmt::Display for KeyChord {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.ctrl {
            f.write_str("^")?;
        }
        if self.alt {
            f.write_str("M-")?;
        }
        match self.code {
            KeyCode::Char(' ') => f.write_str("space"),
            KeyCode::Char(c) => write!(f, "{c}"),
            KeyCode::Enter => f.write_str("enter"),
            KeyCode::Esc => f.write_str("esc"),
            KeyCode::Tab => f.write_str("tab"),
            KeyCode::BackTab => f.write_str("S-tab"),
            KeyCode::Backspace => f.write_str("bksp"),
            KeyCode::Delete => f.write_str("del"),
            KeyCode::Insert => f.write_str("ins"),
            KeyCode::Up => f.write_str("↑"),
            KeyCode::Down => f.write_str("↓"),
            KeyCode::Left => f.write_str("←"),
            KeyCode::Right => f.write_str("→"),
            KeyCode::Home => f.write_str("home"),
            KeyCode::End => f.write_str("end"),
            KeyCode::PageUp => f.write_str("pgup"),
            KeyCode::PageDown => f.write_str("pgdn"),
            KeyCode::F(n) => write!(f, "F{n}"),
            other => write!(f, "{other:?}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Binding {
    pub context: Context,
    pub action: Action,
    pub keys: Vec<KeyChord>,
    /// Shown in the footer of its context (the overlay shows every binding).
    pub hint: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Keymap {
    bindings: Vec<Binding>,
    /// Problems found in the user's overrides, shown in the header and the help overlay.
    pub warnings: Vec<String>,
}

impl Default for Keymap {
    fn default() -> Self {
        use Action as A;
        use Context as C;
        use KeyChord as K;
        let b = |context, action, keys: &[KeyChord], hint| Binding {
            context,
            action,
            keys: keys.to_vec(),
            hint,
        };
        let sort = |key, c| b(C::Agents, A::SortBy(key), &[K::ch(c)], false);
        use WizardAction as W;
        let wiz = |action, keys: &[KeyChord]| b(C::Wizard, A::Wizard(action), keys, true);
        let form =
            |action, keys: &[KeyChord], hint| b(C::WizardForm, A::Wizard(action), keys, hint);
        let step = |context, action, keys: &[KeyChord]| b(context, A::Wizard(action), keys, true);
        let space = K::ch(' ');
        let enter = K::plain(KeyCode::Enter);
        Keymap {
            bindings: vec![
                b(C::Global, A::Help, &[K::ch('?')], true),
                b(C::Confirm, A::Accept, &[K::ch('y')], true),
                b(
                    C::Confirm,
                    A::Decline,
                    &[K::plain(KeyCode::Esc), K::ch('n')],
                    true,
                ),
                b(C::Global, A::Palette, &[K::ch(':')], true),
                b(C::Global, A::Back, &[K::plain(KeyCode::Esc)], true),
                b(C::Global, A::Quit, &[K::ch('q')], true),
                b(C::Global, A::ForceQuit, &[K::ctrl('c')], false),
                b(C::Global, A::ViewAgents, &[K::ch('1')], false),
                b(C::Global, A::ViewConfigs, &[K::ch('2')], false),
                b(C::Global, A::ViewEvents, &[K::ch('3')], false),
                b(C::Global, A::NextView, &[K::plain(KeyCode::Tab)], true),
                b(C::Global, A::PrevView, &[K::plain(KeyCode::BackTab)], false),
                b(C::Global, A::Freeze, &[K::ch('f')], false),
                b(C::Global, A::CycleTheme, &[K::ch('t')], false),
                b(
                    C::Scroll,
                    A::Up,
                    &[K::ch('k'), K::plain(KeyCode::Up)],
                    false,
                ),
                b(
                    C::Scroll,
                    A::Down,
                    &[K::ch('j'), K::plain(KeyCode::Down)],
                    false,
                ),
                b(
                    C::Scroll,
                    A::PageUp,
                    &[K::plain(KeyCode::PageUp), K::ctrl('u'), K::ctrl('b')],
                    false,
                ),
                b(
                    C::Scroll,
                    A::PageDown,
                    &[K::plain(KeyCode::PageDown), K::ctrl('d'), K::ctrl('f')],
                    false,
                ),
                b(
                    C::Scroll,
                    A::Top,
                    &[K::ch('g'), K::plain(KeyCode::Home)],
                    false,
                ),
                b(
                    C::Scroll,
                    A::Bottom,
                    &[K::ch('G'), K::plain(KeyCode::End)],
                    false,
                ),
                b(C::List, A::Open, &[K::plain(KeyCode::Enter)], true),
                b(C::List, A::NewConfig, &[K::ch('n')], true),
                b(C::Agents, A::Filter, &[K::ch('/')], true),
                b(C::Agents, A::ToggleMark, &[K::ch(' ')], true),
                b(C::Agents, A::MarkAll, &[K::ctrl('a')], false),
                sort(SortKey::Name, 'N'),
                sort(SortKey::Host, 'H'),
                sort(SortKey::Version, 'V'),
                sort(SortKey::Status, 'S'),
                sort(SortKey::Health, 'E'),
                sort(SortKey::Config, 'C'),
                sort(SortKey::LastSeen, 'L'),
                b(C::Agents, A::InvertSort, &[K::ch('I')], false),
                b(C::Agents, A::SharedScale, &[K::ch('s')], false),
                b(C::Agents, A::Restart, &[K::ch('R')], false),
                b(C::Agents, A::Forget, &[K::ch('D')], false),
                b(C::Configs, A::EditConfig, &[K::ch('e')], true),
                b(C::Configs, A::DiffBase, &[K::ch(' ')], false),
                b(C::Configs, A::Diff, &[K::ch('d')], true),
                b(C::Configs, A::Flow, &[K::ch('w')], true),
                b(C::Configs, A::FlowPeriod, &[K::ch('i')], false),
                b(C::Configs, A::PauseRollout, &[K::ch('p')], true),
                b(C::Configs, A::ResumeRollout, &[K::ch('r')], false),
                b(C::Configs, A::CancelRollout, &[K::ch('c')], false),
                b(C::Configs, A::RollbackRollout, &[K::ch('R')], false),
                wiz(W::NextStep, &[K::ch('n')]),
                wiz(W::PrevStep, &[K::ch('b')]),
                wiz(W::Close, &[K::plain(KeyCode::Esc), K::ch('q')]),
                form(W::Edit, &[K::plain(KeyCode::Enter), K::ch('e')], true),
                form(W::Toggle, &[K::ch(' ')], true),
                form(W::PrevValue, &[K::ch('h'), K::plain(KeyCode::Left)], false),
                form(W::NextValue, &[K::ch('l'), K::plain(KeyCode::Right)], false),
                form(W::NextPart, &[K::plain(KeyCode::Tab), K::ch(']')], true),
                form(
                    W::PrevPart,
                    &[K::plain(KeyCode::BackTab), K::ch('[')],
                    false,
                ),
                form(W::Add, &[K::ch('a')], true),
                form(W::AddSourceProcessor, &[K::ch('p')], true),
                form(W::Rename, &[K::ch('r')], true),
                form(W::Remove, &[K::ch('x'), K::plain(KeyCode::Delete)], true),
                form(W::MoveUp, &[K::ch('K')], true),
                form(W::MoveDown, &[K::ch('J')], true),
                form(W::Advanced, &[K::ch('A')], true),
                step(C::WizardSources, W::Choose, &[space, enter]),
                step(C::WizardSources, W::AddAnother, &[K::ch('+')]),
                step(C::WizardSources, W::Search, &[K::ch('/')]),
                step(C::WizardReview, W::Save, &[enter]),
                step(C::WizardReview, W::Compare, &[K::ch('d')]),
                step(C::WizardReview, W::PrevAgent, &[K::ch('[')]),
                step(C::WizardReview, W::NextAgent, &[K::ch(']')]),
                step(C::WizardReview, W::EditRaw, &[K::ch('e')]),
                step(C::WizardReview, W::DropRaw, &[K::ch('x')]),
                // The review pages with space too, as a pager does.
                b(C::WizardReview, A::PageDown, &[space], false),
                step(C::WizardSave, W::Save, &[enter, K::ch('s')]),
                step(C::WizardSave, W::NameConfig, &[K::ch('r')]),
                step(C::WizardPush, W::Mark, &[space]),
                step(C::WizardPush, W::MarkAll, &[K::ch('*')]),
                step(
                    C::WizardPush,
                    W::Targets,
                    &[K::plain(KeyCode::Tab), K::plain(KeyCode::BackTab)],
                ),
                step(C::WizardPush, W::EditSelector, &[K::ch('/'), K::ch('e')]),
                step(C::WizardPush, W::Push, &[enter, K::ch('p')]),
                step(C::WizardPush, W::RolloutOptions, &[K::ch('o')]),
                // Following the rollout it started, the builder steers it with the keys
                // the Configurations view uses.
                b(C::WizardFollow, A::PauseRollout, &[K::ch('p')], true),
                b(C::WizardFollow, A::ResumeRollout, &[K::ch('r')], true),
                b(C::WizardFollow, A::CancelRollout, &[K::ch('c')], true),
                b(C::WizardFollow, A::RollbackRollout, &[K::ch('R')], true),
                b(C::DetailTap, A::Tap, &[K::ch('T')], true),
                b(C::Tap, A::Filter, &[K::ch('/')], true),
                b(C::Tap, A::TapPipeline, &[K::ch('p')], true),
                b(C::Tap, A::Freeze, &[K::ch('f')], true),
                b(
                    C::Detail,
                    A::NextSection,
                    &[K::plain(KeyCode::Tab), K::ch('l'), K::plain(KeyCode::Right)],
                    true,
                ),
                b(
                    C::Detail,
                    A::PrevSection,
                    &[
                        K::plain(KeyCode::BackTab),
                        K::ch('h'),
                        K::plain(KeyCode::Left),
                    ],
                    false,
                ),
            ],
            warnings: Vec::new(),
        }
    }
}

impl Keymap {
    /// The defaults with the user's overrides applied. `table` maps action names to a key
    /// or a list of keys, e.g. `quit = "x"` or `down = ["j", "ctrl+n"]`. `origin` names
    /// where the table came from, for the warnings.
    pub fn with_overrides(table: &toml::Table, origin: &str) -> Self {
        let mut map = Keymap::default();
        for (name, value) in table {
            let where_ = format!("{origin}: keymap.{name}");
            let Some(action) = Action::from_name(name) else {
                map.warnings
                    .push(format!("{where_}: unknown action '{name}' (ignored)"));
                continue;
            };
            let texts: Vec<&str> = match value {
                toml::Value::String(s) => vec![s.as_str()],
                toml::Value::Array(items) => {
                    let strings: Vec<&str> = items.iter().filter_map(|v| v.as_str()).collect();
                    if strings.len() != items.len() {
                        map.warnings
                            .push(format!("{where_}: keys must be strings (ignored)"));
                        continue;
                    }
                    strings
                }
                _ => {
                    map.warnings.push(format!(
                        "{where_}: expected a key or a list of keys (ignored)"
                    ));
                    continue;
                }
            };
            let mut keys = Vec::new();
            for text in texts {
                match KeyChord::parse(text) {
                    Ok(k) => keys.push(k),
                    Err(e) => map.warnings.push(format!("{where_}: {e} (ignored)")),
                }
            }
            if keys.is_empty() {
                continue;
            }
            // An action bound in two contexts (paging, steering a rollout) moves in both.
            for binding in map.bindings.iter_mut().filter(|b| b.action == action) {
                binding.keys = keys.clone();
            }
        }
        map
    }

    /// The action for `key`, trying `contexts` in order.
    pub fn lookup(&self, contexts: &[Context], key: KeyChord) -> Option<Action> {
        contexts.iter().find_map(|ctx| {
            self.bindings
                .iter()
                .find(|b| b.context == *ctx && b.keys.contains(&key))
                .map(|b| b.action)
        })
    }

    /// The first key bound to `action`, for messages like "press ? for help".
    pub fn key_for(&self, action: Action) -> Option<KeyChord> {
        self.bindings
            .iter()
            .find(|b| b.action == action)
            .and_then(|b| b.keys.first().copied())
    }

    /// Footer hints for a view: `(key, short label)`, most specific context first.
    pub fn hints(&self, contexts: &[Context]) -> Vec<(String, &'static str)> {
        let mut out = Vec::new();
        for ctx in contexts {
            for b in self.bindings.iter().filter(|b| b.context == *ctx && b.hint) {
                // A key a more specific context takes over is not worth a hint.
                if let Some(k) = b.keys.first()
                    && self.lookup(contexts, *k) == Some(b.action)
                {
                    out.push((k.to_string(), b.action.hint()));
                }
            }
        }
        out
    }

    /// Every binding grouped by context, for the help overlay.
    pub fn sections(&self, contexts: &[Context]) -> Vec<(Context, Vec<(String, &'static str)>)> {
        contexts
            .iter()
            .map(|ctx| {
                let rows = self
                    .bindings
                    .iter()
                    .filter(|b| b.context == *ctx && !b.keys.is_empty())
                    .map(|b| {
                        let keys: Vec<String> = b.keys.iter().map(|k| k.to_string()).collect();
                        (keys.join(" "), b.action.description())
                    })
                    .collect();
                (*ctx, rows)
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_key_spellings_users_write() {
        assert_eq!(KeyChord::parse("q"), Ok(KeyChord::ch('q')));
        assert_eq!(KeyChord::parse("G"), Ok(KeyChord::ch('G')));
        assert_eq!(KeyChord::parse("shift+g"), Ok(KeyChord::ch('G')));
        assert_eq!(KeyChord::parse("ctrl+D"), Ok(KeyChord::ctrl('d')));
        assert_eq!(KeyChord::parse("C-d"), Ok(KeyChord::ctrl('d')));
        assert_eq!(
            KeyChord::parse("shift+tab"),
            Ok(KeyChord::plain(KeyCode::BackTab))
        );
        assert_eq!(KeyChord::parse("F5"), Ok(KeyChord::plain(KeyCode::F(5))));
        assert_eq!(KeyChord::parse("+"), Ok(KeyChord::ch('+')));
        assert_eq!(KeyChord::parse("space"), Ok(KeyChord::ch(' ')));
        assert!(KeyChord::parse("hyper+x").is_err());
        assert!(KeyChord::parse("ctrl+").is_err());
        assert!(KeyChord::parse("f99").is_err());
        assert!(KeyChord::parse("banana").is_err());
    }

    #[test]
    fn shifted_letters_from_the_terminal_match_the_table() {
        let ev = KeyEvent::new(KeyCode::Char('G'), KeyModifiers::SHIFT);
        assert_eq!(KeyChord::from_event(&ev), Some(KeyChord::ch('G')));
        let ev = KeyEvent::new(KeyCode::Tab, KeyModifiers::SHIFT);
        assert_eq!(
            KeyChord::from_event(&ev),
            Some(KeyChord::plain(KeyCode::BackTab))
        );
    }

    #[test]
    fn the_most_specific_context_wins() {
        let map = Keymap::default();
        let tab = KeyChord::plain(KeyCode::Tab);
        assert_eq!(
            map.lookup(&[Context::Detail, Context::List, Context::Global], tab),
            Some(Action::NextSection)
        );
        assert_eq!(
            map.lookup(&[Context::Agents, Context::List, Context::Global], tab),
            Some(Action::NextView)
        );
    }

    #[test]
    fn every_builder_action_has_a_key_a_name_and_a_help_line() {
        let map = Keymap::default();
        for w in WizardAction::ALL {
            let a = Action::Wizard(w);
            assert!(map.key_for(a).is_some(), "{a:?} has no key");
            assert_eq!(Action::from_name(a.name()), Some(a), "{a:?} name");
            assert!(!a.description().is_empty());
        }
        let help = map.sections(&[Context::WizardForm]);
        assert!(
            help[0].1.contains(&(
                "p".to_string(),
                "add a processor to the source/destination shown"
            )),
            "{help:?}"
        );
        // Rebinding a builder key by its action name works like any other.
        let table: toml::Table =
            toml::from_str(r#"wizard_add_source_processor = "P""#).unwrap_or_default();
        let map = Keymap::with_overrides(&table, "fleetdeck.toml");
        assert!(map.warnings.is_empty(), "{:?}", map.warnings);
        assert_eq!(
            map.lookup(&[Context::WizardForm], KeyChord::ch('P')),
            Some(Action::Wizard(WizardAction::AddSourceProcessor))
        );
        assert_eq!(map.lookup(&[Context::WizardForm], KeyChord::ch('p')), None);
    }

    #[test]
    fn overrides_replace_keys_and_bad_entries_become_warnings() {
        let table: toml::Table = toml::from_str(
            r#"
            quit = "x"
            down = ["j", "ctrl+n"]
            teleport = "z"
            up = "hyper+k"
            help = 3
            "#,
        )
        .unwrap();
        let map = Keymap::with_overrides(&table, "fleetdeck.toml");
        let g = [Context::Scroll, Context::Global];
        assert_eq!(map.lookup(&g, KeyChord::ch('x')), Some(Action::Quit));
        assert_eq!(map.lookup(&g, KeyChord::ch('q')), None);
        assert_eq!(map.lookup(&g, KeyChord::ctrl('n')), Some(Action::Down));
        // The bad `up` override leaves the default keys in place.
        assert_eq!(map.lookup(&g, KeyChord::ch('k')), Some(Action::Up));
        assert_eq!(map.warnings.len(), 3, "{:?}", map.warnings);
        assert!(
            map.warnings
                .iter()
                .any(|w| w.contains("keymap.teleport") && w.contains("unknown action"))
        );
        assert!(map.warnings.iter().any(|w| w.contains("hyper")));
        // The footer follows the override.
        assert!(map.hints(&g).contains(&("x".to_string(), "quit")));
    }
}
