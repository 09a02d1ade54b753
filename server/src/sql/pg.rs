//! The PostgreSQL side of `sql`: one blocking `postgres::Client` per worker, its prepared
//! statements cached by their text, parameters encoded as the type PostgreSQL inferred for
//! them, columns read by their actual type, and its errors sorted into `sql::Error`.

use std::collections::HashMap;
use std::time::Duration;

use postgres::types::{IsNull, Kind, ToSql as PgToSql, Type};
use postgres::{NoTls, Statement};

use super::{Error, Result, ValueRef};

/// Held for the length of every transaction (`pg_advisory_xact_lock`): writers take turns, as
/// SQLite's one writer does, so every read-then-write the server does stays correct on
/// PostgreSQL without a retry loop around each transaction (docs/decisions.md).
const WRITERS_LOCK: i64 = 0x6361_5f77_7269_7465;
/// Held while migrating, so that two processes starting at once migrate once.
pub const MIGRATION_LOCK: i64 = 0x6361_5f6d_6967_7261;
/// How long a request waits for a lock (the writers' turn, a row): SQLite's busy timeout.
pub const LOCK_TIMEOUT: &str = "10s";
/// Prepared statements kept per connection; past it the cache starts again (only statements
/// built with `format!` could grow it).
const CACHE_LIMIT: usize = 512;

pub(crate) struct Client {
    /// `None` only after a reconnection failed; the next use tries again.
    client: Option<postgres::Client>,
    config: postgres::Config,
    statements: HashMap<String, Statement>,
    in_tx: bool,
}

fn parse(url: &str) -> Result<postgres::Config> {
    let mut config: postgres::Config = url
        .parse()
        .map_err(|_| Error::Other(format!("not a valid PostgreSQL URL: {}", redact(url))))?;
    config.connect_timeout(Duration::from_secs(10));
    config.application_name("contacts-agent-server");
    Ok(config)
}

impl Client {
    pub(crate) fn connect(url: &str) -> Result<Client> {
        let config = parse(url)?;
        let client = open_client(&config)?;
        Ok(Client {
            client: Some(client),
            config,
            statements: HashMap::new(),
            in_tx: false,
        })
    }

    /// A connection that broke is opened again, but never inside a transaction: the
    /// statements after it would run outside the transaction the caller thinks it has.
    fn ensure_open(&mut self) -> Result<&mut postgres::Client> {
        let open = self.client.as_ref().is_some_and(|c| !c.is_closed());
        if !open {
            if self.in_tx {
                return Err(Error::Unavailable("the connection was lost".into()));
            }
            self.statements.clear();
            self.client = None;
            self.client = Some(open_client(&self.config)?);
        }
        self.open()
    }

    /// The connection, as it is (a statement already prepared on it runs on it or fails).
    fn open(&mut self) -> Result<&mut postgres::Client> {
        self.client
            .as_mut()
            .ok_or_else(|| Error::Unavailable("not connected".into()))
    }

    pub(crate) fn batch(&mut self, sql: &str) -> Result<()> {
        self.ensure_open()?.batch_execute(sql).map_err(error)
    }

    pub(crate) fn prepare(&mut self, sql: &str) -> Result<Statement> {
        self.ensure_open()?;
        if let Some(s) = self.statements.get(sql) {
            return Ok(s.clone());
        }
        let s = self.open()?.prepare(&placeholders(sql)).map_err(error)?;
        if self.statements.len() >= CACHE_LIMIT {
            self.statements.clear();
        }
        self.statements.insert(sql.to_owned(), s.clone());
        Ok(s)
    }

    pub(crate) fn execute(&mut self, s: &Statement, values: &[ValueRef<'_>]) -> Result<usize> {
        let params: Vec<Param<'_>> = values.iter().map(|v| Param(*v)).collect();
        let refs: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p as _).collect();
        let n = self.open()?.execute(s, &refs).map_err(error)?;
        Ok(n as usize)
    }

