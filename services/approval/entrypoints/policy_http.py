"""The policy officer's routes (政策管理, issue 22): propose a new version of a figure, approve or
reject another officer's proposal (four eyes), read the published history and each
publication's recalculation of the recipients it reaches."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Depends, HTTPException, Query, Request, Response, status
from pydantic import BaseModel, ConfigDict, Field
from sqlalchemy import Connection, exc, select

from services.approval.adapters.tables import policy_proposals, recalculated, recalculations
from services.approval.domain.policy import FIGURES
from services.approval.service_layer import policy_admin, simulation
from services.approval.service_layer.policy_admin import Officer, ProposalRefused, UnknownProposal
from services.approval.service_layer.policy_book import PolicyBook
from shared.auth.dependencies import check_jurisdiction, require
from shared.auth.principals import Principal
from shared.db import reading
from shared.http import CheckedRoute
from shared.inputs import FreeText, TextLine
from shared.policy import published_figure
from shared.service import Runtime, ServiceRuntime

router = APIRouter(route_class=CheckedRoute, tags=["policy administration"])
Proposer = Annotated[Principal, Depends(require("policy.propose"))]
Approver = Annotated[Principal, Depends(require("policy.approve"))]
PolicyReader = Annotated[Principal, Depends(require("policy.read"))]
P = policy_proposals.c
REFUSED: dict[int | str, dict[str, Any]] = {
    409: {"description": "Not allowed now: retroactive, four eyes, or decided already"}}


def _book(request: Request) -> PolicyBook:
    book: PolicyBook = request.app.state.policy
    return book


Book = Annotated[PolicyBook, Depends(_book)]


class ProposalIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "name": "dibao.monthly_standard_fen", "region_code": "330282",
        "effective_from": "2027-01-01", "value": 110500,
        "source": "慈政发〔2026〕12号", "reason": "annual rise of 10% (seed 001)"}})
    name: str = Field(min_length=1, max_length=80, pattern=r"^[a-z_]+\.[a-z_]+$")
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    effective_from: date
    value: int = Field(ge=0, le=10**12)
    source: TextLine = Field(min_length=1, max_length=300,
                             description="The document that sets the figure (文号)")
    reason: FreeText = Field(min_length=1, max_length=2000)


class SimulationIn(BaseModel):
    model_config = ConfigDict(extra="forbid", json_schema_extra={"example": {
        "name": "dibao.monthly_standard_fen", "region_code": "330282",
        "effective_from": "2027-01-01", "value": 110500}})
    name: str = Field(min_length=1, max_length=80, pattern=r"^[a-z_]+\.[a-z_]+$")
    region_code: str = Field(pattern=r"^[0-9]{6}$")
    effective_from: date
    value: int = Field(ge=0, le=10**12)


class DecisionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: FreeText | None = Field(default=None, max_length=2000)


class RejectionIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    note: FreeText = Field(min_length=1, max_length=2000)


def _officer(who: Principal) -> Officer:
    return Officer(str(who.role), who.subject)


def _in_reach(who: Principal, region: str, request: Request) -> None:
    if not policy_admin.reaches(who.jurisdiction, region):
        check_jurisdiction(who, region, request=request)  # refuses (403, logged): never covered
        raise HTTPException(status.HTTP_403_FORBIDDEN, detail="outside your jurisdiction")


def _answering(work: Any) -> Any:
    try:
        return work()
    except UnknownProposal as e:
        raise HTTPException(status.HTTP_404_NOT_FOUND, detail=str(e)) from e
    except ProposalRefused as e:
        if e.field in ("name", "value"):
            raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[{
                "type": "value_error", "loc": ["body", e.field], "msg": str(e)}]) from e
        raise HTTPException(status.HTTP_409_CONFLICT, detail=str(e)) from e
    except exc.IntegrityError as e:  # two publications took the same sequence number at once
        raise HTTPException(status.HTTP_409_CONFLICT,
                            detail="another figure was published at the same moment: retry"
                            ) from e


def _proposal_view(conn: Connection, row: Any) -> dict[str, Any]:
    meaning, label_zh = policy_admin.CATALOGUE.get(row["name"], ("", ""))
    job = conn.execute(select(recalculations.c.job_id).where(
        recalculations.c.proposal_id == row["proposal_id"])).scalar()
    return {"proposal_id": row["proposal_id"], "name": row["name"], "meaning": meaning,
            "label_zh": label_zh, "unit": policy_admin.unit_of(row["name"]),
            "region_code": row["region_code"],
            "effective_from": row["effective_from"].isoformat(), "value": row["value"],
            "replaces_value": row["replaces_value"], "source": row["source"],
            "reason": row["reason"], "status": row["status"], "proposed_by": row["proposed_by"],
            "proposed_at": row["proposed_at"], "decided_by": row["decided_by"],
            "decided_at": row["decided_at"], "decision_note": row["decision_note"],
            "sequence": row["sequence"], "policy_version": row["policy_version"],
            "recalculation_job_id": job}


def _read_proposal(rt: ServiceRuntime, proposal_id: str) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        row = conn.execute(select(policy_proposals).where(P.proposal_id == proposal_id)
                           ).mappings().first()
        if row is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND,
                                detail=f"no policy proposal {proposal_id}")
        return _proposal_view(conn, row)


@router.get("/policy/catalogue",
            summary="Every figure a proposal may set, with its unit and the service it decides")
def catalogue(_who: PolicyReader) -> dict[str, Any]:
    return {"figures": [{"name": name, "meaning": meaning, "label_zh": label_zh,
                         "unit": policy_admin.unit_of(name),
                         "service": policy_admin.owner_of(name),
                         "moves_amounts": policy_admin.moves_amounts(name)}
                        for name, (meaning, label_zh) in policy_admin.CATALOGUE.items()]}


@router.post("/policy/proposals", status_code=201, responses=REFUSED,
             summary="Propose a new version of a policy figure (another officer approves)")
def propose(body: ProposalIn, rt: Runtime, book: Book, request: Request,
            who: Proposer) -> dict[str, Any]:
    _in_reach(who, body.region_code, request)
    now = datetime.now(UTC)
    with rt.uow() as uow:
        proposal_id = _answering(lambda: policy_admin.propose(
            uow, book, _officer(who), name=body.name, region_code=body.region_code,
            effective_from=body.effective_from, value=body.value, source=body.source,
            reason=body.reason, now=now))
    return _read_proposal(rt, proposal_id)


@router.get("/policy/proposals", summary="Policy proposals in the caller's reach")
def proposals(rt: Runtime, who: PolicyReader,
              state: Annotated[Literal["proposed", "published", "rejected"] | None,
                               Query(alias="status")] = None,
              region_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
              limit: Annotated[int, Query(ge=1, le=500)] = 100) -> dict[str, Any]:
    q = select(policy_proposals).order_by(P.proposed_at.desc())
    if state:
        q = q.where(P.status == state)
    if region_code:
        q = q.where(P.region_code == region_code)
    with reading(rt.engine) as conn:
        rows = [r for r in conn.execute(q).mappings()
                if policy_admin.reaches(who.jurisdiction, r["region_code"])][:limit]
        return {"proposals": [_proposal_view(conn, r) for r in rows]}


@router.get("/policy/proposals/{proposal_id}", summary="One policy proposal")
def proposal(proposal_id: str, rt: Runtime, request: Request,
             who: PolicyReader) -> dict[str, Any]:
    found = _read_proposal(rt, proposal_id)
    _in_reach(who, found["region_code"], request)
    return found


def _decide(rt: ServiceRuntime, proposal_id: str, who: Principal, request: Request,
            work: Any) -> dict[str, Any]:
    _in_reach(who, _read_proposal(rt, proposal_id)["region_code"], request)
    with rt.uow() as uow:
        _answering(lambda: work(uow))
    return _read_proposal(rt, proposal_id)


@router.post("/policy/proposals/{proposal_id}/approve", responses=REFUSED,
             summary="Approve another officer's proposal: it is published (four eyes)")
def approve(proposal_id: str, body: DecisionIn, rt: Runtime, book: Book, request: Request,
            who: Approver) -> dict[str, Any]:
    now = datetime.now(UTC)
    return _decide(rt, proposal_id, who, request, lambda uow: policy_admin.approve(
        uow, book, proposal_id, _officer(who), note=body.note, now=now))


@router.post("/policy/proposals/{proposal_id}/reject", responses=REFUSED,
             summary="Reject a proposal, with the reason")
def reject(proposal_id: str, body: RejectionIn, rt: Runtime, request: Request,
           who: Approver) -> dict[str, Any]:
    now = datetime.now(UTC)
    return _decide(rt, proposal_id, who, request, lambda uow: policy_admin.reject(
        uow, proposal_id, _officer(who), note=body.note, now=now))


@router.get("/policy/history", summary="Every version of every figure: packaged, and published "
                                       "with who proposed and who approved it")
def history(rt: Runtime, book: Book, _who: PolicyReader,
            region_code: Annotated[str | None, Query(pattern=r"^[0-9]{6}$")] = None,
            name: Annotated[str | None, Query(max_length=80)] = None) -> dict[str, Any]:
    out: list[dict[str, Any]] = []
    for f in sorted(book.packaged.figures, key=lambda f: (f.name, f.region, f.effective_from)):
        if (region_code and f.region != region_code) or (name and f.name != name):
            continue
        out.append({"name": f.name, "region_code": f.region,
                    "effective_from": f.effective_from.isoformat(), "value": f.value,
                    "origin": "packaged", "source": f.source, "proposal_id": None,
                    "proposed_by": None, "approved_by": None, "published_at": None,
                    "sequence": None})
    q = select(policy_proposals).where(P.status == "published").order_by(P.sequence)
    if region_code:
        q = q.where(P.region_code == region_code)
    if name:
        q = q.where(P.name == name)
    with reading(rt.engine) as conn:
        for r in conn.execute(q).mappings():
            out.append({"name": r["name"], "region_code": r["region_code"],
                        "effective_from": r["effective_from"].isoformat(), "value": r["value"],
                        "origin": "published", "source": r["source"],
                        "proposal_id": r["proposal_id"], "proposed_by": r["proposed_by"],
                        "approved_by": r["decided_by"], "published_at": r["decided_at"],
                        "sequence": r["sequence"]})
    return {"figures": out}


@router.get("/policy/recalculations/{job_id}",
            summary="A publication's recalculation: progress and each household's change")
def recalculation(job_id: str, rt: Runtime, request: Request, who: PolicyReader,
                  limit: Annotated[int, Query(ge=1, le=1000)] = 100,
                  offset: Annotated[int, Query(ge=0, le=10**7)] = 0) -> dict[str, Any]:
    with reading(rt.engine) as conn:
        job = conn.execute(select(recalculations).where(recalculations.c.job_id == job_id)
                           ).mappings().first()
        if job is None:
            raise HTTPException(status.HTTP_404_NOT_FOUND, detail=f"no recalculation {job_id}")
        region = conn.execute(select(P.region_code).where(
            P.proposal_id == job["proposal_id"])).scalar_one()
        _in_reach(who, region, request)
        rows = conn.execute(select(recalculated).where(recalculated.c.job_id == job_id)
                            .order_by(recalculated.c.case_id).limit(limit).offset(offset)
                            ).mappings().all()
    return {"job_id": job_id, "proposal_id": job["proposal_id"], "status": job["status"],
            "total": job["total"], "done": job["done"], "changed": job["changed"],
            "to_review": job["to_review"], "created_at": job["created_at"],
            "finished_at": job["finished_at"],
            "households": [{k: r[k] for k in ("case_id", "outcome", "old_monthly_fen",
                                              "new_monthly_fen", "explanation")} for r in rows]}


def _simulated(rt: ServiceRuntime, book: PolicyBook, change: simulation.Change, figure_id: str,
               fmt: str) -> Any:
    if change.name not in FIGURES:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, detail=[{
            "type": "value_error", "loc": ["body", "name"],
            "msg": "name is not a figure that decides amounts (a simulation reckons what "
                   "a figure of approval's would pay)"}])
    figure = published_figure(figure_id, change.name, change.region_code,
                              change.effective_from, change.value)
    with reading(rt.engine) as conn:
        result = simulation.simulate(conn, book.current(conn), change, figure,
                                     datetime.now(UTC))
    if fmt == "csv":
        return Response(simulation.as_csv(result), media_type="text/csv; charset=utf-8",
                        headers={"Content-Disposition": 'attachment; filename="simulation.csv"'})
    return result


Format = Annotated[Literal["json", "csv"], Query(alias="format")]


@router.post("/policy/simulations", response_model=None,
             summary="What a figure would change, before anything is published (政策测算)")
def simulate(body: SimulationIn, rt: Runtime, book: Book, request: Request, who: PolicyReader,
             fmt: Format = "json") -> Any:
    """Nothing is written: the reached recipients and last year's applicants are assessed with
    the policy now and with the figure, on its effective day. ``format=csv`` gives the towns'
    table."""
    _in_reach(who, body.region_code, request)
    change = simulation.Change(body.name, body.region_code, body.effective_from, body.value)
    return _simulated(rt, book, change, "simulation", fmt)


@router.get("/policy/proposals/{proposal_id}/simulation", response_model=None,
            summary="What a proposal would change, if it were published now")
def simulate_proposal(proposal_id: str, rt: Runtime, book: Book, request: Request,
                      who: PolicyReader, fmt: Format = "json") -> Any:
    found = _read_proposal(rt, proposal_id)
    _in_reach(who, found["region_code"], request)
    change = simulation.Change(found["name"], found["region_code"],
                               date.fromisoformat(found["effective_from"]), found["value"])
    return _simulated(rt, book, change, proposal_id, fmt)
