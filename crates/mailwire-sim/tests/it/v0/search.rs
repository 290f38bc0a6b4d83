//! Search as the definition documents it: substring on sender, recipients and
//! subject, words of the body, ranked by relevance with highlights, spam left out,
//! `q` required and `limit` at most 100.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, sim};

const ADA: &str = "/v0/inboxes/ada@agentmail.to";
const INJECT: &str = "/_sim/inboxes/ada%40agentmail.to/messages";

fn subjects(page: &Value, items: &str) -> Vec<String> {
    page[items]
        .as_array()
        .unwrap_or_else(|| panic!("no {items} in {page}"))
        .iter()
        .map(|m| m["subject"].as_str().unwrap_or_default().to_owned())
        .collect()
}

#[tokio::test]
async fn search_ranks_matches_highlights_them_and_leaves_spam_out() {
    let sim = sim().await;
    let api = Api::new(&sim);
    api.post("/v0/inboxes", json!({ "username": "ada" })).await;
    for body in [
        json!({ "from": "Bob <bob@example.com>", "subject": "Quarterly budget",
                "text": "Numbers for the budget attached." }),
        json!({ "from": "carol@example.com", "subject": "lunch",
                "text": "Shall we talk budget over lunch? The budget, the budget." }),
        json!({ "from": "bob@example.com", "subject": "hello", "text": "nothing here" }),
        json!({ "from": "win@example.com", "subject": "budget prize", "text": "budget",
                "verdict": "spam" }),
    ] {
        api.post(INJECT, body).await;
    }

    let (status, found) = api.get(&format!("{ADA}/messages/search?q=Budget")).await;
    assert_eq!(status, StatusCode::OK, "{found}");
    // The subject match ranks first; spam is never found.
    assert_eq!(subjects(&found, "messages"), ["Quarterly budget", "lunch"]);
    let first = &found["messages"][0]["highlights"];
    assert_eq!(first["subject"], json!(["Quarterly **budget**"]), "{first}");
    assert!(
        first["text"][0].as_str().unwrap().contains("**budget**"),
        "{first}"
    );
    let second = &found["messages"][1]["highlights"];
    assert!(
        second.get("subject").is_none() && second.get("from").is_none(),
        "{second}"
    );
    assert!(
        found["messages"][0].get("text").is_none(),
        "items, not whole messages"
    );

    // The sender as a substring: newer first among equal matches.
    let (_, bob) = api
        .get(&format!("{ADA}/messages/search?q=bob%40example"))
        .await;
    assert_eq!(subjects(&bob, "messages"), ["hello", "Quarterly budget"]);
    assert!(
        bob["messages"][0]["highlights"]["from"][0]
            .as_str()
            .unwrap()
            .contains("**bob@example**")
    );
    // Every word of the query among the body's words.
    let (_, both) = api
        .get(&format!("{ADA}/messages/search?q=talk%20lunch"))
        .await;
    assert_eq!(subjects(&both, "messages"), ["lunch"]);
    let (_, none) = api
        .get(&format!("{ADA}/messages/search?q=talk%20dinner"))
        .await;
    assert_eq!(none["count"], 0, "{none}");
    // Paged.
    let (_, page) = api
        .get(&format!("{ADA}/messages/search?q=budget&limit=1"))
        .await;
    assert_eq!(subjects(&page, "messages"), ["Quarterly budget"]);
    let token = page["next_page_token"].as_str().unwrap();
    let (_, next) = api
        .get(&format!(
            "{ADA}/messages/search?q=budget&limit=1&page_token={token}"
        ))
        .await;
    assert_eq!(subjects(&next, "messages"), ["lunch"]);

    // Threads, everywhere and per inbox.
    let (_, threads) = api.get("/v0/threads/search?q=budget").await;
    assert_eq!(subjects(&threads, "threads"), ["Quarterly budget", "lunch"]);
    assert!(
        threads["threads"][0]["highlights"]["subject"].is_array(),
        "{threads}"
    );
    let (_, in_inbox) = api.get(&format!("{ADA}/threads/search?q=hello")).await;
    assert_eq!(subjects(&in_inbox, "threads"), ["hello"]);

    // What is refused.
    for path in [
        format!("{ADA}/messages/search"),
        format!("{ADA}/messages/search?q=%20"),
        format!("{ADA}/messages/search?q=budget&limit=101"),
        "/v0/threads/search".to_owned(),
    ] {
        let (status, refused) = api.get(&path).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{path}: {refused}");
        assert_eq!(refused["name"], "ValidationError");
    }
    // `search` is no message id: its PATCH is that of a message that does not exist.
    let (status, _) = api
        .call(
            Method::PATCH,
            &format!("{ADA}/messages/search"),
            Some(json!({})),
        )
        .await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
