//! Every endpoint of AgentMail's published definition (`endpoints.txt`, vendored
//! with the commit it came from) against the simulator, each named with the ids of
//! real objects: a served endpoint answers something else than 405, and, but for a
//! delete (its object may be gone), than 404. The endpoints not served yet are
//! listed below, and each of them must still be unserved: the list only shrinks.

use hyper::{Method, StatusCode};
use serde_json::{Value, json};

use super::{Api, sim};

const ENDPOINTS: &str = include_str!("endpoints.txt");

/// Not served yet, as `METHOD /path` of the definition (none left: a new endpoint
/// of the definition, once vendored, goes here until it is served).
const NOT_SERVED: &[&str] = &[];

fn enc(s: &str) -> String {
    form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

fn text(v: &Value, key: &str) -> String {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("no {key} in {v}"))
        .to_owned()
}

/// The ids of real objects, one of each kind per scope.
struct Objects {
    pod: String,
    inbox: String,
    message: String,
    thread: String,
    attachment: String,
    draft: String,
    draft_attachment: String,
    webhook_org: String,
    webhook_inbox: String,
    webhook_pod: String,
}

impl Objects {
    async fn create(api: &Api) -> Objects {
        let pod = text(
            &api.post("/v0/pods", json!({ "name": "team" })).await,
            "pod_id",
        );
        let inbox = text(
            &api.post(
                &format!("/v0/pods/{pod}/inboxes"),
                json!({ "username": "ada" }),
            )
            .await,
            "inbox_id",
        );
        let got = api
            .post(
                &format!("/_sim/inboxes/{}/messages", enc(&inbox)),
                json!({ "from": "bob@example.com", "subject": "plan", "text": "hello",
                        "attachments": [{ "filename": "a.txt", "content": "aGk=" }] }),
            )
            .await;
        let message = text(&got, "message_id");
        let (_, m) = api
            .get(&format!("/v0/inboxes/{inbox}/messages/{}", enc(&message)))
            .await;
        let draft = api
            .post(
                &format!("/v0/inboxes/{inbox}/drafts"),
                json!({ "subject": "no recipient yet",
                        "attachments": [{ "filename": "d.txt", "content": "aGk=" }] }),
            )
            .await;
        api.post("/v0/domains", json!({ "domain": "example.com" }))
            .await;
        api.post(
            &format!("/v0/pods/{pod}/domains"),
            json!({ "domain": "pod.example.com" }),
        )
        .await;
        // The entry `{entry}` names, in each scope's receive allow list.
        for scope in [
            "/v0".to_owned(),
            format!("/v0/pods/{pod}"),
            format!("/v0/inboxes/{inbox}"),
        ] {
            api.post(
                &format!("{scope}/lists/receive/allow"),
                json!({ "entry": "bob@example.com" }),
            )
            .await;
        }
        let hook = |path: String| async move {
            text(
                &api.post(
                    &path,
                    json!({ "url": "http://127.0.0.1:9/h", "event_types": ["message.received"] }),
                )
                .await,
                "webhook_id",
            )
        };
        Objects {
            thread: text(&m, "thread_id"),
            attachment: text(&m["attachments"][0], "attachment_id"),
            draft_attachment: text(&draft["attachments"][0], "attachment_id"),
            draft: text(&draft, "draft_id"),
            webhook_org: hook("/v0/webhooks".into()).await,
            webhook_inbox: hook(format!("/v0/inboxes/{inbox}/webhooks")).await,
            webhook_pod: hook(format!("/v0/pods/{pod}/webhooks")).await,
            pod,
            inbox,
            message,
        }
    }

    /// `path` of the definition with these ids.
    fn path(&self, path: &str) -> String {
        let webhook = if path.starts_with("/inboxes/") {
            &self.webhook_inbox
        } else if path.starts_with("/pods/") {
            &self.webhook_pod
        } else {
            &self.webhook_org
        };
        let attachment = if path.contains("/drafts/") {
            &self.draft_attachment
        } else {
            &self.attachment
        };
        let path = path
            .replace("{pod_id}", &self.pod)
            .replace("{inbox_id}", &self.inbox)
            .replace("{message_id}", &enc(&self.message))
            .replace("{thread_id}", &self.thread)
            .replace("{attachment_id}", attachment)
            .replace("{draft_id}", &self.draft)
            .replace("{webhook_id}", webhook)
            .replace(
                "{domain_id}",
                if path.starts_with("/pods/") {
                    "pod.example.com"
                } else {
                    "example.com"
                },
            )
            .replace("{api_key_id}", "key_1")
            .replace("{direction}", "receive")
            .replace("{type}", "allow")
            .replace("{entry}", "bob%40example.com");
        format!("/v0{path}")
    }
}

#[tokio::test]
async fn every_endpoint_of_the_definition_is_served_but_those_listed() {
    let sim = sim().await;
    let api = Api::new(&sim);
    let objects = Objects::create(&api).await;
    let mut endpoints: Vec<(Method, &str)> = ENDPOINTS
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let mut parts = l.split_whitespace();
            let method = parts.next().unwrap().parse::<Method>().unwrap();
            (method, parts.next().unwrap())
        })
        .collect();
    assert_eq!(endpoints.len(), 130, "the definition's endpoint count");
    for listed in NOT_SERVED {
        assert!(
            endpoints.iter().any(|(m, p)| format!("{m} {p}") == *listed),
            "{listed} is not in the definition"
        );
    }
    // Deletes last, the deepest first, so nothing is gone before it is named.
    endpoints.sort_by_key(|(m, p)| {
        (
            *m == Method::DELETE,
            std::cmp::Reverse(p.matches('/').count()),
        )
    });
    let mut wrong = Vec::new();
    for (method, template) in &endpoints {
        let path = objects.path(template);
        let body = (*method != Method::GET && *method != Method::DELETE).then(|| json!({}));
        let (status, answer) = api.call(method.clone(), &path, body).await;
        let unrouted = status == StatusCode::METHOD_NOT_ALLOWED
            || (status == StatusCode::NOT_FOUND
                && (*method != Method::DELETE
                    || answer["message"]
                        .as_str()
                        .is_some_and(|m| m.starts_with("no route"))));
        let listed = NOT_SERVED.contains(&format!("{method} {template}").as_str());
        if unrouted != listed {
            wrong.push(format!(
                "{method} {template}: {status} {answer} ({})",
                if listed {
                    "listed as not served, but served"
                } else {
                    "not served"
                }
            ));
        }
    }
    let served = endpoints.len() - NOT_SERVED.len();
    assert!(
        wrong.is_empty(),
        "{served} served; wrong:\n{}",
        wrong.join("\n")
    );
}
