"""Reading a CSV file a person exported from a spreadsheet: UTF-8 (a byte-order mark allowed),
blank lines skipped, every row with the line it starts on, for errors that name it."""

from __future__ import annotations

import csv
import io
from collections.abc import Iterator


class CsvFileError(Exception):
    """The file is not UTF-8 or not CSV, found on ``line``."""

    def __init__(self, line: int, message: str) -> None:
        super().__init__(message)
        self.line = line
        self.message = message


def text_of(data: bytes) -> str:
    """The file's text; :class:`CsvFileError` on the line of the first byte that is not UTF-8."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise CsvFileError(line, f"not UTF-8 text (byte 0x{data[exc.start]:02x}); save it as UTF-8 CSV") from None


def rows_of(text: str) -> Iterator[tuple[int, list[str]]]:
    """The rows that hold something, each with the line it starts on (a quoted cell may run over
    several lines); :class:`CsvFileError` where the text stops being CSV."""
    reader = csv.reader(io.StringIO(text, newline=""))
    while True:
        line = reader.line_num + 1
        try:
            cells = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise CsvFileError(reader.line_num or line, f"not CSV: {exc}") from None
        if any(cell.strip() for cell in cells):
            yield line, cells
