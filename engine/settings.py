"""Settings of the data engine, read from the environment.

DATABASE_URL   PostgreSQL in production and CI (postgres://user@host:5432/name); SQLite when unset.
DATABASE_PREPARE_THRESHOLD  runs after which PostgreSQL prepares a hot-path statement (default 5; "none": never).
REDIS_URL      Celery broker/results and the RQ `trainer` queue; unset runs jobs in-process.
MEDIA_ROOT     where images, masks, meshes and checkpoints are stored.
SECRET_KEY     required when DEBUG is off.
"""

import os
from pathlib import Path

import dj_database_url
from django.core.exceptions import ImproperlyConfigured

BASE_DIR = Path(__file__).resolve().parent.parent

INSECURE_DEFAULT_KEY = "django-insecure-data-engine-development-key"  # noqa: S105 (documented default)


def _env_bool(name, default):
    value = os.environ.get(name)
    if value is None:
        return default
    return value.strip().lower() in {"1", "true", "yes", "on"}


DEBUG = _env_bool("DEBUG", True)
SECRET_KEY = os.environ.get("SECRET_KEY", INSECURE_DEFAULT_KEY)
if not DEBUG and SECRET_KEY == INSECURE_DEFAULT_KEY:
    raise ImproperlyConfigured(
        "SECRET_KEY is the built-in development key while DEBUG is off. "
        "Set SECRET_KEY in the environment to a long random value."
    )
ALLOWED_HOSTS = [h for h in os.environ.get("ALLOWED_HOSTS", "127.0.0.1,localhost,testserver").split(",") if h]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework.authtoken",
    "drf_spectacular",
    "drf_spectacular_sidecar",  # Swagger UI and Redoc as our own static files: /api/docs/ works offline
    "django_rq",
    "engine.core",
    "engine.leases",
    "engine.intake",
    "engine.candidates",
    "engine.records",
    "engine.ranking",
    "engine.artists",
    "engine.alignment",
    "engine.flywheel",
    "engine.quality",
    "engine.simulation",
    "engine.loadtest",
    "annotation_ui",
]

# Migrations live in the top-level `migrations/` package, one module per app label.
MIGRATION_MODULES = {
    label: f"migrations.{label}"
    for label in ("core", "leases", "intake", "candidates", "records", "ranking", "artists", "alignment", "flywheel",
                  "quality", "simulation")
}

MIDDLEWARE = [
    "engine.core.logs.RequestIdMiddleware",  # first: the id is on every log record and every response
    # /healthz and /readyz, before the host check and sessions: probes come by IP, without cookies.
    "engine.core.health.HealthMiddleware",
    "django.middleware.security.SecurityMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "engine.urls"
WSGI_APPLICATION = "engine.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ],
        },
    },
]

# --- Database -------------------------------------------------------------------------------
DATABASE_URL = os.environ.get("DATABASE_URL", "")
if DATABASE_URL:
    DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60)}
    if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
        # Statements of the hot paths (engine/core/rows.py) are prepared after this many runs on a
        # connection; "none" turns preparing off (for a PgBouncer older than 1.21 in transaction mode).
        threshold = os.environ.get("DATABASE_PREPARE_THRESHOLD", "5")
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = (
            None if threshold.lower() == "none" else int(threshold)
        )
else:
    # The embedded default for a first run. IMMEDIATE transactions take the write lock up
    # front, so concurrent claimants queue on the busy timeout instead of failing to upgrade.
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.sqlite3",
            "NAME": os.environ.get("ENGINE_SQLITE_PATH", str(BASE_DIR / "var" / "engine.sqlite3")),
            "OPTIONS": {"timeout": 30, "transaction_mode": "IMMEDIATE"},
        }
    }
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

