"""The ``llm-grader`` verifier against a real HTTP server started here, which speaks
/v1/chat/completions with scripted answers and records what it was asked."""

import base64
import io
import json
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import numpy as np
import pytest
import torch
from PIL import Image

import noisesearch as ns
from noisesearch.catalogue import load_verifier
from noisesearch.cli import main
from noisesearch.errors import InputError, RunError

KEY = "sk-test-7c1d2e9f-do-not-log"


class Server:
    """A chat-completions server whose verdict is 10 x the image's mean brightness; ``script(n,
    mean)`` may instead return (status, headers, body) or a delay in seconds for the n-th request."""

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.requests: list[dict] = []  # per request: time, image mean, authorization
        self.in_flight = self.max_in_flight = 0
        self.delay = 0.0
        self.script = lambda n, mean: None
        server = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args):
                pass

            def do_POST(self):
                body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
                url = body["messages"][1]["content"][1]["image_url"]["url"]
                png = base64.b64decode(url.partition(",")[2])
                mean = float(np.asarray(Image.open(io.BytesIO(png)).convert("L")).mean() / 255)
                with server.lock:
                    n = len(server.requests)
                    server.requests.append({"t": time.monotonic(), "mean": mean,
                                            "auth": self.headers.get("Authorization")})
                    server.in_flight += 1
                    server.max_in_flight = max(server.max_in_flight, server.in_flight)
                try:
                    scripted = server.script(n, mean)
                    time.sleep(scripted if isinstance(scripted, float) else server.delay)
                    if isinstance(scripted, tuple):
                        status, headers, content = scripted
                    else:
                        grade = {"score": round(10 * mean, 3), "reason": "brightness"}
                        verdict = {a: grade for a in ("accuracy", "originality", "visual_quality",
                                                      "consistency", "emotional_resonance", "overall")}
                        verdict["accuracy"] = {"score": 10 - grade["score"], "reason": "darkness"}
                        status, headers, content = 200, {}, json.dumps(verdict)
                    reply = {"id": f"c{n}", "object": "chat.completion", "created": 0, "model": body["model"],
                             "choices": [{"index": 0, "finish_reason": "stop",
                                          "message": {"role": "assistant", "content": content}}],
                             "usage": {"prompt_tokens": 100, "completion_tokens": 20, "total_tokens": 120}}
                    data = json.dumps(reply if status == 200 else {"error": {"message": content}}).encode()
                    self.send_response(status)
                    for k, v in {"Content-Type": "application/json", **headers}.items():
                        self.send_header(k, v)
                    self.send_header("Content-Length", str(len(data)))
                    self.end_headers()
                    self.wfile.write(data)
                except (BrokenPipeError, ConnectionResetError):  # the client gave up (a timeout)
                    pass
                finally:
                    with server.lock:
                        server.in_flight -= 1

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}/v1"
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()


@pytest.fixture
def server(monkeypatch):
    monkeypatch.setenv("OPENAI_API_KEY", KEY)
    s = Server()
    yield s
    s.httpd.shutdown()
    s.httpd.server_close()


def grader(server, tmp_path, options: str = ""):
    return load_verifier(f"llm-grader:test-vlm@{server.url};cache={tmp_path / 'cache'}{options}")


def grey(levels) -> torch.Tensor:
    return torch.tensor(levels, dtype=torch.float32).view(-1, 1, 1, 1).expand(-1, 3, 8, 8).contiguous()


def test_scores_ranking_bounded_pool_cache_and_usage(server, tmp_path):
    server.delay = 0.05
    verifier = grader(server, tmp_path, ";workers=2")
    levels = [0.2, 0.8, 0.4, 1.0, 0.0, 0.6]
    scores = verifier.score(grey(levels), ["a red circle"] * 6)
    expected = torch.tensor([round(10 * round(v * 255) / 255, 3) for v in levels])
    assert torch.allclose(scores, expected, atol=1e-4)
    assert scores.argsort().tolist() == np.argsort(levels).tolist()
    assert server.max_in_flight == 2 and len(server.requests) == 6
    assert all(r["auth"] == f"Bearer {KEY}" for r in server.requests)
    usage = verifier.take_usage()
    assert usage["cache_misses"].sum() == 6 and usage["requests"].sum() == 6
    assert usage["prompt_tokens"].sum() == 600 and usage["completion_tokens"].sum() == 120
    assert (usage["request_s"] >= 0.05).all()
    by_accuracy = grader(server, tmp_path, ";aspect=accuracy")
    accuracy = by_accuracy.score(grey(levels), ["a red circle"] * 6)
    assert torch.allclose(accuracy, 10 - expected, atol=1e-4)
    assert len(server.requests) == 6  # the verdicts are cached, whichever aspect is read
    assert verifier.score(grey(levels[:2]), ["another prompt"] * 2).shape == (2,)
    assert len(server.requests) == 8  # a new prompt is a new verdict


