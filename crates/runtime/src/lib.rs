//! Warbler's tokio shell: the SIP driver, one actor task per call, RTP sockets, the persister
//! and the webhook dispatcher. It owns sockets, tasks and clocks, and makes no protocol decision:
//! those live in the sans-IO cores (`warbler-flow`, `warbler-call`, `warbler-media`) and behind
//! the SIP facade (`warbler-sip`).
//!
//! Start it with [`start`]; drive calls from the API with [`RuntimeHandle::update_call`]; stop it
//! with [`Runtime::shutdown`], which ends live calls cleanly before it stops SIP.

mod call_actor;
mod leg;
mod media_source;
mod ports;
mod registry;
mod routes;
pub mod webhook;

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::{Notify, mpsc, oneshot};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;
use warbler_audio::AudioLibrary;
use warbler_media::{AnswerParams, Codec, negotiate, parse_offer, render_answer};
use warbler_model::request::{CreateCall, PatchCall};
use warbler_model::{
    Call, CallFlow, CallId, CallStatus, ChannelId, Command, CommandRecord, EventKind,
    ValidationError, WorkspaceId,
};
use warbler_sip::{IncomingCall, SipConfig, SipEndpoint};
use warbler_store::{Store, StoreError};

use crate::call_actor::{
    CallSetup, CommandRefused, Control, Dialing, OFFERED_CODECS, PersistRequest, Shared,
    random_bytes,
};
use crate::leg::Leg;
use crate::media_source::MediaSource;
use crate::ports::PortPool;
use crate::registry::{Entry, Registry};
pub use crate::routes::ChannelRoute;
use crate::routes::RouteTable;
pub use crate::webhook::WebhookConfig;
use crate::webhook::now_timestamp;

/// Runtime settings.
#[derive(Clone, Debug)]
pub struct RuntimeConfig {
    /// SIP address (UDP and TCP on the same port).
    pub sip_listen: SocketAddr,
    /// RTP port range.
    pub rtp_ports: RangeInclusive<u16>,
    /// The address put in SDP (`c=`) and bound for RTP; defaults to the SIP address's IP.
    pub media_address: Option<IpAddr>,
    /// Hang up an answered call when no RTP arrived for this long (`None`: never). Note that a
    /// peer holding the call with `a=inactive` sends no RTP either.
    pub media_timeout: Option<Duration>,
    /// Hang up a call this long after its flow ran out of commands (`None`: it stays up, as
    /// with Bird).
    pub flow_idle_timeout: Option<Duration>,
    /// Webhook delivery settings.
    pub webhook: WebhookConfig,
    /// The `User-Agent`/`Server` product token.
    pub user_agent: String,
}

