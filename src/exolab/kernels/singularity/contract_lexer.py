"""The lexer of Singularity channel contracts (:mod:`.contract_syntax` parses).

Tokens are names (ASCII letters, digits, ``_``; keywords are contextual), the
arrow ``->`` or ``→``, the ellipsis ``...`` and the punctuation
``{ } ( ) [ ] ; , : . * ? !``; ``//`` line and ``/* */`` block comments and
white space separate them. Lines and columns are 1-based; any other
character, or a comment left open, is a :class:`~exolab.errors.ContractError`
at its place.

Interface::

    tokens(text, file="<contract>") -> list[Token]     ends with an "eof" token
    Token(kind, text, line, col)        kind: "name", "arrow", "ellipsis", "eof"
                                        or the punctuation character itself
"""
from __future__ import annotations

from dataclasses import dataclass

from exolab.errors import ContractError, safe_repr

__all__ = ["tokens", "Token"]

_PUNCT = frozenset("{}()[];,:.*?!")

@dataclass(frozen=True, slots=True)
class Token:
    kind: str           # "name", "arrow", "ellipsis", "eof" or a punctuation char
    text: str
    line: int
    col: int


def _is_name_start(c: str) -> bool:
    """Whether ``c`` may begin a name (ASCII letter or underscore)."""
    return c == "_" or ("a" <= c <= "z") or ("A" <= c <= "Z")


def _is_name_char(c: str) -> bool:
    """Whether ``c`` may continue a name."""
    return _is_name_start(c) or ("0" <= c <= "9")


def _skip_comment(text: str, i: int, file: str, line: int,
                  col: int) -> tuple[int, int, int]:
    """Skip the comment starting at ``text[i]``; return the new (i, line, col)."""
    if text.startswith("//", i):
        end = text.find("\n", i)
        end = len(text) if end < 0 else end
        return end, line, col + (end - i)
    end = text.find("*/", i + 2)
    if end < 0:
        raise ContractError("unterminated comment", file=file, line=line, col=col,
                            expected="*/ before the end of the file", found="end of file")
    body = text[i:end + 2]
    newlines = body.count("\n")
    if newlines:
        return end + 2, line + newlines, len(body) - body.rfind("\n")
    return end + 2, line, col + len(body)


def tokens(text: str, file: str = "<contract>") -> list[Token]:
    """Split ``text`` into tokens, ending with an ``eof`` token."""
    if type(text) is not str:
        raise ContractError("a contract must be text", file=file, expected="str",
                            found=safe_repr(type(text)))
    out: list[Token] = []
    i, line, col, n = 0, 1, 1, len(text)
    while i < n:
        c = text[i]
        if c == "\n":
            i, line, col = i + 1, line + 1, 1
        elif c in " \t\r\f\v":
            i, col = i + 1, col + 1
        elif text.startswith("//", i) or text.startswith("/*", i):
            i, line, col = _skip_comment(text, i, file, line, col)
        elif _is_name_start(c):
            j = i + 1
            while j < n and _is_name_char(text[j]):
                j += 1
            out.append(Token("name", text[i:j], line, col))
            i, col = j, col + (j - i)
        elif text.startswith("->", i) or c == "\u2192":
            width = 1 if c == "\u2192" else 2
            out.append(Token("arrow", text[i:i + width], line, col))
            i, col = i + width, col + width
        elif text.startswith("...", i):
            out.append(Token("ellipsis", "...", line, col))
            i, col = i + 3, col + 3
        elif c in _PUNCT:
            out.append(Token(c, c, line, col))
            i, col = i + 1, col + 1
        else:
            raise ContractError("unexpected character", file=file, line=line, col=col,
                                expected="a name, punctuation, -> or a comment",
                                found=repr(c))
    out.append(Token("eof", "", line, col))
    return out
