//! The Overview section's lines: identity, attributes, capabilities, the components the
//! agent's build has, remote config status and packages.

use ratatui::style::Style;
use ratatui::text::{Line, Span};

use crate::fleet::agent::{Attribute, PackageState, RemoteConfigState};
use crate::fleet::components::ComponentKind;
use crate::fleet::snapshot::AgentView;

use super::super::fmt;
use super::super::theme::Theme;
use super::super::widgets::DrawCx;

fn kv(t: &Theme, key: &str, value: Vec<Span<'static>>) -> Line<'static> {
    let mut spans = vec![Span::styled(format!(" {key:<14}"), t.muted)];
    spans.extend(value);
    Line::from(spans)
}

fn heading(t: &Theme, text: &str) -> Line<'static> {
    Line::styled(format!(" {text}"), t.title)
}

fn attributes(t: &Theme, attrs: &[Attribute], out: &mut Vec<Line<'static>>) {
    if attrs.is_empty() {
        out.push(Line::styled("   (none)", t.muted));
    }
    for a in attrs {
        out.push(Line::from(vec![
            Span::styled(format!("   {:<28} ", a.key), t.yaml_key),
            Span::styled(a.value.to_string(), t.text),
        ]));
    }
}

/// Long messages (errors) continue on indented lines instead of being cut off.
fn kv_wrapped(
    t: &Theme,
    key: &str,
    lead: Span<'static>,
    text: &str,
    style: Style,
    width: u16,
    out: &mut Vec<Line<'static>>,
) {
    let avail = usize::from(width).saturating_sub(16 + lead.width()).max(20);
    let mut parts = fmt::wrap(text, avail).into_iter();
    let first = parts.next().unwrap_or_default();
    out.push(kv(t, key, vec![lead, Span::styled(first, style)]));
    for rest in parts {
        out.push(Line::styled(format!("{:15}{rest}", ""), style));
    }
}

/// What the agent can run: one line per kind, cut to the width with how many more there
/// are (the API and `fleetdeck get agent -o yaml` list them all).
fn components(t: &Theme, a: &AgentView, width: u16, out: &mut Vec<Line<'static>>) {
    out.push(Line::default());
    let Some(c) = &a.available_components else {
        out.push(heading(t, "Components"));
        out.push(Line::styled("   (not reported)", t.muted));
        return;
    };
    let version = c
        .common_version()
        .map(|v| format!(" · {v}"))
        .unwrap_or_default();
    out.push(heading(
        t,
        &format!("Components ({} types{version})", c.len()),
    ));
    const LEAD: usize = 3 + 12;
    let room = usize::from(width).saturating_sub(LEAD + 1).max(20);
    for kind in ComponentKind::ALL {
        let Some(list) = c.by_kind.get(&kind).filter(|l| !l.is_empty()) else {
            continue;
        };
        let mut shown = String::new();
        let mut count = 0;
        for (i, comp) in list.iter().enumerate() {
            let left = list.len() - i - 1;
            let more = if left > 0 {
                format!(" +{left} more").len()
            } else {
                0
            };
            let sep = usize::from(!shown.is_empty());
            if shown.len() + sep + comp.type_name.len() + more > room {
                break;
            }
            if sep == 1 {
                shown.push(' ');
            }
            shown.push_str(&comp.type_name);
            count += 1;
        }
        let mut spans = vec![
            Span::styled(format!("   {:<12}", kind.section()), t.yaml_key),
            Span::styled(shown, t.text),
        ];
        if count < list.len() {
            spans.push(Span::styled(
                format!(" +{} more", list.len() - count),
                t.muted,
            ));
        }
        out.push(Line::from(spans));
    }
    if !c.dropped.is_none() {
        out.push(Line::styled(
            format!("   ⚠ left out of the report: {}", c.dropped),
            t.warn,
        ));
    }
}

