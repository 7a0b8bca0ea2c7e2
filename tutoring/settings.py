"""Settings, all from the environment (docs/operations.md).

With nothing set this is the embedded default: SQLite, in-process cache and channel layer, sandbox
Stripe and Twilio. `REDIS_URL` moves the cache, the rate-limit counters and the channel layer to Redis
so every process shares them. With `DJANGO_DEBUG=0` a random secret key is required and HTTPS is
enforced (redirect, secure cookies, HSTS).
"""

from datetime import timedelta
from pathlib import Path
from urllib.parse import urlsplit

import environ
from django.core.exceptions import ImproperlyConfigured

from tutoring.keys import GENERATE_HINT, key_problem

BASE_DIR = Path(__file__).resolve().parent.parent

env = environ.Env()

DEV_SECRET_KEY = "dev-insecure-only-for-local-runs"

DEBUG = env.bool("DJANGO_DEBUG", default=True)
SECRET_KEY = env.str("DJANGO_SECRET_KEY", default=DEV_SECRET_KEY)
JWT_SIGNING_KEY = env.str("JWT_SIGNING_KEY", default="")


def _refuse_guessable(name: str, value: str) -> None:
    if (problem := key_problem(value)) is not None:
        raise ImproperlyConfigured(f"{name} {problem}; with DJANGO_DEBUG=0 it must be a random secret. {GENERATE_HINT}")


if not DEBUG:
    _refuse_guessable("DJANGO_SECRET_KEY", SECRET_KEY)
    if JWT_SIGNING_KEY:  # unset, JWTs are signed with the secret key checked above
        _refuse_guessable("JWT_SIGNING_KEY", JWT_SIGNING_KEY)

ALLOWED_HOSTS = env.list("DJANGO_ALLOWED_HOSTS", default=["127.0.0.1", "localhost", "testserver"])
CSRF_TRUSTED_ORIGINS = env.list("DJANGO_CSRF_TRUSTED_ORIGINS", default=[])
# Behind the reverse proxy of deploy/, the client address and scheme come from its headers.
USE_X_FORWARDED_HOST = env.bool("DJANGO_USE_X_FORWARDED_HOST", default=False)
if env.bool("DJANGO_SECURE_PROXY_SSL", default=False):
    SECURE_PROXY_SSL_HEADER = ("HTTP_X_FORWARDED_PROTO", "https")

# HTTPS: on by default in production, each one switchable off for a local plain-HTTP run. The proxy
# must set X-Forwarded-Proto (DJANGO_SECURE_PROXY_SSL=1) or every request, webhooks included, is
# redirected. /healthz stays reachable over plain HTTP for the load balancer's probes.
SECURE_SSL_REDIRECT = env.bool("DJANGO_SECURE_SSL_REDIRECT", default=not DEBUG)
SECURE_REDIRECT_EXEMPT = [r"^healthz$"]
SESSION_COOKIE_SECURE = CSRF_COOKIE_SECURE = env.bool("DJANGO_SECURE_COOKIES", default=not DEBUG)
SECURE_HSTS_SECONDS = env.int("DJANGO_SECURE_HSTS_SECONDS", default=0 if DEBUG else 365 * 24 * 3600)
SECURE_HSTS_INCLUDE_SUBDOMAINS = env.bool("DJANGO_SECURE_HSTS_INCLUDE_SUBDOMAINS", default=True)
SECURE_HSTS_PRELOAD = env.bool("DJANGO_SECURE_HSTS_PRELOAD", default=True)
SESSION_COOKIE_HTTPONLY = True

INSTALLED_APPS = [
    "daphne",
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "whitenoise.runserver_nostatic",
    "django.contrib.staticfiles",
    "rest_framework",
    "rest_framework_simplejwt.token_blacklist",
    "drf_spectacular",
    "drf_spectacular_sidecar",
    "axes",
    "channels",
    "csp",
    "tutoring",
    "payments",
    "live",
    "withdrawals",
    "marketplace",
    "notifications",
]

