"""Search my documents: the hybrid retriever over this chat's scope, with citations.

The scope is the conversation's (`ToolContext.incoming`); the model only chooses the
query, so no argument it invents can reach another person's documents.
"""

from __future__ import annotations

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext
from core.knowledge.answer import render_passages

NAME = "documents"


class DocumentsArgs(BaseModel):
    query: str = Field(description="What to look for, in the words the documents likely use.")


def build(context: ToolContext) -> BaseTool:
    async def run(query: str) -> str:
        found = await context.retrieval.evidence(context.incoming, query)
        known = {passage.chunk_id: n for n, passage in enumerate(context.passages, start=1)}
        new = [passage for passage in found if passage.chunk_id not in known]
        if not found:
            return "No passage of the user's documents matches this query."
        first_number = len(context.passages) + 1
        context.passages.extend(new)
        seen = [f"[{known[p.chunk_id]}]" for p in found if p.chunk_id in known]
        again = f"\nAlready given above: {' '.join(seen)}" if seen else ""
        return render_passages(new, first_number=first_number) + again

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="Searches the documents, links and videos the user shared in this chat. "
        "Returns numbered passages; cite the ones you use as [1], [2].",
        args_schema=DocumentsArgs,
    )
