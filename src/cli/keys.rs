//! `idp keys …`: the signing keys, through the keyring service (which audits every change with
//! actor `cli` and announces it to every node), the same calls as the admin API's `/keys`.

use std::sync::Arc;

use anyhow::anyhow;

use super::{print_json, KeysCommand};
use crate::clock::{rfc3339, SystemClock};
use crate::config::Settings;
use crate::crypto::Kek;
use crate::services::audit::Actor;
use crate::services::keys::{KeyringError, Rotation, RotationOutcome};
use crate::state::AppState;

pub async fn run(command: KeysCommand, settings: Settings) -> anyhow::Result<()> {
    if let KeysCommand::InitKek { stdout, owner } = command {
        // Before any state: this is how a KEK is made for nodes that must share it.
        if stdout {
            let kek = Kek::generate().map_err(|e| anyhow!("cannot make a key-encryption key: {e}"))?;
            print!("{}", kek.encoded());
            eprintln!("a new key-encryption key (id {}); nothing was written", kek.id());
            return Ok(());
        }
        let dir = &settings.keys_dir;
        match Kek::load(dir)? {
            Some(kek) => println!("{} already holds a key-encryption key (id {})", dir.display(), kek.id()),
            None => {
                let kek = Kek::generate_into_owned(dir, owner)?;
                let path = Kek::path(dir);
                match owner {
                    Some((uid, gid)) => println!("created {} (id {}), owned by {uid}:{gid}", path.display(), kek.id()),
                    None => println!("created {} (id {})", path.display(), kek.id()),
                }
            }
        }
        return Ok(());
    }
    let state = AppState::connect_command(settings, Arc::new(SystemClock)).await?;
    let result = keys(command, &state).await;
    state.shut_down().await;
    result
}

async fn keys(command: KeysCommand, state: &AppState) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { json } => {
            let keys = state.keyring.published();
            if json {
                return print_json(&keys);
            }
            println!(
                "{:<44} {:<6} {:>4} {:<8} {:<21} {:<21}",
                "KID", "ALG", "GEN", "STATE", "SIGNS_FROM", "PUBLISHED_UNTIL"
            );
            for key in keys {
                println!(
                    "{:<44} {:<6} {:>4} {:<8} {:<21} {:<21}",
                    key.kid,
                    key.alg,
                    key.generation,
                    key.state,
                    rfc3339(key.signs_from),
                    key.published_until.map(rfc3339).unwrap_or_default(),
                );
            }
        }
        KeysCommand::Rotate { algs, now, revoke, json } => {
            let rotation = Rotation::parse(&algs, now, revoke).map_err(|field| {
                let flag = if field.field == "revoke" { "--revoke" } else { "--alg" };
                anyhow!("{flag} ({field})")
            })?;
            let outcomes = state.keyring.rotate(rotation, &Actor::cli()).await.map_err(explain)?;
            if json {
                return print_json(&outcomes);
            }
            for outcome in outcomes {
                println!("{}", describe(&outcome));
            }
        }
        KeysCommand::Retire { kid, force, json } => {
            let retired = state.keyring.retire(&kid, force, &Actor::cli()).await.map_err(explain)?;
            if json {
                return print_json(&retired);
            }
            if let Some(successor) = &retired.successor {
                println!("{}: {successor} signs from now", retired.alg);
            }
            match retired.published_until {
                Some(until) => println!("{kid} no longer signs; it stays published until {}", rfc3339(until)),
                None => println!("{kid} is removed from the JWKS"),
            }
        }
        KeysCommand::RotateKek { json } => {
            let keyring = state.keyring.clone();
            let rotation = tokio::task::spawn_blocking(move || keyring.rotate_kek_blocking(&Actor::cli()))
                .await?
                .map_err(|e| anyhow::Error::new(e).context("cannot re-seal the signing keys"))?;
            if json {
                return print_json(&rotation);
            }
            let previous = Kek::previous_path(&state.settings.keys_dir);
            if rotation.resealed.is_empty() {
                println!("nothing to do: every key is sealed under the key-encryption key {}", rotation.kek_id);
            } else {
                println!(
                    "re-sealed {} key(s) under the key-encryption key {}: {}",
                    rotation.resealed.len(),
                    rotation.kek_id,
                    rotation.resealed.join(", ")
                );
            }
            if rotation.previous_kek_id.is_some() {
                println!(
                    "every key is sealed under {}; remove {} from every node",
                    rotation.kek_id,
                    previous.display()
                );
            }
        }
        KeysCommand::InitKek { .. } => unreachable!("handled before the state is connected"),
    }
    Ok(())
}

fn describe(outcome: &RotationOutcome) -> String {
    match outcome {
        RotationOutcome::Created { kid, alg, signs_from } => {
            format!("{alg}: published {kid}; it signs from {}", rfc3339(*signs_from))
        }
        RotationOutcome::AlreadyPending { kid, alg, signs_from } => {
            format!("{alg}: {kid} is already waiting to sign from {}; nothing to do", rfc3339(*signs_from))
        }
        RotationOutcome::SignsNow { kid, alg, promoted, replaced, .. } => {
            let how = if *promoted { "the published successor" } else { "a new key" };
            let mut text = format!("{alg}: {kid} ({how}) signs from now");
            if let Some(old) = replaced {
                match old.published_until {
                    Some(until) => text.push_str(&format!("; {} stays published until {}", old.kid, rfc3339(until))),
                    None => text.push_str(&format!("; {} is removed from the JWKS", old.kid)),
                }
            }
            text
        }
    }
}

fn explain(error: KeyringError) -> anyhow::Error {
    match error {
        KeyringError::NotFound => anyhow!("no such signing key (idp keys list shows them)"),
        other => anyhow::Error::new(other).context("cannot change the signing keys"),
    }
}
