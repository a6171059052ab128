"""Template tags for the painter pages (templates/study/trial.html, the admin's regions page).

``{% painter_constants %}`` writes the constants that the painter's JavaScript shares with the
server as a ``json_script`` (id ``painter-constants``), so that they are written once, in
Python: the brush model of ``annotations/brush.py`` and the level from which a pixel counts as
painted (``annotations/services.py``, the coverage the server stores).

``{% painter_script "annotations/js/trial.js" %}`` loads a page's entry module: a
``<link rel="modulepreload">`` for every module it imports, directly or not (read from the
files' ``import ... from "./x.js"`` lines), then ``<script type="module">``. The browser then
fetches them all at once instead of discovering them one level of imports at a time.
"""

import logging
import posixpath
import re

from django import template
from django.conf import settings
from django.contrib.staticfiles import finders
from django.contrib.staticfiles.storage import staticfiles_storage
from django.templatetags.static import static
from django.utils.html import format_html, format_html_join, json_script
from django.utils.safestring import SafeString

from annotations import brush
from annotations.services import PAINTED_LEVEL

register = template.Library()
logger = logging.getLogger(__name__)

CONSTANTS_ID = "painter-constants"
# import x from "./y.js"; import { a } from "../y.js"; import "./y.js"; export { a } from "./y.js"
RELATIVE_IMPORT = re.compile(r"""^\s*(?:import|export)\b[^"';]*?["'](\.\.?/[^"']+)["']""", re.M)
_import_cache: dict[str, tuple[str, ...]] = {}


def painter_constants_dict() -> dict[str, float]:
    """The values static/annotations/js/painter/constants.js reads, by their JavaScript names."""
    return {
        "dabFlow": brush.DAB_FLOW,
        "spacingFraction": brush.SPACING_FRACTION,
        "paintedLevel": PAINTED_LEVEL,
    }


@register.simple_tag
def painter_constants() -> SafeString:
    """``<script id="painter-constants" type="application/json">{...}</script>``."""
    return json_script(painter_constants_dict(), CONSTANTS_ID)


def _read_static(path: str) -> str | None:
    """A static file's text from the source directories, else from STATIC_ROOT."""
    filename = finders.find(path)
    try:
        if filename is not None:
            with open(filename, encoding="utf-8") as file:
                return file.read()
        with staticfiles_storage.open(path) as file:
            return file.read().decode("utf-8")
    except (OSError, ValueError):
        return None


def module_imports(entry: str) -> tuple[str, ...]:
    """The static paths of the modules that ``entry`` (a static path) imports, directly or
    not, in the order first met; relative imports only (the painter has no others). A module
    that cannot be read is left out (and logged): preloading only saves time."""
    if not settings.DEBUG and entry in _import_cache:
        return _import_cache[entry]
    found: list[str] = []
    pending = [entry]
    while pending:
        path = pending.pop(0)
        source = _read_static(path)
        if source is None:
            logger.warning("painter_script: cannot read the static file %s to preload its imports", path)
            continue
        for relative in RELATIVE_IMPORT.findall(source):
            imported = posixpath.normpath(posixpath.join(posixpath.dirname(path), relative))
            if imported != entry and imported not in found:
                found.append(imported)
                pending.append(imported)
    _import_cache[entry] = tuple(found)
    return _import_cache[entry]


@register.simple_tag
def painter_script(entry: str) -> SafeString:
    """The modulepreload links of ``entry``'s imports and its ``<script type="module">``."""
    preloads = format_html_join(
        "\n", '<link rel="modulepreload" href="{}">', ((static(path),) for path in module_imports(entry))
    )
    return format_html('{}\n<script type="module" src="{}"></script>', preloads, static(entry))
