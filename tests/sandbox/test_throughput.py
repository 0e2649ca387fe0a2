"""What lets the sandbox take load: a deep listen backlog, and each input's work done once.

No test here measures time (the suite has no timed tests): they check that a burst of
connections is answered, that the load test runs every kind of swap without an error, and that
remembering decoded inputs and rendered results changes no answer. Throughput figures come from
`python -m swapkit.sandbox.loadtest` (docs/sandbox.md, "Performance").
"""

from __future__ import annotations

import asyncio
import io
import random
import selectors
import socket
import threading
import time
from collections import Counter
from typing import Any

import httpx
import pytest
from PIL import Image, ImageDraw

import swapkit.sandbox.app as sandbox_app
from swapkit.sandbox import FakeClock, Fault, Sandbox, SandboxServer
from swapkit.sandbox.image_cache import ImageCache
from swapkit.sandbox.images import ImageProblem, composite, encode_image, has_face, open_image
from swapkit.sandbox.loadtest import SWAP_KINDS, main, make_photo, run_load
from swapkit.sandbox.vendors.deepswapai.images import MAX_FACES, detect_faces

from .helpers import AUTH, DS_AUTH, b64, decode, image_bytes


def _burst_size() -> int:
    """300 connections at once, or the kernel's cap on any listen backlog if lower (Linux:
    `net.core.somaxconn`, 4096 since 5.4, 128 before)."""
    try:
        with open("/proc/sys/net/core/somaxconn") as cap:
            return min(300, int(cap.read()))
    except (OSError, ValueError):
        return 300


BURST = _burst_size()


@pytest.fixture
def swapkit_sandbox_config(fake_clock: FakeClock) -> dict[str, Any]:
    """Async jobs finish at once, so the load test's polls see them done."""
    return {"clock": fake_clock, "job_seconds": 0.0}


# -- the listen backlog ---------------------------------------------------------------------------


def _answers(address: tuple[str, int], count: int, deadline: float) -> list[bytes]:
    """Open `count` connections at once, send `GET /` on each, and read every answer."""
    selector = selectors.DefaultSelector()
    sockets = {sock.fileno(): sock for sock in (socket.socket() for _ in range(count))}
    answers = {fd: bytearray() for fd in sockets}
    try:
        for sock in sockets.values():
            sock.setblocking(False)
            sock.connect_ex(address)  # EINPROGRESS: every handshake is under way at once
            selector.register(sock, selectors.EVENT_WRITE)
        request = b"GET / HTTP/1.1\r\nHost: sandbox\r\nConnection: close\r\n\r\n"
        while selector.get_map() and time.monotonic() < deadline:
            for key, events in selector.select(timeout=0.5):
                sock = sockets[key.fd]
                if events & selectors.EVENT_WRITE:
                    try:
                        sock.sendall(request)  # tiny: fits the send buffer at once
                    except OSError:
                        selector.unregister(sock)
                        continue
                    selector.modify(sock, selectors.EVENT_READ)
                    continue
                try:
                    chunk = sock.recv(65536)
                except OSError:
                    chunk = b""
                if chunk:
                    answers[key.fd].extend(chunk)
                else:
                    selector.unregister(sock)  # answered and closed (or reset: no answer)
    finally:
        selector.close()
        for sock in sockets.values():
            sock.close()
    return [bytes(answer) for answer in answers.values()]


def test_a_burst_of_connections_opened_at_once_is_all_answered(
    swapkit_sandbox_server: SandboxServer,
) -> None:
    address = (swapkit_sandbox_server.host, swapkit_sandbox_server.port)
    answers = _answers(address, BURST, deadline=time.monotonic() + 10)
    statuses = Counter(answer.split(b"\r\n", 1)[0] for answer in answers)
    assert statuses == {b"HTTP/1.1 200 OK": BURST}


# -- the load test --------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", SWAP_KINDS)
def test_the_load_test_does_whole_swaps_without_errors(
    swapkit_sandbox_server: SandboxServer, kind: str
) -> None:
    result = asyncio.run(
        run_load(
            swapkit_sandbox_server.url,
            connections=20,
            swaps=40,
            vendor=kind,
            image_kb=2,
            images=2,
        )
    )
    assert result.errors == Counter()
    assert result.swaps == 40
    assert len(result.latencies) == 40


def test_the_load_test_counts_errors(swapkit_sandbox_server: SandboxServer) -> None:
    sandbox = swapkit_sandbox_server.sandbox
    sandbox.faults.add(Fault(provider="prospolabs", status=503, times=3))
    result = asyncio.run(
        run_load(swapkit_sandbox_server.url, connections=4, swaps=10, image_kb=2, images=1)
    )
    assert result.errors == Counter({"prospolabs swap: HTTP 503": 3})
    assert result.swaps == 7


