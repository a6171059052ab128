"""Settings, read from the environment through the typed helpers in config.env.

With no environment at all this is the embedded default: SQLite, media on disk and a
filesystem Celery transport under DATA_DIR, so nothing but Python is needed.
Production sets DATABASE_URL (PostgreSQL) and CELERY_BROKER_URL (Redis).
"""

from pathlib import Path

import dj_database_url

from config.env import SettingError, env_bool, env_int, env_list, env_path, env_str

BASE_DIR = Path(__file__).resolve().parent.parent
DATA_DIR = env_path("DATA_DIR", BASE_DIR / "var")

DEBUG = env_bool("DJANGO_DEBUG", False)
SECRET_KEY = env_str("DJANGO_SECRET_KEY", "")
if not SECRET_KEY:
    if not DEBUG and env_bool("DJANGO_REQUIRE_SECRET_KEY", False):
        raise SettingError("DJANGO_SECRET_KEY must be set in production")
    # Embedded default only: a fixed development key, never used when the variable is set.
    SECRET_KEY = "embedded-default-insecure-key-change-me"

ALLOWED_HOSTS = env_list("DJANGO_ALLOWED_HOSTS", ["localhost", "127.0.0.1", "[::1]", "testserver"])
CSRF_TRUSTED_ORIGINS = env_list("DJANGO_CSRF_TRUSTED_ORIGINS", [])

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
    "drf_spectacular_sidecar",  # Swagger UI / Redoc files served locally: no CDN needed
    "catalogue",
    "explain",
    "study",
    "annotations",
    "research",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # WhiteNoise serving collected, compressed files first (config/static_storage.py).
    "config.static_storage.CollectedFirstWhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "config.security.ContentSecurityPolicyMiddleware",
]

# Content-Security-Policy on every response: scripts and everything else only from this
# site (no page has an inline script; Redoc's page sets its own). Inline style attributes
# stay allowed: the results page's charts and progress bars use them.
CONTENT_SECURITY_POLICY = env_str(
    "CONTENT_SECURITY_POLICY",
    "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; "
    "img-src 'self' data: blob:; font-src 'self' data:; connect-src 'self'; object-src 'none'; "
    "base-uri 'self'; form-action 'self'; frame-ancestors 'none'",
)

# Rate limits (fixed one-minute windows; 0 = off). Counted in the cache: set CACHE_URL to a
# Redis URL in production so that every web process shares the counts.
RATE_LIMIT_STARTS_PER_MINUTE = env_int("RATE_LIMIT_STARTS_PER_MINUTE", 60, minimum=0)  # per client IP
RATE_LIMIT_SUBMISSIONS_PER_MINUTE = env_int(
    "RATE_LIMIT_SUBMISSIONS_PER_MINUTE", 30, minimum=0
)  # per participant
RATE_LIMIT_LOGINS_PER_MINUTE = env_int("RATE_LIMIT_LOGINS_PER_MINUTE", 10, minimum=0)  # per client IP
# Proxies in front of the app that append to X-Forwarded-For (0: use REMOTE_ADDR).
TRUSTED_PROXY_HOPS = env_int("TRUSTED_PROXY_HOPS", 0, minimum=0)
CACHE_URL = env_str("CACHE_URL", "")
if CACHE_URL.startswith(("redis://", "rediss://")):
    CACHES = {"default": {"BACKEND": "django.core.cache.backends.redis.RedisCache", "LOCATION": CACHE_URL}}
elif CACHE_URL:
    raise SettingError(f"CACHE_URL={CACHE_URL!r}: only redis:// URLs are supported")
else:
    # room for the results' per-image scores (research.scores): at the default 300 entries a
    # large study's images would evict each other before its results page had them all
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "OPTIONS": {"MAX_ENTRIES": 100_000},
        }
    }

ROOT_URLCONF = "config.urls"
WSGI_APPLICATION = "config.wsgi.application"

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [BASE_DIR / "templates"],
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

