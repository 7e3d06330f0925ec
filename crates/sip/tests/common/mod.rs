//! What the SIPp test binaries share: bounds, the endpoint under test, free
//! ports, and a SIPp child process that is killed when dropped.
//!
//! SIPp is the Debian package `sip-tester`; a missing `sipp` fails the test
//! with a clear message (never a skip).

// Each test binary uses its own part of this module.
#![allow(dead_code)]

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Stdio};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use warbler_sip::{IncomingCall, SipConfig, SipEndpoint, SipError};

/// Upper bound of one whole test.
pub(crate) const TEST_BOUND: Duration = Duration::from_secs(60);
/// Upper bound for any single step we wait for (a call, an event, SIPp's exit).
pub(crate) const STEP_BOUND: Duration = Duration::from_secs(20);

/// SIPp runs one at a time in a test process: each plays pcaps with its own
/// threads and the machine is small.
pub(crate) static SIPP_ONE_AT_A_TIME: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Runs `test`, failing it after [`TEST_BOUND`].
pub(crate) async fn bounded(test: impl Future<Output = ()>) {
    tokio::time::timeout(TEST_BOUND, test)
        .await
        .unwrap_or_else(|_| panic!("the test did not finish within {TEST_BOUND:?}"));
}

/// Starts the endpoint on 127.0.0.1 on a port free for both UDP and TCP.
pub(crate) async fn start_endpoint(
    cancel: &CancellationToken,
) -> (SipEndpoint, mpsc::Receiver<IncomingCall>) {
    for _ in 0..10 {
        let config = SipConfig {
            listen: SocketAddr::from((Ipv4Addr::LOCALHOST, free_udp_port())),
            user_agent: "warbler-sip-test".to_owned(),
        };
        match SipEndpoint::start(config, cancel.child_token()).await {
            Ok(started) => return started,
            // Someone else holds TCP (or UDP) on that port: try another one.
            Err(SipError::Bind { .. }) => continue,
            Err(error) => panic!("cannot start the endpoint: {error}"),
        }
    }
    panic!("no port free for both UDP and TCP on 127.0.0.1 after 10 tries");
}

/// A UDP port on 127.0.0.1 that was free a moment ago.
pub(crate) fn free_udp_port() -> u16 {
    std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))
        .and_then(|socket| socket.local_addr())
        .expect("an ephemeral UDP port on 127.0.0.1")
        .port()
}

/// A UDP port `p` with `p + 2` free as well (SIPp binds its media port and
/// media port + 2).
fn free_media_port() -> u16 {
    for _ in 0..20 {
        let port = free_udp_port();
        if port < u16::MAX - 2 && std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, port + 2)).is_ok()
        {
            return port;
        }
    }
    panic!("no pair of free UDP ports for SIPp's media");
}

/// A running SIPp; killed by PID when dropped.
pub(crate) struct Sipp {
    child: Child,
    directory: PathBuf,
    sip_port: u16,
}

