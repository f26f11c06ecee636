"""`StoryIndex`: which earlier post, if any, a new post is a copy of (see the package doc).

How a post is judged (the thresholds were chosen on the labelled pairs of eval/, see
eval/README.md, "Stories"): its body — its lines minus the lines its channel keeps
repeating — becomes a set of word stems and a set of numbers. An earlier post A inside the
window (and, when A is a post of B's own channel, less than `OWN_REPEAT`, 6 hours, before
B) is a copy's original for a new post B when

- B brings no number A lacks: «Доллар выше 108 рублей» after «Доллар выше 107 рублей» is
  the next rate, not a copy, and so are a later count of drones («ещё три беспилотника»
  after «ещё восемь»: numbers up to ten written as words count) or another day's quotes;
  only a time of day («с 00:00 до 9:00») or a date («с 22 октября») added to a post that
  gave none is a detail of the same news (`signals.adds_only_a_time`, `adds_only_a_date`),
  and a figure A gave written another way («5 000» for «5 тысяч») is none
  (`signals.same_figures`);
- most of B was already in A: at least `LATER_SHARE` of B's stems are A's, so a post that
  adds another event to the first one's text is news of its own;
- B names no further stage of a procedure A lacks: «Совфед одобрил закон» after «Госдума
  приняла закон» is the law's next step, told in the same words (`STAGE_WORDS`; «приняла»
  and «одобрила» are one step, `STAGE_OF`);
- B's headline does not tell what happened after A's headline event while its body repeats
  A: «массовые ДТП после снегопада» after «Москву занесло снегом» (`signals.follows_up`);
- B adds no statement «also» made (`ALSO_WORDS` after B's first sentence, when A has none):
  «Путин поздравил Трампа. Он также заявил, что …» tells more than the congratulation,
  while «Также лидеры обсудили …» after «Кроме того, лидеры обсудили …», under A's
  headline, tells A again (`signals.retells_also`);
- B is not another issue of a round-up (a post of many links: a digest, a weekend guide)
  with other numbers than A's: «… 23-24 ноября» then «… 24 ноября» listing most of the
  same events is the next day's guide (`signals.is_round_up`);
- B's headline is not A's with another figure: «Доллар выше 110 рублей на бирже» after
  «Доллар выше 108 рублей на бирже. … почти 110» is the next rate, though B brings no
  number A lacks (`signals.swaps_a_headline_figure`);
- B's headline does not open with another acting body (`signals.ACTORS`) than A's, neither
  named by the other post: «Правительство Южной Кореи проголосовало за отмену …» after
  «Парламент Южной Кореи проголосовал за отмену …» is the procedure's next body
  (`signals.swaps_the_actor`);
- B's headline does not swap a name for another: when the first sentence of each names
  someone or something (a capitalised word inside the sentence, before any «— source»)
  the other lacks, «В аэропорту Внуково также объявили план «Ковёр»» after the same for
  Домодедово is another airport, and «взяла под контроль Дальнее» after «… Ильинку» is
  another village (a name spelled two ways, «Беларусь» and «Белоруссия», is one: `NAME_OF`);
- and either the two mostly coincide (Jaccard of the stem sets at least `SAME_SHARE`) or B
  is a shortened A (at least `SHORTENED_SHARE` of B in A), though never a one-line post
  whose words a long round-up merely happens to contain (Jaccard at least `MIN_SHARE`;
  within an hour, a post at least 80% of which is the round-up's is one of its lines
  told alone down to `SOON_MIN_SHARE`, see `SOON`).

A later post that fails this only because of sentences (after its first) that open with
«Ранее» — what was reported before, background to its news — is also a copy of another
channel's post that passes without them (`_BACKGROUND`).

A short post (at most `LATE_SHORTENED_STEMS` stems) is a shortened copy only within
`LATE_SHORTENED` (4 hours) of the longer post: hours later, a short post whose words a long
one holds tells the next event («… заявил, что отзовет военное положение» after his speech
declaring it). A shorter one (at most `LATE_STEMS` stems) is never a copy of a post `LATE`
(12 hours) or more before it: the same few words half a day later are the next alarm or
rate.

Among the posts that qualify, the most similar wins (the earliest on a tie), and B joins its
story. Candidates are found through B's rarest stems only (see `_find`), so the time per
post is bounded by the window, not by the history kept.
"""

from __future__ import annotations

import collections
import heapq
import re
from collections import defaultdict, deque
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from itertools import chain, compress, repeat
from math import ceil
from operator import ge
from typing import Final, NamedTuple

