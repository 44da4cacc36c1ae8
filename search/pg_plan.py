"""The SQL of one PostgreSQL search: how rooms are grouped into branches, and the statement.

`SearchPlan` assembles the text from fixed fragments and binds everything user-supplied as a
parameter; `RoomStats` estimates room sizes from the planner's statistics so the backend can
give big rooms a branch (and a plan) of their own. See `search.postgres` and docs/search.md.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from search.base import MAX_RESULT_WINDOW, SearchQuery
from search.pg_tsearch import TsQueries

# Weights for ts_rank, in the order {D, C, B, A}: content is A, the sender's name D.
RANK_WEIGHTS = "'{0.1, 0.2, 0.4, 1.0}'::float4[]"
# An exact match of the query's last word (rather than a longer word it prefixes) ranks first.
EXACT_BONUS = 1.0
# A counted branch of at most this many rooms scans them one by one.
MAX_UNION_ROOMS = 32


class RoomStats:
    """Estimated documents per room, from the planner's statistics of search_documents."""

    def __init__(self, common: dict[str, float], other: float) -> None:
        self.common = common
        self.other = other

    def size(self, room_id: str) -> float:
        """Estimated live documents of a room."""
        return self.common.get(room_id, self.other)

    @classmethod
    def from_pg(cls, row: Any) -> RoomStats:
        """From pg_stats' most common values and frequencies, n_distinct and reltuples."""
        if row is None or row.vals is None or not row.reltuples or row.reltuples < 0:
            return cls({}, 0.0)
        values = [v.strip('"') for v in row.vals.strip("{}").split(",") if v]
        freqs = list(row.freqs or [])
        total = float(row.reltuples)
        common = {v: f * total for v, f in zip(values, freqs, strict=False)}
        distinct = row.n_distinct if row.n_distinct >= 0 else -row.n_distinct * total
        others = max(distinct - len(common), 1.0)
        other = max(total - sum(common.values()), 0.0) / others
        return cls(common, other)


class Saturated(NamedTuple):
    """A branch that found `window` matches or more; `oldest` is its oldest one (ISO text)."""

    branch: int
    n: int
    oldest: str


