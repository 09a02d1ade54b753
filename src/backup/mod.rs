//! Backups of the phone user's own contacts: a vCard 3.0 archive (`archive`, `vcard`),
//! uploaded on the policy's interval, listed and restored without duplicates.

pub mod archive;
pub mod vcard;
