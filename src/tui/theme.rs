//! Colour themes: semantic slots read from TOML (`themes/*.toml`, embedded in the binary),
//! reduced once at load time to what the terminal can show (24-bit, 256, 16 colours or
//! none). State is never shown by colour alone: views pair colours with glyphs and words.

use std::collections::BTreeMap;
use std::str::FromStr;

use ratatui::style::{Color, Modifier, Style};

/// The themes shipped in the binary, by name.
pub const BUILTIN: [(&str, &str); 4] = [
    ("dark", include_str!("../../themes/dark.toml")),
    ("light", include_str!("../../themes/light.toml")),
    (
        "high-contrast",
        include_str!("../../themes/high-contrast.toml"),
    ),
    ("mono", include_str!("../../themes/mono.toml")),
];

pub fn builtin_names() -> impl Iterator<Item = &'static str> {
    BUILTIN.iter().map(|(n, _)| *n)
}

/// What the terminal can display, decided once at start-up.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ColorLevel {
    TrueColor,
    Ansi256,
    Ansi16,
    /// `NO_COLOR` is set: attributes only (bold, reverse, underline).
    None,
}

impl ColorLevel {
    /// From the values of `NO_COLOR`, `COLORTERM` and `TERM` (no-color.org, then the
    /// usual truecolor advertisement, then the terminfo name).
    pub fn detect(no_color: Option<&str>, colorterm: Option<&str>, term: Option<&str>) -> Self {
        if no_color.is_some_and(|v| !v.is_empty()) {
            return ColorLevel::None;
        }
        if colorterm.is_some_and(|c| c.eq_ignore_ascii_case("truecolor") || c == "24bit") {
            return ColorLevel::TrueColor;
        }
        match term {
            Some(t) if t.contains("256color") => ColorLevel::Ansi256,
            _ => ColorLevel::Ansi16,
        }
    }

    pub fn from_env() -> Self {
        let var = |k| std::env::var(k).ok();
        Self::detect(
            var("NO_COLOR").as_deref(),
            var("COLORTERM").as_deref(),
            var("TERM").as_deref(),
        )
    }
}

#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ThemeError {
    #[error("no theme named '{0}' (available: {list})", list = builtin_names().collect::<Vec<_>>().join(", "))]
    Unknown(String),
    #[error("theme '{theme}': {message}")]
    Invalid { theme: String, message: String },
}

/// Every slot a view may style. Slots are semantic ("ok", "selection"), not colours.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Theme {
    pub name: String,
    pub text: Style,
    pub muted: Style,
    pub accent: Style,
    pub title: Style,
    pub border: Style,
    pub header: Style,
    pub footer: Style,
    pub key: Style,
    pub table_header: Style,
    pub selection: Style,
    pub marked: Style,
    pub ok: Style,
    pub warn: Style,
    pub err: Style,
    pub info: Style,
    pub spark_logs: Style,
    pub spark_metrics: Style,
    pub spark_traces: Style,
    pub spark_cpu: Style,
    pub spark_memory: Style,
    pub yaml_key: Style,
    pub yaml_comment: Style,
    pub popup: Style,
}

const SLOTS: [&str; 23] = [
    "text",
    "muted",
    "accent",
    "title",
    "border",
    "header",
    "footer",
    "key",
    "table_header",
    "selection",
    "marked",
    "ok",
    "warn",
    "err",
    "info",
    "spark_logs",
    "spark_metrics",
    "spark_traces",
    "spark_cpu",
    "spark_memory",
    "yaml_key",
    "yaml_comment",
    "popup",
];

#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct ThemeFile {
    name: String,
    slots: BTreeMap<String, SlotSpec>,
}

/// A slot is a foreground colour (`"#88c0d0"`, `"cyan"`, `"110"`) or a table.
#[derive(Debug, serde::Deserialize)]
#[serde(untagged)]
enum SlotSpec {
    Fg(String),
    Full(SlotTable),
}

