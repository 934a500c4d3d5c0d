"""Playbooks: the steps run for an incident of a given severity.

The YAML schema is :mod:`statuspage.playbooks.schema`, loading and checking against the
configuration :mod:`statuspage.playbooks.load`, template rendering
:mod:`statuspage.playbooks.render`; what loads is the domain's
:class:`~statuspage.domain.playbook.Playbook`, run by the escalation machine
(:mod:`statuspage.playbooks.run`).
"""

from statuspage.domain.matrix import Matrix, matrix_json
from statuspage.domain.playbook import Playbook
from statuspage.playbooks.load import PlaybookError, load_playbook_file, load_playbooks, parse_playbook, playbook_for
from statuspage.playbooks.render import render_template

__all__ = [
    "Matrix",
    "Playbook",
    "PlaybookError",
    "load_playbook_file",
    "load_playbooks",
    "matrix_json",
    "parse_playbook",
    "playbook_for",
    "render_template",
]
