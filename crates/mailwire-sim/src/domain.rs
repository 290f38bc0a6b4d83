//! A sending domain of the organization (or of a pod), with the DNS records that
//! verify it, as `domains.yml` shapes them. Verification is simulated (see
//! `v0::domains`).

use serde_json::{Value, json};
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

/// One domain of the organization (or of a pod).
#[derive(Clone, Debug)]
pub(crate) struct Domain {
    pub(crate) domain: String,
    pub(crate) pod_id: Option<String>,
    pub(crate) verified: bool,
    pub(crate) feedback_enabled: bool,
    pub(crate) subdomains_enabled: bool,
    pub(crate) client_id: Option<String>,
    pub(crate) created_at: OffsetDateTime,
    pub(crate) updated_at: OffsetDateTime,
}

impl Domain {
    pub(crate) fn records(&self) -> Vec<Value> {
        let status = if self.verified { "VALID" } else { "MISSING" };
        let d = &self.domain;
        let mut records = vec![
            json!({ "type": "MX", "name": d, "value": format!("inbound-smtp.{d}.sim.mailwire.local"), "priority": 10, "status": status }),
            json!({ "type": "TXT", "name": d, "value": "v=spf1 include:sim.mailwire.local ~all", "status": status }),
            json!({ "type": "CNAME", "name": format!("mailwire._domainkey.{d}"), "value": "mailwire.dkim.sim.mailwire.local", "status": status }),
            json!({ "type": "TXT", "name": format!("_dmarc.{d}"), "value": "v=DMARC1; p=none", "status": status }),
        ];
        if self.subdomains_enabled {
            records.push(json!({ "type": "MX", "name": format!("*.{d}"), "value": format!("inbound-smtp.{d}.sim.mailwire.local"), "priority": 10, "status": status }));
        }
        records
    }

    pub(crate) fn item(&self) -> Value {
        let at = |t: OffsetDateTime| t.format(&Rfc3339).unwrap_or_default();
        let mut v = json!({
            "domain_id": self.domain,
            "domain": self.domain,
            "feedback_enabled": self.feedback_enabled,
            "subdomains_enabled": self.subdomains_enabled,
            "updated_at": at(self.updated_at),
            "created_at": at(self.created_at),
        });
        if let Some(pod) = &self.pod_id {
            v["pod_id"] = pod.clone().into();
        }
        if let Some(c) = &self.client_id {
            v["client_id"] = c.clone().into();
        }
        v
    }

    pub(crate) fn to_json(&self) -> Value {
        let mut v = self.item();
        v["status"] = if self.verified { "VERIFIED" } else { "PENDING" }.into();
        v["records"] = Value::Array(self.records());
        v
    }

    pub(crate) fn zone_file(&self) -> String {
        let mut out = format!("; DNS records of {} (mailwire dev)\n", self.domain);
        for r in self.records() {
            let (kind, name, value) = (
                r["type"].as_str().unwrap_or(""),
                r["name"].as_str().unwrap_or(""),
                r["value"].as_str().unwrap_or(""),
            );
            let value = match kind {
                "TXT" => format!("\"{value}\""),
                "MX" => format!("{} {value}.", r["priority"]),
                _ => format!("{value}."),
            };
            out.push_str(&format!("{name}.\t3600\tIN\t{kind}\t{value}\n"));
        }
        out
    }
}
