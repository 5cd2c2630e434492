"""An app the suite builds is freed once FastAPI's caches forget it (`let_apps_go`), so that
hundreds of apps do not pile up for every garbage collection to scan."""

from __future__ import annotations

import gc
import weakref

from fastapi.testclient import TestClient

from conftest import let_apps_go, url_of
from quietday.api import create_app
from quietday.config import Settings
from quietday.persistence import Engine


def test_an_app_served_is_freed_once_the_caches_forget_it(engine: Engine) -> None:
    app = create_app(Settings(database_url=url_of(engine), runner="thread"), engine=engine)
    with TestClient(app) as c:
        assert c.get("/healthz").status_code == 200
    gone = weakref.ref(app)
    del app, c
    gc.collect()
    assert gone() is not None  # FastAPI's caches hold it: the reason `let_apps_go` exists
    let_apps_go()
    gc.collect()
    assert gone() is None
