"""Keep the translations of the pages and the API in step with the code, without GNU gettext.

`manage.py translations` extracts every translatable string of the templates and the apps' Python
(Django's own template lexer turns `{% translate %}`/`{% blocktranslate %}` into gettext calls, Babel
reads the calls) into `locale/<language>/LC_MESSAGES/django.po` (new strings untranslated, dropped
ones removed, translations kept) and compiles the `.mo` files Django reads. Both files are committed,
so nothing needs compiling at deploy time. `--check` changes nothing and fails if a string is missing
from a catalogue or untranslated, or a `.mo` differs from what its `.po` compiles to (a test runs it).
"""

from __future__ import annotations

import io
from datetime import UTC, datetime
from pathlib import Path

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError
from django.utils.translation import to_locale
from django.utils.translation.template import templatize

APPS = ("tutoring", "live", "payments", "withdrawals", "marketplace", "notifications")
SKIP_DIRS = {"tests", "migrations", "management", "__pycache__"}
KEYWORDS = {
    "_": None,
    "gettext": None,
    "gettext_lazy": None,
    "ngettext": (1, 2),
    "ngettext_lazy": (1, 2),
    "pgettext": ((1, "c"), 2),
    "pgettext_lazy": ((1, "c"), 2),
    "npgettext": ((1, "c"), 2, 3),
    "npgettext_lazy": ((1, "c"), 2, 3),
}


# Dates in the .po header would change on every run; the repository's history says when instead.
FIXED_DATE = datetime(2026, 1, 1, tzinfo=UTC)
HEADER = (
    "# Translations of the tutoring pages and API messages. Edit msgstr lines; `make messages` keeps\n"
    "# this file in step with the code and compiles django.mo."
)


def sources() -> list[Path]:
    root = Path(settings.BASE_DIR)
    # Pages are .html, emails' plain-text bodies .txt: both are Django templates.
    files = sorted([*(root / "templates").rglob("*.html"), *(root / "templates").rglob("*.txt")])
    for app in APPS:
        files += sorted(
            path for path in (root / app).rglob("*.py") if not SKIP_DIRS & set(path.relative_to(root).parts)
        )
    return files


def extract():
    """Every translatable message of the sources, as a Babel catalogue (the template of each .po)."""
    from babel.messages.catalog import Catalog
    from babel.messages.extract import extract as babel_extract

    catalog = Catalog(fuzzy=False, project="tutoring", version="1", creation_date=FIXED_DATE)
    for path in sources():
        text = path.read_text(encoding="utf-8")
        if path.suffix in (".html", ".txt"):
            text = templatize(text, origin=str(path))
        found = babel_extract("python", io.BytesIO(text.encode()), keywords=KEYWORDS, comment_tags=(), options={})
        for lineno, message, _comments, context in found:
            catalog.add(message, locations=[(str(path.relative_to(settings.BASE_DIR)), lineno)], context=context)
    return catalog


def po_path(language: str) -> Path:
    return Path(settings.LOCALE_PATHS[0]) / to_locale(language) / "LC_MESSAGES" / "django.po"


def compiled(catalog) -> bytes:
    from babel.messages.mofile import write_mo

    buffer = io.BytesIO()
    write_mo(buffer, catalog)
    return buffer.getvalue()


def problems(template, catalog) -> list[str]:
    found = []
    for message in template:
        if not message.id:
            continue
        entry = catalog.get(message.id, context=message.context)
        if entry is None:
            found.append(f"missing: {message.id!r}")
        elif entry.fuzzy or not all(entry.string if isinstance(entry.string, tuple) else (entry.string,)):
            found.append(f"untranslated: {message.id!r}")
    return found


class Command(BaseCommand):
    help = "Extract translatable strings into locale/*/django.po and compile the .mo files (Babel)."

    def add_arguments(self, parser):
        parser.add_argument("--check", action="store_true", help="Change nothing; fail if anything is out of date.")

    def handle(self, *args, check=False, **options):
        from babel.messages.pofile import read_po, write_po

        template = extract()
        errors = []
        for language, _name in settings.LANGUAGES:
            if language == settings.LANGUAGE_CODE:
                continue
            po = po_path(language)
            with po.open("rb") if po.exists() else io.BytesIO() as handle:
                catalog = read_po(handle, locale=to_locale(language))
            mo = po.with_suffix(".mo")
            if check:
                errors += [f"{po}: {problem}" for problem in problems(template, catalog)]
                if not mo.exists() or mo.read_bytes() != compiled(catalog):
                    errors.append(f"{mo} is not compiled from {po}: run `make messages`")
                continue
            catalog.update(template, no_fuzzy_matching=True, update_header_comment=False)
            catalog.obsolete.clear()
            catalog.fuzzy = False
            catalog.header_comment = HEADER
            catalog.revision_date = FIXED_DATE
            catalog.project, catalog.version = "tutoring", "1"
            catalog.last_translator = "tutoring"
            catalog.language_team = f"{to_locale(language)}"
            po.parent.mkdir(parents=True, exist_ok=True)
            with po.open("wb") as handle:
                write_po(handle, catalog, width=100, no_location=True, sort_output=True, omit_header=False)
            mo.write_bytes(compiled(catalog))
            todo = problems(template, catalog)
            self.stdout.write(f"{po}: {len(template)} messages, {len(todo)} to translate")
            for problem in todo:
                self.stdout.write(f"  {problem}")
        if errors:
            raise CommandError("Translations are out of date:\n" + "\n".join(errors))
