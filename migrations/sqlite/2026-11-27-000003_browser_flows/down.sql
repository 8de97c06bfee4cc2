DROP TABLE consents;
ALTER TABLE clients DROP COLUMN post_logout_redirect_uris;
ALTER TABLE clients DROP COLUMN require_pushed_authorization_requests;
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
ALTER TABLE clients DROP COLUMN first_party;
