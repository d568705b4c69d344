"""The baseline of bench/multi_writer.py's ingest: a Flask route that reads a JSON body
and answers 202, doing nothing else, served by the same gunicorn + gevent settings as the
chat server (see `run_noop` there)."""

from flask import Flask, request

app = Flask(__name__)


@app.post("/noop")
def noop():
    body = request.get_json()
    return {"message": body.get("message")}, 202
