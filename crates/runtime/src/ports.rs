//! RTP port allocation from the configured range.

use std::net::{IpAddr, SocketAddr};
use std::ops::RangeInclusive;
use std::sync::atomic::{AtomicU32, Ordering};

use tokio::net::UdpSocket;

/// Hands out UDP sockets on even ports of a range (RFC 3550 §11: RTP on an even port, RTCP on
/// the next odd one), round-robin so a just-freed port is not reused at once.
#[derive(Debug)]
pub(crate) struct PortPool {
    address: IpAddr,
    first_even: u16,
    count: u32,
    cursor: AtomicU32,
}

impl PortPool {
    pub(crate) fn new(address: IpAddr, range: RangeInclusive<u16>) -> Self {
        let first_even = range.start().saturating_add(range.start() % 2);
        let last = *range.end();
        let count = if last >= first_even {
            u32::from((last - first_even) / 2 + 1)
        } else {
            0
        };
        Self {
            address,
            first_even,
            count,
            cursor: AtomicU32::new(0),
        }
    }

    /// Binds the next free even port, trying each port of the range at most once.
    pub(crate) async fn allocate(&self) -> Option<UdpSocket> {
        for _ in 0..self.count {
            let slot = self.cursor.fetch_add(1, Ordering::Relaxed) % self.count.max(1);
            let port = u32::from(self.first_even) + slot * 2;
            let Ok(port) = u16::try_from(port) else {
                continue;
            };
            if let Ok(socket) = UdpSocket::bind(SocketAddr::new(self.address, port)).await {
                return Some(socket);
            }
        }
        None
    }
}

#[cfg(test)]
mod tests {
    use std::net::Ipv4Addr;

    use super::*;

    #[tokio::test]
    async fn allocates_distinct_even_ports_and_reports_exhaustion() {
        let pool = PortPool::new(IpAddr::V4(Ipv4Addr::LOCALHOST), 41_001..=41_006);
        let first = pool.allocate().await.expect("a port");
        let second = pool.allocate().await.expect("a port");
        let third = pool.allocate().await.expect("a port");
        let ports: Vec<u16> = [&first, &second, &third]
            .iter()
            .map(|socket| socket.local_addr().expect("bound").port())
            .collect();
        assert_eq!(ports, vec![41_002, 41_004, 41_006]);
        assert!(
            pool.allocate().await.is_none(),
            "all three even ports are taken"
        );
        drop(second);
        let again = pool.allocate().await.expect("the freed port");
        assert_eq!(again.local_addr().expect("bound").port(), 41_004);
    }
}
