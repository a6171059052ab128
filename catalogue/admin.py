from django import forms
from django.contrib import admin
from django.db.models import Count, Q

from catalogue import admin_views
from catalogue.admin_forms import ImageUploadForm, VariantOfField
from catalogue.admin_status import RefusedFormIs400
from catalogue.models import Image, ImageSet
from catalogue.services import image_fill_file_facts
from catalogue.variants_admin import generate_variants


class ImageInline(admin.TabularInline):
    """The set's images, compact enough for a 1440-pixel screen: each image's file is changed
    on its own page (the change link), its size shown as one column."""

    model = Image
    extra = 0
    fields = (
        "thumbnail_preview",
        "name",
        "class_index",
        "class_name",
        "is_practice",
        "is_attention_check",
        "size",
    )
    readonly_fields = ("thumbnail_preview", "size")
    show_change_link = True
    thumbnail_preview = admin_views.thumbnail_preview

    def has_add_permission(self, request, obj=None):
        return False  # images are added with the upload form below (or one by one as Images)

    def formfield_for_dbfield(self, db_field, request, **kwargs):
        if db_field.name in ("name", "class_name"):
            kwargs["widget"] = forms.TextInput(attrs={"size": 18})
        return super().formfield_for_dbfield(db_field, request, **kwargs)

    @admin.display(description="Size")
    def size(self, image: Image) -> str:
        return f"{image.width}x{image.height}"


@admin.register(ImageSet)
class ImageSetAdmin(RefusedFormIs400, admin.ModelAdmin):
    list_display = ("name", "image_count", "variant_count", "created_at")
    inlines = [ImageInline]
    actions = [generate_variants]

    def get_urls(self):  # the "Upload images" page (the form is on the change page too)
        return admin_views.image_set_urls(self) + super().get_urls()

    def get_queryset(self, request):
        return (
            super()
            .get_queryset(request)
            .annotate(
                n_images=Count("images"),
                n_variants=Count("images", filter=Q(images__variant_of__isnull=False)),
            )
        )

    @admin.display(description="Images", ordering="n_images")
    def image_count(self, image_set) -> int:
        return image_set.n_images

    @admin.display(description="of them variants", ordering="n_variants")
    def variant_count(self, image_set) -> int:
        return image_set.n_variants

    def add_view(self, request, form_url="", extra_context=None):  # the name and the first images
        return admin_views.image_set_add(request, model_admin=self)

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
class ImageAdmin(RefusedFormIs400, admin.ModelAdmin):
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

    def formfield_for_foreignkey(self, db_field, request, **kwargs):
        if db_field.name == "variant_of":  # originals only, each named with its set and id
            queryset = Image.objects.filter(variant_of__isnull=True).select_related("image_set")
            return VariantOfField(queryset.order_by("image_set__name", "name", "pk"), required=False)
        return super().formfield_for_foreignkey(db_field, request, **kwargs)
