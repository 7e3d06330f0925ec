//! Configuration: defaults, then the TOML file (`--config`), then `WARBLER_*` environment
//! variables, then flags (each later source wins). Parsed once, here, into [`Config`].

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::path::PathBuf;

use anyhow::{Context, Result, bail};
use clap::{Args, Parser, Subcommand};
use serde::Deserialize;

/// Warbler: a self-hosted programmable voice server speaking Bird's Voice API over SIP and RTP.
#[derive(Debug, Parser)]
#[command(name = "warbler", version)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: CliCommand,
}

#[derive(Debug, Subcommand)]
pub(crate) enum CliCommand {
    /// Run the server: HTTP API, SIP (UDP and TCP), RTP media, webhooks.
    Serve(ServeArgs),
    /// Manage workspaces (usable while the server runs).
    #[command(subcommand)]
    Workspaces(WorkspacesCommand),
    /// Manage access keys (usable while the server runs).
    #[command(subcommand)]
    Keys(KeysCommand),
}

/// Where the database is, for the admin commands.
#[derive(Debug, Args)]
pub(crate) struct DataDirArgs {
    /// Data directory of the server. Default ./warbler-data.
    #[arg(long, env = "WARBLER_DATA_DIR", default_value = "./warbler-data")]
    pub(crate) data_dir: PathBuf,
}

#[derive(Debug, Subcommand)]
pub(crate) enum WorkspacesCommand {
    /// Add a workspace (in the first organization) with one voice channel and one access key;
    /// prints the same JSON fields as bootstrap.json.
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        /// Request-URI users the new channel answers (comma-separated); none = every user not
        /// claimed by another channel.
        #[arg(long, value_delimiter = ',')]
        numbers: Vec<String>,
    },
    /// List workspaces as JSON lines.
    List {
        #[command(flatten)]
        data: DataDirArgs,
    },
}

#[derive(Debug, Subcommand)]
pub(crate) enum KeysCommand {
    /// Create an access key; prints it once (only its hash is stored).
    Create {
        #[command(flatten)]
        data: DataDirArgs,
        /// The workspace (default: the first one, bootstrap.json's).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// List a workspace's keys (ids and dates, never secrets) as JSON lines.
    List {
        #[command(flatten)]
        data: DataDirArgs,
        /// The workspace (default: the first one).
        #[arg(long)]
        workspace: Option<String>,
    },
    /// Revoke a key: requests with it get 401 at once.
    Revoke {
        #[command(flatten)]
        data: DataDirArgs,
        /// The workspace (default: the first one).
        #[arg(long)]
        workspace: Option<String>,
        /// The key's id (from `keys list`).
        key_id: String,
    },
    /// Create a new key and revoke every other key of the workspace; prints the new key.
    Rotate {
        #[command(flatten)]
        data: DataDirArgs,
        /// The workspace (default: the first one).
        #[arg(long)]
        workspace: Option<String>,
    },
}

#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// TOML configuration file.
    #[arg(long, env = "WARBLER_CONFIG")]
    pub(crate) config: Option<PathBuf>,
    /// Data directory (SQLite database, caches, bootstrap.json). Default ./warbler-data.
    #[arg(long, env = "WARBLER_DATA_DIR")]
    pub(crate) data_dir: Option<PathBuf>,
    /// HTTP API address. Default 127.0.0.1:8080.
    #[arg(long, env = "WARBLER_HTTP_LISTEN")]
    pub(crate) http_listen: Option<SocketAddr>,
    /// SIP address, UDP and TCP on the same port. Default 127.0.0.1:5060.
    #[arg(long, env = "WARBLER_SIP_LISTEN")]
    pub(crate) sip_listen: Option<SocketAddr>,
    /// RTP port range LOW-HIGH. Default 20000-29999.
    #[arg(long, env = "WARBLER_RTP_PORTS")]
    pub(crate) rtp_ports: Option<String>,
    /// Address announced in SDP and bound for RTP. Default: the SIP address's IP.
    #[arg(long, env = "WARBLER_MEDIA_ADDRESS")]
    pub(crate) media_address: Option<IpAddr>,
    /// Hang up an answered call after this many seconds without RTP (0: never). Default 0.
    #[arg(long, env = "WARBLER_MEDIA_TIMEOUT")]
    pub(crate) media_timeout: Option<u64>,
    /// Hang up a call this many seconds after its flow ran out of commands (0: never, as Bird).
    #[arg(long, env = "WARBLER_FLOW_IDLE_TIMEOUT")]
    pub(crate) flow_idle_timeout: Option<u64>,
    /// Log filter (tracing env-filter syntax). Default "info,rsipstack=warn".
    #[arg(long, env = "WARBLER_LOG")]
    pub(crate) log: Option<String>,
}

