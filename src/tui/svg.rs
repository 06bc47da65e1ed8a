//! Writes a rendered buffer as SVG: one background rectangle and one text run per stretch
//! of equally styled cells. Used for the README screenshots; no terminal involved.

use std::fmt::Write;

use ratatui::buffer::Buffer;
use ratatui::style::{Color, Modifier};

use super::theme::color_rgb;

/// Cell size in pixels for a 14 px monospace font (DejaVu Sans Mono advances 0.602 em).
const CELL_W: f64 = 8.43;
const CELL_H: f64 = 18.0;
const FONT_SIZE: f64 = 14.0;

/// Colours used where a cell says "terminal default".
#[derive(Debug, Clone, Copy)]
pub struct Defaults {
    pub fg: (u8, u8, u8),
    pub bg: (u8, u8, u8),
}

impl Defaults {
    pub const DARK: Defaults = Defaults {
        fg: (0xc8, 0xd0, 0xe0),
        bg: (0x1a, 0x1b, 0x26),
    };
    pub const LIGHT: Defaults = Defaults {
        fg: (0x2e, 0x34, 0x40),
        bg: (0xfa, 0xfb, 0xfd),
    };
}

fn hex((r, g, b): (u8, u8, u8)) -> String {
    format!("#{r:02x}{g:02x}{b:02x}")
}

fn escape(s: &str, out: &mut String) {
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            c => out.push(c),
        }
    }
}

#[derive(PartialEq, Clone, Copy)]
struct Look {
    fg: (u8, u8, u8),
    bg: (u8, u8, u8),
    bold: bool,
    italic: bool,
    underline: bool,
    dim: bool,
}

fn look(fg: Color, bg: Color, m: Modifier, d: Defaults) -> Look {
    let mut fg = color_rgb(fg).unwrap_or(d.fg);
    let mut bg = color_rgb(bg).unwrap_or(d.bg);
    if m.contains(Modifier::REVERSED) {
        std::mem::swap(&mut fg, &mut bg);
    }
    Look {
        fg,
        bg,
        bold: m.contains(Modifier::BOLD),
        italic: m.contains(Modifier::ITALIC),
        underline: m.contains(Modifier::UNDERLINED),
        dim: m.contains(Modifier::DIM),
    }
}

pub fn buffer_to_svg(buf: &Buffer, d: Defaults) -> String {
    let area = buf.area;
    let (w, h) = (
        f64::from(area.width) * CELL_W,
        f64::from(area.height) * CELL_H,
    );
    let mut out = String::new();
    let _ = writeln!(
        out,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w:.0}" height="{h:.0}" viewBox="0 0 {w:.2} {h:.2}" font-family="DejaVu Sans Mono, Menlo, Consolas, monospace" font-size="{FONT_SIZE}">"#
    );
    let _ = writeln!(
        out,
        r#"<rect width="100%" height="100%" fill="{}"/>"#,
        hex(d.bg)
    );
    for y in 0..area.height {
        let mut x = 0u16;
        while x < area.width {
            let cell = &buf[(area.x + x, area.y + y)];
            let l = look(cell.fg, cell.bg, cell.modifier, d);
            let start = x;
            let mut text = String::new();
            while x < area.width {
                let c = &buf[(area.x + x, area.y + y)];
                if look(c.fg, c.bg, c.modifier, d) != l {
                    break;
                }
                text.push_str(c.symbol());
                x += 1;
            }
            let cells = f64::from(x - start);
            let (px, py) = (f64::from(start) * CELL_W, f64::from(y) * CELL_H);
            if l.bg != d.bg {
                let _ = writeln!(
                    out,
                    r#"<rect x="{px:.2}" y="{py:.2}" width="{:.2}" height="{CELL_H}" fill="{}"/>"#,
                    cells * CELL_W,
                    hex(l.bg)
                );
            }
            if text.trim().is_empty() {
                continue;
            }
            let mut attrs = format!(r#" fill="{}""#, hex(l.fg));
            if l.bold {
                attrs.push_str(r#" font-weight="bold""#);
            }
            if l.italic {
                attrs.push_str(r#" font-style="italic""#);
            }
            if l.underline {
                attrs.push_str(r#" text-decoration="underline""#);
            }
            if l.dim {
                attrs.push_str(r#" opacity="0.6""#);
            }
            let _ = write!(
                out,
                r#"<text x="{px:.2}" y="{:.2}" textLength="{:.2}" lengthAdjust="spacingAndGlyphs" xml:space="preserve"{attrs}>"#,
                py + CELL_H * 0.75,
                cells * CELL_W,
            );
            escape(&text, &mut out);
            out.push_str("</text>\n");
        }
    }
    out.push_str("</svg>\n");
    out
}
