//! Agent sign-up (`agent.yml`): `POST /v0/agent/sign-up` (no API key) creates the
//! agent's inbox and an API key, and emails a 6-digit code to its human; `POST
//! /v0/agent/verify` with that key and the code verifies it. The code's email is
//! delivered by the simulator like any other: when the human's address is not an
//! inbox yet it becomes one, so a test (or `wait_for_email`) reads the code there.
//! Signing up again with the same human email rotates the key and sends a new
//! code; ten wrong codes end the verification. `POST /v0/agent/human` (what
//! the SDKs call beyond the definition) attaches a human to an agent that signed up
//! without one, or replaces it (twice at most), and emails the code the same way.

use std::sync::Arc;

use axum::extract::State;
use hyper::{Response, StatusCode};
use serde::Deserialize;
use serde_json::json;

use crate::Shared;
use crate::http::{Body, Refusal, Req, api_error, json_body, ok, refusal, validation};
use crate::keys::ORGANIZATION;
use crate::keys::{KeyScope, SignUp};
use crate::message::{IncomingEmail, check_address};

/// How many codes may be tried.
const ATTEMPTS: u32 = 10;

#[derive(Deserialize)]
struct SignUpBody {
    #[serde(default)]
    human_email: Option<String>,
    #[serde(default)]
    username: Option<String>,
}

#[derive(Deserialize)]
struct VerifyBody {
    #[serde(default)]
    otp_code: Option<String>,
}

pub(crate) async fn sign_up(
    State(shared): State<Arc<Shared>>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let body: SignUpBody = json_body(req).await?;
    let human = body
        .human_email
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    // Optional: an agent may sign up alone and attach its human later.
    if !human.is_empty() {
        check_address("human_email", &human).map_err(|e| refusal(validation(&e.to_string())))?;
    }
    let username = body
        .username
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    let valid = !username.is_empty()
        && username.len() <= 64
        && username
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._+-".contains(&b));
    if !valid {
        return Err(refusal(validation(&format!(
            "username: {username:?} is not a valid local part"
        ))));
    }
    let inbox = format!("{username}@{}", crate::mail::DEFAULT_DOMAIN);
    let otp = format!("{:06}", fastrand::u32(0..1_000_000));
    let (answer, event) = {
        let mut mail = shared.mail();
        let earlier = (!human.is_empty())
            .then(|| mail.signups.iter().position(|s| s.human_email == human))
            .flatten();
        let owner = earlier.map(|at| mail.signups[at].inbox_id.clone());
        if mail.inbox(&inbox).is_some() && owner.as_deref() != Some(inbox.as_str()) {
            return Ok(api_error(
                StatusCode::FORBIDDEN,
                "IsTakenError",
                "already_exists",
                &format!("{inbox} is taken"),
            ));
        }
        if let Some(at) = earlier {
            let old = mail.signups.remove(at);
            mail.api_keys.revoke_secret(&old.secret);
        }
        mail.ensure_inbox(&inbox);
        let key = mail
            .api_keys
            .create(Some(format!("agent {username}")), None, None, None);
        mail.signups.push(SignUp {
            human_email: human.clone(),
            replaced: 0,
            inbox_id: inbox.clone(),
            api_key_id: key.api_key_id.clone(),
            secret: key.secret.clone(),
            otp: otp.clone(),
            attempts: 0,
            verified: false,
        });
        let event = if human.is_empty() {
            None
        } else {
            Some(send_code(&mut mail, &human, &inbox, &otp)?)
        };
        let answer = json!({
            "organization_id": ORGANIZATION,
            "inbox_id": inbox,
            "api_key": key.secret,
        });
        (answer, event)
    };
    crate::publish::publish(&shared, event);
    Ok(ok(&answer))
}

/// Emails `otp` to `human`, through the simulator: returns the arrival's event.
fn send_code(
    mail: &mut crate::mail::Mail,
    human: &str,
    inbox: &str,
    otp: &str,
) -> Result<mailwire_proto::Event, Refusal> {
    let email = IncomingEmail::new(
        "AgentMail <verify@agentmail.to>",
        "Verify your agent",
        format!(
            "Your agent {inbox} signed up. Your verification code is {otp}. It expires in 24 hours."
        ),
    );
    crate::message::receive(mail, human, email).map_err(|e| refusal(validation(&e.to_string())))
}

#[derive(Deserialize)]
struct AttachBody {
    #[serde(default)]
    human_email: Option<String>,
}

/// Attaches (or replaces) the human of the agent whose key this is, and emails
/// them a code; the same human again keeps the code and its attempts.
pub(crate) async fn attach_human(
    State(shared): State<Arc<Shared>>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let key = req
        .extensions()
        .get::<KeyScope>()
        .map(|k| k.api_key_id.clone());
    let body: AttachBody = json_body(req).await?;
    let human = body
        .human_email
        .unwrap_or_default()
        .trim()
        .to_ascii_lowercase();
    check_address("human_email", &human).map_err(|e| refusal(validation(&e.to_string())))?;
    let event = {
        let mut mail = shared.mail();
        let Some(at) = mail
            .signups
            .iter()
            .position(|s| Some(&s.api_key_id) == key.as_ref())
        else {
            return Ok(not_a_signup());
        };
        let signup = &mut mail.signups[at];
        if signup.human_email == human {
            None
        } else {
            if !signup.human_email.is_empty() {
                if signup.replaced >= 2 {
                    return Ok(api_error(
                        StatusCode::FORBIDDEN,
                        "ForbiddenError",
                        "too_many_replacements",
                        "the human was replaced twice already",
                    ));
                }
                signup.replaced += 1;
            }
            signup.human_email = human.clone();
            signup.otp = format!("{:06}", fastrand::u32(0..1_000_000));
            signup.attempts = 0;
            let (inbox, otp) = (signup.inbox_id.clone(), signup.otp.clone());
            Some(send_code(&mut mail, &human, &inbox, &otp)?)
        }
    };
    crate::publish::publish(&shared, event);
    Ok(ok(&json!({
        "human_email": human,
        "instructions": "A 6-digit code was emailed to your human: ask them for it, then call verify with it.",
    })))
}

fn not_a_signup() -> Response<Body> {
    api_error(
        StatusCode::FORBIDDEN,
        "ForbiddenError",
        "forbidden",
        "this API key is not an agent sign-up's: nothing to verify",
    )
}

pub(crate) async fn verify(
    State(shared): State<Arc<Shared>>,
    req: Req,
) -> Result<Response<Body>, Refusal> {
    let key = req
        .extensions()
        .get::<KeyScope>()
        .map(|k| k.api_key_id.clone());
    let body: VerifyBody = json_body(req).await?;
    let code = body.otp_code.unwrap_or_default();
    let mut mail = shared.mail();
    let Some(signup) = (mail.signups.iter_mut()).find(|s| Some(&s.api_key_id) == key.as_ref())
    else {
        return Ok(not_a_signup());
    };
    if signup.human_email.is_empty() {
        return Ok(validation(
            "no human is attached yet: attach one first (POST /v0/agent/human)",
        ));
    }
    if signup.verified {
        return Ok(ok(&json!({ "verified": true })));
    }
    if signup.attempts >= ATTEMPTS {
        return Ok(api_error(
            StatusCode::FORBIDDEN,
            "ForbiddenError",
            "too_many_attempts",
            "ten wrong codes: sign up again for a new one",
        ));
    }
    signup.attempts += 1;
    signup.verified = code.trim() == signup.otp;
    Ok(ok(&json!({ "verified": signup.verified })))
}
