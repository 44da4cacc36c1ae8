"""Full-text search over incident messages: a backend protocol and two backends.

Plain documents in (`search.documents` builds them from message rows), plain queries in
(`search.query_syntax` parses `q`, `search.compose` bounds it by the caller's rooms); this
package imports neither `api` nor `workers`. See docs/search.md.
"""
