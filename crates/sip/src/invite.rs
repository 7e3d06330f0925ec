//! Parsing of a new INVITE into the plain fields of an [`IncomingCall`](crate::IncomingCall).
//!
//! This is the edge where rsipstack's request type is turned into Warbler's own
//! strings and bytes; nothing past this module looks at SIP headers of the INVITE.

use rsipstack::sip::{Header, Headers, Request, prelude::HeadersExt};

/// The caller-visible facts of an initial INVITE (RFC 3261 §8.1.1, §13.2.1).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct InviteSummary {
    /// Call-ID header value (RFC 3261 §8.1.1.4).
    pub(crate) call_id: String,
    /// User part of the Request-URI, empty when it has none (RFC 3261 §19.1.1).
    pub(crate) request_user: String,
    /// User part of the From URI, empty when it has none.
    pub(crate) from_user: String,
    /// The From URI without display name and tag (RFC 3261 §8.1.1.3).
    pub(crate) from_uri: String,
    /// The To URI without display name and tag (RFC 3261 §8.1.1.2).
    pub(crate) to_uri: String,
    /// User-Agent header value, if any (RFC 3261 §20.41).
    pub(crate) user_agent: Option<String>,
    /// The body when it is a non-empty `application/sdp` offer (RFC 3261 §13.2.1, RFC 3264 §5).
    pub(crate) offer_sdp: Option<Vec<u8>>,
}

/// Why an INVITE cannot be offered to the application; the peer's fault, answered 400.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InviteError {
    /// RFC 3261 §8.1.1.4: every request carries a Call-ID.
    #[error("the INVITE has no Call-ID")]
    MissingCallId,
    /// RFC 3261 §8.1.1.3: every request carries a From header with a URI.
    #[error("the INVITE has no usable From header")]
    MalformedFrom,
    /// RFC 3261 §8.1.1.2: every request carries a To header with a URI.
    #[error("the INVITE has no usable To header")]
    MalformedTo,
}

/// Extracts the [`InviteSummary`] of an initial INVITE.
pub(crate) fn summarize_invite(request: &Request) -> Result<InviteSummary, InviteError> {
    let call_id = request
        .call_id_header()
        .map(|header| header.value().trim().to_owned())
        .map_err(|_| InviteError::MissingCallId)?;
    if call_id.is_empty() {
        return Err(InviteError::MissingCallId);
    }
    let from = request
        .from_header()
        .and_then(rsipstack::sip::From::uri)
        .map_err(|_| InviteError::MalformedFrom)?;
    let to = request
        .to_header()
        .and_then(rsipstack::sip::To::uri)
        .map_err(|_| InviteError::MalformedTo)?;
    let user_agent = request
        .user_agent_header()
        .map(|header| header.value().trim().to_owned());
    let offer_sdp =
        (has_sdp_body(request) && !request.body.is_empty()).then(|| request.body.clone());
    Ok(InviteSummary {
        call_id,
        request_user: uri_user(&request.uri),
        from_user: uri_user(&from),
        from_uri: from.to_string(),
        to_uri: to.to_string(),
        user_agent,
        offer_sdp,
    })
}

fn uri_user(uri: &rsipstack::sip::Uri) -> String {
    uri.auth
        .as_ref()
        .map(|auth| auth.user.clone())
        .unwrap_or_default()
}

/// Whether the Content-Type is `application/sdp` (see [`has_media_type`]).
pub(crate) fn has_sdp_body(request: &Request) -> bool {
    has_media_type(&request.headers, "application/sdp")
}

/// Whether the Content-Type names `media_type`; media types compare
/// case-insensitively and parameters are ignored (RFC 3261 §20.15, RFC 2045 §5.1).
pub(crate) fn has_media_type(headers: &Headers, media_type: &str) -> bool {
    headers.iter().any(|header| match header {
        Header::ContentType(content_type) => {
            let given = content_type.value().split(';').next().unwrap_or_default();
            given.trim().eq_ignore_ascii_case(media_type)
        }
        _ => false,
    })
}

