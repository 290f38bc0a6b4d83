//! `/v0/domains` and `/v0/pods/{pod_id}/domains` (`domains.yml`): sending domains
//! with the DNS records that verify them. Verification is simulated: `verify`
//! finds every record published at once, so the domain turns `VERIFIED` and
//! `domain.verified` is published (with a webhook, as the service sends it). The
//! zone file holds the records in BIND syntax. A domain's id is its name.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::routing::{get, post};
use hyper::header::{CONTENT_TYPE, HeaderValue};
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::{Value, json};

use super::{Ids, only};
use crate::Shared;
use crate::domain::Domain;
use crate::http::{
    Body, Params, Query, Refusal, Req, api_error, json_body, no_content, not_found, ok, page,
    refusal, validation,
};

#[derive(Deserialize)]
struct CreateDomain {
    #[serde(default)]
    domain: Option<String>,
    #[serde(default)]
    feedback_enabled: Option<bool>,
    #[serde(default)]
    subdomains_enabled: Option<bool>,
    #[serde(default)]
    client_id: Option<String>,
}

#[derive(Deserialize)]
struct UpdateDomain {
    #[serde(default)]
    feedback_enabled: Option<bool>,
    #[serde(default)]
    subdomains_enabled: Option<bool>,
}

/// `{prefix}/domains...`: `/v0` or a pod's path.
pub(super) fn routes(prefix: &str) -> Router<Arc<Shared>> {
    let at = |tail: &str| format!("{prefix}/domains{tail}");
    Router::new()
        .route(&at(""), only(get(list).post(create)))
        .route(
            &at("/{domain_id}"),
            only(get(get_domain).patch(update).delete(delete)),
        )
        .route(&at("/{domain_id}/verify"), only(post(verify)))
        .route(&at("/{domain_id}/zone-file"), only(get(zone_file)))
}

/// The domains a path's scope covers: a pod's, or every one.
fn in_scope(ids: &Ids, d: &Domain) -> bool {
    ids.pod_id
        .as_ref()
        .is_none_or(|p| d.pod_id.as_ref() == Some(p))
}

fn is_domain_name(d: &str) -> bool {
    d.contains('.')
        && !d.starts_with('.')
        && !d.ends_with('.')
        && d.split('.').all(|label| {
            !label.is_empty()
                && !label.starts_with('-')
                && !label.ends_with('-')
                && label.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        })
}

async fn list(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    query: Query,
) -> Result<Response<Body>, Refusal> {
    let mail = shared.mail();
    let mut items: Vec<Value> = (mail.domains.iter())
        .filter(|d| in_scope(&ids, d))
        .map(Domain::item)
        .collect();
    if !query.ascending()? {
        items.reverse();
    }
    page("domains", items, &query)
}

async fn create(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: CreateDomain = json_body(req).await?;
    let name = body.domain.unwrap_or_default().trim().to_ascii_lowercase();
    if !is_domain_name(&name) {
        return Err(refusal(validation(&format!(
            "domain: {name:?} is not a domain name"
        ))));
    }
    let mut mail = shared.mail();
    if let Some(existing) = (body.client_id.as_deref()).and_then(|c| {
        mail.domains
            .iter()
            .find(|d| d.client_id.as_deref() == Some(c))
    }) {
        return Ok(ok(&existing.to_json()));
    }
    if mail.domains.iter().any(|d| d.domain == name) {
        return Ok(api_error(
            StatusCode::CONFLICT,
            "AlreadyExistsError",
            "already_exists",
            &format!("domain {name} exists already"),
        ));
    }
    let now = crate::ids::now();
    let domain = Domain {
        domain: name,
        pod_id: ids.pod_id.clone(),
        verified: false,
        feedback_enabled: body.feedback_enabled.unwrap_or(true),
        subdomains_enabled: body.subdomains_enabled.unwrap_or(false),
        client_id: body.client_id,
        created_at: now,
        updated_at: now,
    };
    mail.domains.push(domain.clone());
    Ok(ok(&domain.to_json()))
}

async fn get_domain(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let mail = shared.mail();
    match mail
        .domains
        .iter()
        .find(|d| d.domain == ids.domain() && in_scope(&ids, d))
    {
        Some(d) => ok(&d.to_json()),
        None => not_found("Domain"),
    }
}

async fn update(
    State(shared): State<Arc<Shared>>,
    Params(ids): Params<Ids>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: UpdateDomain = json_body(req).await?;
    if body.feedback_enabled.is_none() && body.subdomains_enabled.is_none() {
        return Err(refusal(validation(
            "feedback_enabled or subdomains_enabled: at least one",
        )));
    }
    let mut mail = shared.mail();
    let Some(d) = (mail.domains.iter_mut()).find(|d| d.domain == ids.domain() && in_scope(&ids, d))
    else {
        return Ok(not_found("Domain"));
    };
    if let Some(f) = body.feedback_enabled {
        d.feedback_enabled = f;
    }
    if let Some(s) = body.subdomains_enabled {
        // A new wildcard record to publish: pending again until verified.
        if s && !d.subdomains_enabled {
            d.verified = false;
        }
        d.subdomains_enabled = s;
    }
    d.updated_at = crate::ids::now();
    Ok(ok(&d.to_json()))
}

async fn delete(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let mut mail = shared.mail();
    let before = mail.domains.len();
    mail.domains
        .retain(|d| !(d.domain == ids.domain() && in_scope(&ids, d)));
    if mail.domains.len() == before {
        not_found("Domain")
    } else {
        no_content()
    }
}

async fn verify(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let verified = {
        let mut mail = shared.mail();
        let Some(d) =
            (mail.domains.iter_mut()).find(|d| d.domain == ids.domain() && in_scope(&ids, d))
        else {
            return not_found("Domain");
        };
        let newly = !d.verified;
        d.verified = true;
        d.updated_at = crate::ids::now();
        newly.then(|| d.to_json())
    };
    if let Some(domain) = verified {
        let event = json!({
            "type": "event",
            "event_type": "domain.verified",
            "event_id": crate::ids::new("evt"),
            "domain": domain,
        });
        match mailwire_proto::Event::parse(bytes::Bytes::from(event.to_string())) {
            Ok(event) => crate::publish::publish(&shared, [event]),
            Err(e) => tracing::warn!(error = %e, "the domain.verified event does not parse"),
        }
    }
    no_content()
}

async fn zone_file(State(shared): State<Arc<Shared>>, Params(ids): Params<Ids>) -> Response<Body> {
    let mail = shared.mail();
    let Some(d) = mail
        .domains
        .iter()
        .find(|d| d.domain == ids.domain() && in_scope(&ids, d))
    else {
        return not_found("Domain");
    };
    let mut response = Response::new(Body::new(bytes::Bytes::from(d.zone_file())));
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}
