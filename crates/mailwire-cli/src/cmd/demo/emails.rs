//! The burst of emails the demo sends: realistic senders and subjects, one of them
//! carrying a sign-in code.

/// One email: inbox, sender, subject, text.
pub(crate) struct Email {
    pub(crate) inbox: &'static str,
    pub(crate) from: &'static str,
    pub(crate) subject: &'static str,
    pub(crate) text: &'static str,
}

const fn email(
    inbox: &'static str,
    from: &'static str,
    subject: &'static str,
    text: &'static str,
) -> Email {
    Email {
        inbox,
        from,
        subject,
        text,
    }
}

const SUPPORT: &str = "support@agentmail.to";
const ADA: &str = "ada@agentmail.to";
const BILLING: &str = "billing@agentmail.to";

/// The subject of the email whose code the agent waits for.
pub(crate) const CODE_SUBJECT: &str = "Your Acme sign-in code";

/// The emails, in the order they are sent.
pub(crate) const BURST: &[Email] = &[
    email(
        SUPPORT,
        "Grace Hopper <grace@example.com>",
        "Order #1042 has not arrived",
        "Hi, my order #1042 was due Tuesday. Could you check where it is?",
    ),
    email(
        ADA,
        "Acme <no-reply@acme.example>",
        "Welcome to Acme",
        "Thanks for signing up. Confirm your address to get started.",
    ),
    email(
        BILLING,
        "Stripe <receipts@stripe.example>",
        "Receipt for invoice INV-2291",
        "Amount paid: $49.00. Thank you for your business.",
    ),
    email(
        SUPPORT,
        "Linus <linus@example.org>",
        "Refund request",
        "I was charged twice for the same subscription. Please refund one.",
    ),
    email(
        ADA,
        "Calendar <calendar@example.com>",
        "Invitation: sync on Thursday",
        "Thursday 10:00-10:30, video call. Agenda: Q4 roadmap.",
    ),
    email(
        SUPPORT,
        "Margaret <margaret@example.net>",
        "Re: Order #1042 has not arrived",
        "Never mind, it just came. Thanks!",
    ),
    email(
        BILLING,
        "Vendor AP <ap@vendor.example>",
        "Payment reminder",
        "Invoice 7781 is 5 days overdue.",
    ),
    email(
        ADA,
        "GitHub <noreply@github.example>",
        "[mailwire] New issue: reconnect storm",
        "A new issue was opened in mailwire/mailwire.",
    ),
    email(
        SUPPORT,
        "Barbara <barbara@example.com>",
        "Cannot log in",
        "The password reset link says it expired.",
    ),
    email(
        ADA,
        "Acme <no-reply@acme.example>",
        CODE_SUBJECT,
        "Your verification code is 583920. It expires in 10 minutes.",
    ),
    email(
        BILLING,
        "Stripe <receipts@stripe.example>",
        "Receipt for invoice INV-2292",
        "Amount paid: $12.00.",
    ),
    email(
        SUPPORT,
        "Edsger <edsger@example.nl>",
        "Feature request: export to CSV",
        "Could the dashboard export threads as CSV?",
    ),
    // The WebSocket drops around here (see `DROP_AFTER`).
    email(
        ADA,
        "Newsletter <news@example.com>",
        "This week in agents",
        "Five things that happened in agent land this week.",
    ),
    email(
        SUPPORT,
        "Ken <ken@example.com>",
        "Wrong size delivered",
        "I ordered a large and received a small.",
    ),
    email(
        BILLING,
        "Bank <alerts@bank.example>",
        "Incoming wire transfer",
        "A transfer of $1,200.00 has been credited.",
    ),
    email(
        SUPPORT,
        "Dennis <dennis@example.com>",
        "Where is my refund?",
        "It has been ten days since the refund was approved.",
    ),
    email(
        ADA,
        "Calendar <calendar@example.com>",
        "Accepted: sync on Thursday",
        "Grace accepted the invitation.",
    ),
    email(
        SUPPORT,
        "Frances <frances@example.org>",
        "Shipping to Canada?",
        "Do you ship to Montreal, and how long does it take?",
    ),
    email(
        BILLING,
        "Vendor AP <ap@vendor.example>",
        "Re: Payment reminder",
        "Received, thank you.",
    ),
    email(
        ADA,
        "Alan <alan@example.co.uk>",
        "Quick question",
        "Are you free for a call tomorrow afternoon?",
    ),
    // The WebSocket is back from here.
    email(
        SUPPORT,
        "Radia <radia@example.com>",
        "Thank you!",
        "The replacement arrived today. Great service.",
    ),
    email(
        ADA,
        "GitHub <noreply@github.example>",
        "[mailwire] PR merged: jittered backoff",
        "Pull request #12 was merged.",
    ),
    email(
        BILLING,
        "Stripe <receipts@stripe.example>",
        "Receipt for invoice INV-2293",
        "Amount paid: $99.00.",
    ),
    email(
        SUPPORT,
        "Tim <tim@example.org>",
        "Broken link on the pricing page",
        "The 'compare plans' link returns a 404.",
    ),
    email(
        ADA,
        "Barbara <barbara@example.com>",
        "Re: Quick question",
        "Tomorrow at 3 works for me.",
    ),
    email(
        SUPPORT,
        "John <john@example.com>",
        "Bulk order",
        "We would like 200 units for our office. Is there a discount?",
    ),
    email(
        BILLING,
        "Bank <alerts@bank.example>",
        "Statement available",
        "Your November statement is ready.",
    ),
    email(
        ADA,
        "Newsletter <news@example.com>",
        "Last chance: conference tickets",
        "Early-bird pricing ends Friday.",
    ),
    email(
        SUPPORT,
        "Sophie <sophie@example.fr>",
        "Order #1077 damaged",
        "The box arrived crushed; photos attached.",
    ),
    email(
        ADA,
        "Hedy <hedy@example.com>",
        "Lunch?",
        "Lunch on Friday? My treat.",
    ),
];

/// The WebSocket is dropped after this many emails...
pub(crate) const DROP_AFTER: usize = 12;
/// ...and is refused new connections while this many more are sent.
pub(crate) const SENT_WHILE_DOWN: usize = 8;

/// The first run of six digits in `text`, as a one-time code.
pub(crate) fn find_code(text: &str) -> Option<&str> {
    let bytes = text.as_bytes();
    let mut start = None;
    for (i, b) in bytes.iter().enumerate().chain([(bytes.len(), &b' ')]) {
        match (b.is_ascii_digit(), start) {
            (true, None) => start = Some(i),
            (false, Some(s)) if i - s == 6 => return text.get(s..i),
            (false, Some(_)) => start = None,
            _ => {}
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_six_digit_codes_only() {
        assert_eq!(
            find_code("Your verification code is 583920. It expires"),
            Some("583920")
        );
        assert_eq!(find_code("583920"), Some("583920"));
        assert_eq!(find_code("order #1042, invoice 7781"), None);
        assert_eq!(find_code("card 12345678"), None);
        assert_eq!(find_code(""), None);
    }

    #[test]
    fn exactly_one_email_carries_a_code() {
        let with_code: Vec<_> = BURST
            .iter()
            .filter(|e| find_code(e.text).is_some())
            .collect();
        assert_eq!(with_code.len(), 1);
        assert_eq!(with_code[0].subject, CODE_SUBJECT);
        assert!(DROP_AFTER + SENT_WHILE_DOWN < BURST.len());
    }
}
