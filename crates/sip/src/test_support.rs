//! Helpers for the unit tests: an endpoint on a free loopback port and a raw
//! SIP peer that writes requests by hand.

use std::net::SocketAddr;
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use crate::{IncomingCall, SipConfig, SipEndpoint, SipError};

/// Starts an endpoint on 127.0.0.1 with a port free for both UDP and TCP.
pub(crate) async fn free_port_endpoint(
    capacity: usize,
) -> (SipEndpoint, mpsc::Receiver<IncomingCall>, CancellationToken) {
    for _ in 0..10 {
        let port = std::net::UdpSocket::bind("127.0.0.1:0")
            .and_then(|socket| socket.local_addr())
            .expect("an ephemeral UDP port on 127.0.0.1")
            .port();
        let cancel = CancellationToken::new();
        let config = SipConfig {
            listen: SocketAddr::from(([127, 0, 0, 1], port)),
            user_agent: "warbler-sip-test".to_owned(),
        };
        match SipEndpoint::start_with_capacity(config, cancel.clone(), capacity).await {
            Ok((endpoint, calls)) => return (endpoint, calls, cancel),
            Err(SipError::Bind { .. }) => continue,
            Err(other) => panic!("cannot start the endpoint: {other}"),
        }
    }
    panic!("no port free for both UDP and TCP after 10 tries");
}

/// The status code of a response's status line, 0 if it is not a response.
pub(crate) fn status_of(response: &str) -> u16 {
    response
        .strip_prefix("SIP/2.0 ")
        .and_then(|rest| rest.get(..3))
        .and_then(|code| code.parse().ok())
        .unwrap_or(0)
}

/// A SIP peer that sends hand-written requests over UDP or TCP.
pub(crate) enum RawPeer {
    Udp {
        socket: UdpSocket,
        server: SocketAddr,
    },
    Tcp {
        stream: TcpStream,
        server: SocketAddr,
        local: SocketAddr,
        buffer: Vec<u8>,
    },
}

impl RawPeer {
    pub(crate) async fn udp(server: SocketAddr) -> Self {
        let socket = UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind a UDP test socket");
        Self::Udp { socket, server }
    }

    pub(crate) async fn tcp(server: SocketAddr) -> Self {
        let stream = TcpStream::connect(server)
            .await
            .expect("connect to the endpoint over TCP");
        let local = stream
            .local_addr()
            .expect("local address of the TCP test socket");
        Self::Tcp {
            stream,
            server,
            local,
            buffer: Vec::new(),
        }
    }

    pub(crate) fn local_addr(&self) -> SocketAddr {
        match self {
            Self::Udp { socket, .. } => socket
                .local_addr()
                .expect("local address of the UDP test socket"),
            Self::Tcp { local, .. } => *local,
        }
    }

    fn server(&self) -> SocketAddr {
        match self {
            Self::Udp { server, .. } | Self::Tcp { server, .. } => *server,
        }
    }

