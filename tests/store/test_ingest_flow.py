"""The ingest flows are thin: named for the dashboard, typed parameters, same library underneath."""

from __future__ import annotations

import inspect


def test_ingest_flows_have_dashboard_names_and_typed_parameters():
    from flows.ingest import ingest_batch, ingest_inbox, ingest_task

    assert ingest_batch.name == "ingest-batch" and ingest_inbox.name == "ingest-inbox"
    schema = ingest_batch.parameters.model_dump()
    assert schema["required"] == ["batch_path"]
    assert schema["properties"]["batch_path"]["type"] == "string"
    assert set(schema["properties"]) == {"batch_path", "submitted_by", "home"}
    assert list(ingest_inbox.parameters.model_dump()["properties"]) == ["home", "submitted_by"]
    # the task is a few lines calling the library, never a reimplementation
    source = inspect.getsource(ingest_task.fn)
    assert "StudyStore(" in source and len(source.splitlines()) < 10