class SearchPlan:
    """The SQL text and bound parameters of one search (no user text ever enters the SQL)."""

    def __init__(
        self,
        query: SearchQuery,
        groups: list[list[str]],
        counted: list[bool],
        tsq: TsQueries | None,
        rank_window: int,
    ) -> None:
        self.groups = groups
        self.counted = counted
        end = min(query.offset + query.limit, MAX_RESULT_WINDOW)
        self.window = max(rank_window, end)
        self.params: dict[str, Any] = {
            "window": self.window,
            "rank_window": rank_window,
            "offset": query.offset,
            "limit": max(0, end - query.offset),
        }
        conditions = ["NOT d.deleted"]
        if tsq is not None:
            conditions.append("d.tsv @@ CAST(:tsq AS tsquery)")
            self.params["tsq"] = tsq.index
            self.params["tsq_full"] = tsq.full
            if tsq.recheck:
                # A function call, not the operator: the planner cannot take it to the index,
                # so it only ever narrows rows the index query found.
                conditions.append("ts_match_vq(d.tsv, CAST(:tsq_full AS tsquery))")
        if query.sender_ids is not None:
            conditions.append(self._one_of("sender_id", query.sender_ids))
        if query.message_types is not None:
            conditions.append(self._one_of("message_type", query.message_types))
        if query.after is not None:
            conditions.append("d.created_at > :after")
            self.params["after"] = query.after
        if query.before is not None:
            conditions.append("d.created_at < :before")
            self.params["before"] = query.before
        self.conditions = conditions
        self.score = "0.0"
        if tsq is not None:
            self.score = f"ts_rank({RANK_WEIGHTS}, t.tsv, CAST(:tsq_full AS tsquery), 1)"
            if tsq.exact is not None:
                self.params["tsq_exact"] = tsq.exact
                self.score += (
                    f" + CASE WHEN t.tsv @@ CAST(:tsq_exact AS tsquery) THEN {EXACT_BONUS} ELSE 0 END"
                )

    def _one_of(self, column: str, values: Sequence[str]) -> str:
        """`d.<column>` equal to one of `values` (a plain equality when there is one, which plans
        better), binding them as parameters named after the column."""
        distinct = list(dict.fromkeys(values))
        if len(distinct) == 1:
            self.params[column] = distinct[0]
            return f"d.{column} = :{column}"
        self.params[f"{column}s"] = distinct
        return f"d.{column} = ANY(CAST(:{column}s AS varchar[]))"

    def _branch(self, index: int) -> str:
        group = self.groups[index]
        columns = f"{index} AS branch, d.message_id, d.room_id, d.created_at"
        order = "ORDER BY created_at DESC, message_id DESC LIMIT :window"
        if len(group) == 1:
            self.params[f"room_{index}"] = group[0]
            rooms = [f"d.room_id = CAST(:room_{index} AS uuid)"]
        elif self.counted[index] and len(group) <= MAX_UNION_ROOMS:
            # One scan per room: with a constant room the planner keeps the room in the GIN
            # scan, where `room_id = ANY(...)` makes it drop the room and filter the heap
            # whenever it underestimates the words (it does, badly, for CJK bigram phrases).
            rooms = []
            for k, room_id in enumerate(group):
                self.params[f"room_{index}_{k}"] = room_id
                rooms.append(f"d.room_id = CAST(:room_{index}_{k} AS uuid)")
        else:
            self.params[f"rooms_{index}"] = group
            rooms = [f"d.room_id = ANY(CAST(:rooms_{index} AS uuid[]))"]
        conditions = " AND ".join(self.conditions)
        if self.counted[index]:
            # Count every match first (a subquery planned on its own, so the cheapest way to
            # find them all), then keep the newest. The tsvector is not carried through the
            # count: the ranked rows fetch it again by primary key.
            scans = " UNION ALL ".join(
                f"SELECT {columns} FROM search_documents d WHERE {room} AND {conditions}" for room in rooms
            )
            return (
                f"(SELECT * FROM (SELECT u.*, NULL::tsvector AS tsv, count(*) OVER () AS counted"
                f" FROM ({scans}) u) b {order})"
            )
        # No count: the planner may walk newest first and stop after `window` matches.
        return (
            f"(SELECT {columns}, d.tsv, NULL::bigint AS counted FROM search_documents d"
            f" WHERE {rooms[0]} AND {conditions} {order})"
        )

    def sql(self) -> str:
        """The statement: candidates per room, ranked window, page, content and counts."""
        branches = [self._branch(i) for i in range(len(self.groups))]
        order = "(s.recency > :rank_window), s.score DESC, s.created_at DESC, s.message_id DESC"
        return (
            "WITH cand AS MATERIALIZED (" + " UNION ALL ".join(branches) + "),"
            " per_branch AS (SELECT branch, count(*) AS n, min(created_at) AS oldest, max(counted) AS counted"
            "   FROM cand GROUP BY branch),"
            " top AS (SELECT c.message_id, c.room_id, c.created_at, c.tsv,"
            "   row_number() OVER (ORDER BY c.created_at DESC, c.message_id DESC) AS recency"
            "   FROM cand c ORDER BY c.created_at DESC, c.message_id DESC LIMIT :window),"
            " scored AS (SELECT t.message_id, t.room_id, t.created_at, t.recency,"
            f"   CASE WHEN t.recency <= :rank_window THEN {self.score} ELSE 0 END AS score"
            "   FROM (SELECT x.message_id, x.room_id, x.created_at, x.recency, coalesce(x.tsv,"
            "     (SELECT k.tsv FROM search_documents k WHERE k.message_id = x.message_id)) AS tsv"
            "     FROM top x) t),"
            f" page AS (SELECT s.* FROM scored s ORDER BY {order} OFFSET :offset LIMIT :limit)"
            " SELECT s.message_id, s.room_id, s.score, d.content,"
            "   (SELECT coalesce(sum(coalesce(counted, n)), 0) FROM per_branch"
            "     WHERE counted IS NOT NULL OR n < :window) AS exact_part,"
            "   (SELECT json_agg(json_build_array(branch, n, oldest)) FROM per_branch"
            "     WHERE counted IS NULL AND n >= :window)::text"
            "     AS saturated"
            " FROM (SELECT 1) AS one"
            " LEFT JOIN (page s JOIN search_documents d ON d.message_id = s.message_id) ON true"
            f" ORDER BY {order}"
        )
