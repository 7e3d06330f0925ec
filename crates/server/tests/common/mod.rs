//! Black-box harness: starts the real `warbler` binary on free loopback ports with a temporary
//! data directory, a webhook receiver, and real SIP peers (SIPp, baresip). Every process a test
//! starts is killed by its guard, also when the test fails.

#![allow(dead_code, unreachable_pub)]

use std::net::{SocketAddr, TcpListener, UdpSocket};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use base64::Engine;
use hmac::{Hmac, Mac};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// An HTTP client (installs the process's rustls provider first, as the binary does).
pub fn http_client() -> reqwest::Client {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::new()
}

/// A directory removed on drop.
pub struct TempDir(pub PathBuf);

impl TempDir {
    pub fn new(name: &str) -> Self {
        static COUNTER: AtomicU32 = AtomicU32::new(0);
        let unique = format!(
            "warbler-{name}-{}-{}-{}",
            std::process::id(),
            COUNTER.fetch_add(1, Ordering::Relaxed),
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| d.as_nanos())
        );
        let path = std::env::temp_dir().join(unique);
        std::fs::create_dir_all(&path).expect("temp dir");
        Self(path)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        if std::env::var_os("WARBLER_KEEP_TEST_DIRS").is_none() {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
}

/// A child process killed (and reaped) on drop.
pub struct ChildGuard {
    pub name: &'static str,
    pub child: Child,
}

impl ChildGuard {
    pub fn spawn(name: &'static str, command: &mut Command) -> Self {
        let child = command.spawn().unwrap_or_else(|error| {
            panic!(
                "cannot start {name} ({error}); run the README's test command, which installs it"
            )
        });
        Self { name, child }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit code, at most `limit`.
    pub fn wait_for_exit(&mut self, limit: Duration) -> Option<i32> {
        let deadline = Instant::now() + limit;
        while Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status.code().unwrap_or(-1));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for ChildGuard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Polls `condition` every 50 ms until it returns `Some`, at most `limit`.
pub fn poll<T>(limit: Duration, mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = condition() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A loopback port free for both UDP and TCP right now.
pub fn free_port() -> u16 {
    for _ in 0..100 {
        let udp = UdpSocket::bind("127.0.0.1:0").expect("bind udp");
        let port = udp.local_addr().expect("addr").port();
        if port.is_multiple_of(2)
            && TcpListener::bind(("127.0.0.1", port)).is_ok()
            && UdpSocket::bind(("127.0.0.1", port + 1)).is_ok()
        {
            return port;
        }
    }
    panic!("no free port");
}

/// A block of `count` ports below the ephemeral range, different for each caller in this process
/// and likely different across processes.
pub fn port_block(count: u16) -> (u16, u16) {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    let slot =
        (std::process::id() % 40) as u16 * 4 + NEXT.fetch_add(1, Ordering::Relaxed) as u16 % 4;
    let low = 20_000 + slot * count;
    (low, low + count - 1)
}

/// The running server.
pub struct Server {
    pub process: ChildGuard,
    pub dir: TempDir,
    pub http: SocketAddr,
    pub sip: SocketAddr,
    pub bootstrap: Value,
    pub client: reqwest::Client,
}

impl Server {
    pub fn start(name: &str, config: Option<&str>) -> Self {
        Self::start_in(TempDir::new(name), config)
    }

    /// Starts the server on an existing directory (a restart keeps `dir/data`).
    pub fn start_in(dir: TempDir, config: Option<&str>) -> Self {
        let http_port = free_port();
        let sip_port = free_port();
        let (rtp_low, rtp_high) = port_block(200);
        let mut command = Command::new(env!("CARGO_BIN_EXE_warbler"));
        command
            .arg("serve")
            .arg("--data-dir")
            .arg(dir.0.join("data"))
            .arg("--http-listen")
            .arg(format!("127.0.0.1:{http_port}"))
            .arg("--sip-listen")
            .arg(format!("127.0.0.1:{sip_port}"))
            .arg("--rtp-ports")
            .arg(format!("{rtp_low}-{rtp_high}"))
            .env("WARBLER_LOG", "info,rsipstack=warn")
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(dir.0.join("server.out")).expect("log file"))
            .stderr(std::fs::File::create(dir.0.join("server.err")).expect("log file"));
        if let Some(config) = config {
            let path = dir.0.join("warbler.toml");
            std::fs::write(&path, config).expect("config");
            command.arg("--config").arg(path);
        }
        let process = ChildGuard::spawn("warbler", &mut command);
        let out = dir.0.join("server.out");
        let started = poll(Duration::from_secs(30), || {
            std::fs::read_to_string(&out)
                .ok()
                .filter(|text| text.contains("HTTP API on"))
        });
        if started.is_none() {
            let err = std::fs::read_to_string(dir.0.join("server.err")).unwrap_or_default();
            panic!("warbler did not start within 30 s:\n{err}");
        }
        let bootstrap_path = dir.0.join("data").join("bootstrap.json");
        let bootstrap: Value =
            serde_json::from_slice(&std::fs::read(&bootstrap_path).expect("bootstrap.json"))
                .expect("json");
        Self {
            process,
            dir,
            http: SocketAddr::from(([127, 0, 0, 1], http_port)),
            sip: SocketAddr::from(([127, 0, 0, 1], sip_port)),
            bootstrap,
            client: http_client(),
        }
    }

    /// Sends SIGTERM and waits (bounded) for the exit code.
    pub fn terminate(&mut self, limit: Duration) -> Option<i32> {
        let status = Command::new("kill")
            .args(["-TERM", &self.process.pid().to_string()])
            .status()
            .expect("kill");
        assert!(status.success(), "kill -TERM failed");
        self.process.wait_for_exit(limit)
    }

    /// Stops the process (if still running) and keeps the directory for a restart.
    pub fn into_dir(self) -> TempDir {
        let Server { process, dir, .. } = self;
        drop(process);
        dir
    }

    pub fn key(&self) -> String {
        self.bootstrap["accessKey"]
            .as_str()
            .expect("key")
            .to_owned()
    }

    pub fn workspace(&self) -> String {
        self.bootstrap["workspaceId"]
            .as_str()
            .expect("workspace")
            .to_owned()
    }

    pub fn channel(&self) -> String {
        self.bootstrap["channelId"]
            .as_str()
            .expect("channel")
            .to_owned()
    }

    pub fn organization(&self) -> String {
        self.bootstrap["organizationId"]
            .as_str()
            .expect("organization")
            .to_owned()
    }

    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.http)
    }

