//! The contract between a contacts-agent device and an MDM server: the contact and policy
//! model, the content hash, the JSON bodies of the device API (`docs/openapi.yaml`) and the
//! backup archive's manifest.
//!
//! Pure data and pure functions, no I/O, so the device, the reference server and any other
//! vendor's Rust server agree on one definition.

pub mod backup;
pub mod contact;
pub mod enroll_link;
pub mod fields;
pub mod hash;
pub mod photos;
pub mod policy;
pub mod wire;

pub use contact::{
    Address, AddressKind, ContactData, Email, EmailKind, GroupRef, ImHandle, Phone, PhoneKind,
    PhotoRef, PostalAddress, IM_PROTOCOLS,
};
pub use fields::{AllowList, Field, FieldListError};
pub use hash::{content_hash, set_fingerprint, with_groups};
pub use policy::{
    BackupInterval, BasicType, Policy, PolicyError, PolicyReadError, SyncInterval, SyncWindow,
};
