"""Which users a `from:` value names: pure rules, shared by every search backend.

The API resolves `from:` values to user ids against `tr_users` before it asks a backend, so the
PostgreSQL and Meilisearch backends filter on the same `sender_ids`; this module decides which
display names a value matches.

- a user id (e-mail) matches that user exactly;
- the whole display name matches, case-insensitive (`from:"Maintenance Team"`);
- any word of the display name matches (`from:Maintenance`, `from:team`), and several words
  match when each is a word of the name, in order and next to each other (`from:"Chen Wei"`
  finds "Chen Wei Ming", not "Wei Chen");
- a value with Chinese (or other CJK) characters matches any substring of the name, as CJK
  names are written without spaces (`from:大明` finds "王大明").

Words are compared after NFKC normalisation and case folding (`ＭＡＩＮＴ` is `maint`); the
separators between words are anything that is not a letter or a digit (space, `-`, `.`, `_`).
"""

from __future__ import annotations

import re

from search.tokens import is_cjk, normalize

_WORD = re.compile(r"[^\W_]+")


def _words(text: str) -> list[str]:
    return _WORD.findall(normalize(text).text)


def like_patterns(value: str) -> list[str]:
    """SQL `LIKE` patterns (escape `\\`) that every display name matching `value` also matches.

    A cheap pre-filter for the database; `name_matches` then decides. One pattern per word, so a
    name must contain every word of the value (folded to lower case by the caller's `lower()`).
    """
    words = _words(value) or [value.strip().lower()]
    return ["%" + w.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%" for w in words if w]


def name_matches(display_name: str, value: str) -> bool:
    """Whether the `from:` value `value` names the user called `display_name`."""
    value_norm = normalize(value.strip()).text
    name_norm = normalize(display_name.strip()).text
    if not value_norm or not name_norm:
        return False
    if value_norm == name_norm:
        return True
    if any(is_cjk(ch) for ch in value_norm):
        compact_value = "".join(_words(value_norm))
        return bool(compact_value) and compact_value in "".join(_words(name_norm))
    wanted = _words(value_norm)
    have = _words(name_norm)
    if not wanted:
        return False
    n = len(wanted)
    return any(have[i : i + n] == wanted for i in range(len(have) - n + 1))
