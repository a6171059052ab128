"""Bulk import of images into an image set: the one service behind `manage.py import_images`
and the admin's "Upload images" form.

Sources: a directory (walked recursively), a ZIP file, or uploaded files (each an image or a
ZIP). Everything is checked first and every problem collected; if there is any, nothing is
written (no rows, no files in media) and ImageImportError carries the whole list.

Labels CSV (optional; a header row, column names case-insensitive):

    file             the file's name (``cat_01.jpg``), its path inside the folder or ZIP
                     (``cats/cat_01.jpg``), or its stem (``cat_01``); required
    label            the class: an index (``285``) or a class name (``Egyptian cat``,
                     case-insensitive, exact); empty = unlabelled
    practice         1/true/yes or 0/false/no/empty
    attention_check  1/true/yes or 0/false/no/empty
    texture_label    cue-conflict images: the texture's class, checked like ``label``
    box              ground-truth object boxes, ``left top right bottom`` in pixels, several
                     separated by ``;``; each must lie inside the image

Labels are checked against the class names of the chosen model (the model's class names, or the
1000 ImageNet names when it has none or no model is chosen).
"""

import csv
import difflib
import hashlib
import io
import os
import re
import stat
import warnings
import zipfile
from collections import defaultdict
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import IntegrityError, transaction
from PIL import Image as PILImage
from PIL import UnidentifiedImageError

from catalogue.class_names import imagenet_class_names, model_vocabularies
from catalogue.models import Image, ImageSet
from catalogue.renditions import make_renditions
from catalogue.services import image_renditions_write
from catalogue.thumbnails import thumbnail_jpeg
from config.storage import storage_error_message

# What browsers show on the participant page.
DISPLAYABLE_FORMATS = {"PNG": ".png", "JPEG": ".jpg", "GIF": ".gif", "WEBP": ".webp", "BMP": ".bmp"}
CSV_COLUMNS = ("file", "label", "practice", "attention_check", "texture_label", "box")
TRUE_WORDS = {"1", "true", "yes", "y", "x"}
FALSE_WORDS = {"", "0", "false", "no", "n"}
# A small file can compress very well without being a bomb; the ratio matters above this.
RATIO_CHECK_FROM_BYTES = 1024 * 1024
MAX_NAME_LENGTH = Image._meta.get_field("name").max_length


