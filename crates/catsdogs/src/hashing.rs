//! Content hashes as the crate writes them, in lower-case hexadecimal: SHA-256 for the keys of
//! the caches and the checks of the split's manifest, and [`content_hash`] (XXH3-128, which
//! reads at memory speed) for the files that the image cache hashes each time it opens.
//!
//! ```
//! assert_eq!(catsdogs::hashing::hex(&[0, 171, 255]), "00abff");
//! assert_eq!(&catsdogs::hashing::sha256_hex(b"")[..8], "e3b0c442");
//! assert_eq!(catsdogs::hashing::content_hash(b"").len(), 32);
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

/// The XXH3-128 of `bytes`, in hexadecimal: a fast hash of a file's content, for telling a
/// changed file from the same one (not a defence against someone who forges collisions).
pub fn content_hash(bytes: &[u8]) -> String {
    format!("{:032x}", xxhash_rust::xxh3::xxh3_128(bytes))
}
