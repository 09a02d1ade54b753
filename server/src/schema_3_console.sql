-- Admin console sign-ins: the cookie holds the session id; every form carries the session's
-- CSRF token.
CREATE TABLE console_sessions (
    id         TEXT PRIMARY KEY,
    csrf       TEXT NOT NULL,
    created_at TEXT NOT NULL
);
