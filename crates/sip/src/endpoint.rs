//! The running SIP endpoint: sockets, the stack's tasks and the routing of
//! incoming requests.

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use rsipstack::EndpointBuilder;
use rsipstack::dialog::dialog_layer::DialogLayer;
use rsipstack::sip::SipMessage;
use rsipstack::sip::prelude::HeadersExt;
use rsipstack::sip::{Header, HostWithPort, Method, Param, Request, Scheme, StatusCode, Uri};
use rsipstack::transaction::endpoint::{EndpointInnerRef, MessageInspector};
use rsipstack::transaction::{Transaction, TransactionReceiver};
use rsipstack::transport::tcp::TcpConnection;
use rsipstack::transport::udp::{UdpConnection, UdpInner};
use rsipstack::transport::{SipAddr, SipConnection, TransportLayer};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use tracing::{debug, warn};

use crate::error::SipError;
use crate::in_dialog::ALLOWED_METHODS;
use crate::inbound::{InboundLeg, IncomingCall, Transport};
use crate::invite::{required_extensions, summarize_invite};
use crate::outbound::{OutboundLeg, OutboundRequest};

/// How many new calls may wait for the application before INVITEs get 503.
const INCOMING_CALL_CAPACITY: usize = 256;

/// How long the TCP accept loop pauses after an accept error (e.g. out of file
/// descriptors) so that it does not spin.
const ACCEPT_ERROR_PAUSE: Duration = Duration::from_millis(100);

/// What a draining endpoint asks callers to wait before they retry, in
/// seconds (RFC 3261 §20.33, §21.5.4).
const DRAIN_RETRY_AFTER: &str = "30";

/// Seconds a peer waits before it retries an UPDATE sent before our answer
/// (RFC 3311 §5.2 asks for a Retry-After; the answer usually comes sooner).
const EARLY_UPDATE_RETRY_AFTER: &str = "2";

/// Configuration of the SIP endpoint.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SipConfig {
    /// Address for both UDP and TCP (RFC 3261 §18: a UA listens on both, on
    /// the same port). With an unspecified IP (`0.0.0.0`) the Contact we send
    /// names the host's first non-loopback IPv4 address.
    pub listen: SocketAddr,
    /// Value of our User-Agent header (RFC 3261 §20.41).
    pub user_agent: String,
}

/// Cloneable handle to the running endpoint (UDP and TCP bound on the SAME address/port).
#[derive(Clone)]
pub struct SipEndpoint {
    shared: Arc<EndpointShared>,
}

impl std::fmt::Debug for SipEndpoint {
    fn fmt(&self, formatter: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        formatter
            .debug_struct("SipEndpoint")
            .field("local_addr", &self.shared.local_addr)
            .finish_non_exhaustive()
    }
}

/// State shared by the endpoint handle, its tasks and the legs.
pub(crate) struct EndpointShared {
    pub(crate) local_addr: SocketAddr,
    /// Where we can be reached, for Contact headers (RFC 3261 §8.1.1.8).
    advertised: HostWithPort,
    pub(crate) dialog_layer: Arc<DialogLayer>,
    pub(crate) cancel: CancellationToken,
    overload_rejections: AtomicU64,
    /// Set by [`SipEndpoint::drain`]: new INVITEs get 503.
    draining: AtomicBool,
}

impl EndpointShared {
    /// Where we can be reached: host and port of our Via, Contact and From.
    pub(crate) fn advertised(&self) -> &HostWithPort {
        &self.advertised
    }

    /// Our Contact URI for a dialog on `transport` (RFC 3261 §12.1.1, §19.1.1).
    pub(crate) fn contact(&self, transport: Transport) -> Uri {
        let params = match transport {
            Transport::Udp => Vec::new(),
            Transport::Tcp => vec![Param::Transport(rsipstack::sip::Transport::Tcp)],
        };
        Uri {
            scheme: Some(Scheme::Sip),
            auth: None,
            host_with_port: self.advertised.clone(),
            params,
            headers: Vec::new(),
        }
    }
}

