//! Query parameters of the call lists (spec §5.2 channel calls, §5.3 workspace calls log).

use super::create_call::check_tag;
use crate::{CallId, CallStatus, CallType, ChannelId, Direction, Timestamp, ValidationError};

/// `limit` when none is given (spec §5.2; Bird's older default).
pub const DEFAULT_LIST_LIMIT: u32 = 10;
/// Largest `limit` (spec §5.2).
pub const MAX_LIST_LIMIT: u32 = 1000;
/// Longest `pageToken`, in characters (spec §5.2).
pub const MAX_PAGE_TOKEN_CHARACTERS: usize = 8000;
/// Longest `to` / `from` filter, in characters (spec §5.2).
pub const MAX_FILTER_CHARACTERS: usize = 100;

/// The query of `GET …/channels/{channelId}/calls` or `GET …/channels/calls`, validated.
/// Repeated filters (`status`, `type`, `direction`, `tag`, `channelId`) match any of their
/// values; different filters must all match.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CallListQuery {
    /// Page size, 1–1000 (default 10).
    pub limit: u32,
    /// Where the previous page ended (absent, or given empty: the first page).
    pub page_token: Option<String>,
    /// Only calls in one of these statuses (empty: any).
    pub statuses: Vec<CallStatus>,
    /// Only calls of one of these types (empty: any).
    pub types: Vec<CallType>,
    /// Only calls in one of these directions (empty: any).
    pub directions: Vec<Direction>,
    /// Only calls to this address (exact match).
    pub to: Option<String>,
    /// Only calls from this address (exact match).
    pub from: Option<String>,
    /// Only calls created at or after this time.
    pub start_at: Option<Timestamp>,
    /// Only calls created at or before this time (never before `start_at`).
    pub end_at: Option<Timestamp>,
    /// Only calls carrying one of these tags (lower-cased; empty: any).
    pub tags: Vec<String>,
    /// Only calls of one of these channels (workspace log only; empty: any).
    pub channel_ids: Vec<ChannelId>,
    /// Only the call with this id.
    pub id: Option<CallId>,
    /// Only calls lasting exactly this many seconds.
    pub duration: Option<u64>,
}

impl Default for CallListQuery {
    fn default() -> Self {
        Self {
            limit: DEFAULT_LIST_LIMIT,
            page_token: None,
            statuses: Vec::new(),
            types: Vec::new(),
            directions: Vec::new(),
            to: None,
            from: None,
            start_at: None,
            end_at: None,
            tags: Vec::new(),
            channel_ids: Vec::new(),
            id: None,
            duration: None,
        }
    }
}

