//! Content hashes as the crate writes them: SHA-256 in lower-case hexadecimal, the keys of the
//! caches and the checks of the split's manifest.
//!
//! ```
//! assert_eq!(catsdogs::hashing::hex(&[0, 171, 255]), "00abff");
//! assert_eq!(&catsdogs::hashing::sha256_hex(b"")[..8], "e3b0c442");
//! ```

use sha2::{Digest, Sha256};

/// Lower-case hexadecimal.
pub fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The SHA-256 of `bytes`, in hexadecimal.
pub fn sha256_hex(bytes: impl AsRef<[u8]>) -> String {
    hex(&Sha256::digest(bytes))
}
