"""The library implementations an exercise forbids, named as families rather than as lists of today's names.

A family says, by pattern, which of torch's dispatcher operators and which of torch's Python
functions and classes implement the thing the student must write. The sandbox uses it twice:
`autograder.lockdown` makes every matching operator raise, in every thread (the dispatcher is
process-wide), and `autograder.library_overlay` replaces every matching Python function of the
library by one that raises, before the interpreter ever reads the original.

A pattern matches anywhere in a name, case-insensitively: a new `_fused_dropout_v2` kernel or a
`rms_norm` added in a later torch is in the family without anyone listing it.
"""
from __future__ import annotations

import re
from dataclasses import dataclass

from dlcourse import course


@dataclass(frozen=True)
class Family:
    name: str
    what: str                       # for messages: "torch's dropout"
    operators: re.Pattern | None    # dispatcher operator names (without namespace and overload)
    python: re.Pattern              # names of Python functions and classes in the library's sources
    whole_modules: tuple[str, ...] = ()  # library files (relative to site-packages) forbidden entirely

    def forbids_operator(self, qualified_name: str) -> bool:
        """True for a dispatcher operator such as 'aten::native_dropout.out' that belongs to the family."""
        name = qualified_name.split("::", 1)[-1].split(".", 1)[0]
        return self.operators is not None and bool(self.operators.search(name))

    def forbids_python(self, name: str) -> bool:
        return bool(self.python.search(name))


_NORMALIZATION = r"(batch|layer|group|instance|rms|weight|local_?response)_?norm"

FAMILIES = {
    "dropout": Family(
        "dropout", "torch's dropout",
        # Attention kernels take a dropout_p and apply dropout inside: a route to a library mask.
        operators=re.compile(r"dropout|attention", re.I),
        python=re.compile(r"dropout", re.I)),
    "normalization": Family(
        "normalization", "torch's normalization layers",
        # A transformer layer normalises inside its fused kernel.
        operators=re.compile(_NORMALIZATION + r"|transformer_encoder_layer", re.I),
        # `_normalize` is the (x - mean) * rsqrt(var + eps) helper of torch's decompositions.
        python=re.compile(_NORMALIZATION + r"|^_*normali[sz]e$", re.I)),
    "init": Family(
        "init", "torch.nn.init",
        operators=None,  # torch.nn.init is pure Python over elementary operators
        python=re.compile(r"fan_in|fan_out|correct_fan|calculate_gain|kaiming|xavier|glorot", re.I),
        whole_modules=("torch/nn/init.py",)),
}

# Which families each graded chapter forbids (what its notebook tells the student): its `forbids`
# in the course model.
CHAPTER_FAMILIES = {chapter.name: chapter.forbids for chapter in course.GRADED if chapter.forbids}


def for_chapter(chapter: str) -> list[Family]:
    return [FAMILIES[name] for name in CHAPTER_FAMILIES.get(chapter, ())]
