//! Generates the uniffi scaffolding from `uniffi/contacts_agent.udl`.
fn main() {
    println!("cargo:rerun-if-changed=uniffi/contacts_agent.udl");
    if let Err(e) = uniffi::generate_scaffolding("uniffi/contacts_agent.udl") {
        panic!("uniffi scaffolding: {e}");
    }
}