MIDDLEWARE = [
    "tutoring.api.middleware.ApiErrorMiddleware",
    "django.middleware.security.SecurityMiddleware",
    # Both act in process_view, before any view authenticates: every request is counted, then checked.
    "tutoring.api.ratelimit.RateLimitMiddleware",
    "tutoring.api.middleware.ApiGuardMiddleware",
    "whitenoise.middleware.WhiteNoiseMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # The language of pages and API messages: the switcher's cookie, else Accept-Language.
    "django.middleware.locale.LocaleMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
    "csp.middleware.CSPMiddleware",
    # Last, as django-axes asks: turns a locked-out admin login into its lockout response.
    "axes.middleware.AxesMiddleware",
]

ROOT_URLCONF = "tutoring.urls"
WSGI_APPLICATION = "tutoring.wsgi.application"
ASGI_APPLICATION = "tutoring.asgi.application"

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
                "tutoring.web.context",
            ],
        },
    },
]

DATABASES = {"default": env.db_url("DATABASE_URL", default=f"sqlite:///{BASE_DIR / 'db.sqlite3'}")}
DATABASES["default"]["ATOMIC_REQUESTS"] = False
if DATABASES["default"]["ENGINE"] == "django.db.backends.postgresql":
    # Django's backend, with the per-request connection check asked of the socket, not of the server
    # (tutoring/db/postgresql/base.py).
    DATABASES["default"]["ENGINE"] = "tutoring.db.postgresql"
    DATABASES["default"]["CONN_MAX_AGE"] = env.int("DATABASE_CONN_MAX_AGE", default=60)
    DATABASES["default"]["CONN_HEALTH_CHECKS"] = True
    # Prepared statements for the reads that ask for them (`tutoring.db.prepared_cursor`; Django's own
    # queries are never prepared). Off behind a pooler that cannot carry them from one transaction to
    # the next (PgBouncer in transaction mode before 1.21, or without max_prepared_statements).
    if env.bool("DATABASE_PREPARED_STATEMENTS", default=True):
        DATABASES["default"].setdefault("OPTIONS", {})["prepare_threshold"] = 5  # psycopg's default
else:
    # SQLite serialises writers; wait for the lock instead of failing at once.
    DATABASES["default"].setdefault("OPTIONS", {})["timeout"] = 20

DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
AUTH_USER_MODEL = "tutoring.User"

REDIS_URL = env.str("REDIS_URL", default="")
CACHE_KEY_PREFIX = env.str("CACHE_KEY_PREFIX", default="tutoring")
# The cache client's sockets give up quickly: with Redis down or frozen a request is answered 503
# within a second instead of hanging (docs/operations.md "Redis outage"). The channel layer below
# has its own, longer timeout for its blocking reads.
CACHE_SOCKET_TIMEOUT = env.float("CACHE_SOCKET_TIMEOUT", default=0.5)
if REDIS_URL:
    CACHES = {
        "default": {
            # django-redis keeps one client per server; the rate limiter runs its Lua script through it.
            "BACKEND": "django_redis.cache.RedisCache",
            "LOCATION": REDIS_URL,
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            "OPTIONS": {
                "SOCKET_CONNECT_TIMEOUT": CACHE_SOCKET_TIMEOUT,
                "SOCKET_TIMEOUT": CACHE_SOCKET_TIMEOUT,
            },
        }
    }
    # The realtime bus (live.realtime): channels-redis's pub/sub layer. A group is a Redis channel that
    # each process subscribes to while it has members: one PUBLISH per event, nothing queued per
    # receiver, and a membership lasts as long as the subscription (no group expiry to outlive).
    # Delivery is at most once; a client that missed events re-joins (its ack carries the history).
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels_redis.pubsub.RedisPubSubChannelLayer",
            "CONFIG": {
                "hosts": [
                    {
                        "address": REDIS_URL,
                        # redis-py 8 gives every socket a 5 s read timeout by default, as long as
                        # channels-redis's blocking reads: idle receives would fail every 5 s.
                        "socket_timeout": env.float("CHANNEL_SOCKET_TIMEOUT", default=30),
                    }
                ],
                "prefix": f"{CACHE_KEY_PREFIX}:asgi:",
            },
        }
    }
