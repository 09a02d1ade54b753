//! The server's storage connection, SQLite or PostgreSQL behind one small API shaped like the
//! subset of rusqlite the server uses (`execute`, `query_row`, `prepare_cached` + `query_map`,
//! transactions, `optional()`), so that each query is written once, in the SQL both engines
//! speak. Where they differ, `dialect.rs` says so; the schemas are SQLite's
//! `schema*.sql` migrations and PostgreSQL's `schema_pg/` (`db.rs` runs both).
//!
//! One `Conn` per worker thread (`routes::Ctx`): the workers' connections are the pool. A
//! PostgreSQL connection that broke is opened again on the worker's next request, never in
//! the middle of a transaction.

pub mod dialect;
mod pg;
mod value;

use std::cell::RefCell;
use std::path::PathBuf;

pub use dialect::Dialect;
pub use pg::{LOCK_TIMEOUT, MIGRATION_LOCK};
pub use value::{FromSql, ToSql, ValueRef};

/// Where the server's data lives: a SQLite file, or a PostgreSQL database by URL.
#[derive(Clone, PartialEq, Eq)]
pub enum Database {
    Sqlite(PathBuf),
    /// `postgres://user[:password]@host:port/dbname`.
    Postgres(String),
}

impl Database {
    /// `postgres://` and `postgresql://` URLs select PostgreSQL; anything else is a SQLite path.
    pub fn parse(s: &str) -> Database {
        if s.starts_with("postgres://") || s.starts_with("postgresql://") {
            Database::Postgres(s.to_owned())
        } else {
            Database::Sqlite(PathBuf::from(s))
        }
    }

    /// The database as it may be printed: a URL's password is replaced by `***`.
    pub fn display(&self) -> String {
        match self {
            Database::Sqlite(p) => p.display().to_string(),
            Database::Postgres(url) => pg::redact(url),
        }
    }
}

impl std::fmt::Debug for Database {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.display())
    }
}

/// A storage error. Messages never carry values from a row or a parameter.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// `query_row` found nothing (`optional()` turns it into `None`).
    #[error("no row")]
    NoRows,
    /// A unique, foreign-key or check constraint refused the write.
    #[error("constraint violated")]
    Constraint,
    /// The database cannot answer now (connection lost, server shutting down or restarting,
    /// too many connections, a transaction that lost a conflict): try again shortly.
    #[error("database unavailable: {0}")]
    Unavailable(String),
    #[error("{0}")]
    Other(String),
}

pub type Result<T, E = Error> = std::result::Result<T, E>;

impl From<rusqlite::Error> for Error {
    fn from(e: rusqlite::Error) -> Self {
        match e {
            rusqlite::Error::QueryReturnedNoRows => Error::NoRows,
            rusqlite::Error::SqliteFailure(f, _)
                if f.code == rusqlite::ErrorCode::ConstraintViolation =>
            {
                Error::Constraint
            }
            rusqlite::Error::SqliteFailure(f, _)
                if matches!(
                    f.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) =>
            {
                Error::Unavailable("the database is busy".into())
            }
            other => Error::Other(format!("sqlite: {other}")),
        }
    }
}

/// `query_row(…).optional()`: no row is `None`, other errors stay errors.
pub trait OptionalExtension<T> {
    fn optional(self) -> Result<Option<T>>;
}

impl<T> OptionalExtension<T> for Result<T> {
    fn optional(self) -> Result<Option<T>> {
        match self {
            Ok(v) => Ok(Some(v)),
            Err(Error::NoRows) => Ok(None),
            Err(e) => Err(e),
        }
    }
}

/// A statement's parameters: `params![a, b]`, `[a, b]` of one type, or `params![]`.
pub trait Params {
    fn values(&self) -> Result<Vec<ValueRef<'_>>>;
}

/// `[]`: no parameters (its own impl, as rusqlite's, so that the empty array's type is known).
impl Params for [&dyn ToSql; 0] {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        Ok(Vec::new())
    }
}

macro_rules! array_params {
    ($($n:literal)*) => {$(
        impl<T: ToSql> Params for [T; $n] {
            fn values(&self) -> Result<Vec<ValueRef<'_>>> {
                self.iter().map(|p| p.to_sql()).collect()
            }
        }
    )*};
}
array_params!(1 2 3 4 5 6 7 8);

impl<T: ToSql> Params for &[T] {
    fn values(&self) -> Result<Vec<ValueRef<'_>>> {
        self.iter().map(|p| p.to_sql()).collect()
    }
}

/// `params![a, b, c]` as in rusqlite: parameters of different types.
#[macro_export]
macro_rules! params {
    () => { &[] as &[&dyn $crate::sql::ToSql] };
    ($($p:expr),+ $(,)?) => { &[$(&$p as &dyn $crate::sql::ToSql),+] as &[&dyn $crate::sql::ToSql] };
}
pub use crate::params;

/// One connection to the server's database.
pub struct Conn {
    backend: Backend,
}

