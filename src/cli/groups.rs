//! `idp groups …`: groups and their members, through the groups service (as the admin API).

use super::{print_json, GroupsCommand};
use crate::services::audit::Actor;
use crate::services::users::User;
use crate::state::AppState;

async fn user(state: &AppState, username: &str) -> anyhow::Result<User> {
    state.users.find_by_username(username).await?.ok_or_else(|| anyhow::anyhow!("no such user"))
}

pub async fn run(command: GroupsCommand, state: AppState) -> anyhow::Result<()> {
    let by = Actor::cli();
    match command {
        GroupsCommand::Create { name } => {
            let group = state.groups.create(&name, &by).await?;
            println!("created group {} ({})", group.name, group.group_id);
        }
        GroupsCommand::List { json } => {
            let groups = state.groups.page(None, 10_000).await?;
            if json {
                return print_json(&groups);
            }
            for g in groups {
                println!("{}  {}  members: {}", g.group_id, g.name, g.members);
            }
        }
        GroupsCommand::Rename { group_id, name } => {
            let group = state.groups.rename(&group_id, &name, None, &by).await?;
            println!("renamed to {}", group.name);
        }
        GroupsCommand::Delete { group_id } => {
            state.groups.delete(&group_id, &by).await?;
            println!("deleted group {group_id}");
        }
        GroupsCommand::AddMember { group_id, username } => {
            let user = user(&state, &username).await?;
            state.groups.add_member(&group_id, &user.user_id, &by).await?;
            println!("{} is a member", user.username);
        }
        GroupsCommand::RemoveMember { group_id, username } => {
            let user = user(&state, &username).await?;
            state.groups.remove_member(&group_id, &user.user_id, &by).await?;
            println!("{} is no longer a member", user.username);
        }
    }
    Ok(())
}