/// Why the runtime could not start.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The SIP endpoint could not bind.
    #[error("SIP: {0}")]
    Sip(#[from] warbler_sip::SipError),
    /// The media address is unspecified (0.0.0.0): set one peers can reach.
    #[error(
        "the media address {0} is unspecified; set media_address to an address peers can reach"
    )]
    UnspecifiedMediaAddress(IpAddr),
    /// The store failed during recovery.
    #[error("store: {0}")]
    Store(#[from] StoreError),
    /// The HTTP client for webhooks and media could not be built.
    #[error("HTTP client: {0}")]
    HttpClient(#[from] reqwest::Error),
}

/// Why a call could not be created.
#[derive(Debug, thiserror::Error)]
pub enum CreateError {
    /// No such channel in that workspace.
    #[error("no such channel")]
    NotFound,
    /// The channel has no trunk (or an unusable one) to place calls through.
    #[error("{0}")]
    NoTrunk(String),
    /// The request asks for something this server cannot do.
    #[error("{0}")]
    Invalid(ValidationError),
    /// No RTP port free, or shutting down.
    #[error("unavailable")]
    Unavailable,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// Why a PATCH was not applied.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// No such call in that workspace and channel.
    #[error("no such call")]
    NotFound,
    /// The call already ended.
    #[error("the call is not active")]
    CallNotActive,
    /// The request asks for something this server cannot do (e.g. a locale it cannot speak).
    #[error("{0}")]
    Invalid(ValidationError),
    /// The command does not fit the call's direction or state.
    #[error("{0}")]
    WrongState(&'static str),
    /// The server is shutting down or the call is overloaded.
    #[error("unavailable")]
    Unavailable,
    /// The store failed.
    #[error("store: {0}")]
    Store(#[from] StoreError),
}

/// A handle to the running runtime (cheap to clone).
#[derive(Clone)]
pub struct RuntimeHandle {
    store: Store,
    registry: Arc<Registry>,
    media: Arc<MediaSource>,
    sip_address: SocketAddr,
    dialer: Arc<Dialer>,
}

impl RuntimeHandle {
    /// Applies a PATCH to a live call (spec §5.5) and returns the call after it.
    pub async fn update_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        patch: PatchCall,
    ) -> Result<Call, UpdateError> {
        if let Some(flow) = &patch.call_flow {
            self.check_flow(flow)?;
        }
        if let Some(entry) = self.registry.get(call)
            && entry.workspace == workspace
            && entry.channel == channel
        {
            let (reply, answer) = oneshot::channel();
            if entry
                .controls
                .send(Control::Patch { patch, reply })
                .await
                .is_ok()
                && let Ok(call) = answer.await
            {
                return Ok(call);
            }
        }
        match self.store.call(workspace, channel, call).await {
            Ok(_) => Err(UpdateError::CallNotActive),
            Err(StoreError::NotFound) => Err(UpdateError::NotFound),
            Err(error) => Err(UpdateError::Store(error)),
        }
    }

    /// Places an outgoing call through the channel's trunk (spec §5.1): stores it `accepted`
    /// (with its `voice.outbound` event) and starts its actor, which dials at once.
    pub async fn create_call(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        request: CreateCall,
    ) -> Result<Call, CreateError> {
        if request.scheduled_for.is_some() {
            return Err(CreateError::Invalid(ValidationError::unsupported(
                "scheduledFor",
                "scheduled calls are not available on this server yet",
            )));
        }
        if request.record {
            return Err(CreateError::Invalid(ValidationError::unsupported(
                "record",
                "call recording is not available on this server yet",
            )));
        }
        check_flow(self.media.library(), &request.call_flow, "callFlow").map_err(|error| {
            match error {
                UpdateError::Invalid(validation) => CreateError::Invalid(validation),
                _ => CreateError::Unavailable,
            }
        })?;
        self.dialer.create_call(workspace, channel, request).await
    }

    /// Runs one command on a live call now (spec §5.7–5.14), replacing what is left of its flow.
    pub async fn command(
        &self,
        workspace: WorkspaceId,
        channel: ChannelId,
        call: CallId,
        command: Command,
    ) -> Result<CommandRecord, UpdateError> {
        // A per-command body has no flow around it: paths are relative to the body.
        check_command(self.media.library(), &command).map_err(|(field, message)| {
            UpdateError::Invalid(ValidationError::unsupported(field.path(), message))
        })?;
        if let Some(entry) = self.registry.get(call)
            && entry.workspace == workspace
            && entry.channel == channel
        {
            let (reply, answer) = oneshot::channel();
            if entry
                .controls
                .send(Control::Command { command, reply })
                .await
                .is_ok()
            {
                return match answer.await {
                    Ok(Ok(record)) => Ok(record),
                    Ok(Err(CommandRefused::WrongState(reason))) => {
                        Err(UpdateError::WrongState(reason))
                    }
                    Err(_) => Err(UpdateError::CallNotActive),
                };
            }
        }
        match self.store.call(workspace, channel, call).await {
            Ok(_) => Err(UpdateError::CallNotActive),
            Err(StoreError::NotFound) => Err(UpdateError::NotFound),
            Err(error) => Err(UpdateError::Store(error)),
        }
    }

    /// The SIP address actually bound.
    pub fn sip_address(&self) -> SocketAddr {
        self.sip_address
    }

    /// How many calls are live.
    pub fn live_calls(&self) -> usize {
        self.registry.len()
    }

    /// Refuses flows this server cannot carry out (a `say` locale without a voice here).
    fn check_flow(&self, flow: &CallFlow) -> Result<(), UpdateError> {
        check_flow(self.media.library(), flow, "callFlow")
    }
}

/// Checks that every `say` of `flow` has a voice on this server.
pub fn check_flow(library: &AudioLibrary, flow: &CallFlow, path: &str) -> Result<(), UpdateError> {
    for (index, step) in flow.steps.iter().enumerate() {
        check_command(library, &step.command).map_err(|(field, message)| {
            let field = match field {
                CommandField::Command => "command".to_owned(),
                field => format!("options.{}", field.path()),
            };
            UpdateError::Invalid(ValidationError::unsupported(
                format!("{path}[{index}].{field}"),
                message,
            ))
        })?;
    }
    Ok(())
}

/// The field of a command (relative to its options) that this server cannot carry out.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum CommandField {
    /// The command itself.
    Command,
    /// `say`'s locale.
    Locale,
    /// The locale of a `gather`'s `say` prompt.
    PromptLocale,
}

impl CommandField {
    /// The path inside the options (a per-command endpoint's body).
    const fn path(self) -> &'static str {
        match self {
            Self::Command => "command",
            Self::Locale => "locale",
            Self::PromptLocale => "say.locale",
        }
    }
}

