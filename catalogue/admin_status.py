"""The status of an admin form that refuses what was sent: 400, not Django's 200, so that a
script, a test or a proxy log sees the refusal. Used by the model admins of every app."""

from django.template.response import TemplateResponse


class RefusedFormIs400:
    """A ModelAdmin mixin: a POSTed add or change form with errors answers 400."""

    def render_change_form(self, request, context, *args, **kwargs):
        response = super().render_change_form(request, context, *args, **kwargs)
        if request.method == "POST" and context.get("errors"):
            response.status_code = 400
        return response


def form_page(request, template: str, context: dict, *, refused: bool) -> TemplateResponse:
    """A custom admin page with a form: 400 when it refused what was POSTed."""
    return TemplateResponse(request, template, context, status=400 if refused else 200)
