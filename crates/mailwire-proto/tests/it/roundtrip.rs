//! Property tests: whatever is built, encoded and parsed comes back the same.

use mailwire_proto::{
    Address, AgentArmor, Attachment, Bounce, CalendarChange, ClientFrame, Complaint, Delivered,
    Domain, Envelope, ErrorFrame, Event, EventType, JsonObject, ManualOverride, Message,
    MessageSecurity, OffsetDateTime, Open, Payload, Recipient, Reject, Sent, ServerFrame,
    Subscribe, Subscribed, Thread, VerificationRecord,
};
use proptest::collection::vec;
use proptest::option::of;
use proptest::prelude::*;
use serde_json::Value;
use time::UtcOffset;

fn id() -> impl Strategy<Value = String> {
    prop_oneof![
        "evt_[A-Za-z0-9]{1,30}",
        // Anything without control characters, escapes and non-ASCII included.
        "[^\\p{Cc}]{1,40}",
    ]
}

fn text() -> impl Strategy<Value = String> {
    // Any text, control characters and quotes included.
    any::<String>()
}

fn email() -> impl Strategy<Value = String> {
    "[a-z0-9._+-]{1,16}@[a-z0-9-]{1,12}\\.[a-z]{2,6}"
}

/// Display names with the characters that need quoting (and escaping) in `Name <addr>`.
fn display_name() -> impl Strategy<Value = String> {
    "[A-Za-z0-9][A-Za-z0-9 .,;:@<>()'\"\\\\À-ÿ-]{0,24}[A-Za-z0-9)]"
}

fn address() -> impl Strategy<Value = Address> {
    prop_oneof![
        (display_name(), email()).prop_map(|(name, email)| Address::named(&name, &email)),
        email().prop_map(Address::new),
        // Whatever a service sends is an address, kept as sent.
        text().prop_map(Address::new),
    ]
}

fn addresses() -> impl Strategy<Value = Vec<Address>> {
    vec(address(), 0..4)
}

fn timestamp() -> impl Strategy<Value = OffsetDateTime> {
    // Years 1970 to 2200, nanoseconds, offsets in whole minutes as RFC 3339 has them,
    // and offsets with seconds, which it does not (encoded as the same instant in UTC).
    let offset = prop_oneof![(-1439i32..=1439).prop_map(|m| m * 60), -86_399i32..=86_399];
    (0i64..7_258_118_400, 0u32..1_000_000_000, offset).prop_map(|(s, ns, seconds)| {
        let offset = UtcOffset::from_whole_seconds(seconds).unwrap();
        OffsetDateTime::from_unix_timestamp(s)
            .unwrap()
            .replace_nanosecond(ns)
            .unwrap()
            .to_offset(offset)
    })
}