from monitor.stories.signals import (
    adds_only_a_date,
    adds_only_a_time,
    follows_up,
    is_round_up,
    retells_also,
    same_figures,
    swaps_a_headline_figure,
    swaps_the_actor,
)
from monitor.stories.text import SENTENCE_END, head_names, lines, numbers, stems, words

_count_elements = collections._count_elements  # type: ignore[attr-defined]
"""Counter's own C loop (what Counter(iterable) runs), into a plain dict: counting without
Counter's Python-level __init__ and update."""
_consume: Final[Callable[[Iterable[object]], None]] = deque[object](maxlen=0).extend
"""Runs an iterator to its end in C (for `map` over methods that return None)."""

DEFAULT_WINDOW_HOURS: Final = 24.0
_SWEEP_MIN: Final = 10_000
MIN_STEMS: Final = 3
"""A body with fewer distinct stems («Видео», «Срочно!», a bare link) starts its own story."""
LATER_SHARE: Final = 0.6
SAME_SHARE: Final = 0.44
SHORTENED_SHARE: Final = 0.76
MIN_SHARE: Final = 0.15
SOON: Final = timedelta(hours=1)
SOON_SHARE: Final = 0.8
SOON_MIN_SHARE: Final = 0.1
"""Within `SOON` of the earlier post, a later one at least `SOON_SHARE` of which is the
earlier's is a shortened copy down to a Jaccard of `SOON_MIN_SHARE`: one statement of a
long round-up («Путин поздравил Трампа … Что ещё сказал президент: — …»), told alone
minutes later. Hours later, such a line may be the next development (over the corpus,
with three hours instead of one: the parliament speaker against martial law, an hour after
a round-up of it)."""
BACKGROUND_STEM: Final = "ранее"
_BACKGROUND: Final = re.compile(
    r"ранее(?:(?<=[.!?…\n]ранее)|(?<=[.!?…\n][^\S\n]ранее))\b[^.!?…\n]*[.!?…]*"
)
"""A sentence after the first that opens with «Ранее»: what was reported before, background
to the news: a later post that is a copy but for it is a copy. (The word first, then what
comes before it: the regex engine then looks for the word alone, five times faster than
trying the look-behind at every character.)"""
LATE: Final = timedelta(hours=12)
LATE_STEMS: Final = 8
"""A post of at most `LATE_STEMS` stems («Воздушная тревога объявлена на всей территории
Украины», «Евро выше 113 рублей на бирже») is no copy of a post `LATE` or more before it, in
any channel: the same short words half a day later are the next alarm or quote. Over the
corpus nearly every merge at such a gap was news; longer copies that late, a channel
retelling a story the next morning, still join (see README, "Stories")."""
LATE_SHORTENED: Final = timedelta(hours=4)
LATE_SHORTENED_STEMS: Final = 12
"""A post of at most `LATE_SHORTENED_STEMS` stems is a shortened copy (below `SAME_SHARE`)
only of a post less than `LATE_SHORTENED` before it: «Президент Южной Кореи заявил, что
отзовет военное положение» five hours after his long speech declaring it holds its words
and tells the next event. Read over the corpus: of the 9 posts this kept apart, 6 were
news, 3 a short copy posted hours later."""
RAREST_HITS: Final = 3
"""How many of a post's rarest stems a candidate original must hold (see `_find`)."""
BOILERPLATE_POSTS: Final = 2
"""A line its channel already posted this many times inside the window is boilerplate."""
STAGE_WORDS: Final = frozenset(
    """
    приняла принял приняли принят принята принято одобрил одобрила одобрили одобрен одобрена
    одобрено подписал подписала подписали подписан подписана утвердил утвердила утвердили
    утвержден утверждена отклонил отклонила отклонили отклонен внес внесла внесли внесен
    показал показала показали госдума госдумы госдуме совфед совфеда совфеде сенат сенаторы
    """.split()  # noqa: SIM905 (a word list reads better as text)
)
"""Words of a step of a procedure (a law passed, approved, signed; a design shown): a later
post that brings one the earlier lacks reports the next step, not the same one."""
_ADOPTED: Final = """
    приняла принял приняли принят принята принято одобрил одобрила одобрили одобрен одобрена
    одобрено
    """.split()  # noqa: SIM905 (a word list reads better as text)