/// Checks one command: a `say` locale with a voice here, and a command the runtime carries out.
fn check_command(library: &AudioLibrary, command: &Command) -> Result<(), (CommandField, String)> {
    let say = match command {
        Command::Say(say) => Some((say, CommandField::Locale)),
        Command::Gather(gather) => match &gather.prompt {
            Some(warbler_model::GatherPrompt::Say(say)) => Some((say, CommandField::PromptLocale)),
            _ => None,
        },
        _ => None,
    };
    if let Some((say, field)) = say
        && let Err(error) = library.tts().supports(&say.locale)
    {
        return Err((field, error.to_string()));
    }
    if let Some(name) = not_yet_carried_out(command) {
        return Err((
            CommandField::Command,
            format!("the `{name}` command is not available on this server yet"),
        ));
    }
    Ok(())
}

/// Commands the model and the flow engine know but the call runtime cannot carry out yet:
/// refused with 422 rather than accepted and faked.
fn not_yet_carried_out(command: &Command) -> Option<&'static str> {
    match command {
        Command::Record(_) => Some("record"),
        Command::Bridge(_) => Some("bridge"),
        _ => None,
    }
}

/// The running runtime: its handle, and the tasks to stop in order at shutdown.
pub struct Runtime {
    handle: RuntimeHandle,
    endpoint: SipEndpoint,
    calls: TaskTracker,
    calls_cancel: CancellationToken,
    persister: tokio::task::JoinHandle<()>,
    services: TaskTracker,
    services_cancel: CancellationToken,
}

impl Runtime {
    /// A handle for the API.
    pub fn handle(&self) -> RuntimeHandle {
        self.handle.clone()
    }

    /// Stops in order, so nothing is lost: live calls end cleanly (BYE when answered, 503 when
    /// not) and store their final state, waiting at most `grace` for them; the persister
    /// drains; then the webhook dispatcher and SIP stop.
    pub async fn shutdown(self, grace: Duration) {
        tracing::info!(live_calls = self.handle.live_calls(), "shutting down");
        // New INVITEs get 503 with Retry-After (RFC 3261 §21.5.4) from now on; live dialogs go on.
        self.endpoint.drain();
        self.calls_cancel.cancel();
        self.calls.close();
        if tokio::time::timeout(grace, self.calls.wait())
            .await
            .is_err()
        {
            tracing::warn!("some calls did not end within the grace period");
        }
        // Every sender of the persister lived in the driver and the call actors: it now drains
        // what is queued and ends.
        if tokio::time::timeout(grace, self.persister).await.is_err() {
            tracing::warn!("the persister did not drain within the grace period");
        }
        self.services_cancel.cancel();
        self.services.close();
        let _ = tokio::time::timeout(grace, self.services.wait()).await;
        drop(self.endpoint);
    }
}

