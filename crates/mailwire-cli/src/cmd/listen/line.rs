//! One printed line per event: the head `listen` adds and the raw event, on one
//! line whatever its layout.

use std::time::SystemTime;

use mailwire_proto::Event;
use mailwire_source::{Delivery, Origin, TenantId};
use serde_json::value::RawValue;
use time::format_description::well_known::Rfc3339;

/// `{"id","type","origin","received_at","event":<raw>}` and a newline.
pub(super) fn json_line(delivery: &Delivery) -> Vec<u8> {
    line_of(
        &delivery.event,
        &delivery.origin,
        delivery.tenant.as_ref(),
        delivery.received_at,
    )
}

/// The line of an event received from `origin` at `received_at`.
pub(super) fn line_of(
    event: &Event,
    origin: &Origin,
    tenant: Option<&TenantId>,
    received_at: SystemTime,
) -> Vec<u8> {
    #[derive(serde::Serialize)]
    struct Line<'a> {
        id: &'a str,
        #[serde(rename = "type")]
        event_type: &'a str,
        origin: &'a str,
        #[serde(skip_serializing_if = "Option::is_none")]
        tenant: Option<&'a str>,
        received_at: String,
        /// The event as it was received, not read into values and written again.
        event: &'a RawValue,
    }
    let raw = event.raw();
    // Pretty-printed JSON would break the one-line-per-event format.
    let flat;
    let raw = if raw.iter().any(|b| matches!(b, b'\n' | b'\r')) {
        flat = one_line(raw);
        &flat[..]
    } else {
        raw
    };
    let mut line = Vec::with_capacity(raw.len() + 160);
    // An event is parsed JSON, so it is a raw value; if ever not, the line says so
    // rather than carrying what is not JSON.
    let written = serde_json::from_slice::<&RawValue>(raw).and_then(|event_json| {
        serde_json::to_writer(
            &mut line,
            // A struct, not `json!`, so the fields keep this order.
            &Line {
                id: event.id(),
                event_type: event.event_type().as_str(),
                origin: origin.as_str(),
                tenant: tenant.map(TenantId::as_str),
                received_at: rfc3339(received_at),
                event: event_json,
            },
        )
    });
    if let Err(e) = written {
        line.clear();
        let fallback = serde_json::json!({
            "id": event.id(),
            "type": event.event_type().as_str(),
            "origin": origin.as_str(),
            "received_at": rfc3339(received_at),
            "event": String::from_utf8_lossy(raw),
            "error": format!("the event is not JSON: {e}"),
        });
        line = fallback.to_string().into_bytes();
    }
    line.push(b'\n');
    line
}

pub(crate) fn rfc3339(at: SystemTime) -> String {
    time::OffsetDateTime::from(at)
        .format(&Rfc3339)
        .unwrap_or_default()
}

/// JSON without line breaks outside strings (a JSON string cannot hold a raw one).
fn one_line(json: &[u8]) -> Vec<u8> {
    json.iter()
        .copied()
        .filter(|b| !matches!(b, b'\n' | b'\r'))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_line_embeds_the_raw_event_on_one_line() {
        let raw = "{\"id\":\"evt_1\",\n\"type\":\"message.delivered\",\"data\":{\"inbox_id\":\"a\",\"thread_id\":\"t\",\"message_id\":\"m\",\"note\":\"x\\ny\"}}";
        let event = Event::parse(raw.as_bytes().to_vec()).unwrap();
        let line = json_line(&Delivery::new(event, Origin::Webhook));
        assert_eq!(line.iter().filter(|b| **b == b'\n').count(), 1);
        let v: serde_json::Value = serde_json::from_slice(&line).unwrap();
        assert_eq!(v["id"], "evt_1");
        assert_eq!(v["type"], "message.delivered");
        assert_eq!(v["origin"], "webhook");
        assert!(v["received_at"].as_str().unwrap().contains('T'));
        assert_eq!(v["event"]["data"]["note"], "x\ny");
        let text = String::from_utf8(line).unwrap();
        let at = |k: &str| text.find(&format!("\"{k}\":")).unwrap();
        assert!(at("id") < at("type") && at("type") < at("origin"));
        assert!(at("origin") < at("received_at") && at("received_at") < at("event"));
    }
}
