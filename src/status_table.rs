//! The status block as a person reads it (CLI `status`, the demo).

use std::fmt::Write;

use chrono::{DateTime, Local, Utc};

use crate::agent::StatusView;

fn when(t: Option<DateTime<Utc>>) -> String {
    match t {
        Some(t) => t
            .with_timezone(&Local)
            .format("%Y-%m-%d %H:%M:%S %Z")
            .to_string(),
        None => "—".into(),
    }
}

pub fn render(v: &StatusView) -> String {
    let mut rows: Vec<(&str, String)> = vec![
        (
            "Device",
            v.device_id.clone().unwrap_or_else(|| "not enrolled".into()),
        ),
        ("Server", v.server_url.clone().unwrap_or_else(|| "—".into())),
        (
            "Sync type",
            v.sync_type.map_or("—".into(), |t| t.label().to_owned()),
        ),
        (
            "Additional groups",
            if v.additional_groups.is_empty() {
                "none".into()
            } else {
                v.additional_groups.join(", ")
            },
        ),
        (
            "Sync interval",
            v.sync_interval.map_or("—".into(), |i| i.label().to_owned()),
        ),
        (
            "Next expected contacts sync",
            match (v.next_sync, v.sync_interval) {
                (None, Some(_)) => "only when the policy changes or an admin forces it".into(),
                (t, _) => when(t),
            },
        ),
        ("Last contacts sync", when(v.last_sync)),
        (
            "Last sync result",
            v.last_sync_result.clone().unwrap_or_else(|| "—".into()),
        ),
        ("Last successful sync", when(v.last_successful_sync)),
        ("Contacts on the phone", v.managed_count.to_string()),
        (
            "Policy version",
            match (v.policy_version, v.synced_policy_version) {
                (Some(p), Some(s)) if p == s => format!("{p} (synced)"),
                (Some(p), Some(s)) => format!("{p} (synced: {s})"),
                (Some(p), None) => format!("{p} (not synced yet)"),
                _ => "—".into(),
            },
        ),
        (
            "Backup interval",
            v.backup_interval
                .map_or("—".into(), |b| b.as_str().to_owned()),
        ),
        ("Last backup", when(v.last_backup)),
        (
            "Last backup result",
            v.last_backup_result.clone().unwrap_or_else(|| "—".into()),
        ),
        (
            "Last stored backup",
            v.last_good_backup.as_ref().map_or("—".into(), |b| {
                format!(
                    "{} ({} contacts, {} bytes)",
                    b.backup_id, b.contact_count, b.size
                )
            }),
        ),
        (
            "Next expected backup",
            match (v.next_backup, v.backup_interval) {
                (None, Some(contacts_agent_protocol::BackupInterval::Off)) => {
                    "backups are off in the policy".into()
                }
                (t, _) => when(t),
            },
        ),
    ];
    if let Some(d) = v.drift {
        rows.push((
            "Phone vs last sync",
            format!(
                "drifted: {} of {} business contacts held, {} edited, deleted or doubled; the next run-due repairs it",
                d.found, d.expected, d.changed
            ),
        ));
    }
    if let Some(a) = &v.attention {
        rows.push((
            "Needs action",
            format!("{} (since {})", a.message, when(Some(a.since))),
        ));
    }
    if v.consecutive_failures > 0 {
        rows.push(("Consecutive failures", v.consecutive_failures.to_string()));
    }
    if v.pending_reports > 0 {
        rows.push((
            "Reports waiting for the server",
            v.pending_reports.to_string(),
        ));
    }
    let width = rows
        .iter()
        .map(|(k, _)| k.chars().count())
        .max()
        .unwrap_or(0);
    let mut out = String::new();
    for (k, val) in rows {
        let _ = writeln!(out, "  {k:<width$}  {val}");
    }
    if !v.recent_runs.is_empty() {
        let _ = writeln!(out, "  Recent runs:");
        for r in v.recent_runs.iter().take(5) {
            let c = &r.counts;
            if r.kind != "sync" {
                let detail = match r.kind.as_str() {
                    "backup" => format!("{} contacts", c.inserted),
                    _ => format!(
                        "{} restored, {} present, {} skipped",
                        c.inserted, c.unchanged, c.ignored
                    ),
                };
                let _ = writeln!(
                    out,
                    "    #{:<4} {:<6} {:<18} {:<11} {detail}{}",
                    r.id,
                    r.kind,
                    r.reason,
                    r.outcome,
                    r.error
                        .as_deref()
                        .map(|e| format!("  error: {e}"))
                        .unwrap_or_default()
                );
                continue;
            }
            let _ = writeln!(
                out,
                "    #{:<4} {:<6} {:<18} {:<11} +{} ~{} -{} ={}{}{}",
                r.id,
                r.kind,
                r.reason,
                r.outcome,
                c.inserted,
                c.updated,
                c.deleted,
                c.unchanged,
                if c.full_fetch { " (full fetch)" } else { "" },
                r.error
                    .as_deref()
                    .map(|e| format!("  error: {e}"))
                    .unwrap_or_default()
            );
        }
    }
    out
}
