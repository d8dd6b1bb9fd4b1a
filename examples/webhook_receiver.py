"""A webhook receiver: registers itself for Parley's events, checks every signature, and
prints each conversation's history when it ends.

    PARLEY_API_KEY=… python examples/webhook_receiver.py [--port 8765] [--once]

It listens on 127.0.0.1, so the server must allow that address for outbound calls
(`PARLEY_WEBHOOK_ALLOW=127.0.0.1`); a real receiver sits at a public https URL. The
webhook is deleted again on exit. `--once`: exit after the first `conversation.ended`.
"""

from __future__ import annotations

import argparse
import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from parley.client import Parley
from parley.client.webhooks import verify


def main() -> None:
    args = argparse.ArgumentParser()
    args.add_argument("--port", type=int, default=8765)
    args.add_argument("--once", action="store_true")
    opts = args.parse_args()
    done = threading.Event()
    secret = ""

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:  # noqa: N802 - the http.server API
            body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
            if not verify(secret, self.headers.get("Parley-Signature"), body):
                self.send_response(400)  # not from our server, altered, or a replay
                self.end_headers()
                return
            self.send_response(204)
            self.end_headers()
            event = json.loads(body)
            data = event["data"]
            print(f"{event['type']} {data['session_id']}", flush=True)
            if event["type"] == "conversation.ended":
                print(f"  reason={data['reason']} turns={data['total_turns']}", flush=True)
                for turn in data["history"]:
                    print(f"  {turn['role']}: {turn['text']}", flush=True)
                if opts.once:
                    done.set()

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", opts.port), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    with Parley() as client:
        url = f"http://127.0.0.1:{server.server_address[1]}/parley"
        hook = client.webhooks.create(url)
        secret = hook.secret or ""
        print(f"listening on {url} as {hook.id}", flush=True)
        try:
            done.wait()
        except KeyboardInterrupt:
            pass
        finally:
            client.webhooks.delete(hook.id)
            server.shutdown()


if __name__ == "__main__":
    main()