# --- Files ----------------------------------------------------------------------------------
MEDIA_ROOT = os.environ.get("MEDIA_ROOT", str(BASE_DIR / "var" / "media"))
MEDIA_URL = "/media/"
# Behind nginx: the internal location that serves MEDIA_ROOT (engine/core/media.py checks, nginx sends).
MEDIA_ACCEL_REDIRECT = os.environ.get("MEDIA_ACCEL_REDIRECT", "")
# Where stored files live. "local": MEDIA_ROOT (engine/core/storage.py). "s3": an S3-compatible bucket
# through django-storages (pip install '.[s3]'), shared by every host: S3_BUCKET, S3_ENDPOINT_URL (MinIO,
# Ceph...; unset for AWS), S3_REGION, S3_ADDRESSING_STYLE, and the credentials in AWS_ACCESS_KEY_ID /
# AWS_SECRET_ACCESS_KEY.
MEDIA_STORAGE = os.environ.get("MEDIA_STORAGE", "local")
if MEDIA_STORAGE == "s3":
    _MEDIA_BACKEND = {"BACKEND": "storages.backends.s3.S3Storage", "OPTIONS": {
        "bucket_name": os.environ.get("S3_BUCKET", ""), "endpoint_url": os.environ.get("S3_ENDPOINT_URL") or None,
        "region_name": os.environ.get("S3_REGION") or None, "default_acl": None, "file_overwrite": False,
        "addressing_style": os.environ.get("S3_ADDRESSING_STYLE") or None,  # "path" for MinIO by IP or name
        # The media view checks who asks, then redirects to a URL signed for this long (engine/core/media.py).
        "querystring_auth": True, "querystring_expire": 300,
    }}
elif MEDIA_STORAGE == "local":
    _MEDIA_BACKEND = {"BACKEND": "engine.core.storage.MediaStorage"}
else:
    raise ImproperlyConfigured(f"MEDIA_STORAGE is {MEDIA_STORAGE!r}; set it to 'local' (MEDIA_ROOT) or 's3'.")
STORAGES = {"default": _MEDIA_BACKEND,
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"}}
STATIC_URL = "/static/"
STATIC_ROOT = os.environ.get("STATIC_ROOT", str(BASE_DIR / "var" / "static"))
# three.js comes from npm (package.json), served by staticfiles under /static/vendor/three/.
STATICFILES_DIRS = [("vendor/three", BASE_DIR / "node_modules" / "three")] if (BASE_DIR / "node_modules" / "three").exists() else []
DATA_UPLOAD_MAX_MEMORY_SIZE = 64 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = 8 * 1024 * 1024

# --- Auth -----------------------------------------------------------------------------------
LOGIN_URL = "/login/"
LOGIN_REDIRECT_URL = "/"
LOGOUT_REDIRECT_URL = "/login/"
AUTH_PASSWORD_VALIDATORS = [] if DEBUG else [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]
PASSWORD_HASHERS = (
    ["django.contrib.auth.hashers.MD5PasswordHasher"]
    if _env_bool("ENGINE_FAST_PASSWORD_HASHER", False)
    else ["django.contrib.auth.hashers.PBKDF2PasswordHasher"]
)

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = False
USE_TZ = True

# --- REST framework -------------------------------------------------------------------------
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",  # the browser, with CSRF
        "engine.core.authentication.TokenAuthentication",  # scripts and workers
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_CONTENT_NEGOTIATION_CLASS": "engine.core.negotiation.ContentNegotiation",
    "DEFAULT_SCHEMA_CLASS": "engine.core.schema.AutoSchema",
    "EXCEPTION_HANDLER": "engine.core.errors.exception_handler",
    "DEFAULT_PAGINATION_CLASS": "engine.core.pagination.LimitOffsetPagination",
    "PAGE_SIZE": 100,
}
SPECTACULAR_SETTINGS = {
    "TITLE": "3D data engine API",
    "DESCRIPTION": "Stage 1 object selection, Stage 2 ranking, Stage 2.5 artists, Stage 3 alignment, exports.",
    "VERSION": "0.1.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "COMPONENT_SPLIT_REQUEST": True,
    # No CDN: the docs pages load Swagger UI and Redoc from drf-spectacular-sidecar's static files,
    # and Swagger UI does not send the schema to the online validator.
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "SWAGGER_UI_SETTINGS": {"deepLinking": True, "validatorUrl": None},
    "REDOC_UI_SETTINGS": {"theme": {"typography": {"fontFamily": "system-ui, sans-serif",
                                                    "headings": {"fontFamily": "system-ui, sans-serif"}}}},
}