    pub fn call_url(&self, call: &str) -> String {
        self.url(&format!(
            "/workspaces/{}/channels/{}/calls/{call}",
            self.workspace(),
            self.channel()
        ))
    }

    pub async fn get_call(&self, call: &str) -> Value {
        let response = self
            .client
            .get(self.call_url(call))
            .header("authorization", format!("AccessKey {}", self.key()))
            .send()
            .await
            .expect("GET call");
        assert_eq!(response.status(), 200);
        response.json().await.expect("json")
    }

    pub async fn subscribe(&self, url: &str, signing_key: &str) {
        let response = self
            .client
            .post(self.url(&format!(
                "/organizations/{}/workspaces/{}/webhook-subscriptions",
                self.organization(),
                self.workspace()
            )))
            .header("authorization", format!("AccessKey {}", self.key()))
            .json(&json!({"service": "channels", "event": "voice.inbound", "url": url, "signingKey": signing_key}))
            .send()
            .await
            .expect("subscribe");
        assert_eq!(
            response.status(),
            201,
            "{}",
            response.text().await.unwrap_or_default()
        );
    }

    pub fn logs(&self) -> String {
        let out = std::fs::read_to_string(self.dir.0.join("server.out")).unwrap_or_default();
        let err = std::fs::read_to_string(self.dir.0.join("server.err")).unwrap_or_default();
        format!("{out}\n{err}")
    }
}

/// One webhook delivery as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub request_id: String,
    pub verified: bool,
    /// Whether the receiver answered 2xx (it fails the first deliveries when asked to).
    pub accepted: bool,
    pub body: Value,
    pub at: Instant,
}

