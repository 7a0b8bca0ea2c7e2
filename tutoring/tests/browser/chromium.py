"""Debian's Chromium for the browser tests (`playwright install` is never used: its downloads are not
reachable, and the distribution's browser is what CI installs)."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-background-networking",
    "--disable-gpu",
    # A fake camera and microphone, allowed without a prompt: the classroom's preview has a picture.
    "--use-fake-ui-for-media-stream",
    "--use-fake-device-for-media-stream",
    # The recording player is started by the test's script, not by a person's click.
    "--autoplay-policy=no-user-gesture-required",
]


def built_bundle() -> Path:
    return Path(settings.STATICFILES_DIRS[0]) / "js" / "classroom.js"


def browser_missing() -> str | None:
    """Why the browser tests cannot run here, or None."""
    if not CHROMIUM.exists():
        return f"{CHROMIUM} is missing (apt-get install chromium)"
    if not built_bundle().exists():
        return "the pages' bundles are not built: run `make assets` (make test does)"
    return None
