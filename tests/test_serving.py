"""The HTTP API and its page, for real: scripts/serve.py on 127.0.0.1, a browser, and a bounded load."""

import contextlib
import json
import shutil
import signal
import socket
import subprocess
import sys
import time
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


def post(url: str, body: bytes | dict, content_type: str | None = "application/json", path: str = "/predict",
         headers: dict[str, str] | None = None) -> tuple[int, dict]:
    data = body if isinstance(body, bytes) else json.dumps(body).encode()
    sent = {**({"Content-Type": content_type} if content_type else {}), **(headers or {})}
    request = urllib.request.Request(f"{url}{path}", data=data, headers=sent)
    if content_type is None:
        request.remove_header("Content-type")  # urllib adds a form type of its own otherwise
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read())


def get(url: str) -> tuple[int, bytes, str]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, response.read(), response.headers.get("Content-Type", "")
    except urllib.error.HTTPError as error:
        return error.code, error.read(), error.headers.get("Content-Type", "")


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
    assert short["short"] is True and short["note"].startswith("1 word(s): shorter than 95% of the texts")
    assert "this one mostly padding" in short["note"]  # this model does not skip padding
    assert typical["short"] is False and "note" not in typical


def test_explain_scores_every_word_by_occlusion(server, checkpoint):
    status, answer = post(server, {"texts": ["wonderful film awful"]}, path="/explain")
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
    ({"texts": ["a review"], "explain": True}, 422, "explanations are answered by POST /explain"),
    (b'{"texts": [NaN]}', 422, "texts.0: Input should be a valid string (got nan)"),
    (b'{"texts": ["fine"], "explain": Infinity}', 422, "explain: Input should be a valid boolean (got inf)"),
    (b'{"texts": [' + b"1e999, " * 20000 + b'1]}', 413, "Payload too large"),
    (b'{"texts": [' + b"1, " * 3000 + b'1]}', 422, "texts.0: Input should be a valid string (got 1)"),
])
def test_bad_requests_get_a_4xx_json_error_and_the_server_keeps_serving(server, body, status, detail):
    answer_status, answer = post(server, body)
    assert answer_status == status and detail in answer["detail"], answer
    assert len(json.dumps(answer)) < 1_000  # an excerpt of the input at most, never the input echoed back
    assert post(server, {"texts": ["still serving"]})[0] == 200


def test_explanations_have_their_own_limits_and_the_body_must_be_json(server):
    status, answer = post(server, {"texts": ["one", "two", "three", "four", "five"]}, path="/explain")
    assert status == 413 and answer["detail"] == "5 texts to explain: at most 4 per request"
    for content_type in (None, "text/plain", "application/x-www-form-urlencoded"):
        status, answer = post(server, {"texts": ["fine"]}, content_type=content_type)
        assert status == 415 and "Content-Type: application/json" in answer["detail"]


def test_health_metrics_favicon_and_an_access_log_line(server):
    status, body, _ = get(f"{server}/health")
    assert status == 200 and json.loads(body) == {"status": "ok"}
    assert post(server, {"texts": ["counted", "twice"]})[0] == 200
    status, body, _ = get(f"{server}/metrics")
    metrics = body.decode()
    assert status == 200 and 'rnn_lightning_requests_total{path="/predict",status="200"}' in metrics
    assert "rnn_lightning_request_seconds_bucket" in metrics and "rnn_lightning_errors_total" in metrics
    batches = next(line for line in metrics.splitlines() if line.startswith("rnn_lightning_batch_size_count"))
    assert float(batches.split()[-1]) >= 1  # counted in the workers' processes
    status, body, content_type = get(f"{server}/favicon.ico")
    assert status == 200 and content_type.startswith("image/svg+xml") and body.startswith(b"<svg")


def test_a_checkpoint_load_model_refuses_is_refused_at_start(tmp_path):
    bogus = tmp_path / "notes.ckpt"
    bogus.write_text("not a checkpoint")
    result = subprocess.run([sys.executable, str(SERVE), "--ckpt", str(bogus), "--port", str(free_port())],
                            capture_output=True, text=True, timeout=120)
    assert result.returncode == 2
    [line] = result.stderr.splitlines()
    assert line == f"serve.py: error: {bogus} is not a checkpoint file (not what torch.save writes)"


def _browser(playwright):
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    assert chromium, "Debian's chromium is needed: apt-get install chromium (make test installs it as root)"
    return playwright.chromium.launch(executable_path=chromium, args=["--no-sandbox", "--disable-gpu"])