    pub(crate) fn query(
        &mut self,
        s: &Statement,
        values: &[ValueRef<'_>],
    ) -> Result<Vec<postgres::Row>> {
        let params: Vec<Param<'_>> = values.iter().map(|v| Param(*v)).collect();
        let refs: Vec<&(dyn PgToSql + Sync)> = params.iter().map(|p| p as _).collect();
        self.open()?.query(s, &refs).map_err(error)
    }

    pub(crate) fn begin(&mut self, read_only: bool) -> Result<()> {
        let begin = if read_only {
            "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY".to_owned()
        } else {
            format!(
                "BEGIN ISOLATION LEVEL READ COMMITTED; SELECT pg_advisory_xact_lock({WRITERS_LOCK})"
            )
        };
        let client = self.ensure_open()?;
        if let Err(e) = client.batch_execute(&begin) {
            // Waiting for the lock can fail with the transaction open: close it.
            let _ = client.batch_execute("ROLLBACK");
            return Err(error(e));
        }
        self.in_tx = true;
        Ok(())
    }

    pub(crate) fn end(&mut self, commit: bool) -> Result<()> {
        self.in_tx = false;
        let client = self.open()?;
        if client.is_closed() {
            return Err(Error::Unavailable("the connection was lost".into()));
        }
        client
            .batch_execute(if commit { "COMMIT" } else { "ROLLBACK" })
            .map_err(error)
    }
}

impl Drop for Client {
    /// `postgres::Client` closes by blocking on its own runtime, which panics on a tokio
    /// thread: a pool dropped with the server's runtime is, so it closes on a thread of its own.
    fn drop(&mut self) {
        if let Some(c) = self.client.take() {
            if tokio::runtime::Handle::try_current().is_ok() {
                let _ = std::thread::Builder::new()
                    .name("pg-close".into())
                    .spawn(move || drop(c));
            }
        }
    }
}

/// A connection that waits for a lock 10 s at most, as SQLite's busy timeout: then the
/// request is a 503 (55P03) instead of a worker stuck behind a stuck writer.
fn open_client(config: &postgres::Config) -> Result<postgres::Client> {
    let mut client = config.connect(NoTls).map_err(connect_error)?;
    client
        .batch_execute(&format!("SET lock_timeout = '{LOCK_TIMEOUT}'"))
        .map_err(error)?;
    Ok(client)
}

/// `?1` and `?` (SQLite's placeholders) as `$1`, outside quoted text.
pub(crate) fn placeholders(sql: &str) -> String {
    let mut out = String::with_capacity(sql.len() + 8);
    let mut next = 1u32;
    let mut chars = sql.chars().peekable();
    let mut quote: Option<char> = None;
    while let Some(c) = chars.next() {
        match (quote, c) {
            (Some(q), _) if c == q => {
                quote = None;
                out.push(c);
            }
            (Some(_), _) => out.push(c),
            (None, '\'' | '"') => {
                quote = Some(c);
                out.push(c);
            }
            (None, '?') => {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                let n = if digits.is_empty() {
                    next
                } else {
                    digits.parse().unwrap_or(next)
                };
                next = next.max(n + 1);
                out.push('$');
                out.push_str(&n.to_string());
            }
            (None, _) => out.push(c),
        }
    }
    out
}

/// The URL with its password (in the user part or a `password=` parameter) as `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else {
        return url.to_owned();
    };
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let mut out = url[..scheme_end].to_owned();
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user = &rest[..at];
            match user.find(':') {
                Some(colon) => {
                    out.push_str(&user[..colon]);
                    out.push_str(":***");
                }
                None => out.push_str(user),
            }
            out.push_str(&rest[at..authority_end]);
        }
        None => out.push_str(&rest[..authority_end]),
    }
    let tail = &rest[authority_end..];
    match tail.find('?') {
        Some(q) => {
            out.push_str(&tail[..=q]);
            let params: Vec<String> = tail[q + 1..]
                .split('&')
                .map(|kv| match kv.split_once('=') {
                    Some((k, _)) if k.eq_ignore_ascii_case("password") => format!("{k}=***"),
                    _ => kv.to_owned(),
                })
                .collect();
            out.push_str(&params.join("&"));
        }
        None => out.push_str(tail),
    }
    out
}