impl SipEndpoint {
    /// Binds UDP+TCP on config.listen, spawns the endpoint's tasks (tied to `cancel`), and
    /// returns the handle plus a bounded receiver of new inbound INVITEs.
    ///
    /// When the receiver is full (256 calls waiting) new INVITEs are answered
    /// `503 Service Unavailable` (RFC 3261 §21.5.4) and counted, see
    /// [`overload_rejections`](Self::overload_rejections). Calls still queued
    /// when the receiver is dropped are rejected like dropped legs.
    ///
    /// Once `cancel` fires the tasks stop, live legs report
    /// [`TerminationReason::EndpointShutdown`](crate::TerminationReason::EndpointShutdown),
    /// and the sockets close when this handle, its clones and all legs are dropped.
    ///
    /// Port 0 binds UDP on some free port and then TCP on the same port, which
    /// can fail with [`SipError::Bind`] if TCP happens to be taken there.
    ///
    /// # Errors
    ///
    /// [`SipError::Bind`] when the UDP or the TCP socket cannot be bound.
    pub async fn start(
        config: SipConfig,
        cancel: CancellationToken,
    ) -> Result<(SipEndpoint, mpsc::Receiver<IncomingCall>), SipError> {
        Self::start_with_capacity(config, cancel, INCOMING_CALL_CAPACITY).await
    }

    pub(crate) async fn start_with_capacity(
        config: SipConfig,
        cancel: CancellationToken,
        capacity: usize,
    ) -> Result<(SipEndpoint, mpsc::Receiver<IncomingCall>), SipError> {
        let udp_error = |source| SipError::Bind {
            transport: Transport::Udp,
            addr: config.listen,
            source,
        };
        let udp_socket = UdpSocket::bind(config.listen).await.map_err(udp_error)?;
        let local_addr = udp_socket.local_addr().map_err(udp_error)?;
        let tcp_listener =
            TcpListener::bind(local_addr)
                .await
                .map_err(|source| SipError::Bind {
                    transport: Transport::Tcp,
                    addr: local_addr,
                    source,
                })?;

        let stack_cancel = cancel.child_token();
        // The stack turns an unspecified IP into the first non-loopback one.
        let advertised: HostWithPort = SipConnection::resolve_bind_address(local_addr).into();
        let udp = UdpConnection::attach(
            UdpInner {
                conn: Arc::new(udp_socket),
                addr: SipAddr {
                    r#type: Some(rsipstack::sip::Transport::Udp),
                    addr: advertised.clone(),
                },
            },
            None,
            Some(stack_cancel.clone()),
        )
        .await;
        let transport_layer = TransportLayer::new(stack_cancel.clone());
        transport_layer.add_transport(udp.into());
        let endpoint = EndpointBuilder::new()
            .with_user_agent(&config.user_agent)
            .with_inspector(Box::new(WireFixes))
            .with_cancel_token(stack_cancel.clone())
            .with_transport_layer(transport_layer)
            .build();
        let incoming = endpoint
            .incoming_transactions()
            // Invariant: the endpoint was built just above and its receiver is taken only here.
            .expect("a new endpoint still has its incoming transaction receiver");
        let endpoint_inner = endpoint.inner.clone();

        let shared = Arc::new(EndpointShared {
            local_addr,
            advertised: advertised.clone(),
            dialog_layer: Arc::new(DialogLayer::new(endpoint_inner.clone())),
            cancel: stack_cancel.clone(),
            overload_rejections: AtomicU64::new(0),
            draining: AtomicBool::new(false),
        });
        let (calls_sender, calls) = mpsc::channel(capacity);

        let serving = endpoint_inner.clone();
        tokio::spawn(async move {
            // Returns when `stack_cancel` fires.
            if let Err(error) = serving.serve().await {
                warn!(%error, "SIP endpoint stopped");
            }
        });
        tokio::spawn(accept_tcp(
            tcp_listener,
            SipAddr {
                r#type: Some(rsipstack::sip::Transport::Tcp),
                addr: advertised,
            },
            endpoint_inner,
            stack_cancel,
        ));
        tokio::spawn(dispatch(shared.clone(), incoming, calls_sender));

        Ok((SipEndpoint { shared }, calls))
    }

