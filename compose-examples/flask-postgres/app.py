"""A visit counter: each request to / adds a row to PostgreSQL and returns the count."""

import os

import psycopg
from flask import Flask, jsonify

app = Flask(__name__)
DATABASE_URL = os.environ["DATABASE_URL"]


def connect():
    return psycopg.connect(DATABASE_URL, connect_timeout=5)


with connect() as conn:
    conn.execute(
        "CREATE TABLE IF NOT EXISTS visits (id serial PRIMARY KEY, at timestamptz DEFAULT now())"
    )


@app.get("/")
def index():
    with connect() as conn:
        conn.execute("INSERT INTO visits DEFAULT VALUES")
        (count,) = conn.execute("SELECT count(*) FROM visits").fetchone()
    return jsonify(visits=count)


@app.get("/healthz")
def healthz():
    with connect() as conn:
        conn.execute("SELECT 1")
    return jsonify(status="ok", version=os.environ.get("APP_VERSION", "dev"))
