"""Token authentication for scripts, workers and the annotation clients."""

import copy
import time

from django.conf import settings
from django.contrib.auth import get_user_model
from django.db.models.signals import post_delete, post_save
from django.dispatch import receiver
from django.utils.translation import gettext_lazy as _
from rest_framework import authentication, exceptions
from rest_framework.authtoken.models import Token

from engine.core import rows

_TOKEN_WITH_USER = rows.Fetch(Token, "user")
_MAX_ENTRIES = 10_000
_tokens = {}  # key -> (monotonic expiry, Token with its user); per process


class TokenAuthentication(authentication.TokenAuthentication):
    """DRF's `Authorization: Token <key>`, read in one compile-once query and remembered briefly.

    Every request of a script, a worker or an annotation client authenticates, and DRF's own
    lookup compiled an ORM query each time, which cost more CPU than the rest of a claim. A
    token is remembered for ENGINE["TOKEN_CACHE_SECONDS"] in each process: deleting a token or
    saving its user (deactivating, changing roles) takes effect in this process at once, and in
    the other server processes within that many seconds. 0 turns the memory off.
    """

    def authenticate_credentials(self, key):
        ttl = settings.ENGINE["TOKEN_CACHE_SECONDS"]
        now = time.monotonic()
        entry = _tokens.get(key) if ttl else None
        if entry is not None and entry[0] > now:
            token = entry[1]
        else:
            token = _TOKEN_WITH_USER.get(key)
            if token is None:
                _tokens.pop(key, None)
                raise exceptions.AuthenticationFailed(_("Invalid token."))
            if ttl:
                if len(_tokens) >= _MAX_ENTRIES:
                    _tokens.clear()
                _tokens[key] = (now + ttl, token)
        if not token.user.is_active:
            raise exceptions.AuthenticationFailed(_("User inactive or deleted."))
        # Each request gets its own user instance: views may cache things on it.
        user = copy.copy(token.user)
        return user, token


def forget(key=None, user_id=None):
    """Drop remembered tokens: one key, or every token of a user."""
    if key is not None:
        _tokens.pop(key, None)
    if user_id is not None:
        for stale in [k for k, (_, token) in list(_tokens.items()) if token.user_id == user_id]:
            _tokens.pop(stale, None)


@receiver(post_delete, sender=Token)
def _token_deleted(sender, instance, **kwargs):
    forget(key=instance.key)


@receiver(post_save, sender=get_user_model())
@receiver(post_delete, sender=get_user_model())
def _user_changed(sender, instance, **kwargs):
    forget(user_id=instance.pk)
