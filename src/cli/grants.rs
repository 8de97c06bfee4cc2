//! `idp grants …`: revoking refresh families and access tokens through `services::grants`, the
//! service behind the admin API's grants resources (same rules, same audit, actor `cli`). On the
//! embedded setup the revocations reach a running node through the database (the hot store's
//! journal), within a second.

use anyhow::anyhow;

use super::GrantsCommand;
use crate::services::audit::Actor;
use crate::services::grants::{check_jti, GrantsError};
use crate::services::refresh_families::Revoked;
use crate::state::AppState;

pub async fn run(command: GrantsCommand, state: AppState) -> anyhow::Result<()> {
    let by = Actor::cli();
    let grants = &state.grants;
    let revoked = match command {
        GrantsCommand::RevokeFamily { family_id } => grants.revoke_family(&family_id, &by).await,
        GrantsCommand::RevokeUser { user_id } => grants.revoke_user(&user_id, &by).await,
        GrantsCommand::RevokeClient { client_id } => grants.revoke_client(&client_id, &by).await,
        GrantsCommand::RevokeToken { jti, exp } => {
            check_jti(&jti).map_err(explain)?;
            let revoked = grants.revoke_access_token(&jti, exp, &by).await.map_err(explain)?;
            match revoked.revoked_access_tokens {
                0 => println!("{} had expired; nothing to revoke", revoked.jti),
                _ => println!("revoked {} until {}", revoked.jti, crate::clock::rfc3339(revoked.until)),
            }
            return Ok(());
        }
    }
    .map_err(explain)?;
    print_counts(revoked);
    Ok(())
}

fn print_counts(revoked: Revoked) {
    println!(
        "revoked {} refresh grant(s) and {} access token(s)",
        revoked.revoked_families, revoked.revoked_access_tokens
    );
}

/// The service's refusal, with the argument that set the value in front.
fn explain(error: GrantsError) -> anyhow::Error {
    match error {
        GrantsError::Invalid(field) if field.field == "jti" => anyhow!("JTI ({field})"),
        GrantsError::Invalid(field) => anyhow!("{field}"),
        other => anyhow::Error::new(other),
    }
}
