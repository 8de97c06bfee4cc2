//! `idp resources …`: resource servers, through the registry service (as the admin API).

use super::{explain, print_json, read_patch, ResourcesCommand};
use crate::services::audit::Actor;
use crate::services::merge_patch;
use crate::services::registry::{RegistryError, ResourceRegistration};
use crate::state::AppState;

pub async fn run(command: ResourcesCommand, state: AppState) -> anyhow::Result<()> {
    let by = Actor::cli();
    match command {
        ResourcesCommand::Create {
            identifier,
            name,
            scopes,
            access_token_lifetime,
            require_dpop,
            include_groups,
            introspection_clients,
            json,
        } => {
            let registration = ResourceRegistration {
                identifier,
                name,
                scopes,
                access_token_lifetime,
                require_dpop,
                include_groups,
                introspection_clients,
            };
            let created = state.registry.create_resource(registration, &by).await.map_err(explain)?;
            if json {
                print_json(&created)?;
            } else {
                println!("registered resource server {}", created.identifier);
            }
        }
        ResourcesCommand::Update { identifier, patch, if_match } => {
            let patch = read_patch(patch)?;
            let current = state
                .registry
                .resource(&identifier)
                .ok_or_else(|| explain(RegistryError::NotFound("resource server")))?;
            let if_match = if_match.or_else(|| Some(current.etag()));
            let registration = merge_patch::patched(&current.registration(), patch)
                .map_err(|field| explain(RegistryError::Invalid(field)))?;
            let updated =
                state.registry.update_resource(&identifier, registration, if_match, &by).await.map_err(explain)?;
            print_json(&updated)?;
        }
        ResourcesCommand::Show { identifier } => {
            let found = state
                .registry
                .resource(&identifier)
                .ok_or_else(|| explain(RegistryError::NotFound("resource server")))?;
            print_json(&serde_json::json!({ "etag": found.etag(), "resource_server": *found }))?;
        }
        ResourcesCommand::Delete { identifier } => {
            state.registry.delete_resource(&identifier, &by).await.map_err(explain)?;
            println!("deleted resource server {identifier}");
        }
        ResourcesCommand::List { json } => {
            let all: Vec<_> = state.registry.resources().iter().map(|r| (**r).clone()).collect();
            if json {
                print_json(&all)?;
            } else {
                for r in all {
                    println!("{}  scopes: {}  dpop: {}", r.identifier, r.scopes, r.require_dpop);
                }
            }
        }
    }
    Ok(())
}
