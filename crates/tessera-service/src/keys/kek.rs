//! The key-encryption key: what stored private keys are encrypted under (AES-256-GCM).

use std::fs::OpenOptions;
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;
use tessera_config::{Config, KekSource};
use zeroize::Zeroizing;

use crate::ServiceError;

/// The variable that names the key-encryption key.
pub const KEK_VAR: &str = "TESSERA_KEY_ENCRYPTION_KEY";
/// The variable that names a file holding it.
pub const KEK_FILE_VAR: &str = "TESSERA_KEY_ENCRYPTION_KEY_FILE";
/// The file a generated key-encryption key is kept in, inside the data directory (SQLite only).
pub const GENERATED_KEK_FILE: &str = "key-encryption-key";
/// The length of a key-encryption key in bytes.
pub const KEK_LEN: usize = 32;

/// A 256-bit key-encryption key and its public fingerprint.
///
/// Stored private keys are sealed with AES-256-GCM under it, with a fresh random nonce each, and
/// bound to their `kid` and algorithm as associated data (a wrapped key moved to another row does
/// not open). `Debug` shows only the fingerprint.
pub struct KeyEncryptionKey {
    key: LessSafeKey,
    id: String,
}

impl std::fmt::Debug for KeyEncryptionKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyEncryptionKey")
            .field("id", &self.id)
            .finish_non_exhaustive()
    }
}

/// Where a key-encryption key came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KekOrigin {
    /// `TESSERA_KEY_ENCRYPTION_KEY`.
    Variable,
    /// The file named by `TESSERA_KEY_ENCRYPTION_KEY_FILE`.
    File(PathBuf),
    /// The data directory's file, read as it was.
    DataDir(PathBuf),
    /// The data directory's file, generated just now.
    Generated(PathBuf),
}

fn kek_error(text: impl Into<String>) -> ServiceError {
    ServiceError::KeyEncryption(text.into())
}

impl KeyEncryptionKey {
    /// A key from its base64 text (standard or URL-safe alphabet, padded or not), as
    /// `openssl rand -base64 32` prints it. `var` names where it came from, for the error.
    ///
    /// # Errors
    /// [`ServiceError::KeyEncryption`] naming `var` if the text is not base64 of 32 bytes.
    pub fn from_base64(var: &str, text: &str) -> Result<Self, ServiceError> {
        let text = text.trim();
        let engines = [
            &base64::engine::general_purpose::STANDARD,
            &base64::engine::general_purpose::STANDARD_NO_PAD,
            &base64::engine::general_purpose::URL_SAFE,
            &base64::engine::general_purpose::URL_SAFE_NO_PAD,
        ];
        let bytes = engines
            .iter()
            .find_map(|engine| engine.decode(text).ok())
            .map(Zeroizing::new)
            .ok_or_else(|| {
                kek_error(format!(
                    "{var}: not base64 (make one with `openssl rand -base64 32`)"
                ))
            })?;
        if bytes.len() != KEK_LEN {
            return Err(kek_error(format!(
                "{var}: {} bytes, expected {KEK_LEN} (make one with `openssl rand -base64 32`)",
                bytes.len()
            )));
        }
        Self::from_bytes(&bytes)
    }

    fn from_bytes(bytes: &[u8]) -> Result<Self, ServiceError> {
        let digest = aws_lc_rs::digest::digest(
            &aws_lc_rs::digest::SHA256,
            &[b"tessera key-encryption key id\0", bytes].concat(),
        );
        let id = format!("kek-{}", hex(&digest.as_ref()[..8]));
        let unbound = UnboundKey::new(&AES_256_GCM, bytes)
            .map_err(|_| kek_error("the key-encryption key was refused by AES-256-GCM"))?;
        Ok(KeyEncryptionKey {
            key: LessSafeKey::new(unbound),
            id,
        })
    }

    /// A fresh random key and its base64 text (to save).
    ///
    /// # Errors
    /// [`ServiceError::Random`] if the system random source fails.
    pub fn generate() -> Result<(Self, Zeroizing<String>), ServiceError> {
        let mut bytes = Zeroizing::new([0u8; KEK_LEN]);
        SystemRandom::new()
            .fill(&mut bytes[..])
            .map_err(|_| ServiceError::Random)?;
        let text = Zeroizing::new(base64::engine::general_purpose::STANDARD.encode(&bytes[..]));
        Ok((Self::from_bytes(&bytes[..])?, text))
    }

    /// The public fingerprint (`kek-` and 16 hex digits of a SHA-256 of the key): stored next to
    /// each wrapped key to say which key-encryption key opens it. It reveals nothing of the key.
    #[must_use]
    pub fn id(&self) -> &str {
        &self.id
    }

