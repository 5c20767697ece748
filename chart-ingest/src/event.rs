//! One play event as a vendor sends it, checked against the data contract.
//!
//! A line is accepted when it is a JSON object with:
//!
//! | field | rule |
//! |---|---|
//! | `event_id`, `venue_id`, `room_id`, `song_id` | strings of 1–[`MAX_ID_BYTES`] bytes: letters and digits of any script, and [`ID_PUNCTUATION`]; no spaces or control characters |
//! | `started_at` | RFC 3339 text with an offset, or epoch milliseconds; within the [`Window`] |
//! | `played_ms` | an integer in 0..=86,400,000 (24 h) |
//! | `vod_vendor` | absent, null, or the authenticated vendor's name |
//!
//! Other fields are tolerated and not landed. Each rejected line gets one reason naming
//! its field.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use crate::vendors::Vendor;

/// The characters besides letters and digits (any script) an id may use.
pub const ID_PUNCTUATION: &str = "-_.:/#";
/// The longest id accepted, in bytes.
pub const MAX_ID_BYTES: usize = 64;
/// The longest `played_ms`: a whole day.
pub const MAX_PLAYED_MS: i64 = 24 * 3_600_000;

/// An accepted play, as landed (its `vod_vendor` is the authenticated vendor).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PlayEvent {
    /// `event_id`.
    pub event_id: String,
    /// `venue_id`.
    pub venue_id: String,
    /// `room_id`.
    pub room_id: String,
    /// `song_id`.
    pub song_id: String,
    /// `started_at`, UTC epoch milliseconds.
    pub started_at_ms: i64,
    /// `played_ms`.
    pub played_ms: i32,
}

/// Why a line was not accepted.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Rejection {
    /// The line's number in the body, from 1 (the row's, for Arrow bodies).
    pub line: u32,
    /// The field at fault, or `-` for the whole line.
    pub field: String,
    /// What is wrong, in one line.
    pub reason: String,
}

/// The instants a `started_at` may take: no older than `earliest_ms` (the late
/// window), no later than `latest_ms` (now plus the allowed clock skew).
#[derive(Debug, Clone, Copy)]
pub struct Window {
    /// The earliest accepted instant, epoch ms.
    pub earliest_ms: i64,
    /// The latest accepted instant, epoch ms.
    pub latest_ms: i64,
}

const ID_FIELDS: [&str; 4] = ["event_id", "venue_id", "room_id", "song_id"];

/// Checks one NDJSON line; `Err` is the reason it is rejected.
pub fn parse_line(
    line_number: u32,
    line: &[u8],
    vendor: &Vendor,
    window: Window,
) -> Result<PlayEvent, Rejection> {
    let reject = |field: &str, reason: String| Rejection {
        line: line_number,
        field: field.to_string(),
        reason,
    };
    let value: Value =
        serde_json::from_slice(line).map_err(|e| reject("-", format!("malformed JSON: {e}")))?;
    let Value::Object(object) = value else {
        return Err(reject("-", "not a JSON object".into()));
    };
    check_object(&object, vendor, window).map_err(|(field, reason)| reject(field, reason))
}

fn check_object(
    object: &Map<String, Value>,
    vendor: &Vendor,
    window: Window,
) -> Result<PlayEvent, (&'static str, String)> {
    let mut ids: [String; 4] = Default::default();
    for (slot, field) in ids.iter_mut().zip(ID_FIELDS) {
        *slot = match object.get(field) {
            None | Some(Value::Null) => return Err((field, "missing".into())),
            Some(Value::String(s)) => check_id(s).map_err(|r| (field, r))?.to_string(),
            Some(other) => return Err((field, format!("expected a string, got {}", kind(other)))),
        };
    }
    let started_at_ms = match object.get("started_at") {
        None | Some(Value::Null) => return Err(("started_at", "missing".into())),
        Some(Value::String(s)) => DateTime::parse_from_rfc3339(s)
            .map_err(|e| {
                (
                    "started_at",
                    format!("`{s}` is not RFC 3339 with an offset: {e}"),
                )
            })?
            .with_timezone(&Utc)
            .timestamp_millis(),
        Some(Value::Number(n)) => n.as_i64().ok_or((
            "started_at",
            format!("{n} is not an integer of epoch milliseconds"),
        ))?,
        Some(other) => {
            return Err((
                "started_at",
                format!(
                    "expected RFC 3339 text or epoch milliseconds, got {}",
                    kind(other)
                ),
            ));
        }
    };
    check_window(started_at_ms, window).map_err(|r| ("started_at", r))?;
    let played_ms = match object.get("played_ms") {
        None | Some(Value::Null) => return Err(("played_ms", "missing".into())),
        Some(Value::Number(n)) => match n.as_i64() {
            Some(ms) if (0..=MAX_PLAYED_MS).contains(&ms) => ms as i32,
            _ => {
                return Err((
                    "played_ms",
                    format!("{n} is not an integer in 0..=86400000"),
                ));
            }
        },
        Some(other) => {
            return Err((
                "played_ms",
                format!("expected an integer, got {}", kind(other)),
            ));
        }
    };
    match object.get("vod_vendor") {
        None | Some(Value::Null) => {}
        Some(Value::String(s)) if *s == vendor.name => {}
        Some(Value::String(s)) => {
            return Err((
                "vod_vendor",
                format!("`{s}` is not the authenticated vendor `{}`", vendor.name),
            ));
        }
        Some(other) => {
            return Err((
                "vod_vendor",
                format!("expected a string, got {}", kind(other)),
            ));
        }
    }
    let [event_id, venue_id, room_id, song_id] = ids;
    check_venue(&venue_id, vendor).map_err(|r| ("venue_id", r))?;
    Ok(PlayEvent {
        event_id,
        venue_id,
        room_id,
        song_id,
        started_at_ms,
        played_ms,
    })
}