def test_the_page_classifies_what_is_typed_and_highlights_words(server, tmp_path):
    from playwright.sync_api import sync_playwright

    expected = post(server, {"texts": [REVIEWS[0]]})[1]["results"][0]
    with sync_playwright() as playwright:
        browser = _browser(playwright)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(server)
        page.fill("#text", REVIEWS[0])
        page.press("#text", "Control+Enter")  # as the button does
        page.wait_for_selector("#explanation:not([hidden])", timeout=30_000)
        verdict = page.text_content("#verdict")
        question = page.text_content("#question")
        rows = [row.split("\t")[:2] for row in page.locator("#probabilities tr").all_inner_texts()]
        words = page.locator("#words span").all_text_contents()
        icon = page.get_attribute("link[rel=icon]", "href")
        page.screenshot(path=str(tmp_path / "page.png"), full_page=True)
        # A text without words: the error takes the verdict's place, in the page's words, and is in view.
        page.fill("#text", "  ...  ")
        page.click("#classify")
        page.wait_for_selector("#error:not([hidden])", timeout=30_000)
        error = page.text_content("#error")
        result_hidden = page.is_hidden("#result")
        error_in_view = page.evaluate("() => { const box = document.getElementById('error').getBoundingClientRect();"
                                      " return box.top >= 0 && box.bottom <= window.innerHeight; }")
        browser.close()
    assert verdict == f"{expected['label']} ({100 * expected['probabilities'][expected['label']]:.1f}%)"
    assert rows == [[name, f"{100 * p:.1f}%"] for name, p in expected["probabilities"].items()]  # every class
    assert words == ["brilliant", "moving", "and", "wonderful"]
    assert question == "Is this text negative or positive?"  # the model's own classes, from /classes
    assert icon == "/favicon.ico" and (tmp_path / "page.png").stat().st_size > 10_000
    assert error == "There is nothing to classify: type some words first." and result_hidden and error_in_view


def test_the_page_of_a_news_model_shows_every_class_and_no_review_talk(topics_run):
    from playwright.sync_api import sync_playwright

    text = "The striker scored a goal this season"
    running, url = serve(str(topics_run[1]))
    with running, sync_playwright() as playwright:
        expected = post(url, {"texts": [text]})[1]["results"][0]
        browser = _browser(playwright)
        page = browser.new_page(viewport={"width": 900, "height": 700})
        page.goto(url)
        page.fill("#text", text)
        page.click("#classify")
        page.wait_for_selector("#explanation:not([hidden])", timeout=30_000)
        rows = [row.split("\t")[0] for row in page.locator("#probabilities tr").all_inner_texts()]
        shown = page.inner_text("body")
        browser.close()
    assert rows == ["sports", "business", "tech"] and expected["label"] in page_verdict_label(shown)
    assert "review" not in shown.lower() and "--" not in shown  # no review talk, no command-line flags


def page_verdict_label(shown: str) -> str:
    return shown.split("Classify", 1)[1]


def test_a_multi_class_model_answers_with_its_own_class_names(topics_run):
    from rnn_lightning.serving.inference import predict_proba

    texts = ["The striker scored a goal", "Investors sold shares as rates rose"]
    running, url = serve(str(topics_run[1]))
    with running:
        status, answer = post(url, {"texts": texts}, path="/explain")
        with urllib.request.urlopen(f"{url}/classes", timeout=10) as response:
            info = json.loads(response.read())
    assert status == 200 and info == {"classes": ["sports", "business", "tech"], "binary": False, "explained": None,
                                      "api_key": False}
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
    assert result.requests == 2000 and result.wrong == 0, result.errors


def _descendants(pid: int) -> set[int]:
    children = set()
    for stat in Path("/proc").glob("[0-9]*/stat"):
        with contextlib.suppress(OSError, IndexError, ValueError):
            fields = stat.read_text().rsplit(")", 1)[1].split()
            if int(fields[1]) == pid:
                children.add(int(stat.parent.name))
    return children | {grandchild for child in children for grandchild in _descendants(child)}


def _alive(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"  # a zombie has ended; only its parent's wait is missing


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT], ids=["SIGTERM", "SIGINT"])
def test_a_stop_signal_ends_every_process_of_the_server_and_frees_the_port(checkpoint, signum, tmp_path):
    port = free_port()
    with (tmp_path / "stderr").open("w") as log:
        process = subprocess.Popen([sys.executable, str(SERVE), "--ckpt", checkpoint, "--port", str(port)],
                                   stdout=subprocess.DEVNULL, stderr=log)
        try:
            deadline = time.monotonic() + 180
            while get_status(f"http://127.0.0.1:{port}/health") != 200:
                assert process.poll() is None and time.monotonic() < deadline, (tmp_path / "stderr").read_text()
                time.sleep(0.2)
            family = _descendants(process.pid)
            assert len(family) >= 2  # the inference workers of /predict and /explain, at least
            process.send_signal(signum)  # to the main process alone, as a process manager sends it
            assert process.wait(timeout=60) == 0
            deadline = time.monotonic() + 30
            while any(_alive(pid) for pid in family) and time.monotonic() < deadline:
                time.sleep(0.2)
            assert not [pid for pid in family if _alive(pid)]
        finally:
            if process.poll() is None:
                process.kill()
    with pytest.raises(ConnectionRefusedError):  # nothing listens there any more...
        socket.create_connection(("127.0.0.1", port), timeout=5).close()
    with socket.socket() as again:  # ...and the next server can take the port (as servers do, with SO_REUSEADDR)
        again.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        again.bind(("127.0.0.1", port))