else:
    CACHES = {
        "default": {
            "BACKEND": "django.core.cache.backends.locmem.LocMemCache",
            "LOCATION": "tutoring",
            "KEY_PREFIX": CACHE_KEY_PREFIX,
            # Rate-limit windows live here too: room for them before the cache starts culling.
            "OPTIONS": {"MAX_ENTRIES": 20_000},
        }
    }
    CHANNEL_LAYERS = {
        "default": {
            "BACKEND": "channels.layers.InMemoryChannelLayer",
            "CONFIG": {"group_expiry": 7 * 24 * 3600, "capacity": 1000},
        }
    }

AUTH_PASSWORD_VALIDATORS = [
    {"NAME": "django.contrib.auth.password_validation.UserAttributeSimilarityValidator"},
    {"NAME": "django.contrib.auth.password_validation.MinimumLengthValidator"},
    {"NAME": "django.contrib.auth.password_validation.CommonPasswordValidator"},
    {"NAME": "django.contrib.auth.password_validation.NumericPasswordValidator"},
]

LANGUAGE_CODE = "en"
LANGUAGES = [("en", "English"), ("zh-hans", "简体中文")]
LOCALE_PATHS = [BASE_DIR / "locale"]
TIME_ZONE = "UTC"
USE_I18N = True
USE_TZ = True

LOGIN_URL = "login"
LOGIN_REDIRECT_URL = "home"

STATIC_URL = "static/"
STATIC_ROOT = BASE_DIR / "staticfiles"
# The pages' bundled JS and CSS, built from static/src by `npm run build` (make does it); only the
# build output is a static folder, never static/node_modules.
STATICFILES_DIRS = [BASE_DIR / "static" / "dist"]
STORAGES = {
    "default": {"BACKEND": "django.core.files.storage.FileSystemStorage"},
    "staticfiles": {
        "BACKEND": "whitenoise.storage.CompressedManifestStaticFilesStorage"
        if not DEBUG
        else "django.contrib.staticfiles.storage.StaticFilesStorage"
    },
}
# Without collectstatic (the embedded default) whitenoise serves straight from the finders.
WHITENOISE_USE_FINDERS = env.bool("WHITENOISE_USE_FINDERS", default=DEBUG)

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "formatters": {"plain": {"format": "%(asctime)s %(levelname)s %(name)s %(message)s"}},
    "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "plain"}},
    "root": {"handlers": ["console"], "level": env.str("LOG_LEVEL", default="INFO")},
    "loggers": {"django.request": {"level": "ERROR"}},
}

# --- API -----------------------------------------------------------------------------------------

REST_FRAMEWORK = {
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["tutoring.api.renderers.EnvelopeJSONRenderer"],
    "DEFAULT_AUTHENTICATION_CLASSES": ["tutoring.api.auth.JWTAuthentication"],
    "DEFAULT_PARSER_CLASSES": ["tutoring.api.parsers.JSONParser"],
    "DEFAULT_THROTTLE_CLASSES": ["tutoring.api.ratelimit.ApiRateLimit"],
    "EXCEPTION_HANDLER": "tutoring.api.exceptions.exception_handler",
    "DEFAULT_SCHEMA_CLASS": "drf_spectacular.openapi.AutoSchema",
    "UNAUTHENTICATED_USER": "django.contrib.auth.models.AnonymousUser",
    "TEST_REQUEST_DEFAULT_FORMAT": "json",
}

