"""The admin API: writing to the status page from outside, with bearer tokens.

Everything lives under ``/api/admin/v1/`` and is described by one table, :data:`OPERATIONS`, from
which both the routes and the OpenAPI 3.1 document at ``/api/admin/v1/openapi.json`` are made, so
the two cannot drift apart.

Decisions, so that clients can rely on them:

- **Authentication.** ``Authorization: Bearer sp_...``, a token made with ``incident token create``.
  No token, an unknown one or a revoked one is 401 with ``WWW-Authenticate: Bearer``; a ``read``
  token on a write is 403. Only the OpenAPI document is public.
- **Who did it.** The service layer acts as ``token:NAME`` (source ``api``), so the audit log names
  the token. A client may add ``X-Incident-User: alice`` (UTF-8, at most 80 characters) to name the
  person at the keyboard; the actor is then ``alice via token:NAME``. The header is the token
  holder's claim, so the token's name is always kept beside it; the claimed name alone is used
  where a person is meant: the default commander of a declared incident and the default
  acknowledger.
- **Access log.** Every request of a known token, answered or refused, is one ``api.request`` audit
  event (token, method, path, status, client address; never the secret): a write's in the
  transaction of its change, linked to that change's events; a read's in a transaction of its own
  that bumps no data version; a refusal's a few seconds later. Anonymous refusals are counted,
  one ``api.refused`` event per client address, minute, status and reason. See "The access
  audit" below.
- **Requests.** Bodies are JSON objects (``application/json`` or ``application/*+json``, UTF-8, at
  most 256 KiB), validated by the pydantic models below with unknown fields refused. An empty body
  counts as ``{}``, so actions whose fields are all optional (``resolve``) need none. Times must
  carry an offset (and lie between 1970 and 9000).
- **Errors** are RFC 9457 ``application/problem+json``: 400 malformed JSON (a key twice in one
  object too: which of the two was meant?), 401, 403, 404 unknown incident/maintenance/component/action item
  or subscriber in the path (an id that cannot be one, too: past 32 bits, other scripts' digits), 405, 409 a
  state conflict (resolving a resolved incident), 413, 415 not JSON, 422 invalid input, 503 the
  database away (with ``Retry-After``). A 422's ``detail`` is one line naming the field
  (``severity: must be 1-4``) and ``errors`` lists every ``{field, message}``. An unknown
  component named in a body is 422 (the request is wrong, not the address). Bad input never
  gives a 500.
- **Responses** are envelopes of Statuspage v2 objects (the shapes of :mod:`statuspage.read.v2`), with
  the ``page`` object beside them, so one renderer serves the public API, the admin API and the
  CLI. Each incident also carries an ``admin`` object with what the public format leaves out
  (commander, acknowledgement, exact times, who wrote each update, the status each component is
  held at); public clients ignore unknown keys.

Beyond declaring, updating and reading, the table has ``GET /token`` (which token is calling, and the
page, whose time zone the CLI needs to read '2026-12-01T06:00'), ``POST /incidents/{id}/handover``,
``POST /incidents/{id}/sla-pause`` and ``/sla-resume``, ``GET /maintenances/{id}``, and what follows
an incident: ``POST /incidents/{id}/escalate`` and ``/severity``, ``POST /incidents/{id}/analysis``,
``GET /incidents/{id}/postmortem`` and ``POST .../postmortem/publish``, action items
(``POST /incidents/{id}/actions``, ``GET /actions``, ``GET /actions/{id}``, ``POST /actions/{id}/done``),
``GET /reports/monthly`` and ``POST /reports/monthly/slack-summary``, so that every ``incident``
command that works on incident data works remotely, printing what it prints locally. For the
customers subscribed to the page, ``GET /subscribers/counts`` (by state and kind, and per
component) and ``GET /subscribers/{id}`` (one subscriber and its delivery log; never the secrets
signed into its links, nor its messages' bodies). Declaring (``--playbook`` too), escalating and changing the severity answer with
``paging``: whom the change paged, in order, and when the next step runs unless someone
acknowledges. A refusal by the service layer also carries ``message``, its words without the
field name, which the command line prints as it does in local mode. A database that cannot be
reached is 503.

Handlers are plain functions run in Starlette's thread pool: the service layer and its database
work are synchronous, and must not block the event loop.
"""

# The docstring above is served, word for word, as the OpenAPI document's description (see
# openapi.py): a change to it is a change to the published document.
#
# The modules, roughly in the order a request meets them:
#   operations  the table of operations, the routes made from it, and the request pipeline
#   auth        bearer tokens, the X-Incident-User header, the actor the service layer sees
#   body        reading a JSON body; schemas, the pydantic models it is validated by
#   handlers    one function per operation; payloads, the JSON they answer with
#   problems    refusals as RFC 9457 problem documents
#   access      the access audit: one record of every request
#   openapi     the OpenAPI 3.1 document, made from the table
#   calls       what these share: the path prefix, a handler's call and reply, an operation
