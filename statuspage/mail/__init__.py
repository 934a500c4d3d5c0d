"""Pages by email: every ``email`` contact of the escalation matrix that a playbook pages gets a
message through the outbox's ``email`` channel, sent to an SMTP server (``STATUSPAGE_SMTP_URL``)
or, without one, written as an ``.eml`` file under ``var/mail/``.

- :mod:`statuspage.smtp_url` (beside the package, as the configuration reads it too): the SMTP server's URL.
- :mod:`statuspage.mail.hook`: the before-commit hook that queues one message per email page.
- :mod:`statuspage.mail.compose`: what the message says (plain text and HTML), its headers.
- :mod:`statuspage.mail.sender`: the outbox sender (SMTP, or the ``.eml`` files).
- :mod:`statuspage.mail.smtp`: one SMTP connection reused for a batch, and what the server's answers mean
  for an outbox message (wait, retry, dead); every sender of email goes through it.
"""