/// Starts SIP, the persister, the webhook dispatcher and crash recovery. Stop it with
/// [`Runtime::shutdown`].
pub async fn start(
    config: RuntimeConfig,
    store: Store,
    library: AudioLibrary,
) -> Result<Runtime, StartError> {
    let media_address = config.media_address.unwrap_or(config.sip_listen.ip());
    if media_address.is_unspecified() {
        return Err(StartError::UnspecifiedMediaAddress(media_address));
    }
    let services = TaskTracker::new();
    let services_cancel = CancellationToken::new();
    let calls = TaskTracker::new();
    let calls_cancel = CancellationToken::new();
    let wake = Arc::new(Notify::new());
    recover_interrupted_calls(&store).await?;

    let (persist_sender, persist_receiver) = mpsc::channel(4096);
    let persister = tokio::spawn(run_persister(
        store.clone(),
        persist_receiver,
        Arc::clone(&wake),
    ));
    // Webhooks get their own client: their connect timeout, and no redirects (a receiver that
    // moves must be re-subscribed, as with Bird).
    let webhook_client = reqwest::Client::builder()
        .connect_timeout(config.webhook.connect_timeout)
        .redirect(reqwest::redirect::Policy::none())
        .user_agent("Warbler-Webhooks/1")
        .build()?;
    services.spawn(webhook::run_dispatcher(
        store.clone(),
        webhook_client,
        config.webhook.clone(),
        Arc::clone(&wake),
        services_cancel.clone(),
    ));

    let sip_config = SipConfig {
        listen: config.sip_listen,
        user_agent: config.user_agent.clone(),
    };
    let (endpoint, incoming) = SipEndpoint::start(sip_config, services_cancel.clone()).await?;
    let media = Arc::new(MediaSource::new(library));
    let registry = Arc::new(Registry::default());
    let shared = Shared {
        persist: persist_sender,
        media: Arc::clone(&media),
        registry: Arc::clone(&registry),
        wake: Arc::clone(&wake),
        media_timeout: config.media_timeout,
        endpoint: endpoint.clone(),
        flow_idle_timeout: config.flow_idle_timeout,
    };
    let ports = Arc::new(PortPool::new(media_address, config.rtp_ports));
    let dialer = Arc::new(Dialer {
        store: store.clone(),
        ports: Arc::clone(&ports),
        media_address,
        shared: shared.clone(),
        tracker: calls.clone(),
        cancel: calls_cancel.clone(),
    });
    let driver = Driver {
        store: store.clone(),
        routes: RouteTable::new(store.clone()),
        ports,
        media_address,
        shared,
        tracker: calls.clone(),
        cancel: calls_cancel.clone(),
    };
    calls.spawn(driver.run(incoming));
    let handle = RuntimeHandle {
        store,
        registry,
        media,
        sip_address: endpoint.local_addr(),
        dialer,
    };
    Ok(Runtime {
        handle,
        endpoint,
        calls,
        calls_cancel,
        persister,
        services,
        services_cancel,
    })
}

/// Calls left live by a crash or kill: they cannot continue, so they end as `failed`.
async fn recover_interrupted_calls(store: &Store) -> Result<(), StoreError> {
    for (workspace, mut call) in store.live_calls().await? {
        let now = now_timestamp();
        call.status = CallStatus::Failed;
        call.reason = Some("server restart".to_owned());
        call.hangup_source = Some(warbler_model::HangupSource::None);
        call.hangup_cause_code = Some(warbler_model::q850::TEMPORARY_FAILURE);
        call.ended_at = Some(now);
        call.updated_at = now;
        call.duration = Some(
            call.answered_at
                .map_or(0, |answered| now.seconds_since(answered)),
        );
        let event = match call.direction {
            warbler_model::Direction::Incoming => EventKind::VoiceInbound,
            warbler_model::Direction::Outgoing => EventKind::VoiceOutbound,
        };
        tracing::warn!(call = %call.id, "ending a call interrupted by a restart");
        store
            .update_call(workspace, &call, Some(event), now)
            .await?;
    }
    Ok(())
}

/// Stores call changes in order and wakes the dispatcher when an event was queued.
async fn run_persister(
    store: Store,
    mut requests: mpsc::Receiver<PersistRequest>,
    wake: Arc<Notify>,
) {
    while let Some(request) = requests.recv().await {
        let now = request.call.updated_at;
        if let Err(error) = store
            .update_call(request.workspace, &request.call, request.event, now)
            .await
        {
            tracing::error!(%error, call = %request.call.id, "storing a call update failed");
        }
        if request.event.is_some() {
            wake.notify_one();
        }
        if let Some(stored) = request.stored {
            let _ = stored.send(request.call);
        }
    }
}

