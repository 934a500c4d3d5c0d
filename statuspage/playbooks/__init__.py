"""Playbooks: the steps run for an incident of a given severity (see :mod:`statuspage.playbooks.schema`)."""

from statuspage.playbooks.schema import (
    Matrix,
    Playbook,
    PlaybookError,
    load_playbook_file,
    load_playbooks,
    matrix_json,
    parse_playbook,
    playbook_for,
    render_template,
)

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