enum Backend {
    Sqlite(rusqlite::Connection),
    Postgres(Box<RefCell<pg::Client>>),
}

/// How a transaction starts.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Begin {
    /// A transaction that writes. SQLite: IMMEDIATE, the write lock taken at BEGIN (a DEFERRED
    /// one that read first fails with SQLITE_BUSY when another writer committed meanwhile;
    /// this one waits its turn under the busy timeout). PostgreSQL: READ COMMITTED, holding
    /// the writers' lock (`pg.rs`) to the end: writers take turns, as on SQLite.
    Write,
    /// Reads only, from one snapshot: SQLite DEFERRED (one WAL read lock for all its reads);
    /// PostgreSQL REPEATABLE READ READ ONLY, without the writers' lock.
    Read,
}

impl Conn {
    pub(crate) fn from_sqlite(c: rusqlite::Connection) -> Conn {
        Conn {
            backend: Backend::Sqlite(c),
        }
    }

    /// Connects to PostgreSQL (no migration: `db::open` does that).
    pub fn connect_postgres(url: &str) -> Result<Conn> {
        Ok(Conn {
            backend: Backend::Postgres(Box::new(RefCell::new(pg::Client::connect(url)?))),
        })
    }

    pub fn dialect(&self) -> Dialect {
        match self.backend {
            Backend::Sqlite(_) => Dialect::Sqlite,
            Backend::Postgres(_) => Dialect::Postgres,
        }
    }

    /// The SQLite connection under this one, for what only SQLite has (blob I/O, pragmas).
    pub fn as_sqlite(&self) -> Option<&rusqlite::Connection> {
        match &self.backend {
            Backend::Sqlite(c) => Some(c),
            Backend::Postgres(_) => None,
        }
    }

    /// Runs statements without parameters, separated by `;` (schemas, migrations).
    pub fn execute_batch(&self, sql: &str) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(c) => Ok(c.execute_batch(sql)?),
            Backend::Postgres(c) => c.borrow_mut().batch(sql),
        }
    }

    pub fn execute<P: Params>(&self, sql: &str, params: P) -> Result<usize> {
        self.prepare_cached(sql)?.execute(params)
    }

    pub fn query_row<T, P: Params, F>(&self, sql: &str, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        self.prepare_cached(sql)?.query_row(params, f)
    }

    /// A statement prepared once per connection and kept (PostgreSQL: a server-side prepared
    /// statement, its `?n` placeholders written as `$n`).
    pub fn prepare_cached(&self, sql: &str) -> Result<Stmt<'_>> {
        let inner = match &self.backend {
            Backend::Sqlite(c) => StmtInner::Sqlite(c.prepare_cached(sql)?),
            Backend::Postgres(c) => StmtInner::Postgres(c.borrow_mut().prepare(sql)?),
        };
        Ok(Stmt { conn: self, inner })
    }

    /// A transaction that writes (`Begin::Write`): rolled back when dropped without
    /// `commit()`.
    pub fn transaction(&self) -> Result<Tx<'_>> {
        self.begin(Begin::Write)
    }

    /// A transaction that only reads (PostgreSQL refuses a write in it).
    pub fn read_transaction(&self) -> Result<Tx<'_>> {
        self.begin(Begin::Read)
    }

    pub fn begin(&self, how: Begin) -> Result<Tx<'_>> {
        match &self.backend {
            Backend::Sqlite(c) => c.execute_batch(match how {
                Begin::Write => "BEGIN IMMEDIATE",
                Begin::Read => "BEGIN DEFERRED",
            })?,
            Backend::Postgres(c) => c.borrow_mut().begin(how == Begin::Read)?,
        }
        Ok(Tx {
            conn: self,
            done: false,
        })
    }

    fn end(&self, commit: bool) -> Result<()> {
        match &self.backend {
            Backend::Sqlite(c) => {
                Ok(c.execute_batch(if commit { "COMMIT" } else { "ROLLBACK" })?)
            }
            Backend::Postgres(c) => c.borrow_mut().end(commit),
        }
    }
}

/// A transaction on a `Conn` (which it dereferences to, like rusqlite's).
pub struct Tx<'c> {
    conn: &'c Conn,
    done: bool,
}

impl Tx<'_> {
    pub fn commit(mut self) -> Result<()> {
        self.done = true;
        self.conn.end(true)
    }

    pub fn rollback(mut self) -> Result<()> {
        self.done = true;
        self.conn.end(false)
    }
}

impl std::ops::Deref for Tx<'_> {
    type Target = Conn;
    fn deref(&self) -> &Conn {
        self.conn
    }
}

impl Drop for Tx<'_> {
    fn drop(&mut self) {
        if !self.done {
            // A lost connection has rolled it back already; nothing more to do then.
            let _ = self.conn.end(false);
        }
    }
}

pub struct Stmt<'c> {
    conn: &'c Conn,
    inner: StmtInner<'c>,
}

enum StmtInner<'c> {
    Sqlite(rusqlite::CachedStatement<'c>),
    Postgres(postgres::Statement),
}