def test_a_429_waits_its_retry_after_and_a_timeout_is_one_line(server, tmp_path):
    server.script = lambda n, mean: (429, {"Retry-After": "0.2"}, "slow down") if n == 0 else None
    verifier = grader(server, tmp_path, ";retries=2")
    assert verifier.score(grey([0.5]), ["p"]).tolist() == pytest.approx([5.02], abs=0.01)
    gap = server.requests[1]["t"] - server.requests[0]["t"]
    assert 0.2 <= gap < 0.45  # the server's Retry-After, not the 0.5 s backoff
    assert verifier.take_usage()["retries"].tolist() == [1]
    server.script = lambda n, mean: 2.0  # every request outlives the timeout
    slow = grader(server, tmp_path, ";timeout=0.2;retries=1;cache=off")
    with pytest.raises(RunError, match=r"failed 2 times for model 'test-vlm' \(last: APITimeoutErr") as err:
        slow.score(grey([0.3]), ["p"])
    assert "\n" not in str(err.value) and KEY not in str(err.value)


def test_a_malformed_answer_is_retried_then_a_failed_candidate(server, tmp_path):
    server.script = lambda n, mean: (200, {}, "I like it!") if mean < 0.5 else None
    verifier = grader(server, tmp_path, ";retries=1")
    scores = verifier.score(grey([0.2, 0.7]), ["p", "p"], finite=False)
    assert scores[0].isnan() and scores[1] == pytest.approx(7.0, abs=0.05)
    assert verifier.take_usage()["malformed"].tolist() == [2, 0] and len(server.requests) == 3
    first: list[float] = []  # the search's first image gets malformed answers only
    server.script = lambda n, mean: (first.append(mean) if not first else None) or (
        (200, {}, '{"overall": "great"}') if mean == first[0] else None)
    result = ns.search(ns.load_process("digits", steps=4), verifier, [3], n=6, judges=[])
    assert result[0].failed == 1 and np.isfinite(result[0].best_score)
    assert result[0].verifier_usage["malformed"] == 2 and result[0].verifier_usage["requests"] == 7


def test_without_openai_installed_the_error_says_how_to_install(monkeypatch):
    import sys

    monkeypatch.setitem(sys.modules, "openai", None)
    with pytest.raises(InputError, match=r"package 'openai' \(`pip install 'noisesearch\[vlm\]'`"):
        load_verifier("llm-grader:m@http://127.0.0.1:9/v1;cache=off")


def test_the_command_line_with_cache_and_no_key_written(server, tmp_path, capsys, monkeypatch):
    spec = f"llm-grader:test-vlm@{server.url};workers=4;cache={tmp_path / 'cache'}"
    argv = ["search", "--model", "digits", "--steps", "4", "--condition", "3,7", "--verifier", spec,
            "--set", "n=4", "--seed", "1", "--out"]
    assert main([*argv, str(tmp_path / "run")]) == 0
    printed = capsys.readouterr().out
    assert "llm-grader" in printed and "condition 3: best" in printed
    lines = [json.loads(line) for line in (tmp_path / "run" / "results.jsonl").read_text().splitlines()]
    assert [line["verifier_usage"]["cache_misses"] for line in lines] == [4, 4]
    assert all(line["verifier_usage"]["prompt_tokens"] == 400 for line in lines)
    assert len(server.requests) == 8
    assert main([*argv, str(tmp_path / "again")]) == 0  # a rerun: every verdict from the cache
    again = [json.loads(line) for line in (tmp_path / "again" / "results.jsonl").read_text().splitlines()]
    assert [line["verifier_usage"]["cache_hits"] for line in again] == [4, 4] and len(server.requests) == 8
    assert [line["best_score"] for line in again] == [line["best_score"] for line in lines]
    written = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert len(written) > 10 and not [p for p in written if KEY.encode() in p.read_bytes()]
    capsys.readouterr()
    monkeypatch.delenv("OPENAI_API_KEY")
    assert main([*argv, str(tmp_path / "nokey")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("error: llm-grader: set the environment variable OPENAI_API_KEY")
    assert err.count("\n") == 1
    assert not (tmp_path / "nokey").exists()
