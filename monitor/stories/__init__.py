"""Stories: copies of one post across channels, grouped (issue 12).

News channels republish each other within minutes: the same text under another header,
footer, emoji, source line or subscribe link, or shortened. Two posts belong to one *story*
when a reader of the first learns nothing essentially new from the second, and they were
published within the window (24 hours by default) of each other, in any channels.

The public interface (stable; other modules rely on it):

``StoryIndex(window_hours=24)``
    An in-memory index of the posts of the last `window_hours`, built in date order as
    posts arrive live. Memory and time are bounded by the window, not by history: a post
    older than the window behind the newest date seen is forgotten.

``index.assign(channel, message_id, date, text) -> StoryRef``
    Files a new post and returns its story: the first post of the story (``StoryRef``,
    a ``(channel, message_id)`` named tuple), or the post itself when it starts a story.
    Assigning a post already filed returns its recorded story unchanged (idempotent, so a
    post delivered twice is not re-evaluated). `channel` is any hashable key the caller
    uses consistently (a handle, a database id, an export's numeric id); `date` is an
    aware datetime; `text` is the post's plain text. Posts whose text is too short to
    judge (media captions like «Видео», empty posts) always start their own story. How a
    copy is recognised is described in `monitor.stories.index`.

``index.remember(channel, message_id, date, text, story) -> None``
    Files a post whose story was decided elsewhere (another process stored it with
    `story`, a ``StoryRef`` or ``(channel, message_id)``, or None when it started one)
    without deciding anything, so that later copies of it join that story. A post
    already filed is left unchanged. Its `originals` are ``(story,)`` (or ``()``).

``index.update(channel, message_id, date, text) -> StoryRef``
    An edited post. Its story is re-evaluated only when the text changed substantially
    (the new text would not count as a copy of the old one); otherwise the recorded story
    is returned. A post the index does not know is assigned.

``index.story_of(channel, message_id) -> StoryRef | None``
    The recorded story of a post still inside the window.

``index.originals(channel, message_id) -> tuple[StoryRef, ...]``
    The earlier posts the post was found a copy of when it was filed, most similar first
    (usually one; several when the story ran in several channels before it).

``StoryIndex.rebuild(posts, window_hours=24) -> StoryIndex``
    An index rebuilt at start-up from stored recent posts, an iterable of
    ``(channel, message_id, date, text)``; they are assigned in date order (ties by
    channel, then message id), so the result is the one the live process had built.

The index is deterministic: the same posts in the same order give the same stories. The
story of a post is decided once, when it arrives; a later post never moves an earlier one
to another story (alerts already sent stay valid). When posts arrive out of date order
the story's first post is the first one *filed*, which in date order is the earliest.

Not thread-safe; one index per process (ingest owns it).
"""

from __future__ import annotations

from monitor.stories.index import DEFAULT_WINDOW_HOURS, StoryIndex, StoryRef

__all__ = ["DEFAULT_WINDOW_HOURS", "StoryIndex", "StoryRef"]