# --- Queues ---------------------------------------------------------------------------------
REDIS_URL = os.environ.get("REDIS_URL", "")
CELERY_BROKER_URL = REDIS_URL or "memory://"
CELERY_RESULT_BACKEND = REDIS_URL or "cache+memory://"
# Without Redis (the embedded demo), Celery tasks run in-process at call time.
CELERY_TASK_ALWAYS_EAGER = not REDIS_URL
CELERY_TASK_EAGER_PROPAGATES = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = "cpu"
CELERY_TASK_SERIALIZER = "json"
CELERY_RESULT_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
# A message whose worker died unacknowledged goes back to the queue after the visibility
# timeout; workers sweep for such messages every CELERY_RESTORE_INTERVAL seconds.
CELERY_BROKER_TRANSPORT_OPTIONS = {
    "visibility_timeout": int(os.environ.get("CELERY_VISIBILITY_TIMEOUT", "3600")),
    "unacked_restore_interval": int(os.environ.get("CELERY_RESTORE_INTERVAL", "10")),
    "unacked_restore_throttle": 1,
    # The sweep's lock outlives a worker killed while holding it; until it expires no worker
    # restores anything (kombu's default is 300 s). The sweep itself takes milliseconds.
    "unacked_mutex_expire": 60,
}

# Periodic jobs, sent by `celery -A engine beat` (run one beat per deployment) to the `cpu` workers.
# ENGINE_PURGE_IDEMPOTENCY_KEYS_SECONDS: how often kept Idempotency-Key answers past their window
# (ENGINE_IDEMPOTENCY_KEY_HOURS) are deleted; 0 leaves it to cron (`manage.py purge_idempotency_keys`).
_purge_every = float(os.environ.get("ENGINE_PURGE_IDEMPOTENCY_KEYS_SECONDS", "3600"))
CELERY_BEAT_SCHEDULE = {
    "purge-idempotency-keys": {
        "task": "engine.core.tasks.purge_idempotency_keys",
        "schedule": _purge_every,
        # A run no worker took before the next one is due is dropped, not stacked behind it.
        "options": {"expires": _purge_every},
    },
} if _purge_every > 0 else {}
# ENGINE_CURRICULUM_SECONDS: how often the waiting Stage 2/3 tasks are re-tagged when the curriculum's
# shares have moved (engine/intake/priorities.py); task openings also do it. 0: only task openings.
_curriculum_every = float(os.environ.get("ENGINE_CURRICULUM_SECONDS", "300"))
if _curriculum_every > 0:
    CELERY_BEAT_SCHEDULE["refresh-curricula"] = {
        "task": "engine.intake.tasks.refresh_curricula", "schedule": _curriculum_every,
        "options": {"expires": _curriculum_every},
    }

RQ_QUEUES = {
    "trainer": {"URL": REDIS_URL or "redis://127.0.0.1:6379/0", "DEFAULT_TIMEOUT": 24 * 3600},
}
# `manage.py rqworker` runs this class: it stops within about a second of SIGTERM (engine/flywheel/rqworker.py).
RQ = {"WORKER_CLASS": "engine.flywheel.rqworker.TrainerWorker"}

# --- Engine ---------------------------------------------------------------------------------
ENGINE = {
    "LEASE_SECONDS": int(os.environ.get("ENGINE_LEASE_SECONDS", "900")),
    # How long a skipped task is kept from the person who skipped it.
    "SKIP_SECONDS": int(os.environ.get("ENGINE_SKIP_SECONDS", str(24 * 3600))),
    # How long a server process remembers an API token (engine/core/authentication.py); 0: never.
    "TOKEN_CACHE_SECONDS": int(os.environ.get("ENGINE_TOKEN_CACHE_SECONDS", "10")),
    "UPLOAD_MAX_BYTES": int(os.environ.get("ENGINE_UPLOAD_MAX_BYTES", str(50 * 1024 * 1024))),
    "UPLOAD_MAX_TRIANGLES": int(os.environ.get("ENGINE_UPLOAD_MAX_TRIANGLES", "2000000")),
    "MIN_IMAGE_SIDE": int(os.environ.get("ENGINE_MIN_IMAGE_SIDE", "256")),
    "MIN_BLUR_VARIANCE": float(os.environ.get("ENGINE_MIN_BLUR_VARIANCE", "20.0")),
    "MIN_CONTRAST": float(os.environ.get("ENGINE_MIN_CONTRAST", "0.05")),
    "MASK_MIN_REGION_FRACTION": float(os.environ.get("ENGINE_MASK_MIN_REGION_FRACTION", "0.01")),
    # A Stage 1 mask covering more of its image than this is refused (an object rarely fills the frame).
    "MASK_MAX_FRACTION": float(os.environ.get("ENGINE_MASK_MAX_FRACTION", "0.95")),
    "WARM_UP_WORKERS": _env_bool("ENGINE_WARM_UP_WORKERS", True),
    # Without Redis: threads of the server that run the jobs a request sends (engine/core/background.py),
    # so finishing a Stage 1 image does not wait for its candidates; 0 runs them in the request.
    "BACKGROUND_THREADS": int(os.environ.get("ENGINE_BACKGROUND_THREADS", "1")),
    # How long the answer to a request sent with an Idempotency-Key is kept for its repeats, in hours.
    "IDEMPOTENCY_KEY_HOURS": float(os.environ.get("ENGINE_IDEMPOTENCY_KEY_HOURS", "24")),
    # Processes (one per GPU) a flywheel run trains with, through torchrun; 1: plain `python -m trainer`.
    "TRAINER_PROCS": int(os.environ.get("ENGINE_TRAINER_PROCS", "1")),
    # How long GET /readyz waits for its checks (database, migrations, Redis, media) before answering 503.
    "READYZ_TIMEOUT_SECONDS": float(os.environ.get("ENGINE_READYZ_TIMEOUT_SECONDS", "2")),
}

