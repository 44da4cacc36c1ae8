"""A message's Markdown as one line of plain text, for Web Push bodies.

A notification shows no formatting, so `**bold**` must read "bold" and a link its text, the
same words the web client's toasts show (`webclient/src/ui/markdown.ts`, `plainText`). Parsing
is markdown-it-py's, with the client's subset: raw HTML off (it stays as typed, as words), and
only emphasis, code, code blocks, lists, quotes and links on.
"""

from __future__ import annotations

from markdown_it import MarkdownIt
from markdown_it.token import Token

_md = MarkdownIt("zero", {"html": False}).enable(
    ["emphasis", "backticks", "fence", "code", "list", "blockquote", "link", "autolink", "escape", "entity", "newline"]
)

# Characters and shapes that can make Markdown (the client's MAYBE_MARKDOWN): without any of
# them the text is its own plain text and is not parsed.
_MARKUP_CHARS = frozenset("*_`>[]\\<&")


def _maybe_markdown(text: str) -> bool:
    if any(c in _MARKUP_CHARS for c in text) or "http://" in text or "https://" in text:
        return True
    for line in text.splitlines():
        head = line.lstrip()
        if line.startswith("    ") or head.startswith(("- ", "+ ", "~~~")) or _numbered(head):
            return True
    return False


def _numbered(line: str) -> bool:
    digits = len(line) - len(line.lstrip("0123456789"))
    return 0 < digits <= 9 and line[digits : digits + 2] in (". ", ") ")


def _inline_words(children: list[Token]) -> list[str]:
    out: list[str] = []
    for child in children:
        if child.type in ("text", "code_inline"):
            out.append(child.content)
        elif child.type in ("softbreak", "hardbreak"):
            out.append(" ")
    return out


def plain_text(markdown: str) -> str:
    """The words of `markdown` on one line: formatting gone, links as their text."""
    if not _maybe_markdown(markdown):
        return " ".join(markdown.split())
    parts: list[str] = []
    for token in _md.parse(markdown):
        if token.type == "inline":
            parts.extend(_inline_words(token.children or []))
            parts.append(" ")
        elif token.type in ("fence", "code_block"):
            parts.extend((token.content, " "))
    return " ".join("".join(parts).split())
