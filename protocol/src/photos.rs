//! `POST /v1/device/photos`: many photos in one request, by content hash. The answer is
//! bounded (`MAX_PHOTO_BATCH_BYTES` of photo data, at least one photo): hashes it neither
//! carries nor names as missing are asked for again.

use serde::{Deserialize, Serialize};

/// The most hashes one request may name.
pub const MAX_PHOTO_BATCH: usize = 100;

/// The photo bytes one answer carries before it stops (a larger single photo still goes
/// alone).
pub const MAX_PHOTO_BATCH_BYTES: usize = 1024 * 1024;

/// What the device asks for (read by the server only: closed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PhotoBatchRequest {
    pub hashes: Vec<String>,
}

/// The server's answer (read by the device: must-ignore).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct PhotoBatch {
    #[serde(default)]
    pub photos: Vec<BatchPhoto>,
    /// Hashes no contact the device is entitled to carries (the batch form of a 404).
    #[serde(default)]
    pub missing: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct BatchPhoto {
    /// SHA-256 of the photo bytes, lower-case hex (the contact's `photo.hash`).
    pub hash: String,
    /// The photo bytes, standard base64 with padding.
    pub data: String,
}
