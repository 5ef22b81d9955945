"""System checks of the simulation: the hidden truth must stay hidden."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Error, register

from engine.simulation.models import truth_storage


@register()
def check_truth_storage(app_configs, **kwargs):
    """Report a truth storage inside MEDIA_ROOT, whose files the media view serves to anyone with a role."""
    truth, media = Path(truth_storage().location).resolve(), Path(settings.MEDIA_ROOT).resolve()
    if truth != media and media not in truth.parents:
        return []
    return [Error(
        f"The true meshes of the simulation are stored in {truth}, inside MEDIA_ROOT ({media}): the media view "
        "would serve them to every annotator, who could then rank and align against the answer.",
        hint="Set SIMULATION_TRUTH_ROOT to a folder outside MEDIA_ROOT, or leave it unset (a folder beside it).",
        id="simulation.E001",
    )]
