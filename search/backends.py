"""Choosing the search backend: the one place that decides, for the API, the worker and the CLI."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from search.base import SearchBackend


def open_search_backend(
    engine: AsyncEngine, meili_url: str | None = None, meili_master_key: str | None = None
) -> SearchBackend:
    """Meilisearch when `meili_url` is set (MEILI_URL), else PostgreSQL full-text search on `engine`.

    Every process of a deployment must make the same choice, or the worker would index where the
    API does not search.
    """
    if meili_url:
        # Imported only when chosen: the SDK is not needed by a PostgreSQL-only deployment.
        from search.meilisearch import MeilisearchSearchBackend

        return MeilisearchSearchBackend(meili_url, meili_master_key)
    from search.postgres import PostgresSearchBackend

    return PostgresSearchBackend(engine)