    /// The address UDP and TCP are bound to.
    #[must_use]
    pub fn local_addr(&self) -> SocketAddr {
        self.shared.local_addr
    }

    /// How many INVITEs were answered 503 because the incoming-call receiver
    /// was full or gone.
    #[must_use]
    pub fn overload_rejections(&self) -> u64 {
        self.shared.overload_rejections.load(Ordering::Relaxed)
    }

    /// Places an outbound call (RFC 3261 §13.2): sends the INVITE to
    /// `request.trunk` and returns the leg that reports its progress. The
    /// INVITE runs in the background; [`OutboundLeg::next_event`] tells how it
    /// goes. A 401 or 407 challenge is answered once with
    /// `request.credentials` (RFC 3261 §22.2-3).
    ///
    /// # Errors
    ///
    /// [`SipError::Draining`] once [`drain`](Self::drain) was called or the
    /// endpoint is shutting down; [`SipError::InvalidTarget`],
    /// [`SipError::InvalidFromUser`], [`SipError::InvalidHeader`] and
    /// [`SipError::EmptyOffer`] for a request that cannot be sent;
    /// [`SipError::DialFailed`] when the stack cannot build the INVITE.
    pub async fn dial(&self, request: OutboundRequest) -> Result<OutboundLeg, SipError> {
        if self.is_draining() || self.shared.cancel.is_cancelled() {
            return Err(SipError::Draining);
        }
        OutboundLeg::dial(self.shared.clone(), request)
    }

    /// Starts draining for a graceful shutdown: from now on new INVITEs are
    /// answered `503 Service Unavailable` with `Retry-After: 30` (RFC 3261
    /// §21.5.4, §20.33) and never handed to the application, and
    /// [`dial`](Self::dial) refuses new calls. Existing dialogs keep working:
    /// their legs can still hang up, and in-dialog requests are answered.
    /// Draining cannot be undone; it affects every clone of this handle.
    pub fn drain(&self) {
        self.shared.draining.store(true, Ordering::Relaxed);
    }

    /// Whether [`drain`](Self::drain) was called.
    #[must_use]
    pub fn is_draining(&self) -> bool {
        self.shared.draining.load(Ordering::Relaxed)
    }
}

/// Corrects what the stack writes wrongly, just before a message is sent.
struct WireFixes;

impl MessageInspector for WireFixes {
    fn before_send(&self, message: SipMessage, _destination: Option<&SipAddr>) -> SipMessage {
        match message {
            SipMessage::Request(mut request) => {
                for header in request.headers.iter_mut() {
                    match header {
                        Header::Authorization(value) => {
                            *value = unquote_qop(value.value()).into();
                        }
                        Header::ProxyAuthorization(value) => {
                            *value = unquote_qop(value.value()).into();
                        }
                        _ => {}
                    }
                }
                SipMessage::Request(request)
            }
            response @ SipMessage::Response(_) => response,
        }
    }

    fn after_received(&self, message: SipMessage, _source: Option<&SipAddr>) -> SipMessage {
        message
    }
}

/// RFC 3261 §25.1 (`message-qop = "qop" EQUAL qop-value`) and RFC 2617
/// §3.2.2: in credentials the qop value is a token, while the stack quotes
/// it like in a challenge.
fn unquote_qop(credentials: &str) -> String {
    credentials
        .replace("qop=\"auth-int\"", "qop=auth-int")
        .replace("qop=\"auth\"", "qop=auth")
}

