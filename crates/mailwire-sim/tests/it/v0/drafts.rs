//! Drafts as `drafts.yml` describes them: created, listed in every scope, edited
//! (`null` clears), sent into the message lifecycle once (an `Idempotency-Key`
//! honoured), replies and forwards derived from their message, and sends scheduled
//! with `send_at`, rescheduled and cancelled.

use hyper::{Method, StatusCode};
use mailwire_proto::EventType;
use serde_json::{Value, json};

use super::{Api, bounded, event, sim, subscribe};

const ADA: &str = "/v0/inboxes/ada@agentmail.to";
const INJECT: &str = "/_sim/inboxes/ada%40agentmail.to/messages";

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn draft_path(draft: &Value) -> String {
    format!("{ADA}/drafts/{}", draft["draft_id"].as_str().unwrap())
}

fn ids(page: &Value) -> Vec<&str> {
    page["drafts"]
        .as_array()
        .unwrap_or_else(|| panic!("no drafts in {page}"))
        .iter()
        .map(|d| d["draft_id"].as_str().unwrap())
        .collect()
}

#[tokio::test]
async fn a_draft_is_kept_edited_listed_and_sent_once() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let pod = api.post("/v0/pods", json!({ "name": "team" })).await;
    let pod_id = pod["pod_id"].as_str().unwrap().to_owned();
    api.post(
        &format!("/v0/pods/{pod_id}/inboxes"),
        json!({ "username": "ada" }),
    )
    .await;
    api.post("/v0/inboxes", json!({ "username": "bea" })).await;

    let first = api
        .post(
            &format!("{ADA}/drafts"),
            json!({
                "to": ["bob@example.com"], "subject": "plan", "text": "A first line.",
                "labels": ["q3"], "client_id": "draft-1",
                "attachments": [{ "filename": "a.txt", "content_type": "text/plain",
                                  "content": "aGVsbG8=" }],
                "cc": null,
            }),
        )
        .await;
    assert!(first["draft_id"].is_string(), "{first}");
    assert_eq!(first["inbox_id"], "ada@agentmail.to");
    assert_eq!(first["labels"], json!(["q3"]));
    assert_eq!(first["preview"], "A first line.");
    assert!(first.get("cc").is_none() && first.get("send_status").is_none());
    assert!(first["created_at"].is_string() && first["updated_at"].is_string());
    // The same client_id: the same draft, not a second.
    let again = api
        .post(
            &format!("{ADA}/drafts"),
            json!({ "to": "x@example.com", "client_id": "draft-1" }),
        )
        .await;
    assert_eq!(again["draft_id"], first["draft_id"]);
    let other = api
        .post(
            "/v0/inboxes/bea@agentmail.to/drafts",
            json!({ "subject": "elsewhere" }),
        )
        .await;

    // Its attachment: described, and its bytes behind the download URL.
    let att = first["attachments"][0]["attachment_id"].as_str().unwrap();
    let (status, described) = api
        .get(&format!("{}/attachments/{att}", draft_path(&first)))
        .await;
    assert_eq!(status, StatusCode::OK, "{described}");
    assert_eq!(described["filename"], "a.txt");
    let url = described["download_url"].as_str().unwrap();
    let bytes = download(url).await;
    assert_eq!(bytes, b"hello");

    // Listed where it lives: the inbox, its pod, everywhere; another inbox's not in
    // the pod. The newest update first.
    let (_, inbox) = api.get(&format!("{ADA}/drafts")).await;
    assert_eq!(ids(&inbox), [first["draft_id"].as_str().unwrap()]);
    assert!(
        inbox["drafts"][0].get("text").is_none(),
        "an item, not the draft"
    );
    let (_, in_pod) = api.get(&format!("/v0/pods/{pod_id}/drafts")).await;
    assert_eq!(ids(&in_pod), ids(&inbox));
    let (_, all) = api.get("/v0/drafts").await;
    assert_eq!(
        ids(&all),
        [
            other["draft_id"].as_str().unwrap(),
            first["draft_id"].as_str().unwrap()
        ]
    );
    let (_, labelled) = api.get("/v0/drafts?labels=q3").await;
    assert_eq!(ids(&labelled), [first["draft_id"].as_str().unwrap()]);
    let (status, _) = api
        .get(&format!(
            "/v0/pods/{pod_id}/drafts/{}",
            other["draft_id"].as_str().unwrap()
        ))
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND, "not in the pod");

    // An edit: absent members stay, `null` clears, lists are replaced.
    let (status, edited) = api
        .patch(
            &draft_path(&first),
            json!({ "subject": null, "to": ["carol@example.com"], "add_labels": ["urgent"],
                    "remove_attachments": [att] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{edited}");
    assert!(edited.get("subject").is_none(), "{edited}");
    assert_eq!(edited["to"], json!(["carol@example.com"]));
    assert_eq!(edited["text"], "A first line.");
    assert_eq!(edited["labels"], json!(["q3", "urgent"]));
    assert!(edited.get("attachments").is_none(), "{edited}");
    let (_, all) = api.get("/v0/drafts").await;
    assert_eq!(ids(&all)[0], first["draft_id"], "the last updated first");
    let (status, refused) = api
        .patch(&draft_path(&first), json!({ "add_labels": ["sent"] }))
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");

    // Sent: a message with the draft's labels and "sent", its lifecycle published,
    // the draft gone. A retry with the same key: the same answer, nothing more.
    let mut ws = subscribe(&sim, json!({ "type": "subscribe" })).await;
    let send = format!("{}/send", draft_path(&first));
    let (status, sent) = api
        .request(
            "am_k",
            Method::POST,
            &send,
            &[("Idempotency-Key", "d-1")],
            &json!({ "add_labels": ["done"] }),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{sent}");
    let message_id = sent["message_id"].as_str().unwrap().to_owned();
    let e = event(&mut ws).await;
    assert_eq!(e.event_type(), &EventType::MessageSent);
    assert_eq!(e.payload().message_id(), Some(message_id.as_str()));
    let (status, again) = api
        .request(
            "am_k",
            Method::POST,
            &send,
            &[("Idempotency-Key", "d-1")],
            &json!({ "add_labels": ["done"] }),
        )
        .await;
    assert_eq!((status, &again), (StatusCode::OK, &sent));
    let (_, message) = api
        .get(&format!("{ADA}/messages/{}", enc(&message_id)))
        .await;
    let labels: Vec<&str> = message["labels"]
        .as_array()
        .unwrap()
        .iter()
        .map(|l| l.as_str().unwrap())
        .collect();
    for label in ["sent", "q3", "urgent", "done"] {
        assert!(labels.contains(&label), "{label} in {labels:?}");
    }
    assert_eq!(message["to"], json!(["carol@example.com"]));
    let (status, _) = api.get(&draft_path(&first)).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    let (status, _) = api.call(Method::POST, &send, Some(json!({}))).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "sent already");

    // A draft with no recipient cannot be sent, and stays.
    let (status, refused) = api
        .call(
            Method::POST,
            &format!(
                "/v0/inboxes/bea@agentmail.to/drafts/{}/send",
                other["draft_id"].as_str().unwrap()
            ),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{refused}");
    let (status, _) = api
        .call(
            Method::DELETE,
            &format!(
                "/v0/inboxes/bea@agentmail.to/drafts/{}",
                other["draft_id"].as_str().unwrap()
            ),
            None,
        )
        .await;
    assert_eq!(status, StatusCode::NO_CONTENT);
    let (_, all) = api.get("/v0/drafts").await;
    assert_eq!(all["count"], 0, "{all}");
}

/// GET of a download URL (no API key: it stands for a presigned URL).
async fn download(url: &str) -> Vec<u8> {
    use http_body_util::BodyExt;
    let client: hyper_util::client::legacy::Client<_, http_body_util::Empty<bytes::Bytes>> =
        hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
            .build(hyper_util::client::legacy::connect::HttpConnector::new());
    let res = bounded(client.get(url.parse().unwrap())).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    res.into_body().collect().await.unwrap().to_bytes().to_vec()
}

#[tokio::test]
async fn replies_and_forwards_take_what_they_answer_from_their_message() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let got = api
        .post(
            INJECT,
            json!({ "from": "Bob <bob@example.com>", "subject": "Quarterly plan",
                    "text": "Numbers attached." }),
        )
        .await;
    let parent = got["message_id"].as_str().unwrap().to_owned();
    let thread = got["thread_id"].as_str().unwrap().to_owned();

    let reply = api
        .post(
            &format!("{ADA}/drafts"),
            json!({ "in_reply_to": parent, "text": "Looks good." }),
        )
        .await;
    assert_eq!(reply["in_reply_to"], parent.as_str());
    assert_eq!(reply["to"], json!(["Bob <bob@example.com>"]));
    assert_eq!(reply["subject"], "Re: Quarterly plan");
    assert!(
        reply["references"]
            .as_array()
            .is_some_and(|r| !r.is_empty()),
        "{reply}"
    );
    let (_, sent) = api
        .call(Method::POST, &format!("{}/send", draft_path(&reply)), None)
        .await;
    assert_eq!(
        sent["thread_id"],
        thread.as_str(),
        "in the thread it answers"
    );

    let forward = api
        .post(
            &format!("{ADA}/drafts"),
            json!({ "forward_of": parent, "to": "carol@example.com", "text": "FYI" }),
        )
        .await;
    assert_eq!(forward["subject"], "Fwd: Quarterly plan");
    assert_eq!(forward["forward_of"], parent.as_str());
    let (_, sent) = api
        .call(
            Method::POST,
            &format!("{}/send", draft_path(&forward)),
            None,
        )
        .await;
    let (_, message) = api
        .get(&format!(
            "{ADA}/messages/{}",
            enc(sent["message_id"].as_str().unwrap())
        ))
        .await;
    let text = message["text"].as_str().unwrap();
    assert!(
        text.starts_with("FYI") && text.contains("Numbers attached."),
        "{text}"
    );

    // What the definition forbids.
    for (body, mentions) in [
        (
            json!({ "in_reply_to": parent, "forward_of": parent }),
            "exclude",
        ),
        (
            json!({ "in_reply_to": parent, "reply_all": true, "to": "x@example.com" }),
            "reply_all",
        ),
        (json!({ "reply_all": true }), "reply_all"),
        (json!({ "to": "not an address" }), "to"),
        (json!({ "send_at": "tomorrow" }), "send_at"),
    ] {
        let (status, refused) = api
            .call(Method::POST, &format!("{ADA}/drafts"), Some(body.clone()))
            .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        assert!(
            refused["message"].as_str().unwrap().contains(mentions),
            "{refused}"
        );
    }
    let (status, _) = api
        .call(
            Method::POST,
            &format!("{ADA}/drafts"),
            Some(json!({ "in_reply_to": "<nope@example.com>" })),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn a_scheduled_draft_is_sent_at_its_time_unless_unscheduled() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let mut ws = subscribe(&sim, json!({ "type": "subscribe" })).await;
    let at = |ms: i64| {
        (time::OffsetDateTime::now_utc() + time::Duration::milliseconds(ms))
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap()
    };

    // Scheduled, then unscheduled before its time: it stays a draft.
    let cancelled = api
        .post(
            &format!("{ADA}/drafts"),
            json!({ "to": "bob@example.com", "subject": "cancelled", "send_at": at(100) }),
        )
        .await;
    assert_eq!(cancelled["send_status"], "scheduled");
    let (_, edited) = api
        .patch(&draft_path(&cancelled), json!({ "send_at": null }))
        .await;
    assert!(
        edited.get("send_status").is_none() && edited.get("send_at").is_none(),
        "{edited}"
    );

    // Scheduled later: sent at its time (timers fire in order, so the cancelled one's
    // time has passed when this one is sent).
    let due = api
        .post(
            &format!("{ADA}/drafts"),
            json!({ "to": "bob@example.com", "subject": "due", "send_at": at(400) }),
        )
        .await;
    assert_eq!(due["send_status"], "scheduled");
    let (_, scheduled) = api.get(&format!("{ADA}/drafts")).await;
    assert_eq!(scheduled["count"], 2);
    let sent = bounded(event(&mut ws)).await;
    assert_eq!(sent.event_type(), &EventType::MessageSent);
    let (status, _) = api.get(&draft_path(&due)).await;
    assert_eq!(status, StatusCode::NOT_FOUND, "sent, so no longer a draft");
    let (status, kept) = api.get(&draft_path(&cancelled)).await;
    assert_eq!(status, StatusCode::OK, "{kept}");
    let (_, messages) = api.get(&format!("{ADA}/messages")).await;
    assert_eq!(messages["count"], 1, "{messages}");
    assert_eq!(messages["messages"][0]["subject"], "due");
}
