"""The admin API's operations on the customers subscribed to the page: how many follow what, and
one subscriber with what was sent to them. Read-only: subscriptions change through the public
form, the links in their emails, and ``statuspage subscribers``.

A subscriber and their deliveries are shown as :mod:`statuspage.subscribers.views` has them:
never with the nonces signed into their links, nor the bodies of their messages.
"""

from __future__ import annotations

from statuspage.subscribers import queries
from statuspage.subscribers import service as subscribers
from statuspage.subscribers.views import delivery_json, subscriber_json
from statuspage.web.admin.calls import Call, Reply
from statuspage.web.admin.payloads import parse_id


def subscriber_counts(call: Call) -> Reply:
    return Reply({"page": call.builder.page_json(), "counts": queries.counts(call.session)})


def show_subscriber(call: Call) -> Reply:
    subscriber = queries.get(call.session, parse_id(call.params["subscriber_id"], "subscriber"))
    assert subscriber.id is not None
    log = queries.delivery_log(call.session, subscriber.id)
    return Reply(
        {
            "page": call.builder.page_json(),
            "subscriber": subscriber_json(subscriber, subscribers.components_of(call.session, subscriber)),
            "deliveries": [delivery_json(message) for message in log],
        }
    )
