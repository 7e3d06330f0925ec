//! The `warbler` binary: configuration, logging, bootstrap, wiring of store, runtime and HTTP
//! API, and signals. The only crate allowed `anyhow`.

mod admin;
mod config;
mod control;

use std::io::Write;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::Parser;
use serde::Serialize;
use tokio_util::sync::CancellationToken;
use warbler_audio::{AudioLibrary, AudioLibraryConfig, Tts};
use warbler_model::{AccessKeyId, ChannelId, OrganizationId, Timestamp, WorkspaceId};
use warbler_runtime::{ChannelRoute, RuntimeConfig};
use warbler_store::{ChannelSpec, NewWorkspace, Store};

use crate::config::{ChannelConfig, Cli, CliCommand, Config};
use crate::control::RuntimeControl;

/// How long live calls get to hang up cleanly after SIGTERM.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("warbler: cannot start the async runtime: {error}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            CliCommand::Serve(args) => serve(Config::load(args)?).await,
            CliCommand::Workspaces(command) => admin::workspaces(command).await,
            CliCommand::Keys(command) => admin::keys(command).await,
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("warbler: {error:#}");
            std::process::ExitCode::FAILURE
        }
    }
}

/// What `bootstrap.json` holds.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct Bootstrap {
    organization_id: OrganizationId,
    workspace_id: WorkspaceId,
    channel_id: ChannelId,
    access_key: String,
}

async fn serve(config: Config) -> Result<()> {
    init_logging(&config.log);
    // One rustls crypto provider for the whole process (webhooks and media fetch over HTTPS).
    let _ = rustls::crypto::ring::default_provider().install_default();
    std::fs::create_dir_all(&config.data_dir)
        .with_context(|| format!("creating the data directory {}", config.data_dir.display()))?;
    let store = Store::open(&config.data_dir)
        .await
        .context("opening the database")?;
    bootstrap(&store, &config).await?;
    let tts = Tts::discover();
    tracing::info!(
        locales = tts.supported_locales().len(),
        "text-to-speech voices found"
    );
    let http_client = reqwest::Client::builder()
        .connect_timeout(Duration::from_secs(5))
        .redirect(reqwest::redirect::Policy::limited(3))
        .user_agent(concat!("Warbler/", env!("CARGO_PKG_VERSION")))
        .build()
        .context("building the HTTP client")?;
    let library = AudioLibrary::new(
        http_client.clone(),
        tts,
        AudioLibraryConfig::new(config.data_dir.join("cache")),
    );
    check_channel_flows(&store, &library).await?;

    let runtime_config = RuntimeConfig {
        sip_listen: config.sip_listen,
        rtp_ports: config.rtp_ports.clone(),
        media_address: config.media_address,
        media_timeout: config.media_timeout,
        flow_idle_timeout: config.flow_idle_timeout,
        webhook: config.webhooks.to_runtime(),
        user_agent: concat!("Warbler/", env!("CARGO_PKG_VERSION")).to_owned(),
    };
    let runtime = warbler_runtime::start(runtime_config, store.clone(), library)
        .await
        .context("starting SIP and media")?;
    let handle = runtime.handle();
    let api = warbler_http::router(
        store,
        Arc::new(RuntimeControl::new(handle.clone())),
        Default::default(),
    );
    let listener = tokio::net::TcpListener::bind(config.http_listen)
        .await
        .with_context(|| format!("binding the HTTP API on {}", config.http_listen))?;
    let http_address = listener.local_addr().context("reading the HTTP address")?;
    println!(
        "warbler: HTTP API on http://{http_address}, SIP on {} (UDP and TCP)",
        handle.sip_address()
    );
    let http_cancel = CancellationToken::new();
    let http_stop = http_cancel.clone();
    let http = tokio::spawn(async move {
        axum::serve(listener, api)
            .with_graceful_shutdown(async move { http_stop.cancelled().await })
            .await
    });

    wait_for_signal().await;
    // Calls first (they may still be PATCHed while they end), then the API.
    runtime.shutdown(SHUTDOWN_GRACE).await;
    http_cancel.cancel();
    match http.await {
        Ok(Ok(())) => {}
        Ok(Err(error)) => tracing::warn!(%error, "the HTTP server stopped with an error"),
        Err(error) => tracing::warn!(%error, "the HTTP server task failed"),
    }
    tracing::info!("stopped");
    Ok(())
}