#[derive(Debug, Default, serde::Deserialize)]
#[serde(deny_unknown_fields)]
struct SlotTable {
    fg: Option<String>,
    bg: Option<String>,
    #[serde(default)]
    bold: bool,
    #[serde(default)]
    dim: bool,
    #[serde(default)]
    italic: bool,
    #[serde(default)]
    underlined: bool,
    #[serde(default)]
    reversed: bool,
}

impl Theme {
    /// A built-in theme by name, reduced for `level`. With `ColorLevel::None` every theme
    /// becomes `mono`, as no-color.org asks.
    pub fn builtin(name: &str, level: ColorLevel) -> Result<Theme, ThemeError> {
        let name = if level == ColorLevel::None {
            "mono"
        } else {
            name
        };
        let (_, text) = BUILTIN
            .iter()
            .find(|(n, _)| *n == name)
            .ok_or_else(|| ThemeError::Unknown(name.to_string()))?;
        Theme::parse(text, level)
    }

    pub fn parse(text: &str, level: ColorLevel) -> Result<Theme, ThemeError> {
        let file: ThemeFile = toml::from_str(text).map_err(|e| ThemeError::Invalid {
            theme: "?".into(),
            message: e.to_string(),
        })?;
        let invalid = |message: String| ThemeError::Invalid {
            theme: file.name.clone(),
            message,
        };
        if let Some(extra) = file.slots.keys().find(|k| !SLOTS.contains(&k.as_str())) {
            return Err(invalid(format!("unknown slot '{extra}'")));
        }
        let slot = |key: &str| -> Result<Style, ThemeError> {
            let spec = file
                .slots
                .get(key)
                .ok_or_else(|| invalid(format!("missing slot '{key}'")))?;
            spec.style(level)
                .map_err(|e| invalid(format!("slot '{key}': {e}")))
        };
        Ok(Theme {
            name: file.name.clone(),
            text: slot("text")?,
            muted: slot("muted")?,
            accent: slot("accent")?,
            title: slot("title")?,
            border: slot("border")?,
            header: slot("header")?,
            footer: slot("footer")?,
            key: slot("key")?,
            table_header: slot("table_header")?,
            selection: slot("selection")?,
            marked: slot("marked")?,
            ok: slot("ok")?,
            warn: slot("warn")?,
            err: slot("err")?,
            info: slot("info")?,
            spark_logs: slot("spark_logs")?,
            spark_metrics: slot("spark_metrics")?,
            spark_traces: slot("spark_traces")?,
            spark_cpu: slot("spark_cpu")?,
            spark_memory: slot("spark_memory")?,
            yaml_key: slot("yaml_key")?,
            yaml_comment: slot("yaml_comment")?,
            popup: slot("popup")?,
        })
    }
}

impl SlotSpec {
    fn style(&self, level: ColorLevel) -> Result<Style, String> {
        let table = match self {
            SlotSpec::Fg(fg) => &SlotTable {
                fg: Some(fg.clone()),
                ..SlotTable::default()
            },
            SlotSpec::Full(t) => t,
        };
        let mut style = Style::default();
        if let Some(fg) = &table.fg {
            style = style.fg(reduce(parse_color(fg)?, level));
        }
        if let Some(bg) = &table.bg {
            style = style.bg(reduce(parse_color(bg)?, level));
        }
        let flags = [
            (table.bold, Modifier::BOLD),
            (table.dim, Modifier::DIM),
            (table.italic, Modifier::ITALIC),
            (table.underlined, Modifier::UNDERLINED),
            (table.reversed, Modifier::REVERSED),
        ];
        for (on, m) in flags {
            if on {
                style = style.add_modifier(m);
            }
        }
        Ok(style)
    }
}

fn parse_color(text: &str) -> Result<Color, String> {
    Color::from_str(text).map_err(|_| format!("'{text}' is not a colour (name, 0-255 or #rrggbb)"))
}

