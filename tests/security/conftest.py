"""A small world for the security tests: one study, two participants who joined through the
real consent page (A has painted one trial), a model map, a compute job, a researcher (staff,
not superuser, with an API token) and an admin (superuser), each with a logged-in client."""

import struct
import zlib
from dataclasses import dataclass, field

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.test import Client
from rest_framework.authtoken.models import Token

from annotations.models import Annotation
from explain.models import ComputeJob, Prediction, SaliencyMap
from explain.saliency.registry import method_params, params_hash
from study.models import Participant, Study, Trial
from tests.research.conftest import _join, _submit, box_map, model_map

PERSONAS = ("anonymous", "participant_a", "participant_b", "researcher", "admin")


@dataclass
class World:
    study: Study
    a: Participant
    b: Participant
    a_done: Trial  # A's painted trial
    a_pending: Trial
    b_pending: Trial
    annotation: Annotation
    saliency_map: SaliencyMap
    prediction: Prediction
    job: ComputeJob
    group: Group
    researcher: object
    admin: object
    token: str
    clients: dict = field(default_factory=dict)  # persona -> Client

    def request(self, persona: str, method: str, url: str, **data):
        """One request as ``persona``; the researcher sends its token to the API (the admin
        uses its session there, so both ways in are exercised)."""
        headers = {}
        if persona == "researcher" and url.startswith("/api/"):
            headers["HTTP_AUTHORIZATION"] = f"Token {self.token}"
        client = self.clients[persona]
        return client.get(url, **headers) if method == "GET" else client.post(url, data, **headers)


@pytest.fixture
def world(study, default_model) -> World:
    client_a, a = _join(study.slug, "PROLIFIC_PID=pA")
    client_b, b = _join(study.slug, "workerId=wB&assignmentId=aB&hitId=hB")
    a_done, a_pending = a.trials.order_by("position")
    _submit(client_a, a, a_done.image.name, box_map((10, 10, 90, 70)))
    image = a_done.image
    params = method_params("integrated_gradients", None)
    saliency_map = SaliencyMap.objects.create(
        image=image,
        model=default_model,
        method="integrated_gradients",
        target_class=285,
        params=params,
        params_hash=params_hash(params),
        map_npy=SaliencyMap.encode(model_map(0)),
        runtime_s=1.0,
        device="cpu",
        versions={"torch": "test"},
        weights_sha256="f" * 64,
    )
    prediction = Prediction.objects.create(
        image=image,
        model=default_model,
        top5=[{"index": 285, "name": "Egyptian cat", "probability": 0.9}],
        weights_sha256="f" * 64,
    )
    users = get_user_model().objects
    researcher = users.create_user("researcher", password="research-pass-123", is_staff=True)
    admin = users.create_superuser("admin", password="admin-pass-123")
    clients = {"anonymous": Client(), "participant_a": client_a, "participant_b": client_b}
    for persona, user in (("researcher", researcher), ("admin", admin)):
        clients[persona] = Client()
        clients[persona].force_login(user)
    return World(
        study=study,
        a=a,
        b=b,
        a_done=a_done,
        a_pending=a_pending,
        b_pending=b.trials.order_by("position").first(),
        annotation=Annotation.objects.get(trial=a_done),
        saliency_map=saliency_map,
        prediction=prediction,
        job=ComputeJob.objects.create(study=study, total=1),
        group=Group.objects.create(name="reviewers"),
        researcher=researcher,
        admin=admin,
        token=Token.objects.create(user=researcher).key,
        clients=clients,
    )


def png_claiming(width: int, height: int, *, bit_depth: int = 8, colour_type: int = 0) -> bytes:
    """A valid PNG header claiming width x height pixels over a few bytes of data."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    header = struct.pack(">IIBBBBB", width, height, bit_depth, colour_type, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", zlib.compress(b"\x00" * 64))
        + chunk(b"IEND", b"")
    )
