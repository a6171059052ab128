"""Security headers and request rate limits that Django 5.2 does not provide itself."""

import functools
import time

from django.conf import settings
from django.core.cache import cache
from django.http import HttpResponse, JsonResponse


class ContentSecurityPolicyMiddleware:
    """Send settings.CONTENT_SECURITY_POLICY unless the view set its own (Redoc needs an
    inline script)."""

    def __init__(self, get_response):
        self.get_response = get_response

    def __call__(self, request):
        response = self.get_response(request)
        if settings.CONTENT_SECURITY_POLICY and "Content-Security-Policy" not in response:
            response["Content-Security-Policy"] = settings.CONTENT_SECURITY_POLICY
        return response


def with_content_security_policy(policy: str):
    """A view decorator that replaces the site-wide policy for one view."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            response = view(request, *args, **kwargs)
            response["Content-Security-Policy"] = policy
            return response

        return wrapped

    return decorate


def client_ip(request) -> str:
    """The client's address: REMOTE_ADDR, or the proxy's X-Forwarded-For entry when
    settings.TRUSTED_PROXY_HOPS says how many proxies sit in front of the app."""
    hops = settings.TRUSTED_PROXY_HOPS
    forwarded = [
        part.strip() for part in request.META.get("HTTP_X_FORWARDED_FOR", "").split(",") if part.strip()
    ]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return request.META.get("REMOTE_ADDR", "")


def hit(scope: str, key: str, *, limit: int, window_s: int) -> int | None:
    """Count one request of ``key`` in a fixed window; return the seconds to wait when the
    limit is exceeded, else None. The cache is shared by every process when it is Redis."""
    if limit <= 0:
        return None
    window = int(time.time() // window_s)
    cache_key = f"ratelimit:{scope}:{key}:{window}"
    cache.add(cache_key, 0, timeout=window_s + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add and incr
        cache.add(cache_key, 1, timeout=window_s + 1)
        count = 1
    if count > limit:
        return max(1, (window + 1) * window_s - int(time.time()))
    return None


def rate_limited(scope: str, *, key, limit_setting: str, window_s: int = 60, methods=("POST",)):
    """Limit a view to settings.<limit_setting> requests per ``window_s`` per key(request,
    **view kwargs); over the limit: 429 with Retry-After (JSON for JSON clients)."""

    def decorate(view):
        @functools.wraps(view)
        def wrapped(request, *args, **kwargs):
            if request.method in methods:
                retry_after = hit(
                    scope, key(request, **kwargs), limit=getattr(settings, limit_setting), window_s=window_s
                )
                if retry_after is not None:
                    message = f"Too many requests; try again in {retry_after} s."
                    if "application/json" in request.headers.get("Accept", ""):
                        response = JsonResponse({"error": message}, status=429)
                    else:
                        response = HttpResponse(message, status=429, content_type="text/plain")
                    response["Retry-After"] = str(retry_after)
                    return response
            return view(request, *args, **kwargs)

        return wrapped

    return decorate