/// Places outgoing calls.
struct Dialer {
    store: Store,
    ports: Arc<PortPool>,
    media_address: IpAddr,
    shared: Shared,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Dialer {
    async fn create_call(
        &self,
        workspace: WorkspaceId,
        channel_id: ChannelId,
        request: CreateCall,
    ) -> Result<Call, CreateError> {
        let channel = match self.store.channel(workspace, channel_id).await {
            Ok(channel) => channel,
            Err(StoreError::NotFound) => return Err(CreateError::NotFound),
            Err(error) => return Err(CreateError::Store(error)),
        };
        let trunk_text = channel.trunk.clone().ok_or_else(|| {
            CreateError::NoTrunk("this channel has no trunk to place calls through".to_owned())
        })?;
        let (trunk_host, trunk) = resolve_trunk(&trunk_text)
            .await
            .map_err(CreateError::NoTrunk)?;
        if self.cancel.is_cancelled() {
            return Err(CreateError::Unavailable);
        }
        let socket = self
            .ports
            .allocate()
            .await
            .ok_or(CreateError::Unavailable)?;
        let local_port = socket.local_addr().map_or(0, |address| address.port());
        let random = random_bytes();
        let session_id = u64::from_be_bytes([
            0, 0, random[0], random[1], random[2], random[3], random[4], random[5],
        ]);
        let offer = warbler_media::render_offer(&warbler_media::OfferParams {
            session_id,
            session_version: 1,
            local: SocketAddr::new(self.media_address, local_port),
            codecs: &OFFERED_CODECS,
            telephone_event: 101,
        })
        .into_bytes();
        let now = now_timestamp();
        let from = request
            .from
            .clone()
            .or_else(|| channel.numbers.first().cloned())
            .unwrap_or_else(|| "warbler".to_owned());
        let call_id = CallId::from_parts(u64::try_from(now.unix_millis()).unwrap_or(0), random);
        let call = Call::from_create_call(call_id, channel_id, from.clone(), &request, now);
        // Outbound target (RFC 3261 §19.1): a SIP URI as given, else the number at the trunk.
        let target = if request.to.starts_with("sip:") || request.to.starts_with("sips:") {
            request.to.clone()
        } else {
            format!("sip:{}@{trunk_host}", request.to)
        };
        let from_user = from
            .trim_start_matches("sip:")
            .split('@')
            .next()
            .unwrap_or("warbler")
            .to_owned();
        let credentials = match (&channel.trunk_username, &channel.trunk_password) {
            (Some(username), Some(password)) => Some(warbler_sip::Credentials {
                username: username.clone(),
                password: password.clone(),
            }),
            _ => None,
        };
        let dialing = Dialing {
            request: Some(warbler_sip::OutboundRequest {
                target,
                from_user,
                trunk,
                credentials,
                offer_sdp: offer.clone(),
                headers: Vec::new(),
            }),
            ring_timeout: Duration::from_secs(u64::from(request.ring_timeout)),
            max_duration: Duration::from_secs(u64::from(request.max_duration)),
            flow_start: request.flow_start,
            send_keys: request.send_keys.iter().map(|key| key.as_char()).collect(),
        };
        self.store
            .insert_call(workspace, &call, EventKind::VoiceOutbound, now)
            .await?;
        self.shared.wake.notify_one();
        let (controls_sender, controls) = mpsc::channel(16);
        self.shared.registry.insert(
            call_id,
            Entry {
                workspace,
                channel: channel_id,
                controls: controls_sender,
            },
        );
        tracing::info!(call = %call_id, to = %call.to, trunk = %trunk, "outbound call");
        let flow = (!request.call_flow.steps.is_empty()).then(|| request.call_flow.clone());
        let setup = CallSetup {
            workspace,
            call: call.clone(),
            leg: Leg::Outbound(None),
            socket,
            negotiated: None,
            answer_sdp: offer,
            dialing: Some(dialing),
            session_id,
            initial_flow: flow,
            controls,
        };
        let shared = self.shared.clone();
        let cancel = self.cancel.child_token();
        self.tracker.spawn(call_actor::run(setup, shared, cancel));
        Ok(call)
    }
}

/// Resolves a channel's `trunk` (`sip:host[:port]`, port 5060 by default) to the host text for
/// Request-URIs and the address to send to.
async fn resolve_trunk(trunk: &str) -> Result<(String, SocketAddr), String> {
    let rest = trunk.strip_prefix("sip:").unwrap_or(trunk);
    let rest = rest.split(';').next().unwrap_or(rest);
    let host_port = rest.rsplit('@').next().unwrap_or(rest);
    if host_port.is_empty() {
        return Err(format!("the channel's trunk {trunk:?} has no host"));
    }
    let with_port = if host_port
        .rsplit_once(':')
        .is_some_and(|(_, port)| port.parse::<u16>().is_ok())
    {
        host_port.to_owned()
    } else {
        format!("{host_port}:5060")
    };
    let address = tokio::net::lookup_host(&with_port)
        .await
        .map_err(|error| format!("the channel's trunk {trunk:?} does not resolve: {error}"))?
        .next()
        .ok_or_else(|| format!("the channel's trunk {trunk:?} has no address"))?;
    Ok((host_port.to_owned(), address))
}

struct Driver {
    store: Store,
    routes: RouteTable,
    ports: Arc<PortPool>,
    media_address: IpAddr,
    shared: Shared,
    tracker: TaskTracker,
    cancel: CancellationToken,
}

impl Driver {
    async fn run(self, mut incoming: mpsc::Receiver<IncomingCall>) {
        let driver = Arc::new(self);
        loop {
            let call = tokio::select! {
                () = driver.cancel.cancelled() => break,
                call = incoming.recv() => call,
            };
            let Some(call) = call else { break };
            let worker = Arc::clone(&driver);
            driver
                .tracker
                .spawn(async move { worker.accept(call).await });
        }
    }

