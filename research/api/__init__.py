"""The read-only researcher JSON API (Django REST framework), mounted at /api/."""