DATABASE_URL = env_str("DATABASE_URL", f"sqlite:///{DATA_DIR / 'db.sqlite3'}")
# Persistent connections (60 s) are checked before each request reuses them, so a database
# restart costs no failed request: a dead connection is replaced, not used.
DATABASES = {"default": dj_database_url.parse(DATABASE_URL, conn_max_age=60, conn_health_checks=True)}
if DATABASES["default"]["ENGINE"] == "django.db.backends.sqlite3":
    # A file, not memory, so that a worker process can open the test database too.
    DATABASES["default"]["TEST"] = {"NAME": str(DATA_DIR / "test-db.sqlite3")}
    # IMMEDIATE: transactions take the write lock up front, so concurrent writers wait
    # (up to the timeout) instead of failing with "database is locked" on lock upgrade.
    DATABASES["default"]["OPTIONS"] = {"timeout": 30, "transaction_mode": "IMMEDIATE"}
    DATABASES["default"]["CONN_MAX_AGE"] = 0

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
]

LANGUAGE_CODE = "en-us"
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

STATIC_URL = "static/"
STATICFILES_DIRS = [BASE_DIR / "static"]
STATIC_ROOT = env_path("STATIC_ROOT", DATA_DIR / "staticfiles")
MEDIA_URL = "media/"
MEDIA_ROOT = env_path("MEDIA_ROOT", DATA_DIR / "media")
STATIC_ROOT.mkdir(parents=True, exist_ok=True)
# Serve app static files without collectstatic too (embedded default, tests).
WHITENOISE_USE_FINDERS = True
STORAGES = {
    # FileSystemStorage that removes a partly written file when a write fails (full disk).
    "default": {"BACKEND": "config.storage.CleanFileSystemStorage"},
    # collectstatic (scripts/start, the Dockerfile) writes a .gz and a .br beside each text
    # file, and WhiteNoise sends whichever the browser accepts. Not the Manifest variant:
    # with hashed names every {% static %} needs a manifest entry, so a page would fail
    # wherever collectstatic has not run (tests, the finders' fallback above) or a file is
    # new, and the painter's ES modules import each other by plain relative names that
    # Django's manifest does not rewrite. Files keep their names (WhiteNoise: max-age 60 s).
    # config/static_storage.py: only files changed since the last collectstatic are compressed.
    "staticfiles": {"BACKEND": "config.static_storage.IncrementalCompressedStaticFilesStorage"},
}

LOGIN_URL = "admin:login"

# The JSON API under /api/: read-only, staff only. Token first, so that a request without
# credentials gets 401 (with "WWW-Authenticate: Token"); the admin session works too, for the
# browsable API and Swagger UI.
REST_FRAMEWORK = {
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.TokenAuthentication",
        "rest_framework.authentication.SessionAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAdminUser"],
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
}
SPECTACULAR_SETTINGS = {
    "TITLE": "Saliency study platform API",
    "DESCRIPTION": "Read-only researcher API: studies, images with predictions, agreement rows, "
    "participant x image rows, human mean maps and model maps (.npy). "
    "Send `Authorization: Token KEY` (create a key with `manage.py api_token --username U`).",
    "VERSION": "1",
    "SERVE_INCLUDE_SCHEMA": False,
    # The schema and its viewers describe the endpoints only; the data needs a token.
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
}

# Uploads: a painted map of a 4096x4096 image as a 16-bit PNG stays well below this.
ANNOTATION_MAX_BYTES = env_int("ANNOTATION_MAX_BYTES", 16 * 1024 * 1024, minimum=1024)
DATA_UPLOAD_MAX_MEMORY_SIZE = ANNOTATION_MAX_BYTES + 4 * 1024 * 1024
FILE_UPLOAD_MAX_MEMORY_SIZE = DATA_UPLOAD_MAX_MEMORY_SIZE
# The admin's "Upload images" form takes many files at once (a ZIP counts as one).
DATA_UPLOAD_MAX_NUMBER_FILES = 1000

# Image import (manage.py import_images, the admin upload form): limits against oversize
# images and ZIP bombs. An image above the megapixel limit is refused, not downscaled.
IMAGE_IMPORT_MAX_MEGAPIXELS = env_int("IMAGE_IMPORT_MAX_MEGAPIXELS", 40, minimum=1)
IMAGE_IMPORT_MAX_FILES = env_int("IMAGE_IMPORT_MAX_FILES", 10_000, minimum=1)
IMAGE_IMPORT_MAX_TOTAL_MB = env_int("IMAGE_IMPORT_MAX_TOTAL_MB", 1024, minimum=1)
IMAGE_IMPORT_MAX_COMPRESSION_RATIO = env_int("IMAGE_IMPORT_MAX_COMPRESSION_RATIO", 100, minimum=1)

