"""The SMTP server email pages go through, given as one URL.

``smtp://HOST[:PORT]`` (plain SMTP, port 25), ``smtp://USER:PASSWORD@HOST:587?starttls=true``
(upgraded with STARTTLS, then logged in), ``smtps://HOST[:PORT]`` (TLS from the first byte, port
465). A user name or password holding ``@``, ``:`` or ``/`` is percent-encoded (``%40``).
``?timeout=SECONDS`` changes how long an answer is waited for (default 10).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from urllib.parse import parse_qs, unquote, urlsplit

DEFAULT_TIMEOUT = 10.0
DEFAULT_PORTS = {"smtp": 25, "smtps": 465}
TRUE = {"1", "true", "yes", "on"}
FALSE = {"0", "false", "no", "off"}


class SmtpUrlError(ValueError):
    """The URL cannot be used; the message says why, in one line."""


@dataclass(frozen=True)
class SmtpTarget:
    host: str
    port: int
    tls: bool = False  # smtps: TLS from the start
    starttls: bool = False
    user: str | None = None
    password: str | None = field(default=None, repr=False)
    timeout: float = DEFAULT_TIMEOUT

    @property
    def display(self) -> str:
        """Where mail goes, without the password, for messages."""
        scheme = "smtps" if self.tls else "smtp"
        user = f"{self.user}@" if self.user else ""
        return f"{scheme}://{user}{self.host}:{self.port}"


def parse_smtp_url(url: str) -> SmtpTarget:
    text = url.strip()
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as exc:
        raise SmtpUrlError(f"not an SMTP URL like smtp://host:587 ({exc})") from None
    scheme = parts.scheme.lower()
    if scheme not in DEFAULT_PORTS:
        raise SmtpUrlError(f"{scheme or 'no'} scheme: use smtp:// or smtps://, like smtp://user:pass@host:587?starttls=true")
    if not parts.hostname:
        raise SmtpUrlError("no host: write it like smtp://host:587")
    if parts.path not in ("", "/"):
        raise SmtpUrlError(f"an SMTP URL has no path ({parts.path!r})")
    options = {key.lower(): values[-1] for key, values in parse_qs(parts.query, keep_blank_values=True).items()}
    unknown = sorted(set(options) - {"starttls", "timeout"})
    if unknown:
        raise SmtpUrlError(f"unknown option {unknown[0]!r} (known: starttls, timeout)")
    starttls = _flag(options.get("starttls", "false"), "starttls")
    if starttls and scheme == "smtps":
        raise SmtpUrlError("smtps:// is TLS from the start; starttls=true is for smtp://")
    timeout = DEFAULT_TIMEOUT
    if "timeout" in options:
        try:
            timeout = float(options["timeout"])
        except ValueError:
            raise SmtpUrlError(f"timeout={options['timeout']!r} is not a number of seconds") from None
        if not 0 < timeout <= 600:
            raise SmtpUrlError("timeout must be between 0 and 600 seconds")
    user = unquote(parts.username) if parts.username else None
    password = unquote(parts.password) if parts.password is not None else None
    if password is not None and not user:
        raise SmtpUrlError("a password without a user name")
    return SmtpTarget(
        host=parts.hostname,
        port=port or DEFAULT_PORTS[scheme],
        tls=scheme == "smtps",
        starttls=starttls,
        user=user,
        password=password,
        timeout=timeout,
    )


def _flag(value: str, name: str) -> bool:
    lowered = value.strip().lower()
    if lowered in TRUE:
        return True
    if lowered in FALSE:
        return False
    raise SmtpUrlError(f"{name}={value!r} is not true or false")
