from django.contrib import admin

from catalogue import admin_views
from catalogue.admin_forms import ImageUploadForm
from catalogue.models import Image, ImageSet
from catalogue.services import image_fill_file_facts
from catalogue.variants_admin import generate_variants


class ImageInline(admin.TabularInline):
    model = Image
    extra = 0
    fields = (
        "thumbnail_preview",
        "name",
        "file",
        "class_index",
        "class_name",
        "is_practice",
        "is_attention_check",
        "width",
        "height",
    )
    readonly_fields = ("thumbnail_preview", "width", "height")
    thumbnail_preview = admin_views.thumbnail_preview


@admin.register(ImageSet)
class ImageSetAdmin(admin.ModelAdmin):
    list_display = ("name", "created_at")
    inlines = [ImageInline]
    actions = [generate_variants]

    def get_urls(self):  # the "Upload images" page (the form is on the change page too)
        return admin_views.image_set_urls(self) + super().get_urls()

    def change_view(self, request, object_id, form_url="", extra_context=None):
        extra_context = {**(extra_context or {}), "upload_form": ImageUploadForm()}
        return super().change_view(request, object_id, form_url, extra_context)

    def save_formset(self, request, form, formset, change):
        for image in formset.save(commit=False):
            image_fill_file_facts(image)
            image.save()
        for deleted in formset.deleted_objects:
            deleted.delete()


@admin.register(Image)
class ImageAdmin(admin.ModelAdmin):
    list_display = (
        "thumbnail_preview",
        "name",
        "image_set",
        "class_name",
        "is_practice",
        "is_attention_check",
        "regions_link",
        "width",
        "height",
    )
    list_display_links = ("name",)
    list_editable = ("is_practice", "is_attention_check")
    thumbnail_preview = admin_views.thumbnail_preview
    regions_link = admin_views.regions_link
    list_filter = ("image_set", "is_practice", "is_attention_check", "corruption", "severity")
    readonly_fields = ("sha256", "width", "height")
    actions = [generate_variants, *admin_views.FLAG_ACTIONS]

    def get_urls(self):  # region painter, ground truth, image and thumbnail files
        return admin_views.image_urls(self) + super().get_urls()

    def save_model(self, request, obj, form, change):
        image_fill_file_facts(obj)
        super().save_model(request, obj, form, change)