# Celery. The embedded default needs no server: kombu's filesystem transport.
CELERY_BROKER_URL = env_str("CELERY_BROKER_URL", "filesystem://")
if CELERY_BROKER_URL.startswith("filesystem://"):
    _queue_dir = DATA_DIR / "celery-queue"
    _queue_dir.mkdir(parents=True, exist_ok=True)
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(_queue_dir),
        "data_folder_out": str(_queue_dir),
        # kombu's default is ./control, i.e. wherever the process was started.
        "control_folder": str(_queue_dir / "control"),
        "store_processed": False,
    }
elif CELERY_BROKER_URL.startswith(("redis://", "rediss://")):
    # A task whose worker died without acking (kill -9, lost machine) comes back after the
    # visibility timeout. It must outlast the longest task (a unit's hard limit is 3600 s),
    # or a running unit is delivered twice. Restores are looked for every RESTORE_INTERVAL s.
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "visibility_timeout": env_int("CELERY_VISIBILITY_TIMEOUT_S", 3900, minimum=1),
        "unacked_restore_interval": env_int("CELERY_RESTORE_INTERVAL_S", 60, minimum=1),
        "unacked_restore_throttle": 1,
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_ACKS_LATE = True
CELERY_TASK_REJECT_ON_WORKER_LOST = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_TASK_DEFAULT_QUEUE = env_str("CELERY_QUEUE", "saliency")
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# Torch in web and worker processes: threads per process (0 = torch's default).
TORCH_THREADS = env_int("TORCH_THREADS", 0, minimum=0)
# Model passes per batch in the worker; 0 = automatic (8 on a CPU, 64 on a GPU).
SALIENCY_BATCH_SIZE = env_int("SALIENCY_BATCH_SIZE", 0, minimum=0)
# The results page computes new scores for at most this long per request, then shows its
# progress and reloads itself (research.scores); exports always finish.
RESULTS_TIME_BUDGET_S = env_int("RESULTS_TIME_BUDGET_S", 20, minimum=0)

if not DEBUG:
    SESSION_COOKIE_SECURE = env_bool("DJANGO_SECURE_COOKIES", False)
    CSRF_COOKIE_SECURE = SESSION_COOKIE_SECURE

# DJANGO_PRODUCTION=true: behind HTTPS on a public host. Everything `check --deploy` asks
# for, so that a forgotten variable cannot leave the participant pages on plain HTTP.
PRODUCTION = env_bool("DJANGO_PRODUCTION", False)
if PRODUCTION:
    if DEBUG:
        raise SettingError("DJANGO_DEBUG must be false when DJANGO_PRODUCTION is true")
    if SECRET_KEY == "embedded-default-insecure-key-change-me":
        raise SettingError("DJANGO_SECRET_KEY must be set when DJANGO_PRODUCTION is true")
    SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = True
    # TLS usually ends at a proxy that sets X-Forwarded-Proto; set false to redirect there instead.
    SECURE_SSL_REDIRECT = env_bool("DJANGO_SSL_REDIRECT", True)
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")
    SECURE_HSTS_SECONDS = env_int("DJANGO_HSTS_SECONDS", 365 * 24 * 3600, minimum=0)
    SECURE_HSTS_INCLUDE_SUBDOMAINS = env_bool("DJANGO_HSTS_INCLUDE_SUBDOMAINS", True)
    SECURE_HSTS_PRELOAD = env_bool("DJANGO_HSTS_PRELOAD", True)
    # The health endpoints answer plain HTTP probes from the load balancer or orchestrator.
    SECURE_REDIRECT_EXEMPT = [r"^healthz"]

# Workers write a heartbeat row this often; /healthz/worker calls a worker alive when its
# last beat is younger than three intervals.
WORKER_HEARTBEAT_S = env_int("WORKER_HEARTBEAT_S", 15, minimum=1)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"console": {"class": "logging.StreamHandler"}},
    "root": {"handlers": ["console"], "level": env_str("LOG_LEVEL", "INFO")},
}
