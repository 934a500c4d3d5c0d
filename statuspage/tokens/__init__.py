"""Bearer tokens for the admin API: created and revoked from the command line, checked per request."""
