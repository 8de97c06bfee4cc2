//! `idp audit …`: reading the audit trail through the same service and filter rules as the
//! admin API's `GET /audit-events` (a refused value gets the same message, with its flag).

use anyhow::anyhow;

use super::{print_json, AuditCommand};
use crate::error::FieldError;
use crate::services::audit::{AuditQuery, AuditRecord};
use crate::state::AppState;

/// Events per read; `--limit` may ask for more, read page by page.
const PAGE: i64 = 200;

pub async fn run(command: AuditCommand, state: AppState) -> anyhow::Result<()> {
    let AuditCommand::List { since, until, action, outcome, client_id, user_id, actor, origin, limit, json } = command;
    let query = AuditQuery { since, until, action, outcome, client_id, user_id, actor, origin };
    let filter = query.parse(state.clock.now()).map_err(explain)?;
    let mut events: Vec<AuditRecord> = Vec::new();
    let mut before = None;
    while (events.len() as i64) < limit {
        let want = (limit - events.len() as i64).min(PAGE);
        let page = state.audit_trail.list(filter.clone(), before, want).await?;
        let last = page.last().map(AuditRecord::cursor);
        let full = page.len() as i64 == want;
        events.extend(page);
        match (last, full) {
            (Some(last), true) => before = Some(last),
            _ => break,
        }
    }
    if json {
        return print_json(&events);
    }
    for event in &events {
        println!("{}", line(event));
    }
    Ok(())
}

/// One event on one line: time, action, outcome, then what is known of it.
fn line(event: &AuditRecord) -> String {
    let mut text = format!("{}  {:<28} {:<8}", event.at, event.action, event.outcome);
    for (name, value) in [
        ("actor", &event.actor),
        ("target", &event.target),
        ("client", &event.client_id),
        ("user", &event.user_id),
        ("origin", &event.origin),
        ("ip", &event.ip),
        ("request", &event.request_id),
    ] {
        if let Some(value) = value {
            text.push_str(&format!(" {name}={value}"));
        }
    }
    if !event.detail.is_empty() {
        text.push(' ');
        text.push_str(&serde_json::Value::Object(event.detail.clone()).to_string());
    }
    text
}

/// The service's refusal with the flag that set the parameter in front.
fn explain(field: FieldError) -> anyhow::Error {
    let flag = match field.field.as_str() {
        "client_id" => "--client",
        "user_id" => "--user",
        other => return anyhow!("--{} ({field})", other.replace('_', "-")),
    };
    anyhow!("{flag} ({field})")
}