def test_the_command_reports_swaps_and_errors(
    swapkit_sandbox_server: SandboxServer, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--url", swapkit_sandbox_server.url, "--connections", "5", "--swaps", "10"]
    assert main([*argv, "--image-kb", "2", "--images", "1", "--vendor", "mixed"]) == 0
    printed = capsys.readouterr().out
    assert "swaps: 10 in " in printed
    assert "errors: 0" in printed


def test_photos_are_about_the_size_asked_for() -> None:
    photo = make_photo(20 * 1024, seed=1)
    assert 0.9 * 20 * 1024 <= len(photo) <= 1.1 * 20 * 1024
    assert photo == make_photo(20 * 1024, seed=1)
    assert photo != make_photo(20 * 1024, seed=2)


# -- work done once per input ---------------------------------------------------------------------


def test_a_repeated_swap_answers_the_same_image_rendered_once(
    swapkit_sandbox_server: SandboxServer,
) -> None:
    source, target = make_photo(8 * 1024, seed=3), make_photo(12 * 1024, seed=4)
    body = {"source_image": b64(source), "target_image": b64(target), "output_format": "png"}
    expected = encode_image(
        composite(open_image(source, "s").image, open_image(target, "t").image), "png", 95
    )
    base = swapkit_sandbox_server.base_url("prospolabs")
    with httpx.Client(base_url=base, headers=AUTH) as http:
        results = []
        for _ in range(3):
            swapped = http.post("/v1/swap/realistic", json=body)
            assert swapped.status_code == 200, swapped.text
            results.append(http.get(swapped.json()["result_url"]).content)
    assert results == [expected] * 3


def test_cartoon_and_realistic_results_are_remembered_apart(client: httpx.Client) -> None:
    body = {"source_image": b64(make_photo(4096, 5)), "target_image": b64(make_photo(4096, 6))}
    urls = [
        client.post(f"/v1/swap/{model}", json=body).json()["result_url"]
        for model in ("realistic", "cartoon", "realistic")
    ]
    images = [client.get(url).content for url in urls]
    assert images[0] == images[2]
    assert images[0] != images[1]


def test_deepswapai_answers_do_not_change_when_remembered(
    swapkit_sandbox_server: SandboxServer,
) -> None:
    scene = Image.new("RGB", (60, 40), (255, 255, 255))
    draw = ImageDraw.Draw(scene)
    draw.rectangle((4, 4, 14, 14), fill=(0, 0, 0))
    draw.rectangle((40, 20, 50, 30), fill=(0, 0, 0))
    buffer = io.BytesIO()
    scene.save(buffer, "PNG")
    body = {"source_image": b64(make_photo(4096, 7)), "target_image": b64(buffer.getvalue())}
    base = swapkit_sandbox_server.base_url("deepswapai")
    with httpx.Client(base_url=base, headers=DS_AUTH) as http:
        answers = [
            http.post("/v1/image-swap", json={**body, "face_index": index}).json()
            for index in (0, 1, 0, 1, 2)
        ]
        outputs = [http.get(answer["output_url"]).content for answer in answers[:4]]
    assert [answer["faces_detected"] for answer in answers[:4]] == [2, 2, 2, 2]
    assert outputs[0] == outputs[2] != outputs[1] == outputs[3]
    assert decode(outputs[0]).getpixel((9, 9)) != (0, 0, 0)  # the face went on region 0
    assert answers[4]["error"]["code"] == "NO_FACE_DETECTED"


def test_a_refused_input_is_checked_again_each_time_with_its_own_field() -> None:
    cache = ImageCache()
    for field in ("source_image", "target_image", "source_image"):
        with pytest.raises(ImageProblem) as refused:
            cache.decode(b64(b"not an image at all"), field, 1024)
        assert (refused.value.kind, refused.value.field) == ("format", field)
    flat = cache.decode(b64(image_bytes(flat=True)), "source_image", 1024)
    assert flat is cache.decode(b64(image_bytes(flat=True)), "target_image", 1024)
    assert not flat.derive(has_face)


def test_the_size_limit_is_part_of_what_is_remembered() -> None:
    cache = ImageCache()
    payload = b64(image_bytes((40, 30)))
    assert cache.decode(payload, "source_image", 10_000).image.size == (40, 30)
    with pytest.raises(ImageProblem) as refused:
        cache.decode(payload, "source_image", 10)
    assert refused.value.kind == "too_large"


def test_many_threads_missing_one_result_render_it_once() -> None:
    cache = ImageCache()
    inputs = (cache.open(image_bytes(), "a"), cache.open(image_bytes((20, 20)), "b"))
    calls: list[int] = []

    def render() -> bytes:
        calls.append(1)
        time.sleep(0.05)  # others arrive meanwhile and must wait for this one
        return b"result"

    results: list[bytes] = []
    threads = [
        threading.Thread(target=lambda: results.append(cache.render(inputs, ("v",), render)))
        for _ in range(8)
    ]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert results == [b"result"] * 8
    assert calls == [1]


def test_memory_is_bounded_oldest_images_go_first() -> None:
    one_image = 40 * 30 * 4 + 2 * len(image_bytes((40, 30)))
    cache = ImageCache(image_bytes=4 * one_image + 100)  # room for four
    first = cache.open(image_bytes((40, 30), (1, 2, 3)), "a")
    assert first is cache.open(image_bytes((40, 30), (1, 2, 3)), "a")
    for red in range(4):
        cache.open(image_bytes((40, 30), (red, 5, 6)), "a")
    again = cache.open(image_bytes((40, 30), (1, 2, 3)), "a")
    assert again is not first  # decoded again, with a new serial: no stale render matches it
    assert again.serial is not None
    assert first.serial is not None
    assert again.serial > first.serial


def test_an_image_over_a_quarter_of_the_budget_is_never_remembered() -> None:
    cache = ImageCache(image_bytes=4 * 40 * 30 * 4)
    big = image_bytes((40, 30))
    assert cache.open(big, "a") is not cache.open(big, "a")
    assert cache.open(big, "a").serial is None
    rendered: list[int] = []

    def render() -> bytes:
        rendered.append(1)
        return b"x"

    image = cache.open(big, "a")
    cache.render((image, image), ("v",), render)
    cache.render((image, image), ("v",), render)
    assert rendered == [1, 1]


def test_the_request_log_drops_old_bodies_past_its_byte_budget(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(sandbox_app, "_REQUEST_LOG_BYTES", 2500)
    with (
        Sandbox(clock=FakeClock()) as sandbox,
        httpx.Client(transport=sandbox.transport(), base_url="http://sandbox.test") as http,
    ):
        for index in range(5):
            http.post(f"/prospolabs/v1/swap/nothing{index}", content=b"x" * 1000)
        http.get("/prospolabs/v1/jobs/small")
    assert [request.path for request in sandbox.requests] == [
        "/prospolabs/v1/swap/nothing3",
        "/prospolabs/v1/swap/nothing4",
        "/prospolabs/v1/jobs/small",
    ]


# -- DeepSwapAI's face count, computed with Pillow ------------------------------------------------


def _faces_pixel_by_pixel(image: Image.Image) -> list[tuple[float, float]]:
    """The documented rule, one pixel at a time (what `detect_faces` must agree with)."""
    if not has_face(image):
        return []
    rgb = image.convert("RGB")
    if max(rgb.size) > 128:
        factor = 128 / max(rgb.size)
        size = (max(1, round(rgb.width * factor)), max(1, round(rgb.height * factor)))
        rgb = rgb.resize(size, Image.Resampling.NEAREST)
    width, height = rgb.size
    data = rgb.tobytes()
    pixels = [tuple(data[i : i + 3]) for i in range(0, len(data), 3)]
    background = max(Counter(pixels).items(), key=lambda item: (item[1], item[0]))[0]
    foreground = [
        max(abs(p - b) for p, b in zip(pixel, background, strict=True)) > 64 for pixel in pixels
    ]
    if 2 * foreground.count(False) < width * height:
        return [(0.5, 0.5)]
    seen = [False] * len(foreground)
    faces = []
    for start in range(len(foreground)):
        if not foreground[start] or seen[start]:
            continue
        seen[start] = True
        stack, box = [start], [width, height, -1, -1]
        while stack:
            y, x = divmod(stack.pop(), width)
            box = [min(box[0], x), min(box[1], y), max(box[2], x), max(box[3], y)]
            for ny in (y - 1, y, y + 1):
                for nx in (x - 1, x, x + 1):
                    neighbour = ny * width + nx
                    inside = 0 <= nx < width and 0 <= ny < height
                    if inside and foreground[neighbour] and not seen[neighbour]:
                        seen[neighbour] = True
                        stack.append(neighbour)
        faces.append(((box[0] + box[2] + 1) / 2 / width, (box[1] + box[3] + 1) / 2 / height))
        if len(faces) == MAX_FACES:
            break
    return faces or [(0.5, 0.5)]


def _random_scene(rng: random.Random) -> Image.Image:
    size = (rng.randint(1, 160), rng.randint(1, 160))
    scene = Image.new("RGB", size, tuple(rng.randrange(256) for _ in range(3)))
    draw = ImageDraw.Draw(scene)
    for _ in range(rng.randint(0, 10)):
        left, top = rng.randrange(size[0]), rng.randrange(size[1])
        box = (left, top, left + rng.randint(0, size[0] // 2), top + rng.randint(0, size[1] // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    if rng.random() < 0.2:
        scene = Image.frombytes("RGB", size, rng.randbytes(size[0] * size[1] * 3))
    if rng.random() < 0.3:
        buffer = io.BytesIO()
        scene.save(buffer, "JPEG", quality=rng.randint(30, 95))
        scene = decode(buffer.getvalue())
    return scene.convert(rng.choice(["RGB", "RGBA", "L", "P", "LA", "1"]))


def test_face_counting_agrees_with_the_rule_pixel_by_pixel() -> None:
    rng = random.Random(17)
    for _ in range(80):
        scene = _random_scene(rng)
        faces = [(face.centre_x, face.centre_y) for face in detect_faces(scene)]
        assert faces == _faces_pixel_by_pixel(scene), (scene.mode, scene.size)
