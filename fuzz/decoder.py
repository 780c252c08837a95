"""Coverage-guided fuzzing of the image decoder with atheris.

    python -m fuzz.decoder -atheris_runs=100000        # or: make fuzz

Any input must decode or raise one of tongtu's image errors (216200-216203); anything
else (a crash, another exception) is a finding. The corpus starts from fuzz/seeds.py.
"""

from __future__ import annotations

import contextlib
import sys
import tempfile
import warnings
from pathlib import Path

import atheris

with atheris.instrument_imports():
    from tongtu.errors import ImageError
    from tongtu.imaging import decode_image


def one_input(data: bytes) -> None:
    with contextlib.suppress(ImageError):
        decode_image(data)


def main() -> None:
    from fuzz.seeds import hostile, seeds

    warnings.simplefilter("ignore")  # Pillow warns about odd tags; only exceptions count
    corpus = Path(tempfile.mkdtemp(prefix="tongtu-fuzz-"))
    for name, data in {**seeds(), **hostile()}.items():
        (corpus / name).write_bytes(data)
    atheris.Setup([*sys.argv, str(corpus)], one_input)
    atheris.Fuzz()


if __name__ == "__main__":
    main()