def get_status(url: str) -> int:
    try:
        return get(url)[0]
    except OSError:
        return 0


def test_an_api_key_guards_predictions_but_not_health_and_cors_is_opt_in(checkpoint):
    running, url = serve(checkpoint, "--server.api_key", "s3cret", "--server.cors_origins", "[https://example.org]")
    with running:
        assert post(url, {"texts": ["good film"]})[0] == 401
        assert post(url, {"texts": ["good film"]}, headers={"X-API-Key": "wrong"})[0] == 401
        assert post(url, {"texts": ["good film"]}, path="/explain")[0] == 401
        assert post(url, {"texts": ["good film"]}, headers={"X-API-Key": "s3cret"})[0] == 200
        assert post(url, {"texts": ["good film"]}, headers={"Authorization": "Bearer s3cret"})[0] == 200
        assert get(f"{url}/health")[0] == 200 and get(f"{url}/")[0] == 200
        assert json.loads(get(f"{url}/classes")[1])["api_key"] is True  # the page then asks for the key
        preflight = urllib.request.Request(f"{url}/predict", method="OPTIONS", headers={
            "Origin": "https://example.org", "Access-Control-Request-Method": "POST",
            "Access-Control-Request-Headers": "content-type,x-api-key"})
        with urllib.request.urlopen(preflight, timeout=10) as response:
            assert response.headers["Access-Control-Allow-Origin"] == "https://example.org"


def test_stalled_bodies_idle_connections_and_too_many_connections_are_cut(checkpoint):
    running, url = serve(checkpoint, "--server.body_timeout", "0.5", "--server.idle_timeout", "0.5",
                         "--server.header_timeout", "1", "--server.max_connections", "8")
    port = int(url.rsplit(":", 1)[1])
    with running:
        for opening in (b"", b"GET /health HTTP/1.1\r\nHost: x\r\n"):  # nothing at all, or a slowloris
            with socket.create_connection(("127.0.0.1", port), timeout=10) as slow:
                slow.sendall(opening)
                started = time.monotonic()
                assert slow.recv(4096) == b""  # closed by the server...
                assert 0.8 < time.monotonic() - started < 5  # ...when the headers' second ran out
        with socket.create_connection(("127.0.0.1", port), timeout=10) as stalled:
            stalled.sendall(b"POST /predict HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                            b"Content-Length: 100\r\n\r\n{\"texts\": [")
            answer = _whole_response(stalled)
        assert answer.startswith(b"HTTP/1.1 408") and b"did not arrive within 0.5 s" in answer
        with socket.create_connection(("127.0.0.1", port), timeout=10) as idle:
            idle.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
            assert _whole_response(idle).startswith(b"HTTP/1.1 200")
            time.sleep(1.5)
            assert idle.recv(4096) == b""  # closed by the server after 0.5 s idle
        held = [socket.create_connection(("127.0.0.1", port), timeout=10) for _ in range(12)]
        try:
            time.sleep(0.5)
            statuses = []
            for connection in held:
                connection.sendall(b"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
                statuses.append(connection.recv(4096)[:12])
            assert b"HTTP/1.1 503" in statuses  # over the cap: refused at once, never queued for ever
        finally:
            for connection in held:
                connection.close()
        time.sleep(1.0)
        assert get_status(f"{url}/health") == 200  # and the server serves again once they are gone


def _whole_response(connection: socket.socket) -> bytes:
    """One HTTP response read off a raw socket: its headers, then as many bytes as its Content-Length says."""
    answer = b""
    while b"\r\n\r\n" not in answer:
        answer += connection.recv(4096)
    head, body = answer.split(b"\r\n\r\n", 1)
    headers = dict(line.lower().split(b":", 1) for line in head.split(b"\r\n")[1:])
    length = int(headers[b"content-length"])
    while len(body) < length:
        body += connection.recv(4096)
    return head + b"\r\n\r\n" + body


@pytest.mark.parametrize("flags, message", [
    (["--server.port", "80"], "port must be in [1024, 65535], got 80"),
    (["--server.host", "10.0.0.1"], 'Parser key "server.host"'),
    (["--server.workers", "0"], "workers must be at least 1, got 0"),
])
def test_host_port_and_workers_are_checked_in_one_line_before_anything_loads(flags, message):
    start = time.monotonic()
    result = subprocess.run([sys.executable, str(SERVE), "--ckpt", "unused.ckpt", *flags], capture_output=True,
                            text=True, timeout=60)
    assert result.returncode == 2 and len(result.stderr.splitlines()) == 1 and message in result.stderr
    assert time.monotonic() - start < 10  # refused before torch, Lightning or the model are loaded


def test_a_port_in_use_is_refused_in_one_line(checkpoint):
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        result = subprocess.run([sys.executable, str(SERVE), "--ckpt", checkpoint, "--port", str(port)],
                                capture_output=True, text=True, timeout=60)
    assert result.returncode == 2
    assert result.stderr.splitlines() == [
        f"serve.py: error: cannot listen on 127.0.0.1:{port}: the address is in use (another server?)"]
