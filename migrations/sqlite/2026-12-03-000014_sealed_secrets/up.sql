-- Secrets other than signing keys, sealed under the key-encryption key like them (one row,
-- derivation_root: where client-secret hashing and DPoP nonce keys come from), so that
-- `idp keys rotate-kek` re-seals them and the keys derived from them stay the same.
-- Expand only: nodes of the previous version neither read nor need this table.
CREATE TABLE sealed_secrets (
    name       TEXT PRIMARY KEY,
    -- AES-256-GCM under the KEK: nonce || ciphertext || tag, with "sealed-secret:<name>" as AAD.
    sealed     BLOB NOT NULL,
    kek_id     TEXT NOT NULL,
    created_at BIGINT NOT NULL
);
