//! The `:` command palette: parsing and completion. A unique prefix runs a command
//! (`:c` is `:configs`); Tab completes to the first match, as the ghost text shows.

use super::theme;

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Agents,
    Configs,
    Events,
    Types,
    Theme(String),
    /// `:new`: the pipeline builder for a new configuration.
    New,
    /// `:edit [NAME]`: the pipeline builder on a stored configuration.
    Edit(Option<String>),
    Help,
    Quit,
    /// An empty line: close the palette.
    Nothing,
}

/// Command words with what they do, in the order completion offers them.
pub const COMMANDS: [(&str, &str); 9] = [
    ("agents", "the agents table"),
    ("configs", "configurations reported by the fleet"),
    ("events", "the fleet's event stream"),
    ("types", "resource types"),
    ("new", "build a new configuration step by step"),
    ("edit", "edit NAME: a configuration in the builder"),
    ("theme", "theme NAME: switch colours"),
    ("help", "key bindings"),
    ("quit", "leave fleetdeck"),
];

pub fn parse(text: &str) -> Result<Command, String> {
    let mut words = text.split_whitespace();
    let Some(word) = words.next() else {
        return Ok(Command::Nothing);
    };
    let arg = words.next();
    let word = if word == "q" { "quit" } else { word };
    let matches: Vec<&str> = COMMANDS
        .iter()
        .map(|(c, _)| *c)
        .filter(|c| c.starts_with(word))
        .collect();
    let cmd = match matches.as_slice() {
        [one] => *one,
        [] => {
            return Err(format!(
                "unknown command ':{word}' (try :{})",
                COMMANDS.map(|(c, _)| c).join(", :")
            ));
        }
        many => return Err(format!(":{word} is ambiguous: {}", many.join(", "))),
    };
    Ok(match (cmd, arg) {
        ("theme", Some(name)) => Command::Theme(name.to_string()),
        ("theme", None) => {
            return Err(format!(
                ":theme needs a name: {}",
                theme::builtin_names().collect::<Vec<_>>().join(", ")
            ));
        }
        ("agents", _) => Command::Agents,
        ("configs", _) => Command::Configs,
        ("events", _) => Command::Events,
        ("types", _) => Command::Types,
        ("new", _) => Command::New,
        ("edit", name) => Command::Edit(name.map(str::to_string)),
        ("help", _) => Command::Help,
        _ => Command::Quit,
    })
}

/// Everything that could complete `text`, full lines.
pub fn candidates(text: &str) -> Vec<String> {
    match text.strip_prefix("theme ") {
        Some(partial) => theme::builtin_names()
            .filter(|n| n.starts_with(partial.trim_start()))
            .map(|n| format!("theme {n}"))
            .collect(),
        None => COMMANDS
            .iter()
            .filter(|(c, _)| c.starts_with(text))
            .map(|(c, _)| c.to_string())
            .collect(),
    }
}

/// What Tab turns `text` into, if anything.
pub fn complete(text: &str) -> Option<String> {
    let first = candidates(text).into_iter().next()?;
    // Completing a bare `theme` adds the space that leads to the theme names.
    let done = if first == "theme" {
        "theme ".to_string()
    } else {
        first
    };
    (done != text).then_some(done)
}

/// The part of the first candidate not typed yet (shown dimmed after the cursor).
pub fn ghost(text: &str) -> String {
    candidates(text)
        .into_iter()
        .next()
        .and_then(|c| c.strip_prefix(text).map(str::to_string))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unique_prefixes_run_commands() {
        assert_eq!(parse("c"), Ok(Command::Configs));
        assert_eq!(parse("q"), Ok(Command::Quit));
        assert_eq!(parse("theme light"), Ok(Command::Theme("light".into())));
        assert_eq!(parse("  "), Ok(Command::Nothing));
        assert!(parse("t").unwrap_err().contains("ambiguous"));
        assert!(
            parse("deploy")
                .unwrap_err()
                .contains("unknown command ':deploy'")
        );
        assert!(parse("theme").unwrap_err().contains("dark, light"));
    }

    #[test]
    fn tab_completes_commands_then_theme_names() {
        assert_eq!(complete("ag"), Some("agents".into()));
        assert_eq!(complete("th"), Some("theme ".into()));
        assert_eq!(complete("theme h"), Some("theme high-contrast".into()));
        assert_eq!(complete("agents"), None);
        assert_eq!(ghost("ev"), "ents");
        assert_eq!(candidates("theme ").len(), 4);
    }
}