fn connect_error(e: postgres::Error) -> Error {
    match e.as_db_error() {
        // Refused by the server (wrong password, no such database or role): not something
        // a retry fixes.
        Some(db) if !is_transient(db.code().code()) => Error::Other(format!(
            "PostgreSQL refused the connection: {}",
            db.message()
        )),
        _ => Error::Unavailable(format!("cannot connect to PostgreSQL: {}", source_text(&e))),
    }
}

/// The error's own text and its cause's, which for a refused socket is the OS's reason.
fn source_text(e: &postgres::Error) -> String {
    match std::error::Error::source(e) {
        Some(s) => format!("{e} ({s})"),
        None => e.to_string(),
    }
}

/// SQLSTATEs that say "not now" rather than "never": connection failures (class 08),
/// the server going down or starting (57P01-57P03), too many connections (53300), a
/// transaction that lost a conflict (40001 serialization, 40P01 deadlock), a lock not had
/// within `lock_timeout` (55P03).
fn is_transient(code: &str) -> bool {
    code.starts_with("08")
        || matches!(
            code,
            "57P01" | "57P02" | "57P03" | "53300" | "40001" | "40P01" | "55P03"
        )
}

pub(crate) fn error(e: postgres::Error) -> Error {
    match e.as_db_error() {
        Some(db) => {
            let code = db.code().code();
            if code.starts_with("23") {
                Error::Constraint
            } else if is_transient(code) {
                Error::Unavailable(format!("PostgreSQL {code}"))
            } else if code.starts_with("42") {
                // Syntax and schema errors name SQL, never a value.
                Error::Other(format!("PostgreSQL {code}: {}", db.message()))
            } else {
                // Other messages (bad input syntax, …) can quote a value.
                Error::Other(format!("PostgreSQL {code}"))
            }
        }
        None if e.is_closed()
            || std::error::Error::source(&e).is_some_and(|s| s.is::<std::io::Error>()) =>
        {
            Error::Unavailable("the connection to PostgreSQL was lost".into())
        }
        None => Error::Other(format!("PostgreSQL: {e}")),
    }
}

/// A parameter, written as the type PostgreSQL inferred for its placeholder: the driver
/// refuses an `i64` for an `INT4` otherwise.
#[derive(Debug)]
struct Param<'a>(ValueRef<'a>);

type BoxError = Box<dyn std::error::Error + Sync + Send>;

impl PgToSql for Param<'_> {
    fn to_sql(&self, ty: &Type, out: &mut bytes::BytesMut) -> Result<IsNull, BoxError> {
        let ty = match ty.kind() {
            Kind::Domain(inner) => inner,
            _ => ty,
        };
        match self.0 {
            ValueRef::Null => Ok(IsNull::Yes),
            ValueRef::Integer(i) => match *ty {
                Type::INT8 => i.to_sql(ty, out),
                Type::INT4 => i32::try_from(i)?.to_sql(ty, out),
                Type::INT2 => i16::try_from(i)?.to_sql(ty, out),
                Type::BOOL => (i != 0).to_sql(ty, out),
                Type::FLOAT8 => (i as f64).to_sql(ty, out),
                Type::TEXT | Type::VARCHAR => i.to_string().to_sql(ty, out),
                _ => Err(format!("an integer bound to a {ty} parameter").into()),
            },
            ValueRef::Real(f) => match *ty {
                Type::FLOAT8 => f.to_sql(ty, out),
                Type::FLOAT4 => (f as f32).to_sql(ty, out),
                _ => Err(format!("a real bound to a {ty} parameter").into()),
            },
            ValueRef::Text(s) => match *ty {
                Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME | Type::UNKNOWN => {
                    s.to_sql(ty, out)
                }
                Type::JSON => {
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::JSONB => {
                    // Binary jsonb is a version byte and the text.
                    out.extend_from_slice(&[1]);
                    out.extend_from_slice(s.as_bytes());
                    Ok(IsNull::No)
                }
                Type::BYTEA => s.as_bytes().to_sql(ty, out),
                _ => Err(format!("text bound to a {ty} parameter").into()),
            },
            ValueRef::Blob(b) => match *ty {
                Type::BYTEA => b.to_sql(ty, out),
                _ => Err(format!("a blob bound to a {ty} parameter").into()),
            },
        }
    }

    fn accepts(_: &Type) -> bool {
        true
    }

    postgres::types::to_sql_checked!();
}

