"""Checks of the generator names a project may run, shared by the project API and the admin."""

from django.core.exceptions import ValidationError

from engine.candidates.generation import suite
from model_suite.registry import FLOW_MODEL


def check_generators(value):
    """Raise ValidationError unless `value` names generators of this deployment's suite.

    "flow_model" picks every deployed checkpoint of ours; an empty list runs every available one.
    """
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("Give a list of generator names (an empty list runs every available one).")
    known = set(suite()) | {FLOW_MODEL}
    unknown = sorted(set(value) - known)
    if unknown:
        # A misspelt name would leave the project's sets empty and send every object to the artists.
        raise ValidationError(f"Unknown generators: {', '.join(unknown)}. Choose from "
                              f"{', '.join(sorted(known))} (see GET /api/generators/).")