SIMPLE_JWT = {
    "ACCESS_TOKEN_LIFETIME": timedelta(minutes=env.int("JWT_ACCESS_MINUTES", default=15)),
    "REFRESH_TOKEN_LIFETIME": timedelta(days=env.int("JWT_REFRESH_DAYS", default=7)),
    "ROTATE_REFRESH_TOKENS": True,
    "BLACKLIST_AFTER_ROTATION": True,
    "UPDATE_LAST_LOGIN": False,
    "ALGORITHM": "HS256",
    "SIGNING_KEY": JWT_SIGNING_KEY or SECRET_KEY,
    "AUTH_HEADER_TYPES": ("Bearer",),
    "USER_ID_FIELD": "id",
    "USER_ID_CLAIM": "user_id",
    # Rotation that cannot fork (one winner per refresh token) and brute-force lockout on obtain.
    "TOKEN_OBTAIN_SERIALIZER": "tutoring.api.auth.TokenObtainPairSerializer",
    "TOKEN_REFRESH_SERIALIZER": "tutoring.api.auth.TokenRefreshSerializer",
}

# Sliding-window limits (tutoring.ratelimit), each `<count>/<s|m|h>`, counted before authentication.
RATE_LIMIT_API = env.str("RATE_LIMIT_API", default="100/m")
RATE_LIMIT_PAYMENTS = env.str("RATE_LIMIT_PAYMENTS", default="20/m")
RATE_LIMIT_CHAT = env.str("RATE_LIMIT_CHAT", default="60/m")
RATE_LIMIT_REALTIME_JOIN = env.str("RATE_LIMIT_REALTIME_JOIN", default="30/m")
RATE_LIMIT_REALTIME_UPDATE = env.str("RATE_LIMIT_REALTIME_UPDATE", default="120/m")
REALTIME_MAX_CONNECTIONS_PER_USER = env.int("REALTIME_MAX_CONNECTIONS_PER_USER", default=10)
# Password reset requests, counted per client IP and per email address.
RATE_LIMIT_PASSWORD_RESET = env.str("RATE_LIMIT_PASSWORD_RESET", default="5/h")
# Behind a proxy set this to the header it writes (e.g. HTTP_X_REAL_IP, see deploy/).
RATELIMIT_IP_META_KEY = env.str("RATELIMIT_IP_META_KEY", default="REMOTE_ADDR")

# Realtime presence (live.realtime.process): each process refreshes its connections every heartbeat;
# a connection not refreshed for the TTL (its process died) is dropped and its user marked gone.
REALTIME_HEARTBEAT_SECONDS = env.float("REALTIME_HEARTBEAT_SECONDS", default=15)
REALTIME_PRESENCE_TTL_SECONDS = env.float("REALTIME_PRESENCE_TTL_SECONDS", default=45)

# Brute force on passwords (django-axes): POST /api/auth/token and /admin/login/ lock an account and
# an IP address after LOGIN_FAILURE_LIMIT failures, for LOGIN_LOCKOUT_MINUTES; staff unlock in the admin.
AUTHENTICATION_BACKENDS = ["axes.backends.AxesStandaloneBackend", "django.contrib.auth.backends.ModelBackend"]
AXES_FAILURE_LIMIT = env.int("LOGIN_FAILURE_LIMIT", default=5)
AXES_COOLOFF_TIME = timedelta(minutes=env.int("LOGIN_LOCKOUT_MINUTES", default=15))
AXES_LOCKOUT_PARAMETERS = ["username", "ip_address"]
AXES_RESET_ON_SUCCESS = True
AXES_CLIENT_IP_CALLABLE = "tutoring.api.ratelimit.client_ip"
AXES_USERNAME_CALLABLE = "tutoring.api.auth.login_username"
AXES_LOCKOUT_CALLABLE = "tutoring.api.auth.lockout_response"
AXES_VERBOSE = False

