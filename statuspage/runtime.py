"""The composition root: what a process is made of, put together in one place.

:class:`Runtime` holds the settings, the database engine and the clock, and builds from them
everything that would otherwise be found by name at run time: the timer handlers the workers
fire with (:attr:`Runtime.timer_handlers`) and the outbox senders, one per channel
(:meth:`Runtime.senders`). The workers (:mod:`statuspage.worker`, :mod:`statuspage.outbox`)
take a runtime as a parameter and never import this module. A new outbox channel is its sender
class plus one line in :meth:`Runtime.senders`.

Also here: opening the product from a command line (settings, engine, schema check, component
sync).
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from sqlalchemy.engine import Engine
from sqlalchemy.exc import OperationalError
from sqlmodel import Session

from statuspage.clock import Clock, SystemClock
from statuspage.components import service as components
from statuspage.context import Actor, TimerHandler, Wiring, WriteContext
from statuspage.db import migrate
from statuspage.db.engine import make_engine, new_session, sqlite_file
from statuspage.domain.enums import Source
from statuspage.errors import DatabaseNotReady, UserError
from statuspage.settings import Settings, load_settings

if TYPE_CHECKING:
    from statuspage.outbox import Sender


@dataclass
class Runtime:
    settings: Settings
    engine: Engine
    clock: Clock
    # Timer kind -> what firing it does, inside the fire transaction. Tests add kinds of their own.
    timer_handlers: Mapping[str, TimerHandler] = field(default_factory=lambda: default_timer_handlers())
    # What every change runs before its commit, and where the playbooks are (default: wiring_for).
    wiring: Wiring = field(default=None)  # type: ignore[assignment]

    def __post_init__(self) -> None:
        if self.wiring is None:
            self.wiring = wiring_for(self.settings)

    def senders(self) -> dict[str, Sender]:
        """One sender per outbox channel this process delivers; the caller closes them."""
        from statuspage.mail.sender import EmailSender
        from statuspage.pagers.apprise_sender import AppriseSender
        from statuspage.pagers.webhook_sender import PageWebhookSender
        from statuspage.slack.sender import SlackSender
        from statuspage.webhooks.sender import WebhookSender

        email = EmailSender(
            smtp_url=self.settings.smtp_url, mail_dir=self.settings.mail_dir, secret_key=self.settings.secret_key
        )
        return {
            "webhook": WebhookSender(
                check_addresses=self.settings.config.subscriptions.check_admin_webhooks,
                allow_private=self.settings.allow_private_webhooks,
            ),
            "slack": SlackSender(),
            "email": email,
            "apprise": AppriseSender(secret_key=self.settings.secret_key),
            "page_webhook": PageWebhookSender(
                secret=self.settings.page_webhook_secret, secret_key=self.settings.secret_key
            ),
        }

    def subscriber_senders(self) -> dict[str, Sender]:
        """The senders of the subscribers' lane (:mod:`statuspage.subscribers.lane`), one per
        channel; the caller closes them."""
        from statuspage.subscribers.sender import SubscriberEmailSender, SubscriberWebhookSender

        email = SubscriberEmailSender(
            smtp_url=self.settings.smtp_url, mail_dir=self.settings.mail_dir, secret_key=self.settings.secret_key
        )
        webhook = SubscriberWebhookSender(
            allow_private=self.settings.allow_private_webhooks, secret_key=self.settings.secret_key
        )
        return {"sub_email": email, "sub_notice": email, "sub_webhook": webhook}

    def worker_jobs(self) -> list[Callable[[], bool]]:
        """What the on-call worker runs on every pass besides timers and the outbox."""
        from statuspage.slack import digest

        def post_digest() -> bool:
            with self.session() as session:
                return bool(
                    digest.post_digest_if_due(session, self.settings.config, self.clock.now(), wiring=self.wiring)
                )

        def post_weekly_report() -> bool:
            from statuspage.reports import schedule

            with self.session() as session:
                return schedule.post_weekly_if_due(session, self.settings.config, self.clock.now(), wiring=self.wiring)

        return [post_digest, post_weekly_report]

    @contextmanager
    def session(self) -> Iterator[Session]:
        with new_session(self.engine) as session:
            yield session

    def context(self, session: Session, actor: Actor) -> WriteContext:
        return WriteContext(
            session=session, clock=self.clock, actor=actor, config=self.settings.config, wiring=self.wiring
        )


def wiring_for(settings: Settings) -> Wiring:
    """The hooks every change of this product runs before its commit, in order: the webhook
    outbox, then Slack's, then email pages', then pages to apprise and webhook contacts, then the
    notices customers subscribed to. A new
    channel that listens to changes adds its hook here."""
    from statuspage.mail import hook as mail_hook
    from statuspage.pagers import hook as pager_hook
    from statuspage.slack import hook as slack_hook
    from statuspage.subscribers import notices as subscriber_notices
    from statuspage.webhooks import service as webhooks

    return Wiring(
        before_commit=(
            webhooks.enqueue_changes,
            slack_hook.enqueue_changes,
            mail_hook.enqueue_changes,
            pager_hook.enqueue_changes,
            subscriber_notices.enqueue_changes,
        ),
        playbooks_dir=settings.playbooks_dir,
    )


def default_timer_handlers() -> dict[str, TimerHandler]:
    from statuspage.incidents import service as incidents

    return {"ack_timeout": incidents.on_timer, "reminder": incidents.on_timer, "contact_rule": incidents.on_timer}


def describe_url(url: str) -> str:
    """The database URL without its password, for messages."""
    from sqlalchemy.engine import make_url

    try:
        return make_url(url).render_as_string(hide_password=True)
    except Exception:  # noqa: BLE001 - a malformed URL is shown as typed
        return url


def open_runtime(config_path: str | None = None, *, clock: Clock | None = None, check_schema: bool = True) -> Runtime:
    settings = load_settings(config_path)
    engine = make_engine(settings.database_url)
    runtime = Runtime(settings=settings, engine=engine, clock=clock or SystemClock())
    if check_schema:
        ensure_ready(runtime)
    return runtime


def ensure_ready(runtime: Runtime) -> None:
    """Refuse to work on a database the migrations have not brought up to date, and bring the
    components in line with the configuration file when it has changed."""
    path = sqlite_file(runtime.settings.database_url)
    if path is not None and not path.exists():
        # Connecting would create an empty file there, and doing what the next message advises
        # ('db upgrade') would fill it: a second database beside the one meant. Only 'db upgrade' creates.
        raise UserError(
            f"no database at {path}: check DATABASE_URL or the configuration's database.url (a relative "
            "path is read from the working directory), or, for a new one, create it with: statuspage db upgrade"
        )
    try:
        up_to_date = migrate.is_up_to_date(runtime.engine)
    except OperationalError as exc:
        raise DatabaseNotReady(
            f"cannot reach the database {describe_url(runtime.settings.database_url)}: {str(exc.orig).strip().splitlines()[0]}"
        ) from None
    if not up_to_date:
        raise DatabaseNotReady(
            f"the database {describe_url(runtime.settings.database_url)} is not up to date; run: statuspage db upgrade"
        )
    with runtime.session() as session:
        if components.needs_sync(session=session, config=runtime.settings.config):
            components.sync_from_config(ctx=runtime.context(session, Actor("config", Source.SYSTEM)))



