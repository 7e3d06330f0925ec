//! Downloading audio files for `playback`, with bounds on size and time.
//!
//! Only `http:` and `https:` URLs are fetched (others are refused before any I/O); the body is
//! streamed and the download abandoned as soon as it exceeds [`FetchLimits::max_bytes`] (a
//! declared `Content-Length` above the limit is refused before reading the body); the whole
//! exchange, redirects included, must finish within [`FetchLimits::timeout`].

use std::sync::Arc;
use std::time::Duration;

use reqwest::Url;
use reqwest::header::CONTENT_TYPE;

/// The parse error of [`Url`].
type UrlParseError = <Url as std::str::FromStr>::Err;

/// A URL scheme this crate can fetch.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum UrlScheme {
    /// Plain `http:`.
    Http,
    /// `https:`.
    Https,
}

impl UrlScheme {
    /// The scheme of `url`, if it is one this crate can fetch.
    fn of(url: &Url) -> Option<Self> {
        match url.scheme() {
            "http" => Some(Self::Http),
            "https" => Some(Self::Https),
            _ => None,
        }
    }
}

/// Bounds on one download.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct FetchLimits {
    /// The largest body accepted, in bytes (default 20 MiB).
    pub max_bytes: u64,
    /// How long the whole download may take (default 10 s).
    pub timeout: Duration,
    /// The schemes that may be fetched (default `http` and `https`).
    pub allowed_schemes: Vec<UrlScheme>,
}

impl Default for FetchLimits {
    fn default() -> Self {
        Self {
            max_bytes: 20 * 1024 * 1024,
            timeout: Duration::from_secs(10),
            allowed_schemes: vec![UrlScheme::Http, UrlScheme::Https],
        }
    }
}

/// A downloaded body.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Fetched {
    /// The body, at most [`FetchLimits::max_bytes`] long.
    pub bytes: Vec<u8>,
    /// The `Content-Type` the server declared, if any and if readable as text.
    pub content_type: Option<String>,
}

/// Why a URL could not be downloaded.
#[derive(Clone, Debug, thiserror::Error)]
pub enum FetchError {
    /// The URL does not parse (the caller's fault).
    #[error("invalid URL")]
    InvalidUrl {
        /// Why it does not parse.
        #[source]
        source: UrlParseError,
    },
    /// The URL's scheme is not allowed, e.g. `file:` (the caller's fault).
    #[error("URL scheme {scheme:?} is not allowed")]
    SchemeNotAllowed {
        /// The refused scheme.
        scheme: String,
    },
    /// The remote server answered with a non-success status (the remote's fault).
    #[error("the server answered HTTP {status}")]
    Status {
        /// The status received.
        status: reqwest::StatusCode,
    },
    /// The body is larger than [`FetchLimits::max_bytes`] (the remote's content).
    #[error("the body is larger than {max_bytes} bytes")]
    TooLarge {
        /// The limit, in bytes.
        max_bytes: u64,
    },
    /// The download did not finish in time (the remote, or the network).
    #[error("the download did not finish within {after:?}")]
    Timeout {
        /// The time limit.
        after: Duration,
    },
    /// Connecting, sending or receiving failed (the remote, or the network).
    #[error("the HTTP request failed")]
    Request {
        /// What the HTTP client reported.
        #[source]
        source: Arc<reqwest::Error>,
    },
}

impl From<reqwest::Error> for FetchError {
    fn from(source: reqwest::Error) -> Self {
        Self::Request {
            source: Arc::new(source),
        }
    }
}

/// Checks that `url` parses and has an allowed scheme; no I/O.
pub(crate) fn checked_url(url: &str, limits: &FetchLimits) -> Result<Url, FetchError> {
    let parsed = Url::parse(url.trim()).map_err(|source| FetchError::InvalidUrl { source })?;
    match UrlScheme::of(&parsed) {
        Some(scheme) if limits.allowed_schemes.contains(&scheme) => Ok(parsed),
        _ => Err(FetchError::SchemeNotAllowed {
            scheme: parsed.scheme().to_owned(),
        }),
    }
}

/// Downloads `url` with `client` within `limits`.
pub async fn fetch(
    client: &reqwest::Client,
    url: &str,
    limits: &FetchLimits,
) -> Result<Fetched, FetchError> {
    let url = checked_url(url, limits)?;
    tokio::time::timeout(
        limits.timeout,
        fetch_unbounded_in_time(client, url, limits.max_bytes),
    )
    .await
    .unwrap_or(Err(FetchError::Timeout {
        after: limits.timeout,
    }))
}

