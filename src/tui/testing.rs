//! Drawing and typing without a terminal, for tests, benchmarks and screenshots (which
//! live outside `src/tui/` and so must not name ratatui or crossterm themselves).

use crossterm::event::{KeyEvent, KeyModifiers};
use ratatui::Terminal;
use ratatui::backend::TestBackend;

use super::app::App;
use super::draw;
use super::effects::Effect;
use super::keymap::KeyChord;
use super::svg::{self, Defaults};

/// An off-screen terminal of a fixed size.
pub struct Screen {
    terminal: Terminal<TestBackend>,
}

impl Screen {
    pub fn new(width: u16, height: u16) -> Self {
        let backend = TestBackend::new(width, height);
        // TestBackend never fails to construct a terminal.
        let terminal = Terminal::new(backend).unwrap_or_else(|e| match e {});
        Screen { terminal }
    }

    /// Draws one frame of `app` (the same code path as the real terminal: render, then
    /// the buffer diff).
    pub fn draw(&mut self, app: &App) {
        let _ = self
            .terminal
            .draw(|f| draw::render(app, f.area(), f.buffer_mut()));
    }

    /// The screen as text, one line per row, trailing spaces kept.
    pub fn text(&self) -> String {
        let buf = self.terminal.backend().buffer();
        let mut out = String::new();
        for y in 0..buf.area.height {
            for x in 0..buf.area.width {
                out.push_str(buf[(x, y)].symbol());
            }
            out.push('\n');
        }
        out
    }

    pub fn svg(&self, defaults: Defaults) -> String {
        svg::buffer_to_svg(self.terminal.backend().buffer(), defaults)
    }

    /// The style of the cell at (x, y) as debug text, for colour assertions.
    pub fn style_at(&self, x: u16, y: u16) -> String {
        let c = &self.terminal.backend().buffer()[(x, y)];
        format!("{:?} {:?} {:?}", c.fg, c.bg, c.modifier)
    }
}

/// Renders `app` at its current size and returns the text.
pub fn render_text(app: &App) -> String {
    let mut s = Screen::new(app.size.0, app.size.1);
    s.draw(app);
    s.text()
}

/// Presses keys written as in the keymap (`j`, `G`, `ctrl+d`, `enter`, `esc`), one per
/// entry, and collects the effects. A key that does not parse panics: tests only.
pub fn press(app: &mut App, keys: &[&str]) -> Vec<Effect> {
    let mut effects = Vec::new();
    for k in keys {
        let chord = KeyChord::parse(k).unwrap_or_else(|e| panic!("test key {k:?}: {e}"));
        effects.extend(app.handle_key(&key_event(chord)));
    }
    effects
}

/// What the catalog answers when configuration `name` is stored for the first time.
pub fn created(name: &str) -> crate::catalog::ApplyResult {
    crate::catalog::ApplyResult {
        kind: crate::catalog::CONFIGURATION.into(),
        name: name.into(),
        status: crate::catalog::ApplyStatus::Created,
        version: Some(1),
        problems: Vec::new(),
        note: None,
    }
}

/// From the builder's review: goes to the save step, names the configuration `name`, saves
/// it and hands the builder the catalog's answer (a first version).
pub fn save_as(app: &mut App, name: &str) {
    // The name editor opens with a suggestion: replaced.
    press(app, &["n", "ctrl+u"]);
    type_text(app, name);
    press(app, &["enter"]);
    app.wizard_message(super::wizard::WizardMsg::Saved(created(name)));
}

/// Types text into whatever input is open (filter or palette), one key per character.
pub fn type_text(app: &mut App, text: &str) {
    for c in text.chars() {
        app.handle_key(&key_event(KeyChord::ch(c)));
    }
}

fn key_event(chord: KeyChord) -> KeyEvent {
    let mut mods = KeyModifiers::NONE;
    if chord.ctrl {
        mods |= KeyModifiers::CONTROL;
    }
    if chord.alt {
        mods |= KeyModifiers::ALT;
    }
    if let crossterm::event::KeyCode::Char(c) = chord.code
        && c.is_ascii_uppercase()
    {
        // What terminals send for a shifted letter.
        mods |= KeyModifiers::SHIFT;
    }
    KeyEvent::new(chord.code, mods)
}

/// Turns the mouse wheel once over the screen.
pub fn wheel(app: &mut App, down: bool) -> Vec<Effect> {
    use crossterm::event::{Event, MouseEvent, MouseEventKind};
    let kind = if down {
        MouseEventKind::ScrollDown
    } else {
        MouseEventKind::ScrollUp
    };
    app.handle_event(&Event::Mouse(MouseEvent {
        kind,
        column: 10,
        row: 10,
        modifiers: KeyModifiers::NONE,
    }))
}

/// Clicks the left button at a screen cell.
pub fn click(app: &mut App, column: u16, row: u16) -> Vec<Effect> {
    use crossterm::event::{Event, MouseButton, MouseEvent, MouseEventKind};
    app.handle_event(&Event::Mouse(MouseEvent {
        kind: MouseEventKind::Down(MouseButton::Left),
        column,
        row,
        modifiers: KeyModifiers::NONE,
    }))
}

/// The terminal was resized.
pub fn resize(app: &mut App, width: u16, height: u16) {
    app.handle_event(&crossterm::event::Event::Resize(width, height));
}

/// The open builder; a test that expects one fails here when it is closed.
pub fn wizard(app: &App) -> &super::wizard::Wizard {
    match app.wizard.as_ref() {
        Some(w) => w,
        None => panic!("the wizard is open"),
    }
}

/// From the builder's review: names the configuration `name` and returns what the save step
/// hands to the catalog.
pub fn configuration_saved_as(app: &mut App, name: &str) -> crate::pipeline::Configuration {
    press(app, &["n", "ctrl+u"]);
    type_text(app, name);
    // Enter names it and saves.
    let saves: Vec<crate::pipeline::Configuration> = press(app, &["enter"])
        .into_iter()
        .filter_map(|e| match e {
            Effect::Wizard(super::wizard::WizardEffect::Save(cfg)) => Some((*cfg).clone()),
            _ => None,
        })
        .collect();
    match <[_; 1]>::try_from(saves) {
        Ok([cfg]) => cfg,
        Err(saves) => panic!("expected one save, got {}", saves.len()),
    }
}

/// In the builder's form shown, moves the cursor to field `name` (from the top).
pub fn to_wizard_field(app: &mut App, name: &str) {
    press(app, &["g"]);
    for _ in 0..20 {
        let w = wizard(app);
        let here = w
            .current_field()
            .and_then(|i| w.current().map(|c| c.fields[i].name() == name));
        if here == Some(true) {
            return;
        }
        press(app, &["j"]);
    }
    panic!("no field {name} in the form shown");
}

/// Replaces the value of field `name` in the builder's form shown with `text`.
pub fn set_wizard_field(app: &mut App, name: &str, text: &str) {
    to_wizard_field(app, name);
    press(app, &["enter", "ctrl+u"]);
    type_text(app, text);
    press(app, &["enter"]);
}

/// The processor ids of `pipeline` (e.g. `metrics`) in rendered Collector YAML, in order.
pub fn pipeline_processors(yaml: &str, pipeline: &str) -> Vec<String> {
    let doc: serde_norway::Value = match serde_norway::from_str(yaml) {
        Ok(doc) => doc,
        Err(e) => panic!("rendered YAML does not parse: {e}"),
    };
    doc["service"]["pipelines"][pipeline]["processors"]
        .as_sequence()
        .map(|s| {
            s.iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}
