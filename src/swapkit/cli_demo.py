"""``swapkit demo``: swaps against the embedded sandbox, each showing one thing swapkit does."""

from __future__ import annotations

from pathlib import Path

from swapkit.cli_output import dollars, print_attempts, print_result
from swapkit.core.client import SwapClient
from swapkit.core.errors import OutcomeUnknown, SwapError
from swapkit.sandbox.samples import flat_image, sample_face, sample_scene

__all__ = ["run_demo"]


def run_demo(out: Path, job_seconds: float) -> int:
    """Nine swaps against the embedded sandbox, each showing one thing swapkit does."""
    from swapkit.sandbox import Fault, Sandbox

    out.mkdir(parents=True, exist_ok=True)
    face, scene = sample_face(), sample_scene()
    (out / "face.png").write_bytes(face)
    (out / "scene.png").write_bytes(scene)
    with Sandbox(job_seconds=job_seconds) as sandbox, sandbox.serve() as server:
        settings = {"api_key": "prsp-sandbox", "base_url": server.base_url("prospolabs")}
        print(f"sandbox running at {server.url}; prospolabs points at it\n")
        with SwapClient(providers={"prospolabs": settings}) as client:
            print("1. a realistic swap on the blocking endpoint")
            result = client.swap(source=out / "face.png", target=out / "scene.png")
            print_result(result, result.save(out / f"realistic.{result.extension}"))

            print("\n2. a cartoon swap on the async endpoint (long deadline), polled to the end")
            result = client.swap(
                source=out / "face.png",
                target=out / "scene.png",
                style="cartoon",
                output_format="png",
                deadline=600,
            )
            print_result(result, result.save(out / f"cartoon.{result.extension}"))

            print("\n3. the vendor answers 503 once; swapkit retries the refunded failure")
            sandbox.faults.add(Fault(provider="prospolabs", status=503, times=1))
            result = client.swap(source=out / "face.png", target=out / "scene.png", quality="fast")
            print_result(result, result.save(out / f"fast.{result.extension}"))

            print("\n4. a flat grey 'face': the vendor finds no face, and says so")
            try:
                client.swap(source=flat_image(), target=out / "scene.png")
            except SwapError as exc:
                print(f"  {type(exc).__name__}: {exc}")

        acedata = {"api_key": "acedata-sandbox", "base_url": server.base_url("acedata")}
        with SwapClient(providers={"acedata": acedata}) as client:
            print("\n5. AceDataCloud takes URLs only: the local images are uploaded first")
            result = client.swap(source=out / "face.png", target=out / "scene.png")
            uploads = sum("/files/upload" in r.path for r in sandbox.requests)
            print(f"  uploaded   {uploads} images to the vendor's /files/upload")
            print_result(result, result.save(out / f"acedata.{result.extension}"))

        eventstation = {"api_key": "es-sandbox", "base_url": server.base_url("eventstation")}
        with SwapClient(providers={"eventstation": eventstation}) as client:
            print("\n6. EventStation puts the face into one of its own templates")
            templates = client.list_templates("eventstation")
            print("  templates  " + ", ".join(f"{t.id} {t.name}" for t in templates))
            result = client.swap(
                source=out / "face.png",
                target=templates[0],
                options={"eventstation": {"gender": "female", "ratio": "square"}},
            )
            print_result(result, result.save(out / f"template.{result.extension}"))

        deepswapai = {"api_key": "ds-sandbox", "base_url": server.base_url("deepswapai")}
        both = {"prospolabs": settings, "deepswapai": deepswapai}
        with SwapClient(providers=both) as client:
            print("\n7. Prospolabs is down (503 on every try); the swap fails over to DeepSwapAI")
            sandbox.faults.add(Fault(provider="prospolabs", status=503, times=10))
            result = client.swap(source=out / "face.png", target=out / "scene.png")
            print_result(result, result.save(out / f"failover.{result.extension}"))
            sandbox.faults.clear()

            print(
                "\n8. the connection drops after Prospolabs took the swap: the outcome is "
                "unknown, so\n   swapkit does not buy the same swap again from DeepSwapAI"
            )
            sandbox.faults.add(
                Fault(provider="prospolabs", kind="drop", after_processing=True, times=1)
            )
            try:
                client.swap(source=out / "face.png", target=out / "scene.png")
            except OutcomeUnknown as exc:
                print(f"  {type(exc).__name__}: {exc.message}")
                print(f"  spent      {dollars(exc.spent_usd)} at most")
                print_attempts(exc.attempts)

        priced = {
            "prospolabs": {**settings, "price_usd": 0.05},
            "deepswapai": {**deepswapai, "price_usd": 0.01},
            "acedata": {**acedata, "price_usd": 0.02},
        }
        with SwapClient(providers=priced, strategy="cheapest") as client:
            print("\n9. cost routing: the cheapest vendor first, under a budget of $0.03")
            result = client.swap(
                source=out / "face.png", target=out / "scene.png", max_cost_usd=0.03
            )
            print_result(result, result.save(out / f"cheapest.{result.extension}"))
    return 0
