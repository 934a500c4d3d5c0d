"""Calling Slack with slack_sdk's WebClient: a 429 as an exception carrying its wait, the options
every post and edit is sent with, and the metadata that lets a post be found again."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import timedelta
from typing import Any

from slack_sdk.errors import SlackApiError

METADATA_TYPE = "statuspage_message"
# Slack always sends Retry-After with a 429; this is for a proxy that does not.
DEFAULT_RATE_LIMIT_WAIT = timedelta(seconds=30)


class RateLimited(Exception):
    """Slack answered 429; carries how long to wait. ``not_posted`` when the refused call was the
    post itself, after any look-up for an earlier copy found none: the message is then known not
    to be in Slack."""

    def __init__(self, wait: timedelta, *, not_posted: bool = False) -> None:
        super().__init__(f"rate limited for {wait.total_seconds():g}s")
        self.wait = wait
        self.not_posted = not_posted


def call(method: Callable[..., Any], **kwargs: Any) -> Any:
    """A WebClient call; a 429 becomes :class:`RateLimited` with the wait Slack asked for."""
    try:
        return method(**kwargs)
    except SlackApiError as exc:
        response = exc.response
        data = getattr(response, "data", None)
        error = data.get("error") if isinstance(data, dict) else None
        if getattr(response, "status_code", None) == 429 or error == "ratelimited":
            raise RateLimited(retry_after(getattr(response, "headers", {}) or {})) from None
        raise


def retry_after(headers: Mapping[str, Any]) -> timedelta:
    for name, value in headers.items():
        if name.lower() == "retry-after":
            text = str(value[0] if isinstance(value, list) else value).strip()
            if text.isdigit():
                return max(timedelta(seconds=int(text)), timedelta(seconds=1))
    return DEFAULT_RATE_LIMIT_WAIT


def post_options() -> dict[str, Any]:
    # Nothing in our text is turned into a mention or a link by Slack itself: only the <@U…> and
    # <url|label> that the templates built on purpose.
    return {"parse": "none", "link_names": False, "unfurl_links": False, "unfurl_media": False}


def update_options() -> dict[str, Any]:
    # chat.update parses like a client by default, unlike chat.postMessage: say "none" here too.
    return {"parse": "none", "link_names": False}


def metadata(delivery_id: str, incident_id: Any) -> dict[str, Any]:
    event_payload: dict[str, Any] = {"delivery_id": delivery_id}
    if incident_id is not None:
        event_payload["incident_id"] = str(incident_id)
    return {"event_type": METADATA_TYPE, "event_payload": event_payload}
