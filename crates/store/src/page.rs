//! Keyset pagination and its opaque page tokens.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use uuid::Uuid;

use crate::StoreError;

/// One page of a listing.
#[derive(Clone, Debug, PartialEq)]
pub struct Page<T> {
    /// The items of this page.
    pub results: Vec<T>,
    /// The token that fetches the next page; `None` on the last page.
    pub next_page_token: Option<String>,
}

/// Decodes tokens with or without `=` padding (tokens are issued without).
const LENIENT_URL_SAFE: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new().with_decode_padding_mode(DecodePaddingMode::Indifferent),
);

/// The position after which the next page starts: the sort key of the last row of the
/// previous page (`created_at DESC, id DESC`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Cursor {
    /// `created_at` in milliseconds.
    pub(crate) created_at: i64,
    /// The row's id, hyphenated lower case (the stored form, so text order is UUID order).
    pub(crate) id: String,
}

impl Cursor {
    /// The token: base64url without padding of the JSON `[createdAtMillis,"uuid"]`.
    pub(crate) fn encode(&self) -> String {
        let json = serde_json::json!([self.created_at, self.id]).to_string();
        URL_SAFE_NO_PAD.encode(json)
    }

    /// Decodes a client's token; anything this store did not issue is
    /// [`StoreError::InvalidPageToken`].
    pub(crate) fn decode(token: &str) -> Result<Cursor, StoreError> {
        let bytes = LENIENT_URL_SAFE
            .decode(token)
            .map_err(|_| StoreError::InvalidPageToken)?;
        let (created_at, id): (i64, String) =
            serde_json::from_slice(&bytes).map_err(|_| StoreError::InvalidPageToken)?;
        let id = Uuid::try_parse(&id).map_err(|_| StoreError::InvalidPageToken)?;
        Ok(Cursor {
            created_at,
            id: id.hyphenated().to_string(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_base64url_of_a_json_pair() {
        let cursor = Cursor {
            created_at: 1_732_212_155_550,
            id: "0193500b-5a3e-7c4d-9f1a-2b3c4d5e6f70".to_owned(),
        };
        let token = cursor.encode();
        assert!(!token.contains('='));
        let json = URL_SAFE_NO_PAD.decode(&token).expect("base64url");
        assert_eq!(
            String::from_utf8(json).expect("utf-8"),
            r#"[1732212155550,"0193500b-5a3e-7c4d-9f1a-2b3c4d5e6f70"]"#
        );
        assert_eq!(Cursor::decode(&token).expect("decodes"), cursor);
    }

    #[test]
    fn upper_case_ids_are_normalised_to_the_stored_form() {
        let token = URL_SAFE_NO_PAD.encode(r#"[5,"0193500B-5A3E-7C4D-9F1A-2B3C4D5E6F70"]"#);
        assert_eq!(
            Cursor::decode(&token).expect("decodes").id,
            "0193500b-5a3e-7c4d-9f1a-2b3c4d5e6f70"
        );
    }

    #[test]
    fn garbage_is_an_invalid_page_token() {
        for token in [
            "",
            "!!!",
            "bm90IGpzb24",                                        // "not json"
            &URL_SAFE_NO_PAD.encode(r#"[5]"#),                    // too short
            &URL_SAFE_NO_PAD.encode(r#"["5","x"]"#),              // wrong types
            &URL_SAFE_NO_PAD.encode(r#"[5,"not-a-uuid"]"#),       // bad id
            &URL_SAFE_NO_PAD.encode(r#"{"createdAt":5,"id":1}"#), // wrong shape
        ] {
            assert!(
                matches!(Cursor::decode(token), Err(StoreError::InvalidPageToken)),
                "{token:?}"
            );
        }
    }
}