/// Parses the decoded query pairs of a call list. `workspace_log` is true for the workspace
/// calls log (§5.3), the only list that takes `channelId`. Unknown parameters are ignored (as
/// for every list); a single-valued parameter given twice is refused. Error paths are the
/// parameter names (`status`, `limit`).
pub fn parse_call_list_query(
    pairs: &[(String, String)],
    workspace_log: bool,
) -> Result<CallListQuery, ValidationError> {
    let mut query = CallListQuery::default();
    let mut seen: Vec<&str> = Vec::new();
    for (key, value) in pairs {
        let key = key.as_str();
        if SINGLE_VALUED.contains(&key) {
            if seen.contains(&key) {
                return Err(ValidationError::invalid(
                    key,
                    format!("`{key}` may be given only once"),
                ));
            }
            seen.push(key);
        }
        match key {
            "limit" => {
                query.limit = value
                    .parse::<u32>()
                    .ok()
                    .filter(|limit| (1..=MAX_LIST_LIMIT).contains(limit))
                    .ok_or_else(|| {
                        ValidationError::invalid(
                            key,
                            format!("limit must be an integer from 1 to {MAX_LIST_LIMIT}"),
                        )
                    })?;
            }
            "pageToken" => {
                if value.chars().count() > MAX_PAGE_TOKEN_CHARACTERS {
                    return Err(ValidationError::invalid(
                        key,
                        format!("pageToken is longer than {MAX_PAGE_TOKEN_CHARACTERS} characters"),
                    ));
                }
                query.page_token = (!value.is_empty()).then(|| value.clone());
            }
            "status" => query.statuses.push(
                CallStatus::parse(value).ok_or_else(|| not_one_of(key, value, "a call status"))?,
            ),
            "type" => query.types.push(
                CallType::parse(value)
                    .ok_or_else(|| not_one_of(key, value, "`pstn`, `sip` or `webrtc`"))?,
            ),
            "direction" => query.directions.push(
                Direction::parse(value)
                    .ok_or_else(|| not_one_of(key, value, "`incoming` or `outgoing`"))?,
            ),
            "to" => query.to = Some(address_filter(key, value)?),
            "from" => query.from = Some(address_filter(key, value)?),
            "startAt" => query.start_at = Some(date_time(key, value)?),
            "endAt" => query.end_at = Some(date_time(key, value)?),
            "tag" => query.tags.push(check_tag(key, value)?),
            "channelId" if !workspace_log => {
                return Err(ValidationError::invalid(
                    key,
                    "channelId filters only the workspace calls log; this list is one channel's",
                ));
            }
            "channelId" => query.channel_ids.push(
                value
                    .parse()
                    .map_err(|_| ValidationError::invalid(key, "channelId must be a UUID"))?,
            ),
            "id" => {
                query.id = Some(
                    value
                        .parse()
                        .map_err(|_| ValidationError::invalid(key, "id must be a UUID"))?,
                );
            }
            "duration" => {
                query.duration = Some(value.parse().map_err(|_| {
                    ValidationError::invalid(key, "duration must be a whole number of seconds")
                })?);
            }
            _ => {}
        }
    }
    if let (Some(start), Some(end)) = (query.start_at, query.end_at)
        && start > end
    {
        return Err(ValidationError::invalid(
            "endAt",
            "endAt must not be before startAt",
        ));
    }
    Ok(query)
}

/// Parameters that may appear at most once.
const SINGLE_VALUED: [&str; 8] = [
    "limit",
    "pageToken",
    "to",
    "from",
    "startAt",
    "endAt",
    "id",
    "duration",
];

fn not_one_of(key: &str, value: &str, what: &str) -> ValidationError {
    ValidationError::invalid(key, format!("`{value}` is not {what}"))
}

fn address_filter(key: &str, value: &str) -> Result<String, ValidationError> {
    let characters = value.chars().count();
    if characters == 0 || characters > MAX_FILTER_CHARACTERS {
        return Err(ValidationError::invalid(
            key,
            format!("{key} must be 1 to {MAX_FILTER_CHARACTERS} characters"),
        ));
    }
    Ok(value.to_owned())
}