class ImageImportError(Exception):
    """Everything wrong with an import; nothing was saved."""

    def __init__(self, errors: list[str]):
        super().__init__("\n".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class ImportLimits:
    max_pixels: int
    max_files: int
    max_total_bytes: int
    max_compression_ratio: float

    @classmethod
    def from_settings(cls) -> "ImportLimits":
        return cls(
            max_pixels=settings.IMAGE_IMPORT_MAX_MEGAPIXELS * 1_000_000,
            max_files=settings.IMAGE_IMPORT_MAX_FILES,
            max_total_bytes=settings.IMAGE_IMPORT_MAX_TOTAL_MB * 1024 * 1024,
            max_compression_ratio=settings.IMAGE_IMPORT_MAX_COMPRESSION_RATIO,
        )


@dataclass
class ImportResult:
    image_set: ImageSet
    added: list[str] = field(default_factory=list)  # image names
    skipped_duplicates: list[str] = field(default_factory=list)  # "file: why"

    def summary(self) -> str:
        return (
            f"{len(self.added)} image(s) added to '{self.image_set.name}', "
            f"{len(self.skipped_duplicates)} duplicate(s) skipped"
        )


@dataclass
class _SourceFile:
    label: str  # how messages name it, e.g. "photos.zip:cats/cat_01.jpg"
    path: str  # relative path inside its folder or ZIP, "/"-separated
    content: bytes

    @property
    def basename(self) -> str:
        return PurePosixPath(self.path).name

    @property
    def stem(self) -> str:
        return PurePosixPath(self.path).stem


@dataclass
class _Candidate:
    source: _SourceFile
    sha256: str
    width: int
    height: int
    suffix: str
    thumbnail: bytes
    name: str
    class_index: int | None = None
    class_name: str = ""
    texture_class_index: int | None = None
    texture_class_name: str = ""
    is_practice: bool = False
    is_attention_check: bool = False
    boxes: list[list[int]] = field(default_factory=list)


@dataclass
class _LabelRow:
    line: int
    key: str
    values: dict[str, str]


class _Budget:
    """Counts files and bytes across every source, so that many small ZIPs cannot add up."""

    def __init__(self, limits: ImportLimits, errors: list[str]):
        self.limits, self.errors = limits, errors
        self.files = self.bytes = 0
        self.exceeded = False

    def take(self, size: int) -> bool:
        if self.exceeded:
            return False
        self.files += 1
        self.bytes += size
        if self.files > self.limits.max_files:
            self.errors.append(f"more than {self.limits.max_files} files: split the import")
            self.exceeded = True
        elif self.bytes > self.limits.max_total_bytes:
            self.errors.append(
                f"more than {self.limits.max_total_bytes // (1024 * 1024)} MB of files "
                "(uncompressed): split the import"
            )
            self.exceeded = True
        return not self.exceeded


def _skipped_name(path: str) -> bool:
    """macOS resource forks and hidden files are not part of the set."""
    return any(part == "__MACOSX" or part.startswith(".") for part in re.split(r"[\\/]", path) if part)


def _unsafe_zip_name(name: str) -> str | None:
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return "has an absolute path"
    if ".." in re.split(r"[\\/]", name):
        return "points outside the archive (..)"
    return None


def _read_zip(archive_label: str, handle, budget: _Budget, errors: list[str]) -> list[_SourceFile]:
    try:
        archive = zipfile.ZipFile(handle)
    except (zipfile.BadZipFile, OSError) as error:
        errors.append(f"{archive_label}: not a readable ZIP file ({error})")
        return []
    files = []
    limits = budget.limits
    with archive:
        for info in archive.infolist():
            where = f"{archive_label}:{info.filename}"
            unsafe = _unsafe_zip_name(info.filename)
            if unsafe:
                errors.append(f"{where}: refused, the entry {unsafe}")
                continue
            if stat.S_ISLNK(info.external_attr >> 16):
                errors.append(f"{where}: refused, the entry is a symbolic link")
                continue
            if info.is_dir() or _skipped_name(info.filename):
                continue
            if info.flag_bits & 0x1:
                errors.append(f"{where}: encrypted entries are not supported")
                continue
            ratio = info.file_size / max(info.compress_size, 1)
            if info.file_size >= RATIO_CHECK_FROM_BYTES and ratio > limits.max_compression_ratio:
                errors.append(
                    f"{where}: refused, compressed {ratio:.0f}:1 (more than "
                    f"{limits.max_compression_ratio:g}:1 looks like a ZIP bomb)"
                )
                continue
            if not budget.take(info.file_size):
                break
            try:
                # zipfile stops at the declared size and checks the CRC: the header cannot lie.
                content = archive.read(info)
            except (zipfile.BadZipFile, OSError, NotImplementedError, RuntimeError) as error:
                errors.append(f"{where}: could not be read from the ZIP ({error})")
                continue
            files.append(_SourceFile(label=where, path=info.filename.replace("\\", "/"), content=content))
    return files


def _read_directory(root: Path, budget: _Budget, errors: list[str]) -> list[_SourceFile]:
    files = []
    for folder, subfolders, names in os.walk(root):
        subfolders[:] = sorted(d for d in subfolders if not _skipped_name(d))
        for name in sorted(names):
            path = Path(folder) / name
            relative = path.relative_to(root).as_posix()
            if _skipped_name(relative):
                continue
            if path.is_symlink():
                errors.append(f"{relative}: refused, symbolic links are not followed")
                continue
            if path.suffix.lower() == ".zip":
                errors.append(f"{relative}: a ZIP inside the folder; import it on its own")
                continue
            if not budget.take(path.stat().st_size):
                return files
            files.append(_SourceFile(label=relative, path=relative, content=path.read_bytes()))
    return files


def collect_files(sources, limits: ImportLimits, errors: list[str]) -> list[_SourceFile]:
    """The files of a directory, a ZIP file (a Path) or of uploaded files (objects with
    ``name`` and ``read()``, e.g. Django's UploadedFile; each an image or a ZIP)."""
    budget = _Budget(limits, errors)
    if isinstance(sources, str | Path):
        source = Path(sources)
        if source.is_dir():
            return _read_directory(source, budget, errors)
        if source.is_file() and source.suffix.lower() == ".zip":
            with source.open("rb") as handle:
                return _read_zip(source.name, handle, budget, errors)
        errors.append(f"{source}: not a folder or a .zip file")
        return []
    files = []
    for upload in sources:
        name = Path(upload.name).name
        upload.seek(0)  # a form may have read it already
        if name.lower().endswith(".zip"):
            files += _read_zip(name, upload, budget, errors)
        elif not _skipped_name(name) and budget.take(getattr(upload, "size", 0) or 0):
            files.append(_SourceFile(label=name, path=name, content=upload.read()))
    return files


def _inspect(source: _SourceFile, limits: ImportLimits, errors: list[str]) -> _Candidate | None:
    """Open the image with Pillow's safeguards and make its thumbnail; None (and an error)
    for anything that is not a displayable image within the limits."""
    megapixels = limits.max_pixels / 1e6
    try:
        with warnings.catch_warnings():
            # Pillow only warns between its limit and twice it: make that an error too.
            warnings.simplefilter("error", PILImage.DecompressionBombWarning)
            with PILImage.open(io.BytesIO(source.content)) as picture:
                width, height = picture.size
                if width * height > limits.max_pixels:
                    errors.append(
                        f"{source.label}: {width}x{height} is {width * height / 1e6:.1f} megapixels, "
                        f"more than the limit of {megapixels:g}"
                    )
                    return None
                if picture.format not in DISPLAYABLE_FORMATS:
                    errors.append(
                        f"{source.label}: a {picture.format} image; use PNG, JPEG, GIF, WebP or BMP"
                    )
                    return None
                suffix = DISPLAYABLE_FORMATS[picture.format]
                picture.load()
                thumbnail = thumbnail_jpeg(picture)
    except (PILImage.DecompressionBombError, PILImage.DecompressionBombWarning) as error:
        errors.append(f"{source.label}: refused as a decompression bomb ({error})")
        return None
    except UnidentifiedImageError:
        errors.append(f"{source.label}: not an image file")
        return None
    except Exception as error:  # truncated or corrupt data: Pillow raises many kinds
        errors.append(f"{source.label}: the image could not be decoded ({error})")
        return None
    return _Candidate(
        source=source,
        sha256=hashlib.sha256(source.content).hexdigest(),
        width=width,
        height=height,
        suffix=suffix,
        thumbnail=thumbnail,
        name=source.stem,
    )


class LabelChecker:
    """Turns a label (class index or name) into (index, name) for one model's classes."""

    def __init__(self, class_names, model_description: str):
        self.class_names = list(class_names)
        self.model_description = model_description
        self.by_lower_name = defaultdict(list)
        for index, name in enumerate(self.class_names):
            self.by_lower_name[name.lower()].append(index)

    def resolve(self, value: str) -> tuple[int, str]:
        """(index, name); ValueError with a message for anything not a class of the model."""
        value = value.strip()
        if re.fullmatch(r"[+-]?\d+", value):
            index = int(value)
            if not 0 <= index < len(self.class_names):
                raise ValueError(
                    f"class index {index} is out of range for {self.model_description} "
                    f"(0-{len(self.class_names) - 1})"
                )
            return index, self.class_names[index]
        indexes = self.by_lower_name.get(value.lower(), [])
        if len(indexes) == 1:
            return indexes[0], self.class_names[indexes[0]]
        if len(indexes) > 1:
            listed = ", ".join(str(i) for i in indexes)
            raise ValueError(f"'{value}' names several classes ({listed}): give the index instead")
        close = difflib.get_close_matches(value.lower(), list(self.by_lower_name), n=3, cutoff=0.6)
        hint = ""
        if close:
            hint = "; close matches: " + ", ".join(
                f"'{self.class_names[self.by_lower_name[name][0]]}' ({self.by_lower_name[name][0]})"
                for name in close
            )
        raise ValueError(f"'{value}' is not a class name of {self.model_description}{hint}")


def label_checker_for(model_name: str | None = None) -> LabelChecker:
    """The classes of the model named ``model_name``, or the 1000 ImageNet classes."""
    if model_name is None:
        return LabelChecker(imagenet_class_names(), "ImageNet")
    vocabularies = model_vocabularies()
    if model_name not in vocabularies:
        raise ValueError(f"no model named '{model_name}' (known: {', '.join(vocabularies) or 'none'})")
    if vocabularies[model_name]:
        return LabelChecker(vocabularies[model_name], f"model '{model_name}'")
    return LabelChecker(imagenet_class_names(), f"model '{model_name}' (ImageNet)")


def _parse_labels_csv(text: str, csv_label: str, errors: list[str]) -> list[_LabelRow]:
    reader = csv.reader(io.StringIO(text))
    header = next(reader, None)
    if not header:
        errors.append(f"{csv_label}: empty; the first row must name the columns ({', '.join(CSV_COLUMNS)})")
        return []
    columns = [name.strip().lower().replace(" ", "_") for name in header]
    unknown = [name for name in columns if name not in CSV_COLUMNS]
    if unknown or "file" not in columns:
        problem = f"unknown column(s) {', '.join(unknown)}" if unknown else "no 'file' column"
        errors.append(f"{csv_label}: {problem}; the columns are {', '.join(CSV_COLUMNS)}")
        return []
    rows, seen = [], {}
    for values in reader:
        line = reader.line_num
        if not any(value.strip() for value in values):
            continue
        if len(values) > len(columns):
            errors.append(f"{csv_label} line {line}: {len(values)} fields but {len(columns)} columns")
            continue
        row = {name: value.strip() for name, value in zip(columns, values)}
        key = row.get("file", "")
        if not key:
            errors.append(f"{csv_label} line {line}: no file name")
            continue
        if key in seen:
            errors.append(f"{csv_label} line {line}: '{key}' already has a row (line {seen[key]})")
            continue
        seen[key] = line
        rows.append(_LabelRow(line=line, key=key, values=row))
    return rows


def _flag(value: str) -> bool:
    word = value.strip().lower()
    if word in TRUE_WORDS:
        return True
    if word in FALSE_WORDS:
        return False
    raise ValueError(f"'{value}' is not yes/no (use 1 or 0)")


def parse_boxes(text: str, width: int, height: int) -> list[list[int]]:
    """``left top right bottom`` boxes (``;`` or new lines between boxes; spaces or commas
    inside one), each inside a width x height image; ValueError otherwise."""
    boxes = []
    for part in re.split(r"[;\n]", text):
        if not part.strip():
            continue
        numbers = re.split(r"[\s,]+", part.strip())
        if len(numbers) != 4 or not all(re.fullmatch(r"-?\d+", n) for n in numbers):
            raise ValueError(f"box '{part.strip()}' is not four whole numbers 'left top right bottom'")
        left, top, right, bottom = (int(n) for n in numbers)
        if not (0 <= left < right <= width and 0 <= top < bottom <= height):
            raise ValueError(
                f"box '{part.strip()}' is not inside the {width}x{height} image "
                "(need 0 <= left < right <= width and 0 <= top < bottom <= height)"
            )
        boxes.append([left, top, right, bottom])
    return boxes


def _apply_labels(
    candidates: list[_Candidate],
    rows: list[_LabelRow],
    checker: LabelChecker,
    csv_label: str,
    errors: list[str],
) -> None:
    by_key = defaultdict(list)
    for candidate in candidates:
        source = candidate.source
        for key in {source.path, source.basename, source.stem}:
            by_key[key].append(candidate)
    labelled = set()
    for row in rows:
        matches = by_key.get(row.key, [])
        where = f"{csv_label} line {row.line}"
        if not matches:
            errors.append(f"{where}: '{row.key}' matches no imported file")
            continue
        if len(matches) > 1:
            names = ", ".join(m.source.label for m in matches)
            errors.append(f"{where}: '{row.key}' matches several files ({names}): use the full name")
            continue
        candidate = matches[0]
        if id(candidate) in labelled:
            errors.append(f"{where}: {candidate.source.label} already has a row")
            continue
        labelled.add(id(candidate))
        file_label = candidate.source.label
        for column, index_attr, name_attr in (
            ("label", "class_index", "class_name"),
            ("texture_label", "texture_class_index", "texture_class_name"),
        ):
            value = row.values.get(column, "")
            if value:
                try:
                    index, name = checker.resolve(value)
                except ValueError as error:
                    errors.append(f"{file_label} ({where}): {column} {error}")
                else:
                    setattr(candidate, index_attr, index)
                    setattr(candidate, name_attr, name)
        for column, attr in (("practice", "is_practice"), ("attention_check", "is_attention_check")):
            try:
                setattr(candidate, attr, _flag(row.values.get(column, "")))
            except ValueError as error:
                errors.append(f"{file_label} ({where}): {column} {error}")
        try:
            candidate.boxes = parse_boxes(row.values.get("box", ""), candidate.width, candidate.height)
        except ValueError as error:
            errors.append(f"{file_label} ({where}): {error}")
    for candidate in candidates:
        if id(candidate) not in labelled:
            errors.append(f"{candidate.source.label}: no row in {csv_label}")


def _drop_duplicates(candidates: list[_Candidate], existing: dict[str, str]) -> tuple[list, list[str]]:
    """Keep the first of each content; the rest are reported as skipped."""
    kept, skipped, first_by_sha = [], [], {}
    for candidate in candidates:
        if candidate.sha256 in existing:
            skipped.append(
                f"{candidate.source.label}: same content as '{existing[candidate.sha256]}', "
                "already in the set"
            )
        elif candidate.sha256 in first_by_sha:
            skipped.append(f"{candidate.source.label}: same content as {first_by_sha[candidate.sha256]}")
        else:
            first_by_sha[candidate.sha256] = candidate.source.label
            kept.append(candidate)
    return kept, skipped


def _check_names(candidates: list[_Candidate], existing_names: set[str], errors: list[str]) -> None:
    by_name = defaultdict(list)
    for candidate in candidates:
        by_name[candidate.name].append(candidate)
    for name, group in by_name.items():
        if len(name) > MAX_NAME_LENGTH:
            errors.append(f"{group[0].source.label}: the name is longer than {MAX_NAME_LENGTH} characters")
        if len(group) > 1:
            labels = ", ".join(c.source.label for c in group)
            errors.append(f"{labels}: different images with the same name '{name}'; rename all but one")
        if name in existing_names:
            errors.append(f"{group[0].source.label}: the set already has a different image named '{name}'")


def _save(image_set_name: str, candidates: list[_Candidate]) -> tuple[ImageSet, list[str]]:
    """Write the checked images in one transaction; on any failure remove the files written."""
    from django.core.files.storage import default_storage

    written = []
    try:
        with transaction.atomic():
            image_set, _ = ImageSet.objects.get_or_create(name=image_set_name)
            for candidate in candidates:
                image = Image(
                    image_set=image_set,
                    name=candidate.name,
                    sha256=candidate.sha256,
                    width=candidate.width,
                    height=candidate.height,
                    class_index=candidate.class_index,
                    class_name=candidate.class_name,
                    texture_class_index=candidate.texture_class_index,
                    texture_class_name=candidate.texture_class_name,
                    is_practice=candidate.is_practice,
                    is_attention_check=candidate.is_attention_check,
                    ground_truth_boxes=candidate.boxes,
                )
                stem = candidate.sha256[:16]
                image.file.save(
                    f"{stem}{candidate.suffix}", ContentFile(candidate.source.content), save=False
                )
                written.append(image.file.name)
                image.thumbnail.save(f"{stem}.jpg", ContentFile(candidate.thumbnail), save=False)
                written.append(image.thumbnail.name)
                # Decoded again here rather than kept from _inspect: a thousand images'
                # renditions would otherwise all sit in memory until the save.
                with PILImage.open(io.BytesIO(candidate.source.content)) as picture:
                    written += image_renditions_write(image, make_renditions(picture))
                image.save()
    except BaseException:
        for name in written:
            default_storage.delete(name)
        raise
    return image_set, [c.name for c in candidates]


def import_images(
    *,
    image_set_name: str,
    sources,
    labels_csv: str | None = None,
    labels_csv_name: str = "labels CSV",
    model_name: str | None = None,
    limits: ImportLimits | None = None,
) -> ImportResult:
    """Check and add every image of ``sources`` to the set (created if missing).

    ``sources``: a folder or .zip path, or uploaded files (images or ZIPs). ``labels_csv``:
    the CSV's text (see the module's docstring). Raises ImageImportError listing every
    problem, having saved nothing."""
    limits = limits or ImportLimits.from_settings()
    errors: list[str] = []
    files = collect_files(sources, limits, errors)
    if not files and not errors:
        errors.append("no image files found")
    candidates = [c for c in (_inspect(f, limits, errors) for f in files) if c is not None]
    if labels_csv is not None:
        rows = _parse_labels_csv(labels_csv, labels_csv_name, errors)
        _apply_labels(candidates, rows, label_checker_for(model_name), labels_csv_name, errors)
    existing_set = ImageSet.objects.filter(name=image_set_name).first()
    existing = {}
    if existing_set is not None:
        existing = dict(existing_set.images.values_list("sha256", "name"))
    candidates, skipped = _drop_duplicates(candidates, existing)
    _check_names(candidates, set(existing.values()), errors)
    if errors:
        raise ImageImportError(errors)
    try:
        image_set, added = _save(image_set_name, candidates)
    except IntegrityError as error:  # another import added the same image meanwhile
        raise ImageImportError([f"the set changed during the import, nothing was saved ({error})"]) from None
    except OSError as error:  # e.g. the media disk is full: _save removed what it wrote
        message = storage_error_message(error, "the image files")
        raise ImageImportError([f"{message}; nothing was saved"]) from None
    return ImportResult(image_set=image_set, added=added, skipped_duplicates=skipped)


def read_labels_csv(data: bytes, name: str) -> str:
    """The CSV's text (UTF-8, with or without a byte-order mark); ImageImportError otherwise."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as error:
        raise ImageImportError([f"{name}: not UTF-8 text ({error})"]) from None
