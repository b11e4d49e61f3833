//! Sending an alert. [`MailTransport`] is the seam for a real mail server: SIOMS ships
//! [`LogTransport`], which "sends" by writing one structured log line (the mocked e-mail that
//! seed 000 asks for). To send real mail, implement the trait (e.g. over SMTP with the
//! `lettre` crate) and pass it to [`crate::Application::build_with`].

use futures::future::BoxFuture;

/// One alert to one recipient.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    /// Recipient address.
    pub to: String,
    /// Subject line.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
    /// The alert's kind, e.g. `low_stock`.
    pub kind: String,
}

/// Delivers alerts.
pub trait MailTransport: Send + Sync {
    /// Sends one mail; an error makes the event fail and be retried.
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>>;
}

/// The mock transport: logs each mail as a structured line.
#[derive(Debug, Default, Clone, Copy)]
pub struct LogTransport;

impl MailTransport for LogTransport {
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, anyhow::Result<()>> {
        Box::pin(async move {
            tracing::info!(
                target: "mail",
                to = %mail.to,
                kind = %mail.kind,
                subject = %mail.subject,
                body = %mail.body,
                "mail sent (log transport)"
            );
            Ok(())
        })
    }
}
