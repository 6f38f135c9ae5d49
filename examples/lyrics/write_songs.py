"""Fine-tune on an artist's songs with the Python API and print a few new ones.

    python examples/lyrics/write_songs.py                       # the shipped sonnets
    python examples/lyrics/write_songs.py ~/lyrics/my_artist --steps 100
"""

from __future__ import annotations

import argparse

from tlgen import Run


def main() -> None:
    """Train, then show the before/after metrics and the fine-tuned songs."""
    parser = argparse.ArgumentParser(description=__doc__,
                                     formatter_class=argparse.RawTextHelpFormatter)
    parser.add_argument("lyrics", nargs="?", help="a lyrics file or folder (default: the sonnets)")
    parser.add_argument("--steps", type=int, default=40)
    parser.add_argument("--prompt", action="append", default=[],
                        help="a first line, 'title: ...' or '[Chorus]' (repeatable)")
    args = parser.parse_args()

    overrides = [f"train.max_steps={args.steps}"]
    if args.lyrics:
        overrides.append(f"data.path='{args.lyrics}'")
    if args.prompt:
        overrides.append(f"sample.prompts={args.prompt!r}")
    run = Run.create("lyrics", overrides=overrides, name="write-songs")
    summary = run.execute()

    for stage in ("before", "after"):
        m = summary["metrics"][stage]
        print(f"{stage:>6}: held-out perplexity {m['val_perplexity']:.1f}, "
              f"rhyme density {m['rhyme_density']:.2f}, "
              f"{m['syllables_per_line']:.1f} syllables/line, "
              f"longest copy {m['longest_copy']:.1f} words")
    for path in sorted((run.dir / "samples" / "after").glob("*.txt"))[:3]:
        print(f"\n--- {path.name}\n{path.read_text().strip()}")
    print(f"\nreport: {run.dir / 'report.html'}")


if __name__ == "__main__":
    main()