pub(super) fn overview_lines(cx: &DrawCx, a: &AgentView, width: u16) -> Vec<Line<'static>> {
    let t = cx.theme;
    let now = cx.now;
    let mut out = Vec::new();
    out.push(kv(
        t,
        "Agent",
        vec![
            Span::styled(a.name.to_string(), t.accent),
            Span::styled(format!("  {}", a.id), t.muted),
        ],
    ));
    let status = if a.is_connected() {
        let via = a
            .transport
            .map(|t| format!(" over {t}"))
            .unwrap_or_default();
        let from = a
            .remote_addr
            .map(|r| format!(" from {r}"))
            .unwrap_or_default();
        let since = a
            .connected_at
            .map(|c| format!(", for {}", fmt::age(now, c)))
            .unwrap_or_default();
        vec![
            Span::styled("● connected", t.ok),
            Span::raw(format!("{via}{from}{since}")),
        ]
    } else {
        let since = a
            .disconnected_at
            .map(|d| format!(" {} ago", fmt::age(now, d)))
            .unwrap_or_default();
        vec![Span::styled(format!("○ disconnected{since}"), t.err)]
    };
    out.push(kv(t, "Status", status));
    out.push(kv(
        t,
        "Last seen",
        vec![Span::raw(format!(
            "{} ago · first seen {} ago · seq {} · {} messages",
            fmt::age(now, a.last_seen),
            fmt::age(now, a.first_seen),
            a.sequence_num,
            a.messages
        ))],
    ));
    out.push(kv(
        t,
        "Host",
        vec![Span::raw(format!(
            "{} · {} · version {}",
            a.host, a.os, a.version
        ))],
    ));
    match &a.health {
        Some(h) if h.healthy() => out.push(kv(
            t,
            "Health",
            vec![Span::styled(
                format!("✓ healthy ({} components)", h.component_count()),
                t.ok,
            )],
        )),
        Some(h) => {
            let lead = Span::styled(
                format!(
                    "✕ unhealthy · {} of {} components failing{}",
                    h.unhealthy_count(),
                    h.component_count(),
                    if h.last_error().is_empty() { "" } else { ": " }
                ),
                t.err,
            );
            kv_wrapped(t, "Health", lead, h.last_error(), t.err, width, &mut out);
        }
        None => out.push(kv(
            t,
            "Health",
            vec![Span::styled("· not reported", t.muted)],
        )),
    }
    match &a.remote_config_status {
        None => out.push(kv(
            t,
            "Remote config",
            vec![Span::styled("· no remote configuration", t.muted)],
        )),
        Some(s) => {
            let hash = if s.last_hash.is_empty() {
                String::new()
            } else {
                format!(
                    "hash {} ",
                    hex::encode(&s.last_hash[..s.last_hash.len().min(6)])
                )
            };
            let (text, style) = match s.state {
                RemoteConfigState::Applied => ("✓ applied ", t.ok),
                RemoteConfigState::Applying => ("◌ applying ", t.info),
                RemoteConfigState::Failed => ("✕ failed ", t.err),
                RemoteConfigState::Unset => ("· unset ", t.muted),
            };
            out.push(kv(
                t,
                "Remote config",
                vec![Span::styled(text, style), Span::styled(hash, t.muted)],
            ));
            if !s.error_message.is_empty() {
                let lead = Span::styled("", t.err);
                kv_wrapped(t, "  error", lead, &s.error_message, t.err, width, &mut out);
            }
        }
    }
    if let Some(c) = &a.config {
        // Which configuration fleetdeck assigned, and who decided: a push (or rollout) is
        // an operator's; a selector's follows the agent's labels.
        let by = if c.origin == "selector" {
            "by its labels (the configuration's selector)"
        } else {
            "by a push"
        };
        out.push(kv(
            t,
            "Assigned",
            vec![
                Span::raw(format!("{} {} ", c.config, c.state)),
                Span::styled(by, t.muted),
            ],
        ));
    }
    let effective = match &a.effective_config {
        Some(cfg) => {
            let names: Vec<&str> = cfg.files.keys().map(String::as_str).collect();
            vec![Span::raw(format!(
                "{} · {} (Config tab)",
                names.join(", "),
                fmt::bytes(cfg.total_bytes() as f64)
            ))]
        }
        None => vec![Span::styled("· not reported", t.muted)],
    };
    out.push(kv(t, "Effective", effective));
    if let Some(r) = cx.tails.refused(&a.id) {
        out.push(kv(
            t,
            "Own telemetry",
            vec![Span::styled(
                format!(
                    "✕ refused: {} ({} requests, last {} ago)",
                    r.reason,
                    r.count,
                    fmt::age(now, r.last)
                ),
                t.err,
            )],
        ));
    }
    if !a.labels.is_empty() {
        let labels: Vec<String> = a.labels.iter().map(|(k, v)| format!("{k}={v}")).collect();
        out.push(kv(
            t,
            "Labels",
            vec![Span::styled(labels.join(" "), t.info)],
        ));
    }
    out.push(Line::default());
    out.push(heading(t, "Identifying attributes"));
    attributes(t, &a.description.identifying, &mut out);
    out.push(heading(t, "Non-identifying attributes"));
    attributes(t, &a.description.non_identifying, &mut out);
    out.push(Line::default());
    out.push(heading(
        t,
        &format!("Capabilities ({:#x})", a.capabilities.0),
    ));
    let names = a.capabilities.names();
    for pair in names.chunks(2) {
        let cells: String = pair.iter().map(|n| format!("✓ {n:<34}")).collect();
        out.push(Line::styled(format!("   {}", cells.trim_end()), t.text));
    }
    if !a.custom_capabilities.is_empty() {
        out.push(kv(
            t,
            "  custom",
            vec![Span::raw(a.custom_capabilities.join(", "))],
        ));
    }
    components(t, a, width, &mut out);
    out.push(Line::default());
    out.push(heading(t, "Packages"));
    match &a.package_statuses {
        None => out.push(Line::styled("   (not reported)", t.muted)),
        Some(p) => {
            if !p.error_message.is_empty() {
                out.push(Line::styled(format!("   ✕ {}", p.error_message), t.err));
            }
            if p.packages.is_empty() {
                out.push(Line::styled("   (none)", t.muted));
            }
            for (name, s) in &p.packages {
                let (state, style) = match s.state {
                    PackageState::Installed => ("✓ installed", t.ok),
                    PackageState::InstallPending => ("◌ pending", t.info),
                    PackageState::Installing => ("◌ installing", t.info),
                    PackageState::Downloading => ("◌ downloading", t.info),
                    PackageState::InstallFailed => ("✕ failed", t.err),
                };
                let pct = s
                    .download_percent
                    .map(|p| format!(" {p:.0}%"))
                    .unwrap_or_default();
                let mut spans = vec![
                    Span::styled(format!("   {name:<20} "), t.yaml_key),
                    Span::raw(format!(
                        "{} → {}  ",
                        or_dash(&s.agent_has_version),
                        or_dash(&s.server_offered_version)
                    )),
                    Span::styled(format!("{state}{pct}"), style),
                ];
                if !s.error_message.is_empty() {
                    spans.push(Span::styled(format!(": {}", s.error_message), t.err));
                }
                out.push(Line::from(spans));
            }
        }
    }
    out
}

