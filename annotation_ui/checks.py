"""System checks of the browser side: three.js must be installed from npm to be served."""

from pathlib import Path

from django.conf import settings
from django.core.checks import Warning, register


@register()
def three_installed(app_configs, **kwargs):
    """Warn when three.js is missing from node_modules (the pages would load without their 3D)."""
    module = Path(settings.BASE_DIR) / "node_modules" / "three" / "build" / "three.module.js"
    if module.exists():
        return []
    return [Warning(
        f"three.js is not installed: {module} is missing, so the annotation pages cannot load their 3D views.",
        hint="Run `npm ci` at the repository root (make test and make demo do it); it installs the pinned "
             "version from package-lock.json, served by staticfiles under /static/vendor/three/.",
        id="annotation_ui.W001",
    )]
