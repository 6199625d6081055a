"""Who the caller is: what the console shows and uses to decide which buttons to offer."""

from __future__ import annotations

from fastapi import APIRouter

from api.auth import CurrentOperator
from api.schemas import MePublic
from models.enums import Role

router = APIRouter(prefix="/me", tags=["me"])


@router.get("", response_model=MePublic)
async def read_me(operator: CurrentOperator) -> MePublic:
    """The caller's name, role and branch."""
    return MePublic(name=operator.name, role=Role(operator.role), branch=operator.branch)
