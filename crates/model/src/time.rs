//! Timestamps as Bird prints them: RFC 3339, UTC, millisecond precision, `Z`.

use std::fmt;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// A point in time, as milliseconds since the Unix epoch (UTC).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct Timestamp(i64);

impl Timestamp {
    /// From milliseconds since the Unix epoch.
    pub const fn from_unix_millis(millis: i64) -> Self {
        Self(millis)
    }

    /// Milliseconds since the Unix epoch.
    pub const fn unix_millis(self) -> i64 {
        self.0
    }

    /// Parses RFC 3339 (any offset; converted to UTC).
    pub fn parse_rfc3339(text: &str) -> Option<Self> {
        DateTime::parse_from_rfc3339(text)
            .ok()
            .map(|time| Self(time.with_timezone(&Utc).timestamp_millis()))
    }

    /// Whole seconds from `earlier` to `self` (0 when `earlier` is later).
    pub fn seconds_since(self, earlier: Timestamp) -> u64 {
        u64::try_from((self.0 - earlier.0).max(0) / 1000).unwrap_or(0)
    }
}

impl fmt::Display for Timestamp {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        match DateTime::<Utc>::from_timestamp_millis(self.0) {
            Some(time) => formatter.write_str(&time.to_rfc3339_opts(SecondsFormat::Millis, true)),
            None => write!(formatter, "invalid-time({})", self.0),
        }
    }
}

impl Serialize for Timestamp {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

impl<'de> Deserialize<'de> for Timestamp {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Self::parse_rfc3339(&text)
            .ok_or_else(|| serde::de::Error::custom("expected an RFC 3339 date-time"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prints_milliseconds_and_zulu() {
        let time = Timestamp::from_unix_millis(1_698_334_006_543);
        assert_eq!(time.to_string(), "2023-10-26T15:26:46.543Z");
        let round = Timestamp::from_unix_millis(1_698_334_006_000);
        assert_eq!(round.to_string(), "2023-10-26T15:26:46.000Z");
    }

    #[test]
    fn parses_offsets_into_utc() {
        let time = Timestamp::parse_rfc3339("2023-10-26T17:26:46.543+02:00").expect("valid");
        assert_eq!(time.unix_millis(), 1_698_334_006_543);
        assert!(Timestamp::parse_rfc3339("yesterday").is_none());
    }
}
