//! The webhook dispatcher: delivers the store's outbox, signed as Bird signs (spec §10.4), with
//! retries and exponential backoff for up to a configured age (Bird: 8 hours, spec §10.5).

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use base64::engine::general_purpose::STANDARD as BASE64;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;
use warbler_model::Timestamp;
use warbler_store::{Delivery, Store};

/// Dispatcher settings.
#[derive(Clone, Debug)]
pub struct WebhookConfig {
    /// Connect timeout for one attempt.
    pub connect_timeout: Duration,
    /// Whole-request timeout for one attempt.
    pub request_timeout: Duration,
    /// After this long since the event, a failing delivery goes dead.
    pub max_age: Duration,
    /// First retry delay; doubled per attempt (with jitter), capped at `max_backoff`.
    pub initial_backoff: Duration,
    /// Longest delay between attempts.
    pub max_backoff: Duration,
}

impl Default for WebhookConfig {
    fn default() -> Self {
        Self {
            connect_timeout: Duration::from_secs(5),
            request_timeout: Duration::from_secs(10),
            max_age: Duration::from_secs(8 * 3600),
            initial_backoff: Duration::from_secs(1),
            max_backoff: Duration::from_secs(3600),
        }
    }
}

/// The headers of one signed delivery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Signature {
    /// `messagebird-request-timestamp`: Unix seconds.
    pub timestamp: String,
    /// `messagebird-signature`: base64 HMAC-SHA256.
    pub signature: String,
}

/// Signs a delivery as Bird does (spec §10.4): HMAC-SHA256 with the subscription's signing key
/// over `timestamp + "\n" + url + "\n" + sha256(body)` (the raw 32-byte digest), base64.
pub fn sign(signing_key: &str, timestamp: &str, url: &str, body: &[u8]) -> Signature {
    let body_hash = Sha256::digest(body);
    // Invariant: HMAC accepts keys of any length.
    let mut mac = Hmac::<Sha256>::new_from_slice(signing_key.as_bytes()).expect("any key length");
    mac.update(timestamp.as_bytes());
    mac.update(b"\n");
    mac.update(url.as_bytes());
    mac.update(b"\n");
    mac.update(&body_hash);
    Signature {
        timestamp: timestamp.to_owned(),
        signature: BASE64.encode(mac.finalize().into_bytes()),
    }
}

/// Runs until `cancel`: delivers due events, sleeping until the next one is due or `wake` fires.
pub(crate) async fn run_dispatcher(
    store: Store,
    client: reqwest::Client,
    config: WebhookConfig,
    wake: Arc<Notify>,
    cancel: CancellationToken,
) {
    loop {
        let now = now_timestamp();
        let due = match store.due_deliveries(now, 64).await {
            Ok(due) => due,
            Err(error) => {
                tracing::error!(%error, "reading the webhook outbox failed");
                Vec::new()
            }
        };
        for delivery in &due {
            if cancel.is_cancelled() {
                return;
            }
            deliver(&store, &client, &config, delivery).await;
        }
        if !due.is_empty() {
            continue;
        }
        let sleep_for = match store.next_delivery_due().await {
            Ok(Some(next)) => {
                let wait = next.unix_millis() - now_timestamp().unix_millis();
                Duration::from_millis(u64::try_from(wait.clamp(0, 60_000)).unwrap_or(0))
            }
            Ok(None) => Duration::from_secs(60),
            Err(error) => {
                tracing::error!(%error, "reading the webhook outbox failed");
                Duration::from_secs(1)
            }
        };
        tokio::select! {
            () = cancel.cancelled() => return,
            () = wake.notified() => {}
            () = tokio::time::sleep(sleep_for) => {}
        }
    }
}