/// Accepts TCP connections and hands them to the stack's transport layer.
///
/// rsipstack's own TCP listener binds inside its serve task and only logs a
/// bind failure, so the facade binds (and reports errors) itself.
async fn accept_tcp(
    listener: TcpListener,
    local: SipAddr,
    endpoint: EndpointInnerRef,
    cancel: CancellationToken,
) {
    loop {
        let accepted = tokio::select! {
            () = cancel.cancelled() => return,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                match TcpConnection::from_stream(stream, local.clone(), Some(cancel.child_token()))
                {
                    Ok(connection) => endpoint.transport_layer.add_connection(connection.into()),
                    Err(error) => debug!(%peer, %error, "dropping TCP connection"),
                }
            }
            Err(error) => {
                warn!(%error, "cannot accept SIP TCP connection");
                tokio::select! {
                    () = cancel.cancelled() => return,
                    () = tokio::time::sleep(ACCEPT_ERROR_PAUSE) => {}
                }
            }
        }
    }
}

/// Routes every new server transaction until the endpoint stops.
async fn dispatch(
    shared: Arc<EndpointShared>,
    mut incoming: TransactionReceiver,
    calls: mpsc::Sender<IncomingCall>,
) {
    loop {
        let transaction = tokio::select! {
            () = shared.cancel.cancelled() => return,
            transaction = incoming.recv() => transaction,
        };
        let Some(transaction) = transaction else {
            return;
        };
        route(&shared, &calls, transaction);
    }
}

fn route(
    shared: &Arc<EndpointShared>,
    calls: &mpsc::Sender<IncomingCall>,
    transaction: Transaction,
) {
    let method = transaction.original.method;
    let in_dialog = has_to_tag(&transaction.original);
    if method == Method::Invite && !in_dialog && shared.draining.load(Ordering::Relaxed) {
        // RFC 3261 §21.5.4: we are going down; try again later (or elsewhere).
        debug!("draining: answering a new INVITE 503");
        let retry_after = Header::RetryAfter(DRAIN_RETRY_AFTER.into());
        spawn_final_response(
            shared,
            transaction,
            StatusCode::ServiceUnavailable,
            vec![retry_after],
        );
        return;
    }
    if !matches!(method, Method::Ack | Method::Cancel) {
        // RFC 3261 §8.2.2.3: we support no extension, so any Require is
        // refused with 420 naming the option tags (ACK and CANCEL excepted).
        let unsupported = required_extensions(&transaction.original);
        if !unsupported.is_empty() {
            debug!(%method, ?unsupported, "answering a request that requires extensions 420");
            let header = Header::Unsupported(unsupported.join(", ").into());
            spawn_final_response(shared, transaction, StatusCode::BadExtension, vec![header]);
            return;
        }
    }
    match method {
        // RFC 3261 §12.1: an INVITE without To tag creates a dialog.
        Method::Invite if !in_dialog => offer_call(shared, calls, transaction),
        // RFC 3261 §17.2.3: ACK gets no response; the stack already routes
        // ACKs to their INVITE transactions and drops the others.
        Method::Ack => {}
        _ => match shared.dialog_layer.match_dialog(&transaction) {
            // The stack answers nothing but BYE and PRACK before a dialog is
            // confirmed.
            Some(dialog) if !dialog.state().is_confirmed() && is_early_answered(method) => {
                answer_early_request(shared, transaction, method);
            }
            Some(mut dialog) => {
                let cancel = shared.cancel.clone();
                tokio::spawn(async move {
                    let mut transaction = transaction;
                    tokio::select! {
                        () = cancel.cancelled() => {}
                        handled = dialog.handle(&mut transaction) => {
                            if let Err(error) = handled {
                                debug!(%error, %method, "in-dialog request failed");
                            }
                        }
                    }
                });
            }
            // RFC 3261 §11.2: OPTIONS outside a dialog asks for our capabilities.
            None if method == Method::Options && !in_dialog => {
                let headers = vec![
                    Header::Allow(ALLOWED_METHODS.into()),
                    Header::Accept("application/sdp".into()),
                ];
                spawn_final_response(shared, transaction, StatusCode::OK, headers);
            }
            // RFC 3261 §12.2.2: a request for a dialog we do not have.
            None => spawn_final_response(
                shared,
                transaction,
                StatusCode::CallTransactionDoesNotExist,
                Vec::new(),
            ),
        },
    }
}

