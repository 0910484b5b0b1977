"""Puts the markdown tables of bench/results/ (compare.md, then
bench_kernels.md) into README.md between the bench markers.

    python3 bench/update_readme.py README.md bench/results/compare.md bench/results/bench_kernels.md

Run by `make bench`, so that the README's table is always the last measured one.
"""
import sys

BEGIN, END = "<!-- bench:begin (written by make bench) -->", "<!-- bench:end -->"


def main(readme_path, *table_paths):
    tables = []
    for path in table_paths:
        with open(path) as f:
            tables.append(f.read().strip())
    table = "\n\n".join(tables)
    with open(readme_path) as f:
        readme = f.read()
    if BEGIN not in readme or END not in readme:
        sys.exit(f"{readme_path}: the markers {BEGIN} and {END} are missing")
    head, rest = readme.split(BEGIN, 1)
    tail = rest.split(END, 1)[1]
    with open(readme_path, "w") as f:
        f.write(f"{head}{BEGIN}\n{table}\n{END}{tail}")


if __name__ == "__main__":
    main(sys.argv[1], *sys.argv[2:])