STAGE_OF: Final = dict.fromkeys(_ADOPTED, "adopted")
"""Words of one step: a chamber «приняла» or «одобрила» a bill in the same reading."""
OWN_REPEAT: Final = timedelta(hours=6)
"""A channel's own earlier post, this long ago or more, is no original: a channel that says
again what it said hours before reports the next day's count, quote, forecast or alarm, or
the next step, in its usual words (read over the corpus: most such merges were news)."""
NAME_OF: Final = {
    "белар": "белор",  # Беларусь, Белоруссия
    "кыргы": "кирги",  # Кыргызстан, Киргизия
    "молдо": "молда",  # Молдова, Молдавия
    "питер": "петер",  # Питер, Петербург
    "yonha": "ренха",  # Yonhap, Рёнхап
    "енхап": "ренха",  # Ёнхап
}
"""Stems of one name spelled two ways, each as the stem of one of them: «Беларусь» in the
later headline and «Белоруссия» in the earlier post are no name swapped."""
ALSO_WORDS: Final = frozenset({"также", "тоже"})
"""«Also» after a later post's first sentence adds a statement to the earlier post's."""


class StoryRef(NamedTuple):
    """The first post of a story."""

    channel: Hashable
    message_id: int


PostRow = tuple[Hashable, int, datetime, str]
"""What `StoryIndex.rebuild` reads: (channel, message_id, date, text)."""


@dataclass(slots=True)
class _Body:
    lines: frozenset[str]
    stems: frozenset[str]
    numbers: frozenset[str]
    words: list[str]
    """The body's words and numbers in order (for the vetoes, read only for a copy)."""
    text: str
    """The body's lines, lower case, one per line."""
    raw: str
    """The post's text as it came (for the vetoes)."""


@dataclass(slots=True)
class _Entry:
    key: StoryRef
    ref: StoryRef
    date: datetime
    seq: int
    body: _Body
    originals: tuple[StoryRef, ...]
    postings: list[set[int]]
    """The postings of the body's stems, which hold `seq`: forgetting the post takes it out
    of each without looking a stem up again."""


