//! `ContactStore` over JNI: calls a Kotlin `ContactStoreBridge` (the ContactsProvider adapter
//! on a phone, an in-memory store in the JVM tests). One JNI call per batch, never per
//! contact or field; batches cross in the binary layout of `bridge.rs` in a `byte[]`.
//!
//! How the Kotlin side hands its store over: `JniBridge.register(store)` (a native method,
//! so the JVM has loaded this library with `System.loadLibrary` and the `JavaVM` is known)
//! keeps a global reference and returns a handle; `Agent.withJniStore(config, handle)`
//! (uniffi) builds an agent over it. Threads the agent runs on are attached as needed, each
//! call runs in its own local frame, and a Java exception becomes a `StoreError` (cleared).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, OnceLock};

use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JClass, JObject, JValue};
use jni::refs::Global;
use jni::{jni_sig, jni_str, Env, EnvUnowned, JavaVM};

use super::bridge;
use super::{
    ContactStore, IndexEntry, PersonalContact, PersonalData, PhoneGroup, SourceAccount, StoreError,
    StoreOp, StoredContact,
};

type StoreRef = Arc<Global<JObject<'static>>>;

fn registry() -> &'static Mutex<HashMap<u64, StoreRef>> {
    static STORES: OnceLock<Mutex<HashMap<u64, StoreRef>>> = OnceLock::new();
    STORES.get_or_init(|| Mutex::new(HashMap::new()))
}

fn next_handle() -> u64 {
    static NEXT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(1);
    NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed)
}

