from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand, CommandError
from rest_framework.authtoken.models import Token


class Command(BaseCommand):
    help = (
        "Print the API token of a staff user (created on first use). Send it as "
        "'Authorization: Token KEY'. --rotate replaces it, so the old key stops working."
    )

    def add_arguments(self, parser):
        parser.add_argument("--username", required=True)
        parser.add_argument("--rotate", action="store_true", help="replace the existing token")

    def handle(self, *args, username: str, rotate: bool, **options):
        user = get_user_model().objects.filter(username=username).first()
        if user is None:
            raise CommandError(f"no user {username!r}")
        if not (user.is_active and user.is_staff):
            # The API answers staff only; a token for anyone else would just be refused.
            raise CommandError(f"user {username!r} is not active staff: the API is for researchers (staff)")
        if rotate:
            Token.objects.filter(user=user).delete()
        token, _ = Token.objects.get_or_create(user=user)
        self.stdout.write(token.key)
