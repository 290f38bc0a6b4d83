//! `batch-get` and `batch-update` of messages: the ids named that exist, in their
//! order; bodies left out of a batch get; one label change applied to all at once;
//! duplicates, too many ids and system labels refused.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, sim};

const ADA: &str = "/v0/inboxes/ada@agentmail.to";
const INJECT: &str = "/_sim/inboxes/ada%40agentmail.to/messages";

fn ids_of(page: &Value, items: &str) -> Vec<String> {
    page[items]
        .as_array()
        .unwrap_or_else(|| panic!("no {items} in {page}"))
        .iter()
        .map(|m| m["message_id"].as_str().unwrap().to_owned())
        .collect()
}

#[tokio::test]
async fn batches_take_the_ids_that_exist_in_order_and_change_all_at_once() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    let mut ids = Vec::new();
    for n in 0..3 {
        let got = api
            .post(
                INJECT,
                json!({ "from": "bob@example.com", "subject": format!("m{n}"), "text": "body" }),
            )
            .await;
        ids.push(got["message_id"].as_str().unwrap().to_owned());
    }
    let get = format!("{ADA}/messages/batch-get");
    let named = json!([ids[2], "<missing@example.com>", ids[0]]);
    let (status, got) = api
        .call(Method::POST, &get, Some(json!({ "message_ids": named })))
        .await;
    assert_eq!(status, StatusCode::OK, "{got}");
    assert_eq!(
        (got["limit"].as_u64(), got["count"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(ids_of(&got, "messages"), [ids[2].clone(), ids[0].clone()]);
    let first = &got["messages"][0];
    assert_eq!(first["subject"], "m2");
    for body in ["text", "html", "extracted_text", "extracted_html"] {
        assert!(first.get(body).is_none(), "{body} in {first}");
    }

    let update = format!("{ADA}/messages/batch-update");
    let (status, changed) = api
        .call(
            Method::POST,
            &update,
            Some(
                json!({ "message_ids": [ids[0], ids[1], "<missing@example.com>"],
                         "add_labels": ["read"], "remove_labels": ["unread"] }),
            ),
        )
        .await;
    assert_eq!(status, StatusCode::OK, "{changed}");
    assert_eq!(
        (changed["limit"].as_u64(), changed["count"].as_u64()),
        (Some(3), Some(2))
    );
    assert_eq!(
        ids_of(&changed, "updates"),
        [ids[0].clone(), ids[1].clone()]
    );
    assert_eq!(changed["updates"][0]["labels"], json!(["received", "read"]));
    let (_, read) = api.get(&format!("{ADA}/messages?labels=read")).await;
    assert_eq!(read["count"], 2, "{read}");
    let (_, unread) = api.get(&format!("{ADA}/messages?labels=unread")).await;
    assert_eq!(ids_of(&unread, "messages"), [ids[2].clone()]);

    // Refused, and nothing changed.
    let too_many: Vec<String> = (0..51).map(|n| format!("<m{n}@example.com>")).collect();
    for (path, body, mentions) in [
        (&get, json!({ "message_ids": [ids[0], ids[0]] }), "twice"),
        (&get, json!({ "message_ids": [] }), "at least one"),
        (
            &update,
            json!({ "message_ids": too_many, "add_labels": ["x"] }),
            "at most 50",
        ),
        (&update, json!({ "message_ids": [ids[2]] }), "add_labels"),
        (
            &update,
            json!({ "message_ids": [ids[2]], "add_labels": ["sent"] }),
            "system label",
        ),
    ] {
        let (status, refused) = api.call(Method::POST, path, Some(body.clone())).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{body}: {refused}");
        assert!(
            refused["message"].as_str().unwrap().contains(mentions),
            "{refused}"
        );
    }
    let (_, unread) = api.get(&format!("{ADA}/messages?labels=unread")).await;
    assert_eq!(unread["count"], 1);
}
