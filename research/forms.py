"""Researcher-side forms, and the one way a bad query parameter is refused: BadParameters,
which the pages, the CSV and picture downloads and the API each answer with a 400 that names
the parameter and the values it takes."""

from django import forms
from django.core.exceptions import BadRequest, ValidationError

from research.inputs import NO_FILTERS, AnalysisFilters

YES = ("1", "true", "yes", "on")
NO = ("0", "false", "no", "off")
FLAG_VALUES = f"{', '.join(YES)} to set it; {', '.join(NO)} or nothing to leave it unset"
COUNT_VALUES = "a whole number, 0 or more (0 keeps every image)"


class BadParameters(BadRequest):
    """Query parameters that are not valid: parameter -> messages, each saying what it takes.
    A BadRequest, so that a view that does not answer it itself still gives a 400."""

    def __init__(self, errors: dict[str, list[str]]):
        self.errors = errors
        super().__init__("; ".join(self.lines()))

    def lines(self) -> list[str]:
        return [f"{name}: {message}" for name, messages in self.errors.items() for message in messages]

    @property
    def filters(self) -> bool:
        """Whether a bad parameter is one of the results page's filters."""
        return any(name in AnalysisFilterForm.base_fields for name in self.errors)


def _flag_text(value) -> str | None:
    """The parameter's text, lower case; None when it is absent."""
    if value is None or isinstance(value, bool):
        return None if value is None else ("1" if value else "0")
    return str(value).strip().lower()


class FlagCheckbox(forms.CheckboxInput):
    """A checkbox whose value is read by FlagField, not by the widget: Django's own takes any
    text but "false" as checked, so ?exclude_flagged=maybe would mean yes."""

    def __init__(self, attrs=None):
        super().__init__(attrs, check_test=lambda value: _flag_text(value) in YES)

    def value_from_datadict(self, data, files, name):
        return data.get(name)


class FlagField(forms.Field):
    """A yes/no query parameter: 1/true/yes/on, 0/false/no/off or absent; anything else is
    an error naming the values it takes."""

    widget = FlagCheckbox

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        super().__init__(**kwargs)

    def to_python(self, value) -> bool:
        text = _flag_text(value)
        if text is None or text == "" or text in NO:
            return False
        if text in YES:
            return True
        raise ValidationError(f"{value!r} is not a yes/no value: use {FLAG_VALUES}", code="invalid")


class CountField(forms.IntegerField):
    """A whole number of at least 0, whose errors quote the value and say what is allowed."""

    def __init__(self, **kwargs):
        kwargs.setdefault("required", False)
        kwargs.setdefault("min_value", 0)
        super().__init__(**kwargs)

    def clean(self, value):
        try:
            return super().clean(value)
        except ValidationError as error:
            codes = {item.code for item in error.error_list}
            if "invalid" in codes:
                raise ValidationError(
                    f"{value!r} is not a whole number: use {COUNT_VALUES}", code="invalid"
                ) from None
            if "min_value" in codes:
                raise ValidationError(f"{value!r} is below 0: use {COUNT_VALUES}", code="min_value") from None
            raise


class AnalysisFilterForm(forms.Form):
    """The results page's filters, read from the query string (the page, its exports and
    its pictures all take the same parameters)."""

    exclude_flagged = FlagField(label="Leave out flagged participants")
    min_annotations = CountField(label="Only images with at least this many analysed maps")
    include_flagged_maps = FlagField(
        label="Include maps the server flagged (blank, too fast, strokes that do not match the map)",
    )
    hierarchical = FlagField(label="Hierarchical CIs for Spearman (participants resampled too; slow)")

    def filters(self) -> AnalysisFilters:
        """The chosen filters, or none when the form is invalid (its errors say why)."""
        if not self.is_valid():
            return NO_FILTERS
        return AnalysisFilters(
            exclude_flagged=self.cleaned_data["exclude_flagged"],
            min_annotations=self.cleaned_data["min_annotations"] or 0,
            include_flagged_maps=self.cleaned_data["include_flagged_maps"],
        )

    def checked_filters(self) -> AnalysisFilters:
        """The chosen filters; BadParameters naming every invalid one."""
        if not self.is_valid():
            raise BadParameters({name: list(messages) for name, messages in self.errors.items()})
        return self.filters()