    /// Routes, negotiates media, persists the new call and starts its actor.
    async fn accept(&self, mut incoming: IncomingCall) {
        let route = match self.routes.route(&incoming.request_user).await {
            Ok(Some(route)) => route,
            Ok(None) => {
                tracing::info!(user = %incoming.request_user, "no channel for this number: 404");
                let _ = incoming.leg.reject(404).await;
                return;
            }
            Err(error) => {
                tracing::error!(%error, "reading the channels failed: 500");
                let _ = incoming.leg.reject(500).await;
                return;
            }
        };
        // RFC 3264 §6: no acceptable codec (or no offer we can answer) → 488.
        let negotiated = match incoming
            .offer_sdp
            .as_deref()
            .map(String::from_utf8_lossy)
            .ok_or(())
            .and_then(|text| parse_offer(&text).map_err(|_| ()))
            .and_then(|offer| {
                negotiate(&offer, &[Codec::Pcmu, Codec::Pcma, Codec::G722]).map_err(|_| ())
            }) {
            Ok(negotiated) => negotiated,
            Err(()) => {
                tracing::info!(call_id = %incoming.call_id, "no acceptable SDP offer: 488");
                let _ = incoming.leg.reject(488).await;
                return;
            }
        };
        let Some(socket) = self.ports.allocate().await else {
            tracing::warn!("no free RTP port: 503");
            let _ = incoming.leg.reject(503).await;
            return;
        };
        let local_port = socket.local_addr().map_or(0, |address| address.port());
        let now = now_timestamp();
        let random = random_bytes();
        let session_id = u64::from_be_bytes([
            0, 0, random[0], random[1], random[2], random[3], random[4], random[5],
        ]);
        let answer_sdp = render_answer(&AnswerParams::for_negotiated(
            &negotiated,
            SocketAddr::new(self.media_address, local_port),
            session_id,
            1,
        ))
        .into_bytes();
        let call_id = CallId::from_parts(u64::try_from(now.unix_millis()).unwrap_or(0), random);
        let from = if incoming.from_user.is_empty() {
            incoming.from_uri.clone()
        } else {
            incoming.from_user.clone()
        };
        let to = if incoming.request_user.is_empty() {
            incoming.to_uri.clone()
        } else {
            incoming.request_user.clone()
        };
        let call = Call::incoming(call_id, route.channel, from, to, now);
        // Persisted before anything else happens, with its `starting` event in the outbox.
        if let Err(error) = self
            .store
            .insert_call(route.workspace, &call, EventKind::VoiceInbound, now)
            .await
        {
            tracing::error!(%error, "storing a new call failed: 500");
            let _ = incoming.leg.reject(500).await;
            return;
        }
        self.shared.wake.notify_one();
        let (controls_sender, controls) = mpsc::channel(16);
        self.shared.registry.insert(
            call_id,
            Entry {
                workspace: route.workspace,
                channel: route.channel,
                controls: controls_sender,
            },
        );
        tracing::info!(call = %call_id, from = %call.from, to = %call.to, transport = %incoming.transport, "inbound call");
        let setup = CallSetup {
            workspace: route.workspace,
            call,
            leg: Leg::Inbound(incoming.leg),
            socket,
            negotiated: Some(negotiated),
            answer_sdp,
            dialing: None,
            session_id,
            initial_flow: route.call_flow.clone(),
            controls,
        };
        call_actor::run(setup, self.shared.clone(), self.cancel.child_token()).await;
    }
}
