"""Customers who subscribe themselves to the page: by email or by webhook, to everything or to
the components they choose, with double opt-in and one-click unsubscribe.

- :mod:`~statuspage.subscribers.tokens`: the signed links (confirm, manage, unsubscribe) and the
  subscribe form's cross-site token.
- :mod:`~statuspage.subscribers.service`: every change to a subscription (subscribe, confirm,
  choose components, unsubscribe, remove, import), each with its audit event.
- :mod:`~statuspage.subscribers.notices`: the before-commit hook that writes one notice per public
  change subscribers are told about; :mod:`~statuspage.subscribers.fanout` expands each notice
  into one outbox message per matching subscriber, in chunks, in the worker.
- :mod:`~statuspage.subscribers.compose` and :mod:`~statuspage.subscribers.sender`: the emails
  and webhook bodies, and the outbox senders of the subscribers' lane.
- :mod:`~statuspage.subscribers.views`: a subscriber and their delivery log as JSON.
- :mod:`~statuspage.subscribers.csv_io`: the CSV export, and an import file read and checked.

Nothing reaches an address that did not confirm, except the confirmation itself; removing a
subscriber erases their address, URL and link nonces and keeps only anonymous counts.
"""
