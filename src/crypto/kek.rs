//! The key-encryption key (KEK): 32 random bytes in `<keys_dir>/kek` that seal every signing
//! key in the database with AES-256-GCM. All nodes must hold the same file.
//!
//! While the KEK is being rotated (`idp keys rotate-kek`), `<keys_dir>/kek.previous` holds the
//! one it replaces: what it sealed still opens until everything is sealed again under `kek`.
//!
//! The keys derived for other purposes (client-secret hashing, DPoP nonces) come from a
//! [`DerivationRoot`] that is stored sealed beside the signing keys, so they survive a KEK
//! rotation: on a deployment that predates rotation the root is the first KEK's own material,
//! which keeps every derived key as it was.

use std::fmt;
use std::io::Write;
use std::path::{Path, PathBuf};

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use ring::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use ring::rand::{SecureRandom, SystemRandom};

use super::sha256;

pub const KEK_FILE: &str = "kek";
/// The KEK being replaced, accepted for opening (never for sealing) during a rotation.
pub const PREVIOUS_KEK_FILE: &str = "kek.previous";

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

    pub fn previous_path(dir: &Path) -> PathBuf {
        dir.join(PREVIOUS_KEK_FILE)
    }

    /// `Ok(None)` when there is no KEK file yet.
    pub fn load(dir: &Path) -> Result<Option<Self>, KekError> {
        Self::load_file(Self::path(dir))
    }

    /// The KEK being rotated away from (`kek.previous`), if there is one.
    pub fn load_previous(dir: &Path) -> Result<Option<Self>, KekError> {
        Self::load_file(Self::previous_path(dir))
    }

    fn load_file(path: PathBuf) -> Result<Option<Self>, KekError> {
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
        Self::generate_into_owned(dir, None)
    }

    /// [`Kek::generate_into`], the new file then owned by `owner` (uid, gid): how root makes the
    /// file for a service that runs as another user (the image's uid 10001) and keeps it 0600.
    pub fn generate_into_owned(dir: &Path, owner: Option<(u32, u32)>) -> Result<Self, KekError> {
        let path = Self::path(dir);
        let unwritable = |e: std::io::Error| KekError::Unwritable { path: path.clone(), reason: e.to_string() };
        std::fs::create_dir_all(dir).map_err(unwritable)?;
        let kek = Self::generate().map_err(|reason| KekError::Unwritable { path: path.clone(), reason })?;
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
        let mut file = options.open(&path).map_err(unwritable)?;
        file.write_all(kek.encoded().as_bytes()).map_err(unwritable)?;
        file.sync_all().map_err(unwritable)?;
        if let Some((uid, gid)) = owner {
            #[cfg(unix)]
            std::os::unix::fs::chown(&path, Some(uid), Some(gid)).map_err(|e| {
                let _ = std::fs::remove_file(&path);
                unwritable(e)
            })?;
            #[cfg(not(unix))]
            return Err(KekError::Unwritable { path, reason: format!("cannot give it to {uid}:{gid} here") });
        }
        Ok(kek)
    }

    /// A new KEK in memory only (`idp keys init-kek --stdout`, for a secret store).
    pub fn generate() -> Result<Self, String> {
        let mut bytes = [0u8; 32];
        SystemRandom::new().fill(&mut bytes).map_err(|_| "no system randomness".to_owned())?;
        Ok(Self::from_bytes(&bytes).expect("32 bytes make an AES-256 key"))
    }

    /// The file's content: base64url and a newline.
    pub fn encoded(&self) -> String {
        format!("{}\n", URL_SAFE_NO_PAD.encode(self.material))
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

    /// The derivation root of a deployment that has none stored yet: this KEK's own material,
    /// which is what the derived keys came from before the root was stored on its own.
    pub fn as_derivation_root(&self) -> DerivationRoot {
        DerivationRoot(self.material)
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

/// The secret the provider's derived keys come from (client-secret hashing, DPoP nonces). It is
/// stored sealed under the KEK, so rotating the KEK re-seals it and keeps every derived key.
pub struct DerivationRoot([u8; 32]);

impl fmt::Debug for DerivationRoot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DerivationRoot(***)")
    }
}

impl DerivationRoot {
    /// The name of its sealed row, bound as associated data when it is sealed.
    pub const NAME: &'static str = "derivation_root";

    pub fn from_bytes(bytes: &[u8]) -> Option<Self> {
        bytes.try_into().ok().map(Self)
    }

    pub fn expose(&self) -> &[u8; 32] {
        &self.0
    }

    /// An HMAC key for one purpose (client-secret hashing, DPoP nonces), the same on every node
    /// and unrelated to the sealing key and to other purposes.
    pub fn derive(&self, purpose: &str) -> ring::hmac::Key {
        let extract = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, &self.0);
        let tag = ring::hmac::sign(&extract, format!("idp derived key v1: {purpose}").as_bytes());
        ring::hmac::Key::new(ring::hmac::HMAC_SHA256, tag.as_ref())
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
    fn a_kek_can_be_made_for_another_owner_or_printed_without_a_file() {
        let dir = tempfile::tempdir().unwrap();
        #[cfg(unix)]
        {
            use std::os::unix::fs::{MetadataExt, PermissionsExt};
            let here = std::fs::metadata(dir.path()).unwrap();
            // Root may give the file away; anyone may give it to themselves.
            let owner = if here.uid() == 0 { (10001, 10001) } else { (here.uid(), here.gid()) };
            let kek = Kek::generate_into_owned(dir.path(), Some(owner)).unwrap();
            let file = std::fs::metadata(Kek::path(dir.path())).unwrap();
            assert_eq!((file.uid(), file.gid(), file.permissions().mode() & 0o777), (owner.0, owner.1, 0o600));
            assert_eq!(Kek::load(dir.path()).unwrap().unwrap().id(), kek.id());
        }
        let printed = Kek::generate().unwrap();
        let text = printed.encoded();
        assert_eq!(URL_SAFE_NO_PAD.decode(text.trim()).unwrap().len(), 32);
        let other = tempfile::tempdir().unwrap();
        std::fs::write(Kek::previous_path(other.path()), &text).unwrap();
        assert_eq!(Kek::load_previous(other.path()).unwrap().unwrap().id(), printed.id());
        assert!(Kek::load(other.path()).unwrap().is_none());
    }

    #[test]
    fn derived_keys_depend_on_the_root_and_the_purpose_only() {
        let dir = tempfile::tempdir().unwrap();
        let kek = Kek::generate_into(dir.path()).unwrap();
        let root = kek.as_derivation_root();
        let same = DerivationRoot::from_bytes(root.expose()).unwrap();
        let tag =
            |root: &DerivationRoot, purpose: &str| ring::hmac::sign(&root.derive(purpose), b"m").as_ref().to_vec();
        assert_eq!(tag(&root, "client secrets"), tag(&same, "client secrets"));
        assert_ne!(tag(&root, "client secrets"), tag(&root, "dpop nonces"));
        assert_eq!(format!("{root:?}"), "DerivationRoot(***)");
    }

    #[test]
    fn a_missing_kek_is_none_and_a_garbled_one_an_error() {
        let dir = tempfile::tempdir().unwrap();
        assert!(Kek::load(dir.path()).unwrap().is_none());
        std::fs::write(Kek::path(dir.path()), "not base64!").unwrap();
        assert!(matches!(Kek::load(dir.path()), Err(KekError::Malformed { .. })));
    }
}
