"""Admin API tokens: creation, listing, revocation and the per-request check.

Only the SHA-256 of a secret is stored. A secret is 32 random bytes, so a plain hash is enough:
there is nothing to brute-force that a slow hash would protect, and a fast one keeps every API
request cheap. The secret is shown once, by :func:`create_token`'s caller, and never written to
the database or the audit log.

Revoking keeps the row (and so the name) for the audit trail: events signed ``token:NAME`` must
keep meaning one token.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import or_, update
from sqlalchemy.exc import IntegrityError, OperationalError
from sqlmodel import Session, col, select

from statuspage.audit.actions import AuditAction
from statuspage.context import WriteContext, write
from statuspage.db.models import ApiToken
from statuspage.errors import Conflict, InvalidInput, NotFound

log = logging.getLogger(__name__)

SECRET_PREFIX = "sp_"
# read: GET the admin API; write: also change things through it; alerts: post alerts from
# monitoring to /api/integrations/ and nothing else (the admin API refuses it, and intake
# refuses read and write tokens: each secret is kept where it is needed and can do only that).
SCOPES = ("read", "write", "alerts")
# Shown in listings to tell tokens apart: "sp_" and 8 of the 43 random characters.
PREFIX_LENGTH = len(SECRET_PREFIX) + 8
# Writing last_used_at on every request would turn every read into a write.
LAST_USED_RESOLUTION = timedelta(minutes=1)
# A real secret is 46 characters; anything much longer is not worth hashing.
MAX_PRESENTED = 200
NAME_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,99}$")


def hash_secret(secret: str) -> str:
    return hashlib.sha256(secret.encode("utf-8")).hexdigest()


def parse_scope(value: str) -> str:
    if value not in SCOPES:
        raise InvalidInput(f"{value!r} is not a token scope ({', '.join(SCOPES)})", field="scope")
    return value


def _clean_name(name: str) -> str:
    value = name.strip()
    if not NAME_PATTERN.match(value):
        raise InvalidInput(
            f"{name!r} is not a token name: use up to 100 letters, digits, '.', '-' and '_', starting with a letter or digit",
            field="name",
        )
    return value


def get_token(*, session: Session, name: str) -> ApiToken:
    token = session.exec(select(ApiToken).where(ApiToken.name == name)).first()
    if token is None:
        raise NotFound(f"no token named {name!r}", field="name")
    return token


@write
def create_token(*, ctx: WriteContext, name: str, scope: str) -> tuple[ApiToken, str]:
    """Make a token and return it with its secret, which exists nowhere else from then on.

    Names are unique for ever, revoked tokens included, so an audit event's ``token:NAME`` always
    points at one token.
    """
    clean_name = _clean_name(name)
    clean_scope = parse_scope(scope)
    existing = ctx.session.exec(select(ApiToken).where(ApiToken.name == clean_name)).first()
    if existing is not None:
        state = "revoked" if existing.revoked_at else "in use"
        raise Conflict(f"a token named {clean_name!r} already exists ({state}); choose another name", field="name")
    secret = SECRET_PREFIX + secrets.token_urlsafe(32)
    now = ctx.now()
    token = ApiToken(
        name=clean_name,
        scope=clean_scope,
        token_hash=hash_secret(secret),
        prefix=secret[:PREFIX_LENGTH],
        created_by=ctx.actor.name,
        created_at=now,
    )
    ctx.session.add(token)
    try:
        ctx.session.flush()
    except IntegrityError:
        # Another process created the same name between our check and our insert.
        raise Conflict(f"a token named {clean_name!r} already exists; choose another name", field="name") from None
    assert token.id is not None
    ctx.audit(
        action=AuditAction.TOKEN_CREATE,
        subject_type="api_token",
        subject_id=token.id,
        at=now,
        after={"name": token.name, "scope": token.scope, "prefix": token.prefix},
    )
    return token, secret


@write
def revoke_token(*, ctx: WriteContext, name: str) -> ApiToken:
    """Refuse the token from now on. Requests already past authentication still finish."""
    token = get_token(session=ctx.session, name=name.strip())
    if token.revoked_at is not None:
        raise Conflict(f"token {token.name!r} was already revoked at {token.revoked_at.isoformat()}", field="name")
    now = ctx.now()
    token.revoked_at = now
    ctx.audit(
        action=AuditAction.TOKEN_REVOKE,
        subject_type="api_token",
        subject_id=token.id or 0,
        at=now,
        before={"name": token.name, "scope": token.scope, "prefix": token.prefix},
        after={"revoked_at": now},
    )
    return token


def list_tokens(*, session: Session) -> Sequence[ApiToken]:
    return session.exec(select(ApiToken).order_by(col(ApiToken.created_at), col(ApiToken.id))).all()


def authenticate(session: Session, presented_secret: str, now: datetime) -> ApiToken | None:
    """The live token whose secret this is, or None.

    The row is found by its hash (an indexed lookup), then the hashes are compared again in
    constant time, so that how long a refusal takes says nothing about how close a guess was.

    ``last_used_at`` is bookkeeping, not a change to the status page: it is written at most once a
    minute, outside :func:`~statuspage.context.write` (no audit event, and no data-version bump,
    which would make every page cache re-render), and a failure to write it does not fail the
    request.
    """
    token = find_by_secret(session, presented_secret)
    # End the read transaction before any write: on SQLite, upgrading a read transaction to a
    # write one fails at once if another connection wrote in between.
    session.commit()
    if token is None or token.revoked_at is not None:
        return None
    if token.last_used_at is None or now - token.last_used_at >= LAST_USED_RESOLUTION:
        _touch(session, token, now)
    return token


def find_by_secret(session: Session, presented_secret: str) -> ApiToken | None:
    """The token whose secret this is, revoked or not (the audit log names a revoked token that
    is still in use), or None. Looked up by the secret's hash, never by its plaintext or prefix."""
    if not presented_secret.startswith(SECRET_PREFIX) or len(presented_secret) > MAX_PRESENTED:
        return None
    digest = hash_secret(presented_secret)
    token = session.exec(select(ApiToken).where(ApiToken.token_hash == digest)).first()
    if token is None or not hmac.compare_digest(token.token_hash, digest):
        return None
    return token


def _touch(session: Session, token: ApiToken, now: datetime) -> None:
    # Conditional, so that concurrent requests write it once between them.
    statement = (
        update(ApiToken)
        .where(col(ApiToken.id) == token.id)
        .where(or_(col(ApiToken.last_used_at).is_(None), col(ApiToken.last_used_at) <= now - LAST_USED_RESOLUTION))
        .values(last_used_at=now)
    )
    try:
        session.execute(statement)
        session.commit()
    except OperationalError as exc:
        session.rollback()
        log.warning("could not record the use of token %s: %s", token.name, exc.orig)
        return
    token.last_used_at = now
