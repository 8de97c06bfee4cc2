-- OpenID Connect Back-Channel Logout: where a client takes logout tokens.
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT;
