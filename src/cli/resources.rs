//! `idp resources …`: resource servers, through the registry service.

use super::{print_json, ResourcesCommand};
use crate::services::registry::ResourceRegistration;
use crate::state::AppState;

pub async fn run(command: ResourcesCommand, state: AppState) -> anyhow::Result<()> {
    match command {
        ResourcesCommand::Create { identifier, name, scopes, access_token_lifetime, require_dpop, json } => {
            let registration = ResourceRegistration { identifier, name, scopes, access_token_lifetime, require_dpop };
            let created = state.registry.create_resource(registration).await?;
            if json {
                print_json(&created)?;
            } else {
                println!("registered resource server {}", created.identifier);
            }
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
