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

COMPACT_SEARCH: Final = """
-- Posts keep their text once: the lemmas move into a contentless full-text index, which
-- keeps only which post has which lemma (no copy of them, no positions: a search asks
-- whether a post has a word, never where). Ids are never reused (AUTOINCREMENT), because
-- alert keys and the index name posts by id long after retention deleted them.
-- Foreign keys are off while migrating (see Database._migrate): dropping the old posts
-- table must not cascade into matches and fanout.
CREATE TABLE posts_compact (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    channel_id INTEGER NOT NULL REFERENCES channels (id),
    post_id    INTEGER NOT NULL,
    date       TEXT NOT NULL,
    text       TEXT NOT NULL,
    edit_date  TEXT,
    is_history INTEGER NOT NULL DEFAULT 0,
    stored_at  TEXT NOT NULL,
    UNIQUE (channel_id, post_id)
);
INSERT INTO posts_compact
    (id, channel_id, post_id, date, text, edit_date, is_history, stored_at)
SELECT id, channel_id, post_id, date, text, edit_date, is_history, stored_at
FROM posts ORDER BY id;

DROP TRIGGER posts_fts_insert;
DROP TRIGGER posts_fts_delete;
DROP TRIGGER posts_fts_update;
DROP TABLE posts_fts;
-- The lemmas are chanwatch's own tokens (lower case, letters and digits, accents of Latin
-- letters removed as unicode61 would), so the byte-wise ascii tokenizer indexes them the same
-- for a third of the work (it treats every non-ASCII byte as part of a word).
CREATE VIRTUAL TABLE posts_fts USING fts5 (
    lemmas, content = '', detail = none, columnsize = 0, tokenize = 'ascii'
);
-- Merge 16 segments of a level at a time rather than 4: ingestion commits small batches, and
-- merging them less often halves the index's share of the work; the daily retention pass
-- merges what is left.
INSERT INTO posts_fts (posts_fts, rank) VALUES ('automerge', 16);
INSERT INTO posts_fts (rowid, lemmas) SELECT id, lemmas FROM posts WHERE lemmas != '';

DROP TABLE posts;
ALTER TABLE posts_compact RENAME TO posts;
CREATE INDEX posts_by_date ON posts (date);

-- Which morphology built posts_fts, and the rebuild `chanwatch reindex` may have under way
-- in posts_fts_next (every post with id <= next_cursor is in it). Version 1: indexed before
-- versions were recorded, possibly before the passive voice was indexed.
CREATE TABLE search_index (
    id           INTEGER PRIMARY KEY CHECK (id = 1),
    version      INTEGER NOT NULL,
    orphans      INTEGER NOT NULL DEFAULT 0,  -- entries left by deleted posts (see search())
    next_version INTEGER,
    next_cursor  INTEGER,
    next_until   INTEGER             -- the newest post id when the rebuild began (progress)
);
INSERT INTO search_index (id, version) VALUES (1, 1);
"""

RETENTION: Final = """
-- One row per retention pass: what it removed (operators see it in /stats).
CREATE TABLE retention_runs (
    id            INTEGER PRIMARY KEY,
    ran_at        TEXT NOT NULL,
    posts         INTEGER NOT NULL,     -- posts that matched nothing
    matched_posts INTEGER NOT NULL,
    messages      INTEGER NOT NULL,     -- sent or failed outbox rows
    freed_bytes   INTEGER NOT NULL      -- how much smaller the database file became
);
"""

MIGRATIONS: Final[tuple[str, ...]] = (CORE, DELIVERY, FIRST_SIGHT, COMPACT_SEARCH, RETENTION)
"""MIGRATIONS[i] takes a database from user_version i to i + 1."""

LATEST: Final = len(MIGRATIONS)