/// A webhook receiver that verifies Bird signatures, answers `voice.inbound` `starting` events by
/// PATCHing a flow, and serves a WAV prompt.
pub struct Receiver {
    pub address: SocketAddr,
    pub events: Arc<Mutex<Vec<Received>>>,
    task: tokio::task::JoinHandle<()>,
}

#[derive(Clone)]
struct ReceiverState {
    signing_key: String,
    hook_url: Arc<Mutex<String>>,
    events: Arc<Mutex<Vec<Received>>>,
    flow: Value,
    api: String,
    key: String,
    prompt: Arc<Vec<u8>>,
    failures_left: Arc<AtomicU32>,
}

impl Receiver {
    /// `flow_for(prompt_url)` gives the callFlow to PATCH when a call starts.
    pub async fn start(
        server: &Server,
        signing_key: &str,
        flow_for: impl FnOnce(&str) -> Value,
    ) -> Self {
        Self::start_failing(server, signing_key, flow_for, 0).await
    }

    /// As [`Receiver::start`], answering 500 to the first `failures` deliveries.
    pub async fn start_failing(
        server: &Server,
        signing_key: &str,
        flow_for: impl FnOnce(&str) -> Value,
        failures: u32,
    ) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind receiver");
        let address = listener.local_addr().expect("addr");
        let flow = flow_for(&format!("http://{address}/prompt.wav"));
        let events = Arc::new(Mutex::new(Vec::new()));
        let state = ReceiverState {
            signing_key: signing_key.to_owned(),
            hook_url: Arc::new(Mutex::new(format!("http://{address}/hook"))),
            events: Arc::clone(&events),
            flow,
            api: format!(
                "http://{}/workspaces/{}/channels/{}/calls",
                server.http,
                server.workspace(),
                server.channel()
            ),
            key: server.key(),
            prompt: Arc::new(tone_wav(440.0, 1.5, 16_000)),
            failures_left: Arc::new(AtomicU32::new(failures)),
        };
        let app = axum::Router::new()
            .route("/hook", axum::routing::post(hook))
            .route("/prompt.wav", axum::routing::get(prompt))
            .with_state(state);
        let task = tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        Self {
            address,
            events,
            task,
        }
    }

    pub fn hook_url(&self) -> String {
        format!("http://{}/hook", self.address)
    }

    pub fn events(&self) -> Vec<Received> {
        self.events.lock().expect("lock").clone()
    }
}

impl Drop for Receiver {
    fn drop(&mut self) {
        self.task.abort();
    }
}

async fn prompt(
    axum::extract::State(state): axum::extract::State<ReceiverState>,
) -> impl axum::response::IntoResponse {
    (
        [("content-type", "audio/wav")],
        state.prompt.as_ref().clone(),
    )
}

async fn hook(
    axum::extract::State(state): axum::extract::State<ReceiverState>,
    headers: axum::http::HeaderMap,
    body: axum::body::Bytes,
) -> axum::http::StatusCode {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|value| value.to_str().ok())
            .unwrap_or_default()
            .to_owned()
    };
    let timestamp = header("messagebird-request-timestamp");
    let url = state.hook_url.lock().expect("lock").clone();
    let expected = bird_signature(&state.signing_key, &timestamp, &url, &body);
    let verified = !timestamp.is_empty() && header("messagebird-signature") == expected;
    let value: Value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    let starting = value["event"] == "voice.inbound" && value["payload"]["status"] == "starting";
    let call_id = value["payload"]["id"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let fail = state
        .failures_left
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |left| {
            left.checked_sub(1)
        })
        .is_ok();
    state.events.lock().expect("lock").push(Received {
        request_id: header("messagebird-request-id"),
        verified,
        accepted: !fail,
        body: value,
        at: Instant::now(),
    });
    if fail {
        return axum::http::StatusCode::INTERNAL_SERVER_ERROR;
    }
    if starting && verified && !state.flow.is_null() {
        let client = http_client();
        let request = client
            .patch(format!("{}/{call_id}", state.api))
            .header("authorization", format!("AccessKey {}", state.key))
            .json(&json!({ "callFlow": state.flow }));
        tokio::spawn(async move {
            match request.send().await {
                Ok(response) if response.status() == 202 => {}
                Ok(response) => eprintln!(
                    "PATCH answered {}: {}",
                    response.status(),
                    response.text().await.unwrap_or_default()
                ),
                Err(error) => eprintln!("PATCH failed: {error}"),
            }
        });
    }
    axum::http::StatusCode::NO_CONTENT
}

