//! Log levels the agent allows per dependency. Our own code never logs contact data or
//! tokens; ureq's protocol layer, at TRACE, hex-dumps raw HTTP bytes (Authorization header
//! and bodies included), so every logger the agent sets up caps it.

use log::LevelFilter;

/// `(target prefix, most verbose level allowed)`.
pub const CAPS: &[(&str, LevelFilter)] = &[
    // Hex dumps of requests and responses at TRACE.
    ("ureq_proto", LevelFilter::Debug),
    // TLS key material logging and handshake details.
    ("rustls", LevelFilter::Info),
];

/// The most verbose level allowed for `target`, if it is capped.
pub fn cap(target: &str) -> Option<LevelFilter> {
    CAPS.iter()
        .find(|(prefix, _)| target == *prefix || target.starts_with(&format!("{prefix}::")))
        .map(|(_, level)| *level)
}

/// True when a record of `level` from `target` may be written.
pub fn allowed(target: &str, level: log::Level) -> bool {
    cap(target).is_none_or(|max| level <= max)
}

/// Wraps any logger (env_logger on the host, android_logger on a phone) so that the caps
/// hold whatever level the user asked for: a cap only ever lowers a level, never raises it.
pub struct Capped<L>(pub L);

impl<L: log::Log> log::Log for Capped<L> {
    fn enabled(&self, m: &log::Metadata) -> bool {
        allowed(m.target(), m.level()) && self.0.enabled(m)
    }

    fn log(&self, record: &log::Record) {
        if allowed(record.target(), record.level()) {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// Logcat on Android, with the same caps; called from the first JNI entry
/// (`JniBridge.register`). Android-only and deliberately tiny: it cannot be compiled here.
#[cfg(target_os = "android")]
pub fn init_android() {
    let config = android_logger::Config::default()
        .with_max_level(LevelFilter::Info)
        .with_tag("contacts-agent");
    let logger = android_logger::AndroidLogger::new(config);
    if log::set_boxed_logger(Box::new(Capped(logger))).is_ok() {
        log::set_max_level(LevelFilter::Info);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use log::Level;

    #[test]
    fn byte_dumps_are_capped_and_our_own_logs_are_not() {
        assert!(!allowed("ureq_proto::util", Level::Trace));
        assert!(allowed("ureq_proto::client", Level::Debug));
        assert!(allowed("contacts_agent::sync", Level::Trace));
        assert!(allowed("ureq_protozoa", Level::Trace));
    }
}