fn sqlite_params<'a>(values: &'a [ValueRef<'a>]) -> Vec<rusqlite::types::ValueRef<'a>> {
    use rusqlite::types::ValueRef as R;
    values
        .iter()
        .map(|v| match *v {
            ValueRef::Null => R::Null,
            ValueRef::Integer(i) => R::Integer(i),
            ValueRef::Real(f) => R::Real(f),
            ValueRef::Text(s) => R::Text(s.as_bytes()),
            ValueRef::Blob(b) => R::Blob(b),
        })
        .collect()
}

struct SqliteParam<'a>(rusqlite::types::ValueRef<'a>);

impl rusqlite::ToSql for SqliteParam<'_> {
    fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
        Ok(rusqlite::types::ToSqlOutput::Borrowed(self.0))
    }
}

impl Stmt<'_> {
    pub fn execute<P: Params>(&mut self, params: P) -> Result<usize> {
        let values = params.values()?;
        match &mut self.inner {
            StmtInner::Sqlite(s) => {
                let p = sqlite_params(&values);
                Ok(s.execute(rusqlite::params_from_iter(p.into_iter().map(SqliteParam)))?)
            }
            StmtInner::Postgres(s) => pg_conn(self.conn).execute(s, &values),
        }
    }

    pub fn query_row<T, P: Params, F>(&mut self, params: P, f: F) -> Result<T>
    where
        F: FnOnce(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        match rows.next()? {
            Some(r) => f(&r),
            None => Err(Error::NoRows),
        }
    }

    /// Every row through `f`, read now; stops at the first error, which it yields last.
    pub fn query_map<T, P: Params, F>(
        &mut self,
        params: P,
        mut f: F,
    ) -> Result<std::vec::IntoIter<Result<T>>>
    where
        F: FnMut(&Row<'_>) -> Result<T>,
    {
        let mut rows = self.query(params)?;
        let mut out = Vec::new();
        loop {
            match rows.next() {
                Ok(Some(r)) => {
                    let v = f(&r);
                    let stop = v.is_err();
                    out.push(v);
                    if stop {
                        break;
                    }
                }
                Ok(None) => break,
                Err(e) => {
                    out.push(Err(e));
                    break;
                }
            }
        }
        Ok(out.into_iter())
    }

    pub fn query<P: Params>(&mut self, params: P) -> Result<Rows<'_>> {
        let values = params.values()?;
        match &mut self.inner {
            StmtInner::Sqlite(s) => {
                let p = sqlite_params(&values);
                let rows = s.query(rusqlite::params_from_iter(p.into_iter().map(SqliteParam)))?;
                Ok(Rows::Sqlite(rows))
            }
            StmtInner::Postgres(s) => {
                let rows = pg_conn(self.conn).query(s, &values)?;
                Ok(Rows::Postgres(rows.into_iter(), None))
            }
        }
    }
}

fn pg_conn(conn: &Conn) -> std::cell::RefMut<'_, pg::Client> {
    match &conn.backend {
        Backend::Postgres(c) => c.borrow_mut(),
        Backend::Sqlite(_) => unreachable!("a PostgreSQL statement on a SQLite connection"),
    }
}

/// Rows of a query, read one by one (SQLite: as the statement steps; PostgreSQL: fetched).
pub enum Rows<'s> {
    Sqlite(rusqlite::Rows<'s>),
    Postgres(std::vec::IntoIter<postgres::Row>, Option<postgres::Row>),
}

impl Rows<'_> {
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<Option<Row<'_>>> {
        match self {
            Rows::Sqlite(r) => Ok(r.next()?.map(Row::Sqlite)),
            Rows::Postgres(it, current) => {
                *current = it.next();
                Ok(current.as_ref().map(Row::Postgres))
            }
        }
    }
}

/// A column's position (as rusqlite's trait, so that `r.get(0)` infers `usize`).
pub trait RowIndex {
    fn index(self) -> usize;
}

impl RowIndex for usize {
    fn index(self) -> usize {
        self
    }
}

/// One row; columns by index.
pub enum Row<'r> {
    Sqlite(&'r rusqlite::Row<'r>),
    Postgres(&'r postgres::Row),
}

impl Row<'_> {
    pub fn get<I: RowIndex, T: FromSql>(&self, idx: I) -> Result<T> {
        let idx = idx.index();
        match self {
            Row::Sqlite(r) => {
                use rusqlite::types::ValueRef as R;
                let v = match r.get_ref(idx)? {
                    R::Null => ValueRef::Null,
                    R::Integer(i) => ValueRef::Integer(i),
                    R::Real(f) => ValueRef::Real(f),
                    R::Text(t) => ValueRef::Text(
                        std::str::from_utf8(t)
                            .map_err(|_| Error::Other("a text column is not UTF-8".into()))?,
                    ),
                    R::Blob(b) => ValueRef::Blob(b),
                };
                T::from_sql(v)
            }
            Row::Postgres(r) => pg::column(r, idx, T::from_sql),
        }
    }
}
