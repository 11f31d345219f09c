#!/usr/bin/env python3
"""tests/data/range_server.py: the local HTTP server of the download tests.

    range_server.py DIR PORTFILE LOGFILE

Serves DIR on 127.0.0.1 with Python's http.server, plus what the stock
`python3 -m http.server` lacks: HTTP Range requests ("bytes=N-" and
"bytes=N-M" -> 206 Partial Content, past the end -> 416). Paths under
/norange/ serve the same files but ignore Range (200 with the whole file),
like servers that cannot resume. Binds port 0, so the kernel picks a free
port, and writes it to PORTFILE (atomically) once listening. Every request is
logged to LOGFILE as "PATH RANGE STATUS". Stop it with SIGTERM."""
import http.server
import os
import re
import signal
import sys

root, portfile, logfile = sys.argv[1], sys.argv[2], sys.argv[3]


class Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, *a, **kw):
        super().__init__(*a, directory=root, **kw)

    def log_request(self, code='-', size='-'):
        with open(logfile, 'a') as f:
            f.write('%s %s %s\n' % (self.path, self.headers.get('Range', '-'), code))

    def log_message(self, *args):   # keep stderr quiet
        pass

    def translate_path(self, path):
        if path.startswith('/norange/'):
            path = path[len('/norange'):]
        return super().translate_path(path)

    def send_head(self):
        rng = self.headers.get('Range')
        path = self.translate_path(self.path)
        if not rng or self.path.startswith('/norange/') or not os.path.isfile(path):
            return super().send_head()
        m = re.match(r'bytes=(\d+)-(\d*)$', rng.strip())
        size = os.path.getsize(path)
        if not m:
            self.send_error(400, 'bad Range')
            return None
        start = int(m.group(1))
        end = int(m.group(2)) if m.group(2) else size - 1
        if start >= size or end < start:
            self.send_response(416)
            self.send_header('Content-Range', 'bytes */%d' % size)
            self.send_header('Content-Length', '0')
            self.end_headers()
            return None
        end = min(end, size - 1)
        with open(path, 'rb') as f:
            f.seek(start)
            body = f.read(end - start + 1)
        self.send_response(206)
        self.send_header('Content-Type', 'application/octet-stream')
        self.send_header('Content-Range', 'bytes %d-%d/%d' % (start, end, size))
        self.send_header('Content-Length', str(len(body)))
        self.send_header('Accept-Ranges', 'bytes')
        self.end_headers()
        self.wfile.write(body)
        return None


def main():
    srv = http.server.ThreadingHTTPServer(('127.0.0.1', 0), Handler)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    tmp = portfile + '.tmp'
    with open(tmp, 'w') as f:
        f.write(str(srv.server_address[1]))
    os.rename(tmp, portfile)
    srv.serve_forever()


main()
