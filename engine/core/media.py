"""Stored files (images, masks, meshes, point clouds) for signed-in people with a role.

Images and meshes are the customer's data: nothing under MEDIA_ROOT is served to an anonymous
visitor or to an account without a role. The browser is recognised by its session; scripts by
their API token. Behind nginx, set MEDIA_ACCEL_REDIRECT (e.g. "/protected-media/") and nginx
sends the file after this check (X-Accel-Redirect); otherwise Django streams it. With media in an
S3-compatible bucket (MEDIA_STORAGE=s3) the answer redirects to a short-lived signed URL of the object.
"""

import posixpath

from django.conf import settings
from django.core.exceptions import SuspiciousFileOperation
from django.core.files.storage import FileSystemStorage, default_storage
from django.http import (
    Http404,
    HttpResponse,
    HttpResponseForbidden,
    HttpResponseRedirect,
)
from django.utils._os import safe_join
from django.views.static import serve
from rest_framework import exceptions

from engine.core.authentication import TokenAuthentication
from engine.core.roles import roles_of


def _user(request):
    if request.user.is_authenticated:
        return request.user
    try:
        found = TokenAuthentication().authenticate(request)
    except exceptions.AuthenticationFailed:
        return None
    return found[0] if found else None


def media(request, path):
    """Serve a stored file after checking who asks."""
    user = _user(request)
    if user is None:
        return HttpResponse("Sign in to see stored files.", status=401, content_type="text/plain")
    if not roles_of(user):
        return HttpResponseForbidden("Your account has no role on this platform.", content_type="text/plain")
    try:
        safe_join(settings.MEDIA_ROOT, path)  # no way out of MEDIA_ROOT
    except SuspiciousFileOperation:
        raise Http404("No such file.") from None
    if not isinstance(default_storage, FileSystemStorage):
        # MEDIA_STORAGE=s3: the bucket sends the file, at a URL signed for a few minutes (querystring_expire).
        response = HttpResponseRedirect(default_storage.url(path))
        response["Cache-Control"] = "private, no-store"
        return response
    accel = settings.MEDIA_ACCEL_REDIRECT
    if accel:
        response = HttpResponse()
        response["X-Accel-Redirect"] = posixpath.join(accel, path)
        del response["Content-Type"]  # nginx sets it from the file
    else:
        response = serve(request, path, document_root=settings.MEDIA_ROOT)
    response["Cache-Control"] = "private, max-age=3600"
    return response
