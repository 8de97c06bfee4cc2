//! `idp clients …`: clients, through the registry service (which audits and announces every
//! change).

use super::{print_json, ClientsCommand};
use crate::state::AppState;

pub async fn run(command: ClientsCommand, state: AppState) -> anyhow::Result<()> {
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
            let registration = crate::services::registry::ClientRegistration {
                name,
                public,
                grant_types: grants,
                resources,
                default_resource,
                scopes,
                web_origins: origins,
                redirect_uris,
                require_dpop,
                auth_method,
                jwks,
                access_token_lifetime,
                first_party,
                id_token_alg,
                require_pushed_authorization_requests: require_par,
                post_logout_redirect_uris,
                backchannel_logout_uri,
            };
            let (client, secret) = state.registry.create_client(registration).await?;
            let metadata = client.metadata(secret.as_ref());
            if json {
                print_json(&metadata)?;
            } else {
                println!("client_id:     {}", client.id);
                if let Some(secret) = &secret {
                    println!("client_secret: {}   (shown once; store it now)", secret.expose());
                }
            }
        }
        ClientsCommand::List { json } => {
            let all = state.registry.list_clients().await?;
            if json {
                print_json(&all.iter().map(|c| c.metadata(None)).collect::<Vec<_>>())?;
            } else {
                for c in all {
                    println!("{}  {}  {}  enabled: {}", c.id, c.auth_method, c.name, c.enabled);
                }
            }
        }
        ClientsCommand::Show { client_id } => {
            let client = state.registry.load_client(&client_id).await?;
            print_json(&client.metadata(None))?;
        }
        ClientsCommand::Delete { client_id } => {
            state.registry.delete_client(&client_id).await?;
            println!("deleted client {client_id}");
        }
        ClientsCommand::Disable { client_id } => {
            let client = state.registry.set_enabled(&client_id, false).await?;
            println!("disabled client {}", client.id);
        }
        ClientsCommand::Enable { client_id } => {
            let client = state.registry.set_enabled(&client_id, true).await?;
            println!("enabled client {}", client.id);
        }
        ClientsCommand::RotateSecret { client_id, overlap } => {
            let secret = state.registry.rotate_secret(&client_id, overlap).await?;
            print_json(&serde_json::json!({ "client_secret": secret.expose(), "previous_secret_valid_for": overlap }))?;
        }
    }
    Ok(())
}
