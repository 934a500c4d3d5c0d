"""The read model: the queries and shapes that the public pages, the Statuspage v2 API, feeds,
webhook payloads and the CLI's ``--json`` share. It reads the database and never changes it, and
it is given the time it reads at (``now``): it never reads a clock of its own. The web package and
the command lines render it; services and notifiers may use it, never the web package."""