/// The TOML file's shape (every key optional).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct FileConfig {
    data_dir: Option<PathBuf>,
    http_listen: Option<SocketAddr>,
    sip_listen: Option<SocketAddr>,
    rtp_ports: Option<String>,
    media_address: Option<IpAddr>,
    media_timeout: Option<u64>,
    flow_idle_timeout: Option<u64>,
    log: Option<String>,
    #[serde(default)]
    webhooks: WebhookSettings,
    #[serde(default)]
    channels: Vec<ChannelConfig>,
}

/// The `[webhooks]` table: delivery timeouts and the retry schedule.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct WebhookSettings {
    /// Connect timeout of one attempt, in milliseconds.
    #[serde(default = "default_connect_timeout_ms")]
    pub(crate) connect_timeout_ms: u64,
    /// Whole-request timeout of one attempt, in milliseconds.
    #[serde(default = "default_request_timeout_ms")]
    pub(crate) request_timeout_ms: u64,
    /// First retry delay, in milliseconds (doubled per attempt, ±25 % jitter).
    #[serde(default = "default_initial_backoff_ms")]
    pub(crate) initial_backoff_ms: u64,
    /// Longest delay between attempts, in seconds.
    #[serde(default = "default_max_backoff_seconds")]
    pub(crate) max_backoff_seconds: u64,
    /// How long to keep retrying an event, in hours (Bird: 8), before it goes dead.
    #[serde(default = "default_max_age_hours")]
    pub(crate) max_age_hours: u64,
}

impl Default for WebhookSettings {
    fn default() -> Self {
        Self {
            connect_timeout_ms: default_connect_timeout_ms(),
            request_timeout_ms: default_request_timeout_ms(),
            initial_backoff_ms: default_initial_backoff_ms(),
            max_backoff_seconds: default_max_backoff_seconds(),
            max_age_hours: default_max_age_hours(),
        }
    }
}

impl WebhookSettings {
    /// The runtime's form.
    pub(crate) fn to_runtime(&self) -> warbler_runtime::WebhookConfig {
        use std::time::Duration;
        warbler_runtime::WebhookConfig {
            connect_timeout: Duration::from_millis(self.connect_timeout_ms),
            request_timeout: Duration::from_millis(self.request_timeout_ms),
            max_age: Duration::from_secs(self.max_age_hours.saturating_mul(3600)),
            initial_backoff: Duration::from_millis(self.initial_backoff_ms),
            max_backoff: Duration::from_secs(self.max_backoff_seconds),
        }
    }
}

const fn default_connect_timeout_ms() -> u64 {
    5_000
}
const fn default_request_timeout_ms() -> u64 {
    10_000
}
const fn default_initial_backoff_ms() -> u64 {
    1_000
}
const fn default_max_backoff_seconds() -> u64 {
    3_600
}
const fn default_max_age_hours() -> u64 {
    8
}

/// One `[[channels]]` entry.
#[derive(Clone, Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ChannelConfig {
    /// Request-URI users this channel answers; empty = all.
    #[serde(default)]
    pub(crate) numbers: Vec<String>,
    /// Where outbound calls go (`sip:host:port`).
    pub(crate) trunk: Option<String>,
    /// Digest user name for the trunk.
    pub(crate) trunk_username: Option<String>,
    /// Digest password for the trunk.
    pub(crate) trunk_password: Option<String>,
    /// A Bird `callFlow` run at once on every inbound call of the channel.
    pub(crate) call_flow: Option<toml::Value>,
}

