"""Where each audit stream's chain ends.

A hash chain proves nothing is missing *between* two records, but the last
records of a stream could be deleted without breaking it. The database keeps
this head row in step with every insert (trigger `audit_heads_advance`, migration
0004) and refuses to move it backwards or delete it, so `jieya audit verify`
notices a shortened stream too."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, Column, DateTime
from sqlmodel import Field, SQLModel


class AuditHead(SQLModel, table=True):
    __tablename__ = "audit_heads"

    stream: str = Field(primary_key=True, max_length=32)
    seq: int
    hash: str = Field(max_length=64)
    # The id of the record at the head, so a deleted last record can be named.
    event_id: int = Field(sa_column=Column(BigInteger, nullable=False))
    updated_at: datetime = Field(sa_column=Column(DateTime(timezone=True), nullable=False))
