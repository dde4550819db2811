"""The baseline of the HTTP benchmark: a bare Flask route that returns a small JSON object."""

from flask import Flask, jsonify

app = Flask(__name__)


@app.get("/bare")
def bare():
    """What any Flask route costs under the same server: no auth, no limits, no database."""
    return jsonify(status="ok")
