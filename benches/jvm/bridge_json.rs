//! The JSON bridge the binary layout replaced, kept for one purpose: the JVM bench
//! (`tests/jvm/src/test/kotlin/BridgeBench.kt`) measures both in the same run. Compiled into
//! the library only with the `bridge-json-bench` feature (never in an app build): two JNI
//! functions the bench calls with a Kotlin store that parses these shapes with `org.json`, as
//! the shell did before. The shapes are those of the old `src/store/bridge.rs`.

use base64::engine::general_purpose::STANDARD;
use base64::Engine;
use jni::errors::ThrowRuntimeExAndDefault;
use jni::objects::{JByteArray, JClass, JObject, JValue};
use jni::{jni_sig, jni_str, EnvUnowned};
use serde::{Deserialize, Serialize};

use crate::store::rows::{to_rows, OWNED_MIMETYPES};
use crate::store::{pack_batches, ContactWrite, PhotoWrite, StoreOp, MAX_BATCH_OPS};

#[derive(Serialize)]
struct Row {
    mimetype: String,
    data: [Option<String>; 10],
    #[serde(skip_serializing_if = "std::ops::Not::not")]
    primary: bool,
}

#[derive(Serialize)]
#[serde(tag = "op", rename_all = "snake_case")]
enum Op {
    Insert(Write),
    Update(Update),
    Delete { id: String },
}

#[derive(Serialize)]
struct Update {
    #[serde(flatten)]
    write: Write,
    owned_mimetypes: Vec<String>,
}

#[derive(Serialize)]
struct Write {
    id: String,
    hash: String,
    display_name: String,
    rows: Vec<Row>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    group_source_ids: Vec<String>,
    photo_action: String,
    photo_hash: Option<String>,
    photo: Option<String>,
}

#[derive(Deserialize)]
#[allow(dead_code)] // Read as the core read it; only the parse is measured.
struct Entry {
    raw_id: i64,
    id: String,
    hash: String,
    photo_hash: Option<String>,
    state: String,
}

fn write(w: &ContactWrite) -> Write {
    let (action, hash, photo) = match &w.photo {
        PhotoWrite::Keep => ("keep", None, None),
        PhotoWrite::Clear => ("clear", None, None),
        PhotoWrite::Set { hash, bytes } => {
            ("set", Some(hash.clone()), Some(STANDARD.encode(bytes)))
        }
    };
    Write {
        id: w.id.clone(),
        hash: w.hash.clone(),
        display_name: w.data.display_name.clone(),
        rows: to_rows(&w.data)
            .into_iter()
            .map(|r| Row {
                mimetype: r.mimetype.to_owned(),
                data: r.data,
                primary: r.primary,
            })
            .collect(),
        group_source_ids: w.data.groups.iter().map(|g| g.id.clone()).collect(),
        photo_action: action.into(),
        photo_hash: hash,
        photo,
    }
}

fn encode(ops: &[StoreOp]) -> Vec<u8> {
    let ops: Vec<Op> = ops
        .iter()
        .filter_map(|op| match op {
            StoreOp::Insert(w) => Some(Op::Insert(write(w))),
            StoreOp::Update(w) => Some(Op::Update(Update {
                write: write(w),
                owned_mimetypes: OWNED_MIMETYPES.iter().map(|m| (*m).to_owned()).collect(),
            })),
            StoreOp::Delete { id } => Some(Op::Delete { id: id.clone() }),
            _ => None,
        })
        .collect();
    serde_json::to_vec(&ops).unwrap_or_default()
}

/// `BridgeJsonBench.insert(store, contacts)`: the bench's synthetic contacts, encoded as JSON
/// and applied through `applyBatchJson` in batches of ≤ 499 operations; milliseconds.
#[unsafe(no_mangle)]
pub extern "system" fn Java_app_contactsagent_sdk_BridgeJsonBench_insert<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    store: JObject<'caller>,
    contacts: i32,
) -> f64 {
    unowned
        .with_env(|env| -> jni::errors::Result<f64> {
            let ops: Vec<StoreOp> = (0..contacts.max(0) as u32)
                .map(crate::store::jni::synthetic)
                .collect();
            let batches = pack_batches(ops, MAX_BATCH_OPS);
            let t = std::time::Instant::now();
            for b in &batches {
                let json = encode(b);
                env.with_local_frame(8, |env| -> jni::errors::Result<()> {
                    let arr = env.byte_array_from_slice(&json)?;
                    env.call_method(
                        &store,
                        jni_str!("applyBatchJson"),
                        jni_sig!((ops: byte[]) -> void),
                        &[JValue::Object(&arr)],
                    )?;
                    Ok(())
                })?;
            }
            Ok(t.elapsed().as_secs_f64() * 1000.0)
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}

/// `BridgeJsonBench.index(store)`: `managedIndexJson` read and parsed; milliseconds (negative
/// when the answer did not parse).
#[unsafe(no_mangle)]
pub extern "system" fn Java_app_contactsagent_sdk_BridgeJsonBench_index<'caller>(
    mut unowned: EnvUnowned<'caller>,
    _class: JClass<'caller>,
    store: JObject<'caller>,
) -> f64 {
    unowned
        .with_env(|env| -> jni::errors::Result<f64> {
            let t = std::time::Instant::now();
            let bytes = env.with_local_frame(8, |env| -> jni::errors::Result<Vec<u8>> {
                let v = env
                    .call_method(
                        &store,
                        jni_str!("managedIndexJson"),
                        jni_sig!(() -> byte[]),
                        &[],
                    )?
                    .l()?;
                let array = env.cast_local::<JByteArray>(v)?;
                env.convert_byte_array(&array)
            })?;
            let parsed = serde_json::from_slice::<Vec<Entry>>(&bytes);
            let ms = t.elapsed().as_secs_f64() * 1000.0;
            Ok(if parsed.is_ok() { ms } else { -ms })
        })
        .resolve::<ThrowRuntimeExAndDefault>()
}
