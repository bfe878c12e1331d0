"""Identifiers in paths, queries, forms and bodies: positive and within a 32-bit integer,
so an absurd number is a 422 rather than a database overflow."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Path, Query
from pydantic import Field

MAX_ID = 2**31 - 1

PathId = Annotated[int, Path(ge=1, le=MAX_ID)]
QueryId = Annotated[int | None, Query(ge=0, le=MAX_ID)]
FormId = Annotated[int, Form(ge=1, le=MAX_ID)]
BodyId = Annotated[int, Field(ge=1, le=MAX_ID)]
OptionalBodyId = Annotated[int | None, Field(ge=1, le=MAX_ID)]
