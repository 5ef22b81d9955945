"""The browser pages of every stage and the dashboard."""

from django.contrib.auth import views as auth_views
from django.urls import path

from annotation_ui import views

app_name = "ui"

urlpatterns = [
    path("", views.HomePage.as_view(), name="home"),
    path("login/", auth_views.LoginView.as_view(template_name="annotation_ui/login.html",
                                                redirect_authenticated_user=True), name="login"),
    path("logout/", auth_views.LogoutView.as_view(), name="logout"),
    path("dashboard/", views.DashboardPage.as_view(), name="dashboard"),
    path("dashboard/ratings.svg", views.RatingsPlot.as_view(), name="ratings-plot"),
    path("ui-api/artist-queue/", views.ArtistQueue.as_view(), name="artist-queue"),
    # Last: every registered stage's page (engine/leases/registry.py), /select/, /rank/, /artist/, /align/ ...
    path("<slug:stage>/", views.StagePage.as_view(), name="stage"),
]