/// Column `idx` of `row`, read as its actual type and handed to `f` as a `ValueRef`.
pub(crate) fn column<T>(
    row: &postgres::Row,
    idx: usize,
    f: impl FnOnce(ValueRef<'_>) -> Result<T>,
) -> Result<T> {
    let Some(col) = row.columns().get(idx) else {
        return Err(Error::Other(format!("no column {idx}")));
    };
    let get_err = |e: postgres::Error| Error::Other(format!("column {idx}: {e}"));
    let ty = col.type_().clone();
    let v = match ty {
        Type::INT8 => row
            .try_get::<_, Option<i64>>(idx)
            .map_err(get_err)?
            .map(ValueRef::Integer),
        Type::INT4 => row
            .try_get::<_, Option<i32>>(idx)
            .map_err(get_err)?
            .map(|v| ValueRef::Integer(v.into())),
        Type::INT2 => row
            .try_get::<_, Option<i16>>(idx)
            .map_err(get_err)?
            .map(|v| ValueRef::Integer(v.into())),
        Type::BOOL => row
            .try_get::<_, Option<bool>>(idx)
            .map_err(get_err)?
            .map(|v| ValueRef::Integer(v.into())),
        Type::FLOAT8 => row
            .try_get::<_, Option<f64>>(idx)
            .map_err(get_err)?
            .map(ValueRef::Real),
        Type::FLOAT4 => row
            .try_get::<_, Option<f32>>(idx)
            .map_err(get_err)?
            .map(|v| ValueRef::Real(v.into())),
        Type::TEXT | Type::VARCHAR | Type::BPCHAR | Type::NAME => row
            .try_get::<_, Option<&str>>(idx)
            .map_err(get_err)?
            .map(ValueRef::Text),
        Type::BYTEA => row
            .try_get::<_, Option<&[u8]>>(idx)
            .map_err(get_err)?
            .map(ValueRef::Blob),
        other => {
            return Err(Error::Other(format!(
                "column {idx} is {other}: cast it to BIGINT, TEXT or BYTEA in the query"
            )))
        }
    };
    f(v.unwrap_or(ValueRef::Null))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn placeholders_become_dollars_outside_quotes() {
        assert_eq!(placeholders("a = ?1 AND b = ?12"), "a = $1 AND b = $12");
        assert_eq!(placeholders("a = ? AND b = ?"), "a = $1 AND b = $2");
        assert_eq!(placeholders("a = ?2, b = ?"), "a = $2, b = $3");
        assert_eq!(placeholders("x = '?1' AND y = ?1"), "x = '?1' AND y = $1");
    }

    #[test]
    fn not_now_is_told_from_never() {
        for code in [
            "08006", "08001", "57P01", "57P03", "53300", "40001", "40P01", "55P03",
        ] {
            assert!(is_transient(code), "{code}");
        }
        for code in ["23505", "42601", "22P02", "28P01", "3D000"] {
            assert!(!is_transient(code), "{code}");
        }
    }

    #[test]
    fn passwords_are_redacted() {
        assert_eq!(
            redact("postgres://app:s3cr%40t@db.example:5432/contacts"),
            "postgres://app:***@db.example:5432/contacts"
        );
        assert_eq!(
            redact("postgresql://app@db/contacts?sslmode=disable&password=hunter2"),
            "postgresql://app@db/contacts?sslmode=disable&password=***"
        );
        assert_eq!(redact("postgres://db/contacts"), "postgres://db/contacts");
        assert_eq!(redact("postgres://a:b@c@host/d"), "postgres://a:***@host/d");
    }
}
