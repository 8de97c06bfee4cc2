-- The clients that act for a resource server (its own credentials, RFC 7662 §2.1): beside a
-- token's own client, the only callers introspection shows the token's claims to. A JSON array
-- of client ids, like the other lists; empty until an operator names them.
ALTER TABLE resource_servers ADD COLUMN introspection_clients TEXT NOT NULL DEFAULT '[]';