fn json_value() -> impl Strategy<Value = Value> {
    // No floats: their decimal form need not parse back to the same bits.
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<u64>().prop_map(Value::from),
        text().prop_map(Value::String),
    ];
    leaf.prop_recursive(4, 32, 6, |inner| {
        prop_oneof![
            vec(inner.clone(), 0..6).prop_map(Value::Array),
            proptest::collection::btree_map(text(), inner, 0..6)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn json_object() -> impl Strategy<Value = JsonObject> {
    proptest::collection::btree_map(text(), json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect())
}

fn ids() -> impl Strategy<Value = (Option<String>, Option<String>, Option<String>)> {
    (of(text()), of(text()), of(text()))
}

fn attachment() -> impl Strategy<Value = Attachment> {
    (
        of(text()),
        of(text()),
        of("[a-z]{1,10}/[a-z0-9.+-]{1,20}"),
        of(any::<u64>()),
        of(prop_oneof![
            Just("inline".to_owned()),
            Just("attachment".to_owned()),
            text()
        ]),
        of(text()),
    )
        .prop_map(
            |(attachment_id, filename, content_type, size, content_disposition, content_id)| {
                let mut a = Attachment::default();
                a.attachment_id = attachment_id;
                a.filename = filename;
                a.content_type = content_type;
                a.size = size;
                a.content_disposition = content_disposition;
                a.content_id = content_id;
                a
            },
        )
}

prop_compose! {
    fn manual_override()(
        texts in (of(text()), of(text()), of(text())),
        actor in of(json_object()),
        released_at in of(timestamp()),
    ) -> ManualOverride {
        let mut o = ManualOverride::default();
        o.override_id = texts.0;
        o.reason = texts.1;
        o.original_verdict = texts.2;
        o.actor = actor;
        o.released_at = released_at;
        o
    }
}

prop_compose! {
    fn agent_armor()(
        texts in (of(text()), of(prop_oneof![Just("clear".to_owned()), Just("review".to_owned()), text()]), of(text()), of(text())),
        completed_at in of(timestamp()),
        manual_override in of(manual_override()),
    ) -> AgentArmor {
        let mut a = AgentArmor::default();
        a.status = texts.0;
        a.verdict = texts.1;
        a.reason = texts.2;
        a.model = texts.3;
        a.completed_at = completed_at;
        a.manual_override = manual_override;
        a
    }
}

prop_compose! {
    fn message()(
        ids in ids(),
        labels in vec(text(), 0..4),
        times in (of(timestamp()), of(timestamp()), of(timestamp())),
        from in of(address()),
        to in addresses(),
        copies in (of(addresses()), of(addresses()), of(addresses())),
        texts in (of(text()), of(text()), of(text()), of(text()), of(text()), of(text())),
        attachments in of(vec(attachment(), 0..3)),
        links in (of(text()), of(text()), of(vec(text(), 0..3))),
        agent_armor in of(agent_armor().boxed()),
        headers in of(json_object()),
        size in of(any::<u64>()),
    ) -> Message {
        let mut m = Message::default();
        (m.inbox_id, m.thread_id, m.message_id) = ids;
        m.labels = labels;
        (m.timestamp, m.created_at, m.updated_at) = times;
        m.from = from;
        m.to = to;
        (m.cc, m.bcc, m.reply_to) = copies;
        (m.subject, m.preview, m.text, m.html, m.extracted_text, m.extracted_html) = texts;
        m.attachments = attachments;
        (m.in_reply_to, m.calendar_event_id, m.references) = links;
        m.agent_armor = agent_armor;
        m.headers = headers;
        m.size = size;
        m
    }
}

prop_compose! {
    fn thread()(
        ids in (of(text()), of(text())),
        labels in vec(text(), 0..4),
        times in (of(timestamp()), of(timestamp()), of(timestamp()), of(timestamp()), of(timestamp())),
        senders in addresses(),
        recipients in addresses(),
        texts in (of(text()), of(text()), of(text())),
        attachments in of(vec(attachment(), 0..3)),
        counts in (of(any::<u64>()), of(any::<u64>())),
    ) -> Thread {
        let mut t = Thread::default();
        (t.inbox_id, t.thread_id) = ids;
        t.labels = labels;
        (t.timestamp, t.received_timestamp, t.sent_timestamp, t.created_at, t.updated_at) = times;
        t.senders = senders;
        t.recipients = recipients;
        (t.subject, t.preview, t.last_message_id) = texts;
        t.attachments = attachments;
        (t.message_count, t.size) = counts;
        t
    }
}

prop_compose! {
    fn security()(
        organization_id in of(text()),
        ids in (of(text()), of(text())),
        agent_armor in of(agent_armor()),
        manual_override in of(manual_override()),
    ) -> MessageSecurity {
        let mut s = MessageSecurity::default();
        s.organization_id = organization_id;
        (s.inbox_id, s.message_id) = ids;
        s.agent_armor = agent_armor;
        s.manual_override = manual_override;
        s
    }
}

fn record() -> impl Strategy<Value = VerificationRecord> {
    (
        of(prop_oneof![
            Just("TXT".to_owned()),
            Just("CNAME".to_owned()),
            Just("MX".to_owned()),
            text()
        ]),
        (of(text()), of(text()), of(text()), of(text())),
        of(any::<u64>()),
    )
        .prop_map(|(record_type, texts, priority)| {
            let mut r = VerificationRecord::default();
            r.record_type = record_type;
            (r.name, r.value, r.status, r.reason) = texts;
            r.priority = priority;
            r
        })
}

prop_compose! {
    fn domain()(
        ids in (of(text()), of(text()), of(text())),
        texts in (of(text()), of(text()), of(text())),
        flags in (of(any::<bool>()), of(any::<bool>()), of(any::<bool>()), of(any::<bool>())),
        records in vec(record(), 0..4),
        times in (of(timestamp()), of(timestamp())),
    ) -> Domain {
        let mut d = Domain::default();
        (d.pod_id, d.domain_id, d.client_id) = ids;
        (d.domain, d.status, d.reason) = texts;
        (d.feedback_enabled, d.inbound_enabled, d.tracking_enabled, d.subdomains_enabled) = flags;
        d.records = records;
        (d.updated_at, d.created_at) = times;
        d
    }
}

prop_compose! {
    fn calendar()(
        inbox_id in of(text()),
        calendar_event in of(json_object()),
        previous in of(json_object()),
        scheduled_at in of(timestamp()),
    ) -> CalendarChange {
        let mut c = CalendarChange::default();
        c.inbox_id = inbox_id;
        c.calendar_event = calendar_event;
        c.previous = previous;
        c.scheduled_at = scheduled_at;
        c
    }
}

/// The fields every outbound payload shares.
type Head = (
    (Option<String>, Option<String>, Option<String>),
    Option<OffsetDateTime>,
);

fn head() -> impl Strategy<Value = Head> {
    (ids(), of(timestamp()))
}

/// Sets the fields of [`head`] on an outbound payload.
macro_rules! with_head {
    ($t:ident, $head:expr) => {{
        let ((inbox_id, thread_id, message_id), timestamp) = $head;
        let mut p = $t::default();
        p.inbox_id = inbox_id;
        p.thread_id = thread_id;
        p.message_id = message_id;
        p.timestamp = timestamp;
        p
    }};
}

fn select(prefix: &str) -> impl Strategy<Value = EventType> + use<> {
    let types: Vec<EventType> = EventType::KNOWN
        .iter()
        .filter(|t| t.as_str().starts_with(prefix))
        .cloned()
        .collect();
    assert!(!types.is_empty(), "{prefix}");
    proptest::sample::select(types)
}

/// An event type with a payload of its shape.
fn typed_payload() -> impl Strategy<Value = (EventType, Payload)> {
    let recipients = || vec(email(), 0..4);
    let recipient = (of(email()), of("[245]\\.[0-9]\\.[0-9]{1,3}")).prop_map(|(a, s)| {
        let mut r = Recipient::default();
        r.address = a;
        r.status = s;
        r
    });
    prop_oneof![
        (
            select("message.received"),
            message().boxed(),
            of(thread().boxed())
        )
            .prop_map(|(t, m, th)| (
                t,
                Payload::Message {
                    message: Box::new(m),
                    thread: th.map(Box::new)
                }
            ))
            .boxed(),
        (select("message.security."), security())
            .prop_map(|(t, s)| (t, Payload::Security(Box::new(s))))
            .boxed(),
        (head(), recipients())
            .prop_map(|(head, recipients)| {
                let mut p = with_head!(Sent, head);
                p.recipients = recipients;
                (EventType::MessageSent, Payload::Sent(p))
            })
            .boxed(),
        (head(), recipients())
            .prop_map(|(head, recipients)| {
                let mut p = with_head!(Delivered, head);
                p.recipients = recipients;
                (EventType::MessageDelivered, Payload::Delivered(p))
            })
            .boxed(),
        (head(), of(text()), of(text()), vec(recipient, 0..4))
            .prop_map(|(head, bounce_type, sub_type, recipients)| {
                let mut p = with_head!(Bounce, head);
                p.bounce_type = bounce_type;
                p.sub_type = sub_type;
                p.recipients = recipients;
                (EventType::MessageBounced, Payload::Bounced(p))
            })
            .boxed(),
        (head(), of(text()), of(text()), recipients())
            .prop_map(|(head, complaint_type, sub_type, recipients)| {
                let mut p = with_head!(Complaint, head);
                p.complaint_type = complaint_type;
                p.sub_type = sub_type;
                p.recipients = recipients;
                (EventType::MessageComplained, Payload::Complained(p))
            })
            .boxed(),
        (head(), of(text()))
            .prop_map(|(head, reason)| {
                let mut p = with_head!(Reject, head);
                p.reason = reason;
                (EventType::MessageRejected, Payload::Rejected(p))
            })
            .boxed(),
        head()
            .prop_map(|head| (
                EventType::MessageOpened,
                Payload::Opened(with_head!(Open, head))
            ))
            .boxed(),
        domain()
            .prop_map(|d| (EventType::DomainVerified, Payload::Domain(Box::new(d))))
            .boxed(),
        (select("calendar.event."), calendar())
            .prop_map(|(t, c)| (t, Payload::Calendar(Box::new(c))))
            .boxed(),
    ]
}

/// A type this version does not know, and an object as its payload.
fn untyped_payload() -> impl Strategy<Value = (EventType, Payload)> {
    let event_type = prop_oneof![
        "[a-z]{1,10}(\\.[a-z_]{1,10}){1,3}".prop_map(|s| EventType::from_name(&s)),
        // Unknown types that look like known families, or like frame types (those of
        // frames AgentMail's definition does not have included).
        "(message|domain|calendar\\.event)\\.[a-z]{1,8}".prop_map(|s| EventType::from_name(&s)),
        Just(EventType::from_name("ping")),
        Just(EventType::from_name("pong")),
        Just(EventType::from_name("connected")),
        Just(EventType::from_name("subscribed")),
    ]
    .prop_filter("a type this version does not know", |t| {
        matches!(t, EventType::Other(_))
    });
    // Any keys but the envelope's own, with any values: the fields frames use
    // (`name`, `replayed`, `after`, `id`, `data`, `message`...) included.
    let keys = prop_oneof![
        text(),
        proptest::sample::select(vec![
            "id",
            "data",
            "name",
            "replayed",
            "after",
            "message",
            "thread",
            "bounce",
            "domain",
            "event_types",
            "inbox_ids",
            "pod_ids",
            "timestamp",
            "inbox_id",
        ])
        .prop_map(str::to_owned),
    ]
    .prop_filter("not an envelope key", |k| {
        !["type", "event_type", "event_id"].contains(&k.as_str())
    });
    let object = proptest::collection::btree_map(keys, json_value(), 0..6)
        .prop_map(|m| m.into_iter().collect::<JsonObject>());
    (event_type, object).prop_map(|(t, obj)| (t, Payload::Other(obj)))
}

fn envelope() -> impl Strategy<Value = Envelope> {
    prop_oneof![Just(Envelope::AgentMail), Just(Envelope::Simple)]
}

/// What the simple envelope carries of a payload: a message without its thread.
fn as_sent(payload: &Payload, envelope: Envelope) -> Payload {
    match (payload, envelope) {
        (Payload::Message { message, .. }, Envelope::Simple) => Payload::Message {
            message: message.clone(),
            thread: None,
        },
        (p, _) => p.clone(),
    }
}

/// The frame types of the protocol: a simple-envelope event of one of these types
/// (`{"id":..,"type":"subscribed",..}`) is that frame, as a frame with an id must
/// stay a frame. Any other type with an id is an event.
const FRAME_TYPES: [&str; 4] = ["subscribed", "error", "resumed", "gap"];

fn check_round_trip(
    id: &str,
    t: EventType,
    payload: Payload,
    envelope: Envelope,
) -> Result<(), TestCaseError> {
    let event = Event::new(id, t.clone(), payload.clone(), envelope)
        .map_err(|e| TestCaseError::fail(format!("does not encode: {e}")))?;
    prop_assert_eq!(event.payload(), &payload);
    let parsed = Event::parse(event.raw().clone()).map_err(|e| {
        TestCaseError::fail(format!("{e}: {}", String::from_utf8_lossy(event.raw())))
    })?;
    prop_assert_eq!(parsed.id(), id);
    prop_assert_eq!(parsed.event_type(), &t);
    prop_assert_eq!(parsed.envelope(), envelope);
    prop_assert_eq!(parsed.payload(), &as_sent(&payload, envelope));
    // What was encoded from a typed payload is read whole: nothing to report.
    prop_assert!(
        parsed.payload_error().is_none(),
        "{:?}: {}",
        parsed.payload_error(),
        String::from_utf8_lossy(event.raw())
    );
    prop_assert_eq!(parsed.raw(), event.raw());
    // The same event through the frame parser.
    match ServerFrame::parse(event.raw().clone()) {
        Ok(ServerFrame::Event(e)) => prop_assert_eq!(&e, &parsed),
        Ok(_) if envelope == Envelope::Simple && FRAME_TYPES.contains(&t.as_str()) => {}
        other => return Err(TestCaseError::fail(format!("as a frame: {other:?}"))),
    }
    // And into the other envelope and back.
    let other = match envelope {
        Envelope::AgentMail => Envelope::Simple,
        Envelope::Simple => Envelope::AgentMail,
    };
    let moved = parsed
        .clone()
        .into_envelope(other)
        .map_err(|e| TestCaseError::fail(format!("into {other:?}: {e}")))?;
    prop_assert_eq!(moved.envelope(), other);
    let moved = Event::parse(moved.raw().clone())
        .map_err(|e| TestCaseError::fail(format!("in {other:?}: {e}")))?;
    prop_assert_eq!(moved.id(), id);
    prop_assert_eq!(moved.event_type(), &t);
    prop_assert_eq!(
        moved.payload(),
        &as_sent(&as_sent(&payload, envelope), other)
    );
    Ok(())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn typed_events_round_trip(id in id(), (t, payload) in typed_payload(), envelope in envelope()) {
        check_round_trip(&id, t, payload, envelope)?;
    }

    #[test]
    fn untyped_events_round_trip(id in id(), (t, payload) in untyped_payload(), envelope in envelope()) {
        check_round_trip(&id, t, payload, envelope)?;
    }

    #[test]
    fn named_addresses_give_back_their_name_and_email(name in display_name(), email in email()) {
        let a = Address::named(&name, &email);
        let m = a.mailbox().unwrap_or_else(|| panic!("no parsed view of {a}"));
        prop_assert_eq!(m.name.as_deref(), Some(name.as_str()), "{}", a);
        prop_assert_eq!(m.email, email.as_str());
        // The string form, and the object form some services send, read as the same
        // address.
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(serde_json::from_str::<Address>(&json).unwrap(), a.clone());
        let object = serde_json::json!({"name": name, "email": email});
        prop_assert_eq!(serde_json::from_value::<Address>(object).unwrap(), a);
    }

    #[test]
    fn a_bare_email_is_its_own_parsed_view(email in email()) {
        let a = Address::new(email.clone());
        prop_assert_eq!(a.email(), Some(email.as_str()));
        prop_assert_eq!(a.name(), None);
        let object = serde_json::json!({"email": email});
        prop_assert_eq!(serde_json::from_value::<Address>(object).unwrap(), a);
    }

    #[test]
    fn any_address_text_is_kept_as_sent(s in text()) {
        let a = Address::new(s.clone());
        prop_assert_eq!(a.as_str(), s.as_str());
        prop_assert_eq!(a.to_string(), s.clone());
        let json = serde_json::to_string(&a).unwrap();
        prop_assert_eq!(&json, &serde_json::to_string(&s).unwrap());
        let back: Address = serde_json::from_str(&json).unwrap();
        prop_assert_eq!(back.as_str(), s.as_str());
        // A parsed view, when there is one, is part of the text.
        if let Some(m) = a.mailbox() {
            prop_assert!(!m.email.is_empty() && s.contains(m.email));
        }
    }

    #[test]
    fn client_frames_round_trip(
        event_types in of(vec("[a-z]{1,8}(\\.[a-z]{1,8}){0,3}".prop_map(|s| EventType::from_name(&s)), 0..5)),
        inbox_ids in of(vec(text(), 0..4)),
        pod_ids in of(vec(text(), 0..4)),
        after in of(id()),
        kind in prop_oneof![Just("ping".to_owned()), Just("pong".to_owned()), "x-[a-z_]{0,12}"],
        subscribe in any::<bool>(),
    ) {
        let frame = if subscribe {
            ClientFrame::Subscribe(subscribe_of(event_types, inbox_ids, pod_ids, after))
        } else {
            // `ping` and `pong` are not in AgentMail's definition: unknown frames.
            ClientFrame::Unknown { kind }
        };
        prop_assert_eq!(ClientFrame::parse(&frame.to_bytes()).unwrap(), frame);
    }

    #[test]
    fn server_frames_round_trip(
        event_types in of(vec("[a-z]{1,8}(\\.[a-z]{1,8}){0,3}".prop_map(|s| EventType::from_name(&s)), 0..5)),
        inbox_ids in of(vec(text(), 0..4)),
        pod_ids in of(vec(text(), 0..4)),
        name in text(),
        message in text(),
        replayed in any::<u64>(),
        after in id(),
        unknown in prop_oneof![
            // Frames some servers send that AgentMail's definition does not have.
            Just("connected".to_owned()),
            Just("ping".to_owned()),
            Just("pong".to_owned()),
            text().prop_map(|name| format!("x-{name}")),
        ],
        kind in 0..5u8,
    ) {
        let frame = match kind {
            0 => ServerFrame::Subscribed(Subscribed::of(&subscribe_of(event_types, inbox_ids, pod_ids, None))),
            1 => ServerFrame::Error(ErrorFrame::new(name, message)),
            2 => ServerFrame::Resumed { replayed },
            3 => ServerFrame::Gap { after },
            _ => ServerFrame::Unknown { kind: unknown },
        };
        let bytes = frame.to_bytes();
        prop_assert_eq!(ServerFrame::parse(bytes.clone()).unwrap(), frame);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_bytes(bytes in vec(any::<u8>(), 0..512)) {
        let _ = Event::parse(bytes.clone());
        let _ = ServerFrame::parse(bytes.clone());
        let _ = ClientFrame::parse(&bytes);
        mailwire_proto::fuzzing::event_json(&bytes);
    }

    #[test]
    fn parsers_never_panic_on_arbitrary_json(value in json_value()) {
        let bytes = serde_json::to_vec(&value).unwrap();
        mailwire_proto::fuzzing::event_json(&bytes);
    }

    #[test]
    fn typed_events_with_unknown_fields_pass_the_fuzzing_hook(
        id in id(),
        (t, payload) in typed_payload(),
        envelope in envelope(),
        extra in json_object(),
    ) {
        // An event as a service might send it: the typed fields and fields this
        // version does not know, next to them at every level the hook re-encodes.
        let event = Event::new(id, t, payload, envelope).unwrap();
        let mut value: Value = serde_json::from_slice(event.raw()).unwrap();
        for (k, v) in extra {
            if let Some(obj) = value.get_mut("data").and_then(Value::as_object_mut) {
                obj.entry(format!("x-{k}")).or_insert(v.clone());
            }
            if let Some(obj) = value.as_object_mut() {
                obj.entry(format!("x-{k}")).or_insert(v);
            }
        }
        mailwire_proto::fuzzing::event_json(&serde_json::to_vec(&value).unwrap());
    }
}

#[test]
fn a_utc_offset_with_seconds_encodes_as_the_same_instant() {
    let offset = UtcOffset::from_hms(0, 17, 30).unwrap(); // a local mean time
    let at = OffsetDateTime::from_unix_timestamp(1_795_946_400)
        .unwrap()
        .to_offset(offset);
    let mut reject = Reject::new("a@agentmail.to", "thr_1", "<m@example.com>");
    reject.timestamp = Some(at);
    let payload = Payload::Rejected(reject);
    for envelope in [Envelope::AgentMail, Envelope::Simple] {
        let event = Event::new(
            "evt_1",
            EventType::MessageRejected,
            payload.clone(),
            envelope,
        )
        .unwrap();
        assert!(
            std::str::from_utf8(event.raw())
                .unwrap()
                .contains("2026-11-29T10:00:00Z")
        );
        let back = Event::parse(event.raw().clone()).unwrap();
        assert_eq!(back.timestamp(), Some(at));
        assert!(back.payload_error().is_none());
    }
}

#[test]
fn a_year_rfc_3339_cannot_write_is_an_encode_error_not_a_panic() {
    let mut sent = Sent::new("a@agentmail.to", "thr_1", "<m@example.com>");
    sent.timestamp = Some(
        OffsetDateTime::from_unix_timestamp(0)
            .unwrap()
            .replace_year(-1)
            .unwrap(),
    );
    for envelope in [Envelope::AgentMail, Envelope::Simple] {
        let result = Event::new(
            "evt_1",
            EventType::MessageSent,
            Payload::Sent(sent.clone()),
            envelope,
        );
        assert!(
            matches!(result, Err(mailwire_proto::EncodeError::Json(_))),
            "{result:?}"
        );
    }
}

#[test]
fn an_id_parse_would_refuse_is_an_encode_error() {
    for id in ["", "evt\n1", &"e".repeat(mailwire_proto::MAX_ID_BYTES + 1)] {
        let result = Event::new(
            id,
            EventType::MessageOpened,
            Payload::default(),
            Envelope::Simple,
        );
        assert!(
            matches!(result, Err(mailwire_proto::EncodeError::Id(_))),
            "{id:?}: {result:?}"
        );
    }
}

/// A `subscribe` with exactly these members, each absent or a list (possibly
/// empty): the struct is `#[non_exhaustive]`, so it is filled from its default.
#[allow(clippy::field_reassign_with_default)]
fn subscribe_of(
    event_types: Option<Vec<EventType>>,
    inbox_ids: Option<Vec<String>>,
    pod_ids: Option<Vec<String>>,
    after: Option<String>,
) -> Subscribe {
    let mut sub = Subscribe::default();
    sub.event_types = event_types;
    sub.inbox_ids = inbox_ids;
    sub.pod_ids = pod_ids;
    sub.after = after;
    sub
}
