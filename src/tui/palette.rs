//! The `:` command palette: parsing and completion. A unique prefix runs a command
//! (`:c` is `:configs`); Tab completes to the first match, as the ghost text shows —
//! command words, then theme names, configuration names after `edit` and agent names
//! after `agents`.

use super::theme;

/// The names the palette completes arguments from (empty while a command word is typed,
/// so nothing is gathered on every keystroke).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Names {
    pub configs: Vec<String>,
    pub agents: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Command {
    Agents,
    /// `:agents NAME`: that agent's detail.
    Agent(String),
    Configs,
    Events,
    Types,
    Topology,
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
pub const COMMANDS: [(&str, &str); 10] = [
    ("agents", "the agents table; agents NAME: one agent"),
    ("configs", "configurations reported by the fleet"),
    ("events", "the fleet's event stream"),
    ("types", "resource types"),
    (
        "topology",
        "which agent exports to which (Collector chains)",
    ),
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
        ("agents", Some(name)) => Command::Agent(name.to_string()),
        ("agents", None) => Command::Agents,
        ("configs", _) => Command::Configs,
        ("events", _) => Command::Events,
        ("types", _) => Command::Types,
        ("topology", _) => Command::Topology,
        ("new", _) => Command::New,
        ("edit", name) => Command::Edit(name.map(str::to_string)),
        ("help", _) => Command::Help,
        _ => Command::Quit,
    })
}

/// Whether `text` is at an argument, so completing it needs [`Names`].
pub fn wants_names(text: &str) -> bool {
    text.starts_with("edit ") || text.starts_with("agents ")
}

/// Everything that could complete `text`, full lines.
pub fn candidates(text: &str, names: &Names) -> Vec<String> {
    let args = |word: &str, list: &[String], partial: &str| -> Vec<String> {
        let partial = partial.trim_start();
        let mut out: Vec<String> = list
            .iter()
            .filter(|n| n.starts_with(partial))
            .map(|n| format!("{word} {n}"))
            .collect();
        out.sort();
        out.dedup();
        out
    };
    if let Some(partial) = text.strip_prefix("theme ") {
        return theme::builtin_names()
            .filter(|n| n.starts_with(partial.trim_start()))
            .map(|n| format!("theme {n}"))
            .collect();
    }
    if let Some(partial) = text.strip_prefix("edit ") {
        return args("edit", &names.configs, partial);
    }
    if let Some(partial) = text.strip_prefix("agents ") {
        return args("agents", &names.agents, partial);
    }
    COMMANDS
        .iter()
        .filter(|(c, _)| c.starts_with(text))
        .map(|(c, _)| c.to_string())
        .collect()
}

/// What Tab turns `text` into, if anything.
pub fn complete(text: &str, names: &Names) -> Option<String> {
    let first = candidates(text, names).into_iter().next()?;
    // Completing a word that takes a name adds the space that leads to the names.
    let done = if matches!(first.as_str(), "theme" | "edit") {
        format!("{first} ")
    } else {
        first
    };
    (done != text).then_some(done)
}

/// The part of the first candidate not typed yet (shown dimmed after the cursor).
pub fn ghost(text: &str, names: &Names) -> String {
    candidates(text, names)
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
    fn tab_completes_commands_then_theme_configuration_and_agent_names() {
        let none = Names::default();
        assert_eq!(complete("ag", &none), Some("agents".into()));
        assert_eq!(complete("th", &none), Some("theme ".into()));
        assert_eq!(
            complete("theme h", &none),
            Some("theme high-contrast".into())
        );
        assert_eq!(complete("agents", &none), None);
        assert_eq!(ghost("ev", &none), "ents");
        assert_eq!(candidates("theme ", &none).len(), 4);
        let names = Names {
            configs: vec!["web-tier".into(), "api-debug".into()],
            agents: vec!["web-use1-00001".into(), "web-use1-00002".into()],
        };
        assert_eq!(complete("ed", &names), Some("edit ".into()));
        assert_eq!(complete("edit w", &names), Some("edit web-tier".into()));
        assert_eq!(ghost("edit a", &names), "pi-debug");
        assert_eq!(
            complete("agents web", &names),
            Some("agents web-use1-00001".into())
        );
        assert_eq!(candidates("agents web-use1", &names).len(), 2);
        assert_eq!(
            parse("agents web-use1-00002"),
            Ok(Command::Agent("web-use1-00002".into()))
        );
    }
}