async fn fetch_unbounded_in_time(
    client: &reqwest::Client,
    url: Url,
    max_bytes: u64,
) -> Result<Fetched, FetchError> {
    let mut response = client.get(url).send().await?;
    let status = response.status();
    if !status.is_success() {
        return Err(FetchError::Status { status });
    }
    if response
        .content_length()
        .is_some_and(|length| length > max_bytes)
    {
        return Err(FetchError::TooLarge { max_bytes });
    }
    let content_type = response
        .headers()
        .get(CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .map(str::to_owned);

    let mut bytes = Vec::with_capacity(
        response
            .content_length()
            .and_then(|length| usize::try_from(length).ok())
            .unwrap_or(0),
    );
    while let Some(chunk) = response.chunk().await? {
        if bytes.len() as u64 + chunk.len() as u64 > max_bytes {
            return Err(FetchError::TooLarge { max_bytes });
        }
        bytes.extend_from_slice(&chunk);
    }
    Ok(Fetched {
        bytes,
        content_type,
    })
}

#[cfg(test)]
pub(crate) mod tests {
    use std::collections::HashMap;
    use std::net::SocketAddr;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::{TcpListener, TcpStream};
    use tokio::task::JoinHandle;

    use super::*;

    /// What the test server does for one path.
    #[derive(Clone, Debug)]
    pub(crate) enum Reply {
        /// A complete response: status, content type, body.
        Complete {
            status: u16,
            content_type: Option<&'static str>,
            body: Vec<u8>,
        },
        /// Headers claiming `declared` bytes, then nothing more, connection held open.
        ClaimsLength { declared: u64 },
        /// A 200 without Content-Length, streaming `total` bytes then closing.
        Unsized { total: usize },
        /// Nothing at all: the connection is held open without a response.
        Silence,
    }

    /// A tiny HTTP/1.1 server on 127.0.0.1, stopped when dropped.
    pub(crate) struct TestServer {
        address: SocketAddr,
        task: JoinHandle<()>,
        hits: Arc<AtomicUsize>,
    }

    impl TestServer {
        pub(crate) async fn start(routes: Vec<(&'static str, Reply)>) -> Self {
            let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
            let address = listener.local_addr().unwrap();
            let routes: Arc<HashMap<&'static str, Reply>> = Arc::new(routes.into_iter().collect());
            let hits = Arc::new(AtomicUsize::new(0));
            let counter = Arc::clone(&hits);
            let task = tokio::spawn(async move {
                while let Ok((stream, _)) = listener.accept().await {
                    counter.fetch_add(1, Ordering::SeqCst);
                    tokio::spawn(serve(stream, Arc::clone(&routes)));
                }
            });
            Self {
                address,
                task,
                hits,
            }
        }

        pub(crate) fn url(&self, path: &str) -> String {
            format!("http://{}{path}", self.address)
        }

        /// How many connections were accepted.
        pub(crate) fn hits(&self) -> usize {
            self.hits.load(Ordering::SeqCst)
        }
    }

    impl Drop for TestServer {
        fn drop(&mut self) {
            self.task.abort();
        }
    }

    async fn serve(mut stream: TcpStream, routes: Arc<HashMap<&'static str, Reply>>) {
        let mut head = Vec::new();
        let mut buffer = [0_u8; 1024];
        while !head.windows(4).any(|window| window == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => return,
                Ok(count) => head.extend_from_slice(&buffer[..count]),
            }
        }
        let head = String::from_utf8_lossy(&head);
        let path = head.split_whitespace().nth(1).unwrap_or("/").to_owned();
        let reply = routes
            .get(path.as_str())
            .cloned()
            .unwrap_or(Reply::Complete {
                status: 404,
                content_type: Some("text/plain"),
                body: b"not found".to_vec(),
            });
        match reply {
            Reply::Complete {
                status,
                content_type,
                body,
            } => {
                let mut response = format!(
                    "HTTP/1.1 {status} X\r\nContent-Length: {}\r\nConnection: close\r\n",
                    body.len()
                );
                if let Some(content_type) = content_type {
                    response.push_str(&format!("Content-Type: {content_type}\r\n"));
                }
                response.push_str("\r\n");
                let _ = stream.write_all(response.as_bytes()).await;
                let _ = stream.write_all(&body).await;
            }
            Reply::ClaimsLength { declared } => {
                let response = format!("HTTP/1.1 200 OK\r\nContent-Length: {declared}\r\n\r\nRIFF");
                let _ = stream.write_all(response.as_bytes()).await;
                hold_open(stream).await;
            }
            Reply::Unsized { total } => {
                let _ = stream
                    .write_all(b"HTTP/1.1 200 OK\r\nConnection: close\r\n\r\n")
                    .await;
                let chunk = vec![0x55_u8; 16 * 1024];
                let mut sent = 0;
                while sent < total {
                    let count = chunk.len().min(total - sent);
                    if stream.write_all(&chunk[..count]).await.is_err() {
                        return;
                    }
                    sent += count;
                }
            }
            Reply::Silence => hold_open(stream).await,
        }
    }

    /// Keeps the connection until the client closes it.
    async fn hold_open(mut stream: TcpStream) {
        let mut buffer = [0_u8; 256];
        while let Ok(count) = stream.read(&mut buffer).await {
            if count == 0 {
                return;
            }
        }
    }

    /// An HTTP client like the server's, without proxies (tests talk to 127.0.0.1).
    pub(crate) fn test_client() -> reqwest::Client {
        // The binary installs this provider at start-up; reqwest needs one to build a client.
        let _already_installed = rustls::crypto::ring::default_provider().install_default();
        reqwest::Client::builder().no_proxy().build().unwrap()
    }

    #[tokio::test]
    async fn downloads_a_body_with_its_content_type() {
        let body: Vec<u8> = (0..=255).cycle().take(100_000).collect();
        let server = TestServer::start(vec![(
            "/tone.wav",
            Reply::Complete {
                status: 200,
                content_type: Some("audio/wav"),
                body: body.clone(),
            },
        )])
        .await;
        let fetched = fetch(
            &test_client(),
            &server.url("/tone.wav"),
            &FetchLimits::default(),
        )
        .await
        .unwrap();
        assert_eq!(fetched.bytes, body);
        assert_eq!(fetched.content_type.as_deref(), Some("audio/wav"));
    }

    #[tokio::test]
    async fn refuses_other_schemes_before_any_io() {
        let client = test_client();
        for url in [
            "file:///etc/passwd",
            "ftp://127.0.0.1/a.wav",
            "data:audio/wav;base64,UklGRg==",
            "gopher://x",
        ] {
            match fetch(&client, url, &FetchLimits::default()).await {
                Err(FetchError::SchemeNotAllowed { scheme }) => {
                    assert!(url.starts_with(&scheme), "{url}")
                }
                other => panic!("{url}: {other:?}"),
            }
        }
        let https_only = FetchLimits {
            allowed_schemes: vec![UrlScheme::Https],
            ..FetchLimits::default()
        };
        let server = TestServer::start(vec![]).await;
        assert!(matches!(
            fetch(&client, &server.url("/a.wav"), &https_only).await,
            Err(FetchError::SchemeNotAllowed { .. })
        ));
        assert_eq!(server.hits(), 0);
        assert!(matches!(
            fetch(&client, "not a url", &FetchLimits::default()).await,
            Err(FetchError::InvalidUrl { .. })
        ));
    }

    #[tokio::test]
    async fn non_success_status_is_reported_with_the_status() {
        let server = TestServer::start(vec![(
            "/gone",
            Reply::Complete {
                status: 410,
                content_type: None,
                body: Vec::new(),
            },
        )])
        .await;
        let client = test_client();
        for (path, expected) in [("/gone", 410), ("/missing", 404)] {
            match fetch(&client, &server.url(path), &FetchLimits::default()).await {
                Err(FetchError::Status { status }) => assert_eq!(status.as_u16(), expected),
                other => panic!("{path}: {other:?}"),
            }
        }
    }

    #[tokio::test]
    async fn refuses_a_declared_length_over_the_limit_without_reading_the_body() {
        let server =
            TestServer::start(vec![("/huge", Reply::ClaimsLength { declared: 1 << 40 })]).await;
        let limits = FetchLimits {
            timeout: Duration::from_secs(30),
            ..FetchLimits::default()
        };
        assert!(matches!(
            fetch(&test_client(), &server.url("/huge"), &limits).await,
            Err(FetchError::TooLarge { max_bytes }) if max_bytes == 20 * 1024 * 1024
        ));
    }

    #[tokio::test]
    async fn aborts_a_streamed_body_past_the_limit() {
        let server = TestServer::start(vec![
            (
                "/endless",
                Reply::Unsized {
                    total: 50 * 1024 * 1024,
                },
            ),
            ("/small", Reply::Unsized { total: 1000 }),
        ])
        .await;
        let limits = FetchLimits {
            max_bytes: 64 * 1024,
            ..FetchLimits::default()
        };
        let client = test_client();
        assert!(matches!(
            fetch(&client, &server.url("/endless"), &limits).await,
            Err(FetchError::TooLarge { max_bytes: 65_536 })
        ));
        let small = fetch(&client, &server.url("/small"), &limits)
            .await
            .unwrap();
        assert_eq!(small.bytes.len(), 1000);
        assert_eq!(small.content_type, None);
    }

    #[tokio::test]
    async fn gives_up_on_a_silent_server_at_the_timeout() {
        let server = TestServer::start(vec![("/silent", Reply::Silence)]).await;
        let limits = FetchLimits {
            timeout: Duration::from_millis(300),
            ..FetchLimits::default()
        };
        assert!(matches!(
            fetch(&test_client(), &server.url("/silent"), &limits).await,
            Err(FetchError::Timeout { after }) if after == Duration::from_millis(300)
        ));
    }

    #[tokio::test]
    async fn connection_refused_is_a_request_error() {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let address = listener.local_addr().unwrap();
        drop(listener);
        assert!(matches!(
            fetch(
                &test_client(),
                &format!("http://{address}/a.wav"),
                &FetchLimits::default()
            )
            .await,
            Err(FetchError::Request { .. })
        ));
    }
}