class StoryIndex:
    """Posts of the last `window_hours`, grouped into stories as they arrive."""

    def __init__(self, window_hours: float = DEFAULT_WINDOW_HOURS) -> None:
        if window_hours <= 0:
            raise ValueError("window_hours must be positive")
        self._window = timedelta(hours=window_hours)
        self._posts: dict[StoryRef, _Entry] = {}
        # Postings hold a post's seq, not its key: an int hashes in no time, a
        # (channel, message_id) tuple is hashed anew at every use.
        self._by_seq: dict[int, _Entry] = {}
        self._by_stem: defaultdict[str, set[int]] = defaultdict(set)
        """Stem -> the seqs of the posts whose body has it. A posting is created when a post
        with a new stem is filed (in C: defaultdict), and one left empty by forgetting is
        dropped only once in a while (`_sweep`): an empty posting counts as none."""
        self._sweep_at = _SWEEP_MIN
        self._lines: defaultdict[Hashable, dict[str, int]] = defaultdict(dict)
        self._expiry: list[tuple[datetime, int, StoryRef]] = []
        self._newest: datetime | None = None
        self._horizon = datetime.min  # set by every `_advance`, before any use
        """Posts older than this are forgotten at the next post's arrival. One that comes
        older (posts handed over channel by channel, an import of old history) is not filed
        at all: filing its stems only to drop them again costs a third of its time, and to
        `story_of` a post outside the window is unknown either way."""
        self._seq = 0

    @classmethod
    def rebuild(
        cls, posts: Iterable[PostRow], window_hours: float = DEFAULT_WINDOW_HOURS
    ) -> StoryIndex:
        index = cls(window_hours)
        for channel, message_id, date, text in sorted(posts, key=_row_order):
            index.assign(channel, message_id, date, text)
        return index

    def __len__(self) -> int:
        return len(self._posts)

    def story_of(self, channel: Hashable, message_id: int) -> StoryRef | None:
        entry = self._posts.get(StoryRef(channel, message_id))
        return entry.ref if entry else None

    def originals(self, channel: Hashable, message_id: int) -> tuple[StoryRef, ...]:
        """The earlier posts this post was found a copy of when it was filed, most similar
        first (its story is the first one's); () for a post that started a story or that
        the index no longer holds."""
        entry = self._posts.get(StoryRef(channel, message_id))
        return entry.originals if entry else ()

    def assign(self, channel: Hashable, message_id: int, date: datetime, text: str) -> StoryRef:
        key = StoryRef(channel, message_id)
        known = self._posts.get(key)
        if known is not None:
            return known.ref
        self._advance(date)
        self._seq += 1
        body = self._body(channel, text)
        if date < self._horizon:  # see `_horizon`: judged, not filed
            originals = self._judge(key, date, body, list(map(self._by_stem.get, body.stems)))
            return self._posts[originals[0]].ref if originals else key
        postings = self._postings(body)
        originals = self._judge(key, date, body, postings)
        ref = self._posts[originals[0]].ref if originals else key
        self._file(_Entry(key, ref, date, self._seq, body, originals, postings))
        heapq.heappush(self._expiry, (date, self._seq, key))
        return ref

    def remember(
        self,
        channel: Hashable,
        message_id: int,
        date: datetime,
        text: str,
        story: StoryRef | None,
    ) -> None:
        """File a post whose story was decided elsewhere (another process stored it), so
        later copies join that story; nothing is decided. A post already filed is left as
        it is."""
        key = StoryRef(channel, message_id)
        if key in self._posts:
            return
        self._advance(date)
        if date < self._horizon:
            return  # see `_horizon`
        self._seq += 1
        ref = StoryRef(*story) if story is not None else key
        originals = (ref,) if ref != key else ()
        body = self._body(channel, text)
        postings = self._postings(body)
        self._file(_Entry(key, ref, date, self._seq, body, originals, postings))
        heapq.heappush(self._expiry, (date, self._seq, key))

    def forget(self, channel: Hashable, message_id: int) -> None:
        """Take a filed post out, as if it had never come: its save failed, so when it comes
        again it is judged again, beside what was stored meanwhile. Posts filed as its
        copies keep their story."""
        entry = self._posts.get(StoryRef(channel, message_id))
        if entry is not None:
            self._unfile(entry)

    def update(self, channel: Hashable, message_id: int, date: datetime, text: str) -> StoryRef:
        key = StoryRef(channel, message_id)
        known = self._posts.get(key)
        if known is None:
            return self.assign(channel, message_id, date, text)
        self._unfile(known)
        body = self._body(channel, text)
        postings = self._postings(body)
        ref, originals = known.ref, known.originals
        if not _still_the_same(known.body, body):
            originals = self._judge(key, known.date, body, postings)
            ref = self._posts[originals[0]].ref if originals else key
        # The same seq keeps the post's place in the expiry heap and among equals.
        self._file(_Entry(key, ref, known.date, known.seq, body, originals, postings))
        return ref

    def _body(self, channel: Hashable, text: str) -> _Body:
        found = lines(text)
        seen = self._lines[channel]
        body_text = "\n".join(line for line in found if seen.get(line, 0) < BOILERPLATE_POSTS)
        kept = words(body_text)
        all_stems = stems(kept)
        body_stems = all_stems if len(all_stems) >= MIN_STEMS else frozenset()
        return _Body(frozenset(found), body_stems, numbers(kept, all_stems), kept, body_text, text)

    def _postings(self, body: _Body) -> list[set[int]]:
        """The postings of the body's stems, in the order of `body.stems`, for a post about
        to be filed: a stem no post has gets an empty one."""
        return list(map(self._by_stem.__getitem__, body.stems))

    def _judge(
        self,
        key: StoryRef,
        date: datetime,
        body: _Body,
        stem_postings: Sequence[set[int] | None],
    ) -> tuple[StoryRef, ...]:
        """`_find`, and for a post that recalls what was reported before («Ранее …»,
        `_BACKGROUND`), the other channels' posts it is a copy of without that too, after
        those. In its own channel, «Ранее» recalls the channel's own report: the post
        follows it up («… согласился отменить военное положение. Ранее парламент …»)."""
        found = self._find(key, date, body, stem_postings)
        if BACKGROUND_STEM not in body.stems:
            return found
        told = _without_background(body)
        if told is None:
            return found
        more = self._find(key, date, told, list(map(self._by_stem.get, told.stems)))
        return found + tuple(
            other for other in more if other.channel != key.channel and other not in found
        )

    def _find(
        self,
        key: StoryRef,
        date: datetime,
        body: _Body,
        stem_postings: Sequence[set[int] | None],
    ) -> tuple[StoryRef, ...]:
        """The posts `body` is a copy of, most similar first (the earliest among equals);
        `stem_postings` are the postings of `body.stems` in their order (None or empty for
        a stem no filed post has)."""
        size = len(body.stems)
        if not size:
            return ()
        postings = list(filter(None, stem_postings))
        # A copy's original holds at least LATER_SHARE of the copy's stems: it may lack
        # `allowed` of them at most, the stems no earlier post has among them. So of the
        # `rarest` stems it holds at least len(rarest) - allowed: counting hits in their
        # (short) postings finds every original and few other posts.
        allowed = size - ceil(LATER_SHARE * size) - (size - len(postings))
        if allowed < 0:
            return ()
        postings.sort(key=len)
        rarest = postings[: allowed + RAREST_HITS]
        hits: dict[int, int] = {}
        _count_elements(hits, chain.from_iterable(rarest))
        needed = len(rarest) - allowed
        found: list[tuple[float, float, int, StoryRef]] = []
        # LATE is longer than LATE_SHORTENED and LATE_STEMS at most LATE_SHORTENED_STEMS: a
        # long post (most) is checked against neither.
        short = size <= LATE_SHORTENED_STEMS
        by_seq = self._by_seq
        # The posts with `needed` hits or more, picked out in C: most have fewer.
        for seq in compress(hits, map(ge, hits.values(), repeat(needed))):
            entry = by_seq[seq]
            if entry.key == key:
                continue
            gap = abs(entry.date - date)
            if gap > self._window or (gap > OWN_REPEAT and entry.key.channel == key.channel):
                continue
            if short and gap >= LATE_SHORTENED:  # see LATE_SHORTENED and LATE
                if gap >= LATE and size <= LATE_STEMS:
                    continue
                score = _copy_score(entry.body, body, False, False)
            else:
                score = _copy_score(entry.body, body, gap <= SOON)
            if score is not None:
                found.append((-score[0], -score[1], seq, entry.key))
        found.sort()
        return tuple(other for *_, other in found)

    def _file(self, entry: _Entry) -> None:
        self._posts[entry.key] = entry
        self._by_seq[entry.seq] = entry
        _consume(map(set.add, entry.postings, repeat(entry.seq)))
        _count_elements(self._lines[entry.key.channel], entry.body.lines)
        if len(self._by_stem) > self._sweep_at:
            self._sweep()

    def _unfile(self, entry: _Entry) -> None:
        del self._posts[entry.key]
        del self._by_seq[entry.seq]
        _consume(map(set.remove, entry.postings, repeat(entry.seq)))
        seen = self._lines[entry.key.channel]
        for line in entry.body.lines:
            left = seen[line] - 1
            if left:
                seen[line] = left
            else:
                del seen[line]

    def _sweep(self) -> None:
        """Drop the postings that forgetting left empty, when there are as many stems as
        after the last sweep again: memory stays bounded by the window's stems, and each
        forgotten stem costs one look here instead of a check at every forgetting. A
        posting still listed by a filed post holds that post, so none of those goes."""
        by_stem = self._by_stem
        for stem in [stem for stem, posting in by_stem.items() if not posting]:
            del by_stem[stem]
        self._sweep_at = max(_SWEEP_MIN, 2 * len(by_stem))

    def _advance(self, date: datetime) -> None:
        """Forget the posts older than the window behind the newest date seen."""
        if self._newest is None or date > self._newest:
            self._newest = date
        self._horizon = horizon = self._newest - self._window
        while self._expiry and self._expiry[0][0] < horizon:
            _, seq, key = heapq.heappop(self._expiry)
            entry = self._posts.get(key)
            if entry is not None and entry.seq == seq:
                self._unfile(entry)


