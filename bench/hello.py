"""The framework floor: a bare Flask app that answers "hello" (served like the real one)."""

from flask import Flask

app = Flask(__name__)


@app.route("/", defaults={"path": ""})
@app.route("/<path:path>")
def hello(path: str) -> str:
    return "hello"


application = app
