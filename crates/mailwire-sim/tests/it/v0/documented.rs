//! The semantics the definition documents beyond shapes: `null` members, the
//! `Idempotency-Key` of sends, substring filters and their capped pages, system
//! labels, and event types.

use hyper::{Method, Request, StatusCode};
use serde_json::{Value, json};

use super::{Api, BodyExt, Bytes, Full, Simulator, bounded, sim};

const ADA: &str = "/v0/inboxes/ada@agentmail.to";
const INJECT: &str = "/_sim/inboxes/ada%40agentmail.to/messages";

impl Api {
    /// A request with this API key and these headers.
    pub(super) async fn request(
        &self,
        key: &str,
        method: Method,
        path: &str,
        headers: &[(&str, &str)],
        body: &Value,
    ) -> (StatusCode, Value) {
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.base))
            .header("authorization", format!("Bearer {key}"));
        for (name, value) in headers {
            req = req.header(*name, *value);
        }
        let req = req.body(Full::new(Bytes::from(body.to_string()))).unwrap();
        let res = bounded(self.client.request(req)).await.expect("answer");
        let status = res.status();
        let body = res.into_body().collect().await.unwrap().to_bytes();
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    pub(super) async fn patch(&self, path: &str, body: Value) -> (StatusCode, Value) {
        self.call(Method::PATCH, path, Some(body)).await
    }

    /// `POST` with an `Idempotency-Key`, under the API key `key`.
    async fn send_once(
        &self,
        key: &str,
        idem: &str,
        path: &str,
        body: Value,
    ) -> (StatusCode, Value) {
        let headers = [("Idempotency-Key", idem)];
        self.request(key, Method::POST, path, &headers, &body).await
    }
}

/// The ids of a list's items, in order.
fn ids(page: &Value, items: &str, id: &str) -> Vec<String> {
    page[items]
        .as_array()
        .unwrap_or_else(|| panic!("no {items} in {page}"))
        .iter()
        .map(|m| m[id].as_str().unwrap().to_owned())
        .collect()
}

fn id(answer: &Value, key: &str) -> String {
    answer[key].as_str().unwrap().to_owned()
}

/// The path of the message an answer names (its id percent-encoded: `<...@...>`).
fn message(answer: &Value) -> String {
    let id: String = form_urlencoded::byte_serialize(id(answer, "message_id").as_bytes()).collect();
    format!("{ADA}/messages/{id}")
}

fn assert_validation(status: StatusCode, body: &Value, mentions: &str) {
    assert_eq!(status, StatusCode::BAD_REQUEST, "{body}");
    assert_eq!(body["name"], "ValidationError", "{body}");
    let message = body["message"].as_str().unwrap();
    assert!(message.contains(mentions), "{mentions:?} in {message:?}");
}