def _without_background(body: _Body) -> _Body | None:
    """`body` without its sentences (after the first) that open with «Ранее», or None when
    it has none."""
    pieces: list[str] = []
    spans: list[str] = []
    at = 0
    for found in _BACKGROUND.finditer(body.text):
        pieces.append(body.text[at : found.start()])
        spans.append(found.group())
        at = found.end()
    if not spans:
        return None
    text = "".join(pieces) + body.text[at:]
    kept = _cut(body.words, spans)
    if kept is None:
        kept = words(text)
    all_stems = stems(kept)
    body_stems = all_stems if len(all_stems) >= MIN_STEMS else frozenset()
    return _Body(body.lines, body_stems, numbers(kept, all_stems), kept, text, body.raw)


def _cut(tokens: list[str], spans: list[str]) -> list[str] | None:
    """`tokens` (a body's `words`) without the words of `spans`, sentences of the body in
    their order: each span's words are a run of `tokens` that opens with its first word,
    found with C-level `list.index` instead of a second pass of the word regex over the
    rest of the text. None if a span's words are not found there as a run."""
    kept: list[str] = []
    start = 0
    for span in spans:
        run = words(span)
        if not run:
            continue
        at = start
        while True:
            try:
                at = tokens.index(run[0], at)
            except ValueError:
                return None
            if tokens[at : at + len(run)] == run:
                break
            at += 1
        kept += tokens[start:at]
        start = at + len(run)
    return kept + tokens[start:]


