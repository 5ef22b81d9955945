"""The stages the queue serves: each stage app registers what the queue and the pages need to know about it.

The queue (this app) imports no stage. A stage app registers one `StageSpec` in its
`AppConfig.ready()`, as Django's admin and DRF's routers collect their parts:

    def ready(self):
        from engine.leases import registry
        from engine.ranking.stage import RANK

        registry.register(RANK)

The stage's name is also one of `leases.models.Stage`, the choices of `Task.stage`; system
check leases.E002 reports a choice without a spec, or a spec without a choice.
"""

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field

from django.core.exceptions import ImproperlyConfigured


@dataclass(frozen=True)
class ClaimFilter:
    """An optional narrowing of a stage's claims, named by the claim's parameter of the same name.

    `sql(quote)` returns a condition on the candidate task row `t` that reads the parameter's
    value as `%(name)s`; it joins the claim's one statement only when the value is not empty.
    """

    choices: tuple[tuple[str, str], ...]
    sql: Callable[[Callable[[str], str]], str]
    help_text: str = ""


@dataclass(frozen=True)
class StageSpec:
    """What the queue and the pages know of one stage; `Task.stage` holds its `name`."""

    name: str  # a value of leases.models.Stage
    role: str  # the role that works on it (engine.core.roles)
    label: str  # its name in the navigation; its page is /<name>/, the template annotation_ui/<name>.html of any app
    related: tuple[str, ...]  # select_related paths a claimed task of the stage is served with
    payload: Callable  # payload(task, request) -> dict: what the client shows for a held task
    submit: Callable  # submit(request, task_id, idempotency_key) -> dict: the submit's answer
    # A condition on the candidate task row `t` that every claim of the stage adds to its one
    # statement, given `quote` (the connection's quote_name); it may read %(user)s and %(now)s.
    claim_sql: Callable[[Callable[[str], str]], str] | None = None
    claim_filters: Mapping[str, ClaimFilter] = field(default_factory=dict)
    order: int = 0  # its place in the navigation, in the order of the data flow


_stages: dict[str, StageSpec] = {}


def register(spec):
    """Add a stage; registering a second spec under a name already taken is an error."""
    if spec.name in _stages:
        raise ImproperlyConfigured(
            f"Stage {spec.name!r} is already registered (by {_stages[spec.name].submit.__module__}); "
            "each stage app registers its stage once, in its AppConfig.ready()."
        )
    _stages[spec.name] = spec


def unregister(name):
    """Remove a stage (for tests that register a stage of their own)."""
    _stages.pop(name, None)


def get(name):
    """Return the spec of a registered stage; raise ImproperlyConfigured naming the registered ones otherwise."""
    try:
        return _stages[name]
    except KeyError:
        raise ImproperlyConfigured(
            f"No stage {name!r} is registered (registered: {', '.join(sorted(_stages)) or 'none'}); "
            "is its app in INSTALLED_APPS?"
        ) from None


def stages():
    """Return every registered stage, in the order of the data flow."""
    return sorted(_stages.values(), key=lambda spec: (spec.order, spec.name))


def choices():
    """[(name, label)] of the registered stages: the choices of Task.stage, so a new stage needs no migration."""
    return [(spec.name, spec.label) for spec in stages()]


def claim_filters():
    """Return {parameter: ClaimFilter} of every stage (the claim endpoint's optional parameters)."""
    return {name: spec_filter for spec in stages() for name, spec_filter in spec.claim_filters.items()}