/// The 16 ANSI colours with the RGB values xterm uses for them.
const ANSI16: [(Color, (u8, u8, u8)); 16] = [
    (Color::Black, (0, 0, 0)),
    (Color::Red, (205, 0, 0)),
    (Color::Green, (0, 205, 0)),
    (Color::Yellow, (205, 205, 0)),
    (Color::Blue, (0, 0, 238)),
    (Color::Magenta, (205, 0, 205)),
    (Color::Cyan, (0, 205, 205)),
    (Color::Gray, (229, 229, 229)),
    (Color::DarkGray, (127, 127, 127)),
    (Color::LightRed, (255, 0, 0)),
    (Color::LightGreen, (0, 255, 0)),
    (Color::LightYellow, (255, 255, 0)),
    (Color::LightBlue, (92, 92, 255)),
    (Color::LightMagenta, (255, 0, 255)),
    (Color::LightCyan, (0, 255, 255)),
    (Color::White, (255, 255, 255)),
];

/// Brings a colour down to what `level` can show. Named colours pass through (they follow
/// the user's palette); RGB becomes the nearest xterm-256 or ANSI-16 colour.
pub fn reduce(color: Color, level: ColorLevel) -> Color {
    match (level, color) {
        (ColorLevel::None, _) => Color::Reset,
        (ColorLevel::TrueColor, c) => c,
        (ColorLevel::Ansi256, Color::Rgb(r, g, b)) => Color::Indexed(xterm256(r, g, b)),
        (ColorLevel::Ansi16, Color::Rgb(r, g, b)) => nearest16(r, g, b),
        (ColorLevel::Ansi16, Color::Indexed(i)) => {
            let (r, g, b) = indexed_rgb(i);
            nearest16(r, g, b)
        }
        (_, c) => c,
    }
}

fn dist((r1, g1, b1): (u8, u8, u8), (r2, g2, b2): (u8, u8, u8)) -> u32 {
    let d = |a: u8, b: u8| (i32::from(a) - i32::from(b)).unsigned_abs();
    let (dr, dg, db) = (d(r1, r2), d(g1, g2), d(b1, b2));
    dr * dr + dg * dg + db * db
}

fn nearest16(r: u8, g: u8, b: u8) -> Color {
    ANSI16
        .iter()
        .min_by_key(|(_, rgb)| dist(*rgb, (r, g, b)))
        .map(|(c, _)| *c)
        .unwrap_or(Color::Reset)
}

const CUBE: [u8; 6] = [0, 95, 135, 175, 215, 255];

/// Nearest entry of the xterm 6×6×6 cube or the 24-step grey ramp.
pub fn xterm256(r: u8, g: u8, b: u8) -> u8 {
    let level = |v: u8| -> usize {
        CUBE.iter()
            .enumerate()
            .min_by_key(|(_, c)| (i32::from(**c) - i32::from(v)).unsigned_abs())
            .map(|(i, _)| i)
            .unwrap_or(0)
    };
    let (ri, gi, bi) = (level(r), level(g), level(b));
    let cube_rgb = (CUBE[ri], CUBE[gi], CUBE[bi]);
    let cube_index = 16 + 36 * ri + 6 * gi + bi;
    let avg = (u32::from(r) + u32::from(g) + u32::from(b)) / 3;
    let grey_step = (avg.saturating_sub(8) / 10).min(23) as u8;
    let grey = 8 + 10 * grey_step;
    if dist((grey, grey, grey), (r, g, b)) < dist(cube_rgb, (r, g, b)) {
        232 + grey_step
    } else {
        cube_index as u8
    }
}

/// The RGB an xterm shows for a 256-colour index.
pub fn indexed_rgb(i: u8) -> (u8, u8, u8) {
    match i {
        0..=15 => ANSI16[usize::from(i)].1,
        16..=231 => {
            let i = usize::from(i - 16);
            (CUBE[i / 36], CUBE[(i / 6) % 6], CUBE[i % 6])
        }
        _ => {
            let g = 8 + 10 * (i - 232);
            (g, g, g)
        }
    }
}

