"""Pages to URL contacts of the escalation matrix: ``apprise`` (any service Apprise reaches: ntfy,
Telegram, Teams, SMS through Twilio …) and ``webhook`` (a signed JSON POST).

:mod:`.hook` queues one outbox message per page on the ``apprise`` or ``page_webhook`` channel,
in the transaction of the change that pages; :mod:`.apprise_sender` and :mod:`.webhook_sender`
send them, recording on each page's row whether it went out (``sent``) or never can
(``failed``, reported with ``incident.page_failed``). The URLs hold secrets: they are shown
masked (:mod:`statuspage.contact_urls`).
"""