SPECTACULAR_SETTINGS = {
    "TITLE": "Tutoring marketplace API",
    "DESCRIPTION": (
        'Every 2xx body is `{"data": ...}`. Every error under `/api/` is the error body '
        "`{statusCode, message, timestamp, path, method}` (validation errors add `errors`)."
    ),
    "VERSION": "1.0.0",
    "SERVE_INCLUDE_SCHEMA": False,
    "SERVE_PERMISSIONS": ["rest_framework.permissions.AllowAny"],
    "SERVE_AUTHENTICATION": [],
    "SWAGGER_UI_DIST": "SIDECAR",
    "SWAGGER_UI_FAVICON_HREF": "SIDECAR",
    "REDOC_DIST": "SIDECAR",
    "COMPONENT_SPLIT_REQUEST": True,
    # Several models have a `status`; name each app's enum after its model.
    "ENUM_NAME_OVERRIDES": {"SessionStatusEnum": "live.models.SessionStatus"},
    "POSTPROCESSING_HOOKS": [
        "drf_spectacular.hooks.postprocess_schema_enums",
        "tutoring.api.schema.envelope_postprocessing_hook",
    ],
}

# --- Business settings -----------------------------------------------------------------------------

PLATFORM_FEE_PERCENT = env.int("PLATFORM_FEE_PERCENT", default=15)
# The time rules of docs/money.md: how long an unpaid booking holds the tutor's time, how early a class
# may start, how long a held class's earnings wait (and a refund may still be asked for), how long
# before the class a student may cancel with a full refund.
BOOKING_PAYMENT_TTL_MINUTES = env.int("BOOKING_PAYMENT_TTL_MINUTES", default=30)
CLASS_START_EARLY_MINUTES = env.int("CLASS_START_EARLY_MINUTES", default=15)
EARNINGS_HOLD_HOURS = env.int("EARNINGS_HOLD_HOURS", default=24)
FREE_CANCELLATION_HOURS = env.int("FREE_CANCELLATION_HOURS", default=24)
MIN_WITHDRAWAL_AMOUNT = env.int("MIN_WITHDRAWAL_AMOUNT", default=1000)
RETURN_URL_HOSTS = env.list("RETURN_URL_HOSTS", default=[])
# The public origin of this site, used for absolute links handed to providers (callbacks, refresh URLs)
# and in emails.
SITE_URL = env.str("SITE_URL", default="http://127.0.0.1:8000").rstrip("/")
# Where the sandbox video provider writes the recordings it composes (real recordings stay at Twilio).
RECORDINGS_DIR = env.str("RECORDINGS_DIR", default=str(BASE_DIR / "recordings"))
# How long a recording's signed link (the `url` of a ready recording) can be opened.
RECORDING_LINK_TTL_SECONDS = env.int("RECORDING_LINK_TTL_SECONDS", default=600)

# --- Email (docs/notifications.md) ------------------------------------------------------------------
# EMAIL_URL as django-environ reads it: smtp://user:password@host:587 (smtp+tls:// for STARTTLS,
# smtps:// for TLS), consolemail:// (the embedded default: emails are printed by the worker).
vars().update({k: v for k, v in env.email_url("EMAIL_URL", default="consolemail://").items() if v is not None})
EMAIL_TIMEOUT = env.int("EMAIL_TIMEOUT", default=20)
_SITE_HOST = urlsplit(SITE_URL).hostname or "localhost"
DEFAULT_FROM_EMAIL = env.str("DEFAULT_FROM_EMAIL", default=f"no-reply@{_SITE_HOST}")
SERVER_EMAIL = DEFAULT_FROM_EMAIL

# --- Background jobs (Celery) -----------------------------------------------------------------------
# Redis is the broker in production. Without REDIS_URL (the embedded default) the broker is Celery's
# filesystem transport in a local folder, so `make run` runs the same worker and schedule with nothing
# else installed. The schedule itself is declared in code (tutoring/celery.py).
CELERY_DIR = Path(env.str("CELERY_DIR", default=str(BASE_DIR / ".celery")))
CELERY_BROKER_URL = env.str("CELERY_BROKER_URL", default=REDIS_URL or "filesystem://")
if CELERY_BROKER_URL == "filesystem://":
    CELERY_BROKER_TRANSPORT_OPTIONS = {
        "data_folder_in": str(CELERY_DIR / "queue"),
        "data_folder_out": str(CELERY_DIR / "queue"),
        "control_folder": str(CELERY_DIR / "control"),
    }
