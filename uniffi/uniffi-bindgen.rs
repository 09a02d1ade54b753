//! `cargo run --features bindgen --bin uniffi-bindgen -- generate --library <lib> --language kotlin`:
//! the bindings generator, built from this workspace so its version always matches the
//! library's uniffi.
fn main() {
    uniffi::uniffi_bindgen_main()
}
