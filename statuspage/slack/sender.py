"""The outbox sender for Slack, and its console stand-in for when there is no token.

How each kind of message is delivered (see :mod:`statuspage.slack.hook` for how they are queued):

- *headline*: ``chat.postMessage`` in the incidents channel; its ``ts`` and channel id are kept in
  :class:`~statuspage.db.models.SlackThread`. Later states are ``chat.update`` of that message.
  The headline is rendered from the database when it is sent, so whatever is sent is current;
  an edit with a newer edit waiting behind it is therefore skipped (recorded as delivered,
  ``superseded_by``), which turns a burst of changes into one ``chat.update``.
- *reply*: ``chat.postMessage`` with ``thread_ts``, rendered from the facts the change recorded.
  If the incident has no headline yet (Slack was switched on mid-incident), one is posted first.
- *dm*: ``conversations.open`` with the person, then ``chat.postMessage`` with an Acknowledge
  button; skipped if the incident was acknowledged or resolved before it could go out.
- *post*: ``chat.postMessage`` in another channel.

Delivering exactly once. The outbox delivers at least once; a post whose answer never came
(a time-out, a dropped connection, a 5xx) may or may not have reached Slack. So before each
``chat.postMessage`` the message is marked ``uncertain`` in its outbox row, every post carries
the outbox delivery id in Slack message metadata, and a retry of an uncertain message first looks
for it (``conversations.replies`` in the thread, ``conversations.history`` in a channel whose id
is known) and, if it is there, records it as delivered instead of posting again. Without the
history scopes, or for a channel never posted to before, the look-up is skipped and the post is
repeated: at least once, as the outbox promises. slack_sdk's own retry handlers are switched off
(they would repeat a post blindly); the outbox does the retrying.

Failures: 429 backs off the whole channel (:class:`~statuspage.db.models.SlackChannelState`,
shared by every worker) for ``Retry-After`` and pushes that channel's other pending messages back
with it, instead of each message discovering the limit on its own. A 429 says the call was not
carried out, so the retry posts without looking for an earlier copy first. Waiting out a rate
limit, a 5xx, a time-out or a refused connection is never a failed attempt (an outage of Slack
must not kill a page): the outbox tries again until Slack answers. Only answers that can never
succeed end a message: a refused token (``invalid_auth`` ...), a channel that does not exist or
that the bot is not in, another 4xx. Then the message is dead, visible with ``statuspage
outbox`` and printed by the worker; a page that died is reported in the tier's channel, so that
someone reaches the person another way. Unknown Slack errors are tried a few times first.

Without a token (``slack.token_env`` unset) or with ``slack.enabled: false``, the console sender
(:mod:`statuspage.slack.console`) prints one line per message and marks it delivered: the toolkit
works offline.

Pages: a direct message or owner post carries the id of its page row, and the row records what
became of it (:mod:`statuspage.oncall.delivery`): sent with the message's ``ts``, not sent when it
was moot or only printed, failed (with Slack's answer) when it went dead.
"""

from __future__ import annotations

import http.client
import logging
import os
import re
from collections.abc import Mapping
from typing import Any, TextIO, cast
from urllib.error import URLError

from slack_sdk import WebClient
from slack_sdk.errors import SlackApiError, SlackClientError

from statuspage.context import WriteContext
from statuspage.db.models import OutboxMessage
from statuspage.oncall import delivery
from statuspage.outbox import Outcome
from statuspage.slack.client import METADATA_TYPE, RateLimited, call, metadata, post_options, update_options
from statuspage.slack.console import offline_reason, print_message
from statuspage.slack.headline import edit_to_skip, edit_without_headline, headline_message
from statuspage.slack.messages import render
from statuspage.slack.pages import late_result, note_delivery, page_id_of, page_moot, render_page_dm
from statuspage.slack.threads import (
    block_channel,
    blocked_until,
    forget_thread,
    is_uncertain,
    known_channel_id,
    mark_uncertain,
    store_thread,
    thread_of,
    touch_thread,
)

log = logging.getLogger(__name__)