fn date_time(key: &str, value: &str) -> Result<Timestamp, ValidationError> {
    Timestamp::parse_rfc3339(value).ok_or_else(|| {
        ValidationError::invalid(key, format!("{key} must be an RFC 3339 date-time"))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(key, value)| ((*key).to_owned(), (*value).to_owned()))
            .collect()
    }

    const CHANNEL: &str = "b827924e-9789-4c2f-a4d5-b352175354f6";
    const CALL: &str = "67312601-d865-4b5a-a2df-46ddb9d66e08";

    #[test]
    fn empty_query_gets_the_defaults() {
        let query = parse_call_list_query(&[], false).expect("valid");
        assert_eq!(query, CallListQuery::default());
        assert_eq!(query.limit, 10);
    }

    #[test]
    fn every_parameter_is_parsed() {
        let query = parse_call_list_query(
            &pairs(&[
                ("limit", "1000"),
                ("pageToken", "WzE3MzIyMTIxNTU1NTAsIjY3MzEyNjAxIl0"),
                ("status", "completed"),
                ("status", "no-answer"),
                ("type", "sip"),
                ("type", "pstn"),
                ("direction", "incoming"),
                ("to", "+351927549927"),
                ("from", "client:fc0be2c4"),
                ("startAt", "2023-10-26T00:00:00Z"),
                ("endAt", "2023-10-27T00:00:00+02:00"),
                ("tag", "VIP"),
                ("tag", "eu"),
                ("channelId", CHANNEL),
                ("channelId", CHANNEL),
                ("id", CALL),
                ("duration", "0"),
                ("unknown", "ignored"),
            ]),
            true,
        )
        .expect("valid");
        assert_eq!(query.limit, 1000);
        assert!(query.page_token.is_some());
        assert_eq!(
            query.statuses,
            vec![CallStatus::Completed, CallStatus::NoAnswer]
        );
        assert_eq!(query.types, vec![CallType::Sip, CallType::Pstn]);
        assert_eq!(query.directions, vec![Direction::Incoming]);
        assert_eq!(query.to.as_deref(), Some("+351927549927"));
        assert_eq!(query.from.as_deref(), Some("client:fc0be2c4"));
        assert_eq!(
            query.start_at,
            Timestamp::parse_rfc3339("2023-10-26T00:00:00Z")
        );
        assert_eq!(
            query.end_at,
            Timestamp::parse_rfc3339("2023-10-26T22:00:00Z")
        );
        assert_eq!(query.tags, vec!["vip".to_owned(), "eu".to_owned()]);
        assert_eq!(query.channel_ids.len(), 2);
        assert_eq!(query.id.map(|id| id.to_string()).as_deref(), Some(CALL));
        assert_eq!(query.duration, Some(0));
    }

    #[test]
    fn empty_page_token_means_the_first_page() {
        let query = parse_call_list_query(&pairs(&[("pageToken", "")]), false).expect("valid");
        assert_eq!(query.page_token, None);
    }

    #[test]
    fn start_equal_to_end_is_allowed() {
        let time = "2023-10-26T00:00:00Z";
        let query = parse_call_list_query(&pairs(&[("startAt", time), ("endAt", time)]), false)
            .expect("valid");
        assert_eq!(query.start_at, query.end_at);
    }

    #[test]
    fn invalid_parameters_name_themselves() {
        let token = "a".repeat(8001);
        let long = "1".repeat(101);
        let long_tag = "x".repeat(51);
        type Case<'a> = (Vec<(&'a str, &'a str)>, bool, &'a str);
        let cases: Vec<Case<'_>> = vec![
            (vec![("limit", "0")], false, "limit"),
            (vec![("limit", "1001")], false, "limit"),
            (vec![("limit", "ten")], false, "limit"),
            (vec![("limit", "-1")], false, "limit"),
            (vec![("limit", "10"), ("limit", "20")], false, "limit"),
            (vec![("pageToken", token.as_str())], false, "pageToken"),
            (vec![("status", "done")], false, "status"),
            (vec![("status", "")], false, "status"),
            (vec![("type", "SIP")], false, "type"),
            (vec![("direction", "inbound")], false, "direction"),
            (vec![("to", "")], false, "to"),
            (vec![("to", long.as_str())], false, "to"),
            (vec![("from", "")], false, "from"),
            (vec![("from", "1"), ("from", "2")], false, "from"),
            (vec![("startAt", "yesterday")], false, "startAt"),
            (vec![("endAt", "2023-13-01T00:00:00Z")], false, "endAt"),
            (
                vec![
                    ("startAt", "2023-10-27T00:00:00Z"),
                    ("endAt", "2023-10-26T00:00:00Z"),
                ],
                false,
                "endAt",
            ),
            (vec![("tag", "")], false, "tag"),
            (vec![("tag", long_tag.as_str())], false, "tag"),
            (vec![("channelId", CHANNEL)], false, "channelId"),
            (vec![("channelId", "not-a-uuid")], true, "channelId"),
            (vec![("id", "42")], false, "id"),
            (vec![("id", CALL), ("id", CALL)], false, "id"),
            (vec![("duration", "-1")], false, "duration"),
            (vec![("duration", "1.5")], false, "duration"),
        ];
        for (list, workspace_log, path) in cases {
            let error =
                parse_call_list_query(&pairs(&list), workspace_log).expect_err("must be invalid");
            assert_eq!(error.path, path, "{list:?}: {error:?}");
            assert_eq!(error.code, "InvalidValue");
        }
    }
}
