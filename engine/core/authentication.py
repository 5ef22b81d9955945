"""Token authentication for scripts, workers and the annotation clients."""

from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from engine.core import rows

_TOKEN_WITH_USER = rows.Fetch(Token, "user")


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, with the token and its user read in one compile-once query.

    Every API request of a script or a worker authenticates; DRF's own lookup compiles an ORM
    query each time, which cost more CPU than the rest of a claim. Same rules: an unknown key
    or an inactive user is refused, and nothing is cached across requests, so a deleted token
    or a deactivated user is refused at once.
    """

    def authenticate_credentials(self, key):
        token = _TOKEN_WITH_USER.get(key)
        if token is None:
            raise exceptions.AuthenticationFailed(_("Invalid token."))
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        return token.user, token
