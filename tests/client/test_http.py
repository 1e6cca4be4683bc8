"""The shared client's HTTP side (client/http.py, client/errors.py): problem
documents become ``ServerRefused`` with the server's code (docs/protocol.md
§0), a broken connection ``ConnectionFailed``, answers are parsed strictly,
the log key is checked (§9), proof of work is fetched and solved (§8), the
intake key comes from the forms API (§5)."""

from __future__ import annotations

import httpx
import pytest

from testimony.client.errors import (
    ClientError,
    ConnectionFailed,
    InvalidServerURL,
    LogKeyMismatch,
    ServerRefused,
    SourceChanged,
    UnexpectedAnswer,
    UploadVanished,
)
from testimony.client.http import Challenge, ServerClient
from testimony.crypto.encoding import b64u_decode, sha256
from testimony.crypto.pow import leading_zero_bits

from .fake_server import INTAKE_PUBLIC, LOG_KEY, FakeServer, problem


def client_of(fake: FakeServer) -> ServerClient:
    return ServerClient("http://fake.test/", transport=fake.transport())


def test_every_error_has_a_stable_code() -> None:
    codes = {
        ClientError: "client-error",
        ConnectionFailed: "connection-failed",
        ServerRefused: "server-refused",
        UnexpectedAnswer: "unexpected-answer",
        LogKeyMismatch: "log-key-mismatch",
        UploadVanished: "upload-vanished",
        SourceChanged: "source-changed",
        InvalidServerURL: "invalid-server-url",
    }
    for error, code in codes.items():
        assert error.code == code


def test_a_problem_document_is_refused_with_the_servers_code_and_status() -> None:
    fake = FakeServer()
    fake.script("GET /api/v1/pow", problem(503, "unavailable"))
    with client_of(fake) as client, pytest.raises(ServerRefused) as refused:
        client.pow_challenge()
    assert (refused.value.status, refused.value.problem) == (503, "unavailable")
    assert (
        str(refused.value) == "the proof-of-work challenge: the server answered 503 (unavailable)"
    )


def test_an_answer_that_is_no_problem_document_is_named_by_its_status() -> None:
    fake = FakeServer()
    fake.script("GET /api/v1/log/key", httpx.Response(502, text="<html>bad gateway</html>"))
    with client_of(fake) as client, pytest.raises(ServerRefused) as refused:
        client.log_key()
    assert refused.value.problem == "http-502"
    assert str(refused.value) == "the log key: the server answered 502 (http-502)"


def test_a_broken_connection_is_connection_failed() -> None:
    def cut(request: httpx.Request) -> httpx.Response:
        raise httpx.ConnectError("refused", request=request)

    client = ServerClient("http://fake.test", transport=httpx.MockTransport(cut))
    with client, pytest.raises(ConnectionFailed, match="the connection to the server failed"):
        client.get_json("/api/v1/forms", what="the forms")


def test_json_answers_are_parsed_strictly() -> None:
    fake = FakeServer()
    fake.script("GET /api/v1/forms", httpx.Response(200, content=b'[{"id": "a", "id": "b"}]'))
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer, match="not JSON"):
        client.get_json("/api/v1/forms", what="the forms")


def test_the_log_key_is_fetched_and_checked() -> None:
    fake = FakeServer()
    with client_of(fake) as client:
        assert client.log_key() == LOG_KEY
        assert client.log_key(expected=LOG_KEY + "\n") == LOG_KEY
        with pytest.raises(LogKeyMismatch):
            client.log_key(expected="someone.else/log+00000000+AQ" + "A" * 42)
    fake.script("GET /api/v1/log/key", httpx.Response(200, text="not a key"))
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer, match="verifier key"):
        client.log_key()


def test_proof_of_work_is_fetched_with_the_upload_length_and_solved() -> None:
    fake = FakeServer(pow_bits=8)
    with client_of(fake) as client:
        proof = client.proof_of_work(length=4096)
        assert client.proof_of_work() is not None
    assert fake.pow_lengths == ["4096", None]
    assert proof is not None
    digest = sha256(b64u_decode(proof.challenge) + b64u_decode(proof.nonce))
    assert leading_zero_bits(digest) >= 8
    assert proof.member() == {"challenge": proof.challenge, "nonce": proof.nonce}
    assert proof.text() == f"{proof.challenge}:{proof.nonce}"


def test_no_work_is_done_when_the_server_asks_for_none() -> None:
    with client_of(FakeServer(pow_bits=0)) as client:
        assert client.proof_of_work() is None
    assert Challenge("", 0, "").solve() is None


@pytest.mark.parametrize(
    "offer",
    [
        {"challenge": "AAAA", "bits": 65},
        {"challenge": "AAAA", "bits": -1},
        {"challenge": "AAAA", "bits": True},
        {"challenge": "AAAA", "bits": "8"},
        {"bits": 8},
        ["not", "an", "object"],
    ],
)
def test_a_challenge_the_protocol_does_not_allow_is_refused(offer: object) -> None:
    fake = FakeServer()
    fake.script("GET /api/v1/pow", httpx.Response(200, json=offer))
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer):
        client.pow_challenge()


def test_a_challenge_that_is_not_b64u_is_refused_before_any_work() -> None:
    with pytest.raises(UnexpectedAnswer, match="not b64u"):
        Challenge("not b64u!", 4, "").solve()


def test_the_intake_key_comes_from_the_first_form_and_matches_its_id() -> None:
    fake = FakeServer()
    with client_of(fake) as client:
        assert client.intake_key() == INTAKE_PUBLIC
        assert client.intake_key("kordai-2020") == INTAKE_PUBLIC
    fake.script(
        "GET /api/v1/forms/kordai-2020",
        httpx.Response(200, json={"intake_key": "AAAA", "intake_key_id": "00" * 16}),
    )
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer, match="no S1 intake key"):
        client.intake_key()
    fake.script("GET /api/v1/forms", httpx.Response(200, json=[]))
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer, match="no form"):
        client.intake_key()


def test_a_key_whose_id_is_not_the_forms_is_refused() -> None:
    from testimony.crypto.encoding import b64u_encode

    fake = FakeServer()
    fake.script(
        "GET /api/v1/forms/kordai-2020",
        httpx.Response(
            200, json={"intake_key": b64u_encode(INTAKE_PUBLIC), "intake_key_id": "00" * 16}
        ),
    )
    with client_of(fake) as client, pytest.raises(UnexpectedAnswer, match="id"):
        client.intake_key()


def test_urls_are_made_absolute_against_the_base_url() -> None:
    with ServerClient("https://intake.example.org/") as client:
        assert client.base_url == "https://intake.example.org"
        assert client.url("/api/v1/uploads/x") == "https://intake.example.org/api/v1/uploads/x"
        assert client.url("https://elsewhere.test/y") == "https://elsewhere.test/y"


@pytest.mark.parametrize("url", ["foo", "ftp://intake.example.org", "http://[::1", "https://"])
def test_a_url_that_is_no_server_url_is_refused_before_any_request(url: str) -> None:
    with pytest.raises(InvalidServerURL, match="is not a server URL") as refused:
        ServerClient(url)
    assert refused.value.code == "invalid-server-url"


def test_the_module_examples_run() -> None:
    import doctest

    from testimony.client import errors, http, tus

    for module in (errors, http, tus):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.failed == 0, module.__name__
