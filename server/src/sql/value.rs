//! The values that cross the storage layer, and the Rust types the server reads and binds,
//! whichever backend holds them: SQLite's five storage classes, which PostgreSQL's columns map
//! onto (`BIGINT` → Integer, `TEXT` → Text, `BYTEA` → Blob, `DOUBLE PRECISION` → Real).

use super::Error;

/// A borrowed value: a parameter being bound, or a column being read.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum ValueRef<'a> {
    Null,
    Integer(i64),
    Real(f64),
    Text(&'a str),
    Blob(&'a [u8]),
}

/// A Rust value bound as a statement parameter.
pub trait ToSql {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error>;
}

/// A Rust value read from a column.
pub trait FromSql: Sized {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, Error>;
}

fn mismatch(want: &str, got: ValueRef<'_>) -> Error {
    let got = match got {
        ValueRef::Null => "NULL",
        ValueRef::Integer(_) => "an integer",
        ValueRef::Real(_) => "a real",
        ValueRef::Text(_) => "text",
        ValueRef::Blob(_) => "a blob",
    };
    Error::Other(format!("column holds {got}, read as {want}"))
}

fn out_of_range(what: &str) -> Error {
    Error::Other(format!("integer out of range for {what}"))
}

impl<T: ToSql + ?Sized> ToSql for &T {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        (**self).to_sql()
    }
}

impl<T: ToSql> ToSql for Option<T> {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        match self {
            Some(v) => v.to_sql(),
            None => Ok(ValueRef::Null),
        }
    }
}

impl ToSql for str {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Text(self))
    }
}

impl ToSql for String {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Text(self))
    }
}

impl ToSql for [u8] {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToSql for Vec<u8> {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Blob(self))
    }
}

impl ToSql for bool {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Integer(i64::from(*self)))
    }
}

impl ToSql for f64 {
    fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
        Ok(ValueRef::Real(*self))
    }
}

macro_rules! integer {
    ($($t:ty),*) => {$(
        impl ToSql for $t {
            fn to_sql(&self) -> Result<ValueRef<'_>, Error> {
                i64::try_from(*self).map(ValueRef::Integer).map_err(|_| out_of_range("i64"))
            }
        }
        impl FromSql for $t {
            fn from_sql(v: ValueRef<'_>) -> Result<Self, Error> {
                match v {
                    ValueRef::Integer(i) => {
                        <$t>::try_from(i).map_err(|_| out_of_range(stringify!($t)))
                    }
                    other => Err(mismatch(stringify!($t), other)),
                }
            }
        }
    )*};
}
integer!(i64, i32, u32, u64, usize, u16, u8);

impl<T: FromSql> FromSql for Option<T> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, Error> {
        match v {
            ValueRef::Null => Ok(None),
            other => T::from_sql(other).map(Some),
        }
    }
}

impl FromSql for bool {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, Error> {
        match v {
            ValueRef::Integer(i) => Ok(i != 0),
            other => Err(mismatch("bool", other)),
        }
    }
}

impl FromSql for f64 {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, Error> {
        match v {
            ValueRef::Real(f) => Ok(f),
            ValueRef::Integer(i) => Ok(i as f64),
            other => Err(mismatch("f64", other)),
        }
    }
}

impl FromSql for String {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, Error> {
        match v {
            ValueRef::Text(s) => Ok(s.to_owned()),
            other => Err(mismatch("text", other)),
        }
    }
}

impl FromSql for Vec<u8> {
    fn from_sql(v: ValueRef<'_>) -> Result<Self, Error> {
        match v {
            ValueRef::Blob(b) => Ok(b.to_vec()),
            other => Err(mismatch("blob", other)),
        }
    }
}