/// The option tags of all Require headers (RFC 3261 §20.32), in order, empty
/// ones left out.
pub(crate) fn required_extensions(request: &Request) -> Vec<String> {
    request
        .headers
        .iter()
        .filter_map(|header| match header {
            Header::Require(require) => Some(require.value()),
            _ => None,
        })
        .flat_map(|value| value.split(','))
        .map(str::trim)
        .filter(|tag| !tag.is_empty())
        .map(str::to_owned)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn invite(request_uri: &str, extra_headers: &str, body: &str) -> Request {
        let text = format!(
            "INVITE {request_uri} SIP/2.0\r\n\
             Via: SIP/2.0/UDP 127.0.0.1:5061;branch=z9hG4bK-1\r\n\
             From: \"Alice\" <sip:alice@127.0.0.1:5061>;tag=abc\r\n\
             To: <sip:1000@127.0.0.1:5060>\r\n\
             Call-ID: call-1@127.0.0.1\r\n\
             CSeq: 1 INVITE\r\n\
             Contact: <sip:alice@127.0.0.1:5061>\r\n\
             {extra_headers}\
             Content-Length: {}\r\n\r\n{body}",
            body.len()
        );
        Request::try_from(text.as_str()).expect("test INVITE is well-formed")
    }

    #[test]
    fn extracts_users_uris_and_user_agent() {
        let request = invite("sip:1000@127.0.0.1:5060", "User-Agent: SIPp\r\n", "");
        let summary = summarize_invite(&request).expect("valid INVITE");
        assert_eq!(summary.call_id, "call-1@127.0.0.1");
        assert_eq!(summary.request_user, "1000");
        assert_eq!(summary.from_user, "alice");
        assert_eq!(summary.from_uri, "sip:alice@127.0.0.1:5061");
        assert_eq!(summary.to_uri, "sip:1000@127.0.0.1:5060");
        assert_eq!(summary.user_agent.as_deref(), Some("SIPp"));
        assert_eq!(summary.offer_sdp, None);
    }

    #[test]
    fn request_uri_without_user_gives_empty_user() {
        let request = invite("sip:127.0.0.1:5060", "", "");
        let summary = summarize_invite(&request).expect("valid INVITE");
        assert_eq!(summary.request_user, "");
    }

    #[test]
    fn sdp_body_is_the_offer_whatever_the_content_type_case_and_parameters() {
        let body = "v=0\r\n";
        let request = invite(
            "sip:1000@127.0.0.1:5060",
            "Content-Type: Application/SDP; charset=utf-8\r\n",
            body,
        );
        let summary = summarize_invite(&request).expect("valid INVITE");
        assert_eq!(summary.offer_sdp.as_deref(), Some(body.as_bytes()));
    }

    #[test]
    fn non_sdp_body_is_not_an_offer() {
        let request = invite(
            "sip:1000@127.0.0.1:5060",
            "Content-Type: text/plain\r\n",
            "hello",
        );
        let summary = summarize_invite(&request).expect("valid INVITE");
        assert_eq!(summary.offer_sdp, None);
    }

    #[test]
    fn empty_sdp_body_is_not_an_offer() {
        let request = invite(
            "sip:1000@127.0.0.1:5060",
            "Content-Type: application/sdp\r\n",
            "",
        );
        let summary = summarize_invite(&request).expect("valid INVITE");
        assert_eq!(summary.offer_sdp, None);
    }

    #[test]
    fn require_headers_are_split_into_option_tags() {
        let request = invite(
            "sip:1000@127.0.0.1:5060",
            "Require: 100rel, timer\r\nRequire: ,precondition\r\n",
            "",
        );
        assert_eq!(
            required_extensions(&request),
            vec!["100rel", "timer", "precondition"]
        );
        let plain = invite("sip:1000@127.0.0.1:5060", "", "");
        assert!(required_extensions(&plain).is_empty());
    }

    #[test]
    fn missing_call_id_is_refused() {
        let mut request = invite("sip:1000@127.0.0.1:5060", "", "");
        request
            .headers
            .retain(|header| !matches!(header, Header::CallId(_)));
        assert_eq!(summarize_invite(&request), Err(InviteError::MissingCallId));
    }

    #[test]
    fn unparsable_from_is_refused() {
        let mut request = invite("sip:1000@127.0.0.1:5060", "", "");
        for header in request.headers.iter_mut() {
            if let Header::From(from) = header {
                *from = "<<<".into();
            }
        }
        assert_eq!(summarize_invite(&request), Err(InviteError::MalformedFrom));
    }
}