/// In-dialog methods the facade answers itself while the dialog is early
/// (before the 2xx and its ACK).
fn is_early_answered(method: Method) -> bool {
    matches!(
        method,
        Method::Options
            | Method::Update
            | Method::Info
            | Method::Message
            | Method::Notify
            | Method::Refer
            | Method::Publish
            | Method::Subscribe
    )
}

/// Answers an in-dialog request that arrived before the dialog was confirmed.
fn answer_early_request(shared: &Arc<EndpointShared>, transaction: Transaction, method: Method) {
    let (status, headers) = match method {
        // RFC 3261 §11.2.
        Method::Options => (StatusCode::OK, vec![Header::Allow(ALLOWED_METHODS.into())]),
        // RFC 3311 §5.2: the INVITE's offer is not answered yet (we send no
        // reliable provisional responses), so an UPDATE gets 500 with a
        // Retry-After.
        Method::Update => (
            StatusCode::ServerInternalError,
            vec![Header::RetryAfter(EARLY_UPDATE_RETRY_AFTER.into())],
        ),
        // RFC 3261 §21.5.2: not handled before the answer.
        _ => (
            StatusCode::NotImplemented,
            vec![Header::Allow(ALLOWED_METHODS.into())],
        ),
    };
    debug!(%method, %status, "answering a request in an early dialog");
    spawn_final_response(shared, transaction, status, headers);
}

/// Creates the server dialog of a new INVITE and hands the call to the application.
fn offer_call(
    shared: &Arc<EndpointShared>,
    calls: &mpsc::Sender<IncomingCall>,
    transaction: Transaction,
) {
    let Some((remote_addr, transport)) = source_of(&transaction) else {
        warn!("INVITE without a usable source address or transport");
        spawn_final_response(
            shared,
            transaction,
            StatusCode::ServerInternalError,
            Vec::new(),
        );
        return;
    };
    let summary = match summarize_invite(&transaction.original) {
        Ok(summary) => summary,
        Err(error) => {
            debug!(%remote_addr, %error, "refusing INVITE");
            // RFC 3261 §21.4.1: the request could not be understood.
            spawn_final_response(shared, transaction, StatusCode::BadRequest, Vec::new());
            return;
        }
    };
    let permit = match calls.try_reserve() {
        Ok(permit) => permit,
        Err(error) => {
            let rejected = shared.overload_rejections.fetch_add(1, Ordering::Relaxed) + 1;
            let reason = match error {
                mpsc::error::TrySendError::Full(()) => "the incoming-call queue is full",
                mpsc::error::TrySendError::Closed(()) => "nobody receives incoming calls",
            };
            warn!(call_id = %summary.call_id, %remote_addr, rejected_total = rejected, reason, "answering INVITE 503");
            // RFC 3261 §21.5.4: temporarily unable to process the request.
            spawn_final_response(
                shared,
                transaction,
                StatusCode::ServiceUnavailable,
                Vec::new(),
            );
            return;
        }
    };
    let (state_sender, states) = shared.dialog_layer.new_dialog_state_channel();
    let dialog = match shared.dialog_layer.get_or_create_server_invite(
        &transaction,
        state_sender,
        None,
        Some(shared.contact(transport)),
    ) {
        Ok(dialog) => dialog,
        Err(error) => {
            // E.g. no Contact header, which RFC 3261 §8.1.1.8 requires in an INVITE.
            debug!(call_id = %summary.call_id, %error, "refusing INVITE");
            spawn_final_response(shared, transaction, StatusCode::BadRequest, Vec::new());
            return;
        }
    };

    // Drives the INVITE server transaction: sends 100 Trying, our responses,
    // answers CANCEL with 200 + 487 and reports the ACK (RFC 3261 §9.2, §17.2.1).
    let mut driver = dialog.clone();
    let cancel = shared.cancel.clone();
    tokio::spawn(async move {
        let mut transaction = transaction;
        tokio::select! {
            () = cancel.cancelled() => {}
            handled = driver.handle(&mut transaction) => {
                if let Err(error) = handled {
                    debug!(%error, "INVITE transaction failed");
                }
            }
        }
    });

    let leg = InboundLeg::new(shared.clone(), dialog, states, summary.call_id.clone());
    permit.send(IncomingCall {
        call_id: summary.call_id,
        request_user: summary.request_user,
        from_user: summary.from_user,
        from_uri: summary.from_uri,
        to_uri: summary.to_uri,
        remote_addr,
        transport,
        user_agent: summary.user_agent,
        offer_sdp: summary.offer_sdp,
        leg,
    });
}

