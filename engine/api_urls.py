"""The REST API of every stage."""

from django.urls import include, path
from rest_framework.authtoken.views import obtain_auth_token

from engine.artists import api as artists
from engine.artists import failures_api
from engine.candidates import api as candidates
from engine.core import api as core
from engine.flywheel import api as flywheel
from engine.intake import api as intake
from engine.intake import status_api as intake_status
from engine.leases import api as leases
from engine.quality import api as quality
from engine.ranking import api as ranking
from engine.ranking import ratings_api

# The tasks' routes first: the annotation clients call them most (claim, submit).
tasks = [
    path("claim/", leases.ClaimView.as_view(), name="api-claim"),
    path("<int:pk>/", leases.TaskView.as_view(), name="api-task"),
    path("<int:pk>/release/", leases.ReleaseView.as_view(), name="api-release"),
    path("<int:pk>/extend/", leases.ExtendView.as_view(), name="api-extend"),
    path("<int:pk>/submit/", leases.SubmitView.as_view(), name="api-submit"),
    path("<int:pk>/objects/", intake.ObjectCreateView.as_view(), name="api-task-objects"),
    path("<int:pk>/objects/<int:object_pk>/review/", intake.ReviewObjectView.as_view(), name="api-task-object-review"),
    path("<int:pk>/flag/", intake.FlagImageView.as_view(), name="api-task-flag"),
    path("<int:pk>/compare/", ranking.CompareView.as_view(), name="api-compare"),
    path("<int:pk>/upload/", artists.UploadView.as_view(), name="api-upload"),
    path("<int:pk>/bundle/", artists.BundleView.as_view(), name="api-bundle"),
    path("<int:pk>/gold/", quality.GoldMarkView.as_view(), name="api-task-gold"),
]

urlpatterns = [
    path("tasks/", include(tasks)),
    path("auth/token/", obtain_auth_token, name="api-token"),
    path("me/", core.MeView.as_view(), name="api-me"),
    path("projects/", core.ProjectList.as_view(), name="api-projects"),
    path("projects/<int:pk>/", core.ProjectDetail.as_view(), name="api-project"),
    path("projects/<int:pk>/images/", intake.ProjectImagesView.as_view(), name="api-project-images"),
    path("projects/<int:pk>/annotations/import/", intake.ImportAnnotationsView.as_view(),
         name="api-project-annotations-import"),
    path("projects/<int:pk>/ratings/", ratings_api.RatingsView.as_view(), name="api-project-ratings"),
    path("projects/<int:pk>/failures/", failures_api.FailuresView.as_view(), name="api-project-failures"),
    path("projects/<int:pk>/quality/", quality.QualityView.as_view(), name="api-project-quality"),
    path("projects/<int:pk>/review/", quality.ReviewListView.as_view(), name="api-project-review"),
    path("projects/<int:pk>/gold/", quality.GoldListView.as_view(), name="api-project-gold"),
    path("review/<int:pk>/", quality.ReviewDecisionView.as_view(), name="api-review-decision"),
    path("gold/<int:pk>/", quality.GoldDetailView.as_view(), name="api-gold"),
    path("iterations/", core.IterationList.as_view(), name="api-iterations"),
    path("iterations/<int:pk>/export/", flywheel.ExportView.as_view(), name="api-iteration-export"),
    path("categories/", intake.CategoriesView.as_view(), name="api-categories"),
    path("generators/", candidates.GeneratorsView.as_view(), name="api-generators"),
    path("images/<int:pk>/segment/", intake.SegmentView.as_view(), name="api-segment"),
    path("objects/<int:pk>/mask.png", intake.ObjectMaskView.as_view(), name="api-object-mask"),
    path("objects/status/", intake_status.ObjectStatusView.as_view(), name="api-object-status"),
    path("checkpoints/", flywheel.CheckpointList.as_view(), name="api-checkpoints"),
    path("checkpoints/<int:pk>/promote/", flywheel.PromoteView.as_view(), name="api-promote"),
    path("projects/<int:pk>/flywheel/", flywheel.FlywheelRunsView.as_view(), name="api-project-flywheel"),
    path("flywheel/runs/<int:pk>/", flywheel.FlywheelRunView.as_view(), name="api-flywheel-run"),
]
