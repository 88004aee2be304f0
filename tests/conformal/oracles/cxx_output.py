"""How the oracle scripts print numbers as C++: the helpers their generated headers share.
Infinities print as `inf` / `-inf`, names each header defines."""
import numpy as np


def cpp_number(v):
    """A double as the shortest text that reads back exactly."""
    v = float(v)
    if np.isinf(v):
        return "inf" if v > 0 else "-inf"
    return repr(v)


def cpp_rows(items, per_line):
    """Items joined with commas, per_line to a line."""
    rows = [", ".join(items[i:i + per_line]) for i in range(0, len(items), per_line)]
    return ",\n    ".join(rows)


def cpp_array(name, values, kind="double", per_line=4):
    """`inline constexpr std::array<kind, n> name{...};` of doubles or integers."""
    values = np.asarray(values, dtype=float if kind == "double" else None).ravel()
    items = [cpp_number(v) if kind == "double" else str(int(v)) for v in values]
    return f"inline constexpr std::array<{kind}, {values.size}> {name}{{\n    {cpp_rows(items, per_line)}}};"
