"""The generator names a project may list, as the app that runs the generators declares them.

Projects live here, in the lowest app; the model suite is run by `candidates`, which depends on
this app. So `candidates` provides the names in its AppConfig.ready() (`provide_generator_names`),
and this app never imports it.
"""

from django.core.exceptions import ImproperlyConfigured, ValidationError

_provider = None


def provide_generator_names(provider):
    """Set the function that returns the names of this deployment's generators (called in an AppConfig.ready())."""
    global _provider
    _provider = provider


def generator_names():
    """Return the sorted generator names a project's `generators` may list."""
    if _provider is None:
        raise ImproperlyConfigured("No app provides the generator names; is engine.candidates in INSTALLED_APPS?")
    return sorted(_provider())


def check_generators(value):
    """Raise ValidationError unless `value` names generators of this deployment's suite.

    "flow_model" picks every deployed checkpoint of ours; an empty list runs every available one.
    """
    if not isinstance(value, list) or not all(isinstance(name, str) for name in value):
        raise ValidationError("Give a list of generator names (an empty list runs every available one).")
    known = generator_names()
    unknown = sorted(set(value) - set(known))
    if unknown:
        # A misspelt name would leave the project's sets empty and send every object to the artists.
        raise ValidationError(f"Unknown generators: {', '.join(unknown)}. Choose from "
                              f"{', '.join(known)} (see GET /api/generators/).")