    /// Encrypts a private key (PKCS#8 DER) for storage: `nonce || ciphertext || tag`.
    ///
    /// # Errors
    /// [`ServiceError::Random`] or [`ServiceError::KeyEncryption`] if sealing fails.
    pub fn wrap(
        &self,
        kid: &str,
        algorithm: &str,
        private_der: &[u8],
    ) -> Result<Vec<u8>, ServiceError> {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .map_err(|_| ServiceError::Random)?;
        let mut sealed = private_der.to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(associated_data(kid, algorithm)),
                &mut sealed,
            )
            .map_err(|_| kek_error("sealing a signing key failed"))?;
        let mut wrapped = Vec::with_capacity(NONCE_LEN + sealed.len());
        wrapped.extend_from_slice(&nonce);
        wrapped.extend_from_slice(&sealed);
        Ok(wrapped)
    }

    /// Decrypts what [`KeyEncryptionKey::wrap`] made for the same `kid` and algorithm.
    ///
    /// # Errors
    /// [`ServiceError::KeyEncryption`] if it does not open (another key-encryption key, another
    /// row's key, or altered bytes): never garbage.
    pub fn unwrap(
        &self,
        kid: &str,
        algorithm: &str,
        wrapped: &[u8],
    ) -> Result<Zeroizing<Vec<u8>>, ServiceError> {
        let refused = || {
            kek_error(format!(
                "stored signing key {kid} does not open with key-encryption key {} (altered, \
                 or sealed under another key)",
                self.id
            ))
        };
        if wrapped.len() < NONCE_LEN {
            return Err(refused());
        }
        let (nonce, sealed) = wrapped.split_at(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(nonce).map_err(|_| refused())?;
        let mut buffer = Zeroizing::new(sealed.to_vec());
        let plain_len = self
            .key
            .open_in_place(
                nonce,
                Aad::from(associated_data(kid, algorithm)),
                &mut buffer,
            )
            .map_err(|_| refused())?
            .len();
        buffer.truncate(plain_len);
        Ok(buffer)
    }
}

fn associated_data(kid: &str, algorithm: &str) -> Vec<u8> {
    [
        b"tessera signing key\0",
        kid.as_bytes(),
        b"\0",
        algorithm.as_bytes(),
    ]
    .concat()
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|byte| format!("{byte:02x}")).collect()
}

/// Reads a key-encryption key from a file (`var` names the setting, for errors).
///
/// # Errors
/// [`ServiceError::KeyEncryption`] naming `var` and the path if the file cannot be read or does
/// not hold a key.
pub fn read_kek_file(var: &str, path: &Path) -> Result<KeyEncryptionKey, ServiceError> {
    let text = Zeroizing::new(
        std::fs::read_to_string(path)
            .map_err(|err| kek_error(format!("{var}: {}: {err}", path.display())))?,
    );
    KeyEncryptionKey::from_base64(&format!("{var} ({})", path.display()), &text)
}

/// The configured key-encryption key: `TESSERA_KEY_ENCRYPTION_KEY`, the file of
/// `TESSERA_KEY_ENCRYPTION_KEY_FILE`, or, with SQLite only, the data directory's
/// `key-encryption-key` file (generated with mode 0600 on first use; of two processes generating
/// at once, both end up with the one written first).
///
/// # Errors
/// [`ServiceError::KeyEncryption`]: with PostgreSQL and neither variable (a dump of the shared
/// database must never be enough to sign), or an unreadable or malformed key.
pub fn load_kek(config: &Config) -> Result<(KeyEncryptionKey, KekOrigin), ServiceError> {
    match &config.key_encryption_key {
        Some(KekSource::Value(text)) => Ok((
            KeyEncryptionKey::from_base64(KEK_VAR, text.expose())?,
            KekOrigin::Variable,
        )),
        Some(KekSource::File(path)) => Ok((
            read_kek_file(KEK_FILE_VAR, path)?,
            KekOrigin::File(path.clone()),
        )),
        None if config.database_url.is_some() => Err(kek_error(format!(
            "{KEK_VAR} (or {KEK_FILE_VAR}) must be set: with DATABASE_URL the signing keys are \
             stored in PostgreSQL, encrypted under it (make one with `openssl rand -base64 32` and \
             give the same one to every instance), or set JWT_PRIVATE_KEY_FILE to use a key file"
        ))),
        None => data_dir_kek(&config.data_dir),
    }
}