/// The effective configuration.
#[derive(Debug)]
pub(crate) struct Config {
    pub(crate) data_dir: PathBuf,
    pub(crate) http_listen: SocketAddr,
    pub(crate) sip_listen: SocketAddr,
    pub(crate) rtp_ports: RangeInclusive<u16>,
    pub(crate) media_address: Option<IpAddr>,
    pub(crate) media_timeout: Option<std::time::Duration>,
    pub(crate) flow_idle_timeout: Option<std::time::Duration>,
    pub(crate) log: String,
    pub(crate) webhooks: WebhookSettings,
    pub(crate) channels: Vec<ChannelConfig>,
}

impl Config {
    /// Merges flags/env (already merged by clap, flags first) over the file over defaults.
    pub(crate) fn load(args: ServeArgs) -> Result<Self> {
        let file = match &args.config {
            Some(path) => {
                let text = std::fs::read_to_string(path).with_context(|| {
                    format!("reading the configuration file {}", path.display())
                })?;
                toml::from_str::<FileConfig>(&text)
                    .with_context(|| format!("in the configuration file {}", path.display()))?
            }
            None => FileConfig::default(),
        };
        let rtp_ports = args
            .rtp_ports
            .or(file.rtp_ports)
            .unwrap_or_else(|| "20000-29999".to_owned());
        Ok(Self {
            data_dir: args
                .data_dir
                .or(file.data_dir)
                .unwrap_or_else(|| PathBuf::from("./warbler-data")),
            http_listen: args
                .http_listen
                .or(file.http_listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 8080))),
            sip_listen: args
                .sip_listen
                .or(file.sip_listen)
                .unwrap_or(SocketAddr::from(([127, 0, 0, 1], 5060))),
            rtp_ports: parse_port_range(&rtp_ports)?,
            media_address: args.media_address.or(file.media_address),
            media_timeout: args
                .media_timeout
                .or(file.media_timeout)
                .filter(|seconds| *seconds > 0)
                .map(std::time::Duration::from_secs),
            flow_idle_timeout: args
                .flow_idle_timeout
                .or(file.flow_idle_timeout)
                .filter(|seconds| *seconds > 0)
                .map(std::time::Duration::from_secs),
            log: args
                .log
                .or(file.log)
                .unwrap_or_else(|| "info,rsipstack=warn".to_owned()),
            webhooks: file.webhooks,
            channels: file.channels,
        })
    }
}

/// Parses `LOW-HIGH` (inclusive, LOW ≤ HIGH, at least two ports so one even port fits).
pub(crate) fn parse_port_range(text: &str) -> Result<RangeInclusive<u16>> {
    let Some((low, high)) = text.split_once('-') else {
        bail!("rtp_ports must look like LOW-HIGH, e.g. 20000-29999 (got {text:?})");
    };
    let low: u16 = low
        .trim()
        .parse()
        .with_context(|| format!("rtp_ports: bad low port in {text:?}"))?;
    let high: u16 = high
        .trim()
        .parse()
        .with_context(|| format!("rtp_ports: bad high port in {text:?}"))?;
    if low == 0 || high <= low {
        bail!("rtp_ports: need 0 < LOW < HIGH (got {text:?})");
    }
    Ok(low..=high)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn port_ranges_are_checked() {
        assert_eq!(
            parse_port_range("20000-29999").expect("valid"),
            20000..=29999
        );
        assert!(parse_port_range("20000").is_err());
        assert!(parse_port_range("3000-2000").is_err());
        assert!(parse_port_range("0-10").is_err());
        assert!(parse_port_range("a-b").is_err());
    }

    #[test]
    fn channel_tables_parse_with_flows() {
        let file: FileConfig = toml::from_str(
            r#"
            sip_listen = "127.0.0.1:5070"
            [[channels]]
            numbers = ["1000", "+3197004499437"]
            trunk = "sip:127.0.0.1:5080"
            call_flow = [
              { command = "say", options = { text = "Hello", locale = "en-GB" } },
              { command = "hangup" },
            ]
            "#,
        )
        .expect("valid");
        assert_eq!(file.channels.len(), 1);
        assert_eq!(file.channels[0].numbers, vec!["1000", "+3197004499437"]);
        let flow =
            serde_json::to_value(file.channels[0].call_flow.as_ref().expect("flow")).expect("json");
        assert_eq!(flow[0]["options"]["locale"], "en-GB");
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(toml::from_str::<FileConfig>("sip_port = 5060").is_err());
    }
}