/// Bird's signature (spec §10.4), computed independently of the server's code.
pub fn bird_signature(key: &str, timestamp: &str, url: &str, body: &[u8]) -> String {
    let mut payload = Vec::new();
    payload.extend_from_slice(timestamp.as_bytes());
    payload.push(b'\n');
    payload.extend_from_slice(url.as_bytes());
    payload.push(b'\n');
    payload.extend_from_slice(&Sha256::digest(body));
    let mut mac = Hmac::<Sha256>::new_from_slice(key.as_bytes()).expect("key");
    mac.update(&payload);
    base64::engine::general_purpose::STANDARD.encode(mac.finalize().into_bytes())
}

/// A mono 16-bit WAV of a sine tone.
pub fn tone_wav(frequency: f64, seconds: f64, rate: u32) -> Vec<u8> {
    let samples: Vec<i16> = (0..(seconds * f64::from(rate)) as usize)
        .map(|n| {
            (0.5 * f64::from(i16::MAX)
                * (2.0 * std::f64::consts::PI * frequency * n as f64 / f64::from(rate)).sin())
                as i16
        })
        .collect();
    wav_bytes(&samples, rate)
}

/// A mono 16-bit PCM WAV file.
pub fn wav_bytes(samples: &[i16], rate: u32) -> Vec<u8> {
    let data_length = u32::try_from(samples.len() * 2).expect("small");
    let mut bytes = Vec::with_capacity(44 + samples.len() * 2);
    bytes.extend_from_slice(b"RIFF");
    bytes.extend_from_slice(&(36 + data_length).to_le_bytes());
    bytes.extend_from_slice(b"WAVEfmt ");
    bytes.extend_from_slice(&16u32.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&1u16.to_le_bytes());
    bytes.extend_from_slice(&rate.to_le_bytes());
    bytes.extend_from_slice(&(rate * 2).to_le_bytes());
    bytes.extend_from_slice(&2u16.to_le_bytes());
    bytes.extend_from_slice(&16u16.to_le_bytes());
    bytes.extend_from_slice(b"data");
    bytes.extend_from_slice(&data_length.to_le_bytes());
    for sample in samples {
        bytes.extend_from_slice(&sample.to_le_bytes());
    }
    bytes
}

/// Reads a 16-bit PCM WAV: (sample rate, channels, samples).
pub fn read_wav(path: &Path) -> (u32, u16, Vec<i16>) {
    let bytes = std::fs::read(path).expect("wav");
    let mut offset = 12;
    let mut rate = 0;
    let mut channels = 0;
    while offset + 8 <= bytes.len() {
        let id = &bytes[offset..offset + 4];
        let size =
            u32::from_le_bytes(bytes[offset + 4..offset + 8].try_into().expect("4")) as usize;
        let body = offset + 8;
        if id == b"fmt " {
            channels = u16::from_le_bytes([bytes[body + 2], bytes[body + 3]]);
            rate = u32::from_le_bytes(bytes[body + 4..body + 8].try_into().expect("4"));
        }
        if id == b"data" {
            let end = (body + size).min(bytes.len());
            let samples = bytes[body..end]
                .chunks_exact(2)
                .map(|pair| i16::from_le_bytes([pair[0], pair[1]]))
                .collect();
            return (rate, channels, samples);
        }
        offset = body + size + (size % 2);
    }
    panic!("no data chunk in {}", path.display());
}

