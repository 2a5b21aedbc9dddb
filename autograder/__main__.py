"""Command line of the grading package: `python -m autograder release|references ...`."""
from __future__ import annotations

import argparse
import sys

from autograder import release


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m autograder", description="The course's grading tools.")
    commands = parser.add_subparsers(dest="command", required=True)
    rel = commands.add_parser("release", help="regenerate notebooks/ from solutions/ with nbgrader")
    rel.add_argument("chapters", nargs="*", help="chapter folders under solutions/ (default: all)")
    rel.add_argument("--check", action="store_true",
                     help="change nothing; fail if notebooks/ differs from what the generator makes")
    commands.add_parser("references", help="rebuild data/reference/ from the instructor solutions (checked against PyTorch)")
    args = parser.parse_args(argv)

    if args.command == "references":
        from autograder import references

        references.build()
        return 0

    unknown = sorted(set(args.chapters) - set(release.chapters()))
    if unknown:
        parser.error(f"no such chapter in solutions/: {', '.join(unknown)}; have {', '.join(release.chapters())}")
    if args.check:
        problems = release.differences(args.chapters or None)
        for problem in problems:
            print(problem, file=sys.stderr)
        if problems:
            print("notebooks/ is out of date: run `python -m autograder release`", file=sys.stderr)
            return 1
        print("notebooks/ is exactly what the generator makes from solutions/")
        return 0
    release.release(args.chapters or None)
    return 0


if __name__ == "__main__":
    sys.exit(main())
