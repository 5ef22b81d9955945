"""Thin page views: each renders a shell; the page's JavaScript drives the engine's REST API."""

from django.contrib.auth.mixins import LoginRequiredMixin
from django.core.exceptions import PermissionDenied
from django.db.models import Count
from django.http import Http404, HttpResponse, JsonResponse
from django.urls import reverse
from django.views import View
from django.views.generic import TemplateView

from annotation_ui import plots, stats
from engine.artists.models import ArtistCase
from engine.core.models import Project
from engine.core.roles import ARTIST, ENGINEER, roles_of
from engine.leases import registry
from engine.leases import services as leases
from engine.leases.models import TaskStatus

# How often the dashboard re-reads its figures (?refresh=SECONDS overrides it).
DASHBOARD_REFRESH_SECONDS = 15


def current_project(request):
    """Return the project named by ?project=, else the first project, else None."""
    raw = request.GET.get("project", "")
    projects = Project.objects.order_by("id")
    if raw.isdigit():
        found = projects.filter(pk=int(raw)).first()
        if found:
            return found
    return projects.first()


class PageMixin(LoginRequiredMixin):
    """Add the user's roles, the role-aware navigation and the chosen project to every page."""

    role = None
    active = ""

    def dispatch(self, request, *args, **kwargs):
        if request.user.is_authenticated and self.role and self.role not in roles_of(request.user):
            raise PermissionDenied(f"This page needs the {self.role} role.")
        return super().dispatch(request, *args, **kwargs)

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        roles = roles_of(self.request.user)
        project = current_project(self.request)
        # The stages' pages, in the order of the data flow, as the stage apps registered them.
        nav = [{"stage": spec.name, "url": reverse("ui:stage", kwargs={"stage": spec.name}), "label": spec.label}
               for spec in registry.stages() if spec.role in roles]
        context.update(
            roles=sorted(roles), nav=nav, is_engineer=ENGINEER in roles, active=self.active,
            project=project, projects=Project.objects.order_by("id").only("id", "name"),
        )
        return context


class HomePage(PageMixin, TemplateView):
    """The landing page: the stages this user works on, with their open queue sizes."""

    template_name = "annotation_ui/home.html"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        project = context["project"]
        # What this user can claim (their skips and Stage 2's one-copy-each rule left out), as the queue pages agree.
        for item in context["nav"]:
            item["open"] = leases.claimable(self.request.user, project.pk, item["stage"]) if project else 0
        return context


class StagePage(PageMixin, TemplateView):
    """One annotation stage (/<stage>/); its script claims tasks and submits answers through the API.

    Its template is annotation_ui/<stage>.html, found in any installed app's templates/: a stage app ships its own.
    """

    def dispatch(self, request, *args, **kwargs):
        self.stage = kwargs["stage"]
        if self.stage not in {spec.name for spec in registry.stages()}:
            raise Http404(f"No stage {self.stage!r}.")
        self.role = registry.get(self.stage).role
        self.active = self.stage
        return super().dispatch(request, *args, **kwargs)

    def get_template_names(self):
        return [f"annotation_ui/{self.stage}.html"]


class DashboardPage(PageMixin, TemplateView):
    """The engineers' dashboard of one project's iteration."""

    template_name = "annotation_ui/dashboard.html"
    role = ENGINEER
    active = "dashboard"

    def get_context_data(self, **kwargs):
        context = super().get_context_data(**kwargs)
        project = context["project"]
        if project is not None:
            iteration = stats.chosen_iteration(project, self.request.GET.get("iteration"))
            context.update(iteration=iteration, iterations=project.iterations.order_by("number"),
                           report=stats.report(project, iteration), live=stats.live_status(project))
        raw = self.request.GET.get("refresh", "")
        context["refresh_seconds"] = max(1, min(int(raw), 3600)) if raw.isdigit() else DASHBOARD_REFRESH_SECONDS
        return context


class RatingsPlot(PageMixin, View):
    """The Bradley–Terry ratings of generators and checkpoints over time, as SVG."""

    role = ENGINEER

    def get(self, request):
        project = current_project(request)
        series = stats.rating_history(project) if project else {}
        return HttpResponse(plots.ratings_svg(series), content_type="image/svg+xml")


class ArtistQueue(PageMixin, View):
    """Open artist cases of the project by failure category (the artist page's sidebar)."""

    role = ARTIST

    def get(self, request):
        project = current_project(request)
        rows = (
            ArtistCase.objects.filter(task__project=project, task__status__in=[TaskStatus.OPEN, TaskStatus.LEASED])
            .values("failure_category").annotate(n=Count("id")).order_by("failure_category")
        )
        return JsonResponse({"categories": [{"value": r["failure_category"], "count": r["n"]} for r in rows]})
