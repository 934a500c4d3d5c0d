"""Slack: the on-call side of incidents, in the channel where people already are.

- :mod:`statuspage.slack.hook`: the before-commit hook that turns a transaction's audit events
  (declarations, updates, pages, escalations ...) into ``slack`` outbox messages.
- :mod:`statuspage.slack.messages` and ``templates/slack/*.json.j2``: what the messages say, as
  Block Kit templates whose every value is escaped for Slack.
- :mod:`statuspage.slack.sender`: delivers them with slack_sdk (a headline per incident edited in
  place, a thread reply per step, a direct message with an Acknowledge button per page), or prints
  them when there is no token.
- :mod:`statuspage.slack.digest`: the daily digest of open incidents.
- :mod:`statuspage.web.slack_actions`: ``POST /slack/actions``, where the Acknowledge button lands.

The composition root (:mod:`statuspage.runtime`) plugs the hook and the sender in.
"""
