"""The probes, as an orchestrator sees them."""


def test_healthz_answers_with_the_database_and_redis_down(make_app):
    app = make_app(
        database_url="postgresql+psycopg://nobody@127.0.0.1:1/nothing",
        redis_url="redis://127.0.0.1:1/0",
    )
    response = app.test_client().get("/healthz")
    assert response.status_code == 200
    assert response.get_json() == {"status": "ok", "checks": {}}
