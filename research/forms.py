"""Researcher-side forms."""

from django import forms

from research.inputs import NO_FILTERS, AnalysisFilters


class FlagCheckbox(forms.CheckboxInput):
    """A checkbox that reads "0", "false", "off" and "no" as unchecked, so that a hand-typed
    ?exclude_flagged=0 means what it says (Django's own takes any non-empty text as checked)."""

    def value_from_datadict(self, data, files, name):
        value = data.get(name)
        if isinstance(value, str) and value.strip().lower() in ("", "0", "false", "off", "no"):
            return False
        return super().value_from_datadict(data, files, name)


class AnalysisFilterForm(forms.Form):
    """The results page's filters, read from the query string (the page, its exports and
    its pictures all take the same parameters)."""

    exclude_flagged = forms.BooleanField(
        required=False, widget=FlagCheckbox, label="Leave out flagged participants"
    )
    min_annotations = forms.IntegerField(
        required=False, min_value=0, label="Only images with at least this many analysed maps"
    )
    include_flagged_maps = forms.BooleanField(
        required=False,
        widget=FlagCheckbox,
        label="Include maps the server flagged (blank, too fast, strokes that do not match the map)",
    )
    hierarchical = forms.BooleanField(
        required=False,
        widget=FlagCheckbox,
        label="Hierarchical CIs for Spearman (participants resampled too; slow)",
    )

    def filters(self) -> AnalysisFilters:
        """The chosen filters, or none when the form is invalid (its errors say why)."""
        if not self.is_valid():
            return NO_FILTERS
        return AnalysisFilters(
            exclude_flagged=self.cleaned_data["exclude_flagged"],
            min_annotations=self.cleaned_data["min_annotations"] or 0,
            include_flagged_maps=self.cleaned_data["include_flagged_maps"],
        )
