//! The error a request body earns when it is valid JSON but not a valid request.

use std::fmt;

/// A request that parsed as JSON but breaks Bird's schema: the client's fault. Maps to
/// HTTP 422 with Bird's `{code, message, details}` body; `path` names the field
/// (`callFlow[2].command`), empty for the body as a whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ValidationError {
    /// The field path, in Bird's JSON names (`callFlow[0].options.length`).
    pub path: String,
    /// What is wrong, for a human.
    pub message: String,
    /// A stable machine-readable code (`InvalidValue`, `UnknownField`, `UnsupportedCommand`...).
    pub code: &'static str,
}

impl ValidationError {
    /// An invalid value at `path`.
    pub fn invalid(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            code: "InvalidValue",
        }
    }

    /// A value this server understands but cannot act on (e.g. a command not available here).
    pub fn unsupported(path: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            path: path.into(),
            message: message.into(),
            code: "Unsupported",
        }
    }

    /// Converts a serde error found at `path` (from `serde_path_to_error`), refining the path
    /// with the offending key for unknown and missing fields.
    pub(crate) fn from_serde(
        prefix: &str,
        error: serde_path_to_error::Error<serde_json::Error>,
    ) -> Self {
        let inner = error.path().to_string();
        let mut path = join_path(prefix, if inner == "." { "" } else { &inner });
        let message = error.inner().to_string();
        let message = strip_position(&message);
        let mut code = "InvalidValue";
        if let Some(field) = quoted_after(&message, "unknown field `") {
            if !path.ends_with(field.as_str()) {
                path = join_path(&path, &field);
            }
            code = "UnknownField";
        } else if let Some(field) = quoted_after(&message, "missing field `") {
            path = join_path(&path, &field);
            code = "MissingField";
        }
        Self {
            path,
            message,
            code,
        }
    }
}

/// Joins two path fragments with a dot, except before an index.
pub(crate) fn join_path(prefix: &str, rest: &str) -> String {
    match (prefix.is_empty(), rest.is_empty()) {
        (true, _) => rest.to_owned(),
        (false, true) => prefix.to_owned(),
        (false, false) if rest.starts_with('[') => format!("{prefix}{rest}"),
        (false, false) => format!("{prefix}.{rest}"),
    }
}

fn quoted_after(message: &str, marker: &str) -> Option<String> {
    let start = message.find(marker)? + marker.len();
    let end = message[start..].find('`')?;
    Some(message[start..start + end].to_owned())
}

fn strip_position(message: &str) -> String {
    match message.find(" at line ") {
        Some(index) => message[..index].to_owned(),
        None => message.to_owned(),
    }
}

impl fmt::Display for ValidationError {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.path.is_empty() {
            formatter.write_str(&self.message)
        } else {
            write!(formatter, "{}: {}", self.path, self.message)
        }
    }
}

impl std::error::Error for ValidationError {}