/// First start: creates the organization, workspace, access key and channel, and writes
/// `bootstrap.json` (mode 0600). Every start: applies the config file's channels to the first
/// workspace. Returns that workspace.
async fn bootstrap(store: &Store, config: &Config) -> Result<WorkspaceId> {
    let now = now_timestamp();
    let millis = u64::try_from(now.unix_millis()).unwrap_or(0);
    let first_start = store.is_empty().await.context("reading the database")?;
    let secret = if first_start {
        let secret = new_secret();
        let new = NewWorkspace {
            organization_id: OrganizationId::from_parts(millis, random_bytes()),
            workspace_id: WorkspaceId::from_parts(millis, random_bytes()),
            access_key_id: AccessKeyId::from_parts(millis, random_bytes()),
            access_key_secret: secret.clone(),
            created_at: now,
        };
        store
            .create_workspace(&new)
            .await
            .context("creating the first workspace")?;
        Some(secret)
    } else {
        None
    };
    let access = store
        .first_workspace()
        .await
        .context("reading the first workspace")?
        .context("the database has no workspace")?;
    let declared: Vec<ChannelConfig> = if config.channels.is_empty() {
        vec![ChannelConfig::default()]
    } else {
        config.channels.clone()
    };
    let mut first_channel = None;
    for (position, channel) in declared.iter().enumerate() {
        let call_flow = match &channel.call_flow {
            Some(flow) => {
                Some(serde_json::to_value(flow).context("converting a channel's call_flow")?)
            }
            None => None,
        };
        let spec = ChannelSpec {
            numbers: channel.numbers.clone(),
            trunk: channel.trunk.clone(),
            trunk_username: channel.trunk_username.clone(),
            trunk_password: channel.trunk_password.clone(),
            call_flow,
        };
        let id = store
            .upsert_config_channel(
                access.workspace_id,
                u32::try_from(position).unwrap_or(u32::MAX),
                &spec,
                now,
            )
            .await
            .context("storing a configured channel")?;
        first_channel.get_or_insert(id);
    }
    if let (Some(secret), Some(channel_id)) = (secret, first_channel) {
        let bootstrap = Bootstrap {
            organization_id: access.organization_id,
            workspace_id: access.workspace_id,
            channel_id,
            access_key: secret,
        };
        let path = config.data_dir.join("bootstrap.json");
        write_private(&path, &serde_json::to_vec_pretty(&bootstrap)?)?;
        println!(
            "warbler: first start: organization, workspace, channel and access key written to {}",
            path.display()
        );
    }
    Ok(access.workspace_id)
}

/// Checks every stored channel's flow once at start (a configuration mistake stops the server
/// with the field path); the runtime then routes from the store.
async fn check_channel_flows(store: &Store, library: &AudioLibrary) -> Result<()> {
    for channel in store.all_channels().await.context("reading channels")? {
        let route = ChannelRoute::from_channel(&channel)
            .map_err(|error| anyhow::anyhow!("channel {}: {error}", channel.id))?;
        if let Some(flow) = &route.call_flow {
            warbler_runtime::check_flow(library, flow, "call_flow")
                .map_err(|error| anyhow::anyhow!("channel {}: {error}", channel.id))?;
        }
    }
    Ok(())
}

fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(path)
        .with_context(|| format!("writing {}", path.display()))?;
    file.write_all(contents)?;
    Ok(())
}

/// A 40-character access key from 240 random bits (base62).
pub(crate) fn new_secret() -> String {
    const ALPHABET: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789";
    let mut secret = String::with_capacity(40);
    while secret.len() < 40 {
        for byte in uuid::Uuid::new_v4().as_bytes() {
            // Rejection sampling keeps the alphabet uniform.
            if *byte < 248 && secret.len() < 40 {
                secret.push(char::from(ALPHABET[usize::from(*byte % 62)]));
            }
        }
    }
    secret
}

pub(crate) fn random_bytes() -> [u8; 10] {
    let mut bytes = [0u8; 10];
    bytes.copy_from_slice(&uuid::Uuid::new_v4().as_bytes()[..10]);
    bytes
}

pub(crate) fn now_timestamp() -> Timestamp {
    let millis = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    Timestamp::from_unix_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

fn init_logging(filter: &str) {
    let filter = tracing_subscriber::EnvFilter::try_new(filter)
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    // Colours only on a terminal: logs redirected to a file stay greppable.
    let ansi = std::io::IsTerminal::is_terminal(&std::io::stdout());
    let _ = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_target(false)
        .with_ansi(ansi)
        .try_init();
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    match (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) {
        (Ok(mut terminate), Ok(mut interrupt)) => {
            tokio::select! {
                _ = terminate.recv() => {}
                _ = interrupt.recv() => {}
            }
        }
        _ => {
            let _ = tokio::signal::ctrl_c().await;
        }
    }
}