/// Where a request came from, and over which of our transports.
fn source_of(transaction: &Transaction) -> Option<(SocketAddr, Transport)> {
    let connection = transaction.connection.as_ref()?;
    let transport = match connection.transport() {
        rsipstack::sip::Transport::Udp => Transport::Udp,
        rsipstack::sip::Transport::Tcp => Transport::Tcp,
        _ => return None,
    };
    let remote = connection.get_remote_addr()?.get_socketaddr().ok()?;
    Some((remote, transport))
}

fn has_to_tag(request: &Request) -> bool {
    request
        .to_header()
        .ok()
        .and_then(|to| to.tag().ok().flatten())
        .is_some_and(|tag| !tag.value().is_empty())
}

/// Answers a request we do not pass on, and keeps an INVITE transaction
/// running until it ends, so that its final response is retransmitted until
/// the ACK (RFC 3261 §17.2.1).
fn spawn_final_response(
    shared: &Arc<EndpointShared>,
    mut transaction: Transaction,
    status: StatusCode,
    headers: Vec<Header>,
) {
    let cancel = shared.cancel.clone();
    tokio::spawn(async move {
        let work = async {
            if let Err(error) = transaction.reply_with(status, headers, None).await {
                debug!(%error, "cannot answer request");
                return;
            }
            if transaction.original.method == Method::Invite {
                while transaction.receive().await.is_some() {}
            }
        };
        tokio::select! {
            () = cancel.cancelled() => {}
            () = work => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::test_support::{RawPeer, free_port_endpoint, status_of};

    #[test]
    fn qop_in_credentials_is_a_token() {
        assert_eq!(
            unquote_qop("Digest username=\"u\", qop=\"auth\", nc=00000001"),
            "Digest username=\"u\", qop=auth, nc=00000001"
        );
        assert_eq!(
            unquote_qop("Digest qop=\"auth-int\""),
            "Digest qop=auth-int"
        );
        assert_eq!(unquote_qop("Digest qop=auth"), "Digest qop=auth");
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn options_outside_a_dialog_gets_200_with_allow() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.request("OPTIONS", "options-1", None)).await;
        let response = peer.final_response(WAIT).await;
        assert_eq!(status_of(&response), 200, "{response}");
        assert!(
            response.contains("Allow: INVITE, ACK, CANCEL, BYE, OPTIONS, UPDATE, INFO"),
            "{response}"
        );
    }

    #[tokio::test]
    async fn stray_bye_gets_481() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.request("BYE", "stray-bye", Some("unknown-tag")))
            .await;
        assert_eq!(status_of(&peer.final_response(WAIT).await), 481);
    }

    #[tokio::test]
    async fn out_of_dialog_request_that_is_not_invite_gets_481() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.request("MESSAGE", "message-1", None)).await;
        assert_eq!(status_of(&peer.final_response(WAIT).await), 481);
    }

    #[tokio::test]
    async fn garbage_datagrams_do_not_stop_the_endpoint() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        let long_line = [b'A'; 8000];
        let garbage: [&[u8]; 8] = [
            b"",
            b"\r\n\r\n",
            b"\xff\xfe\x00\x01 not sip at all",
            b"INVITE sip:x SIP/2.0\r\n",
            b"SIP/2.0 200 OK\r\nVia: nonsense\r\n\r\n",
            b"INVITE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK1\r\n\
              CSeq: x INVITE\r\nFrom: <sip:a@b>;tag=1\r\nTo: <sip:b@c>\r\nCall-ID: 1\r\n\
              Content-Length: 999999\r\n\r\n",
            b"BYE sip:1@127.0.0.1 SIP/2.0\r\nVia: SIP/2.0/UDP 127.0.0.1:1;branch=z9hG4bK2\r\n\
              CSeq: 1 BYE\r\nFrom: <sip:a@b>\r\nTo: <sip:b@c>;tag=2\r\nCall-ID: 2\r\n\r\n",
            &long_line,
        ];
        for datagram in garbage {
            peer.send_bytes(datagram).await;
        }
        peer.send(&peer.request("OPTIONS", "after-garbage", None))
            .await;
        assert_eq!(status_of(&peer.final_response(WAIT).await), 200);
    }

    #[tokio::test]
    async fn tcp_on_the_same_port_answers_and_survives_garbage() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut garbage_peer = RawPeer::tcp(endpoint.local_addr()).await;
        garbage_peer
            .send_bytes(b"\x00\x01garbage\r\n\r\nINVITE nothing\r\nContent-Length: -5\r\n\r\n")
            .await;
        drop(garbage_peer);
        let mut peer = RawPeer::tcp(endpoint.local_addr()).await;
        peer.send(&peer.request("OPTIONS", "tcp-options", None))
            .await;
        assert_eq!(status_of(&peer.final_response(WAIT).await), 200);
    }

    #[tokio::test]
    async fn full_call_queue_answers_503_and_counts_it() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(1).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("queued", true)).await;
        assert_eq!(status_of(&peer.response(WAIT).await), 100);
        peer.send(&peer.invite("overflow", true)).await;
        let response = peer.final_response(WAIT).await;
        assert_eq!(status_of(&response), 503, "{response}");
        assert!(response.contains("Call-ID: overflow"), "{response}");
        assert_eq!(endpoint.overload_rejections(), 1);
    }

    #[tokio::test]
    async fn calls_still_queued_when_the_receiver_is_dropped_get_500() {
        let (endpoint, calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("orphan", true)).await;
        assert_eq!(status_of(&peer.response(WAIT).await), 100);
        drop(calls);
        assert_eq!(status_of(&peer.final_response(WAIT).await), 500);
    }

    #[tokio::test]
    async fn invite_without_contact_gets_400() {
        let (endpoint, _calls, _cancel) = free_port_endpoint(4).await;
        let mut peer = RawPeer::udp(endpoint.local_addr()).await;
        peer.send(&peer.invite("no-contact", false)).await;
        assert_eq!(status_of(&peer.final_response(WAIT).await), 400);
    }

    #[tokio::test]
    async fn shutdown_releases_the_udp_and_tcp_port() {
        let (endpoint, calls, cancel) = free_port_endpoint(4).await;
        let addr = endpoint.local_addr();
        cancel.cancel();
        drop(endpoint);
        drop(calls);
        // The tasks notice the cancellation asynchronously: poll, bounded.
        for _ in 0..300 {
            let udp_free = std::net::UdpSocket::bind(addr).is_ok();
            if udp_free && std::net::TcpListener::bind(addr).is_ok() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("{addr} is still bound 3 s after shutdown");
    }

    #[tokio::test]
    async fn start_reports_a_tcp_port_already_taken() {
        let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("bind a TCP port");
        let addr = taken
            .local_addr()
            .expect("local address of the TCP listener");
        let config = SipConfig {
            listen: addr,
            user_agent: "test".to_owned(),
        };
        match SipEndpoint::start(config, CancellationToken::new()).await {
            Err(SipError::Bind {
                transport: Transport::Tcp,
                addr: failed,
                ..
            }) => assert_eq!(failed, addr),
            // Someone else may hold UDP on that port: a bind error too, but not the one under test.
            Err(SipError::Bind {
                transport: Transport::Udp,
                ..
            }) => {}
            other => panic!("expected a TCP bind error, got {other:?}"),
        }
    }
}
