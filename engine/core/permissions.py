"""DRF permissions by role."""

from rest_framework.permissions import BasePermission

from engine.core.roles import ANNOTATOR, ARTIST, ENGINEER, has_role


class _HasRole(BasePermission):
    role = None
    message = None

    def has_permission(self, request, view):
        return has_role(request.user, self.role)


class IsAnnotator(_HasRole):
    role = ANNOTATOR
    message = "This needs the annotator role."


class IsArtist(_HasRole):
    role = ARTIST
    message = "This needs the artist role."


class IsEngineer(_HasRole):
    role = ENGINEER
    message = "This needs the engineer role."