TIMEOUT_SECONDS = 10.0
OTHER_ERROR_ATTEMPTS = 5
AUTH_ERRORS = frozenset({"invalid_auth", "not_authed", "token_revoked", "token_expired", "account_inactive"})
# Answers that no retry can change: the message is dead at once (and reported).
FINAL_ERRORS = AUTH_ERRORS | frozenset(
    {
        "channel_not_found",
        "not_in_channel",
        "is_archived",
        "user_not_found",
        "user_disabled",
        "cannot_dm_bot",
        "missing_scope",
        "no_permission",
        "restricted_action",
        "invalid_arguments",
        "msg_too_long",
        "invalid_blocks",
        "invalid_metadata_format",
    }
)
# Slack's own words for "try again later" in an answer that is not a 5xx.
TRANSIENT_ERRORS = frozenset({"internal_error", "fatal_error", "service_unavailable", "request_timeout", "ratelimited"})
LOOKUP_LIMIT = 200
LIST_PAGES = 20
CHANNEL_ID = re.compile(r"^[CDG][A-Z0-9]{6,}$")


class SlackSender:
    """Sends ``slack`` outbox messages with slack_sdk's WebClient, or prints them without a token.

    One per worker; it keeps one WebClient per token and what it learnt of channel ids. ``env``
    (default ``os.environ``) is where the token is looked up, at each message, so tests can run
    a worker with and without one; ``out`` is where the console prints (default: stdout).
    """

    def __init__(
        self,
        *,
        timeout: float = TIMEOUT_SECONDS,
        env: Mapping[str, str] | None = None,
        out: TextIO | None = None,
    ) -> None:
        self.timeout = timeout
        self.env = env
        self.out = out
        self._clients: dict[tuple[str, str | None], WebClient] = {}
        # Channel names and user ids to the channel ids Slack gave for them (for history look-ups).
        self._channel_ids: dict[str, str] = {}
        self._said_offline = False
        # Delivery ids a look-up in this attempt found no earlier copy of.
        self._not_found: set[str] = set()

    def close(self) -> None:
        self._clients.clear()

    # Choosing the way --------------------------------------------------------------------------

    def send(self, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        slack = ctx.config.slack
        token = (os.environ if self.env is None else self.env).get(slack.token_env, "").strip()
        if not slack.enabled or not token:
            if not self._said_offline:
                why = offline_reason(ctx.config)
                log.warning("%s: Slack messages are printed to the console instead of sent", why)
                self._said_offline = True
            return print_message(message, ctx, self.out)
        client = self._client(token, slack.base_url)
        try:
            return self._deliver(client, message, ctx)
        except RateLimited as exc:
            ctx.session.rollback()
            until = ctx.now() + exc.wait
            block_channel(ctx, message.target, until)
            return Outcome.wait(
                f"Slack rate-limited {message.target}; the channel waits {exc.wait.total_seconds():g}s",
                retry_after=exc.wait,
                # Refused, so not posted: the retry need not look for it (a look-up is one more
                # call during the very limit it would run into).
                result={"uncertain": False} if exc.not_posted else None,
            )
        except SlackApiError as exc:
            ctx.session.rollback()
            return self._api_failure(exc, message, ctx)
        except (OSError, http.client.HTTPException, SlackClientError) as exc:
            ctx.session.rollback()
            return Outcome.wait(self._transport_detail(exc))

    def _client(self, token: str, base_url: str | None) -> WebClient:
        key = (token, base_url)
        client = self._clients.get(key)
        if client is None:
            client = WebClient(
                token=token,
                base_url=base_url or WebClient.BASE_URL,
                # Annotated int in slack_sdk, but handed to urlopen, which takes seconds as a float.
                timeout=cast(int, self.timeout),
                retry_handlers=[],
                logger=logging.getLogger("statuspage.slack.client"),
            )
            self._clients[key] = client
        return client

    def _transport_detail(self, exc: BaseException) -> str:
        reason = exc.reason if isinstance(exc, URLError) else exc
        if isinstance(reason, TimeoutError):
            return f"no answer from Slack within {self.timeout:g}s"
        return f"cannot reach Slack: {type(reason).__name__}: {reason}"

    def _api_failure(self, exc: SlackApiError, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        response = exc.response
        status = int(getattr(response, "status_code", 0) or 0)
        data = getattr(response, "data", None)
        error = str(data.get("error", "")) if isinstance(data, dict) else ""
        result = {"status_code": status, "error": error}
        if status >= 500 or status == 408:
            return Outcome.wait(f"HTTP {status} from Slack; trying again")
        if error in TRANSIENT_ERRORS:
            return Outcome.wait(f"Slack answered {error}; trying again")
        if error in {"message_not_found", "cant_update_message"} and message.payload.get("kind") == "headline":
            # Someone deleted the headline in Slack: forget it, the next reply posts a new one.
            forget_thread(ctx, int(message.payload["incident"]["id"]), message.target)
            return Outcome.delivered({"skipped": f"the headline is gone from Slack ({error})"})
        if error in AUTH_ERRORS:
            return Outcome.dead(
                f"Slack refused the token ({error}); check {ctx.config.slack.token_env}",
                result=result | {"uncertain": is_uncertain(message)},
            )
        detail = f"Slack answered {error or f'HTTP {status}'}"
        log.warning("Slack message %s to %s: %s", message.id, message.target, detail)
        if error in FINAL_ERRORS or (400 <= status < 500 and status != 429):
            return Outcome.dead(detail, result=result | {"uncertain": is_uncertain(message)})
        return Outcome.retry(
            detail, result=result | {"uncertain": is_uncertain(message)}, max_attempts=OTHER_ERROR_ATTEMPTS
        )

    # Slack -------------------------------------------------------------------------------------

    def _deliver(self, client: WebClient, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        session, now = ctx.session, ctx.now()
        blocked = blocked_until(session, message.target)
        if blocked is not None and blocked > now:
            session.rollback()
            # Nothing was sent: not an attempt at all.
            return Outcome.wait(
                f"{message.target} is rate-limited until {blocked.isoformat()}", retry_after=blocked - now
            )
        payload = message.payload
        kind = payload["kind"]
        if kind == "headline":
            return self._headline(client, message, ctx)
        if kind == "reply":
            return self._reply(client, message, ctx)
        if kind == "dm":
            return self._direct(client, message, ctx)
        return self._post(client, message, ctx)

    def _headline(self, client: WebClient, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        session, now = ctx.session, ctx.now()
        incident_id = int(message.payload["incident"]["id"])
        op = message.payload.get("op", "post")
        if op == "update":
            skip = edit_to_skip(session, message, now)
            if skip is not None:
                session.rollback()
                return skip
        thread = thread_of(session, incident_id, message.target)
        if thread is None and op == "update":
            return edit_without_headline(session, message, incident_id, now)
        content = headline_message(session, ctx.config, incident_id, now, op="post" if thread is None else "update")
        session.rollback()
        if thread is not None:
            channel_id, ts = thread
            call(client.chat_update, channel=channel_id, ts=ts, **update_options(), **content)
            touch_thread(ctx, incident_id, message.target)
            return Outcome.delivered({"ts": ts, "channel": channel_id, "op": "update"})
        posted = self._find_again(client, message, ctx, channel=message.target)
        if posted is not None:
            channel_id, ts = posted
            store_thread(ctx, incident_id, message.target, channel_id, ts)
            call(client.chat_update, channel=channel_id, ts=ts, **update_options(), **content)
            return Outcome.delivered({"ts": ts, "channel": channel_id, "op": "found"})
        channel_id, ts = self._post_message(client, message, ctx, channel=message.target, content=content)
        store_thread(ctx, incident_id, message.target, channel_id, ts)
        return Outcome.delivered({"ts": ts, "channel": channel_id, "op": "post"})

    def _reply(self, client: WebClient, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        session, now = ctx.session, ctx.now()
        payload = message.payload
        incident_id = int(payload["incident"]["id"])
        content = render(payload["template"], ctx.config, incident=payload["incident"], data=payload["data"])
        thread = thread_of(session, incident_id, message.target)
        headline = None
        if thread is None:
            headline = headline_message(session, ctx.config, incident_id, now, op="post")
        session.rollback()
        if thread is None:
            assert headline is not None
            late = {**headline, "metadata": metadata(message.delivery_id + "/headline", incident_id)}
            response = call(client.chat_postMessage, channel=message.target, **post_options(), **late)
            thread = (str(response["channel"]), str(response["ts"]))
            store_thread(ctx, incident_id, message.target, *thread)
        channel_id, thread_ts = thread
        found = self._find_again(client, message, ctx, channel=channel_id, thread_ts=thread_ts)
        if found is not None:
            return Outcome.delivered({"ts": found[1], "channel": channel_id, "op": "found"})
        _, ts = self._post_message(client, message, ctx, channel=channel_id, content=content, thread_ts=thread_ts)
        return Outcome.delivered({"ts": ts, "channel": channel_id, "thread_ts": thread_ts})

    def _direct(self, client: WebClient, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        session = ctx.session
        payload = message.payload
        moot = page_moot(session, int(payload["incident"]["id"]))
        content = None if moot is not None else render_page_dm(message, ctx)
        session.rollback()
        if moot is not None and not is_uncertain(message):
            note_delivery(ctx, message, delivery.NOT_SENT, error=moot)
            return Outcome.delivered({"skipped": moot})
        channel_id = self._channel_ids.get(message.target)
        if channel_id is None:
            opened = call(client.conversations_open, users=message.target)
            channel_id = str(opened["channel"]["id"])
            self._channel_ids[message.target] = channel_id
        # An earlier attempt may have reached the person even if the page is moot now: say what
        # happened, not what would have.
        found = self._find_again(client, message, ctx, channel=channel_id)
        if found is not None:
            note_delivery(ctx, message, delivery.SENT, ref=found[1])
            return Outcome.delivered({"ts": found[1], "channel": channel_id, "op": "found"})
        if moot is not None or content is None:
            note_delivery(ctx, message, delivery.NOT_SENT, error=moot)
            return Outcome.delivered({"skipped": moot})
        _, ts = self._post_message(client, message, ctx, channel=channel_id, content=content)
        note_delivery(ctx, message, delivery.SENT, ref=ts)
        return Outcome.delivered({"ts": ts, "channel": channel_id} | late_result(message, ctx))

    def _post(self, client: WebClient, message: OutboxMessage, ctx: WriteContext) -> Outcome:
        payload = message.payload
        content = render(payload["template"], ctx.config, incident=payload.get("incident"), data=payload["data"])
        ctx.session.rollback()
        found = self._find_again(client, message, ctx, channel=message.target)
        if found is not None:
            note_delivery(ctx, message, delivery.SENT, ref=found[1])
            return Outcome.delivered({"ts": found[1], "channel": found[0], "op": "found"})
        channel_id, ts = self._post_message(client, message, ctx, channel=message.target, content=content)
        note_delivery(ctx, message, delivery.SENT, ref=ts)
        return Outcome.delivered({"ts": ts, "channel": channel_id})

    def _post_message(
        self,
        client: WebClient,
        message: OutboxMessage,
        ctx: WriteContext,
        *,
        channel: str,
        content: dict[str, Any],
        thread_ts: str | None = None,
    ) -> tuple[str, str]:
        """chat.postMessage, marked uncertain first so that a retry looks before posting again."""
        was_uncertain = is_uncertain(message)
        mark_uncertain(ctx, message)
        incident = message.payload.get("incident") or {}
        try:
            response = call(
                client.chat_postMessage,
                channel=channel,
                thread_ts=thread_ts,
                metadata=metadata(message.delivery_id, incident.get("id")),
                **post_options(),
                **content,
            )
        except RateLimited as exc:
            # Refused, so not posted now; and an earlier attempt's copy, if there could be one, was
            # looked for just before and is not in Slack either.
            exc.not_posted = not was_uncertain or message.delivery_id in self._not_found
            raise
        finally:
            self._not_found.discard(message.delivery_id)
        channel_id, ts = str(response["channel"]), str(response["ts"])
        self._channel_ids[channel] = channel_id
        return channel_id, ts

    def _find_again(
        self,
        client: WebClient,
        message: OutboxMessage,
        ctx: WriteContext,
        *,
        channel: str,
        thread_ts: str | None = None,
    ) -> tuple[str, str] | None:
        """After an attempt that may have posted, the (channel id, ts) of what it posted, if Slack has it."""
        if not is_uncertain(message):
            return None
        try:
            channel_id = self._channel_id(client, ctx, channel)
            if channel_id is None:
                log.info("cannot check whether message %s reached %s: its channel id is unknown", message.id, channel)
                return None
            if thread_ts is not None:
                response = call(
                    client.conversations_replies,
                    channel=channel_id,
                    ts=thread_ts,
                    include_all_metadata=True,
                    limit=LOOKUP_LIMIT,
                )
            else:
                # The newest messages of the channel, not "since the attempt": our clock and Slack's
                # need not agree, and a retry comes soon enough for the post to be among them.
                response = call(
                    client.conversations_history, channel=channel_id, include_all_metadata=True, limit=LOOKUP_LIMIT
                )
        except SlackApiError as exc:
            status = int(getattr(exc.response, "status_code", 0) or 0)
            if status >= 500:
                raise
            error = exc.response.get("error") if isinstance(exc.response.data, dict) else status
            log.warning("cannot check whether message %s reached %s (%s); posting it again", message.id, channel, error)
            return None
        for found in response.get("messages") or []:
            metadata = found.get("metadata") or {}
            event_payload = metadata.get("event_payload") or {}
            if metadata.get("event_type") == METADATA_TYPE and event_payload.get("delivery_id") == message.delivery_id:
                return channel_id, str(found["ts"])
        self._not_found.add(message.delivery_id)
        return None

    def _channel_id(self, client: WebClient, ctx: WriteContext, channel: str) -> str | None:
        """The id of a channel given by name, for the look-ups that need one: learnt from earlier
        posts (this worker's, or any incident's headline), else from ``conversations.list``."""
        if CHANNEL_ID.match(channel):
            return channel
        known = self._channel_ids.get(channel)
        if known is None:
            known = known_channel_id(ctx.session, channel)
            ctx.session.rollback()
        if known is None:
            cursor: str | None = None
            for _ in range(LIST_PAGES):
                response = call(
                    client.conversations_list,
                    types="public_channel,private_channel",
                    exclude_archived=True,
                    limit=LOOKUP_LIMIT,
                    cursor=cursor,
                )
                found = [c for c in response.get("channels") or [] if c.get("name") == channel.removeprefix("#")]
                if found:
                    known = str(found[0]["id"])
                    break
                cursor = (response.get("response_metadata") or {}).get("next_cursor") or None
                if not cursor:
                    break
        if known is not None:
            self._channel_ids[channel] = known
        return known

    # Dead letters ------------------------------------------------------------------------------

    def gave_up(self, message: OutboxMessage, outcome: Outcome, ctx: WriteContext) -> str | None:
        """A page that can never be delivered is reported: on the incident's timeline, in its
        thread and in the paged tier's channel (unless that is what failed), so that someone
        reaches the person another way. Returns a line for the worker's console."""
        kind = message.payload.get("kind")
        if kind != "dm" and page_id_of(message) is None:
            return None
        from statuspage.oncall import engine

        data = message.payload.get("data") or {}
        incident_id = int(message.payload["incident"]["id"])
        told = engine.report_failed_page(
            ctx=ctx,
            incident_id=incident_id,
            owner=str(data.get("owner") or message.target),
            contact_kind="slack_user" if kind == "dm" else "slack_channel",
            contact=message.target,
            tier=data.get("tier"),
            error=outcome.detail,
            page_id=page_id_of(message),
        )
        where = ", ".join(told) if told else "the incident's timeline"
        return f"incident {incident_id}: could not page {data.get('owner') or message.target} by Slack ({outcome.detail}); told {where}"
