//! `idp clients …`: clients, through the registry service (which validates, audits and
//! announces every change, as it does for the admin API).

use super::{explain, print_json, read_patch, ClientsCommand};
use crate::services::audit::Actor;
use crate::services::merge_patch;
use crate::services::registry::{ClientRegistration, RegistryError};
use crate::state::AppState;

pub async fn run(command: ClientsCommand, state: AppState) -> anyhow::Result<()> {
    let by = Actor::cli();
    match command {
        ClientsCommand::Create {
            name,
            public,
            grants,
            resources,
            default_resource,
            scopes,
            origins,
            redirect_uris,
            require_dpop,
            auth_method,
            jwks,
            access_token_lifetime,
            first_party,
            id_token_alg,
            require_par,
            post_logout_redirect_uris,
            backchannel_logout_uri,
            json,
        } => {
            let jwks = jwks
                .map(|text| serde_json::from_str(&text))
                .transpose()
                .map_err(|e| anyhow::anyhow!("--jwks (jwks): not JSON ({e})"))?;
            let registration = ClientRegistration {
                client_name: name,
                client_type: public.then(|| "public".to_owned()),
                token_endpoint_auth_method: auth_method,
                grant_types: grants,
                resources,
                default_resource,
                scope: scopes.join(" "),
                allowed_origins: origins,
                redirect_uris,
                dpop_bound_access_tokens: require_dpop,
                jwks,
                access_token_lifetime,
                first_party,
                id_token_signed_response_alg: id_token_alg,
                require_pushed_authorization_requests: require_par,
                post_logout_redirect_uris,
                backchannel_logout_uri,
                enabled: true,
            };
            let (client, secret) = state.registry.create_client(registration, &by).await.map_err(explain)?;
            if json {
                print_json(&client.metadata(secret.as_ref()))?;
            } else {
                println!("client_id:     {}", client.id);
                if let Some(secret) = &secret {
                    println!("client_secret: {}   (shown once; store it now)", secret.expose());
                }
            }
        }
        ClientsCommand::Update { client_id, patch, if_match } => {
            let patch = read_patch(patch)?;
            let current = state.registry.load_client(&client_id).await.map_err(explain)?;
            let if_match = if_match.or_else(|| Some(current.etag()));
            let registration = merge_patch::patched(&current.registration(), patch)
                .map_err(|field| explain(RegistryError::Invalid(field)))?;
            let (client, secret) =
                state.registry.update_client(&client_id, registration, if_match, &by).await.map_err(explain)?;
            print_json(&client.metadata(secret.as_ref()))?;
        }
        ClientsCommand::List { json } => {
            let all = state.registry.list_clients().await.map_err(explain)?;
            if json {
                print_json(&all.iter().map(|c| c.metadata(None)).collect::<Vec<_>>())?;
            } else {
                for c in all {
                    println!("{}  {}  {}  enabled: {}", c.id, c.auth_method, c.name, c.enabled);
                }
            }
        }
        ClientsCommand::Show { client_id } => {
            let client = state.registry.load_client(&client_id).await.map_err(explain)?;
            print_json(&serde_json::json!({ "etag": client.etag(), "client": client.metadata(None) }))?;
        }
        ClientsCommand::Delete { client_id } => {
            state.registry.delete_client(&client_id, &by).await.map_err(explain)?;
            println!("deleted client {client_id}");
        }
        ClientsCommand::Disable { client_id } => {
            let client = state.registry.set_enabled(&client_id, false, &by).await.map_err(explain)?;
            println!("disabled client {}", client.id);
        }
        ClientsCommand::Enable { client_id } => {
            let client = state.registry.set_enabled(&client_id, true, &by).await.map_err(explain)?;
            println!("enabled client {}", client.id);
        }
        ClientsCommand::RotateSecret { client_id, overlap } => {
            let secret = state.registry.rotate_secret(&client_id, overlap, &by).await.map_err(explain)?;
            print_json(&serde_json::json!({ "client_secret": secret.expose(), "previous_secret_valid_for": overlap }))?;
        }
    }
    Ok(())
}
