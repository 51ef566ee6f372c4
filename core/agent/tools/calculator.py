"""A calculator for the agent: arithmetic read as a Python expression tree, never `eval`ed.

Only numbers, arithmetic operators, a few math functions and constants are allowed, and
powers and factorial-like growth are bounded so one expression cannot hog the CPU.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable

from langchain_core.tools import BaseTool, StructuredTool
from pydantic import BaseModel, Field

from core.agent.tools.base import ToolContext, ToolFailed

NAME = "calculator"
MAX_EXPRESSION_CHARS = 300
MAX_EXPONENT = 1000
MAX_MAGNITUDE = 1e300

_BINARY: dict[type[ast.operator], Callable[[float, float], float]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}
_UNARY: dict[type[ast.unaryop], Callable[[float], float]] = {
    ast.UAdd: operator.pos,
    ast.USub: operator.neg,
}
_FUNCTIONS: dict[str, Callable[..., float]] = {
    "sqrt": math.sqrt,
    "abs": abs,
    "round": round,
    "floor": math.floor,
    "ceil": math.ceil,
    "exp": math.exp,
    "log": math.log,
    "log10": math.log10,
    "sin": math.sin,
    "cos": math.cos,
    "tan": math.tan,
    "min": min,
    "max": max,
}
_CONSTANTS = {"pi": math.pi, "e": math.e}


class CalculatorArgs(BaseModel):
    expression: str = Field(
        description="An arithmetic expression, e.g. `(1200 * 0.15) / 12` or `sqrt(2) ** 3`."
    )


def calculate(expression: str) -> float | int:
    """The value of an arithmetic expression, or ToolFailed saying what is not allowed."""
    if len(expression) > MAX_EXPRESSION_CHARS:
        raise ToolFailed(f"expression longer than {MAX_EXPRESSION_CHARS} characters")
    # People write `^` for powers and `,` as the decimal mark less often than in lists.
    source = expression.replace("^", "**").replace("×", "*").replace("÷", "/")
    try:
        tree = ast.parse(source, mode="eval")
    except SyntaxError as exc:
        raise ToolFailed(f"not an arithmetic expression: {exc.msg}") from None
    try:
        value = _value(tree.body)
    except ZeroDivisionError:
        raise ToolFailed("division by zero") from None
    except (OverflowError, ValueError) as exc:
        raise ToolFailed(f"no result: {exc}") from None
    if isinstance(value, float) and value.is_integer() and abs(value) < 1e15:
        return int(value)
    return value


def _value(node: ast.expr) -> float:
    match node:
        case ast.Constant(value=bool()):
            raise ToolFailed("booleans are not numbers here")
        case ast.Constant(value=int() | float() as number):
            return number
        case ast.Name(id=name) if name in _CONSTANTS:
            return _CONSTANTS[name]
        case ast.BinOp(left=left, op=op, right=right) if type(op) in _BINARY:
            a, b = _value(left), _value(right)
            if isinstance(op, ast.Pow) and abs(b) > MAX_EXPONENT:
                raise ToolFailed(f"exponent larger than {MAX_EXPONENT}")
            return _bounded(_BINARY[type(op)](a, b))
        case ast.UnaryOp(op=op, operand=operand) if type(op) in _UNARY:
            return _UNARY[type(op)](_value(operand))
        case ast.Call(func=ast.Name(id=name), args=args, keywords=[]) if name in _FUNCTIONS:
            return _bounded(_FUNCTIONS[name](*(_value(arg) for arg in args)))
    raise ToolFailed(f"not allowed in a calculation: {ast.unparse(node)[:40]}")


def _bounded(value: float) -> float:
    if isinstance(value, complex) or abs(value) > MAX_MAGNITUDE:
        raise ToolFailed("result out of range")
    return value


def build(_context: ToolContext) -> BaseTool:
    async def run(expression: str) -> str:
        return f"{expression} = {calculate(expression)}"

    return StructuredTool.from_function(
        coroutine=run,
        name=NAME,
        description="Evaluates arithmetic exactly (+ - * / // % **, sqrt, log, sin, round, "
        "pi, e). Use it for any calculation instead of doing it in your head.",
        args_schema=CalculatorArgs,
    )
