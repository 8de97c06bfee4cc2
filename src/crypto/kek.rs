//! The key-encryption key (KEK): 32 random bytes in `<keys_dir>/kek` that seal every signing
//! key in the database with AES-256-GCM. All nodes must hold the same file.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::sha256;

pub const KEK_FILE: &str = "kek";

#[derive(Debug, thiserror::Error)]
pub enum KekError {
    #[error("cannot read the key-encryption key {path}: {reason}")]
    Unreadable { path: PathBuf, reason: String },
    #[error("cannot write the key-encryption key {path}: {reason}")]
    Unwritable { path: PathBuf, reason: String },
    #[error("the key-encryption key {path} is not 32 bytes of base64url")]
    Malformed { path: PathBuf },
    #[error("a sealed signing key does not open with this key-encryption key")]
    WrongKey,
}

pub struct Kek {
    key: LessSafeKey,
    id: String,
    material: [u8; 32],
}

impl fmt::Debug for Kek {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Kek({}, ***)", self.id)
    }
}

impl Kek {
    pub fn path(dir: &Path) -> PathBuf {
        dir.join(KEK_FILE)
    }

    /// `Ok(None)` when there is no KEK file yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, KekError> {
        let path = Self::path(dir);
        let text = match std::fs::read_to_string(&path) {
            Ok(text) => text,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(None),
            Err(e) => return Err(KekError::Unreadable { path, reason: e.to_string() }),
        };
        let bytes = URL_SAFE_NO_PAD.decode(text.trim()).map_err(|_| KekError::Malformed { path: path.clone() })?;
        Self::from_bytes(&bytes).map(Some).ok_or(KekError::Malformed { path })
    }

    /// Creates a new KEK file (mode 0600), refusing to overwrite an existing one.
    pub fn generate_into(dir: &Path) -> Result<Self, KekError> {
        let path = Self::path(dir);
        let unwritable = |e: std::io::Error| KekError::Unwritable { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let mut bytes = [0u8; 32];
        SystemRandom::new()
            .fill(&mut bytes)
            .map_err(|_| KekError::Unwritable { path: path.clone(), reason: "no system randomness".into() })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(unwritable)?;
        file.write_all(format!("{}\n", URL_SAFE_NO_PAD.encode(bytes)).as_bytes()).map_err(unwritable)?;
        file.sync_all().map_err(unwritable)?;
        Ok(Self::from_bytes(&bytes).expect("32 bytes make an AES-256 key"))
    }

    fn from_bytes(bytes: &[u8]) -> Option<Self> {
        let key = UnboundKey::new(&AES_256_GCM, bytes).ok()?;
        let mut id_input = b"idp-kek-id:".to_vec();
        id_input.extend_from_slice(bytes);
        let id = sha256(&id_input)[..8].iter().map(|b| format!("{b:02x}")).collect();
        let material = bytes.try_into().ok()?;
        Some(Self { key: LessSafeKey::new(key), id, material })
    }

    /// A fingerprint stored beside each sealed key; reveals nothing about the key.
    pub fn id(&self) -> &str {
        &self.id
    }

    /// An HMAC key for one purpose (client-secret hashing, DPoP nonces), the same on every node
    /// that holds this KEK and unrelated to the sealing key and to other purposes.
    pub fn derive(&self, purpose: &str) -> ring::hmac::Key {
        let extract = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.material);
        let tag = ring::hmac::sign(&extract, format!("idp derived key v1: {purpose}").as_bytes());
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, tag.as_ref())
    }

    /// `nonce || ciphertext || tag`; `context` (the kid) is bound as associated data, so a
    /// sealed key cannot be moved to another row.
    pub fn seal(&self, context: &[u8], plaintext: &[u8]) -> Vec<u8> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new().fill(&mut nonce).expect("system randomness");
        let mut buffer = plaintext.to_vec();
        self.key
            .seal_in_place_append_tag(Nonce::assume_unique_for_key(nonce), Aad::from(context), &mut buffer)
            .expect("AES-GCM sealing of a small buffer");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&buffer);
        out
    }

    pub fn open(&self, context: &[u8], sealed: &[u8]) -> Result<Vec<u8>, KekError> {
        if sealed.len() < NONCE_LEN {
            return Err(KekError::WrongKey);
        }
        let (nonce, ciphertext) = sealed.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| KekError::WrongKey)?;
        let mut buffer = ciphertext.to_vec();
        let plaintext =
            self.key.open_in_place(nonce, Aad::from(context), &mut buffer).map_err(|_| KekError::WrongKey)?;
        Ok(plaintext.to_vec())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sealed_keys_open_only_with_the_same_kek_and_context() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::generate_into(dir.path()).unwrap();
        let sealed = kek.seal(b"kid-1", b"private");
        assert_eq!(kek.open(b"kid-1", &sealed).unwrap(), b"private");
        assert!(matches!(kek.open(b"kid-2", &sealed), Err(KekError::WrongKey)));
        let other_dir = tempfile::tempdir().unwrap();
        let other = Kek::generate_into(other_dir.path()).unwrap();
        assert!(matches!(other.open(b"kid-1", &sealed), Err(KekError::WrongKey)));
        assert_ne!(kek.id(), other.id());
    }

    #[test]
    fn the_kek_file_is_private_reloadable_and_never_overwritten() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::generate_into(dir.path()).unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(Kek::path(dir.path())).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        assert_eq!(Kek::load(dir.path()).unwrap().unwrap().id(), kek.id());
        assert!(matches!(Kek::generate_into(dir.path()), Err(KekError::Unwritable { .. })));
        assert!(format!("{kek:?}").contains("***"));
    }

    #[test]
    fn a_missing_kek_is_none_and_a_garbled_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Kek::load(dir.path()).unwrap().is_none());
        std::fs::write(Kek::path(dir.path()), "not base64!").unwrap();
        assert!(matches!(Kek::load(dir.path()), Err(KekError::Malformed { .. })));
    }
}