CELERY_TASK_IGNORE_RESULT = True
CELERY_TASK_SERIALIZER = "json"
CELERY_ACCEPT_CONTENT = ["json"]
CELERY_TIMEZONE = "UTC"
CELERY_BEAT_SCHEDULE_FILENAME = str(CELERY_DIR / "beat-schedule")
# A task that dies with its worker is delivered again; every task is safe to run twice.
CELERY_TASK_ACKS_LATE = True
CELERY_WORKER_PREFETCH_MULTIPLIER = 1
CELERY_BROKER_CONNECTION_RETRY_ON_STARTUP = True

# --- Providers -------------------------------------------------------------------------------------

STRIPE_SECRET_KEY = env.str("STRIPE_SECRET_KEY", default="")
STRIPE_PUBLISHABLE_KEY = env.str("STRIPE_PUBLISHABLE_KEY", default="")
STRIPE_SANDBOX = not STRIPE_SECRET_KEY
STRIPE_WEBHOOK_SECRET = env.str("STRIPE_WEBHOOK_SECRET", default="whsec_sandbox" if STRIPE_SANDBOX else "")
STRIPE_API_BASE = env.str("STRIPE_API_BASE", default="")
STRIPE_TIMEOUT_SECONDS = env.float("STRIPE_TIMEOUT_SECONDS", default=20.0)

TWILIO_ACCOUNT_SID = env.str("TWILIO_ACCOUNT_SID", default="")
TWILIO_API_KEY_SID = env.str("TWILIO_API_KEY_SID", default="")
TWILIO_API_KEY_SECRET = env.str("TWILIO_API_KEY_SECRET", default="")
TWILIO_SANDBOX = not (TWILIO_ACCOUNT_SID and TWILIO_API_KEY_SID and TWILIO_API_KEY_SECRET)
TWILIO_AUTH_TOKEN = env.str("TWILIO_AUTH_TOKEN", default="sandbox" if TWILIO_SANDBOX else "")
TWILIO_VIDEO_BASE_URL = env.str("TWILIO_VIDEO_BASE_URL", default="")
# Twilio checks a token only when a client connects, so it can be short; clients ask for a new one.
TWILIO_TOKEN_TTL_SECONDS = env.int("TWILIO_TOKEN_TTL_SECONDS", default=900)
TWILIO_TIMEOUT_SECONDS = env.float("TWILIO_TIMEOUT_SECONDS", default=15.0)

if not DEBUG:
    if not STRIPE_SANDBOX and not STRIPE_WEBHOOK_SECRET:
        raise ImproperlyConfigured("STRIPE_WEBHOOK_SECRET is required with real Stripe keys.")
    if not TWILIO_SANDBOX and not TWILIO_AUTH_TOKEN:
        raise ImproperlyConfigured("TWILIO_AUTH_TOKEN is required with real Twilio keys.")

# --- Content Security Policy (django-csp; docs/pages.md "Content Security Policy") ------------------
# Pages load only this site's own scripts, styles, images and fonts: no inline script or style, page
# data travels in JSON script blocks. A page that needs more adds it to its own response only
# (`tutoring.web.csp_allow`): the classroom its socket.io origin (ws/wss) and camera media, plus
# Twilio's signalling with real Twilio keys; the booking page Stripe.js and its frames with real
# Stripe keys; the earnings page Stripe's hosted onboarding as a form target.
CONTENT_SECURITY_POLICY = {
    "DIRECTIVES": {
        "default-src": ["'self'"],
        "script-src": ["'self'"],
        "style-src": ["'self'"],
        "img-src": ["'self'"],
        "font-src": ["'self'"],
        "connect-src": ["'self'"],
        "media-src": ["'self'"],
        "object-src": ["'none'"],
        "base-uri": ["'self'"],
        "form-action": ["'self'"],
        "frame-ancestors": ["'none'"],
    },
}