def _copy_score(
    first: _Body, later: _Body, soon: bool = False, shortened: bool = True
) -> tuple[float, float] | None:
    """(share of `later` in `first`, Jaccard) when `later` is a copy of `first`, else None;
    `soon`: `later` came within `SOON` of `first`; `shortened`: `later` may be a shortened
    copy (see `LATE_SHORTENED`)."""
    if not first.stems or not later.stems:
        return None
    # A number `later` adds is news, unless it is only a time of day or a date `first` did
    # not give, or a figure `first` gave written another way: those are read from the text
    # (regular expressions), so only for a pair that passes the shares below.
    added_numbers = not later.numbers <= first.numbers
    shared = len(first.stems & later.stems)
    later_share = shared / len(later.stems)
    if later_share < LATER_SHARE:
        return None
    jaccard = shared / (len(first.stems) + len(later.stems) - shared)
    # A line of a long round-up, told alone minutes later, is shortened further still.
    if jaccard < SAME_SHARE and not shortened:
        return None
    if (
        jaccard < SAME_SHARE
        and (later_share < SHORTENED_SHARE or jaccard < MIN_SHARE)
        and not (soon and later_share >= SOON_SHARE and jaccard >= SOON_MIN_SHARE)
    ):
        return None
    if added_numbers and not (
        adds_only_a_time(first.text, first.numbers, later.text)
        or same_figures(first.text, first.words, later.text, later.words)
        or adds_only_a_date(first.text, first.numbers, later.text)
    ):
        return None
    if _tells_more(first, later):
        return None
    return (later_share, jaccard)


def _stages(words: list[str]) -> frozenset[str]:
    """The steps of a procedure `words` name: «приняла» and «одобрила» are one step."""
    return frozenset(STAGE_OF.get(word, word) for word in STAGE_WORDS.intersection(words))


def _tells_more(first: _Body, later: _Body) -> bool:
    """Whether `later`, though mostly `first`'s words, reports another step or statement."""
    if not STAGE_WORDS.isdisjoint(later.words) and _stages(later.words) - _stages(first.words):
        return True
    if not ALSO_WORDS.isdisjoint(later.words) and ALSO_WORDS.isdisjoint(first.words):
        after_first = SENTENCE_END.split(later.text, 1)[1:]
        if after_first and not ALSO_WORDS.isdisjoint(words(after_first[0])):
            return not retells_also(first.stems, later.text, ALSO_WORDS)
    # Another issue of a round-up (a guide «23-24 ноября», then «24 ноября» listing part of
    # it): most of its lines are the same, its dates are not.
    if first.numbers != later.numbers and (is_round_up(first.raw) or is_round_up(later.raw)):
        return True
    if follows_up(first.text, first.stems, later.text):
        return True
    # Only a post that gives some of A's figures and no other can retell A's headline with
    # another of them (a figure A lacks is the number veto's; the same figures, a copy's).
    if (
        later.numbers
        and later.numbers < first.numbers
        and swaps_a_headline_figure(first.text, later.text)
    ):
        return True
    if swaps_the_actor(first.text, first.stems, later.text, later.stems):
        return True
    # Names are read only here, for the few pairs that pass the shares: a second pass
    # over the text for every post would cost more than the rest of the comparison.
    later_names = head_names(later.raw, later.text)
    if not _named(later_names, first.stems):
        return not _named(head_names(first.raw, first.text), later.stems)
    return False


def _named(names: frozenset[str], stems: frozenset[str]) -> bool:
    """Whether every name of `names` is among `stems`, however spelled (`NAME_OF`)."""
    missing = names - stems
    if not missing:
        return True
    if NAME_OF.keys().isdisjoint(missing):
        return False
    spelled = {NAME_OF.get(stem, stem) for stem in stems}
    return all(NAME_OF.get(name, name) in spelled for name in missing)


def _still_the_same(old: _Body, new: _Body) -> bool:
    """An edit that would count as a copy of the post's old text keeps its story."""
    if not old.stems or not new.stems:
        return old.stems == new.stems
    return _copy_score(old, new) is not None


def _row_order(row: PostRow) -> tuple[datetime, str, int]:
    channel, message_id, date, _ = row
    return (date, str(channel), message_id)