# Logs go to stderr, one record a line, each with the id of the request it was written for
# (engine/core/logs.py): JSON lines when DEBUG is off (what log shippers read), plain text when on.
# ENGINE_LOG_FORMAT=json|plain chooses; ENGINE_LOG_LEVEL sets the engine's level. A 500 is logged
# by django.request at ERROR with its traceback; 4xx answers are not logged unless
# ENGINE_REQUEST_LOG_LEVEL=WARNING. README "Logs" shows how to override LOGGING.
LOG_FORMAT = os.environ.get("ENGINE_LOG_FORMAT", "plain" if DEBUG else "json")
if LOG_FORMAT not in {"json", "plain"}:
    raise ImproperlyConfigured(f"ENGINE_LOG_FORMAT is {LOG_FORMAT!r}; use json or plain.")
LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "filters": {"request_id": {"()": "engine.core.logs.RequestIdFilter"}},
    "formatters": {
        "json": {"()": "engine.core.logs.JsonFormatter"},
        "plain": {"()": "engine.core.logs.PlainFormatter"},
    },
    "handlers": {
        "stderr": {
            "class": "logging.StreamHandler",
            "stream": "ext://sys.stderr",
            "filters": ["request_id"],
            "formatter": LOG_FORMAT,
        },
    },
    "loggers": {
        "engine": {"handlers": ["stderr"], "level": os.environ.get("ENGINE_LOG_LEVEL", "INFO"), "propagate": False},
        # Django's own default sends these to the console only while DEBUG is on: under gunicorn a 500 left no trace.
        "django.request": {"handlers": ["stderr"], "level": os.environ.get("ENGINE_REQUEST_LOG_LEVEL", "ERROR"),
                           "propagate": False},
    },
}

# --- Model suite ----------------------------------------------------------------------------
SHAPE_LIBRARY_DIR = Path(os.environ.get("SHAPE_LIBRARY_DIR", str(Path(MEDIA_ROOT) / "library")))
EXTERNAL_GENERATOR_URL = os.environ.get("EXTERNAL_GENERATOR_URL", "")
# Stage 1's segmenter (engine/intake/segmenters.py): builtin (GrabCut, the default), http (a SAM-class
# server of yours at ENGINE_SEGMENTER_URL) or sam (local weights at ENGINE_SEGMENTER_CHECKPOINT).
SEGMENTER = {
    "KIND": os.environ.get("ENGINE_SEGMENTER", "builtin"),
    "URL": os.environ.get("ENGINE_SEGMENTER_URL", ""),
    "CHECKPOINT": os.environ.get("ENGINE_SEGMENTER_CHECKPOINT", ""),
    "MODEL_TYPE": os.environ.get("ENGINE_SEGMENTER_MODEL", "vit_b"),
}
# Further model-suite settings (see model_suite.registry.DEFAULTS); an unknown key is an error.
MODEL_SUITE = {}
EXPORT_ROOT = Path(os.environ.get("EXPORT_ROOT", str(Path(MEDIA_ROOT).parent / "exports")))
RUNS_ROOT = Path(os.environ.get("RUNS_ROOT", str(Path(MEDIA_ROOT).parent / "runs")))
# A folder of meshes the flywheel's held-out composites are rendered from (default: novel procedural
# shapes of the project's categories; see engine.flywheel.steps.heldout_cache).
FLYWHEEL_HELDOUT_SHAPES = os.environ.get("FLYWHEEL_HELDOUT_SHAPES", "")
