//! Identifier newtypes. Every resource id is a UUID (v7 for new ids, so they sort by creation).

use std::fmt;
use std::str::FromStr;

use serde::{Deserialize, Serialize};
use uuid::Uuid;

macro_rules! id_type {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(Uuid);

        impl $name {
            /// A new, time-ordered id (UUID v7) for the given Unix time in milliseconds and
            /// 10 bytes of caller-supplied randomness (cores take no entropy source of their own).
            pub fn from_parts(unix_millis: u64, random: [u8; 10]) -> Self {
                Self(uuid::Builder::from_unix_timestamp_millis(unix_millis, &random).into_uuid())
            }

            /// Wraps an existing UUID.
            pub const fn from_uuid(uuid: Uuid) -> Self {
                Self(uuid)
            }

            /// The UUID inside.
            pub const fn as_uuid(&self) -> &Uuid {
                &self.0
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(formatter)
            }
        }

        impl FromStr for $name {
            type Err = uuid::Error;

            fn from_str(text: &str) -> Result<Self, Self::Err> {
                Uuid::parse_str(text).map(Self)
            }
        }
    };
}

id_type!(
    /// An organization: owns workspaces.
    OrganizationId
);
id_type!(
    /// A workspace: the unit of isolation; every resource belongs to exactly one.
    WorkspaceId
);
id_type!(
    /// A voice channel: a set of numbers and a SIP trunk.
    ChannelId
);
id_type!(
    /// A call (one SIP leg in Bird's model).
    CallId
);
id_type!(
    /// One call flow attached to a call (a PATCH replaces it with a new one).
    CallFlowId
);
id_type!(
    /// One command of a call flow.
    CommandId
);
id_type!(
    /// A webhook subscription.
    SubscriptionId
);
id_type!(
    /// One webhook event (the `messagebird-request-id` of every delivery attempt).
    EventId
);
id_type!(
    /// An access key (its secret is never stored, only its hash).
    AccessKeyId
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_round_trip_through_text() {
        let id = CallId::from_parts(1_732_212_155_550, [7; 10]);
        let text = id.to_string();
        assert_eq!(text.len(), 36);
        assert_eq!(text.parse::<CallId>().expect("valid uuid"), id);
    }

    #[test]
    fn ids_created_later_sort_later() {
        let first = CallId::from_parts(1_000, [9; 10]);
        let second = CallId::from_parts(1_001, [0; 10]);
        assert!(first < second);
    }
}
