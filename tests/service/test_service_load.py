"""Many clients at once through the service's socket, and clients that go away halfway: every
request is answered as docker's daemon would, the service keeps serving, nothing leaks."""

import json
import threading

from conftest import wait_for
from service_fixtures import service  # noqa: F401 - the fixture

CLIENTS = 50


def test_fifty_clients_create_start_wait_and_remove_at_once(service):  # noqa: F811
    failures, codes = [], {}
    go = threading.Barrier(CLIENTS)

    def client(i: int) -> None:
        try:
            go.wait()
            status, body = service.request("POST", f"/v1.43/containers/create?name=load{i}",
                                           body={"Image": "busybox", "Cmd": ["sh", "-c", f"echo {i}; exit {i % 7}"],
                                                 "HostConfig": {"NetworkMode": "none"}})
            assert status == 201, (status, body)
            cid = json.loads(body)["Id"]
            status, body = service.request("POST", f"/v1.43/containers/{cid}/start")
            assert status == 204, (status, body)
            status, body = service.request("POST", f"/v1.43/containers/{cid}/wait")
            assert status == 200, (status, body)
            codes[i] = json.loads(body)["StatusCode"]
            status, body = service.request("GET", f"/v1.43/containers/{cid}/logs?stdout=1")
            assert status == 200 and body[8:] == f"{i}\n".encode(), \
                (status, body, json.loads(service.request("GET", f"/containers/{cid}/json")[1])["State"])
            status, body = service.request("DELETE", f"/v1.43/containers/{cid}")
            assert status == 204, (status, body)
        except BaseException as e:  # noqa: BLE001 - collected, reported below with the client's number
            failures.append(f"client {i}: {e!r}")

    threads = [threading.Thread(target=client, args=(i,)) for i in range(CLIENTS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=600)
    assert not failures, "\n".join(failures)
    assert codes == {i: i % 7 for i in range(CLIENTS)}
    assert service.request("GET", "/containers/json?all=1") == (200, b"[]\n")
    assert service.td.out("ps", "-aq") == ""