async fn deliver(
    store: &Store,
    client: &reqwest::Client,
    config: &WebhookConfig,
    delivery: &Delivery,
) {
    let timestamp = unix_seconds().to_string();
    let signature = sign(
        &delivery.signing_key,
        &timestamp,
        &delivery.url,
        delivery.body.as_bytes(),
    );
    let result = client
        .post(&delivery.url)
        .timeout(config.request_timeout)
        .header("content-type", "application/json")
        .header("messagebird-signature", &signature.signature)
        .header("messagebird-request-timestamp", &signature.timestamp)
        .header("messagebird-request-id", delivery.id.to_string())
        .body(delivery.body.clone())
        .send()
        .await;
    let failure = match result {
        Ok(response) if response.status().is_success() => None,
        Ok(response) => Some(format!("HTTP {}", response.status().as_u16())),
        Err(error) if error.is_timeout() => Some("timeout".to_owned()),
        Err(error) if error.is_connect() => Some("connection failed".to_owned()),
        Err(_) => Some("request failed".to_owned()),
    };
    let now = now_timestamp();
    let outcome = match failure {
        None => store.mark_delivered(delivery.id, now).await,
        Some(reason) => {
            let age = now.unix_millis() - delivery.created_at.unix_millis();
            if age >= i64::try_from(config.max_age.as_millis()).unwrap_or(i64::MAX) {
                tracing::warn!(event = %delivery.id, url = %delivery.url, %reason, "webhook delivery is dead");
                store.mark_dead(delivery.id, now, &reason).await
            } else {
                let delay = backoff(config, delivery.attempts, &delivery.id.to_string());
                tracing::info!(event = %delivery.id, %reason, retry_in_ms = delay.as_millis() as u64, "webhook delivery failed");
                let next = Timestamp::from_unix_millis(
                    now.unix_millis() + i64::try_from(delay.as_millis()).unwrap_or(0),
                );
                store.reschedule_delivery(delivery.id, next, &reason).await
            }
        }
    };
    if let Err(error) = outcome {
        tracing::error!(%error, "updating the webhook outbox failed");
    }
}

/// Exponential backoff with ±25 % jitter derived from the event id (no RNG needed).
fn backoff(config: &WebhookConfig, attempts: u32, seed: &str) -> Duration {
    let base = config
        .initial_backoff
        .saturating_mul(1u32 << attempts.min(20));
    let base = base.min(config.max_backoff);
    let hash = seed.bytes().fold(u64::from(attempts), |hash, byte| {
        hash.wrapping_mul(31).wrapping_add(u64::from(byte))
    });
    let jitter_permille = 750 + hash % 500;
    base.mul_f64(jitter_permille as f64 / 1000.0)
}

/// Now as a [`Timestamp`].
pub(crate) fn now_timestamp() -> Timestamp {
    let millis = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_millis());
    Timestamp::from_unix_millis(i64::try_from(millis).unwrap_or(i64::MAX))
}

fn unix_seconds() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |elapsed| elapsed.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signature_follows_birds_recipe() {
        // Computed independently: python3 -c "import hmac,hashlib,base64;
        // b=b'{\"a\":1}'; m=b'1700000000\nhttp://127.0.0.1/hook\n'+hashlib.sha256(b).digest();
        // print(base64.b64encode(hmac.new(b'secret',m,hashlib.sha256).digest()).decode())"
        let signature = sign(
            "secret",
            "1700000000",
            "http://127.0.0.1/hook",
            br#"{"a":1}"#,
        );
        assert_eq!(
            signature.signature,
            "Ca8Qay+3hKDkS6DtrcJa/sObPkM+iyB5wHGSlJL7llY="
        );
        assert_eq!(signature.timestamp, "1700000000");
    }

    #[test]
    fn backoff_grows_and_is_capped() {
        let config = WebhookConfig::default();
        let first = backoff(&config, 0, "a");
        let fifth = backoff(&config, 5, "a");
        assert!(first >= Duration::from_millis(750) && first <= Duration::from_millis(1250));
        assert!(fifth >= Duration::from_secs(24) && fifth <= Duration::from_secs(40));
        assert!(backoff(&config, 30, "a") <= Duration::from_secs(4500));
    }
}