/// `JniBridge.register(store: ContactStoreBridge): Long`.
#[unsafe(no_mangle)]
pub extern "system" fn Java_app_contactsagent_sdk_JniBridge_register<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    store: JObject<'caller>,
) -> i64 {
    unowned
        .with_env(|env| -> jni::errors::Result<i64> {
            #[cfg(target_os = "android")]
            crate::logging::init_android();
            if store.is_null() {
                env.throw_new(
                    jni_str!("java/lang/IllegalArgumentException"),
                    jni_str!("store is null"),
                )?;
            }
            let global = env.new_global_ref(&store)?;
            let handle = next_handle();
            registry()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .insert(handle, Arc::new(global));
            Ok(handle as i64)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `JniBridge.release(handle: Long)`: drops the global reference once no agent uses it.
#[unsafe(no_mangle)]
pub extern "system" fn Java_app_contactsagent_sdk_JniBridge_release<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    handle: i64,
) {
    unowned
        .with_env(|_env| -> jni::errors::Result<()> {
            registry()
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .remove(&(handle as u64));
            Ok(())
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

pub struct JniStore {
    store: StoreRef,
    account_type: String,
}

/// Exception classes the `ContactStoreBridge` contract gives a meaning to (declared in
/// `ContactStoreBridge.kt`), plus the platform's own for the same cases. Matched by exact
/// class name: the bridge never needs an app class loader on a thread Rust attached.
const PERMISSION_DENIED: [&str; 2] = [
    "app.contactsagent.sdk.ContactStorePermissionException",
    "java.lang.SecurityException",
];
const UNAVAILABLE: [&str; 2] = [
    "app.contactsagent.sdk.ContactStoreUnavailableException",
    "android.os.DeadObjectException",
];

fn bridge_err(what: &str, e: jni::errors::Error) -> StoreError {
    match e {
        // The class name only: an exception message from a content provider may quote data.
        jni::errors::Error::CaughtJavaException { name, .. } => {
            let name = name.replace('/', ".");
            if PERMISSION_DENIED.contains(&name.as_str()) {
                StoreError::PermissionDenied(format!("{what}: {name}"))
            } else if UNAVAILABLE.contains(&name.as_str()) {
                StoreError::ProviderUnavailable(format!("{what}: {name}"))
            } else {
                StoreError::Bridge(format!("{what}: the Kotlin store threw {name}"))
            }
        }
        other => StoreError::Bridge(format!("{what}: {other}")),
    }
}

fn decode_err(what: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Corrupt(format!("{what}: {e}"))
}

impl JniStore {
    /// The store registered under `handle` by `JniBridge.register`.
    pub fn from_handle(handle: u64, account_type: &str) -> Result<Self, StoreError> {
        let store = registry()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .get(&handle)
            .cloned()
            .ok_or_else(|| {
                StoreError::Bridge(format!("no store registered under handle {handle}"))
            })?;
        Ok(JniStore {
            store,
            account_type: account_type.to_owned(),
        })
    }

    /// Runs `f` on this thread's JVM attachment (attaching it if Rust started it), in a
    /// fresh local frame so a long sync never fills the local reference table.
    fn call<T>(
        &self,
        what: &str,
        f: impl FnOnce(&mut Env, &JObject) -> jni::errors::Result<T>,
    ) -> Result<T, StoreError> {
        let vm = JavaVM::singleton().map_err(|e| bridge_err(what, e))?;
        vm.attach_current_thread(|env| -> jni::errors::Result<T> {
            env.with_local_frame(32, |env| f(env, self.store.as_ref()))
        })
        .map_err(|e| bridge_err(what, e))
    }
}

fn bytes_of(env: &mut Env, value: JObject) -> jni::errors::Result<Vec<u8>> {
    let array = env.cast_local::<JByteArray>(value)?;
    env.convert_byte_array(&array)
}

impl ContactStore for JniStore {
    fn managed_index(&mut self) -> Result<Vec<IndexEntry>, StoreError> {
        let bytes = self.call("managedIndex", |env, store| {
            let v = env
                .call_method(store, jni_str!("managedIndex"), jni_sig!(() -> byte[]), &[])?
                .l()?;
            bytes_of(env, v)
        })?;
        bridge::decode_index(&bytes).map_err(|e| decode_err("managedIndex", e))
    }

    fn apply_batch(&mut self, ops: &[StoreOp]) -> Result<(), StoreError> {
        let payload = bridge::encode_ops(ops).map_err(|e| decode_err("applyBatch", e))?;
        self.call("applyBatch", |env, store| {
            let arr = env.byte_array_from_slice(&payload)?;
            env.call_method(
                store,
                jni_str!("applyBatch"),
                jni_sig!((ops: byte[]) -> void),
                &[JValue::Object(&arr)],
            )?;
            Ok(())
        })
    }

    fn managed_groups(&mut self) -> Result<Vec<PhoneGroup>, StoreError> {
        let bytes = self.call("managedGroups", |env, store| {
            let v = env
                .call_method(
                    store,
                    jni_str!("managedGroups"),
                    jni_sig!(() -> byte[]),
                    &[],
                )?
                .l()?;
            bytes_of(env, v)
        })?;
        bridge::decode_groups(&bytes).map_err(|e| decode_err("managedGroups", e))
    }

    fn managed_contacts(
        &mut self,
        offset: usize,
        limit: usize,
    ) -> Result<Vec<StoredContact>, StoreError> {
        let bytes = self.call("managedContacts", |env, store| {
            let args = [
                JValue::Int(i32::try_from(offset).unwrap_or(i32::MAX)),
                JValue::Int(i32::try_from(limit).unwrap_or(i32::MAX)),
            ];
            let v = env
                .call_method(
                    store,
                    jni_str!("managedContacts"),
                    jni_sig!((offset: jint, limit: jint) -> byte[]),
                    &args,
                )?
                .l()?;
            bytes_of(env, v)
        })?;
        bridge::decode_managed(&bytes).map_err(|e| decode_err("managedContacts", e))
    }

    fn personal_page(
        &mut self,
        after: Option<i64>,
        limit: usize,
    ) -> Result<Vec<PersonalContact>, StoreError> {
        let bytes = self.call("personalPage", |env, store| {
            let args = [
                JValue::Long(after.unwrap_or(-1)),
                JValue::Int(i32::try_from(limit).unwrap_or(i32::MAX)),
            ];
            let v = env
                .call_method(
                    store,
                    jni_str!("personalPage"),
                    jni_sig!((after: jlong, limit: jint) -> byte[]),
                    &args,
                )?
                .l()?;
            bytes_of(env, v)
        })?;
        bridge::decode_personal(&bytes).map_err(|e| decode_err("personalPage", e))
    }

    fn check_personal_account(&self, account: Option<&SourceAccount>) -> Result<(), StoreError> {
        super::refuse_managed_account(account, &self.account_type)
    }

    /// The accounts the shell lists (every account with a contacts sync adapter, ours
    /// excepted): a restore puts a contact back into its own account only when it is here.
    fn personal_accounts(&mut self) -> Result<Vec<SourceAccount>, StoreError> {
        let bytes = self.call("personalAccounts", |env, store| {
            let v = env
                .call_method(
                    store,
                    jni_str!("personalAccounts"),
                    jni_sig!(() -> byte[]),
                    &[],
                )?
                .l()?;
            bytes_of(env, v)
        })?;
        let accounts =
            bridge::decode_accounts(&bytes).map_err(|e| decode_err("personalAccounts", e))?;
        Ok(accounts
            .into_iter()
            .filter(|a| a.kind != self.account_type)
            .collect())
    }

    /// The account (type and name) travels in the payload; the shell copies it.
    fn insert_personal(
        &mut self,
        account: Option<&SourceAccount>,
        contacts: &[PersonalData],
    ) -> Result<(), StoreError> {
        self.check_personal_account(account)?;
        let cost: usize = contacts.iter().map(PersonalData::provider_ops).sum();
        if cost > super::MAX_BATCH_OPS {
            return Err(StoreError::BatchTooLarge {
                ops: cost,
                max: super::MAX_BATCH_OPS,
            });
        }
        let payload = bridge::encode_personal(account, contacts)
            .map_err(|e| decode_err("insertPersonal", e))?;
        self.call("insertPersonal", |env, store| {
            let arr = env.byte_array_from_slice(&payload)?;
            env.call_method(
                store,
                jni_str!("insertPersonal"),
                jni_sig!((contacts: byte[]) -> void),
                &[JValue::Object(&arr)],
            )?;
            Ok(())
        })
    }
}

/// Timings of the same work done in batches and one call per contact; exported as the
/// uniffi dictionary `BridgeBenchmark` (`bridge_benchmark`).
#[derive(Debug, Clone, Default)]
pub struct BridgeBenchmark {
    pub contacts: u32,
    pub batches: u32,
    pub index_read_ms: f64,
    pub batched_insert_ms: f64,
    pub per_contact_insert_ms: f64,
    pub batched_read_ms: f64,
    pub per_contact_read_ms: f64,
    pub batched_delete_ms: f64,
    pub per_contact_delete_ms: f64,
    /// `contacts` calls carrying an empty batch: the bare cost of crossing.
    pub empty_calls_ms: f64,
}

/// The bench's contact `i` (name, phone, e-mail, organisation): what a directory entry holds.
pub(crate) fn synthetic(i: u32) -> StoreOp {
    use contacts_agent_protocol::{ContactData, Email, EmailKind, Phone, PhoneKind};
    StoreOp::Insert(super::ContactWrite {
        id: format!("bench-{i:06}"),
        hash: format!("{i:032x}"),
        data: ContactData {
            given_name: "Bench".into(),
            family_name: format!("Contact {i}"),
            display_name: format!("Bench Contact {i}"),
            phones: vec![Phone::new(format!("+48 500 {i:06}"), PhoneKind::Mobile)],
            emails: vec![Email::new(
                format!("bench{i}@example.invalid"),
                EmailKind::Work,
            )],
            organization: Some("Bench".into()),
            ..Default::default()
        },
        photo: super::PhotoWrite::Keep,
    })
}

fn ms(t: std::time::Instant) -> f64 {
    t.elapsed().as_secs_f64() * 1000.0
}

pub fn benchmark(store: &mut JniStore, contacts: u32) -> Result<BridgeBenchmark, StoreError> {
    use std::time::Instant;
    let inserts: Vec<StoreOp> = (0..contacts).map(synthetic).collect();
    let deletes: Vec<StoreOp> = (0..contacts)
        .map(|i| StoreOp::Delete {
            id: format!("bench-{i:06}"),
        })
        .collect();
    let batches = super::pack_batches(inserts.clone(), super::MAX_BATCH_OPS);
    let mut f = BridgeBenchmark {
        contacts,
        batches: batches.len() as u32,
        ..Default::default()
    };
    let t = Instant::now();
    for b in &batches {
        store.apply_batch(b)?;
    }
    f.batched_insert_ms = ms(t);
    let t = Instant::now();
    let index = store.managed_index()?;
    f.index_read_ms = ms(t);
    if index.len() < contacts as usize {
        return Err(StoreError::Corrupt(
            "the store lost benchmark contacts".into(),
        ));
    }
    let t = Instant::now();
    let mut read = 0;
    while read < contacts as usize {
        read += store.managed_contacts(read, 500)?.len().max(1);
    }
    f.batched_read_ms = ms(t);
    let t = Instant::now();
    for i in 0..contacts as usize {
        store.managed_contacts(i, 1)?;
    }
    f.per_contact_read_ms = ms(t);
    let t = Instant::now();
    for b in super::pack_batches(deletes.clone(), super::MAX_BATCH_OPS) {
        store.apply_batch(&b)?;
    }
    f.batched_delete_ms = ms(t);
    let t = Instant::now();
    for op in &inserts {
        store.apply_batch(std::slice::from_ref(op))?;
    }
    f.per_contact_insert_ms = ms(t);
    let t = Instant::now();
    for op in &deletes {
        store.apply_batch(std::slice::from_ref(op))?;
    }
    f.per_contact_delete_ms = ms(t);
    let t = Instant::now();
    for _ in 0..contacts {
        store.apply_batch(&[])?;
    }
    f.empty_calls_ms = ms(t);
    Ok(f)
}