/// RMS of samples, 0..1.
pub fn rms(samples: &[i16]) -> f64 {
    if samples.is_empty() {
        return 0.0;
    }
    let sum: f64 = samples
        .iter()
        .map(|sample| (f64::from(*sample) / 32768.0).powi(2))
        .sum();
    (sum / samples.len() as f64).sqrt()
}

/// Checks the call the server ended after the seed flow: `completed` by the API, consistent
/// timestamps and hangup fields, every command completed.
pub fn assert_seed_call_completed(call: &Value) {
    assert_eq!(call["status"], "completed", "{call:#}");
    assert_eq!(call["direction"], "incoming");
    assert_eq!(call["hangupSource"], "api");
    assert_eq!(call["hangupCauseCode"], 16);
    assert_eq!(call["hangupSipCode"], "200");
    let time = |field: &str| {
        let text = call[field]
            .as_str()
            .unwrap_or_else(|| panic!("{field} missing: {call:#}"));
        assert!(
            text.ends_with('Z') && text.len() == 24,
            "{field} = {text} is not RFC 3339 with ms"
        );
        chrono_millis(text)
    };
    let (created, ringing, answered, ended) = (
        time("createdAt"),
        time("ringingAt"),
        time("answeredAt"),
        time("endedAt"),
    );
    assert!(
        created <= ringing && ringing <= answered && answered <= ended,
        "{call:#}"
    );
    assert!(
        (1700..=2700).contains(&(answered - ringing)),
        "ringing to answer took {} ms",
        answered - ringing
    );
    assert_eq!(call["duration"], (ended - answered) / 1000);
    let commands = call["callFlow"]["commands"].as_array().expect("commands");
    assert_eq!(commands.len(), 6);
    for command in commands {
        assert_eq!(command["status"], "completed", "{command}");
    }
}

/// Milliseconds since the epoch of `YYYY-MM-DDTHH:MM:SS.mmmZ` (days computed by hand).
pub fn chrono_millis(text: &str) -> i64 {
    let number = |range: std::ops::Range<usize>| text[range].parse::<i64>().expect("digits");
    let (year, month, day) = (number(0..4), number(5..7), number(8..10));
    let (hour, minute, second, millis) = (
        number(11..13),
        number(14..16),
        number(17..19),
        number(20..23),
    );
    // Days from civil (Howard Hinnant's algorithm).
    let year_adjusted = if month <= 2 { year - 1 } else { year };
    let era = year_adjusted.div_euclid(400);
    let year_of_era = year_adjusted - era * 400;
    let month_index = (month + 9) % 12;
    let day_of_year = (153 * month_index + 2) / 5 + day - 1;
    let day_of_era = year_of_era * 365 + year_of_era / 4 - year_of_era / 100 + day_of_year;
    let days = era * 146_097 + day_of_era - 719_468;
    ((days * 24 + hour) * 60 + minute) * 60_000 + second * 1000 + millis
}