/// Checks an event built from typed columns (Arrow bodies): the same rules as a line.
pub fn check_event(
    event: &PlayEvent,
    vendor: &Vendor,
    window: Window,
) -> Result<(), (&'static str, String)> {
    for (field, value) in ID_FIELDS.into_iter().zip([
        &event.event_id,
        &event.venue_id,
        &event.room_id,
        &event.song_id,
    ]) {
        check_id(value).map_err(|r| (field, r))?;
    }
    check_window(event.started_at_ms, window).map_err(|r| ("started_at", r))?;
    if !(0..=MAX_PLAYED_MS).contains(&i64::from(event.played_ms)) {
        return Err((
            "played_ms",
            format!("{} is not in 0..=86400000", event.played_ms),
        ));
    }
    check_venue(&event.venue_id, vendor).map_err(|r| ("venue_id", r))
}

fn check_id(id: &str) -> Result<&str, String> {
    if id.is_empty() || id.len() > MAX_ID_BYTES {
        return Err(format!(
            "must be 1 to {MAX_ID_BYTES} bytes, got {}",
            id.len()
        ));
    }
    if let Some(c) = id
        .chars()
        .find(|c| !(c.is_alphanumeric() || ID_PUNCTUATION.contains(*c)))
    {
        return Err(format!(
            "`{}` has the character {c:?}; ids use letters, digits and {ID_PUNCTUATION}",
            id.escape_debug()
        ));
    }
    Ok(id)
}

fn check_window(started_at_ms: i64, window: Window) -> Result<(), String> {
    let show = |ms: i64| {
        DateTime::from_timestamp_millis(ms).map_or_else(
            || ms.to_string(),
            |t| t.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
        )
    };
    if started_at_ms > window.latest_ms {
        return Err(format!(
            "{} is in the future (latest accepted {})",
            show(started_at_ms),
            show(window.latest_ms)
        ));
    }
    if started_at_ms < window.earliest_ms {
        return Err(format!(
            "{} is older than the late window (earliest accepted {})",
            show(started_at_ms),
            show(window.earliest_ms)
        ));
    }
    Ok(())
}

fn check_venue(venue_id: &str, vendor: &Vendor) -> Result<(), String> {
    match &vendor.venues {
        Some(allowed) if !allowed.contains(venue_id) => Err(format!(
            "venue `{venue_id}` is not among vendor `{}`'s venues",
            vendor.name
        )),
        _ => Ok(()),
    }
}