    fn transport(&self) -> &'static str {
        match self {
            Self::Udp { .. } => "UDP",
            Self::Tcp { .. } => "TCP",
        }
    }

    /// A body-less request; `to_tag` makes it an in-dialog request.
    pub(crate) fn request(&self, method: &str, call_id: &str, to_tag: Option<&str>) -> String {
        let local = self.local_addr();
        let server = self.server();
        let transport = self.transport();
        let to_tag = to_tag.map(|tag| format!(";tag={tag}")).unwrap_or_default();
        format!(
            "{method} sip:1000@{server} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id}-{method}\r\n\
             From: <sip:alice@{local}>;tag=from-{call_id}\r\n\
             To: <sip:1000@{server}>{to_tag}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    /// An initial INVITE with a PCMU offer; `with_contact: false` leaves out
    /// the Contact header RFC 3261 §8.1.1.8 requires.
    pub(crate) fn invite(&self, call_id: &str, with_contact: bool) -> String {
        let local = self.local_addr();
        let server = self.server();
        let transport = self.transport();
        let sdp = format!(
            "v=0\r\no=- 1 1 IN IP4 127.0.0.1\r\ns=-\r\nc=IN IP4 127.0.0.1\r\nt=0 0\r\n\
             m=audio {} RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            local.port()
        );
        let contact = if with_contact {
            format!("Contact: <sip:alice@{local}>\r\n")
        } else {
            String::new()
        };
        format!(
            "INVITE sip:1000@{server} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id}\r\n\
             From: \"Alice\" <sip:alice@{local}>;tag=from-{call_id}\r\n\
             To: <sip:1000@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 INVITE\r\n\
             {contact}\
             Max-Forwards: 70\r\n\
             User-Agent: raw-peer\r\n\
             Content-Type: application/sdp\r\n\
             Content-Length: {}\r\n\r\n{sdp}",
            sdp.len()
        )
    }

    /// An initial INVITE like [`invite`](Self::invite) with `extra_headers`
    /// (each ending in CRLF) added.
    pub(crate) fn invite_with(&self, call_id: &str, extra_headers: &str) -> String {
        self.invite(call_id, true).replacen(
            "Max-Forwards: 70\r\n",
            &format!("Max-Forwards: 70\r\n{extra_headers}"),
            1,
        )
    }

    /// An in-dialog request of ours with a body, `to_line` being the whole To
    /// header of the dialog as the endpoint sent it.
    pub(crate) fn in_dialog_with_body(
        &self,
        method: &str,
        call_id: &str,
        to_line: &str,
        cseq: u32,
        content_type: &str,
        body: &str,
    ) -> String {
        let without_body = self.in_dialog(method, call_id, to_line, cseq);
        let head = without_body
            .strip_suffix("Content-Length: 0\r\n\r\n")
            .unwrap_or(&without_body);
        format!(
            "{head}Content-Type: {content_type}\r\nContent-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// A request of ours inside a dialog the endpoint created as UAC: the
    /// callee's side, built from the endpoint's INVITE and our 2xx to it.
    pub(crate) fn callee_request(
        &self,
        method: &str,
        invite: &str,
        ok: &str,
        cseq: u32,
        content_type: Option<&str>,
        body: &str,
    ) -> String {
        let local = self.local_addr();
        let request_uri = header_value(invite, "Contact")
            .trim()
            .trim_start_matches('<')
            .trim_end_matches('>')
            .to_owned();
        let from_line = header_line(ok, "To").replacen("To:", "From:", 1);
        let to_line = header_line(invite, "From").replacen("From:", "To:", 1);
        let call_id = header_value(invite, "Call-ID").trim().to_owned();
        let content_type = content_type
            .map(|content_type| format!("Content-Type: {content_type}\r\n"))
            .unwrap_or_default();
        format!(
            "{method} {request_uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP {local};branch=z9hG4bK-callee-{method}-{cseq}\r\n\
             {from_line}\r\n\
             {to_line}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Contact: <sip:callee@{local}>\r\n\
             Max-Forwards: 70\r\n\
             {content_type}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        )
    }

    /// An in-dialog request of ours, `to_line` being the whole To header of
    /// the dialog (with the remote tag) as the endpoint sent it.
    pub(crate) fn in_dialog(
        &self,
        method: &str,
        call_id: &str,
        to_line: &str,
        cseq: u32,
    ) -> String {
        let local = self.local_addr();
        let server = self.server();
        let transport = self.transport();
        format!(
            "{method} sip:1000@{server} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id}-{method}-{cseq}\r\n\
             From: \"Alice\" <sip:alice@{local}>;tag=from-{call_id}\r\n\
             {to_line}\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: {cseq} {method}\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    /// The CANCEL of the INVITE made by [`invite`](Self::invite) (RFC 3261 §9.1).
    pub(crate) fn cancel(&self, call_id: &str) -> String {
        let local = self.local_addr();
        let server = self.server();
        let transport = self.transport();
        format!(
            "CANCEL sip:1000@{server} SIP/2.0\r\n\
             Via: SIP/2.0/{transport} {local};branch=z9hG4bK-{call_id}\r\n\
             From: \"Alice\" <sip:alice@{local}>;tag=from-{call_id}\r\n\
             To: <sip:1000@{server}>\r\n\
             Call-ID: {call_id}\r\n\
             CSeq: 1 CANCEL\r\n\
             Max-Forwards: 70\r\n\
             Content-Length: 0\r\n\r\n"
        )
    }

    pub(crate) async fn send(&mut self, message: &str) {
        self.send_bytes(message.as_bytes()).await;
    }

    pub(crate) async fn send_bytes(&mut self, bytes: &[u8]) {
        match self {
            Self::Udp { socket, server } => {
                socket
                    .send_to(bytes, *server)
                    .await
                    .expect("send a datagram");
            }
            Self::Tcp { stream, .. } => stream.write_all(bytes).await.expect("write to TCP"),
        }
    }

    /// The next response, or a panic after `wait`.
    pub(crate) async fn response(&mut self, wait: Duration) -> String {
        tokio::time::timeout(wait, self.read_message())
            .await
            .expect("a response within the wait")
    }

    /// The next final (non-1xx) response, or a panic after `wait`.
    pub(crate) async fn final_response(&mut self, wait: Duration) -> String {
        tokio::time::timeout(wait, async {
            loop {
                let message = self.read_message().await;
                if status_of(&message) >= 200 {
                    return message;
                }
            }
        })
        .await
        .expect("a final response within the wait")
    }

    /// The next final response with `status`, skipping provisional responses
    /// and retransmissions of other final ones; a panic after `wait`.
    pub(crate) async fn final_response_with(&mut self, status: u16, wait: Duration) -> String {
        tokio::time::timeout(wait, async {
            loop {
                let message = self.read_message().await;
                if status_of(&message) == status {
                    return message;
                }
            }
        })
        .await
        .expect("the expected final response within the wait")
    }

    /// The next request with `method` the endpoint sends us (other messages
    /// are skipped), or a panic after `wait`.
    pub(crate) async fn request_with_method(&mut self, method: &str, wait: Duration) -> String {
        let prefix = format!("{method} ");
        tokio::time::timeout(wait, async {
            loop {
                let message = self.read_message().await;
                if message.starts_with(&prefix) {
                    return message;
                }
            }
        })
        .await
        .unwrap_or_else(|_| panic!("no {method} within the wait"))
    }

    /// Nothing at all arrives for `quiet`; a panic shows what did.
    pub(crate) async fn assert_silent(&mut self, quiet: Duration) {
        if let Ok(message) = tokio::time::timeout(quiet, self.read_message()).await {
            panic!("expected silence, got {message}");
        }
    }

    /// The next request the endpoint sends us (responses are skipped), or a panic after `wait`.
    pub(crate) async fn request_from_endpoint(&mut self, wait: Duration) -> String {
        tokio::time::timeout(wait, async {
            loop {
                let message = self.read_message().await;
                if status_of(&message) == 0 {
                    return message;
                }
            }
        })
        .await
        .expect("a request within the wait")
    }

    async fn read_message(&mut self) -> String {
        match self {
            Self::Udp { socket, .. } => {
                let mut datagram = vec![0_u8; 65_536];
                let (length, _) = socket
                    .recv_from(&mut datagram)
                    .await
                    .expect("receive a datagram");
                String::from_utf8_lossy(&datagram[..length]).into_owned()
            }
            Self::Tcp { stream, buffer, .. } => loop {
                if let Some(length) = framed_length(buffer) {
                    let message: Vec<u8> = buffer.drain(..length).collect();
                    return String::from_utf8_lossy(&message).into_owned();
                }
                let mut chunk = [0_u8; 4096];
                let read = stream.read(&mut chunk).await.expect("read from TCP");
                assert!(read > 0, "the endpoint closed the TCP connection");
                buffer.extend_from_slice(&chunk[..read]);
            },
        }
    }
}

/// Length of the first complete message in a stream buffer (RFC 3261 §18.3).
fn framed_length(buffer: &[u8]) -> Option<usize> {
    let text = String::from_utf8_lossy(buffer);
    let head_end = text.find("\r\n\r\n")? + 4;
    let body_length = text[..head_end]
        .lines()
        .find_map(|line| {
            let (name, value) = line.split_once(':')?;
            let name = name.trim();
            (name.eq_ignore_ascii_case("content-length") || name == "l")
                .then(|| value.trim().parse::<usize>().ok())
                .flatten()
        })
        .unwrap_or(0);
    (buffer.len() >= head_end + body_length).then_some(head_end + body_length)
}

/// The whole first header line named `name` (case-insensitive), without CRLF.
pub(crate) fn header_line<'m>(message: &'m str, name: &str) -> &'m str {
    message
        .lines()
        .find(|line| {
            line.split_once(':')
                .is_some_and(|(header, _)| header.trim().eq_ignore_ascii_case(name))
        })
        .unwrap_or_else(|| panic!("no {name} header in {message}"))
}

/// The value of the first header named `name`, without the name and colon.
pub(crate) fn header_value<'m>(message: &'m str, name: &str) -> &'m str {
    header_line(message, name)
        .split_once(':')
        .map(|(_, value)| value)
        .unwrap_or_default()
}

/// A response to a request the endpoint sent us (RFC 3261 §8.2.6.2), with a
/// To tag when given, extra header lines (each ending in CRLF) and a body.
pub(crate) fn response_to(
    request: &str,
    status: &str,
    to_tag: Option<&str>,
    extra_headers: &str,
    body: &str,
) -> String {
    let to = header_line(request, "To");
    let to = match to_tag {
        Some(tag) if !to.contains(";tag=") => format!("{to};tag={tag}"),
        _ => to.to_owned(),
    };
    let copied: Vec<&str> = ["Via", "From", "Call-ID", "CSeq"]
        .iter()
        .map(|name| header_line(request, name))
        .collect();
    format!(
        "SIP/2.0 {status}\r\n{}\r\n{to}\r\n{extra_headers}Content-Length: {}\r\n\r\n{body}",
        copied.join("\r\n"),
        body.len()
    )
}

/// A 200 OK for a request the endpoint sent us (RFC 3261 §8.2.6.2).
pub(crate) fn ok_for(request: &str) -> String {
    let copied: Vec<&str> = ["Via", "From", "To", "Call-ID", "CSeq"]
        .iter()
        .map(|name| header_line(request, name))
        .collect();
    format!(
        "SIP/2.0 200 OK\r\n{}\r\nContent-Length: 0\r\n\r\n",
        copied.join("\r\n")
    )
}

/// The next call from the endpoint, or a panic after `wait`.
pub(crate) async fn next_call(
    calls: &mut mpsc::Receiver<IncomingCall>,
    wait: Duration,
) -> IncomingCall {
    tokio::time::timeout(wait, calls.recv())
        .await
        .expect("an incoming call within the wait")
        .expect("the endpoint is running")
}