#[tokio::test]
async fn null_is_the_absence_of_every_optional_member() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let none = json!({
        "username": "ada", "domain": null, "display_name": null,
        "client_id": null, "metadata": null,
    });
    assert_eq!(
        api.post("/v0/inboxes", none).await["email"],
        "ada@agentmail.to"
    );
    api.post("/v0/pods", json!({ "name": null, "client_id": null }))
        .await;
    let received = api
        .post(
            INJECT,
            json!({ "from": "bob@example.com", "subject": "hi", "text": "x",
                    "cc": null, "attachments": null, "in_reply_to": null, "verdict": null }),
        )
        .await;
    let parent = message(&received);
    let optional = |extra: Value| {
        let mut body = json!({
            "labels": null, "reply_to": null, "to": null, "cc": null, "bcc": null,
            "subject": null, "text": null, "html": null, "attachments": null, "headers": null,
        });
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        body
    };
    let to = json!({ "to": "carol@example.com" });
    api.post(&format!("{ADA}/messages/send"), optional(to.clone()))
        .await;
    let reply = api
        .post(
            &format!("{parent}/reply"),
            optional(json!({ "reply_all": null })),
        )
        .await;
    let (_, reply) = api.get(&message(&reply)).await;
    assert_eq!(reply["to"], json!(["bob@example.com"]), "{reply}");
    api.post(&format!("{parent}/reply-all"), optional(json!({})))
        .await;
    api.post(&format!("{parent}/forward"), optional(to)).await;

    // Updates: a null list changes nothing.
    let (status, labels) = api
        .patch(
            &parent,
            json!({ "add_labels": null, "remove_labels": ["unread"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{labels}");
    assert_eq!(labels["labels"], json!(["received"]));
    let (status, _) = api
        .patch(
            &parent,
            json!({ "add_labels": ["x"], "remove_labels": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK);
    let thread = format!("/v0/threads/{}", id(&received, "thread_id"));
    let (status, thread) = api
        .patch(
            &thread,
            json!({ "add_labels": null, "remove_labels": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{thread}");

    // Webhooks, created and updated with every optional member null.
    let hook = api
        .post(
            "/v0/webhooks",
            json!({ "url": "http://127.0.0.1:9/h", "event_types": ["message.received"],
                    "client_id": null, "headers": null, "inbox_ids": null, "pod_ids": null }),
        )
        .await;
    let (status, updated) = api
        .patch(
            &format!("/v0/webhooks/{}", id(&hook, "webhook_id")),
            json!({ "event_types": null, "add_inbox_ids": null, "remove_inbox_ids": null,
                    "add_pod_ids": null, "remove_pod_ids": null }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    assert_eq!(updated["event_types"], json!(["message.received"]));

    // An update past the ten-id limit is refused whole: nothing of it applies.
    let hook_path = format!("/v0/webhooks/{}", id(&hook, "webhook_id"));
    let nine: Vec<String> = (0..9).map(|i| format!("in{i}@x.to")).collect();
    let (status, updated) = api
        .patch(&hook_path, json!({ "add_inbox_ids": nine }))
        .await;
    assert_eq!(status, StatusCode::OK, "{updated}");
    let (status, body) = api
        .patch(
            &hook_path,
            json!({ "add_inbox_ids": ["a@x.to", "b@x.to"], "event_types": ["message.bounced"] }),
        )
        .await;
    assert_validation(status, &body, "inbox_ids");
    let (status, unchanged) = api.get(&hook_path).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        unchanged["inbox_ids"].as_array().map(Vec::len),
        Some(9),
        "{unchanged}"
    );
    assert_eq!(unchanged["event_types"], json!(["message.received"]));

    // The inbox's `metadata` is the one member whose null says something: clear it.
    let (_, inbox) = api
        .patch(
            ADA,
            json!({ "display_name": null, "metadata": { "a": "1", "b": 2 } }),
        )
        .await;
    assert_eq!(inbox["metadata"], json!({ "a": "1", "b": 2 }));
    let (_, inbox) = api
        .patch(
            ADA,
            json!({ "display_name": "Ada", "metadata": { "a": null } }),
        )
        .await;
    assert_eq!(inbox["metadata"], json!({ "b": 2 }));
    let (status, inbox) = api.patch(ADA, json!({ "metadata": null })).await;
    assert_eq!(status, StatusCode::OK);
    assert!(inbox["metadata"].is_null(), "{inbox}");
    assert_eq!(inbox["display_name"], "Ada");
    let (status, body) = api.patch(ADA, json!({ "metadata": {} })).await;
    assert_validation(status, &body, "metadata");
}

#[tokio::test]
async fn an_idempotency_key_sends_once_and_refuses_another_request() {
    let sim = Simulator::builder()
        .api_key("am_k")
        .api_key("am_other")
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let send = format!("{ADA}/messages/send");
    let body = json!({ "to": ["bob@example.com"], "subject": "receipt", "text": "thanks" });
    let (status, first) = api.send_once("am_k", "order-1", &send, body.clone()).await;
    assert_eq!(status, StatusCode::OK, "{first}");
    let events = sim.hub().retained_len();
    assert!(events > 0, "the send published its lifecycle");

    // A retry, the same request however written: the first answer, nothing sent.
    let same =
        json!({ "text": "thanks", "cc": null, "subject": "receipt", "to": ["bob@example.com"] });
    let (status, again) = api.send_once("am_k", "order-1", &send, same).await;
    assert_eq!((status, &again), (StatusCode::OK, &first));
    assert_eq!(sim.hub().retained_len(), events, "no second event");
    let (_, list) = api.get(&format!("{ADA}/messages")).await;
    assert_eq!(
        ids(&list, "messages", "message_id"),
        [id(&first, "message_id")]
    );

    // The key with another body, or on another endpoint: 409 in the service's shape.
    let other = json!({ "to": ["bob@example.com"], "subject": "receipt", "text": "thanks!" });
    let reply = format!("{}/reply", message(&first));
    for (path, body) in [(&send, other), (&reply, body.clone())] {
        let (status, conflict) = api.send_once("am_k", "order-1", path, body).await;
        assert_eq!(status, StatusCode::CONFLICT, "{path}: {conflict}");
        assert_eq!(conflict["name"], "ConflictError");
        assert!(conflict["message"].is_string(), "{conflict}");
    }
    // Keys are per API key: the other key's `order-1` is a key of its own.
    let (status, theirs) = api
        .send_once("am_other", "order-1", &send, body.clone())
        .await;
    assert_eq!(status, StatusCode::OK);
    assert_ne!(theirs["message_id"], first["message_id"]);
    assert!(sim.hub().retained_len() > events);

    // A refused send leaves its key unused.
    let (status, _) = api
        .send_once("am_k", "order-2", &send, json!({ "text": "t" }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let (status, _) = api.send_once("am_k", "order-2", &send, body.clone()).await;
    assert_eq!(status, StatusCode::OK);

    // Replies and forwards are idempotent too.
    for endpoint in ["reply", "reply-all", "forward"] {
        let path = format!("{}/{endpoint}", message(&first));
        let body = json!({ "to": "carol@example.com", "text": endpoint });
        let (status, one) = api.send_once("am_k", endpoint, &path, body.clone()).await;
        assert_eq!(status, StatusCode::OK, "{endpoint}: {one}");
        let sent = sim.hub().retained_len();
        let (_, two) = api.send_once("am_k", endpoint, &path, body).await;
        assert_eq!(one, two, "{endpoint}");
        assert_eq!(sim.hub().retained_len(), sent, "{endpoint} sent once");
    }

    // An empty key, or one of other characters, is a 400.
    let long = "k".repeat(257);
    for bad in ["", "not a key", long.as_str()] {
        let (status, answer) = api.send_once("am_k", bad, &send, body.clone()).await;
        assert_validation(status, &answer, "Idempotency-Key");
    }
}

#[tokio::test]
async fn substring_filters_must_all_match_and_cap_the_page() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let sent = api
        .post(
            &format!("{ADA}/messages/send"),
            json!({ "to": "carol@example.com", "cc": "dave@example.com",
                    "bcc": "erin@example.com", "subject": "Quarterly report" }),
        )
        .await;
    let bob = api
        .post(
            INJECT,
            json!({ "from": "Bob <bob@example.com>", "subject": "Quarterly plan" }),
        )
        .await;
    let other = api
        .post(
            INJECT,
            json!({ "from": "bob@other.org", "subject": "lunch" }),
        )
        .await;
    let messages = |query: &'static str| {
        let api = &api;
        async move {
            let (status, page) = api.get(&format!("{ADA}/messages?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            ids(&page, "messages", "message_id")
        }
    };
    let threads = |query: &'static str| {
        let api = &api;
        async move {
            let (status, page) = api.get(&format!("{ADA}/threads?{query}")).await;
            assert_eq!(status, StatusCode::OK, "{query}: {page}");
            ids(&page, "threads", "thread_id")
        }
    };
    let [sent_m, bob_m, other_m] = [&sent, &bob, &other].map(|a| id(a, "message_id"));
    let [sent_t, bob_t, _] = [&sent, &bob, &other].map(|a| id(a, "thread_id"));

    assert_eq!(messages("from=bob&from=EXAMPLE").await, [bob_m.as_str()]);
    assert_eq!(messages("from=bob").await, [other_m, bob_m.clone()]);
    // `to` is any recipient: to, cc or bcc; every value somewhere among them.
    assert_eq!(messages("to=carol&to=erin").await, [sent_m.as_str()]);
    assert_eq!(messages("to=dave").await, [sent_m.as_str()]);
    assert!(messages("to=carol&to=zed").await.is_empty());
    assert_eq!(
        messages("subject=%5B%22quarterly%22%2C%22plan%22%5D").await,
        [bob_m],
        "a JSON list, as the SDKs send one"
    );
    assert!(messages("from=bob&subject=report").await.is_empty());

    assert_eq!(
        threads("senders=bob&senders=example").await,
        [bob_t.as_str()]
    );
    assert_eq!(
        threads("recipients=carol&recipients=erin").await,
        [sent_t.as_str()]
    );
    assert!(threads("recipients=carol&recipients=bob").await.is_empty());
    assert_eq!(threads("subject=quarterly&subject=report").await, [sent_t]);
    assert_eq!(threads("subject=quarterly").await.len(), 2);

    // A filtered list is served by search, which caps `limit` at 100.
    for n in 0..101 {
        api.post(
            INJECT,
            json!({ "from": "bulk@example.com", "text": n.to_string() }),
        )
        .await;
    }
    for (path, items) in [
        (format!("{ADA}/messages?limit=500&from=bulk"), "messages"),
        (format!("{ADA}/threads?limit=500&senders=bulk"), "threads"),
        ("/v0/threads?limit=500&senders=bulk".to_owned(), "threads"),
    ] {
        let (status, page) = api.get(&path).await;
        assert_eq!(status, StatusCode::OK, "{path}: {page}");
        assert_eq!(
            (page["limit"].as_u64(), page["count"].as_u64()),
            (Some(100), Some(100)),
            "{path}"
        );
        assert_eq!(page[items].as_array().map(Vec::len), Some(100));
        assert!(page["next_page_token"].is_string(), "{path}");
    }
    let (_, all) = api.get(&format!("{ADA}/messages?limit=500")).await;
    assert_eq!(
        (all["limit"].as_u64(), all["count"].as_u64()),
        (Some(500), Some(104))
    );
}

#[tokio::test]
async fn system_labels_cannot_be_added_or_removed() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let received = api
        .post(
            INJECT,
            json!({ "from": "bob@example.com", "subject": "hi" }),
        )
        .await;
    let message = message(&received);
    let thread = format!("{ADA}/threads/{}", id(&received, "thread_id"));
    for (path, body, field) in [
        (
            &message,
            json!({ "remove_labels": ["received"] }),
            "remove_labels",
        ),
        (&message, json!({ "add_labels": "sent" }), "add_labels"),
        (
            &message,
            json!({ "add_labels": ["ok", "Bounced"] }),
            "add_labels",
        ),
        (
            &thread,
            json!({ "add_labels": ["delivered"] }),
            "add_labels",
        ),
        (
            &thread,
            json!({ "remove_labels": ["received"] }),
            "remove_labels",
        ),
    ] {
        let (status, answer) = api.patch(path, body.clone()).await;
        assert_validation(status, &answer, field);
    }
    let (_, now) = api.get(&message).await;
    assert_eq!(
        now["labels"],
        json!(["received", "unread"]),
        "nothing changed"
    );

    // `unread`, `trash` and the user's own labels are free.
    let (status, answer) = api
        .patch(
            &message,
            json!({ "add_labels": ["done"], "remove_labels": "unread" }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["labels"], json!(["received", "done"]));
    // On a thread, `remove_labels` takes priority over `add_labels`.
    let (status, answer) = api
        .patch(
            &thread,
            json!({ "add_labels": ["a", "b"], "remove_labels": ["b", "done"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(answer["labels"], json!(["received", "a"]));
}

#[tokio::test]
async fn webhooks_refuse_unknown_event_types() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let url = "http://127.0.0.1:9/h";
    for path in ["/v0/webhooks", "/v0/inboxes/ada@agentmail.to/webhooks"] {
        let (status, answer) = api
            .call(
                Method::POST,
                path,
                Some(
                    json!({ "url": url, "event_types": ["message.received", "message.exploded"] }),
                ),
            )
            .await;
        assert_validation(status, &answer, "message.exploded");
    }
    assert_eq!(api.get("/v0/webhooks").await.1["count"], 0);
    let hook = api
        .post(
            "/v0/webhooks",
            json!({ "url": url, "event_types": ["message.received", "message.opened"] }),
        )
        .await;
    let path = format!("/v0/webhooks/{}", id(&hook, "webhook_id"));
    let (status, answer) = api.patch(&path, json!({ "event_types": ["nope"] })).await;
    assert_validation(status, &answer, "nope");
    // An empty list leaves the types as they are.
    let (status, answer) = api.patch(&path, json!({ "event_types": [] })).await;
    assert_eq!(status, StatusCode::OK, "{answer}");
    assert_eq!(
        answer["event_types"],
        json!(["message.received", "message.opened"])
    );
}

#[tokio::test]
async fn extracted_text_and_html_leave_the_quoted_history_out() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let text = "Sounds good.\n\nOn Mon, 7 Dec 2026, Bob <bob@example.com> wrote:\n> Lunch?";
    let html = "<p>Sounds good.</p><div class=\"gmail_quote\"><p>Lunch?</p></div>";
    let got = api
        .post(
            INJECT,
            json!({ "from": "bob@example.com", "subject": "Re: lunch", "text": text, "html": html }),
        )
        .await;
    let (_, m) = api.get(&message(&got)).await;
    assert_eq!(m["text"], text, "the body as sent");
    assert_eq!(m["extracted_text"], "Sounds good.");
    assert_eq!(m["html"], html);
    assert_eq!(m["extracted_html"], "<p>Sounds good.</p>");
}

#[tokio::test]
async fn past_its_limit_the_oldest_messages_are_pruned() {
    let sim = Simulator::builder()
        .api_key("am_k")
        .max_messages(3)
        .bind("127.0.0.1:0")
        .await
        .unwrap();
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let mut got = Vec::new();
    for n in 0..5 {
        got.push(
            api.post(
                INJECT,
                json!({ "from": "bob@example.com", "subject": format!("m{n}"), "text": "t" }),
            )
            .await,
        );
    }
    let (_, list) = api.get(&format!("{ADA}/messages?ascending=true")).await;
    let subjects: Vec<&str> = list["messages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["subject"].as_str().unwrap())
        .collect();
    assert_eq!(subjects, ["m2", "m3", "m4"]);
    let (status, _) = api.get(&message(&got[0])).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "pruned");
    let (status, _) = api.get(&message(&got[4])).await;
    assert_eq!(status, StatusCode::OK);
}

/// An HTTP server on loopback serving `body` as `text/csv` at `/files/report.csv`,
/// and 404 elsewhere.
async fn file_server(body: &'static [u8]) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            tokio::spawn(async move {
                let service = hyper::service::service_fn(
                    move |req: Request<hyper::body::Incoming>| async move {
                        let mut res = hyper::Response::new(Full::new(Bytes::from_static(body)));
                        if req.uri().path() == "/files/report.csv" {
                            res.headers_mut()
                                .insert("content-type", "text/csv".parse().unwrap());
                        } else {
                            *res.status_mut() = StatusCode::NOT_FOUND;
                        }
                        Ok::<_, std::convert::Infallible>(res)
                    },
                );
                let _ = hyper::server::conn::http1::Builder::new()
                    .serve_connection(hyper_util::rt::TokioIo::new(tcp), service)
                    .await;
            });
        }
    });
    base
}

#[tokio::test]
async fn attachments_given_by_url_are_fetched() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let base = file_server(b"region,total\neu,12\n").await;
    let send = format!("{ADA}/messages/send");
    let sent = api
        .post(
            &send,
            json!({ "to": "bob@example.com", "text": "attached",
                    "attachments": [{ "url": format!("{base}/files/report.csv") }] }),
        )
        .await;
    let (_, m) = api.get(&message(&sent)).await;
    let att = &m["attachments"][0];
    assert_eq!(
        (att["filename"].as_str(), att["content_type"].as_str()),
        (Some("report.csv"), Some("text/csv")),
        "{m}"
    );
    assert_eq!(att["size"], 19);
    for (url, mentions) in [
        (format!("{base}/missing.csv"), "404"),
        ("http://127.0.0.1:9/nothing".to_owned(), "could not fetch"),
        ("ftp://example.com/x".to_owned(), "http"),
    ] {
        let (status, refused) = api
            .call(
                Method::POST,
                &send,
                Some(json!({ "to": "bob@example.com", "attachments": [{ "url": url }] })),
            )
            .await;
        assert_validation(status, &refused, mentions);
    }
}