fn data_dir_kek(data_dir: &Path) -> Result<(KeyEncryptionKey, KekOrigin), ServiceError> {
    let path = data_dir.join(GENERATED_KEK_FILE);
    let io =
        |err: std::io::Error| kek_error(format!("TESSERA_DATA_DIR: {}: {err}", path.display()));
    if path.exists() {
        return Ok((
            read_kek_file("TESSERA_DATA_DIR", &path)?,
            KekOrigin::DataDir(path.clone()),
        ));
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(data_dir)
        .map_err(io)?;
    let (kek, text) = KeyEncryptionKey::generate()?;
    // Written whole to a file of this process's own, then linked into place (which fails if the
    // name exists): another process starting at the same moment sees either no file or a
    // complete one, never an empty one, and a crash leaves no half-written key.
    // Named after the new key's fingerprint: unique to this attempt.
    let pending = data_dir.join(format!(".{GENERATED_KEK_FILE}.{}.tmp", kek.id()));
    let written = OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(&pending)
        .and_then(|mut file| {
            file.write_all(text.as_bytes())?;
            file.write_all(b"\n")?;
            file.sync_all()
        });
    if let Err(err) = written {
        let _ = std::fs::remove_file(&pending);
        return Err(io(err));
    }
    let linked = std::fs::hard_link(&pending, &path);
    let _ = std::fs::remove_file(&pending);
    match linked {
        Ok(()) => Ok((kek, KekOrigin::Generated(path))),
        Err(err) if err.kind() == std::io::ErrorKind::AlreadyExists => Ok((
            read_kek_file("TESSERA_DATA_DIR", &path)?,
            KekOrigin::DataDir(path.clone()),
        )),
        Err(err) => Err(io(err)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_wrapped_key_opens_only_with_its_kek_kid_and_algorithm() {
        let (kek, _) = KeyEncryptionKey::generate().unwrap();
        let (other, _) = KeyEncryptionKey::generate().unwrap();
        let secret = b"a private key".to_vec();
        let wrapped = kek.wrap("kid-1", "ES256", &secret).unwrap();
        assert!(!wrapped.windows(secret.len()).any(|window| window == secret));
        assert_eq!(
            &kek.unwrap("kid-1", "ES256", &wrapped).unwrap()[..],
            &secret[..]
        );
        assert!(other.unwrap("kid-1", "ES256", &wrapped).is_err());
        assert!(kek.unwrap("kid-2", "ES256", &wrapped).is_err());
        assert!(kek.unwrap("kid-1", "EdDSA", &wrapped).is_err());
        let mut altered = wrapped.clone();
        altered[NONCE_LEN] ^= 1;
        assert!(kek.unwrap("kid-1", "ES256", &altered).is_err());
        assert!(kek.unwrap("kid-1", "ES256", &wrapped[..5]).is_err());
        assert_ne!(
            kek.wrap("kid-1", "ES256", &secret).unwrap(),
            wrapped,
            "fresh nonce"
        );
    }

    #[test]
    fn keks_are_read_in_any_base64_and_must_be_32_bytes() {
        let (kek, text) = KeyEncryptionKey::generate().unwrap();
        let url = text.replace('+', "-").replace('/', "_");
        let unpadded = url.trim_end_matches('=');
        for form in [text.as_str(), url.as_str(), unpadded] {
            assert_eq!(
                KeyEncryptionKey::from_base64("X", form).unwrap().id(),
                kek.id()
            );
        }
        let short = KeyEncryptionKey::from_base64("TESSERA_KEY_ENCRYPTION_KEY", "c2hvcnQ=");
        let message = short.unwrap_err().to_string();
        assert!(
            message.contains("TESSERA_KEY_ENCRYPTION_KEY: 5 bytes"),
            "{message}"
        );
        let junk = KeyEncryptionKey::from_base64("X", "!!!")
            .unwrap_err()
            .to_string();
        assert!(junk.contains("not base64"), "{junk}");
        assert!(!format!("{kek:?}").contains(text.as_str()));
    }

    #[test]
    fn processes_generating_at_once_all_get_the_one_complete_key() {
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let ids: Vec<String> = std::thread::scope(|scope| {
            let handles: Vec<_> = (0..8)
                .map(|_| scope.spawn(|| data_dir_kek(&data).map(|(kek, _)| kek.id().to_owned())))
                .collect();
            handles
                .into_iter()
                .map(|handle| handle.join().unwrap().unwrap())
                .collect()
        });
        assert!(ids.iter().all(|id| *id == ids[0]), "{ids:?}");
        let names: Vec<_> = std::fs::read_dir(&data)
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert_eq!(names, [GENERATED_KEK_FILE], "no temporary file left");
    }

    #[test]
    fn the_data_directory_kek_is_generated_once_with_mode_0600() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let data = dir.path().join("data");
        let (first, origin) = data_dir_kek(&data).unwrap();
        let path = data.join(GENERATED_KEK_FILE);
        assert_eq!(origin, KekOrigin::Generated(path.clone()));
        let mode = std::fs::metadata(&path).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o600);
        let (second, origin) = data_dir_kek(&data).unwrap();
        assert_eq!(origin, KekOrigin::DataDir(path));
        assert_eq!(first.id(), second.id());
    }
}
