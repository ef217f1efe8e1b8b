"""The web demo in a real headless Chromium (Debian's, driven by Playwright), as a user uses it:
choose a video file, type a question and options, ask, watch the agents' lanes and the memory
timeline fill in, see the answer with frames/seconds and the keyframe thumbnails. A screenshot
is kept under ``$M1_ARTEFACTS`` (default: the test's tmp dir)."""

import os
import shutil
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "unit"))
from serving_fixtures import TINY, make_service, planning_team, serving  # noqa: E402

pytestmark = pytest.mark.slow
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
         "--disable-background-networking", "--disable-component-update", "--disable-sync"]


@pytest.fixture(scope="module")
def site(tmp_path_factory):
    from m1.config import load_config
    from m1.synth import generate_split

    root = tmp_path_factory.mktemp("demo")
    generate_split(load_config(overrides=TINY).synth, root / "v", "test", 1, seed=4, progress=False)
    video = next((root / "v" / "test" / "videos").glob("*.mp4"))
    samples = root / "samples"
    samples.mkdir()
    shutil.copy(video, samples / "sample-clip.mp4")
    svc = make_service(planning_team(delay=0.2), [f"serve.samples_dir={samples}", f"serve.spool_dir={root / 'spool'}"])
    with serving(svc) as url:
        yield url, video, root


def test_upload_ask_and_watch_the_team(site, tmp_path):
    if not Path(CHROMIUM).exists():
        pytest.fail("Debian's chromium is not installed (apt-get install -y chromium; .ci/run does it)")
    from playwright.sync_api import sync_playwright

    url, video, root = site
    artefacts = Path(os.environ.get("M1_ARTEFACTS", tmp_path))
    artefacts.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        # a fresh profile directory per run (Playwright passes it as --user-data-dir)
        browser = p.chromium.launch_persistent_context(str(tmp_path / "profile"), executable_path=CHROMIUM,
                                                       headless=True, args=FLAGS,
                                                       viewport={"width": 1200, "height": 1400})
        page = browser.new_page()
        errors: list[str] = []
        page.on("pageerror", lambda e: errors.append(str(e)))
        page.goto(url + "/")
        assert page.title().startswith("videochat-m1")
        page.wait_for_selector("#sample option[value='sample-clip.mp4']", state="attached")
        page.set_input_files("#video", str(video))
        page.fill("#question", "Which colour appears first?")
        page.fill("#options", "red\ngreen\nblue")
        page.click("#go")
        page.wait_for_selector("#lanes .lane .ev.plan", timeout=30_000)  # progress arrives before the answer
        page.wait_for_selector("#result:not([hidden])", timeout=60_000)
        assert page.inner_text("#answer") == "B — green"
        assert "votes A: 1, B: 2" in page.inner_text("#votes")
        assert "frames" in page.inner_text("#usage") and "tool calls" in page.inner_text("#usage")
        assert page.locator("#lanes .lane").count() == 3
        assert page.locator("#lanes .ev.step").count() == 3 and page.locator("#lanes .ev.answer").count() == 3
        assert page.locator("#memory li").count() == 3
        page.wait_for_function("document.querySelectorAll('#keyframes img').length > 0 && "
                               "[...document.querySelectorAll('#keyframes img')].every(i => i.naturalWidth > 0)")
        assert "global_sampling" in page.inner_text("#keyframes")
        page.screenshot(path=str(artefacts / "demo.png"), full_page=True)
        # the sample picker runs the same flow without an upload
        page.set_input_files("#video", [])
        page.select_option("#sample", "sample-clip.mp4")
        page.fill("#question", "What happens?")
        page.fill("#options", "")
        page.click("#go")
        page.wait_for_function("document.querySelector('#status').textContent.startsWith('done')", timeout=60_000)
        assert page.locator("#lanes .lane").count() == 3
        browser.close()
    assert errors == []
    assert (artefacts / "demo.png").stat().st_size > 10_000
    assert list((root / "spool").iterdir()) == []
