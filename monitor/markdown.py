"""Telethon markdown (what `Message.text` returns) back to the plain text of the post.

Telethon writes entities as `**bold**`, `__italic__`, `~~strike~~`, `` `code` ``,
```` ```pre``` ```` and `[label](url)`, without escaping the post's own characters. This
undoes that the way `telethon.extensions.markdown.parse` does (a delimiter counts only
when it is closed later; code keeps its content verbatim), with two deliberate
differences: link labels lose their own markup too, and labels and URLs may contain one
level of balanced brackets ("[Senior [Avito]](url)", Wikipedia's "_(system)" URLs), so
no stray "]" or ")" is left behind; and a bare URL keeps its "__" and "~~" (Telethon
would read "a__b__c" in a URL as italics).
"""

from __future__ import annotations

import re
from typing import Final

_LINK: Final = re.compile(r"\[((?:[^\[\]]|\[[^\[\]]*\])*)\]\(((?:[^()]|\([^()]*\))*?)\)")
_DELIMITERS: Final = ("```", "**", "__", "~~", "`")
"""Longest first, so ``` is never read as three inline code marks."""
_VERBATIM: Final = frozenset({"```", "`"})
_DELIMITER_START: Final = frozenset(d[0] for d in _DELIMITERS)
_URL_STARTS: Final = ("http://", "https://")
_BARE_URL: Final = re.compile(r"https?://[^\s*`]+")


def markdown_to_plain(text: str) -> str:
    """The plain text of a post given as Telethon markdown; unmatched marks stay as typed."""
    if not text:
        return ""
    # Links first: URLs are full of "__" and "~~" that must not be read as markup.
    text = _LINK.sub(lambda link: link.group(1), text)
    out: list[str] = []
    closers: dict[int, int] = {}
    size = len(text)
    plain_from = 0
    i = 0
    while i < size:
        char = text[i]
        if char == "h" and text.startswith(_URL_STARTS, i):
            # A bare URL keeps its "__" and "~~"; it ends early at a pending closing mark.
            url = _BARE_URL.match(text, i)
            url_end = url.end() if url else i + 1
            i = min([url_end, *(at for at in closers if i < at < url_end)])
            continue
        if char not in _DELIMITER_START:
            i += 1
            continue
        closer = closers.pop(i, 0)
        if closer:
            out.append(text[plain_from:i])
            i += closer
            plain_from = i
            continue
        delimiter = next((d for d in _DELIMITERS if text.startswith(d, i)), None)
        if delimiter is None:
            i += 1
            continue
        width = len(delimiter)
        # Telethon looks for the closer one character later, so "****" is not empty bold.
        end = text.find(delimiter, i + width + 1)
        if end == -1:
            i += width
            continue
        out.append(text[plain_from:i])
        if delimiter in _VERBATIM:
            out.append(text[i + width : end])
            i = end + width
        else:
            closers[end] = width
            i += width
        plain_from = i
    out.append(text[plain_from:])
    return "".join(out).strip()
