"""`kibana import` against a local fake Kibana (an http.server on 127.0.0.1)."""

from __future__ import annotations

import email.parser
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from processors.es.kibana import KibanaError, import_saved_objects, load_saved_objects
from processors.es.templates import indices_for_prefix


class FakeKibana:
    def __init__(self, status=200, answer=None):
        self.requests = []
        self.status = status
        self.answer = answer
        fake = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):  # noqa: N802 - http.server's naming
                body = self.rfile.read(int(self.headers["Content-Length"]))
                fake.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                answer = fake.answer if fake.answer is not None else {
                    "success": True, "successCount": len(_uploaded_lines(self.headers, body)), "errors": []}
                payload = json.dumps(answer).encode()
                self.send_response(fake.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    def __enter__(self):
        self.thread.start()
        return self

    def __exit__(self, *exc):
        self.server.shutdown()
        self.server.server_close()


def _parts(headers, body):
    message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        f"Content-Type: {headers['Content-Type']}\r\n\r\n".encode() + body)
    return list(message.iter_parts())


def _uploaded_lines(headers, body):
    part = _parts(headers, body)[0]
    return [json.loads(line) for line in part.get_payload(decode=True).decode().splitlines() if line]


def test_import_sends_what_the_saved_objects_api_documents():
    indices = indices_for_prefix("acme")
    with FakeKibana() as kibana:
        result = import_saved_objects(kibana.url, indices, timeout_s=5)
    [request] = kibana.requests
    assert request["path"] == "/api/saved_objects/_import?overwrite=true"
    assert request["headers"]["kbn-xsrf"] == "true"
    assert request["headers"]["Content-Type"].startswith("multipart/form-data; boundary=")
    [part] = _parts(request["headers"], request["body"])
    assert part.get_param("name", header="content-disposition") == "file"
    assert part.get_filename().endswith(".ndjson")
    sent = _uploaded_lines(request["headers"], request["body"])
    assert sent == load_saved_objects(indices)
    titles = {o["attributes"]["title"] for o in sent if o["type"] == "index-pattern"}
    assert titles == {"acme-articles", "acme-alerts", "acme-deadletters"}
    assert result.success_count == result.sent == len(sent)


def test_space_goes_in_the_path():
    with FakeKibana() as kibana:
        import_saved_objects(kibana.url + "/", indices_for_prefix("w"), space="news", timeout_s=5)
    assert kibana.requests[0]["path"] == "/s/news/api/saved_objects/_import?overwrite=true"


def test_refusal_is_a_clear_error():
    with FakeKibana(status=403, answer={"statusCode": 403, "error": "Forbidden", "message": "no privileges"}) as kibana:
        with pytest.raises(KibanaError, match="HTTP 403: no privileges"):
            import_saved_objects(kibana.url, indices_for_prefix("w"), timeout_s=5)


def test_partial_failure_names_the_objects():
    answer = {"success": False, "successCount": 0,
              "errors": [{"id": "wirewatch-news", "type": "dashboard", "error": {"type": "missing_references"}}]}
    with FakeKibana(answer=answer) as kibana:
        with pytest.raises(KibanaError, match="dashboard/wirewatch-news: missing_references"):
            import_saved_objects(kibana.url, indices_for_prefix("w"), timeout_s=5)


def test_something_that_is_not_kibana():
    with FakeKibana(answer={"hello": "world"}) as kibana:
        with pytest.raises(KibanaError, match="is it Kibana"):
            import_saved_objects(kibana.url, indices_for_prefix("w"), timeout_s=5)


def test_unreachable_kibana():
    with socket.socket() as sock:  # a port nobody listens on once closed
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(KibanaError, match="unreachable"):
        import_saved_objects(f"http://127.0.0.1:{port}", indices_for_prefix("w"), timeout_s=5)
