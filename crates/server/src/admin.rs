//! `warbler workspaces …` and `warbler keys …`: administration straight on the database, safe
//! while the server runs (SQLite in WAL mode; the server reads channels and keys per request).

use anyhow::{Context, Result, bail};
use serde_json::json;
use warbler_model::{AccessKeyId, WorkspaceId};
use warbler_store::{ChannelSpec, Store, WorkspaceAccess};

use crate::config::{DataDirArgs, KeysCommand, WorkspacesCommand};
use crate::{new_secret, now_timestamp, random_bytes};

pub(crate) async fn workspaces(command: WorkspacesCommand) -> Result<()> {
    match command {
        WorkspacesCommand::Create { data, numbers } => {
            let store = open(&data).await?;
            let first = first_workspace(&store).await?;
            let now = now_timestamp();
            let millis = u64::try_from(now.unix_millis()).unwrap_or(0);
            let workspace = WorkspaceId::from_parts(millis, random_bytes());
            let key_id = AccessKeyId::from_parts(millis, random_bytes());
            let secret = new_secret();
            store
                .create_workspace_in(first.organization_id, workspace, key_id, &secret, now)
                .await
                .context("creating the workspace")?;
            let spec = ChannelSpec {
                numbers,
                ..ChannelSpec::default()
            };
            let channel = store
                .create_channel(workspace, &spec, now)
                .await
                .context("creating its channel")?;
            println!(
                "{}",
                json!({
                    "organizationId": first.organization_id,
                    "workspaceId": workspace,
                    "channelId": channel,
                    "accessKey": secret,
                })
            );
        }
        WorkspacesCommand::List { data } => {
            let store = open(&data).await?;
            for access in store.workspaces().await? {
                println!(
                    "{}",
                    json!({"organizationId": access.organization_id, "workspaceId": access.workspace_id})
                );
            }
        }
    }
    Ok(())
}

pub(crate) async fn keys(command: KeysCommand) -> Result<()> {
    match command {
        KeysCommand::Create { data, workspace } => {
            let store = open(&data).await?;
            let workspace = pick_workspace(&store, workspace.as_deref()).await?;
            let (id, secret) = create_key(&store, workspace.workspace_id).await?;
            println!(
                "{}",
                json!({"workspaceId": workspace.workspace_id, "accessKeyId": id, "accessKey": secret})
            );
        }
        KeysCommand::List { data, workspace } => {
            let store = open(&data).await?;
            let workspace = pick_workspace(&store, workspace.as_deref()).await?;
            for key in store.access_keys(workspace.workspace_id).await? {
                println!(
                    "{}",
                    json!({
                        "accessKeyId": key.id,
                        "createdAt": key.created_at,
                        "revokedAt": key.revoked_at,
                    })
                );
            }
        }
        KeysCommand::Revoke {
            data,
            workspace,
            key_id,
        } => {
            let store = open(&data).await?;
            let workspace = pick_workspace(&store, workspace.as_deref()).await?;
            let id: AccessKeyId = key_id
                .parse()
                .with_context(|| format!("{key_id:?} is not a key id"))?;
            store
                .revoke_access_key(workspace.workspace_id, id, now_timestamp())
                .await
                .with_context(|| format!("revoking key {id}"))?;
            println!("{}", json!({"accessKeyId": id, "revoked": true}));
        }
        KeysCommand::Rotate { data, workspace } => {
            let store = open(&data).await?;
            let workspace = pick_workspace(&store, workspace.as_deref()).await?;
            let old = store.access_keys(workspace.workspace_id).await?;
            let (id, secret) = create_key(&store, workspace.workspace_id).await?;
            let now = now_timestamp();
            for key in old.iter().filter(|key| key.revoked_at.is_none()) {
                store
                    .revoke_access_key(workspace.workspace_id, key.id, now)
                    .await?;
            }
            println!(
                "{}",
                json!({"workspaceId": workspace.workspace_id, "accessKeyId": id, "accessKey": secret})
            );
        }
    }
    Ok(())
}

async fn open(data: &DataDirArgs) -> Result<Store> {
    if !data.data_dir.join("warbler.db").exists() {
        bail!(
            "no Warbler database in {}: start the server once first",
            data.data_dir.display()
        );
    }
    Store::open(&data.data_dir)
        .await
        .context("opening the database")
}

async fn first_workspace(store: &Store) -> Result<WorkspaceAccess> {
    store
        .first_workspace()
        .await?
        .context("the database has no workspace")
}

async fn pick_workspace(store: &Store, workspace: Option<&str>) -> Result<WorkspaceAccess> {
    match workspace {
        None => first_workspace(store).await,
        Some(text) => {
            let id: WorkspaceId = text
                .parse()
                .with_context(|| format!("{text:?} is not a workspace id"))?;
            store
                .workspace(id)
                .await
                .with_context(|| format!("no workspace {id}"))
        }
    }
}

async fn create_key(store: &Store, workspace: WorkspaceId) -> Result<(AccessKeyId, String)> {
    let now = now_timestamp();
    let id = AccessKeyId::from_parts(
        u64::try_from(now.unix_millis()).unwrap_or(0),
        random_bytes(),
    );
    let secret = new_secret();
    store
        .create_access_key(workspace, id, &secret, now)
        .await
        .context("creating the key")?;
    Ok((id, secret))
}
