//! The one place where the SQL the server sends differs between SQLite and PostgreSQL. Every
//! other query is written once, in what both engines accept (`ON CONFLICT … DO NOTHING`,
//! `IS DISTINCT FROM`, `RETURNING`, `octet_length`, `CAST(SUM(…) AS BIGINT)`).

#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum Dialect {
    Sqlite,
    Postgres,
}

impl Dialect {
    /// A table of the text values of the JSON array in `param`, named `alias` with one column
    /// `value`: SQLite's `json_each`, PostgreSQL's `jsonb_array_elements_text`.
    pub fn json_values(self, param: &str, alias: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_each({param}) AS {alias}"),
            Dialect::Postgres => {
                format!("jsonb_array_elements_text(CAST({param} AS jsonb)) AS {alias}(value)")
            }
        }
    }

    /// The text of the top-level `key` of the JSON object in column `expr`.
    pub fn json_text(self, expr: &str, key: &str) -> String {
        match self {
            Dialect::Sqlite => format!("json_extract({expr}, '$.{key}')"),
            Dialect::Postgres => format!("(CAST({expr} AS jsonb) ->> '{key}')"),
        }
    }

    /// A column that orders a table's rows as they were inserted: SQLite's `rowid`, the
    /// identity column `seq` PostgreSQL's `backups` has for it.
    pub fn insertion_order(self) -> &'static str {
        match self {
            Dialect::Sqlite => "rowid",
            Dialect::Postgres => "seq",
        }
    }

    /// What to write after an `ORDER BY` column that may be NULL so that NULLs sort where
    /// SQLite puts them (smallest: first ascending, last descending); PostgreSQL's default is
    /// the opposite. Its indexes for such orders say the same (`schema_pg/`).
    pub fn nulls_as_sqlite(self, descending: bool) -> &'static str {
        match (self, descending) {
            (Dialect::Sqlite, _) => "",
            (Dialect::Postgres, false) => " NULLS FIRST",
            (Dialect::Postgres, true) => " NULLS LAST",
        }
    }

    /// A LIKE that ignores case: SQLite's LIKE does for ASCII letters; PostgreSQL's LIKE does
    /// not, its ILIKE does (for every letter, a little more than SQLite).
    pub fn like_any_case(self) -> &'static str {
        match self {
            Dialect::Sqlite => "LIKE",
            Dialect::Postgres => "ILIKE",
        }
    }
}