/// Statuses of the verified events of one call, in arrival order.
pub fn statuses_of(events: &[Received], call: &str) -> Vec<String> {
    events
        .iter()
        .filter(|event| event.body["payload"]["id"] == call)
        .map(|event| {
            event.body["payload"]["status"]
                .as_str()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

/// The seed's flow: ringing, pause 2 s, answer, say, playback of the receiver's WAV, hangup.
pub fn seed_flow(prompt_url: &str) -> Value {
    json!([
        {"command": "ringing"},
        {"command": "pause", "options": {"length": 2}},
        {"command": "answer"},
        {"command": "say", "options": {"text": "Welcome to Warbler. This call is a test of the seed example.", "locale": "en-US", "voice": "female"}},
        {"command": "playback", "options": {"media": [prompt_url]}},
        {"command": "hangup"}
    ])
}

/// Polls `condition` every 50 ms until it returns `Some`, at most `limit` (async).
pub async fn poll_async<T>(limit: Duration, mut condition: impl FnMut() -> Option<T>) -> Option<T> {
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = condition() {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The SIPp scenarios shipped with the SIP crate's tests.
pub fn sipp_scenario(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../sip/tests/sipp")
        .join(name)
}

/// Starts SIPp as a UAC calling `user` at `server` with the given scenario; it writes its
/// message trace (with timestamps) into `dir`.
pub fn start_sipp_uac(dir: &Path, server: SocketAddr, user: &str, scenario: &str) -> ChildGuard {
    start_sipp_uac_with(dir, server, user, scenario, &[])
}

/// As [`start_sipp_uac`], with extra SIPp arguments.
pub fn start_sipp_uac_with(
    dir: &Path,
    server: SocketAddr,
    user: &str,
    scenario: &str,
    extra: &[&str],
) -> ChildGuard {
    let local = free_port();
    let media = free_port();
    let mut command = Command::new("sipp");
    command
        .current_dir(dir)
        .arg(server.to_string())
        .arg("-sf")
        .arg(sipp_scenario(scenario))
        .args([
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-ci",
            "127.0.0.1",
            "-nostdin",
        ])
        .args([
            "-timeout",
            "60s",
            "-timeout_error",
            "-m",
            "1",
            "-trace_msg",
            "-trace_err",
        ])
        .args(["-s", user])
        .args(["-p", &local.to_string(), "-mp", &media.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join("sipp.out")).expect("log"))
        .stderr(std::fs::File::create(dir.join("sipp.err")).expect("log"));
    // The audio scenarios play a pcap after the ACK and a digit 100 ms later.
    if scenario.starts_with("uac_audio") {
        command
            .args(["-key", "audio_pcap", "/usr/share/sip-tester/g711a.pcap"])
            .args([
                "-key",
                "dtmf_pcap",
                "/usr/share/sip-tester/dtmf_2833_1.pcap",
            ])
            .args(["-set", "dtmf_after_ms", "100"]);
    }
    ChildGuard::spawn("sipp", &mut command)
}

/// Everything SIPp wrote to its `-trace_err` logs in `dir`.
pub fn sipp_errors(dir: &Path) -> String {
    std::fs::read_dir(dir)
        .map(|entries| {
            entries
                .filter_map(Result::ok)
                .filter(|entry| entry.file_name().to_string_lossy().ends_with("_errors.log"))
                .map(|entry| std::fs::read_to_string(entry.path()).unwrap_or_default())
                .collect()
        })
        .unwrap_or_default()
}

/// Epoch seconds at which SIPp received the first response starting with `status_line`
/// (e.g. "SIP/2.0 180"), read from its `-trace_msg` log in `dir`.
pub fn sipp_received_at(dir: &Path, status_line: &str) -> Option<f64> {
    let log = std::fs::read_dir(dir)
        .ok()?
        .filter_map(Result::ok)
        .map(|entry| entry.path())
        .find(|path| path.to_string_lossy().ends_with("_messages.log"))?;
    let text = std::fs::read_to_string(log).ok()?;
    let mut stamp = None;
    let mut received = false;
    for line in text.lines() {
        if let Some(rest) = line.strip_prefix("----------------------------------------------- ") {
            // "2026-11-25 02:38:36.783474" (local time of day; only differences are used).
            stamp = rest.get(..23).map(|text| {
                chrono_millis(&format!("{}T{}Z", &text[..10], &text[11..23])) as f64 / 1000.0
            });
            received = false;
        } else if line.contains("message received") {
            received = true;
        } else if received && line.starts_with(status_line) {
            return stamp;
        }
    }
    None
}

/// A headless baresip caller (auto-answers nothing, dials on command), recording what it hears
/// into `rec/dump-*-dec.wav`.
pub struct Baresip {
    process: ChildGuard,
    pub dir: PathBuf,
    pub control_address: SocketAddr,
}

impl Baresip {
    pub fn start(parent: &Path) -> Self {
        let dir = parent.join("baresip");
        std::fs::create_dir_all(dir.join("rec")).expect("baresip dir");
        let sip_port = free_port();
        let control_port = free_port();
        let (rtp_low, rtp_high) = port_block(100);
        let (rtp_low, rtp_high) = (rtp_low + 9_000, rtp_high + 9_000);
        let config = format!(
            "poll_method epoll\nsip_listen 127.0.0.1:{sip_port}\nnet_interface 127.0.0.1\n\
             call_local_timeout 120\ncall_max_calls 4\naudio_path /usr/share/baresip\n\
             audio_player alsa,null\naudio_alert alsa,null\naudio_source aufile,caller_tx.wav\n\
             ausrc_srate 8000\nauplay_srate 8000\nausrc_channels 1\nauplay_channels 1\n\
             audio_level no\nausrc_format s16\nauplay_format s16\nauenc_format s16\naudec_format s16\n\
             audio_buffer 20-160\nrtp_tos 184\nrtp_ports {rtp_low}-{rtp_high}\nrtcp_mux no\n\
             jitter_buffer_delay 5-10\nrtp_stats yes\nmodule_path /usr/lib/baresip/modules\n\
             module g711.so\nmodule sndfile.so\nmodule alsa.so\nmodule aufile.so\n\
             module_tmp uuid.so\nmodule_tmp account.so\nmodule_app menu.so\nmodule_app ctrl_tcp.so\n\
             ctrl_tcp_listen 127.0.0.1:{control_port}\nsnd_path rec\nringback_disabled yes\n\
             statmode_default off\n"
        );
        std::fs::write(dir.join("config"), config).expect("config");
        std::fs::write(
            dir.join("accounts"),
            format!("<sip:caller@127.0.0.1:{sip_port}>;regint=0;answermode=manual;audio_codecs=PCMU,PCMA;ptime=20\n"),
        )
        .expect("accounts");
        std::fs::write(dir.join("contacts"), "# none\n").expect("contacts");
        // The "microphone": 90 s of silence (baresip hangs up when its source file ends).
        std::fs::write(
            dir.join("caller_tx.wav"),
            wav_bytes(&vec![0; 8000 * 90], 8000),
        )
        .expect("wav");
        let log = dir.join("baresip.log");
        let mut command = Command::new("baresip");
        command
            .current_dir(&dir)
            .args(["-f", ".", "-t", "90"])
            .stdin(Stdio::null())
            .stdout(std::fs::File::create(&log).expect("log"))
            .stderr(Stdio::null());
        let process = ChildGuard::spawn("baresip", &mut command);
        let ready = poll(Duration::from_secs(15), || {
            std::fs::read_to_string(&log)
                .ok()
                .filter(|text| text.contains("baresip is ready"))
        });
        assert!(
            ready.is_some(),
            "baresip did not start: {}",
            std::fs::read_to_string(&log).unwrap_or_default()
        );
        Self {
            process,
            dir,
            control_address: SocketAddr::from(([127, 0, 0, 1], control_port)),
        }
    }

    pub async fn control(&self) -> BaresipControl {
        let stream = tokio::net::TcpStream::connect(self.control_address)
            .await
            .expect("ctrl_tcp");
        BaresipControl {
            stream,
            buffer: Vec::new(),
        }
    }

    /// The finished recording of what baresip received, if there is one.
    pub fn received_recording(&self) -> Option<PathBuf> {
        let path = std::fs::read_dir(self.dir.join("rec"))
            .ok()?
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .find(|path| path.to_string_lossy().ends_with("-dec.wav"))?;
        let bytes = std::fs::read(&path).ok()?;
        // The header's data size is filled in when the file is closed.
        (bytes.len() > 44 && bytes[40..44] != [0, 0, 0, 0]).then_some(path)
    }
}

/// A ctrl_tcp connection: netstring-framed JSON commands and events.
pub struct BaresipControl {
    stream: tokio::net::TcpStream,
    buffer: Vec<u8>,
}

impl BaresipControl {
    pub async fn command(&mut self, command: &str, params: &str) {
        use tokio::io::AsyncWriteExt;
        let body =
            json!({"command": command, "params": params, "token": "warbler-test"}).to_string();
        let frame = format!("{}:{body},", body.len());
        self.stream
            .write_all(frame.as_bytes())
            .await
            .expect("ctrl_tcp write");
    }

    /// Collects events (type, arrival time) until one of type `last` arrives, at most `limit`.
    pub async fn events_until(&mut self, last: &str, limit: Duration) -> Vec<(String, Instant)> {
        use tokio::io::AsyncReadExt;
        let deadline = Instant::now() + limit;
        let mut events = Vec::new();
        loop {
            while let Some(message) = self.next_frame() {
                if message["event"] == true {
                    let kind = message["type"].as_str().unwrap_or_default().to_owned();
                    let done = kind == last;
                    events.push((kind, Instant::now()));
                    if done {
                        return events;
                    }
                }
            }
            let left = deadline.saturating_duration_since(Instant::now());
            assert!(
                !left.is_zero(),
                "baresip did not report {last} in time; events: {events:?}"
            );
            let mut chunk = [0u8; 4096];
            match tokio::time::timeout(left, self.stream.read(&mut chunk)).await {
                Ok(Ok(0)) | Ok(Err(_)) => {
                    panic!("baresip closed its control connection; events: {events:?}")
                }
                Ok(Ok(read)) => self.buffer.extend_from_slice(&chunk[..read]),
                Err(_) => panic!("baresip did not report {last} in time; events: {events:?}"),
            }
        }
    }

    fn next_frame(&mut self) -> Option<Value> {
        let colon = self.buffer.iter().position(|byte| *byte == b':')?;
        let length: usize = std::str::from_utf8(&self.buffer[..colon])
            .ok()?
            .parse()
            .ok()?;
        if self.buffer.len() < colon + 1 + length + 1 {
            return None;
        }
        let message = serde_json::from_slice(&self.buffer[colon + 1..colon + 1 + length])
            .unwrap_or(Value::Null);
        self.buffer.drain(..colon + 1 + length + 1);
        Some(message)
    }
}

/// Starts SIPp as a UAS ("the trunk") on a free port with one of the SIP crate's scenarios;
/// returns the guard and the port.
pub fn start_sipp_uas(dir: &Path, scenario: &str, extra: &[&str]) -> (ChildGuard, u16) {
    let port = free_port();
    let media = free_port();
    let mut command = Command::new("sipp");
    command
        .current_dir(dir)
        .arg("-sf")
        .arg(sipp_scenario(scenario))
        .args([
            "-i",
            "127.0.0.1",
            "-mi",
            "127.0.0.1",
            "-ci",
            "127.0.0.1",
            "-nostdin",
        ])
        .args([
            "-timeout",
            "60s",
            "-timeout_error",
            "-m",
            "1",
            "-trace_msg",
            "-trace_err",
        ])
        .args(["-p", &port.to_string(), "-mp", &media.to_string()])
        .args(extra)
        .stdin(Stdio::null())
        .stdout(std::fs::File::create(dir.join(format!("sipp-uas-{port}.out"))).expect("log"))
        .stderr(std::fs::File::create(dir.join(format!("sipp-uas-{port}.err"))).expect("log"));
    let guard = ChildGuard::spawn("sipp", &mut command);
    // SIPp binds at once; wait (bounded) until its UDP port answers as taken.
    let bound = poll(Duration::from_secs(10), || {
        UdpSocket::bind(("127.0.0.1", port)).is_err().then_some(())
    });
    assert!(bound.is_some(), "SIPp did not bind {port}");
    (guard, port)
}

/// Polls an async `condition` every 50 ms until it returns `Some`, at most `limit`.
pub async fn poll_async_value<T, F, Fut>(limit: Duration, mut condition: F) -> Option<T>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = Instant::now() + limit;
    loop {
        if let Some(value) = condition().await {
            return Some(value);
        }
        if Instant::now() >= deadline {
            return None;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
