"""One entry of the bad-input catalogue, in the format that
tests/test_bad_input_catalogue.py describes; every ``tests/bad_inputs/cases_*.py``
builds its entries with it."""
from __future__ import annotations

from typing import Dict, Optional


def case(id: str, setup: str, call: str, error: str, match: str, state: Optional[str] = None) -> Dict[str, str]:
    """A bad input: after ``setup``, ``call`` must raise ``error`` with a message matching ``match``,
    and the expression ``state`` (if given) must be the same before and after."""
    entry = {"id": id, "setup": setup, "call": call, "error": error, "match": match}
    if state is not None:
        entry["state"] = state
    return entry
