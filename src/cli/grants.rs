//! `idp grants …`: revoking refresh families and access tokens through `services::grants`, the
//! service behind the admin API's grants resources (same rules, same audit, actor `cli`).

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
            if !state.hot.is_shared() {
                return Err(anyhow!(
                    "revoking an access token needs the shared hot store (redis_url): a running node's in-process store \
                     is not reachable from here"
                ));
            }
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
    if !state.hot.is_shared() && revoked.revoked_families > 0 {
        eprintln!(
            "note: without the shared hot store (redis_url) the refresh tokens are refused from now on, but access \
             tokens a running node issued stay valid until they expire"
        );
    }
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
