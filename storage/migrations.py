"""The schema, as an ordered list of migrations applied by `PRAGMA user_version`.

Append new migrations; never edit one that has shipped: databases in the field are at every
version between 0 and `LATEST`, and each step must take them one version forward.
"""

from __future__ import annotations

from typing import Final

CORE: Final = """
CREATE TABLE channels (
    id            INTEGER PRIMARY KEY,
    handle        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    source        TEXT NOT NULL CHECK (source IN ('telegram', 'web')),
    title         TEXT,
    last_post_id  INTEGER,               -- NULL: never read, the next read is first sight
    from_config   INTEGER NOT NULL DEFAULT 0,
    removed_at    TEXT,                  -- set when an operator removes it; kept for history
    last_error    TEXT,
    last_error_at TEXT,
    last_ok_at    TEXT,
    added_at      TEXT NOT NULL
);

CREATE TABLE topics (
    id          INTEGER PRIMARY KEY,
    name        TEXT NOT NULL UNIQUE COLLATE NOCASE,
    from_config INTEGER NOT NULL DEFAULT 0,
    removed_at  TEXT,
    created_at  TEXT NOT NULL
);

CREATE TABLE topic_terms (
    topic_id INTEGER NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    kind     TEXT NOT NULL CHECK (kind IN ('term', 'require', 'exclude')),
    position INTEGER NOT NULL,
    term     TEXT NOT NULL,
    PRIMARY KEY (topic_id, kind, position)
);

CREATE TABLE posts (
    id         INTEGER PRIMARY KEY,
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    post_id    INTEGER NOT NULL,
    date       TEXT NOT NULL,
    text       TEXT NOT NULL,
    edit_date  TEXT,
    lemmas     TEXT NOT NULL DEFAULT '',
    is_history INTEGER NOT NULL DEFAULT 0,
    stored_at  TEXT NOT NULL,
    UNIQUE (channel_id, post_id)
);
CREATE INDEX posts_by_date ON posts (date);

CREATE VIRTUAL TABLE posts_fts USING fts5 (
    text UNINDEXED, lemmas, content = 'posts', content_rowid = 'id'
);
CREATE TRIGGER posts_fts_insert AFTER INSERT ON posts BEGIN
    INSERT INTO posts_fts (rowid, text, lemmas) VALUES (new.id, new.text, new.lemmas);
END;
CREATE TRIGGER posts_fts_delete AFTER DELETE ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text, lemmas)
    VALUES ('delete', old.id, old.text, old.lemmas);
END;
CREATE TRIGGER posts_fts_update AFTER UPDATE OF text, lemmas ON posts BEGIN
    INSERT INTO posts_fts (posts_fts, rowid, text, lemmas)
    VALUES ('delete', old.id, old.text, old.lemmas);
    INSERT INTO posts_fts (rowid, text, lemmas) VALUES (new.id, new.text, new.lemmas);
END;

CREATE TABLE matches (
    id         INTEGER PRIMARY KEY,
    post       INTEGER NOT NULL REFERENCES posts (id) ON DELETE CASCADE,
    topic_id   INTEGER NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    terms      TEXT NOT NULL,            -- JSON list of the matched words as written
    spans      TEXT NOT NULL,            -- JSON list of [start, end] offsets into posts.text
    matched_at TEXT NOT NULL,
    UNIQUE (post, topic_id)
);
CREATE INDEX matches_by_topic ON matches (topic_id, post);
"""

DELIVERY: Final = """
-- Posts whose new matches still have to be turned into outbox rows; a row here survives a
-- crash between storing a match and queueing its alerts.
CREATE TABLE fanout (
    post     INTEGER PRIMARY KEY REFERENCES posts (id) ON DELETE CASCADE,
    queued_at TEXT NOT NULL
);

CREATE TABLE subscribers (
    chat_id        INTEGER PRIMARY KEY,
    chat_type      TEXT NOT NULL,
    title          TEXT,
    active         INTEGER NOT NULL DEFAULT 1,
    mode           TEXT NOT NULL DEFAULT 'instant' CHECK (mode IN ('instant', 'digest', 'both')),
    quiet          INTEGER NOT NULL DEFAULT 0,
    digest_time    TEXT NOT NULL,        -- HH:MM in the subscriber's timezone
    digest_period  TEXT NOT NULL DEFAULT 'daily' CHECK (digest_period IN ('daily', 'weekly')),
    timezone       TEXT NOT NULL,
    last_digest_at TEXT,                 -- matches stored after this go in the next digest
    blocked_at     TEXT,
    created_at     TEXT NOT NULL
);

CREATE TABLE subscriptions (
    chat_id  INTEGER NOT NULL REFERENCES subscribers (chat_id) ON DELETE CASCADE,
    topic_id INTEGER NOT NULL REFERENCES topics (id) ON DELETE CASCADE,
    PRIMARY KEY (chat_id, topic_id)
);
CREATE INDEX subscriptions_by_topic ON subscriptions (topic_id);

CREATE TABLE outbox (
    id                   INTEGER PRIMARY KEY,
    chat_id              INTEGER NOT NULL,
    kind                 TEXT NOT NULL,  -- alert, digest, notice
    dedup_key            TEXT NOT NULL UNIQUE,
    text                 TEXT NOT NULL,
    disable_notification INTEGER NOT NULL DEFAULT 0,
    status               TEXT NOT NULL DEFAULT 'pending'
                         CHECK (status IN ('pending', 'sent', 'failed')),
    attempts             INTEGER NOT NULL DEFAULT 0,
    not_before           TEXT,
    last_error           TEXT,
    created_at           TEXT NOT NULL,
    sent_at              TEXT,
    message_id           INTEGER
);
CREATE INDEX outbox_pending ON outbox (id) WHERE status = 'pending';
"""

FIRST_SIGHT: Final = """
-- The newest post id seen when the channel was first read (NULL: not read yet). A post at or
-- below it is history whichever path brings it, so a server that returns more than it was
-- asked can never get a months-old post alerted.
ALTER TABLE channels ADD COLUMN first_sight_post_id INTEGER;
-- Existing channels: everything below their first live post was first sight or older; a
-- channel with no live post yet has seen only history, up to its cursor.
UPDATE channels SET first_sight_post_id = coalesce(
    (SELECT min(p.post_id) - 1 FROM posts p WHERE p.channel_id = channels.id AND p.is_history = 0),
    last_post_id
);
"""

MIGRATIONS: Final[tuple[str, ...]] = (CORE, DELIVERY, FIRST_SIGHT)
"""MIGRATIONS[i] takes a database from user_version i to i + 1."""

LATEST: Final = len(MIGRATIONS)