/// RGB for any colour, used by the SVG screenshot writer; `None` for the default colour.
pub fn color_rgb(color: Color) -> Option<(u8, u8, u8)> {
    match color {
        Color::Reset => None,
        Color::Rgb(r, g, b) => Some((r, g, b)),
        Color::Indexed(i) => Some(indexed_rgb(i)),
        named => ANSI16
            .iter()
            .find(|(c, _)| *c == named)
            .map(|(_, rgb)| *rgb),
    }
}

impl Theme {
    /// The theme to use when the one asked for cannot be had: dark, else mono, else one
    /// with no styles at all (for the impossible case that the embedded files fail).
    pub fn fallback(level: ColorLevel) -> Theme {
        Theme::builtin("dark", level)
            .or_else(|_| Theme::builtin("mono", level))
            .unwrap_or_else(|_| Theme::plain())
    }

    fn plain() -> Theme {
        let s = Style::default();
        Theme {
            name: "plain".into(),
            text: s,
            muted: s,
            accent: s,
            title: s,
            border: s,
            header: s,
            footer: s,
            key: s,
            table_header: s,
            selection: s.add_modifier(Modifier::REVERSED),
            marked: s,
            ok: s,
            warn: s,
            err: s,
            info: s,
            spark_logs: s,
            spark_metrics: s,
            spark_traces: s,
            spark_cpu: s,
            spark_memory: s,
            yaml_key: s,
            yaml_comment: s,
            popup: s,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_builtin_theme_loads_at_every_level() {
        for name in builtin_names() {
            for level in [
                ColorLevel::TrueColor,
                ColorLevel::Ansi256,
                ColorLevel::Ansi16,
                ColorLevel::None,
            ] {
                let theme = Theme::builtin(name, level);
                assert!(theme.is_ok(), "{name} at {level:?}: {theme:?}");
            }
        }
    }

    #[test]
    fn no_color_means_mono_whatever_was_asked() {
        let t = Theme::builtin("dark", ColorLevel::None).unwrap();
        assert_eq!(t.name, "mono");
        assert_eq!(
            ColorLevel::detect(Some("1"), Some("truecolor"), None),
            ColorLevel::None
        );
        assert_eq!(
            ColorLevel::detect(Some(""), Some("truecolor"), None),
            ColorLevel::TrueColor
        );
        assert_eq!(
            ColorLevel::detect(None, None, Some("xterm-256color")),
            ColorLevel::Ansi256
        );
        assert_eq!(
            ColorLevel::detect(None, None, Some("vt100")),
            ColorLevel::Ansi16
        );
    }

    #[test]
    fn colours_are_reduced_for_smaller_palettes() {
        assert_eq!(xterm256(255, 0, 0), 196);
        assert_eq!(xterm256(128, 128, 128), 244);
        assert_eq!(
            reduce(Color::Rgb(250, 10, 10), ColorLevel::Ansi16),
            Color::LightRed
        );
        assert_eq!(
            reduce(Color::Rgb(1, 2, 3), ColorLevel::Ansi256),
            Color::Indexed(16)
        );
        let dark256 = Theme::builtin("dark", ColorLevel::Ansi256).unwrap();
        let no_rgb = |s: Style| {
            !matches!(s.fg, Some(Color::Rgb(..))) && !matches!(s.bg, Some(Color::Rgb(..)))
        };
        assert!(no_rgb(dark256.ok) && no_rgb(dark256.selection) && no_rgb(dark256.header));
    }

    #[test]
    fn broken_theme_files_name_the_slot() {
        let err = Theme::parse(
            "name = \"x\"\n[slots]\ntext = \"notacolour\"\n",
            ColorLevel::TrueColor,
        )
        .unwrap_err();
        assert!(err.to_string().contains("slot 'text'"), "{err}");
        let err = Theme::builtin("solarized", ColorLevel::TrueColor).unwrap_err();
        assert!(err.to_string().contains("available: dark, light"), "{err}");
    }
}