impl Sipp {
    /// Starts `sipp` with the scenario `file` of `tests/sipp/` on 127.0.0.1
    /// and `sip_port`, for one call bounded by 30 s, with `arguments` added
    /// (e.g. the target for a UAC scenario, `-t t1`, `-set`).
    pub(crate) fn spawn(name: &str, file: &str, sip_port: u16, arguments: &[String]) -> Self {
        let scenario_file = Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("tests/sipp")
            .join(file);
        let directory =
            std::env::temp_dir().join(format!("warbler-sip-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&directory).expect("create SIPp's working directory");
        let log = |name: &str| {
            std::fs::File::create(directory.join(name)).expect("create a SIPp log file")
        };
        let mut command = Command::new("sipp");
        command
            .arg("-sf")
            .arg(&scenario_file)
            .args(["-i", "127.0.0.1", "-mi", "127.0.0.1", "-ci", "127.0.0.1"])
            .args(["-nostdin", "-timeout", "30s", "-timeout_error", "-m", "1"])
            .args(["-trace_err", "-trace_logs"])
            .arg("-p")
            .arg(sip_port.to_string())
            .arg("-mp")
            .arg(free_media_port().to_string())
            .arg("-cp")
            .arg(free_udp_port().to_string())
            .args(arguments)
            .current_dir(&directory)
            .stdin(Stdio::null())
            .stdout(log("sipp.stdout"))
            .stderr(log("sipp.stderr"));
        let spawned = command.spawn();
        if spawned.is_err() {
            std::fs::remove_dir_all(&directory).ok();
        }
        let child = match spawned {
            Ok(child) => child,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => panic!(
                "`sipp` is not on the PATH: install the Debian package sip-tester \
                 (apt-get install -y sip-tester)"
            ),
            Err(error) => panic!("cannot start sipp: {error}"),
        };
        Self {
            child,
            directory,
            sip_port,
        }
    }

    /// SIPp's SIP address.
    pub(crate) fn sip_addr(&self) -> SocketAddr {
        SocketAddr::from((Ipv4Addr::LOCALHOST, self.sip_port))
    }

    /// Waits until SIPp listens on its SIP port (a UAS must be ready before
    /// we send it an INVITE), reading `/proc/net/udp` so as not to touch the
    /// port; fails after [`STEP_BOUND`] or when SIPp exits first.
    pub(crate) async fn wait_until_listening(&mut self) {
        let local_address = format!("0100007F:{:04X}", self.sip_port);
        let deadline = tokio::time::Instant::now() + STEP_BOUND;
        loop {
            let table = std::fs::read_to_string("/proc/net/udp").unwrap_or_default();
            let listening = table
                .lines()
                .filter_map(|line| line.split_whitespace().nth(1))
                .any(|address| address == local_address);
            if listening {
                return;
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                panic!(
                    "sipp exited with {status} before listening\n{}",
                    self.diagnostics()
                );
            }
            assert!(
                tokio::time::Instant::now() < deadline,
                "sipp does not listen on {} after {STEP_BOUND:?}\n{}",
                self.sip_port,
                self.diagnostics()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// SIPp's exit status; fails after `bound`.
    pub(crate) async fn wait(&mut self, bound: Duration) -> ExitStatus {
        match tokio::time::timeout(bound, self.child.wait()).await {
            Ok(Ok(status)) => status,
            Ok(Err(error)) => panic!("cannot wait for sipp: {error}"),
            Err(_) => panic!("sipp still running after {bound:?}\n{}", self.diagnostics()),
        }
    }

    /// Waits for SIPp and fails unless it exited 0 (every call successful).
    pub(crate) async fn expect_success(&mut self, name: &str) {
        let status = self.wait(STEP_BOUND).await;
        assert!(
            status.success(),
            "SIPp ({name}) exited with {status}\n{}",
            self.diagnostics()
        );
    }

    /// The end of SIPp's output, error and log files, for failure messages.
    pub(crate) fn diagnostics(&self) -> String {
        let mut report = String::new();
        let Ok(entries) = std::fs::read_dir(&self.directory) else {
            return report;
        };
        for entry in entries.flatten() {
            let text = std::fs::read_to_string(entry.path()).unwrap_or_default();
            let tail: String = text
                .chars()
                .rev()
                .take(3000)
                .collect::<Vec<_>>()
                .into_iter()
                .rev()
                .collect();
            report.push_str(&format!(
                "----- {} -----\n{tail}\n",
                entry.file_name().to_string_lossy()
            ));
        }
        report
    }
}

impl Drop for Sipp {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            // SIGKILL to this child's PID.
            if let Err(error) = self.child.start_kill() {
                eprintln!("cannot kill sipp (pid {:?}): {error}", self.child.id());
            }
        }
        std::fs::remove_dir_all(&self.directory).ok();
    }
}
