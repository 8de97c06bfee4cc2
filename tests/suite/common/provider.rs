//! What tests reach inside the provider for, beyond HTTP: operator actions and the audit log.
//! Kept here so that a provider module that moves or becomes a service method is followed in
//! one place.

use std::time::Duration;

use idp::services::consents::GrantedConsent;
use idp::store::models::AuditEvent;

use super::TestApp;

impl TestApp {
    /// The newest `limit` audit events of `action`.
    pub async fn audit_events(&self, action: &'static str, limit: i64) -> Vec<AuditEvent> {
        self.state.db.run(move |conn| AuditEvent::recent(conn, action, limit)).await.expect("audit events")
    }

    /// The newest audit events of `action`, waiting up to 5 s for the first (the audit log is
    /// written off the request path); empty if none came.
    pub async fn audited(&self, action: &'static str) -> Vec<AuditEvent> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(5);
        loop {
            let events = self.audit_events(action, 20).await;
            if !events.is_empty() || tokio::time::Instant::now() >= deadline {
                return events;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// What an operator does to lift a sign-in lock on `username`.
    pub async fn unlock_user(&self, username: &str) {
        self.state.sign_in_limits.unlock(username).await.expect("unlock");
    }

    /// The consents a user has given, as the account page lists them.
    pub async fn consents_of(&self, user_id: &str) -> Vec<GrantedConsent> {
        self.state.consents.list(user_id).await.expect("list consents")
    }

    /// Withdraws the user's consent to `client_id`: (whether there was one, grants revoked).
    pub async fn withdraw_consent(&self, user_id: &str, client_id: &str) -> (bool, usize) {
        let withdrawal = self
            .state
            .consents
            .withdraw(user_id, client_id, &idp::services::audit::Actor::cli())
            .await
            .expect("withdraw consent");
        (withdrawal.existed, withdrawal.revoked_grants)
    }

    /// Disables `username` as an operator does; the number of refresh grants that revoked.
    pub async fn disable_user(&self, username: &str) -> usize {
        let user = self.state.users.find_by_username(username).await.unwrap().expect("a user");
        self.state
            .users
            .set_enabled(&user.user_id, false, &idp::services::audit::Actor::cli())
            .await
            .expect("disable user")
            .1
    }
}
