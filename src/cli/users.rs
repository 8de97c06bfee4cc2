//! `idp users …`: end users, their consents and sign-in locks, through the users, consents and
//! sign-in-limit services (the same ones the pages use).

use anyhow::{anyhow, Context};

use super::{print_json, read_patch, UsersCommand};
use crate::services::audit::Actor;
use crate::services::merge_patch;
use crate::services::users::{normalize_username, NewUser, Password, User, UserError};
use crate::state::AppState;

async fn find_user(state: &AppState, username: &str) -> anyhow::Result<User> {
    state.users.find_by_username(username).await?.ok_or_else(|| anyhow!("no such user"))
}

fn password_from_stdin() -> anyhow::Result<Password> {
    let mut line = String::new();
    std::io::stdin().read_line(&mut line).context("cannot read the password")?;
    Ok(Password::parse(line.trim_end_matches(['\r', '\n']).to_owned())?)
}

pub async fn run(command: UsersCommand, state: AppState) -> anyhow::Result<()> {
    match command {
        UsersCommand::Create {
            username,
            email,
            email_verified,
            name,
            given_name,
            family_name,
            password_stdin,
            json,
        } => {
            let password = if password_stdin { Some(password_from_stdin()?) } else { None };
            let new = NewUser {
                username,
                email,
                email_verified,
                name,
                given_name,
                family_name,
                password,
                ..Default::default()
            };
            let user = state.users.create(new, &Actor::cli()).await.map_err(explain)?;
            if json {
                print_json(&user)?;
            } else {
                println!("created user {} ({})", user.username, user.user_id);
            }
        }
        UsersCommand::SetPassword { username } => {
            let user = find_user(&state, &username).await?;
            let user = state.users.set_password(&user.user_id, password_from_stdin()?, &Actor::cli()).await?;
            println!("password set for {}", user.username);
        }
        UsersCommand::Disable { username } => {
            let user = find_user(&state, &username).await?;
            let (user, revoked) = state.users.set_enabled(&user.user_id, false, &Actor::cli()).await?;
            println!("disabled {}; {revoked} refresh grant(s) revoked", user.username);
        }
        UsersCommand::Enable { username } => {
            let user = find_user(&state, &username).await?;
            let (user, _) = state.users.set_enabled(&user.user_id, true, &Actor::cli()).await?;
            println!("enabled {}", user.username);
        }
        UsersCommand::Consents { username, json } => {
            let user = find_user(&state, &username).await?;
            let consents = state.consents.list(&user.user_id).await?;
            if json {
                return print_json(&consents);
            }
            for c in consents {
                let scopes = c.scopes.iter().cloned().collect::<Vec<_>>().join(" ");
                let at: Vec<String> = c
                    .resources
                    .iter()
                    .map(|(r, s)| format!("{r} ({})", s.iter().cloned().collect::<Vec<_>>().join(" ")))
                    .collect();
                println!("{}  scopes: {scopes}  resources: {}", c.client_id, at.join(", "));
            }
        }
        UsersCommand::RevokeConsent { username, client_id } => {
            let user = find_user(&state, &username).await?;
            let withdrawal = state.consents.withdraw(&user.user_id, &client_id, &Actor::cli()).await?;
            if !withdrawal.existed && withdrawal.revoked_grants == 0 {
                return Err(anyhow!("{} gave no consent to {client_id}", user.username));
            }
            println!("consent withdrawn; {} refresh grant(s) revoked", withdrawal.revoked_grants);
        }
        UsersCommand::Unlock { username, address } => {
            if let (Some(address), false) = (address, state.hot.is_shared()) {
                // Rate-limit state is not durable: an embedded node holds it in its memory.
                return Err(anyhow!(
                    "the address limits of an embedded node live in its memory, out of this command's reach; \
                     run `idp admin call POST /addresses/{address}/unlock` against the running node"
                ));
            }
            if let Some(username) = username {
                let username = normalize_username(&username)?;
                state.sign_in_limits.unlock(&username).await?;
                let event = Actor::cli().event(state.clock.now(), "user.unlock", format!("username:{username}"));
                state.audit.record(event);
                println!("{username} may sign in again");
            }
            if let Some(address) = address {
                let address = crate::config::canonical_ip(address).to_string();
                state.sign_in_limits.unlock_address(&address).await?;
                state.audit.record(Actor::cli().event(
                    state.clock.now(),
                    "address.unlock",
                    format!("address:{address}"),
                ));
                println!("{address} is no longer slowed down");
            }
        }
        UsersCommand::Update { username, patch, if_match } => {
            let user = find_user(&state, &username).await?;
            let if_match = if_match.or_else(|| Some(user.etag()));
            let profile = merge_patch::patched(&user.profile(), read_patch(patch)?)
                .map_err(|field| explain(UserError::Invalid(field)))?;
            let updated =
                state.users.update_profile(&user.user_id, profile, if_match, &Actor::cli()).await.map_err(explain)?;
            print_json(&updated)?;
        }
        UsersCommand::Delete { username } => {
            let user = find_user(&state, &username).await?;
            let revoked = state.users.delete(&user.user_id, &Actor::cli()).await?;
            println!("deleted {}; {revoked} refresh grant(s) revoked", user.username);
        }
        UsersCommand::List { json } => {
            let all = state.users.list().await?;
            if json {
                return print_json(&all);
            }
            for u in all {
                let password = if u.has_password { "" } else { "  (no password)" };
                let email = u.email.unwrap_or_default();
                println!("{}  {}  {email}  enabled: {}{password}", u.user_id, u.username, u.enabled);
            }
        }
    }
    Ok(())
}

/// The users service's refusal as the CLI shows it: the flag, and the member and message the
/// admin API names.
fn explain(error: UserError) -> anyhow::Error {
    match &error {
        UserError::Invalid(field) => {
            let flag = match field.field.as_str() {
                "username" => "--username",
                "email" => "--email",
                "name" => "--name",
                "given_name" => "--given-name",
                "family_name" => "--family-name",
                "password" => "--password-stdin",
                _ => return anyhow!("{field}"),
            };
            anyhow!("{flag} ({field})")
        }
        _ => anyhow::Error::new(error),
    }
}