fn or_dash(s: &str) -> &str {
    if s.is_empty() { "–" } else { s }
}
#[cfg(test)]
mod tests {
    use super::*;
    use crate::fleet::AgentId;
    use crate::fleet::components::AvailableComponents;
    use crate::tui::theme::ColorLevel;

    fn text(lines: &[Line<'_>]) -> Vec<String> {
        lines
            .iter()
            .map(|l| l.spans.iter().map(|s| s.content.as_ref()).collect())
            .collect()
    }

    #[test]
    fn a_long_kind_is_cut_to_the_width_with_how_many_more() {
        let t = Theme::builtin("mono", ColorLevel::None).expect("built-in theme");
        let types: Vec<String> = (0..30).map(|i| format!("receiver{i:02}")).collect();
        let listing = AvailableComponents::from_entries(
            vec![1],
            types
                .iter()
                .map(|r| ("receivers", r.as_str(), "v1"))
                .chain([("exporters", "otlphttp", "v1")]),
        );
        let mut agent = AgentView::blank(AgentId([1; 16]));
        agent.available_components = Some(std::sync::Arc::new(listing));
        let mut out = Vec::new();
        components(&t, &agent, 60, &mut out);
        let shown = text(&out);
        assert_eq!(shown[1], " Components (31 types · v1)");
        assert_eq!(
            shown[2],
            "   receivers   receiver00 receiver01 receiver02 +27 more"
        );
        assert!(shown[2].chars().count() <= 60, "{}", shown[2]);
        assert_eq!(shown[3], "   exporters   otlphttp");

        agent.available_components = None;
        let mut out = Vec::new();
        components(&t, &agent, 60, &mut out);
        assert_eq!(text(&out)[2], "   (not reported)");
    }
}
