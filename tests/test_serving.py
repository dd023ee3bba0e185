"""The HTTP API and its page, for real: scripts/serve.py on 127.0.0.1, a browser, and a bounded load."""

import json
import shutil
import subprocess
import sys
import urllib.error
import urllib.request
from pathlib import Path

import pytest

from rnn_lightning.serving.inference import load_model, predict
from rnn_lightning.serving.loadtest import free_port, run_load, running_server

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
SERVE = ROOT / "scripts" / "serve.py"
REVIEWS = ["Brilliant, moving and wonderful.", "Awful dull boring terrible plot.", "the film the actor the scene"]


@pytest.fixture(scope="module")
def checkpoint(tiny_run) -> str:
    return tiny_run[1].last_checkpoint


def serve(checkpoint: str, *flags: str):
    port = free_port()
    command = [sys.executable, str(SERVE), "--ckpt", checkpoint, "--port", str(port), *flags]
    return running_server(command, f"http://127.0.0.1:{port}"), f"http://127.0.0.1:{port}"


@pytest.fixture(scope="module")
def server(checkpoint):
    running, url = serve(checkpoint, "--max-texts", "8", "--max-body-bytes", "20000")
    with running:
        yield url


def post(url: str, body: bytes | dict, content_type: str = "application/json") -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    request = urllib.request.Request(f"{url}/predict", data=data, headers={"Content-Type": content_type})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def test_answers_carry_label_and_every_class_probability_as_predict_gives_them(server, checkpoint):
    status, answer = post(server, {"texts": REVIEWS})
    assert status == 200
    expected = predict(load_model(checkpoint), REVIEWS)
    results = answer["results"]
    assert [r["probabilities"]["positive"] for r in results] == pytest.approx(expected, abs=1e-6)
    assert [r["probabilities"]["negative"] for r in results] == pytest.approx([1 - p for p in expected], abs=1e-6)
    assert [r["label"] for r in results] == ["positive" if p >= 0.5 else "negative" for p in expected]
    assert [r["words"] for r in results] == [4, 5, 6]
    with urllib.request.urlopen(f"{server}/health", timeout=10) as response:
        assert response.status == 200


def test_texts_far_shorter_than_the_training_reviews_are_flagged(server, checkpoint):
    review_words = load_model(checkpoint).text.review_words
    assert review_words is not None and review_words["p5"] > 1  # the tiny reviews have 3 to 40 words
    status, answer = post(server, {"texts": ["great", " ".join(["film"] * review_words["p5"])]})
    assert status == 200
    short, typical = answer["results"]
    assert short["short"] is True and short["note"].startswith("1 word(s): shorter than 95% of the reviews")
    assert "this one mostly padding" in short["note"]  # this model does not skip padding
    assert typical["short"] is False and "note" not in typical


def test_explain_scores_every_word_by_occlusion(server, checkpoint):
    status, answer = post(server, {"texts": ["wonderful film awful"], "explain": True})
    assert status == 200
    model = load_model(checkpoint)
    full = predict(model, ["wonderful film awful"])[0]
    without = predict(model, ["film awful", "wonderful awful", "wonderful film"])
    influence = answer["results"][0]["influence"]
    assert [word for word, _ in influence] == ["wonderful", "film", "awful"]
    assert [change for _, change in influence] == pytest.approx([full - p for p in without], abs=1e-5)


@pytest.mark.parametrize("body, status, detail", [
    (b'{"texts": ["unfinished', 422, "JSON decode error"),
    ({}, 422, "Field required"),
    ({"texts": []}, 422, "texts is empty"),
    ({"texts": ["fine", 3]}, 422, "Input should be a valid string"),
    ({"texts": ["fine", "  ...  "]}, 422, "texts[1] has no words"),
    ({"texts": ["a review"] * 9}, 413, "9 texts: at most 8 per request"),
    ({"texts": ["word " * 5000]}, 413, "Payload too large"),
    ({"texts": ["one", "two", "three", "four", "five"], "explain": True}, 413, "at most 4 per request"),
])
def test_bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving(server, body, status, detail):
    answer_status, answer = post(server, body)
    assert answer_status == status and detail in json.dumps(answer["detail"])
    assert post(server, {"texts": ["still serving"]})[0] == 200


def test_a_checkpoint_load_model_refuses_is_refused_at_start(tmp_path):
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    result = subprocess.run([sys.executable, str(SERVE), "--ckpt", str(bogus), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line == f"serve.py: error: {bogus} is not a checkpoint file (not what torch.save writes)"


def test_the_page_classifies_what_is_typed_and_highlights_words(server, tmp_path):
    from playwright.sync_api import sync_playwright

    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed: apt-get install chromium (make test installs it as root)"
    expected = post(server, {"texts": [REVIEWS[0]]})[1]["results"][0]
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server)
        page.fill("#text", REVIEWS[0])
        page.click("#classify")
        page.wait_for_selector("#result:not([hidden])", timeout=30_000)
        verdict = page.text_content("#verdict")
        question = page.text_content("#question")
        words = page.locator("#words span").all_text_contents()
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        browser.close()
    assert verdict == f"{expected['label']} ({100 * expected['probabilities'][expected['label']]:.1f}%)"
    assert words == ["brilliant", "moving", "and", "wonderful"]
    assert question == "Is this text negative or positive?"  # the model's own classes, from /classes
    assert (tmp_path / "page.png").stat().st_size > 10_000


def test_a_multi_class_model_answers_with_its_own_class_names(topics_run):
    from rnn_lightning.serving.inference import predict_proba

    texts = ["The striker scored a goal", "Investors sold shares as rates rose"]
    running, url = serve(str(topics_run[1]))
    with running:
        status, answer = post(url, {"texts": texts, "explain": True})
        with urllib.request.urlopen(f"{url}/classes", timeout=10) as response:
            info = json.loads(response.read())
    assert status == 200 and info == {"classes": ["sports", "business", "tech"]}
    expected = predict_proba(load_model(topics_run[1]), texts)
    for result, row in zip(answer["results"], expected, strict=True):
        assert list(result["probabilities"]) == info["classes"]
        assert list(result["probabilities"].values()) == pytest.approx(row, abs=1e-6)
        assert result["label"] == info["classes"][row.index(max(row))] == result["explained"]
    assert [result["label"] for result in answer["results"]] == ["sports", "business"]


@pytest.mark.parametrize("max_batch_size", ["1", "32"])
def test_a_bounded_load_gets_every_answer_right(checkpoint, max_batch_size):
    expected = predict(load_model(checkpoint), REVIEWS)
    bodies = [{"texts": [REVIEWS[i % 3]]} for i in range(2000)]

    def check(index: int, status: int, answer: dict) -> bool:
        return status == 200 and abs(answer["results"][0]["probabilities"]["positive"] - expected[index % 3]) < 1e-5

    running, url = serve(checkpoint, "--max-batch-size", max_batch_size)
    with running:
        result = run_load(f"{url}/predict", bodies, clients=32, check=check)
    print(f"max_batch_size={max_batch_size}: {result.per_second:.0f} requests/s, p50 {result.p50_ms:.1f} ms, "
          f"p99 {result.p99_ms:.1f} ms")
    assert result.requests == 2000 and result.wrong == 0
