//! `idp keys …`: the signing keys, through the keyring service (which announces rotations to
//! every node).

use std::sync::Arc;

use anyhow::Context;

use super::{print_json, KeysCommand};
use crate::clock::SystemClock;
use crate::config::Settings;
use crate::crypto::{Kek, SigningAlg};
use crate::services::keys::RotationOutcome;
use crate::state::AppState;

pub async fn run(command: KeysCommand, settings: Settings) -> anyhow::Result<()> {
    if let KeysCommand::InitKek = command {
        // Before any state: this is how a KEK is made for nodes that must share it.
        let dir = &settings.keys_dir;
        match Kek::load(dir)? {
            Some(kek) => println!("{} already holds a key-encryption key (id {})", dir.display(), kek.id()),
            None => {
                let kek = Kek::generate_into(dir)?;
                println!("created {} (id {})", Kek::path(dir).display(), kek.id());
            }
        }
        return Ok(());
    }
    let state = AppState::connect(settings, Arc::new(SystemClock)).await?;
    let result = keys(command, &state).await;
    state.shut_down().await;
    result
}

async fn keys(command: KeysCommand, state: &AppState) -> anyhow::Result<()> {
    match command {
        KeysCommand::List { json } => {
            let keys = state.keyring.list();
            if json {
                return print_json(&keys);
            }
            println!("{:<44} {:<6} {:>4} {:<8} {:>12}", "KID", "ALG", "GEN", "STATE", "SIGNS_FROM");
            for key in keys {
                println!(
                    "{:<44} {:<6} {:>4} {:<8} {:>12}",
                    key.kid,
                    key.alg,
                    key.generation,
                    key.state.name(),
                    key.signs_from
                );
            }
        }
        KeysCommand::Rotate { algs, json } => {
            let algs: Vec<SigningAlg> = if algs.is_empty() {
                SigningAlg::ALL.to_vec()
            } else {
                algs.iter().map(|a| a.parse().map_err(anyhow::Error::msg)).collect::<Result<_, _>>()?
            };
            let outcomes = state.keyring.rotate(algs).await.context("cannot rotate")?;
            if json {
                return print_json(&outcomes);
            }
            for outcome in outcomes {
                match outcome {
                    RotationOutcome::Created { kid, alg, signs_from } => {
                        println!("{alg}: published {kid}; it signs from {signs_from}")
                    }
                    RotationOutcome::AlreadyPending { kid, alg, signs_from } => {
                        println!("{alg}: {kid} is already waiting to sign from {signs_from}; nothing to do")
                    }
                }
            }
        }
        KeysCommand::InitKek => unreachable!("handled before the state is connected"),
    }
    Ok(())
}
