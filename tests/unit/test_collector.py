"""shared.collector: the collector's thresholds are raised while any bulk job runs, and come
back when the last one ends, whatever the order and even when a job fails."""

import gc
import threading

import pytest

from shared.collector import BULK_THRESHOLD, fewer_collections


def test_thresholds_come_back_after_nested_and_failing_jobs():
    before = gc.get_threshold()
    with fewer_collections():
        assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])
        with pytest.raises(RuntimeError), fewer_collections():
            raise RuntimeError("a job fails")
        assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])  # the other still runs
    assert gc.get_threshold() == before
    assert gc.isenabled()


def test_jobs_on_threads_that_end_in_any_order():
    before = gc.get_threshold()
    started, release = threading.Barrier(5), threading.Event()

    def job() -> None:
        with fewer_collections():
            started.wait()
            release.wait()

    threads = [threading.Thread(target=job) for _ in range(4)]
    for t in threads:
        t.start()
    started.wait()
    assert gc.get_threshold()[0] == max(BULK_THRESHOLD, before[0])
    release.set()
    for t in threads:
        t.join()
    assert gc.get_threshold() == before