fn kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::vendors::Vendors;

    fn vendor() -> Vendor {
        let text = format!(
            "[[vendor]]\nname = \"雷石\"\ntoken_sha256 = \"{}\"\n",
            crate::vendors::token_sha256("t")
        );
        Vendors::parse(&text)
            .unwrap()
            .authenticate("t")
            .unwrap()
            .clone()
    }

    const WINDOW: Window = Window {
        earliest_ms: 1_700_000_000_000,
        latest_ms: 1_800_000_000_000,
    };

    fn check(line: &str) -> Result<PlayEvent, (String, String)> {
        parse_line(7, line.as_bytes(), &vendor(), WINDOW).map_err(|r| {
            assert_eq!(r.line, 7);
            (r.field, r.reason)
        })
    }

    #[test]
    fn a_valid_line_in_both_time_forms() {
        let rfc = r#"{"event_id":"e1","venue_id":"V1","room_id":"R1","song_id":"S1","started_at":"2024-11-30T22:15:00+08:00","played_ms":180000,"extra":[1]}"#;
        let event = check(rfc).unwrap();
        assert_eq!(event.started_at_ms, 1_732_976_100_000);
        assert_eq!(event.played_ms, 180_000);
        let epoch = r#"{"event_id":"e1","venue_id":"V1","room_id":"包厢#3","song_id":"S1","started_at":1732976100000,"played_ms":0,"vod_vendor":"雷石"}"#;
        assert_eq!(check(epoch).unwrap().started_at_ms, 1_732_976_100_000);
    }

    #[test]
    fn each_rule_names_its_field() {
        let base = r#""event_id":"e1","venue_id":"V1","room_id":"R1","song_id":"S1""#;
        let cases = [
            ("{".to_string(), "-", "malformed JSON"),
            ("[1]".to_string(), "-", "not a JSON object"),
            (format!(r#"{{{base},"played_ms":1}}"#), "started_at", "missing"),
            (format!(r#"{{{base},"started_at":true,"played_ms":1}}"#), "started_at", "got a boolean"),
            (format!(r#"{{{base},"started_at":"yesterday","played_ms":1}}"#), "started_at", "not RFC 3339"),
            (format!(r#"{{{base},"started_at":1900000000000,"played_ms":1}}"#), "started_at", "in the future"),
            (format!(r#"{{{base},"started_at":1600000000000,"played_ms":1}}"#), "started_at", "older than the late window"),
            (format!(r#"{{{base},"started_at":1732976100000,"played_ms":"1"}}"#), "played_ms", "expected an integer"),
            (format!(r#"{{{base},"started_at":1732976100000,"played_ms":86400001}}"#), "played_ms", "not an integer in"),
            (format!(r#"{{{base},"started_at":1732976100000,"played_ms":-1}}"#), "played_ms", "not an integer in"),
            (format!(r#"{{{base},"started_at":1732976100000,"played_ms":1,"vod_vendor":"视易"}}"#), "vod_vendor", "not the authenticated vendor"),
            (r#"{"event_id":"e 1","venue_id":"V1","room_id":"R1","song_id":"S1","started_at":1732976100000,"played_ms":1}"#.to_string(), "event_id", "has the character ' '"),
            (r#"{"event_id":"e1","venue_id":"V1","room_id":"R\u0000","song_id":"S1","started_at":1732976100000,"played_ms":1}"#.to_string(), "room_id", "has the character '\\0'"),
            (r#"{"event_id":"","venue_id":"V1","room_id":"R1","song_id":"S1","started_at":1732976100000,"played_ms":1}"#.to_string(), "event_id", "1 to 64 bytes"),
            (r#"{"event_id":"e1","venue_id":7,"room_id":"R1","song_id":"S1","started_at":1732976100000,"played_ms":1}"#.to_string(), "venue_id", "expected a string, got a number"),
            (r#"{"event_id":"e1","venue_id":"V1","song_id":"S1","started_at":1732976100000,"played_ms":1}"#.to_string(), "room_id", "missing"),
        ];
        for (line, field, needle) in cases {
            let (f, reason) = check(&line).unwrap_err();
            assert_eq!(f, field, "{line}: {reason}");
            assert!(
                reason.contains(needle),
                "{line}: `{reason}` lacks `{needle}`"
            );
        }
    }

    #[test]
    fn a_venue_allow_list_rejects_other_venues() {
        let text = format!(
            "[[vendor]]\nname = \"a\"\ntoken_sha256 = \"{}\"\nvenues = [\"V1\"]\n",
            crate::vendors::token_sha256("t")
        );
        let vendors = Vendors::parse(&text).unwrap();
        let vendor = vendors.authenticate("t").unwrap();
        let line = |venue: &str| {
            format!(
                r#"{{"event_id":"e1","venue_id":"{venue}","room_id":"R1","song_id":"S1","started_at":1732976100000,"played_ms":1}}"#
            )
        };
        assert!(parse_line(1, line("V1").as_bytes(), vendor, WINDOW).is_ok());
        let r = parse_line(1, line("V2").as_bytes(), vendor, WINDOW).unwrap_err();
        assert_eq!(r.field, "venue_id");
    }
}
