"""Database URLs as they may be shown: every password masked, in the userinfo or the query."""

from __future__ import annotations

from sqlalchemy.engine import URL

MASK = "***"

#: Query keys drivers read secrets from (``?password=...`` is accepted by libpq, PyMySQL...).
_SECRET_WORDS = ("password", "passwd", "pwd", "secret", "token", "sslkey")


def is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in _SECRET_WORDS)


def masked_url(url: URL) -> str:
    """``url`` with its password and every secret-looking query value replaced by ``***``."""
    secrets = {k for k in url.query if is_secret_key(k)}
    if secrets:
        url = url.update_query_dict({k: MASK for k in secrets})
    # the query is rendered %-escaped: show the mask as the userinfo's is shown
    return url.render_as_string(hide_password=True).replace("=%2A%2A%2A", "=" + MASK)
